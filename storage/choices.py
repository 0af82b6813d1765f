"""Numbered cards waiting for an answer, for platforms without buttons (Zalo).

A card is one numbered option list as a person saw it. Cards are ordered by their id, a
sequence: the newest card shown to a person in a chat is the one their number answers, and
every older one is dead. Kept in the database so that an answer still lands after a restart
and on another replica.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, false, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import reading
from storage.schema import choice_cards

ANYONE = "*"  # the audience of a card nobody asked for (the outbox): everyone in the chat

# How many of a chat's newest cards are read to find a person's own: enough to step over the
# cards of others shown since, few enough for one small query.
LOOK_BACK = 24
# A card long expired is of no use even to say "stale": dropped when the chat shows a new one.
KEEP_EXPIRED = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class CardOption:
    """One numbered line. ``open`` lets others in the chat use it (the asker could not);
    ``about`` is the first line of the message it was under, to restate what it acts on."""

    label: str
    data: str
    open: bool
    about: str


@dataclass(frozen=True, slots=True)
class Card:
    id: int
    audience: str
    confirming: bool
    question: bool
    options: tuple[CardOption, ...]
    text: str
    expires_at: datetime


class CardRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def show(
        self,
        *,
        platform: str,
        chat_id: str,
        audience: str,
        options: list[CardOption],
        text: str,
        expires_at: datetime,
        now: datetime,
        confirming: bool = False,
        question: bool = False,
    ) -> None:
        """Record a card as the newest in the chat. Pending confirmations end with it: the
        audience's anywhere on the platform, and everyone's in the chat when others may use
        the card too (they see it)."""
        shared = audience == ANYONE or any(option.open for option in options)
        dying = choice_cards.c.confirming & (choice_cards.c.platform == platform)
        dying &= or_(
            choice_cards.c.audience == audience,
            choice_cards.c.chat_id == chat_id if shared else false(),
        )
        expired = and_(
            choice_cards.c.platform == platform,
            choice_cards.c.chat_id == chat_id,
            choice_cards.c.expires_at < now - KEEP_EXPIRED,
        )
        async with self._engine.begin() as connection:
            await connection.execute(delete(choice_cards).where(expired))
            # Ended, not deleted: a number typed under it is then stale instead of reaching
            # an older card behind it.
            await connection.execute(
                update(choice_cards)
                .where(dying, choice_cards.c.expires_at > now)
                .values(expires_at=now)
            )
            await connection.execute(
                insert(choice_cards).values(
                    platform=platform,
                    chat_id=chat_id,
                    audience=audience,
                    shared=shared,
                    confirming=confirming,
                    question=question,
                    options=[[o.label, o.data, o.open, o.about] for o in options],
                    text=text,
                    expires_at=expires_at,
                )
            )

    async def visible(self, *, platform: str, chat_id: str, user_id: str) -> list[Card]:
        """The cards ``user_id`` saw in this chat that they might answer, newest first: their
        own and those open to others. Expired ones too, so that a late number is told why."""
        query = (
            select(choice_cards)
            .where(
                choice_cards.c.platform == platform,
                choice_cards.c.chat_id == chat_id,
                or_(choice_cards.c.audience == user_id, choice_cards.c.shared),
            )
            .order_by(choice_cards.c.id.desc())
            .limit(LOOK_BACK)
        )
        async with reading(self._engine).connect() as connection:
            rows = (await connection.execute(query)).all()
        return [
            Card(
                id=row.id,
                audience=row.audience,
                confirming=row.confirming,
                question=row.question,
                options=tuple(
                    CardOption(str(label), str(data), bool(is_open), str(about))
                    for label, data, is_open, about in row.options
                ),
                text=row.text,
                expires_at=row.expires_at,
            )
            for row in rows
        ]

    async def expire(self, card_id: int, now: datetime) -> None:
        """End a card that was answered (a confirmation): it stays the newest, so a number
        typed under it afterwards is stale instead of falling through to an older card."""
        async with self._engine.begin() as connection:
            await connection.execute(
                update(choice_cards).where(choice_cards.c.id == card_id).values(expires_at=now)
            )
