"""The outbox: notifications that must go out later, as rows.

Rows are written inside the transaction of whatever they come from (``enqueue``, ``move_pending``
and ``cancel_pending`` take the caller's connection), and drained by workers through
``OutboxRepository``, whose methods each own their transaction.

A worker *claims* due rows with a lease. While the lease runs nobody else can take them; once it
has passed (the worker crashed or stalled) any worker may claim them again, so a crash loses
nothing. Every later state change is guarded by ``claimed_by``: a worker whose rows were taken
over cannot overwrite what the new owner does.

SQLite serialises writers (every transaction begins IMMEDIATE), so its claim is a plain
``UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING``; PostgreSQL gets the same statement with
``FOR UPDATE SKIP LOCKED`` in the subquery, so concurrent workers skip each other's rows instead
of queueing on them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    RowMapping,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.db import reading
from storage.models import OutboxStatus
from storage.schema import outbox

MAX_ERROR_LENGTH = 200  # outbox.last_error


@dataclass(frozen=True, slots=True)
class NewOutboxRow:
    """A notification to write. ``payload["type"]`` picks the renderer at send time; the payload
    should hold ids, not sentences, so the message states things as they are when it is sent.
    ``expires_at``: past this moment the message is pointless and is expired, not sent."""

    dedupe_key: str
    platform: str
    chat_id: str
    due_at: datetime
    expires_at: datetime | None
    payload: dict[str, Any]
    meeting_id: int | None = None
    org_unit_id: int | None = None

    def __post_init__(self) -> None:
        # The same checks on every backend: SQLite would silently store what PostgreSQL refuses.
        for name, value, limit in (
            ("dedupe_key", self.dedupe_key, 200),
            ("platform", self.platform, 16),
            ("chat_id", self.chat_id, 64),
        ):
            if not value or len(value) > limit:
                raise ValueError(f"outbox {name} must have 1 to {limit} characters")
        for name, moment in (("due_at", self.due_at), ("expires_at", self.expires_at)):
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"outbox {name} must be timezone-aware")
        if not isinstance(self.payload.get("type"), str):
            raise ValueError("an outbox payload needs a string 'type'")


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    dedupe_key: str
    platform: str
    chat_id: str
    due_at: datetime
    expires_at: datetime | None
    payload: dict[str, Any]
    status: OutboxStatus
    attempts: int
    meeting_id: int | None
    org_unit_id: int | None
    claimed_by: str | None = None
    lease_until: datetime | None = None
    sent_at: datetime | None = None
    last_error: str | None = None
    created_at: datetime | None = field(default=None, compare=False)

    @property
    def payload_type(self) -> str:
        return str(self.payload.get("type", ""))


def _row(row: RowMapping) -> OutboxRow:
    return OutboxRow(
        id=row["id"],
        dedupe_key=row["dedupe_key"],
        platform=row["platform"],
        chat_id=row["chat_id"],
        due_at=row["due_at"],
        expires_at=row["expires_at"],
        payload=dict(row["payload"]),
        status=OutboxStatus(row["status"]),
        attempts=row["attempts"],
        meeting_id=row["meeting_id"],
        org_unit_id=row["org_unit_id"],
        claimed_by=row["claimed_by"],
        lease_until=row["lease_until"],
        sent_at=row["sent_at"],
        last_error=row["last_error"],
        created_at=row["created_at"],
    )


# Gives back the attempt a claim counted, for rows that were not tried (or hit a flood wait).
_ONE_ATTEMPT_FEWER = case((outbox.c.attempts > 0, outbox.c.attempts - 1), else_=0)


def _error_text(error: str | None) -> str | None:
    return None if error is None else error[:MAX_ERROR_LENGTH]


def open_rows(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """Rows nobody is working on: pending, or claimed by a worker whose lease has run out
    (``now`` may be a bound parameter of a statement made once)."""
    return or_(
        outbox.c.status == OutboxStatus.PENDING,
        and_(outbox.c.status == OutboxStatus.CLAIMED, outbox.c.lease_until < now),
    )


def _due(now: datetime) -> ColumnElement[bool]:
    """Rows a worker may claim at ``now``: due and open, and not yet past their expiry."""
    return and_(
        or_(
            and_(outbox.c.status == OutboxStatus.PENDING, outbox.c.due_at <= now),
            and_(outbox.c.status == OutboxStatus.CLAIMED, outbox.c.lease_until < now),
        ),
        or_(outbox.c.expires_at.is_(None), outbox.c.expires_at > now),
    )


# --- inside the caller's transaction --------------------------------------------------------


async def enqueue(connection: AsyncConnection, rows: Sequence[NewOutboxRow], now: datetime) -> int:
    """Write ``rows`` in the caller's transaction; a row whose ``dedupe_key`` already exists (in
    any status) is skipped, so re-deriving rows is harmless. Returns how many were written."""
    if not rows:
        return 0
    dialect = connection.dialect.name
    if dialect == "sqlite":
        statement: Any = sqlite_insert(outbox)
    elif dialect == "postgresql":
        statement = postgresql_insert(outbox)
    else:  # pragma: no cover - settings only allow the two
        raise RuntimeError(f"the outbox does not support {dialect}")
    statement = statement.on_conflict_do_nothing(index_elements=[outbox.c.dedupe_key])
    values = [
        {
            "dedupe_key": row.dedupe_key,
            "platform": row.platform,
            "chat_id": row.chat_id,
            "due_at": row.due_at,
            "expires_at": row.expires_at,
            "payload": row.payload,
            "status": OutboxStatus.PENDING.value,
            "attempts": 0,
            "meeting_id": row.meeting_id,
            "org_unit_id": row.org_unit_id,
            "created_at": now,
        }
        for row in rows
    ]
    result = await connection.execute(statement.returning(outbox.c.id), values)
    return len(result.all())


async def cancel_pending(
    connection: AsyncConnection,
    *,
    meeting_id: int,
    now: datetime,
    keep: Collection[str] = (),
) -> int:
    """Cancel the meeting's rows that are not out yet (pending, or claimed with a lapsed lease),
    except those whose dedupe key is in ``keep``. Sent rows stay sent; a row a live worker is
    sending right now cannot be stopped. Returns how many were cancelled."""
    condition = and_(outbox.c.meeting_id == meeting_id, open_rows(now))
    if keep:
        condition = and_(condition, outbox.c.dedupe_key.not_in(list(keep)))
    result = await connection.execute(
        update(outbox)
        .where(condition)
        .values(status=OutboxStatus.CANCELLED, claimed_by=None, lease_until=None)
    )
    return int(result.rowcount)


async def move_pending(
    connection: AsyncConnection,
    *,
    meeting_id: int,
    now: datetime,
    delta: timedelta,
) -> int:
    """Shift the due and expiry times of the meeting's rows that are not out yet by ``delta``
    (the meeting moved by that much). Returns how many rows moved.

    Datetime arithmetic differs per backend (SQLite keeps text), so the new times are computed
    here and written back row by row; a meeting has a handful of rows."""
    found = (
        await connection.execute(
            select(outbox.c.id, outbox.c.due_at, outbox.c.expires_at).where(
                outbox.c.meeting_id == meeting_id, open_rows(now)
            )
        )
    ).all()
    if not found:
        return 0
    await connection.execute(
        update(outbox)
        .where(outbox.c.id == bindparam("row_id"))
        .values(
            status=OutboxStatus.PENDING,
            claimed_by=None,
            lease_until=None,
            due_at=bindparam("new_due"),
            expires_at=bindparam("new_expiry"),
        ),
        [
            {
                "row_id": row_id,
                "new_due": due_at + delta,
                "new_expiry": None if expires_at is None else expires_at + delta,
            }
            for row_id, due_at, expires_at in found
        ],
    )
    return len(found)


# --- the workers' side ----------------------------------------------------------------------


class OutboxRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def claim(
        self,
        worker_id: str,
        now: datetime,
        lease: timedelta,
        limit: int,
        *,
        skip_platforms: Collection[str] = (),
    ) -> list[OutboxRow]:
        """Take up to ``limit`` due rows for ``worker_id`` until ``now + lease``, oldest first,
        leaving the rows of ``skip_platforms`` (held back by a flood wait or an outage) alone.
        Two workers never get the same row while its lease runs."""
        if limit <= 0:
            return []
        claimed = {
            "status": OutboxStatus.CLAIMED,
            "claimed_by": worker_id,
            "lease_until": now + lease,
            "attempts": outbox.c.attempts + 1,
        }
        due = _due(now)
        if skip_platforms:
            due = and_(due, outbox.c.platform.not_in(sorted(skip_platforms)))
        pick = select(outbox.c.id).where(due).order_by(outbox.c.due_at, outbox.c.id).limit(limit)
        async with self._engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # A materialised CTE runs once. As an IN (subquery) the planner may rescan
                # the LIMIT … FOR UPDATE SKIP LOCKED per outer row (a nested-loop semi join)
                # and claim more than ``limit`` rows.
                picked = (
                    pick.with_for_update(skip_locked=True)
                    .cte("picked")
                    .prefix_with("MATERIALIZED", dialect="postgresql")
                )
                statement = update(outbox).where(outbox.c.id == picked.c.id)
            else:
                # SQLite: the IMMEDIATE transaction holds the write lock; nobody races us.
                statement = update(outbox).where(outbox.c.id.in_(pick))
            result = await connection.execute(statement.values(**claimed).returning(*outbox.c))
            rows = [_row(row) for row in result.mappings()]
        # RETURNING promises no order.
        return sorted(rows, key=lambda row: (row.due_at, row.id))

    async def _settle(self, row_id: int, worker_id: str, **values: Any) -> bool:
        """Change a row this worker still holds; False when the row was taken over (its lease
        ran out and another worker claimed it) or is gone."""
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(outbox)
                .where(
                    outbox.c.id == row_id,
                    outbox.c.status == OutboxStatus.CLAIMED,
                    outbox.c.claimed_by == worker_id,
                )
                .values(**values)
            )
        return bool(result.rowcount == 1)

    async def mark_sent(self, row_id: int, worker_id: str, now: datetime) -> bool:
        return await self._settle(
            row_id, worker_id, status=OutboxStatus.SENT, sent_at=now, lease_until=None
        )

    async def retry_at(
        self,
        row_id: int,
        worker_id: str,
        due_at: datetime,
        error: str | None,
        *,
        count_attempt: bool = True,
    ) -> bool:
        """Put the row back as pending, due at ``due_at``. ``count_attempt=False`` gives back the
        attempt its claim took (a flood wait is not the message's fault)."""
        return await self._settle(
            row_id,
            worker_id,
            status=OutboxStatus.PENDING,
            due_at=due_at,
            claimed_by=None,
            lease_until=None,
            attempts=outbox.c.attempts if count_attempt else _ONE_ATTEMPT_FEWER,
            last_error=_error_text(error),
        )

    async def mark_failed(self, row_id: int, worker_id: str, error: str | None) -> bool:
        return await self._settle(
            row_id,
            worker_id,
            status=OutboxStatus.FAILED,
            lease_until=None,
            last_error=_error_text(error),
        )

    async def mark_expired(self, row_id: int, worker_id: str, reason: str | None = None) -> bool:
        return await self._settle(
            row_id,
            worker_id,
            status=OutboxStatus.EXPIRED,
            lease_until=None,
            last_error=_error_text(reason),
        )

    async def release(self, row_ids: Collection[int], worker_id: str) -> int:
        """Hand back claimed rows this worker did not get to, giving back their attempt."""
        if not row_ids:
            return 0
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(outbox)
                .where(
                    outbox.c.id.in_(list(row_ids)),
                    outbox.c.status == OutboxStatus.CLAIMED,
                    outbox.c.claimed_by == worker_id,
                )
                .values(
                    status=OutboxStatus.PENDING,
                    claimed_by=None,
                    lease_until=None,
                    attempts=_ONE_ATTEMPT_FEWER,
                )
            )
        return int(result.rowcount)

    async def expire_due(self, now: datetime) -> int:
        """Expire open rows whose ``expires_at`` has come (the meeting has started): a reminder
        that fell due while the bot was down is sent if still useful, expired if not."""
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(outbox)
                .where(open_rows(now), outbox.c.expires_at <= now)
                .values(status=OutboxStatus.EXPIRED, claimed_by=None, lease_until=None)
            )
        return int(result.rowcount)

    # --- reading, for tests and reports ---------------------------------------------------

    async def get(self, row_id: int) -> OutboxRow | None:
        async with reading(self._engine).connect() as connection:
            row = (
                (await connection.execute(select(outbox).where(outbox.c.id == row_id)))
                .mappings()
                .first()
            )
        return None if row is None else _row(row)

    async def get_by_key(self, dedupe_key: str) -> OutboxRow | None:
        async with reading(self._engine).connect() as connection:
            row = (
                (await connection.execute(select(outbox).where(outbox.c.dedupe_key == dedupe_key)))
                .mappings()
                .first()
            )
        return None if row is None else _row(row)

    async def counts_by_status(self) -> dict[OutboxStatus, int]:
        async with reading(self._engine).connect() as connection:
            result = await connection.execute(
                select(outbox.c.status, func.count()).group_by(outbox.c.status)
            )
            return {OutboxStatus(status): int(count) for status, count in result.all()}
