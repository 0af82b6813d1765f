"""Province scale: 9,600 cells, 240,000 members and 12 months of meetings, attendance,
documents and reads, then the bot (`chibo run` as a child process, against the local fake Bot
API) started on it and used at 50 updates a second.

    .venv/bin/python -m bench.province [--cells 9600] [--members-per-cell 25]
        [--database sqlite|postgresql+asyncpg://postgres@127.0.0.1:5432/postgres] [--keep NAME]

Prints the database size, start-up time (target < 5 s), resident memory after start-up
(target < 300 MB), and p50/p99 handling latency of /hop and check-in under 50 updates/s
(target p99 < 50 ms). Reports (issue 5) are measured once they exist.

``--keep NAME`` seeds once into a database kept under that name and reuses it on later runs with
the same name: what a run of the bot changed is undone and the upcoming meetings are moved to
the same distance from now, so the bot starts on it as on a fresh one. For iterating only: past
meetings stay where the seeding put them, so publish figures from a fresh database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import bindparam, delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import percentile, publish, start_bot, table
from bench.seed import (
    bulk,
    fresh_database,
    kept_database,
    meeting_row,
    seed_cells,
    sync_sequences,
)
from bot.playground.bot_api import FakeBotApi, FakeBotApiTimeout, FakeChat, FakeUser
from storage.cells import CellRepository
from storage.db import migrate
from storage.models import AttendanceMode, AttendanceState, DocumentKind, OrgKind
from storage.schema import (
    attendance,
    document_reads,
    document_targets,
    documents,
    meetings,
    members,
    org_units,
    outbox,
)

NOW = datetime.now(UTC).replace(microsecond=0)
MONTHS = 12
LIVE_CELLS = 20  # cells whose members are real (scripted) users of the fake Bot API
LATENCY_SECONDS = 20


@dataclass
class Population:
    secretaries: list[FakeUser]
    members: list[list[FakeUser]]
    groups: list[FakeChat]
    office: FakeUser


def _months_back() -> Iterator[datetime]:
    for back in range(MONTHS, 0, -1):
        yield NOW - timedelta(days=30 * back)


async def _seed(engine: AsyncEngine, cells: int, size: int, live: Population) -> dict[str, int]:
    """Everything a province accumulates in a year, written in bulk."""
    groups = [str(g.id) for g in live.groups] + [
        f"-9{n:012}" for n in range(len(live.groups), cells)
    ]
    accounts: list[list[str]] = []
    for n in range(cells):
        if n < len(live.groups):
            people = [live.secretaries[n], *live.members[n]]
            accounts.append([str(p.id) for p in people])
        else:
            accounts.append([f"8{n:07}{k:03}" for k in range(size)])
    # The province's cells all under one committee, whose office asks for the report.
    committee_id = cells + 1
    async with engine.begin() as connection:
        await connection.execute(
            insert(org_units).values(
                id=committee_id,
                kind=OrgKind.COMMITTEE,
                name="Đảng ủy tỉnh (bench)",
                timezone="Asia/Ho_Chi_Minh",
                auto_accept=False,
                created_at=NOW,
            )
        )
    seeded = await seed_cells(
        engine,
        first_cell_id=1,
        groups=groups,
        accounts=accounts,
        now=NOW - timedelta(days=400),
        committee_id=committee_id,
    )
    await sync_sequences(engine, [org_units, members])
    await CellRepository(engine).add_office_staff(
        committee_id=committee_id,
        platform="telegram",
        user_id=str(live.office.id),
        full_name=live.office.full_name,
        now=NOW,
    )
    rng = random.Random(7)
    meeting_rows: list[dict[str, Any]] = []
    meeting_id = 0
    past: list[tuple[int, int]] = []  # (meeting, cell index)
    for index, cell in enumerate(seeded):
        for month in _months_back():
            meeting_id += 1
            row = meeting_row(meeting_id, cell.cell_id, month, month)
            row["checkin_opened_at"] = month
            row["checkin_closed_at"] = month + timedelta(hours=2)
            meeting_rows.append(row)
            past.append((meeting_id, index))
        # Tonight's meeting (check-in for the live cells) and next month's.
        for starts_at in (NOW + timedelta(minutes=10), NOW + timedelta(days=30)):
            meeting_id += 1
            meeting_rows.append(meeting_row(meeting_id, cell.cell_id, starts_at, NOW))
    counts = {"meetings": await bulk(engine, meetings, meeting_rows)}

    def marks() -> Iterator[dict[str, Any]]:
        for meeting, index in past:
            for member in seeded[index].member_ids:
                roll = rng.random()
                state = (
                    AttendanceState.PRESENT
                    if roll < 0.88
                    else AttendanceState.EXCUSED
                    if roll < 0.96
                    else AttendanceState.ABSENT
                )
                yield {
                    "meeting_id": meeting,
                    "member_id": member,
                    "state": state,
                    "mode": AttendanceMode.IN_PERSON if state is AttendanceState.PRESENT else None,
                    "marked_at": NOW,
                }

    counts["attendance"] = await bulk(engine, attendance, marks())
    document_rows, target_rows, read_rows = [], [], []
    document_id = 0
    for cell in seeded:
        for month in _months_back():
            document_id += 1
            title = f"Nghị quyết số {document_id} về công tác xây dựng Đảng"
            document_rows.append(
                {
                    "id": document_id,
                    "org_unit_id": cell.cell_id,
                    "kind": DocumentKind.FILE,
                    "title": title,
                    "title_folded": f"nghi quyet so {document_id} ve cong tac xay dung dang",
                    "file_name": f"nq{document_id}.pdf",
                    "mime_type": "application/pdf",
                    "size": 250_000,
                    "sha256": f"{document_id:064x}",
                    "platform": "telegram",
                    "platform_file_id": f"file-{document_id}",
                    "protect_content": False,
                    "created_at": month,
                }
            )
            target_rows.append(
                {"document_id": document_id, "cell_id": cell.cell_id, "posted_at": month}
            )
            read_rows.extend(
                {"document_id": document_id, "member_id": member, "read_at": month}
                for member in cell.member_ids
                if rng.random() < 0.7
            )
    counts["documents"] = await bulk(engine, documents, document_rows)
    await bulk(engine, document_targets, target_rows)
    counts["reads"] = await bulk(engine, document_reads, read_rows)
    await sync_sequences(engine, [meetings, documents])
    counts["members"] = sum(len(c.member_ids) for c in seeded)
    return counts


@dataclass(frozen=True)
class Seeded:
    counts: dict[str, int]
    seconds: float | None  # None: a kept database, reused
    data_key: str  # CHIBO_DATA_KEYS for the bot: a kept database keeps its key


def _kept(record: Path | None) -> dict[str, Any] | None:
    return json.loads(record.read_text()) if record is not None and record.exists() else None


def _note(record: Path | None, kept: dict[str, Any]) -> None:
    """Write the kept database's record, aligned to this run's now."""
    if record is not None:
        record.write_text(json.dumps({**kept, "now": NOW.isoformat()}))


async def _prepare(
    engine: AsyncEngine, record: Path | None, cells: int, size: int, live: Population
) -> Seeded:
    """Seed the database, or rewind a kept one that ``record`` says is seeded."""
    kept = _kept(record)
    if kept is not None:
        if (kept["cells"], kept["size"]) != (cells, size):
            raise SystemExit(f"{record} was seeded for another size: use another --keep name")
        await _rewind(engine, datetime.fromisoformat(kept["now"]))
        _note(record, kept)
        return Seeded(kept["counts"], None, kept["data_key"])
    began = time.perf_counter()
    await migrate(engine)
    counts = await _seed(engine, cells, size, live)
    seeded = Seeded(counts, time.perf_counter() - began, Fernet.generate_key().decode())
    _note(record, {"cells": cells, "size": size, "counts": counts, "data_key": seeded.data_key})
    return seeded


async def _rewind(engine: AsyncEngine, then: datetime) -> None:
    """Undo what the last run's bot changed (reminder rows, tonight's check-in) and move the
    meetings that were upcoming at ``then`` as far ahead of now as they were of ``then``."""
    upcoming = meetings.c.starts_at > then
    async with engine.begin() as connection:
        # TRUNCATE on PostgreSQL: deleted rows would stay in the indexes until a vacuum and
        # slow the next start-up down, which a fresh database does not.
        if connection.dialect.name == "postgresql":
            await connection.execute(text("TRUNCATE outbox"))
        else:
            await connection.execute(delete(outbox))
        await connection.execute(
            delete(attendance).where(
                attendance.c.meeting_id.in_(select(meetings.c.id).where(upcoming))
            )
        )
        found = (
            await connection.execute(select(meetings.c.id, meetings.c.starts_at).where(upcoming))
        ).all()
        await connection.execute(
            update(meetings)
            .where(meetings.c.id == bindparam("meeting"))
            .values(starts_at=bindparam("moved"), checkin_opened_at=None, checkin_closed_at=None),
            [
                {"meeting": meeting, "moved": starts_at + (NOW - then)}
                for meeting, starts_at in found
            ],
        )


@contextlib.asynccontextmanager
async def _unkept(
    fresh: contextlib.AbstractAsyncContextManager[tuple[str, AsyncEngine]],
) -> AsyncIterator[tuple[str, AsyncEngine, Path | None]]:
    """A fresh database, with no record of a kept one."""
    async with fresh as (url, engine):
        yield url, engine, None


async def _size(url: str, engine: AsyncEngine) -> int:
    if url.startswith("sqlite"):
        path = Path(url.split(":///", 1)[1])
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    async with engine.connect() as connection:
        return int(
            (
                await connection.execute(text("SELECT pg_database_size(current_database())"))
            ).scalar_one()
        )


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Stopwatch:
    """Arrival times of the bot's replies, watched from the fake server's logs."""

    def __init__(self, api: FakeBotApi) -> None:
        self.api = api
        self.replies: dict[int, list[float]] = {}  # private chat id → reply times
        self.answers: dict[str, float] = {}  # callback query id → answer time
        self._sent = self._answered = 0

    def look(self) -> None:
        now = time.perf_counter()
        for message in self.api.sent[self._sent :]:
            self.replies.setdefault(message.chat_id, []).append(now)
        self._sent = len(self.api.sent)
        for answer in self.api.callback_answers[self._answered :]:
            self.answers[answer.callback_query_id] = now
        self._answered = len(self.api.callback_answers)


async def _latency(
    api: FakeBotApi, live: Population, rate: float
) -> tuple[list[float], list[float], int]:
    """/hop in private chats and check-in taps in the groups, alternating, ``rate`` a second."""
    watch = Stopwatch(api)
    checkins = []
    for secretary, group in zip(live.secretaries, live.groups, strict=True):
        mark = api.mark()
        await api.send_text(group, secretary, "/diemdanh")
        checkins.append(
            await api.wait_for_message(group, lambda m: bool(m.buttons), 60, after=mark)
        )
    hop_waits: list[tuple[int, float]] = []
    tap_waits: list[tuple[str, float]] = []
    people = [(m, n) for n, members in enumerate(live.members) for m in members]
    total = int(rate * LATENCY_SECONDS)
    started = time.perf_counter()
    for k in range(total):
        due = started + k / rate
        while (now := time.perf_counter()) < due:
            watch.look()
            await asyncio.sleep(min(0.001, due - now))
        member, cell = people[k // 2 % len(people)]
        if k % 2 == 0:
            chat = await api.private_chat(member)
            hop_waits.append((chat.id, time.perf_counter()))
            await api.send_text(chat, member, "/hop")
        else:
            update = await api.tap(member, checkins[cell], checkins[cell].buttons[0][1])
            tap_waits.append((str(update["callback_query"]["id"]), time.perf_counter()))
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline and (
        sum(len(v) for v in watch.replies.values()) < len(hop_waits)
        or len(watch.answers) < len(tap_waits)
    ):
        watch.look()
        await asyncio.sleep(0.001)
    taken: dict[int, int] = {}
    hops = []
    for chat_id, sent_at in hop_waits:
        position = taken.get(chat_id, 0)
        taken[chat_id] = position + 1
        replies = watch.replies.get(chat_id, [])
        if position < len(replies):  # unanswered within the minute: counted apart
            hops.append(1000 * (replies[position] - sent_at))
    taps = [
        1000 * (watch.answers[query] - sent_at)
        for query, sent_at in tap_waits
        if query in watch.answers
    ]
    return hops, taps, len(hop_waits) + len(tap_waits) - len(hops) - len(taps)


REPORT_TIMEOUT = 300.0


async def _report_seconds(api: FakeBotApi, person: FakeUser) -> float:
    """/baocao in a private chat, timed until the workbook arrives (infinity past the
    timeout)."""
    chat = await api.private_chat(person)
    mark = api.mark()
    started = time.perf_counter()
    await api.send_text(chat, person, "/baocao")
    try:
        await api.wait_for_message(
            chat, lambda m: m.document is not None, REPORT_TIMEOUT, after=mark
        )
    except FakeBotApiTimeout:
        return float("inf")
    return time.perf_counter() - started


async def main(
    cells: int, size: int, database: str, rate: float, max_rate: float, keep: str | None
) -> None:
    async with FakeBotApi() as api:
        live_cells = min(LIVE_CELLS, cells)
        secretaries = [await api.add_user(f"Bí thư {n}") for n in range(live_cells)]
        members = [
            [await api.add_user(f"Đảng viên {n}.{k}") for k in range(size - 1)]
            for n in range(live_cells)
        ]
        groups = [
            await api.add_group(f"Chi bộ {n}", admins=[secretaries[n]], members=members[n])
            for n in range(live_cells)
        ]
        office = await api.add_user("Văn phòng Đảng ủy")
        live = Population(secretaries, members, groups, office)
        opened = kept_database(database, keep) if keep else _unkept(fresh_database(database))
        async with opened as (url, engine, record):
            seeded = await _prepare(engine, record, cells, size, live)
            size_mb = await _size(url, engine) / 1024 / 1024
            await engine.dispose()
            launched = time.perf_counter()
            bot = start_bot(api, url, seeded.data_key, telegram_max_rate=max_rate)
            try:
                while not api.calls("getUpdates"):
                    if bot.poll() is not None:
                        raise RuntimeError(f"the bot exited with {bot.returncode}")
                    await asyncio.sleep(0.01)
                startup = time.perf_counter() - launched
                await asyncio.sleep(2)
                rss = _rss_mb(bot.pid)
                hops, taps, unanswered = await _latency(api, live, rate)
                one_cell = await _report_seconds(api, live.secretaries[0])
                province = await _report_seconds(api, live.office)
            finally:
                bot.send_signal(signal.SIGTERM)
                try:
                    bot.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    bot.kill()
    engine_name = "SQLite" if database == "sqlite" else "PostgreSQL"
    rows = [
        ("database size", f"{size_mb:,.0f} MB", ""),
        (
            "seeding (not a target)",
            "kept, reused" if seeded.seconds is None else f"{seeded.seconds:.0f} s",
            "",
        ),
        ("bot start-up (to first getUpdates)", f"{startup:.2f} s", "< 5 s"),
        ("resident memory after start-up", f"{rss:.0f} MB", "< 300 MB"),
        (
            "/hop p50 / p99",
            f"{percentile(hops, 0.5):.1f} / {percentile(hops, 0.99):.1f} ms",
            "p99 < 50 ms",
        ),
        (
            "check-in p50 / p99",
            f"{percentile(taps, 0.5):.1f} / {percentile(taps, 0.99):.1f} ms",
            "p99 < 50 ms",
        ),
        ("updates unanswered within a minute", f"{unanswered}", "0"),
        (
            "monthly report (/baocao to the workbook), one cell / province",
            f"{1000 * one_cell:.0f} ms / {province:.1f} s",
            "< 200 ms / < 10 s",
        ),
    ]
    volume = ", ".join(f"{name} {value:,}" for name, value in seeded.counts.items())
    publish(
        "province",
        f"Province scale on {engine_name}: {cells:,} cells",
        f"{volume}; latency at {rate:g} updates/s for {LATENCY_SECONDS} s, the bot's send "
        f"limit {max_rate:g}/s (0: none).\n\n" + table(("measure", "result", "target"), rows),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=9_600)
    parser.add_argument("--members-per-cell", type=int, default=25)
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--rate", type=float, default=50.0, help="updates a second")
    parser.add_argument("--max-rate", type=float, default=30.0, help="the bot's send limit")
    parser.add_argument(
        "--keep", metavar="NAME", help="seed once into a database kept under NAME, reuse it after"
    )
    arguments = parser.parse_args()
    asyncio.run(
        main(
            arguments.cells,
            arguments.members_per_cell,
            arguments.database,
            arguments.rate,
            arguments.max_rate,
            arguments.keep,
        )
    )
