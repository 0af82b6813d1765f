"""The monthly report (/baocao) at province scale, in-process: the province's year of
meetings, attendance, documents and reads (bench.province's seeding), plus a fee basis (an
encrypted salary) for every member and this month's payment for most of them, then /baocao
through the real dispatcher for one cell's secretary (the first call of the process, after
the warm-up the bot runs at start-up) and for the committee office.

    .venv/bin/python -m bench.report [--cells 1000] [--members-per-cell 25]
        [--database sqlite|postgresql+asyncpg://postgres@127.0.0.1:5432/postgres] [--no-analyze]

Times are from the handler receiving /baocao to its replies being ready (no Bot API in
between: bench.province measures the same end to end), with the XLSX and PNG builds timed
apart (they run side by side in worker threads, so they overlap the total).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

import handlers.reports
from bench.common import publish, table
from bench.province import NOW, Population, _seed
from bench.seed import bulk, fresh_database
from bot.playground.bot_api import FakeChat, FakeUser
from handlers.catalog import build_registry
from handlers.context import Services
from handlers.core import ChatKind, Inbound, Platform
from handlers.dispatch import Dispatcher
from handlers.i18n import Texts
from scheduler.clock import ManualClock
from storage.crypto import FieldCipher
from storage.db import migrate
from storage.fee_rules import load_fee_config, month_start
from storage.models import FeeBasisKind
from storage.schema import fee_bases, fee_payments, members
from tests.support.harness import StubPlatform

PAID_SHARE = 0.6  # members who paid this month; the rest owe


class Phases:
    """Wall time of each call of the wrapped building functions."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = {}

    def wrap(self, name: str, function: Callable[..., bytes]) -> Callable[..., bytes]:
        def timed(*args: Any) -> bytes:
            began = time.perf_counter()
            try:
                return function(*args)
            finally:
                self.seconds.setdefault(name, []).append(time.perf_counter() - began)

        return timed


async def _seed_fees(engine: AsyncEngine, cipher: FieldCipher) -> int:
    """A salary basis for every member since last year, and this month paid by most."""
    month = month_start(NOW.date())
    since = month_start((NOW - timedelta(days=400)).date())
    rng = random.Random(11)
    async with engine.connect() as connection:
        roster = [
            (row.id, row.org_unit_id)
            for row in await connection.execute(select(members.c.id, members.c.org_unit_id))
        ]

    def bases() -> Iterator[dict[str, Any]]:
        for member_id, cell_id in roster:
            yield {
                "member_id": member_id,
                "org_unit_id": cell_id,
                "kind": FeeBasisKind.SALARY,
                "amount_enc": cipher.encrypt(str(rng.randrange(5, 30) * 1_000_000)),
                "valid_from": since,
                "created_at": NOW,
            }

    def payments() -> Iterator[dict[str, Any]]:
        for member_id, cell_id in roster:
            if rng.random() < PAID_SHARE:
                yield {
                    "member_id": member_id,
                    "month": month,
                    "org_unit_id": cell_id,
                    "amount_due": 100_000,
                    "amount_paid": 100_000,
                    "paid_at": NOW,
                }

    await bulk(engine, fee_bases, bases())
    return await bulk(engine, fee_payments, payments())


async def _analyze(engine: AsyncEngine) -> None:
    """Planner statistics, which autovacuum gathers on a database that grew over a year but
    not within seconds of a bulk load: without them PostgreSQL plans every join for one row.
    SQLite keeps none unless told, and the bot never tells it."""
    if engine.dialect.name == "postgresql":
        async with engine.begin() as connection:
            await connection.execute(text("ANALYZE"))


def _services(engine: AsyncEngine, cipher: FieldCipher) -> Services:
    return Services.over(
        engine,
        cipher,
        load_fee_config(),
        clock=ManualClock(NOW),
        texts=Texts("vi"),
        default_timezone="Asia/Ho_Chi_Minh",
    )


async def _report(dispatcher: Dispatcher, user: FakeUser) -> float:
    """Seconds to the replies; a reply without the workbook stops the run."""
    inbound = Inbound(
        platform=Platform.TELEGRAM,
        chat_id=str(user.id),
        chat_kind=ChatKind.PRIVATE,
        user_id=str(user.id),
        user_name=user.full_name,
        text="/baocao",
        command="baocao",
        args="",
    )
    began = time.perf_counter()
    replies = await dispatcher.handle(inbound, StubPlatform())
    taken = time.perf_counter() - began
    if not replies or replies[0].file is None:
        raise RuntimeError(f"no workbook for {user.full_name}: {replies}")
    return taken


async def main(cells: int, size: int, database: str, analyze: bool) -> None:
    secretary = FakeUser(1_000_001, "Bí thư 0")
    comrades = [FakeUser(1_000_002 + k, f"Đảng viên 0.{k}") for k in range(size - 1)]
    group = FakeChat(-1_000_001, "group", "Chi bộ 0")
    office = FakeUser(1_999_999, "Văn phòng Đảng ủy")
    live = Population([secretary], [comrades], [group], office)
    cipher = FieldCipher([Fernet.generate_key().decode()])
    async with fresh_database(database) as (_, engine):
        began = time.perf_counter()
        await migrate(engine)
        counts = await _seed(engine, cells, size, live)
        counts["payments"] = await _seed_fees(engine, cipher)
        if analyze:
            await _analyze(engine)
        seeding = time.perf_counter() - began
        dispatcher = Dispatcher(build_registry(), _services(engine, cipher))
        # As the bot does once it is up; a secretary's first /baocao comes well after.
        warming = time.perf_counter()
        handlers.reports.warm_up_files().join()
        warm_up = time.perf_counter() - warming
        phases = Phases()
        handlers.reports.build_workbook = phases.wrap("xlsx", handlers.reports.build_workbook)
        handlers.reports.build_chart = phases.wrap("png", handlers.reports.build_chart)
        first = await _report(dispatcher, secretary)
        again = await _report(dispatcher, secretary)
        province = await _report(dispatcher, office)
    xlsx, png = phases.seconds["xlsx"], phases.seconds["png"]
    engine_name = "SQLite" if database == "sqlite" else "PostgreSQL"
    rows = [
        ("seeding (not a target)", f"{seeding:.0f} s", ""),
        ("chart and workbook warm-up (a thread at start-up)", f"{1000 * warm_up:.0f} ms", ""),
        ("one cell, first call", f"{1000 * first:.0f} ms", "< 200 ms"),
        ("one cell, again", f"{1000 * again:.0f} ms", "< 200 ms"),
        (
            "one cell: XLSX / PNG build (first call, again)",
            f"{1000 * xlsx[0]:.0f}, {1000 * xlsx[1]:.0f} / "
            f"{1000 * png[0]:.0f}, {1000 * png[1]:.0f} ms",
            "",
        ),
        ("province (committee office)", f"{province:.2f} s", "< 10 s"),
        (
            "province: XLSX / PNG build",
            f"{1000 * xlsx[2]:.0f} / {1000 * png[2]:.0f} ms",
            "",
        ),
    ]
    statistics = ""
    if database != "sqlite":
        statistics = f"; planner statistics {'' if analyze else 'not '}gathered after seeding"
    volume = ", ".join(f"{name} {value:,}" for name, value in counts.items())
    publish(
        "report",
        f"Monthly report on {engine_name}: {cells:,} cells",
        f"{volume}{statistics}.\n\n" + table(("measure", "result", "target"), rows),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=1_000)
    parser.add_argument("--members-per-cell", type=int, default=25)
    parser.add_argument("--database", default="sqlite")
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="query PostgreSQL straight after the bulk load, before any planner statistics",
    )
    arguments = parser.parse_args()
    asyncio.run(
        main(
            arguments.cells,
            arguments.members_per_cell,
            arguments.database,
            not arguments.no_analyze,
        )
    )
