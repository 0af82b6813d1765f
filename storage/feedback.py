"""Feedback (góp ý, phản ánh, kiến nghị, đề xuất) tracked to an answer.

A member writes an item to their cell; the secretary (or deputy) moves it along
new → in progress → answered, or forwards it to the committee, and closes it. Every step is a
``feedback_events`` row with the leader's text plus an audit entry, written in one transaction
by a guarded UPDATE, so two leaders tapping at once cannot both move the same item.

An anonymous item has ``member_id`` NULL and its audit entry names no member or account: the
cell keeps no link to the person who wrote it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.audit import Actor, record
from storage.db import reading
from storage.errors import StorageConflict
from storage.models import FeedbackKind, FeedbackStatus, OrgKind
from storage.schema import feedback, feedback_events, meetings, members, org_units

MAX_TEXT = 3000  # a member's item; the dispatcher already refuses anything over 4,096
MAX_NOTE = 1000  # a leader's answer or note at each step

# Where an item may go from where it is; nothing ever leaves "closed".
TRANSITIONS: dict[FeedbackStatus, frozenset[FeedbackStatus]] = {
    FeedbackStatus.NEW: frozenset(
        {
            FeedbackStatus.IN_PROGRESS,
            FeedbackStatus.ANSWERED,
            FeedbackStatus.FORWARDED,
            FeedbackStatus.CLOSED,
        }
    ),
    FeedbackStatus.IN_PROGRESS: frozenset(
        {FeedbackStatus.ANSWERED, FeedbackStatus.FORWARDED, FeedbackStatus.CLOSED}
    ),
    FeedbackStatus.FORWARDED: frozenset({FeedbackStatus.ANSWERED, FeedbackStatus.CLOSED}),
    FeedbackStatus.ANSWERED: frozenset({FeedbackStatus.CLOSED}),
    FeedbackStatus.CLOSED: frozenset(),
}
OPEN = (FeedbackStatus.NEW, FeedbackStatus.IN_PROGRESS, FeedbackStatus.FORWARDED)
ANONYMOUS = Actor("anonymous")


class FeedbackNotFound(StorageConflict):
    """No such item where the asker may see it."""


class TransitionNotAllowed(StorageConflict):
    """The item is not in a state that may move to the one asked for."""

    def __init__(self, current: FeedbackStatus) -> None:
        super().__init__(current.value)
        self.current = current


@dataclass(frozen=True, slots=True)
class FeedbackItem:
    id: int
    cell_id: int
    cell_name: str
    member_id: int | None  # None: anonymous
    author_name: str | None
    kind: FeedbackKind
    text: str
    status: FeedbackStatus
    created_at: datetime
    updated_at: datetime

    @property
    def anonymous(self) -> bool:
        return self.member_id is None


@dataclass(frozen=True, slots=True)
class FeedbackEvent:
    status: FeedbackStatus
    note: str
    at: datetime


@dataclass(frozen=True, slots=True)
class FeedbackPage:
    items: tuple[FeedbackItem, ...]
    total: int


@dataclass(frozen=True, slots=True)
class FeedbackSummary:
    """What the minutes report: items received and answered since the previous meeting."""

    since: datetime | None  # None: the cell's first meeting, so "ever"
    received: int
    by_kind: dict[FeedbackKind, int]
    answered: int
    forwarded: int
    still_open: int


@dataclass(frozen=True, slots=True)
class LeaderScope:
    """Whose items a leader acts on: a cell's own, or a committee office's forwarded ones."""

    unit_id: int
    is_committee: bool


def _query() -> Any:
    return (
        select(
            feedback,
            org_units.c.name.label("cell_name"),
            members.c.full_name.label("author_name"),
        )
        .join(org_units, org_units.c.id == feedback.c.org_unit_id)
        .outerjoin(members, members.c.id == feedback.c.member_id)
    )


def _item(row: Any) -> FeedbackItem:
    return FeedbackItem(
        id=row["id"],
        cell_id=row["org_unit_id"],
        cell_name=row["cell_name"],
        member_id=row["member_id"],
        author_name=row["author_name"],
        kind=FeedbackKind(row["kind"]),
        text=row["text"],
        status=FeedbackStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _in_scope(scope: LeaderScope) -> ColumnElement[bool]:
    """A cell sees all of its items; an office only what its cells forwarded to it."""
    if not scope.is_committee:
        return feedback.c.org_unit_id == scope.unit_id
    cells = select(org_units.c.id).where(
        org_units.c.parent_id == scope.unit_id, org_units.c.kind == OrgKind.CELL
    )
    return feedback.c.org_unit_id.in_(cells) & (feedback.c.status == FeedbackStatus.FORWARDED)


class FeedbackRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # --- writing ------------------------------------------------------------------------

    async def submit(
        self,
        *,
        cell_id: int,
        member_id: int | None,
        kind: FeedbackKind,
        text: str,
        actor: Actor,
        now: datetime,
    ) -> FeedbackItem:
        """Store a new item. ``member_id`` None makes it anonymous: then the audit entry is
        written as ``ANONYMOUS`` whatever ``actor`` says, so no trail leads back."""
        if not text.strip() or len(text) > MAX_TEXT:
            raise ValueError("feedback text must have 1 to MAX_TEXT characters")
        async with self._engine.begin() as connection:
            item_id = (
                await connection.execute(
                    insert(feedback)
                    .values(
                        org_unit_id=cell_id,
                        member_id=member_id,
                        kind=kind,
                        text=text,
                        status=FeedbackStatus.NEW,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(feedback.c.id)
                )
            ).scalar_one()
            await record(
                connection,
                at=now,
                actor=actor if member_id is not None else ANONYMOUS,
                action="feedback.submitted",
                org_unit_id=cell_id,
                target=f"feedback:{item_id}",
                details={"kind": kind.value, "anonymous": member_id is None},
            )
            return await self._get(connection, item_id)

    async def move(
        self,
        *,
        scope: LeaderScope,
        item_id: int,
        to: FeedbackStatus,
        note: str,
        actor: Actor,
        now: datetime,
    ) -> tuple[FeedbackStatus, FeedbackItem]:
        """Move an item the scope may act on to ``to`` with the leader's ``note``: the status,
        its history row and the audit entry in one transaction. Returns the previous status
        and the item as it is now."""
        if not note.strip() or len(note) > MAX_NOTE:
            raise ValueError("a feedback note must have 1 to MAX_NOTE characters")
        allowed_from = [status for status, targets in TRANSITIONS.items() if to in targets]
        async with self._engine.begin() as connection:
            current = await self._visible(connection, scope, item_id)
            if current.status not in allowed_from:
                raise TransitionNotAllowed(current.status)
            # Guarded on the status we read: a concurrent move makes this one match nothing.
            moved = (
                await connection.execute(
                    update(feedback)
                    .where(feedback.c.id == item_id, feedback.c.status == current.status)
                    .values(status=to, updated_at=now)
                    .returning(feedback.c.id)
                )
            ).first()
            if moved is None:
                raise TransitionNotAllowed(current.status)
            await connection.execute(
                insert(feedback_events).values(
                    feedback_id=item_id,
                    status=to,
                    note=note,
                    actor_member_id=actor.member_id,
                    at=now,
                )
            )
            await record(
                connection,
                at=now,
                actor=actor,
                action="feedback.status",
                org_unit_id=current.cell_id,
                target=f"feedback:{item_id}",
                details={"from": current.status.value, "to": to.value},
            )
            return current.status, await self._get(connection, item_id)

    # --- reading ------------------------------------------------------------------------

    async def open_items(self, scope: LeaderScope, *, offset: int, limit: int) -> FeedbackPage:
        """Items waiting for the scope, oldest first: a cell's new, in-progress and forwarded
        ones; an office's forwarded ones from all its cells."""
        condition = _in_scope(scope)
        if not scope.is_committee:
            condition = condition & feedback.c.status.in_(OPEN)
        query = (
            _query()
            .where(condition)
            .order_by(feedback.c.created_at, feedback.c.id)
            .offset(offset)
            .limit(limit)
        )
        count = select(func.count()).select_from(feedback).where(condition)
        async with reading(self._engine).connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
            total = (await connection.execute(count)).scalar_one()
        return FeedbackPage(tuple(_item(row) for row in rows), int(total))

    async def visible(self, scope: LeaderScope, item_id: int) -> FeedbackItem:
        """The item if the scope may see it; otherwise not found (no leaking)."""
        async with reading(self._engine).connect() as connection:
            return await self._visible(connection, scope, item_id)

    async def history(self, item_id: int) -> list[FeedbackEvent]:
        query = (
            select(feedback_events)
            .where(feedback_events.c.feedback_id == item_id)
            .order_by(feedback_events.c.at, feedback_events.c.id)
        )
        async with reading(self._engine).connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [FeedbackEvent(FeedbackStatus(r["status"]), r["note"], r["at"]) for r in rows]

    async def of_member(
        self, *, cell_id: int, member_id: int, limit: int
    ) -> list[tuple[FeedbackItem, FeedbackEvent | None]]:
        """A member's own named items in their cell, newest first, each with its last step."""
        query = (
            _query()
            .where(feedback.c.org_unit_id == cell_id, feedback.c.member_id == member_id)
            .order_by(feedback.c.created_at.desc(), feedback.c.id.desc())
            .limit(limit)
        )
        async with reading(self._engine).connect() as connection:
            items = [_item(row) for row in (await connection.execute(query)).mappings()]
            latest = await self._latest_events(connection, [item.id for item in items])
        return [(item, latest.get(item.id)) for item in items]

    async def summary_before(self, *, cell_id: int, meeting_id: int) -> FeedbackSummary:
        """Feedback received and answered since the cell's previous closed meeting (other
        than ``meeting_id``), or ever if there was none: the minutes' feedback section."""
        async with reading(self._engine).connect() as connection:
            since = (
                await connection.execute(
                    select(func.max(meetings.c.checkin_closed_at)).where(
                        meetings.c.org_unit_id == cell_id,
                        meetings.c.id != meeting_id,
                        meetings.c.checkin_closed_at.is_not(None),
                    )
                )
            ).scalar_one_or_none()
            received_query = (
                select(feedback.c.kind, func.count())
                .where(feedback.c.org_unit_id == cell_id)
                .group_by(feedback.c.kind)
            )
            steps_query = (
                select(feedback_events.c.status, func.count(func.distinct(feedback.c.id)))
                .join(feedback, feedback.c.id == feedback_events.c.feedback_id)
                .where(feedback.c.org_unit_id == cell_id)
                .group_by(feedback_events.c.status)
            )
            if since is not None:
                received_query = received_query.where(feedback.c.created_at > since)
                steps_query = steps_query.where(feedback_events.c.at > since)
            by_kind = {
                FeedbackKind(kind): int(n)
                for kind, n in (await connection.execute(received_query)).all()
            }
            steps = {
                FeedbackStatus(status): int(n)
                for status, n in (await connection.execute(steps_query)).all()
            }
            still_open = (
                await connection.execute(
                    select(func.count())
                    .select_from(feedback)
                    .where(feedback.c.org_unit_id == cell_id, feedback.c.status.in_(OPEN))
                )
            ).scalar_one()
        return FeedbackSummary(
            since=since,
            received=sum(by_kind.values()),
            by_kind=by_kind,
            answered=steps.get(FeedbackStatus.ANSWERED, 0),
            forwarded=steps.get(FeedbackStatus.FORWARDED, 0),
            still_open=int(still_open),
        )

    # --- helpers ------------------------------------------------------------------------

    async def _get(self, connection: AsyncConnection, item_id: int) -> FeedbackItem:
        row = (await connection.execute(_query().where(feedback.c.id == item_id))).mappings()
        found = row.first()
        if found is None:
            raise FeedbackNotFound
        return _item(found)

    async def _visible(
        self, connection: AsyncConnection, scope: LeaderScope, item_id: int
    ) -> FeedbackItem:
        query = _query().where(feedback.c.id == item_id, _in_scope(scope))
        row = (await connection.execute(query)).mappings().first()
        if row is None:
            raise FeedbackNotFound
        return _item(row)

    async def _latest_events(
        self, connection: AsyncConnection, item_ids: Sequence[int]
    ) -> dict[int, FeedbackEvent]:
        if not item_ids:
            return {}
        rows = (
            await connection.execute(
                select(feedback_events)
                .where(feedback_events.c.feedback_id.in_(item_ids))
                .order_by(feedback_events.c.at, feedback_events.c.id)
            )
        ).mappings()
        # Later rows overwrite earlier ones: what is left is each item's last step.
        return {
            row["feedback_id"]: FeedbackEvent(FeedbackStatus(row["status"]), row["note"], row["at"])
            for row in rows
        }
