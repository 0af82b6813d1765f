"""Reminder fan-out: thousands of cell groups with a meeting at the same time, the real bot
(`chibo run` as a child process) draining its outbox into the local fake Bot API, which holds
Telegram's flood limits (30 messages/s overall, 20/min per group) and answers 429 with
``retry_after`` beyond them. Then the same again with the bot killed (SIGKILL) halfway and
started again.

    .venv/bin/python -m bench.fanout [--groups 10000] [--lease 10]

Prints achieved messages/s against the 30/s limit (target ≥ 95 %), 429s received (target 0),
duplicates (0) and lost (0).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import func, select, update

from bench.common import publish, start_bot, table
from bench.seed import bulk, meeting_row, seed_cells
from bot.playground.bot_api import FakeBotApi, RateLimits
from storage.db import create_engine, migrate
from storage.meetings import reminder_rows
from storage.models import OutboxStatus
from storage.outbox import enqueue
from storage.schema import meetings, org_units, outbox

LIMIT = 30.0
OFFSET_MINUTES = 60


@dataclass
class Run:
    label: str
    messages: int = 0
    rate: float = 0.0
    rate_limited: int = 0
    duplicates: int = 0
    lost: int = 0
    seconds: float = 0.0
    startup: float = 0.0


async def _seed(url: str, groups: list[str], owners: list[str]) -> None:
    """One cell per group, its only member its secretary, a meeting in an hour whose single
    reminder (60 minutes before) is due a few seconds from now."""
    now = datetime.now(UTC)
    starts_at = now + timedelta(minutes=OFFSET_MINUTES, seconds=5)
    engine = create_engine(url)
    await migrate(engine)
    cells = await seed_cells(
        engine, first_cell_id=1, groups=groups, accounts=[[o] for o in owners], now=now
    )
    async with engine.begin() as connection:
        await connection.execute(update(org_units).values(reminder_offsets=[OFFSET_MINUTES]))
    await bulk(engine, meetings, (meeting_row(c.cell_id, c.cell_id, starts_at, now) for c in cells))
    rows = [
        row
        for c in cells
        for row in reminder_rows(
            c.cell_id, c.cell_id, starts_at, [OFFSET_MINUTES], [("telegram", c.group_chat_id)], now
        )
    ]
    async with engine.begin() as connection:
        await enqueue(connection, rows, now)
    await engine.dispose()


async def _open_rows(url: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return int(
                (
                    await connection.execute(
                        select(func.count())
                        .select_from(outbox)
                        .where(outbox.c.status.in_((OutboxStatus.PENDING, OutboxStatus.CLAIMED)))
                    )
                ).scalar_one()
            )
    finally:
        await engine.dispose()


async def _fan_out(count: int, lease: float, kill_halfway: bool) -> Run:
    run = Run("killed halfway and restarted" if kill_halfway else "one bot, undisturbed")
    async with FakeBotApi(rate_limits=RateLimits()) as api:
        owner = await api.add_user("Bí thư")
        chats = [await api.add_group(f"Chi bộ {n}", admins=[owner]) for n in range(count)]
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'chibo.db'}"
            await _seed(url, [str(c.id) for c in chats], [str(owner.id + n) for n in range(count)])
            key = Fernet.generate_key().decode()
            started = time.monotonic()
            bot = start_bot(api, url, key, outbox_lease_seconds=lease)
            times: list[float] = []
            try:
                while len(api.sent) < count:
                    if bot.poll() is not None:
                        raise RuntimeError(f"the bot exited with {bot.returncode}")
                    if not times and api.sent:
                        run.startup = time.monotonic() - started
                    while len(times) < len(api.sent):
                        times.append(time.monotonic())
                    if kill_halfway and len(api.sent) >= count // 2 and bot.pid:
                        bot.send_signal(signal.SIGKILL)
                        bot.wait()
                        bot = start_bot(api, url, key, outbox_lease_seconds=lease)
                        kill_halfway = False
                    await asyncio.sleep(0.05)
                while len(times) < len(api.sent):
                    times.append(time.monotonic())
                # Let anything still in flight land before counting duplicates.
                deadline = time.monotonic() + lease + 5
                while time.monotonic() < deadline:
                    if not await _open_rows(url):
                        break
                    await asyncio.sleep(0.5)
            finally:
                bot.send_signal(signal.SIGTERM)
                try:
                    bot.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    bot.kill()
        per_chat = Counter(message.chat_id for message in api.sent)
        run.messages = len(api.sent)
        run.duplicates = sum(n - 1 for n in per_chat.values() if n > 1)
        run.lost = sum(1 for chat in chats if per_chat[chat.id] == 0)
        run.rate_limited = len(api.rate_limited)
        run.seconds = times[-1] - times[0] if len(times) > 1 else 0.0
        run.rate = (len(times) - 1) / run.seconds if run.seconds else 0.0
    return run


def _row(run: Run) -> list[Any]:
    return [
        run.label,
        run.messages,
        f"{run.startup:.1f}",
        f"{run.seconds:.0f}",
        f"{run.rate:.1f}",
        f"{100 * run.rate / LIMIT:.0f} %",
        run.rate_limited,
        run.duplicates,
        run.lost,
    ]


async def main(count: int, lease: float) -> None:
    runs = [await _fan_out(count, lease, kill) for kill in (False, True)]
    header = (
        "run",
        "messages",
        "first send after (s)",
        "send time (s)",
        "messages/s",
        "of 30/s",
        "429s",
        "duplicates",
        "lost",
    )
    publish(
        "fanout",
        f"Reminder fan-out, {count} groups, lease {lease:g} s",
        table(header, [_row(run) for run in runs])
        + "\n\nTargets: ≥ 95 % of 30/s, 0 × 429, 0 duplicates, 0 lost.",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--lease", type=float, default=10.0, help="outbox lease, seconds")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.groups, arguments.lease))
