"""Shared fixtures: a migrated database on SQLite and (when configured) PostgreSQL, and the
services handlers use, wired exactly as the bot wires them."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduler.clock import ManualClock
from storage.crypto import FieldCipher
from storage.db import create_engine, migrate

# The end-to-end fixtures (``api``, ``chibo``) for every test module.
pytest_plugins = ["tests.support.e2e"]

POSTGRES_URL = os.environ.get("CHIBO_TEST_POSTGRES_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"
START = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_real_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection beyond loopback fails the test."""
    import socket

    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (
            host.startswith("127.") or host in ("localhost", "::1") or host.startswith("/")
        ):
            raise RuntimeError(f"test tried to reach the network: {host}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


async def _postgres_engine() -> tuple[AsyncEngine, str]:
    if not POSTGRES_URL:
        if IN_CI:
            pytest.fail("CI=true but CHIBO_TEST_POSTGRES_URL is not set: PostgreSQL tests must run")
        pytest.skip("PostgreSQL tests need CHIBO_TEST_POSTGRES_URL (see README)")
    schema = f"chibo_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    async with admin.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    await admin.dispose()
    engine = create_engine(POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}})
    return engine, schema


async def _drop_schema(schema: str) -> None:
    admin = create_engine(POSTGRES_URL)
    async with admin.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A freshly migrated database of each kind the storage code supports."""
    schema = None
    if request.param == "sqlite":
        database = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'chibo.db'}")
    else:
        database, schema = await _postgres_engine()
    await migrate(database)
    try:
        yield database
    finally:
        await database.dispose()
        if schema is not None:
            await _drop_schema(schema)


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    database = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'chibo.db'}")
    await migrate(database)
    yield database
    await database.dispose()


@pytest.fixture
def data_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def cipher(data_key: str) -> FieldCipher:
    return FieldCipher([data_key])


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)
