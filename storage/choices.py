"""Numbered options waiting for an answer, for platforms without buttons (Zalo).

Kept in the database so that an answer still lands after a restart; each (platform, chat, user)
holds the options of the last message that offered them until they expire.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import reading
from storage.schema import pending_choices

ANYONE = "*"  # the user id under which a group's options open to everyone are kept

Option = tuple[str, str]  # (label, choice data)


class ChoiceRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def offer(
        self,
        *,
        platform: str,
        chat_id: str,
        user_id: str,
        options: list[Option],
        expires_at: datetime,
    ) -> None:
        """Replace what (chat, user) may answer with ``options``; none clears them."""
        key = (
            (pending_choices.c.platform == platform)
            & (pending_choices.c.chat_id == chat_id)
            & (pending_choices.c.user_id == user_id)
        )
        async with self._engine.begin() as connection:
            await connection.execute(delete(pending_choices).where(key))
            if options:
                await connection.execute(
                    insert(pending_choices).values(
                        platform=platform,
                        chat_id=chat_id,
                        user_id=user_id,
                        options=[list(option) for option in options],
                        expires_at=expires_at,
                    )
                )

    async def options_for(
        self, *, platform: str, chat_id: str, user_id: str, now: datetime
    ) -> list[list[Option]]:
        """The live option lists this person may answer here: their own first, then the ones
        open to anyone in the chat."""
        query = select(pending_choices.c.user_id, pending_choices.c.options).where(
            pending_choices.c.platform == platform,
            pending_choices.c.chat_id == chat_id,
            pending_choices.c.user_id.in_((user_id, ANYONE)),
            pending_choices.c.expires_at > now,
        )
        async with reading(self._engine).connect() as connection:
            found = (await connection.execute(query)).all()
        rows = sorted(found, key=lambda row: row.user_id == ANYONE)
        return [[(str(label), str(data)) for label, data in row.options] for row in rows]
