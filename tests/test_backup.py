"""Backup and restore: a backup taken while the bot writes is one consistent snapshot, and a
restore reads back identical, encrypted fields included; the CLI refuses what would lose data."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.audit import Actor
from storage.backup import backup_revision, backup_sqlite, restore_sqlite
from storage.cells import CellRepository
from storage.crypto import FieldCipher
from storage.db import SCHEMA_REVISION, create_engine, migrate
from storage.members import MemberRepository
from storage.models import Gender, MemberStatus, RosterRow
from tests.conftest import IN_CI, POSTGRES_URL, START
from tests.support.personal import (
    EXPECTED_AMOUNTS,
    EXPECTED_PERSONAL,
    Seeded,
    read_back,
    seed_personal_data,
)
from tests.test_cli import _chibo

Dump = dict[str, list[str]]


def _dump_tables(connection: Connection) -> Dump:
    """Every row of every table the database holds (as its repr: JSON values are dicts), in a
    stable order."""
    live = MetaData()
    live.reflect(connection)
    return {
        table.name: sorted(repr(tuple(row)) for row in connection.execute(select(table)))
        for table in live.sorted_tables
    }


async def _dump(engine: AsyncEngine) -> Dump:
    async with engine.connect() as connection:
        return await connection.run_sync(_dump_tables)


def _sqlite(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def _bulk(engine: AsyncEngine, cipher: FieldCipher, seeded: Seeded, count: int) -> None:
    """Enough members that a backup takes a while."""
    rows = [
        RosterRow(
            full_name=f"Đảng viên {number}",
            birth_date=None,
            gender=Gender.FEMALE,
            admitted_on=None,
            official_on=None,
            card_number=None,
            citizen_id=f"0791{number:08d}",
            phone=f"09{number:08d}",
            status=MemberStatus.OFFICIAL,
        )
        for number in range(count)
    ]
    await MemberRepository(engine, cipher).import_roster(
        cell_id=seeded.cell_id, rows=rows, actor=Actor("test"), now=START
    )


async def _keep_founding_cells(
    engine: AsyncEngine, done: list[int], started: asyncio.Event, stop: asyncio.Event
) -> None:
    """A writer like the bot: each cell is one transaction over several tables."""
    cells = CellRepository(engine)
    while not stop.is_set():
        number = len(done) + 1
        await cells.found_cell(
            platform="telegram",
            chat_id=f"-9{number}",
            chat_title=None,
            cell_name=f"Chi bộ {number}",
            timezone="Asia/Ho_Chi_Minh",
            secretary_name=f"Bí thư {number}",
            secretary_user_id=f"9{number}",
            now=START,
        )
        done.append(number)
        started.set()


async def _restored(backup: Path, target: Path) -> AsyncEngine:
    assert backup_revision(backup) == SCHEMA_REVISION
    await asyncio.to_thread(restore_sqlite, backup, target)
    engine = create_engine(_sqlite(target))
    await migrate(engine)
    return engine


async def test_a_backup_during_writes_is_one_snapshot_and_restores_identical(
    tmp_path: Path, cipher: FieldCipher
) -> None:
    database = tmp_path / "live" / "chibo.db"
    source = create_engine(_sqlite(database))
    await migrate(source)
    seeded = await seed_personal_data(source, cipher)
    await _bulk(source, cipher, seeded, 3000)
    before_writes = {name: len(rows) for name, rows in (await _dump(source)).items()}

    done: list[int] = []
    started, stop = asyncio.Event(), asyncio.Event()
    writer = asyncio.create_task(_keep_founding_cells(source, done, started, stop))
    backup = tmp_path / "during.db"
    try:
        await started.wait()
        for _attempt in range(50):
            before = len(done)
            await asyncio.to_thread(backup_sqlite, database, backup, force=True)
            if len(done) > before:  # cells were founded while the copy ran
                break
        else:
            pytest.fail("no write landed while a backup ran: the event loop was blocked")
    finally:
        stop.set()
        await writer

    after = await _dump(source)
    restored = await _restored(backup, tmp_path / "restored" / "chibo.db")
    try:
        snapshot = await _dump(restored)
        personal, amounts = await read_back(restored, cipher, seeded)
    finally:
        await restored.dispose()
    # Every row is one the source holds; each founding is in the copy whole or not at all.
    founded = len(done)
    in_copy = len(snapshot["chats"]) - before_writes["chats"]
    assert 0 < in_copy <= founded
    for name, rows in snapshot.items():
        assert set(rows) <= set(after[name]), name
        per_cell = (len(after[name]) - before_writes[name]) // founded
        assert len(rows) - before_writes[name] == in_copy * per_cell, name
    assert set(personal) == EXPECTED_PERSONAL
    assert {amount for each in amounts.values() for amount in each} == EXPECTED_AMOUNTS

    # Once the writes stop, a backup restores into a fresh database exactly as the source.
    quiet = tmp_path / "quiet.db"
    await asyncio.to_thread(backup_sqlite, database, quiet, force=False)
    fresh = await _restored(quiet, tmp_path / "fresh" / "chibo.db")
    try:
        assert await _dump(fresh) == after
    finally:
        await fresh.dispose()
        await source.dispose()


# --- the commands ----------------------------------------------------------------------------


def _one_line(result: Any) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return str(lines[0])


async def test_backup_and_restore_commands_refuse_what_would_lose_data(
    tmp_path: Path, data_key: str
) -> None:
    live = tmp_path / "live.db"
    env = {"CHIBO_DATABASE_URL": _sqlite(live), "CHIBO_DATA_KEYS": data_key}
    nothing = _one_line(_chibo("backup", "b.db", cwd=tmp_path, **env))
    assert "There is no database at" in nothing and not (tmp_path / "b.db").exists()

    engine = create_engine(_sqlite(live))
    await migrate(engine)
    seeded = await seed_personal_data(engine, FieldCipher([data_key]))
    original = await _dump(engine)
    await engine.dispose()

    made = _chibo("backup", "b.db", cwd=tmp_path, **env)
    assert made.returncode == 0 and "Backed up to b.db" in made.stdout, made.stderr
    exists = _one_line(_chibo("backup", "b.db", cwd=tmp_path, **env))
    assert "already exists" in exists and "--force" in exists
    assert _chibo("backup", "b.db", "--force", cwd=tmp_path, **env).returncode == 0

    # Restoring over data is refused, and the data is left as it was.
    over = _one_line(_chibo("restore", "b.db", cwd=tmp_path, **env))
    assert "already holds data" in over and "--force" in over
    for bad, wording in ((tmp_path / "missing.db", "Cannot use the file"),):
        assert wording in _one_line(_chibo("restore", str(bad), cwd=tmp_path, **env))
    (tmp_path / "notes.txt").write_text("không phải cơ sở dữ liệu", encoding="utf-8")
    (tmp_path / "other.db").write_bytes(b"")
    other = create_engine(_sqlite(tmp_path / "other.db"))
    async with other.begin() as connection:
        await connection.execute(text("CREATE TABLE t (x INTEGER)"))
    await other.dispose()
    for bad in ("notes.txt", "other.db"):
        line = _one_line(_chibo("restore", bad, "--force", cwd=tmp_path, **env))
        assert "is not a chibo backup" in line, bad

    # Into a fresh database it goes without --force; over data only with it.
    fresh = {**env, "CHIBO_DATABASE_URL": _sqlite(tmp_path / "new" / "chibo.db")}
    into_fresh = _chibo("restore", "b.db", cwd=tmp_path, **fresh)
    assert into_fresh.returncode == 0 and "Restored b.db" in into_fresh.stdout, into_fresh.stderr
    migrated_empty = {**env, "CHIBO_DATABASE_URL": _sqlite(tmp_path / "empty.db")}
    assert _chibo("migrate", cwd=tmp_path, **migrated_empty).returncode == 0
    assert _chibo("restore", "b.db", cwd=tmp_path, **migrated_empty).returncode == 0
    forced = _chibo("restore", "b.db", "--force", cwd=tmp_path, **env)
    assert forced.returncode == 0, forced.stderr
    for path in (tmp_path / "new" / "chibo.db", tmp_path / "empty.db", live):
        restored = create_engine(_sqlite(path))
        try:
            assert await _dump(restored) == original
            personal, _ = await read_back(restored, FieldCipher([data_key]), seeded)
            assert set(personal) == EXPECTED_PERSONAL
        finally:
            await restored.dispose()


# --- PostgreSQL: pg_dump and pg_restore --------------------------------------------------------


@pytest.fixture
async def two_postgres_databases() -> AsyncIterator[tuple[str, str]]:
    """Two databases of our own on the shared server, dropped afterwards."""
    if not POSTGRES_URL:
        if IN_CI:
            pytest.fail("CI=true but CHIBO_TEST_POSTGRES_URL is not set: PostgreSQL tests must run")
        pytest.skip("PostgreSQL tests need CHIBO_TEST_POSTGRES_URL (see README)")
    names = [f"chibo_backup_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        for name in names:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{names[0]}", f"{base}/{names[1]}"
    finally:
        async with admin.connect() as connection:
            for name in names:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def test_postgresql_backup_restores_identical_with_pg_dump(
    tmp_path: Path, data_key: str, two_postgres_databases: tuple[str, str]
) -> None:
    source_url, target_url = two_postgres_databases
    source = create_engine(source_url)
    await migrate(source)
    seeded = await seed_personal_data(source, FieldCipher([data_key]))
    original = await _dump(source)
    await source.dispose()

    env = {"CHIBO_DATABASE_URL": source_url, "CHIBO_DATA_KEYS": data_key}
    made = _chibo("backup", "pg.dump", cwd=tmp_path, **env)
    assert made.returncode == 0 and "Backed up to pg.dump" in made.stdout, made.stderr
    assert "already holds data" in _one_line(_chibo("restore", "pg.dump", cwd=tmp_path, **env))

    target_env = {**env, "CHIBO_DATABASE_URL": target_url}
    restored = _chibo("restore", "pg.dump", cwd=tmp_path, **target_env)
    assert restored.returncode == 0, restored.stderr
    target = create_engine(target_url)
    try:
        assert await _dump(target) == original
        personal, amounts = await read_back(target, FieldCipher([data_key]), seeded)
    finally:
        await target.dispose()
    assert set(personal) == EXPECTED_PERSONAL
    assert {amount for each in amounts.values() for amount in each} == EXPECTED_AMOUNTS
