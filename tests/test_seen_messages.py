"""The Zalo dedupe on a real database (SQLite and PostgreSQL): the first sight of a message id
wins across processes and restarts, and the table stays about a day long."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.schema import zalo_seen_messages
from storage.seen_messages import KEEP_FOR, PRUNE_EVERY, SeenMessages
from tests.conftest import START


async def _rows(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        query = select(func.count()).select_from(zalo_seen_messages)
        return int((await connection.execute(query)).scalar_one())


async def test_a_message_id_is_first_seen_once_by_any_process(engine: AsyncEngine) -> None:
    one, other = SeenMessages(engine), SeenMessages(engine)
    assert await one.first_sight("m-1", START)
    assert not await one.first_sight("m-1", START)
    # Another replica, or this one restarted, knows it too.
    assert not await other.first_sight("m-1", START + timedelta(minutes=5))
    # Two processes racing on a new id: exactly one handles it.
    sights = await asyncio.gather(
        *(seen.first_sight("m-2", START) for seen in (one, other) for _ in range(4))
    )
    assert sorted(sights) == [False] * 7 + [True]
    # An id longer than the column is kept as its digest, and still recognised.
    long_id = "x" * 500
    assert await one.first_sight(long_id, START)
    assert not await other.first_sight(long_id, START)


async def test_old_ids_are_pruned_so_the_table_stays_bounded(engine: AsyncEngine) -> None:
    seen = SeenMessages(engine)
    for minute in range(30):
        assert await seen.first_sight(f"old-{minute}", START + timedelta(minutes=minute))
    assert await _rows(engine) == 30
    later = START + KEEP_FOR + timedelta(minutes=30)
    assert await seen.first_sight("new-1", later)
    assert await _rows(engine) == 1
    # Pruning is not paid on every message: until PRUNE_EVERY has passed, rows only accrue.
    brief = SeenMessages(engine, keep_for=timedelta(minutes=1))
    assert await brief.first_sight("b-1", later)
    assert await brief.first_sight("b-2", later + PRUNE_EVERY / 2)
    assert await _rows(engine) == 3
    assert await brief.first_sight("b-3", later + PRUNE_EVERY)
    assert await _rows(engine) == 1
