"""Backup and restore of the SQLite database, and the checks both backends share.

A backup is SQLite's online backup API run in one step: it copies a consistent snapshot while
the bot keeps writing (in WAL mode readers never block writers), into a file that is complete
before it takes the target's name. The copy is a plain SQLite database (no WAL), so it can be
opened, checked or restored anywhere. The calls block, so callers run them in a thread.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import reading
from storage.schema import metadata

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_SECONDS = 30


class BackupError(Exception):
    """A backup or restore that cannot go ahead; nothing was changed."""


class TargetExists(BackupError):
    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path


class FileUnusable(BackupError):
    """The backup file cannot be read, or written where it was asked for."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class NoDatabase(BackupError):
    """The database to back up does not exist yet."""


class NotABackup(BackupError):
    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class BackupTooNew(BackupError):
    """The backup's schema revision is unknown to this code (made by a newer chibo)."""

    def __init__(self, path: Path, revision: str) -> None:
        super().__init__(f"{path}: {revision}")
        self.path = path
        self.revision = revision


class DatabaseNotEmpty(BackupError):
    """Restoring would replace data; the operator has to say so (--force)."""


def backup_sqlite(database: Path, target: Path, *, force: bool) -> int:
    """Copy ``database`` to ``target``; returns the backup's size in bytes."""
    if not database.is_file():
        raise NoDatabase
    if target.exists() and not force:
        raise TargetExists(target)
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.unlink(missing_ok=True)
        copy_connection = sqlite3.connect(partial)
    except (OSError, sqlite3.OperationalError) as error:
        raise FileUnusable(target, _reason(error)) from None
    try:
        with (
            contextlib.closing(sqlite3.connect(database, timeout=BUSY_TIMEOUT_SECONDS)) as source,
            contextlib.closing(copy_connection) as copy,
        ):
            # pages=-1: one step under one read transaction, so one snapshot. In steps, every
            # write the bot makes between two of them would start the copy over.
            source.backup(copy, pages=-1)
            copy.execute("PRAGMA journal_mode=DELETE")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target.stat().st_size


def backup_revision(path: Path) -> str:
    """The schema revision a SQLite backup holds; NotABackup for anything else."""
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as error:
        raise FileUnusable(path, _reason(error)) from None
    if header != SQLITE_HEADER:
        raise NotABackup(path, "not a SQLite database")
    with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
        try:
            [verdict] = db.execute("PRAGMA quick_check").fetchone()
            if verdict != "ok":
                raise NotABackup(path, str(verdict))
            row = db.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError as error:
            raise NotABackup(path, str(error)) from None
    if row is None:
        raise NotABackup(path, "no schema revision")
    return str(row[0])


def restore_sqlite(backup: Path, database: Path) -> None:
    """Replace ``database`` with the contents of ``backup`` (checked by the caller)."""
    database.parent.mkdir(parents=True, exist_ok=True)
    source_uri = f"{backup.resolve().as_uri()}?mode=ro"
    with (
        contextlib.closing(sqlite3.connect(source_uri, uri=True)) as source,
        contextlib.closing(sqlite3.connect(database, timeout=BUSY_TIMEOUT_SECONDS)) as target,
    ):
        source.backup(target, pages=-1)
        target.execute("PRAGMA journal_mode=WAL")


async def holds_data(engine: AsyncEngine) -> bool:
    """Whether any of our tables has a row (a freshly migrated database has none)."""

    def any_row(connection: Connection) -> bool:
        present = set(inspect(connection).get_table_names())
        for table in metadata.sorted_tables:
            if table.name in present and connection.execute(select(1).select_from(table)).first():
                return True
        return False

    async with reading(engine).connect() as connection:
        return await connection.run_sync(any_row)


def _reason(error: Exception) -> str:
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error)
