"""Zalo message ids already handled, shared by every replica and kept across restarts: Zalo's
webhook may redeliver a message, and the redelivery may reach another process or a restarted
one. The first insert of an id wins (``INSERT … ON CONFLICT DO NOTHING``), so two processes
racing on one id handle it once. Ids are kept for a day; pruning runs at most every few
minutes per process, so the table stays about a day's messages long."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.schema import zalo_seen_messages

KEEP_FOR = timedelta(days=1)
PRUNE_EVERY = timedelta(minutes=10)
_MAX_KEY = 128  # the column's width; a longer id is kept as its digest


def _key(message_id: str) -> str:
    if len(message_id) <= _MAX_KEY:
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()


class SeenMessages:
    def __init__(self, engine: AsyncEngine, *, keep_for: timedelta = KEEP_FOR) -> None:
        self._engine = engine
        self._keep_for = keep_for
        # When this process last pruned: a cache only; another process prunes on its own.
        self._pruned_at: datetime | None = None

    async def first_sight(self, message_id: str, now: datetime) -> bool:
        """True the first time any process sees ``message_id``, False for a redelivery."""
        async with self._engine.begin() as connection:
            statement: Any = (
                postgresql_insert(zalo_seen_messages)
                if connection.dialect.name == "postgresql"
                else sqlite_insert(zalo_seen_messages)
            )
            inserted = await connection.execute(
                statement.values(message_id=_key(message_id), seen_at=now)
                .on_conflict_do_nothing(index_elements=[zalo_seen_messages.c.message_id])
                .returning(zalo_seen_messages.c.message_id)
            )
            first = inserted.first() is not None
            if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
                # The index on seen_at makes this a range delete of what aged out since.
                await connection.execute(
                    delete(zalo_seen_messages).where(
                        zalo_seen_messages.c.seen_at < now - self._keep_for
                    )
                )
                self._pruned_at = now
        return first
