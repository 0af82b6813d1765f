"""Messages sent per platform and month, against a plan's monthly quota (Zalo's free plan is
small). Crossing the warning level enqueues a private notice to the secretaries of the cells
using that platform, once a month, in the same transaction as the count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.db import reading
from storage.models import MemberState, Role
from storage.outbox import NewOutboxRow, enqueue
from storage.schema import chats, identities, members, message_usage


@dataclass(frozen=True, slots=True)
class Usage:
    sent: int
    warned_now: bool  # this count crossed the warning level


class UsageRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def sent(self, platform: str, now: datetime) -> int:
        async with reading(self._engine).connect() as connection:
            value = (
                await connection.execute(
                    select(message_usage.c.sent).where(
                        message_usage.c.platform == platform,
                        message_usage.c.month == f"{now:%Y-%m}",
                    )
                )
            ).scalar_one_or_none()
        return int(value or 0)

    async def count(
        self, *, platform: str, messages: int, now: datetime, warn_at: int, notice: str
    ) -> Usage:
        """Add ``messages`` to this month's count. The first time the count reaches
        ``warn_at`` this month, ``notice`` goes to the secretaries through the outbox."""
        try:
            return await self._count(platform, messages, now, warn_at, notice)
        except IntegrityError:  # another process made this month's row first
            return await self._count(platform, messages, now, warn_at, notice)

    async def _count(
        self, platform: str, messages: int, now: datetime, warn_at: int, notice: str
    ) -> Usage:
        month = f"{now:%Y-%m}"
        key = (message_usage.c.platform == platform) & (message_usage.c.month == month)
        async with self._engine.begin() as connection:
            row = (
                await connection.execute(
                    update(message_usage)
                    .where(key)
                    .values(sent=message_usage.c.sent + messages)
                    .returning(message_usage.c.sent, message_usage.c.warned)
                )
            ).first()
            if row is None:
                await connection.execute(
                    insert(message_usage).values(
                        platform=platform, month=month, sent=messages, warned=False
                    )
                )
                sent, warned = messages, False
            else:
                sent, warned = int(row.sent), bool(row.warned)
            if warned or sent < warn_at:
                return Usage(sent, warned_now=False)
            await connection.execute(update(message_usage).where(key).values(warned=True))
            await enqueue(connection, await _notices(connection, platform, month, notice, now), now)
        return Usage(sent, warned_now=True)


async def _notices(
    connection: AsyncConnection, platform: str, month: str, text: str, now: datetime
) -> list[NewOutboxRow]:
    """One notice per secretary of a cell with a group on ``platform``, to their account on
    another platform when they have one (a notice about the quota should not spend it)."""
    cells = select(chats.c.org_unit_id).where(chats.c.platform == platform)
    rows = (
        await connection.execute(
            select(
                members.c.id,
                members.c.org_unit_id,
                identities.c.platform,
                identities.c.external_user_id,
            )
            .join(identities, identities.c.member_id == members.c.id)
            .where(
                members.c.org_unit_id.in_(cells),
                members.c.role == Role.SECRETARY,
                members.c.state == MemberState.ACTIVE,
            )
            .order_by(members.c.id, identities.c.id)
        )
    ).all()
    chosen: dict[int, tuple[int, str, str]] = {}
    for member_id, cell_id, account_platform, account in rows:
        if member_id not in chosen or chosen[member_id][1] == platform:
            chosen[member_id] = (int(cell_id), str(account_platform), str(account))
    return [
        NewOutboxRow(
            dedupe_key=f"quota:{platform}:{month}:{member_id}",
            platform=account_platform,
            chat_id=account,
            due_at=now,
            expires_at=None,
            payload={"type": "text", "text": text},
            org_unit_id=cell_id,
        )
        for member_id, (cell_id, account_platform, account) in chosen.items()
    ]
