"""Engine creation and migrations.

SQLite runs in WAL mode with foreign keys on and ``secure_delete``; every connection gets the
same pragmas.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The newest migration's revision (a test holds it to Alembic's head). A database already
# there is left alone without importing Alembic, which costs a fifth of a second at start-up.
SCHEMA_REVISION = "0009"
# Execution option naming a connection that only reads (see ``reading``).
READ_ONLY = "chibo_read_only"
_READERS: WeakKeyDictionary[AsyncEngine, AsyncEngine] = WeakKeyDictionary()


def _sqlite_file(url: str) -> Path | None:
    raw = url.split(":///", 1)[1] if ":///" in url else ""
    return None if raw in ("", ":memory:") else Path(raw)


def create_engine(url: str, *, connections: int | None = None, **options: Any) -> AsyncEngine:
    """An async engine for ``url``; for SQLite the folder of the file is created if missing.

    ``connections`` keeps that many connections open in the pool. The default pool keeps 5
    and closes every connection beyond them when it is returned, so a bot handling more
    updates at once than that opened and closed a connection (for SQLite, a thread and its
    pragmas) on nearly every update."""
    in_memory = url.startswith("sqlite") and _sqlite_file(url) is None
    if connections is not None and not in_memory:  # in memory: one connection, nothing to size
        options = {"pool_size": connections, "max_overflow": connections, **options}
    if url.startswith("sqlite"):
        path = _sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = OneWriterEngine(create_async_engine(url, **options).sync_engine)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINTs; take control
        # of it as SQLAlchemy's documentation recommends, beginning IMMEDIATE so that a writer
        # takes the lock up front instead of failing to upgrade a read lock later.
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **options)


class OneWriterEngine(AsyncEngine):
    """SQLite lets one connection write at a time. Writers of this process queue here for
    their turn instead of in SQLite's busy handler, which sleeps and polls (1, 2, 5 … 100 ms
    between tries): under a burst of check-ins that sleeping, not the writes, was the wait.
    Other processes (the CLI, extra outbox workers) still meet at SQLite's lock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One lock per event loop: an asyncio.Lock belongs to the loop it first waits on.
        self._writers: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            WeakKeyDictionary()
        )

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        loop = asyncio.get_running_loop()
        writers = self._writers.get(loop)
        if writers is None:
            writers = self._writers[loop] = asyncio.Lock()
        async with writers, super().begin() as connection:
            yield connection


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Deleted rows are overwritten with zeros instead of lingering in free space, where a copy
    # of the file would still show them (an open question holding a member's account, say).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    if connection.get_execution_options().get(READ_ONLY):
        # A read needs no transaction of its own: each statement sees the latest committed
        # data (as under PostgreSQL's READ COMMITTED), takes no write lock, and saves a round
        # trip to the driver's thread.
        return
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def reading(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool, for connections that only read. Made once per engine: every
    repository read asks for it, and building it costs more than the lookup."""
    reader = _READERS.get(engine)
    if reader is None:
        reader = _READERS[engine] = engine.execution_options(**{READ_ONLY: True})
    return reader


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision."""
    async with reading(engine).connect() as connection:
        if await connection.run_sync(_revision) == SCHEMA_REVISION:
            return

    def upgrade(connection: Connection) -> None:
        from alembic import command

        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as connection:
        await connection.run_sync(upgrade)
