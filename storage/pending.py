"""Questions the bot asked and is waiting to hear a free-text answer to.

Kept in the database so that an answer still lands after a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.schema import pending_inputs


@dataclass(frozen=True, slots=True)
class PendingInput:
    flow: str
    data: dict[str, object]
    expires_at: datetime


class PendingInputRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def expect(
        self,
        *,
        platform: str,
        chat_id: str,
        user_id: str,
        flow: str,
        data: dict[str, object],
        expires_at: datetime,
    ) -> None:
        """Wait for this person's next text in this chat; replaces any earlier question."""
        key = (
            (pending_inputs.c.platform == platform)
            & (pending_inputs.c.chat_id == chat_id)
            & (pending_inputs.c.user_id == user_id)
        )
        async with self._engine.begin() as connection:
            await connection.execute(delete(pending_inputs).where(key))
            await connection.execute(
                insert(pending_inputs).values(
                    platform=platform,
                    chat_id=chat_id,
                    user_id=user_id,
                    flow=flow,
                    data=data,
                    expires_at=expires_at,
                )
            )

    async def take(
        self, *, platform: str, chat_id: str, user_id: str, now: datetime
    ) -> PendingInput | None:
        """Remove and return the open question, if one is still fresh."""
        key = (
            (pending_inputs.c.platform == platform)
            & (pending_inputs.c.chat_id == chat_id)
            & (pending_inputs.c.user_id == user_id)
        )
        async with self._engine.begin() as connection:
            row = (await connection.execute(select(pending_inputs).where(key))).mappings().first()
            if row is None:
                return None
            await connection.execute(delete(pending_inputs).where(key))
        if row["expires_at"] <= now:
            return None
        return PendingInput(flow=row["flow"], data=dict(row["data"]), expires_at=row["expires_at"])

    async def reopen(
        self,
        *,
        platform: str,
        chat_id: str,
        user_id: str,
        question: PendingInput,
        expires_at: datetime,
    ) -> None:
        """Put a taken question back after a bad answer, unless the handler already asked
        another one (that newer question wins)."""
        key = (
            (pending_inputs.c.platform == platform)
            & (pending_inputs.c.chat_id == chat_id)
            & (pending_inputs.c.user_id == user_id)
        )
        async with self._engine.begin() as connection:
            if (await connection.execute(select(pending_inputs.c.flow).where(key))).first():
                return
            await connection.execute(
                insert(pending_inputs).values(
                    platform=platform,
                    chat_id=chat_id,
                    user_id=user_id,
                    flow=question.flow,
                    data=question.data,
                    expires_at=expires_at,
                )
            )

    async def forget(self, *, platform: str, chat_id: str, user_id: str) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                delete(pending_inputs).where(
                    (pending_inputs.c.platform == platform)
                    & (pending_inputs.c.chat_id == chat_id)
                    & (pending_inputs.c.user_id == user_id)
                )
            )
