"""Scale-out: 1, 2 and 4 outbox dispatcher processes on PostgreSQL draining one outbox into the
local Bot API server with its flood limits lifted. Prints messages/s and duplicates (target 0).

    .venv/bin/python -m bench.scaleout [--messages 3000]
        [--database postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]

Each worker is `tests/support/outbox_worker.py`: the real repository, dispatcher, runner and
Telegram sender in a process of its own, as a deployment with several dispatchers would run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from bench.common import ROOT, publish, table
from bench.seed import fresh_database
from bot.playground.bot_api import FakeBotApi
from storage.db import migrate
from storage.outbox import NewOutboxRow, enqueue

GROUPS = 100


def _worker(api: FakeBotApi, url: str, name: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CHIBO_TELEGRAM_TOKEN": api.token}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.outbox_worker",
            "--database",
            url,
            "--base-url",
            api.base_url,
            "--worker-id",
            name,
            "--lease",
            "30",
            "--interval",
            "0.2",
            "--batch",
            "50",
            "--max-rate",
            "0",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )


async def _drain(admin_url: str, workers: int, count: int) -> tuple[float, int, int]:
    async with FakeBotApi() as api:
        owner = await api.add_user("Bí thư")
        groups = [await api.add_group(f"Chi bộ {n}", admins=[owner]) for n in range(GROUPS)]
        async with fresh_database(admin_url) as (url, engine):
            await migrate(engine)
            now = datetime.now(UTC)
            rows = [
                NewOutboxRow(
                    dedupe_key=f"bench:{n}",
                    platform="telegram",
                    chat_id=str(groups[n % GROUPS].id),
                    due_at=now,
                    expires_at=now + timedelta(hours=1),
                    payload={"type": "text", "text": f"Nhắc việc số {n}"},
                )
                for n in range(count)
            ]
            async with engine.begin() as connection:
                await enqueue(connection, rows, now)
            await engine.dispose()
            started = time.perf_counter()
            processes = [_worker(api, url, f"w{k}") for k in range(workers)]
            try:
                while len(api.sent) < count:
                    if any(p.poll() is not None for p in processes):
                        raise RuntimeError("a worker exited early")
                    await asyncio.sleep(0.05)
                elapsed = time.perf_counter() - started
                await asyncio.sleep(2)  # a duplicate would arrive now
            finally:
                for process in processes:
                    process.send_signal(signal.SIGTERM)
                for process in processes:
                    process.wait(timeout=30)
        texts = Counter(message.text for message in api.sent)
        duplicates = sum(n - 1 for n in texts.values() if n > 1)
        lost = count - len(texts)
    return count / elapsed, duplicates, lost


async def main(count: int, admin_url: str) -> None:
    rows = []
    for workers in (1, 2, 4):
        rate, duplicates, lost = await _drain(admin_url, workers, count)
        rows.append((workers, count, f"{rate:.0f}", duplicates, lost))
    publish(
        "scaleout",
        f"Scale-out on PostgreSQL, {count} messages, flood limits lifted",
        table(("dispatchers", "messages", "messages/s", "duplicates", "lost"), rows)
        + "\n\nTargets: 0 duplicates, 0 lost.",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument(
        "--database", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.messages, arguments.database))
