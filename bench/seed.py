"""Bulk fixtures for benchmarks: cells, members with chat accounts, meetings, written straight
into the schema in large batches (the bot's own code paths are what the benchmarks measure, not
how fast a fixture can be built)."""

from __future__ import annotations

import contextlib
import re
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import create_engine
from storage.models import MeetingKind, MeetingStatus, MemberState, MemberStatus, OrgKind, Role
from storage.schema import chats, identities, members, org_units

BATCH = 5_000
# Databases kept between runs (``kept_database``): SQLite files and the records of what is in them.
KEPT = Path(__file__).parent / "kept"


def batches(rows: Iterable[dict[str, Any]], size: int = BATCH) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


async def bulk(engine: AsyncEngine, table: Table, rows: Iterable[dict[str, Any]]) -> int:
    written = 0
    for chunk in batches(rows):
        async with engine.begin() as connection:
            await connection.execute(insert(table), chunk)
        written += len(chunk)
    return written


async def sync_sequences(engine: AsyncEngine, tables: Sequence[Table]) -> None:
    """After rows were written with explicit ids, PostgreSQL's sequences must move past them
    or the bot's own inserts collide (SQLite needs nothing)."""
    if engine.dialect.name != "postgresql":
        return
    async with engine.begin() as connection:
        for table in tables:
            await connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608
                    f"COALESCE((SELECT MAX(id) FROM {table.name}), 1))"
                )
            )


@dataclass(frozen=True)
class SeededCell:
    cell_id: int
    group_chat_id: str
    member_ids: tuple[int, ...]  # the secretary first


async def seed_cells(
    engine: AsyncEngine,
    *,
    first_cell_id: int,
    groups: Sequence[str],
    accounts: Sequence[Sequence[str]],
    now: datetime,
    committee_id: int | None = None,
) -> list[SeededCell]:
    """One cell per group chat id; ``accounts[i]`` are the Telegram user ids of cell i's
    members, the first of them its secretary."""
    cell_ids = range(first_cell_id, first_cell_id + len(groups))
    await bulk(
        engine,
        org_units,
        (
            {
                "id": cell_id,
                "kind": OrgKind.CELL,
                "parent_id": committee_id,
                "name": f"Chi bộ {cell_id}",
                "timezone": "Asia/Ho_Chi_Minh",
                "auto_accept": False,
                "created_at": now,
            }
            for cell_id in cell_ids
        ),
    )
    await bulk(
        engine,
        chats,
        (
            {"platform": "telegram", "external_id": g, "org_unit_id": c, "linked_at": now}
            for c, g in zip(cell_ids, groups, strict=True)
        ),
    )
    seeded: list[SeededCell] = []
    member_rows: list[dict[str, Any]] = []
    identity_rows: list[dict[str, Any]] = []
    next_member = await _next_id(engine, members)
    for cell_id, group, users in zip(cell_ids, groups, accounts, strict=True):
        ids = tuple(range(next_member, next_member + len(users)))
        next_member += len(users)
        for position, (member_id, user_id) in enumerate(zip(ids, users, strict=True)):
            member_rows.append(
                {
                    "id": member_id,
                    "org_unit_id": cell_id,
                    "full_name": f"Đảng viên {member_id}",
                    "role": Role.SECRETARY if position == 0 else Role.MEMBER,
                    "status": MemberStatus.OFFICIAL,
                    "state": MemberState.ACTIVE,
                    "private_reminders": False,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            identity_rows.append(
                {
                    "platform": "telegram",
                    "external_user_id": user_id,
                    "member_id": member_id,
                    "linked_at": now,
                }
            )
        seeded.append(SeededCell(cell_id, group, ids))
    await bulk(engine, members, member_rows)
    await bulk(engine, identities, identity_rows)
    return seeded


def meeting_row(
    meeting_id: int, cell_id: int, starts_at: datetime, now: datetime
) -> dict[str, Any]:
    return {
        "id": meeting_id,
        "org_unit_id": cell_id,
        "kind": MeetingKind.REGULAR,
        "title": f"Sinh hoạt chi bộ tháng {starts_at.month}/{starts_at.year}",
        "starts_at": starts_at,
        "place": "Hội trường khu phố",
        "agenda": "Thông báo tình hình\nKiểm điểm công tác tháng",
        "status": MeetingStatus.SCHEDULED,
        "checkin_opened_at": None,
        "checkin_closed_at": None,
        "created_at": now,
        "updated_at": now,
    }


async def _next_id(engine: AsyncEngine, table: Table) -> int:

    async with engine.connect() as connection:
        highest = (await connection.execute(select(func.max(table.c.id)))).scalar()
    return int(highest or 0) + 1


@contextlib.asynccontextmanager
async def fresh_database(kind: str) -> AsyncIterator[tuple[str, AsyncEngine]]:
    """A new, empty database: a SQLite file in a temporary folder ("sqlite"), or a database
    of its own on the PostgreSQL server ``kind`` names (dropped afterwards)."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'province.db'}"
            engine = create_engine(url)
            try:
                yield url, engine
            finally:
                await engine.dispose()
        return
    name = f"chibo_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(kind, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = kind.rsplit("/", 1)[0] + f"/{name}"
    engine = create_engine(url)
    try:
        yield url, engine
    finally:
        await engine.dispose()
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await admin.dispose()


@contextlib.asynccontextmanager
async def kept_database(kind: str, name: str) -> AsyncIterator[tuple[str, AsyncEngine, Path]]:
    """A database that outlives the run, so that a large one is seeded once: the SQLite file
    ``bench/kept/<name>.db`` ("sqlite"), or the database ``chibo_bench_kept_<name>`` on the
    PostgreSQL server ``kind`` names. The path is its record, which the caller writes once the
    seeding is complete: while it is missing the database is made anew and empty, so an
    interrupted seeding starts over."""
    if not re.fullmatch(r"[a-z0-9_]{1,40}", name):
        raise ValueError("a kept database's name is 1 to 40 of a-z, 0-9 and _")
    KEPT.mkdir(exist_ok=True)
    if kind == "sqlite":
        path = KEPT / f"{name}.db"
        record = KEPT / f"{name}.sqlite.json"
        if not record.exists():
            for stale in KEPT.glob(f"{name}.db*"):
                stale.unlink()
        url = f"sqlite+aiosqlite:///{path}"
    else:
        database = f"chibo_bench_kept_{name}"
        record = KEPT / f"{name}.postgresql.json"
        if not record.exists():
            admin = create_engine(kind, isolation_level="AUTOCOMMIT")
            async with admin.connect() as connection:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
                await connection.execute(text(f'CREATE DATABASE "{database}"'))
            await admin.dispose()
        url = kind.rsplit("/", 1)[0] + f"/{database}"
    engine = create_engine(url)
    try:
        yield url, engine, record
    finally:
        await engine.dispose()
