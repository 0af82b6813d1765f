"""The operator's maintenance commands: ``chibo rotate-keys``, ``chibo backup FILE`` and
``chibo restore FILE``. Each prints what it did, and anything that stops it as one line on
stderr (``StartupProblem``), with nothing half done."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from bot.startup import StartupProblem, both, check_database, explained, where
from storage.backup import (
    BackupError,
    BackupTooNew,
    DatabaseNotEmpty,
    FileUnusable,
    NoDatabase,
    NotABackup,
    TargetExists,
)
from storage.crypto import FieldCipher
from storage.pg_backup import ToolFailed, ToolMissing, ToolTooOld


async def rotate_keys(settings: Settings) -> int:
    from storage.db import create_engine
    from storage.keys import rotate_keys as rotate_columns

    keys = [key.get_secret_value() for key in settings.data_keys]
    # Migrated, writable, and a wrong key list is one line before anything is touched.
    await check_database(settings.database_url, keys)
    with explained(settings.database_url):
        engine = create_engine(settings.database_url)
        try:
            report = await rotate_columns(engine, FieldCipher(keys))
        finally:
            await engine.dispose()
    for column in report:
        key = "ops.rotate.column_unreadable" if column.unreadable else "ops.rotate.column"
        print(
            both(
                key,
                column=column.name,
                rotated=column.rotated,
                current=column.current,
                unreadable=column.unreadable,
            )
        )
    unreadable = sum(column.unreadable for column in report)
    if unreadable:
        raise StartupProblem(both("ops.rotate.unreadable", count=unreadable))
    if settings.link_key is None and len(keys) > 1:
        # Links are signed with a key derived from a data key: those made before the newest
        # key came first verify only while their key is still listed.
        until = datetime.now(UTC) + timedelta(hours=settings.link_ttl_hours)
        print(both("ops.rotate.done_links", until=f"{until:%Y-%m-%d %H:%M} UTC"))
    else:
        print(both("ops.rotate.done"))
    return 0


async def backup(settings: Settings, target: Path, *, force: bool) -> int:
    from storage.backup import backup_sqlite
    from storage.db import create_engine
    from storage.pg_backup import backup_postgres

    url = settings.database_url
    with explained(url), _backup_errors(url):
        database = settings.sqlite_path()
        if database is not None:
            size = await asyncio.to_thread(backup_sqlite, database, target, force=force)
        elif url.startswith("sqlite"):
            raise NoDatabase
        else:
            engine = create_engine(url)
            try:
                size = await backup_postgres(engine, url, target, force=force)
            finally:
                await engine.dispose()
    print(both("ops.backup.done", file=target, size=size))
    return 0


async def restore(settings: Settings, backup_file: Path, *, force: bool) -> int:
    from storage.backup import backup_revision, holds_data, restore_sqlite
    from storage.db import create_engine, migrate
    from storage.pg_backup import restore_postgres

    url = settings.database_url
    database = settings.sqlite_path()
    with explained(url), _backup_errors(url):
        if database is not None:
            revision = await asyncio.to_thread(backup_revision, backup_file)
            if revision not in _known_revisions():
                raise BackupTooNew(backup_file, revision)
        engine = create_engine(url)
        try:
            if not force and await holds_data(engine):
                raise DatabaseNotEmpty
            if database is None:
                await _refuse_read_only(engine, url)
                await restore_postgres(engine, url, backup_file)
        finally:
            await engine.dispose()
        if database is not None:
            await asyncio.to_thread(restore_sqlite, backup_file, database)
        # A backup made by an older chibo is brought up to this one's schema.
        engine = create_engine(url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()
    print(both("ops.restore.done", file=backup_file, where=where(url)))
    return 0


async def _refuse_read_only(engine: AsyncEngine, url: str) -> None:
    """pg_restore into a read-only database would fail on its first DROP with a message about
    transactions; say what it is instead."""
    async with engine.connect() as connection:
        setting = (await connection.execute(text("SHOW transaction_read_only"))).scalar_one()
    if setting == "on":
        raise StartupProblem(both("ops.db.read_only", where=where(url)))


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    from storage.db import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config())
    return {script.revision for script in scripts.walk_revisions()}


@contextlib.contextmanager
def _backup_errors(url: str) -> Iterator[None]:
    """A backup or restore that cannot go ahead, as the operator's one line."""
    try:
        yield
    except BackupError as error:
        line = _describe(error, url)
        if line is None:
            raise
        raise StartupProblem(line) from None


def _describe(error: BackupError, url: str) -> str | None:
    if isinstance(error, TargetExists):
        return both("ops.backup.exists", file=error.path)
    if isinstance(error, NoDatabase):
        return both("ops.backup.no_database", where=where(url))
    if isinstance(error, NotABackup):
        return both("ops.backup.not_backup", file=error.path, reason=error.reason)
    if isinstance(error, BackupTooNew):
        return both("ops.backup.newer", file=error.path, revision=error.revision)
    if isinstance(error, DatabaseNotEmpty):
        return both("ops.restore.not_empty", where=where(url))
    if isinstance(error, ToolMissing):
        return both("ops.pg.tool_missing", tool=error.tool, major=error.major)
    if isinstance(error, ToolTooOld):
        return both("ops.pg.tool_old", tool=error.tool, found=error.found, major=error.major)
    if isinstance(error, ToolFailed):
        return both("ops.pg.failed", tool=error.tool, reason=error.reason)
    if isinstance(error, FileUnusable):
        return both("ops.backup.unusable", file=error.path, reason=error.reason)
    return None
