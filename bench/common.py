"""What every benchmark shares: the machine it ran on, and where its table is kept.

Each scenario prints a table and appends it, with the date, the commit and the machine, to
``bench/results/<scenario>.md``, so runs can be compared side by side over time.
"""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bot.playground.bot_api import FakeBotApi

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).parent.parent


def start_bot(
    api: FakeBotApi, database_url: str, data_key: str, **settings: object
) -> subprocess.Popen[bytes]:
    """``chibo run`` as a child process against the local Bot API server, configured the way
    a deployment is, by environment; ``settings`` are further ``CHIBO_*`` values, named in
    lower case (``telegram_max_rate=30`` sets ``CHIBO_TELEGRAM_MAX_RATE``)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CHIBO_")},
        "PYTHONPATH": str(ROOT),
        "CHIBO_TELEGRAM_TOKEN": api.token,
        "CHIBO_TELEGRAM_BASE_URL": api.base_url,
        "CHIBO_TELEGRAM_BASE_FILE_URL": api.base_file_url,
        "CHIBO_DATABASE_URL": database_url,
        "CHIBO_DATA_KEYS": data_key,
        "CHIBO_LOG_LEVEL": "WARNING",
        **{f"CHIBO_{name.upper()}": str(value) for name, value in settings.items()},
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )


def _commit() -> str:
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH is the point
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return found.stdout.strip() + ("+dirty" if dirty else "")


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "?"


def machine() -> str:
    return (
        f"{os.cpu_count()} cores, {_memory_gib()}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.machine()}"
    )


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def publish(scenario: str, title: str, body: str) -> None:
    """Print ``body`` and append it to the scenario's results file with the run's context."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = f"## {title}\n\n{stamp} · commit {_commit()} · {machine()}\n\n{body}\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / f"{scenario}.md").open("a", encoding="utf-8") as handle:
        handle.write(text + "\n")


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]
