"""Throughput: N updates through the real stack (PTB over HTTP to the local fake Bot API, the
dispatcher, a handler, storage, the reply) against a bare PTB bot that only replies, on the same
fake server in the same run.

    .venv/bin/python -m bench.throughput [--updates 500] [--max-rate 0]

Read: members send /hop in their private chats (one sendMessage each).
Write: members tap «Có mặt» on the check-in message (one attendance row + audit row, and a
callback answer each). ``--max-rate`` is the bot's overall send limit (30 = production; 0 lifts
it so the bot's own capacity shows; answers to button taps are never limited).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from bench.common import publish, table
from bench.seed import bulk, fresh_database, meeting_row, seed_cells
from bot.app import build_bot, running
from bot.playground.bot_api import FakeBotApi, FakeChat, FakeUser, StoredMessage
from bot.settings import Settings
from scheduler.clock import ManualClock
from storage.db import migrate
from storage.schema import meetings

NOW = datetime(2026, 12, 15, 12, 20, tzinfo=UTC)  # 19:20 in Hà Nội, the meeting is at 19:30
MEETING_ID = 1
WARM_UP = 20


async def _wait(condition: Callable[[], bool], timeout: float) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the bot did not answer every update in time")
        await asyncio.sleep(0.002)


async def _timed(
    send: Callable[[FakeUser], Awaitable[object]],
    people: list[FakeUser],
    answered: Callable[[], int],
) -> float:
    """Updates per second: every update queued at once, timed until every answer is back."""
    before = answered()
    started, cpu = time.perf_counter(), time.process_time()
    for person in people:
        await send(person)
    await _wait(lambda: answered() - before >= len(people), timeout=600)
    elapsed = time.perf_counter() - started
    cpu_ms = 1000 * (time.process_time() - cpu) / len(people)
    print(f"  {len(people) / elapsed:.1f} updates/s, {cpu_ms:.2f} ms CPU each (bot + fake server)")
    return len(people) / elapsed


class Scenario:
    def __init__(self, api: FakeBotApi, members: list[FakeUser], group: FakeChat) -> None:
        self.api, self.members, self.group = api, members, group

    async def read(self, people: list[FakeUser]) -> float:
        privates = {p.id: await self.api.private_chat(p) for p in people}
        return await _timed(
            lambda p: self.api.send_text(privates[p.id], p, "/hop"),
            people,
            lambda: len(self.api.sent),
        )

    async def write(self, people: list[FakeUser], checkin: StoredMessage, data: str) -> float:
        return await _timed(
            lambda p: self.api.tap(p, checkin, data),
            people,
            lambda: len(self.api.callback_answers),
        )

    async def run(self, secretary: FakeUser, count: int) -> tuple[float, float]:
        warm, timed = self.members[:WARM_UP], self.members[WARM_UP : WARM_UP + count]
        mark = self.api.mark()
        await self.api.send_text(self.group, secretary, "/diemdanh")
        checkin = await self.api.wait_for_message(
            self.group, lambda m: bool(m.buttons), after=mark, timeout=30
        )
        data = checkin.buttons[0][1] or ""
        await self.read(warm)
        await self.write(warm, checkin, data)
        return await self.read(timed), await self.write(timed, checkin, data)


async def _chibo(
    api: FakeBotApi, scenario: Scenario, secretary: FakeUser, args: Settings
) -> tuple[float, float]:
    bot = build_bot(args, clock=ManualClock(NOW))
    async with running(bot.application):
        return await scenario.run(secretary, len(scenario.members) - WARM_UP)


def _bare(api: FakeBotApi, max_rate: float) -> Application:  # type: ignore[type-arg]
    """The least a bot can do for the same updates: one reply each, no storage."""

    async def hop(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message is not None:
            await update.effective_message.reply_text("Sinh hoạt chi bộ tháng 12/2026 — 19:30")

    async def open_checkin(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message is None:
            return
        button = InlineKeyboardButton("Có mặt", callback_data=f"ci:{MEETING_ID}:in_person")
        await update.effective_message.reply_text(
            "Điểm danh", reply_markup=InlineKeyboardMarkup([[button]])
        )

    async def tap(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.callback_query is not None:
            await update.callback_query.answer("Đã ghi nhận có mặt")

    application = (
        ApplicationBuilder()
        .token(api.token)
        .base_url(api.base_url)
        .base_file_url(api.base_file_url)
        .rate_limiter(AIORateLimiter(overall_max_rate=max_rate, max_retries=0))
        .build()
    )
    application.add_handler(CommandHandler("hop", hop))
    application.add_handler(CommandHandler("diemdanh", open_checkin))
    application.add_handler(CallbackQueryHandler(tap))
    return application


async def main(
    count: int, max_rate: float, concurrency: int, database: str, round_trip_ms: float
) -> None:
    async with FakeBotApi(round_trip=round_trip_ms / 1000) as api:
        secretary = await api.add_user("Trần Thị Hoa")
        members = [await api.add_user(f"Đảng viên {n}") for n in range(count + WARM_UP)]
        group = await api.add_group("Chi bộ Khu phố 5", admins=[secretary], members=members)
        async with fresh_database(database) as (url, engine):
            await migrate(engine)
            [cell] = await seed_cells(
                engine,
                first_cell_id=1,
                groups=[str(group.id)],
                accounts=[[str(secretary.id), *(str(m.id) for m in members)]],
                now=NOW - timedelta(days=30),
            )
            await bulk(
                engine,
                meetings,
                [meeting_row(MEETING_ID, cell.cell_id, NOW + timedelta(minutes=10), NOW)],
            )
            await engine.dispose()
            settings = Settings(
                telegram_token=api.token,
                telegram_base_url=api.base_url,
                telegram_base_file_url=api.base_file_url,
                database_url=url,
                data_keys=(Fernet.generate_key().decode(),),
                telegram_max_rate=max_rate,
                concurrent_updates=concurrency,
                log_level="WARNING",
                _env_file=None,
            )
            scenario = Scenario(api, members, group)
            chibo_read, chibo_write = await _chibo(api, scenario, secretary, settings)
        bare = _bare(api, max_rate)
        async with running(bare):
            bare_read, bare_write = await scenario.run(secretary, count)
        if api.internal_errors:
            raise RuntimeError(f"the fake Bot API failed: {api.internal_errors[0]!r}")
    rows = [
        (
            "read: /hop",
            f"{chibo_read:.1f}",
            f"{bare_read:.1f}",
            f"{chibo_read / bare_read:.2f}",
            "≥ 0.8",
        ),
        (
            "write: check-in tap",
            f"{chibo_write:.1f}",
            f"{bare_write:.1f}",
            f"{chibo_write / bare_write:.2f}",
            "≥ 0.6",
        ),
    ]
    limit = f"{max_rate:g}/s" if max_rate else "off"
    if round_trip_ms:
        limit += f", {round_trip_ms:g} ms round trip"
    publish(
        "throughput",
        f"Throughput on {'SQLite' if database == 'sqlite' else 'PostgreSQL'}, {count} updates, "
        f"send limit {limit}",
        table(("updates", "chibo upd/s", "bare PTB upd/s", "ratio", "target"), rows),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--updates", type=int, default=500)
    parser.add_argument("--max-rate", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=16, help="chibo's concurrent updates")
    parser.add_argument("--database", default="sqlite", help="sqlite, or a PostgreSQL URL")
    parser.add_argument(
        "--round-trip-ms", type=float, default=0.0, help="network delay the server adds per call"
    )
    arguments = parser.parse_args()
    asyncio.run(
        main(
            arguments.updates,
            arguments.max_rate,
            arguments.concurrency,
            arguments.database,
            arguments.round_trip_ms,
        )
    )
