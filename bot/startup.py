"""What the operator sees when the database or the keys are not usable: one line saying what
is wrong and what to do, instead of a traceback.

``check_database`` is the start-up check (the database opens, is migrated, takes a write, and
the configured keys read what is stored); ``explained`` turns the failures any command meets
on the way into a ``StartupProblem``.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from handlers.i18n import Texts
from storage.crypto import FieldCipher

# PostgreSQL's SQLSTATE for a write in a read-only transaction (a standby, or a read-only role).
READ_ONLY_SQLSTATE = "25006"
# What asyncpg raises when the server is there but will not take us: no such database, wrong
# user or password, starting up or shutting down, too many connections, connection lost.
_REFUSED = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InvalidCatalogNameError,
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
)


class StartupProblem(Exception):
    """Something the operator must fix; the message is one line, Vietnamese then English."""


def both(key: str, **values: object) -> str:
    """A catalog message in Vietnamese and English on one line: the CLI does not know who
    reads it."""
    return f"{Texts('vi')(key, **values)} / {Texts('en')(key, **values)}"


def where(url: str) -> str:
    """The database named for a person: the SQLite path, or PostgreSQL's host, port and
    database, never a password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return (str(error).splitlines() or [type(error).__name__])[0]


def _causes(error: BaseException) -> list[BaseException]:
    """The error and what it wraps: SQLAlchemy keeps the driver's error in ``orig``, whose
    cause may be the error asyncpg raised; the raw sqlite3 module (backup, restore) wraps
    nothing."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        wrapped = current.orig if isinstance(current, DBAPIError) else None
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__
    return chain


def describe(error: BaseException, url: str) -> str | None:
    """The one line for a database failure, or None for anything else (a bug keeps its
    traceback)."""
    sqlite = url.startswith("sqlite")
    for cause in _causes(error):
        if isinstance(cause, OSError):
            if sqlite:
                folder = cause.filename or Path(where(url)).parent
                return both("ops.db.folder", folder=folder, reason=_reason(cause))
            return both("ops.db.unreachable", where=where(url), reason=_reason(cause))
        if getattr(cause, "sqlstate", None) == READ_ONLY_SQLSTATE:
            return both("ops.db.read_only", where=where(url))
        # An operational error, or a file that is no database; an integrity error is a bug.
        if sqlite and (
            isinstance(cause, sqlite3.OperationalError) or type(cause) is sqlite3.DatabaseError
        ):
            if "readonly" in str(cause):
                return both("ops.db.read_only", where=where(url))
            return both("ops.db.cannot_open", where=where(url), reason=_reason(cause))
        if not sqlite and isinstance(cause, _REFUSED):
            return both("ops.db.unreachable", where=where(url), reason=_reason(cause))
    return None


@contextlib.contextmanager
def explained(url: str) -> Iterator[None]:
    """Raise ``StartupProblem`` for the database failures ``describe`` knows."""
    try:
        yield
    except StartupProblem:
        raise
    except Exception as error:
        line = describe(error, url)
        if line is None:
            raise
        raise StartupProblem(line) from None


async def check_database(url: str, keys: Sequence[str] | None) -> None:
    """Fail now, in one line, rather than at the first member's tap: the database opens and is
    migrated, accepts a write (rolled back), and ``keys`` (unless None) read the personal data
    stored."""
    from storage.db import create_engine, migrate
    from storage.keys import unreadable_columns

    with explained(url):
        engine = create_engine(url)
        try:
            await migrate(engine)
            async with engine.connect() as connection, connection.begin() as transaction:
                await connection.execute(
                    text("UPDATE alembic_version SET version_num = version_num")
                )
                await transaction.rollback()
            problems = [] if keys is None else await unreadable_columns(engine, FieldCipher(keys))
        finally:
            await engine.dispose()
    if problems:
        columns = ", ".join(f"{problem.table}.{problem.column}" for problem in problems)
        key = "ops.keys.unreadable" if keys else "ops.keys.missing"
        raise StartupProblem(both(key, columns=columns))
