"""Meetings and monthly series, with their reminder rows in the outbox.

Reminder rows are written in the same transaction as the meeting they come from; editing a
meeting re-plans them and cancelling cancels them. Rows render at send time, so a reminder
always states the meeting as it is then.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    CTE,
    JSON,
    BindParameter,
    ColumnElement,
    Executable,
    FromClause,
    Integer,
    Interval,
    Select,
    String,
    TableValuedAlias,
    and_,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    select,
    true,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from scheduler.recurrence import months_from, occurrence_in, title_for
from storage.audit import Actor, record
from storage.db import reading
from storage.errors import StorageConflict
from storage.models import MeetingKind, MeetingStatus, MemberState, OutboxStatus, SeriesRule
from storage.outbox import NewOutboxRow, cancel_pending, open_rows
from storage.schema import (
    UTCDateTime,
    chats,
    identities,
    meeting_series,
    meetings,
    members,
    org_units,
    outbox,
)

# 3 days, 1 day and 2 hours before, unless the cell chose otherwise.
DEFAULT_OFFSETS_MINUTES = (3 * 24 * 60, 24 * 60, 120)
# How far ahead a series' occurrences exist as meetings.
SERIES_MONTHS_AHEAD = 3
REMINDER_PAYLOAD = "meeting.reminder"


class MeetingNotFound(StorageConflict):
    pass


class MeetingCancelled(StorageConflict):
    pass


@dataclass(frozen=True, slots=True)
class MeetingDetails:
    kind: MeetingKind
    title: str
    starts_at: datetime
    place: str
    online_url: str | None
    agenda: str


@dataclass(frozen=True, slots=True)
class Meeting:
    id: int
    cell_id: int
    series_id: int | None
    kind: MeetingKind
    title: str
    starts_at: datetime
    place: str
    online_url: str | None
    agenda: str
    status: MeetingStatus

    @property
    def details(self) -> MeetingDetails:
        return MeetingDetails(
            self.kind, self.title, self.starts_at, self.place, self.online_url, self.agenda
        )


@dataclass(frozen=True, slots=True)
class SeriesPattern:
    rule: SeriesRule
    local_time: time
    day_of_month: int | None = None
    weekday: int | None = None
    week_of_month: int | None = None


def _meeting(row: Any) -> Meeting:
    return Meeting(
        id=row["id"],
        cell_id=row["org_unit_id"],
        series_id=row["series_id"],
        kind=MeetingKind(row["kind"]),
        title=row["title"],
        starts_at=row["starts_at"],
        place=row["place"],
        online_url=row["online_url"],
        agenda=row["agenda"],
        status=MeetingStatus(row["status"]),
    )


def reminder_key_prefix(meeting_id: int, starts_at: datetime) -> str:
    """What every reminder key of the meeting at this start time begins with (in UTC, so the
    same start read back from the database gives the same key)."""
    return f"meeting:{meeting_id}:{starts_at.astimezone(UTC):%Y%m%dT%H%M}:"


def reminder_rows(
    meeting_id: int,
    cell_id: int,
    starts_at: datetime,
    offsets_minutes: Sequence[int],
    targets: Sequence[tuple[str, str]],
    now: datetime,
) -> list[NewOutboxRow]:
    """One row per (offset, chat) still ahead of ``now``. The key names the start time, so a
    moved meeting gets fresh rows while the old ones are cancelled. ``plan_reminders`` derives
    the same rows in SQL (tests hold the two equal); benchmarks write their rows with this."""
    prefix = reminder_key_prefix(meeting_id, starts_at)
    rows = []
    for offset in sorted(set(offsets_minutes), reverse=True):
        due = starts_at - timedelta(minutes=offset)
        if due <= now:
            continue
        for platform, chat_id in targets:
            rows.append(
                NewOutboxRow(
                    dedupe_key=f"{prefix}{offset}:{platform}:{chat_id}",
                    platform=platform,
                    chat_id=chat_id,
                    due_at=due,
                    expires_at=starts_at,
                    payload={"type": REMINDER_PAYLOAD, "meeting_id": meeting_id, "offset": offset},
                    meeting_id=meeting_id,
                    org_unit_id=cell_id,
                )
            )
    return rows


class MeetingRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # --- reading -------------------------------------------------------------------------

    async def get(self, meeting_id: int) -> Meeting | None:
        async with reading(self._engine).connect() as connection:
            row = (
                (await connection.execute(select(meetings).where(meetings.c.id == meeting_id)))
                .mappings()
                .first()
            )
        return _meeting(row) if row else None

    async def in_cell(self, cell_id: int, meeting_id: int) -> Meeting:
        meeting = await self.get(meeting_id)
        if meeting is None or meeting.cell_id != cell_id:
            raise MeetingNotFound
        return meeting

    async def upcoming(self, cell_id: int, now: datetime, limit: int = 3) -> list[Meeting]:
        query = (
            select(meetings)
            .where(
                meetings.c.org_unit_id == cell_id,
                meetings.c.status == MeetingStatus.SCHEDULED,
                meetings.c.starts_at > now,
            )
            .order_by(meetings.c.starts_at)
            .limit(limit)
        )
        async with reading(self._engine).connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_meeting(row) for row in rows]

    async def private_reminders(self, member_id: int) -> bool:
        query = select(members.c.private_reminders).where(members.c.id == member_id)
        async with reading(self._engine).connect() as connection:
            return bool((await connection.execute(query)).scalar_one_or_none())

    async def offsets(self, cell_id: int) -> tuple[int, ...]:
        async with reading(self._engine).connect() as connection:
            return await self._offsets(connection, cell_id)

    # --- changing ------------------------------------------------------------------------

    async def create(
        self, *, cell_id: int, details: MeetingDetails, actor: Actor, now: datetime
    ) -> Meeting:
        async with self._engine.begin() as connection:
            meeting_id = await self._insert(connection, cell_id, details, None, None, actor, now)
            await self._plan(connection, cell_id, meeting_id, now)
            await record(
                connection,
                at=now,
                actor=actor,
                action="meeting.created",
                org_unit_id=cell_id,
                target=f"meeting:{meeting_id}",
            )
            return await self._reload(connection, meeting_id)

    async def create_series(
        self,
        *,
        cell_id: int,
        details: MeetingDetails,
        pattern: SeriesPattern,
        actor: Actor,
        now: datetime,
    ) -> list[Meeting]:
        """A monthly series whose first occurrence is ``details.starts_at``."""
        async with self._engine.begin() as connection:
            series_id = (
                await connection.execute(
                    insert(meeting_series)
                    .values(
                        org_unit_id=cell_id,
                        kind=details.kind,
                        title=details.title,
                        place=details.place,
                        online_url=details.online_url,
                        agenda=details.agenda,
                        rule=pattern.rule,
                        day_of_month=pattern.day_of_month,
                        weekday=pattern.weekday,
                        week_of_month=pattern.week_of_month,
                        local_time=pattern.local_time.strftime("%H:%M"),
                        starts_at=details.starts_at,
                        active=True,
                        created_at=now,
                    )
                    .returning(meeting_series.c.id)
                )
            ).scalar_one()
            await record(
                connection,
                at=now,
                actor=actor,
                action="series.created",
                org_unit_id=cell_id,
                target=f"series:{series_id}",
            )
            await self._extend_series(connection, series_id, actor, now)
            rows = (
                await connection.execute(
                    select(meetings)
                    .where(meetings.c.series_id == series_id)
                    .order_by(meetings.c.starts_at)
                )
            ).mappings()
            return [_meeting(row) for row in rows]

    async def update(
        self,
        *,
        cell_id: int,
        meeting_id: int,
        details: MeetingDetails,
        actor: Actor,
        now: datetime,
    ) -> Meeting:
        """Change a meeting; a new start time re-plans its reminders."""
        async with self._engine.begin() as connection:
            current = await self._scheduled(connection, cell_id, meeting_id)
            await connection.execute(
                update(meetings)
                .where(meetings.c.id == meeting_id)
                .values(
                    kind=details.kind,
                    title=details.title,
                    starts_at=details.starts_at,
                    place=details.place,
                    online_url=details.online_url,
                    agenda=details.agenda,
                    updated_at=now,
                )
            )
            if details.starts_at != current.starts_at:
                await self._plan(connection, cell_id, meeting_id, now)
            changed = sorted(
                name
                for name in ("kind", "title", "starts_at", "place", "online_url", "agenda")
                if getattr(details, name) != getattr(current, name)
            )
            await record(
                connection,
                at=now,
                actor=actor,
                action="meeting.updated",
                org_unit_id=cell_id,
                target=f"meeting:{meeting_id}",
                details={"fields": changed},
            )
            return await self._reload(connection, meeting_id)

    async def cancel(
        self, *, cell_id: int, meeting_id: int, actor: Actor, now: datetime
    ) -> Meeting:
        """Cancel one meeting (for a series: skip this occurrence only)."""
        async with self._engine.begin() as connection:
            await self._scheduled(connection, cell_id, meeting_id)
            await connection.execute(
                update(meetings)
                .where(meetings.c.id == meeting_id)
                .values(status=MeetingStatus.CANCELLED, updated_at=now)
            )
            await self._cancel_reminders(connection, meeting_id, keep=(), now=now)
            await record(
                connection,
                at=now,
                actor=actor,
                action="meeting.cancelled",
                org_unit_id=cell_id,
                target=f"meeting:{meeting_id}",
            )
            return await self._reload(connection, meeting_id)

    async def stop_series(
        self, *, cell_id: int, series_id: int, actor: Actor, now: datetime
    ) -> int:
        """End a series: its future occurrences are cancelled. Returns how many."""
        async with self._engine.begin() as connection:
            owner = (
                await connection.execute(
                    select(meeting_series.c.org_unit_id).where(meeting_series.c.id == series_id)
                )
            ).scalar_one_or_none()
            if owner != cell_id:
                raise MeetingNotFound
            await connection.execute(
                update(meeting_series).where(meeting_series.c.id == series_id).values(active=False)
            )
            future = (
                (
                    await connection.execute(
                        select(meetings.c.id).where(
                            meetings.c.series_id == series_id,
                            meetings.c.status == MeetingStatus.SCHEDULED,
                            meetings.c.starts_at > now,
                        )
                    )
                )
                .scalars()
                .all()
            )
            for meeting_id in future:
                await connection.execute(
                    update(meetings)
                    .where(meetings.c.id == meeting_id)
                    .values(status=MeetingStatus.CANCELLED, updated_at=now)
                )
                await self._cancel_reminders(connection, meeting_id, keep=(), now=now)
            await record(
                connection,
                at=now,
                actor=actor,
                action="series.stopped",
                org_unit_id=cell_id,
                target=f"series:{series_id}",
                details={"cancelled": len(future)},
            )
            return len(future)

    async def set_offsets(
        self, *, cell_id: int, offsets_minutes: Sequence[int], actor: Actor, now: datetime
    ) -> tuple[int, ...]:
        chosen = tuple(sorted(set(offsets_minutes), reverse=True))
        async with self._engine.begin() as connection:
            await connection.execute(
                update(org_units).where(org_units.c.id == cell_id).values(reminder_offsets=chosen)
            )
            await record(
                connection,
                at=now,
                actor=actor,
                action="cell.reminder_offsets",
                org_unit_id=cell_id,
                target=f"cell:{cell_id}",
                details={"minutes": list(chosen)},
            )
            await self._replan_cell(connection, cell_id, now)
        return chosen

    async def set_private_reminders(
        self, *, member_id: int, cell_id: int, enabled: bool, actor: Actor, now: datetime
    ) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                update(members)
                .where(members.c.id == member_id, members.c.org_unit_id == cell_id)
                .values(private_reminders=enabled, updated_at=now)
            )
            await record(
                connection,
                at=now,
                actor=actor,
                action="member.private_reminders",
                org_unit_id=cell_id,
                target=f"member:{member_id}",
                details={"enabled": enabled},
            )
            await self._replan_cell(connection, cell_id, now)

    async def reconcile(self, now: datetime) -> None:
        """At start-up: extend every active series and re-derive the reminder rows of every
        future meeting (a no-op when nothing is missing)."""
        async with self._engine.begin() as connection:
            series_ids = (
                (
                    await connection.execute(
                        select(meeting_series.c.id).where(meeting_series.c.active.is_(True))
                    )
                )
                .scalars()
                .all()
            )
            for series_id in series_ids:
                await self._extend_series(connection, series_id, None, now)
            # Every future meeting of every cell in one pass: a province has thousands.
            await plan_reminders(connection, now)

    # --- helpers -------------------------------------------------------------------------

    async def _insert(
        self,
        connection: AsyncConnection,
        cell_id: int,
        details: MeetingDetails,
        series_id: int | None,
        occurrence: str | None,
        actor: Actor | None,
        now: datetime,
    ) -> int:
        return int(
            (
                await connection.execute(
                    insert(meetings)
                    .values(
                        org_unit_id=cell_id,
                        series_id=series_id,
                        occurrence=occurrence,
                        kind=details.kind,
                        title=details.title,
                        starts_at=details.starts_at,
                        place=details.place,
                        online_url=details.online_url,
                        agenda=details.agenda,
                        status=MeetingStatus.SCHEDULED,
                        created_by=actor.member_id if actor else None,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(meetings.c.id)
                )
            ).scalar_one()
        )

    async def _extend_series(
        self,
        connection: AsyncConnection,
        series_id: int,
        actor: Actor | None,
        now: datetime,
    ) -> None:
        """Make the occurrences of the next months that do not exist yet, counted from the
        series' first occurrence or from now, whichever is later: never one before its start
        (a series made on 3 December for 5 January has no meeting on 5 December)."""
        series = (
            (
                await connection.execute(
                    select(meeting_series).where(meeting_series.c.id == series_id)
                )
            )
            .mappings()
            .one()
        )
        cell_id = series["org_unit_id"]
        zone = ZoneInfo(await self._timezone(connection, cell_id))
        first: datetime = series["starts_at"]
        from_moment = max(first, now)
        start_day = from_moment.astimezone(zone).date()
        existing = set(
            (
                await connection.execute(
                    select(meetings.c.occurrence).where(meetings.c.series_id == series_id)
                )
            ).scalars()
        )
        local_time = time.fromisoformat(series["local_time"])
        for year, month in months_from(start_day, SERIES_MONTHS_AHEAD):
            key = f"{year:04d}-{month:02d}"
            if key in existing:
                continue  # already made: skipped or moved occurrences stay as they are
            day: date = occurrence_in(
                SeriesRule(series["rule"]),
                year,
                month,
                day_of_month=series["day_of_month"],
                weekday=series["weekday"],
                week_of_month=series["week_of_month"],
            )
            starts_at = datetime.combine(day, local_time, zone)
            if starts_at < from_moment or starts_at <= now:
                continue
            details = MeetingDetails(
                MeetingKind(series["kind"]),
                title_for(series["title"], first.astimezone(zone).date(), day),
                starts_at,
                series["place"],
                series["online_url"],
                series["agenda"],
            )
            meeting_id = await self._insert(
                connection, cell_id, details, series_id, key, actor, now
            )
            await self._plan(connection, cell_id, meeting_id, now)

    async def _plan(
        self, connection: AsyncConnection, cell_id: int, meeting_id: int, now: datetime
    ) -> None:
        """Plan the meeting as it now stands in the database (call after writing it)."""
        await plan_reminders(connection, now, cell_id=cell_id, meeting_id=meeting_id)

    async def _replan_cell(self, connection: AsyncConnection, cell_id: int, now: datetime) -> None:
        await plan_reminders(connection, now, cell_id=cell_id)

    async def _cancel_reminders(
        self, connection: AsyncConnection, meeting_id: int, keep: Sequence[str], now: datetime
    ) -> None:
        await cancel_pending(connection, meeting_id=meeting_id, now=now, keep=keep)

    async def _offsets(self, connection: AsyncConnection, cell_id: int) -> tuple[int, ...]:
        stored = (
            await connection.execute(
                select(org_units.c.reminder_offsets).where(org_units.c.id == cell_id)
            )
        ).scalar_one_or_none()
        return tuple(int(v) for v in stored) if stored else DEFAULT_OFFSETS_MINUTES

    async def _timezone(self, connection: AsyncConnection, cell_id: int) -> str:
        return str(
            (
                await connection.execute(
                    select(org_units.c.timezone).where(org_units.c.id == cell_id)
                )
            ).scalar_one()
        )

    async def _scheduled(
        self, connection: AsyncConnection, cell_id: int, meeting_id: int
    ) -> Meeting:
        row = (
            (await connection.execute(select(meetings).where(meetings.c.id == meeting_id)))
            .mappings()
            .first()
        )
        if row is None or row["org_unit_id"] != cell_id:
            raise MeetingNotFound
        meeting = _meeting(row)
        if meeting.status is MeetingStatus.CANCELLED:
            raise MeetingCancelled
        return meeting

    async def _reload(self, connection: AsyncConnection, meeting_id: int) -> Meeting:
        row = (
            (await connection.execute(select(meetings).where(meetings.c.id == meeting_id)))
            .mappings()
            .one()
        )
        return _meeting(row)


async def plan_reminders(
    connection: AsyncConnection,
    now: datetime,
    *,
    cell_id: int | None = None,
    meeting_id: int | None = None,
) -> None:
    """Make the pending reminder rows of one meeting (``meeting_id``, of cell ``cell_id``),
    of a cell's future meetings (``cell_id`` alone) or of every future meeting (neither)
    exactly what their cells' settings ask: the rows are derived in the database, in a few
    statements however many meetings there are (a province has thousands at start-up)."""
    scope = _Scope.ALL if cell_id is None else _Scope.CELL if meeting_id is None else _Scope.MEETING
    statements = _plan_statements(connection.dialect.name, scope)
    values: dict[str, Any] = {"plan_now": now, "plan_cell": cell_id, "plan_meeting": meeting_id}
    if statements.meeting_ids is not None:
        found = await connection.execute(statements.meeting_ids, values)
        values["plan_meetings"] = found.scalars().all()
    await connection.execute(statements.cancel, values)
    for insert_rows in statements.inserts:
        await connection.execute(insert_rows, values)


class _Scope(Enum):
    MEETING = "meeting"
    CELL = "cell"
    ALL = "all"


@dataclass(frozen=True)
class _PlanStatements:
    meeting_ids: Executable | None  # the cell's future meetings, found first
    cancel: Executable
    inserts: tuple[Executable, ...]


@functools.cache
def _plan_statements(dialect: str, scope: _Scope) -> _PlanStatements:
    """``plan_reminders``'s statements, made once per backend and scope: for one meeting,
    building them takes longer than running them. Parameters: plan_now, plan_cell,
    plan_meeting (and plan_meetings, the cell's future meetings)."""
    now = bindparam("plan_now", type_=UTCDateTime())
    cell_id = None if scope is _Scope.ALL else bindparam("plan_cell", type_=Integer)
    meeting_ids = None
    if scope is _Scope.MEETING:
        meeting_id = bindparam("plan_meeting", type_=Integer)
        chosen: ColumnElement[bool] = meetings.c.id == meeting_id
        # By meeting id: SQLite then finds the rows by the meeting index instead of walking
        # every open row.
        touched = outbox.c.meeting_id == meeting_id
    else:
        chosen = and_(meetings.c.status == MeetingStatus.SCHEDULED, meetings.c.starts_at > now)
        if cell_id is None:
            touched = outbox.c.meeting_id.in_(select(meetings.c.id).where(chosen))
        else:
            chosen = and_(chosen, meetings.c.org_unit_id == cell_id)
            meeting_ids = select(meetings.c.id).where(chosen)
            touched = outbox.c.meeting_id.in_(bindparam("plan_meetings", expanding=True))
    plan = _Plan(dialect, chosen, now)
    targets = (_group_chats(cell_id), _private_chats(cell_id))
    current = plan.current_prefix(meetings)
    # A reminder that fell due but is not out yet (the bot was down, or the next tick has not
    # come) is not planned again, yet it must still go out: keep it, unless it was for
    # another start time.
    overdue = (
        select(literal(1))
        .where(
            meetings.c.id == outbox.c.meeting_id,
            outbox.c.due_at <= now,
            func.substr(outbox.c.dedupe_key, 1, func.length(current)) == current,
        )
        .exists()
    )
    cancel = (
        update(outbox)
        .where(
            touched,
            open_rows(now),
            *(outbox.c.dedupe_key.not_in(plan.keys(chats)) for chats in targets),
            ~overdue,
        )
        .values(status=OutboxStatus.CANCELLED, claimed_by=None, lease_until=None)
    )
    # Group chats first, so that a group's reminder goes out before the private ones due
    # at the same moment (the outbox sends in (due, id) order).
    return _PlanStatements(meeting_ids, cancel, tuple(plan.insert(chats) for chats in targets))


def _once(query: Select[Any], name: str) -> CTE:
    """The chats, worked out once: inlined, SQLite would look up every cell's members again
    for each of its meetings and each offset."""
    return query.cte(name).prefix_with("MATERIALIZED")


def _group_chats(cell_id: BindParameter[int] | None) -> CTE:
    query = select(
        chats.c.org_unit_id.label("cell_id"),
        chats.c.platform,
        chats.c.external_id.label("chat_id"),
        chats.c.id.label("rank"),
    )
    if cell_id is not None:
        query = query.where(chats.c.org_unit_id == cell_id)
    return _once(query, "group_chats")


def _private_chats(cell_id: BindParameter[int] | None) -> CTE:
    """The private chats of members who asked for reminders there (a private chat's id is the
    user's id), one per member even when they linked accounts on two platforms: the one they
    linked first."""
    earlier = identities.alias("earlier")
    linked_before = (
        select(earlier.c.id)
        .where(earlier.c.member_id == identities.c.member_id, earlier.c.id < identities.c.id)
        .exists()
    )
    query = (
        select(
            members.c.org_unit_id.label("cell_id"),
            identities.c.platform,
            identities.c.external_user_id.label("chat_id"),
            identities.c.id.label("rank"),
        )
        .join(members, members.c.id == identities.c.member_id)
        .where(
            members.c.state == MemberState.ACTIVE,
            members.c.private_reminders.is_(True),
            ~linked_before,
        )
    )
    if cell_id is not None:
        query = query.where(members.c.org_unit_id == cell_id)
    return _once(query, "private_chats")


class _Plan:
    """The reminder rows of the ``chosen`` meetings, as SQL: what ``reminder_rows`` makes in
    Python, written for each backend (dates are text in SQLite), keys to the character."""

    def __init__(
        self, dialect: str, chosen: ColumnElement[bool], now: BindParameter[datetime]
    ) -> None:
        if dialect not in ("sqlite", "postgresql"):  # pragma: no cover - settings allow two
            raise RuntimeError(f"reminders are not planned on {dialect}")
        self._postgresql = dialect == "postgresql"
        self._chosen = chosen
        self._now = now

    def current_prefix(self, meeting: FromClause) -> ColumnElement[str]:
        """``reminder_key_prefix`` of the meeting as it is now."""
        if self._postgresql:
            minute = func.to_char(func.timezone("UTC", meeting.c.starts_at), 'YYYYMMDD"T"HH24MI')
        else:
            minute = func.strftime("%Y%m%dT%H%M", meeting.c.starts_at, type_=String)
        return literal("meeting:") + cast(meeting.c.id, String) + ":" + minute + ":"

    def _offsets(self) -> TableValuedAlias:
        """The cell's offsets, one a row; its own unless it chose none."""
        stored = org_units.c.reminder_offsets
        default: ColumnElement[Any] = literal(json.dumps(list(DEFAULT_OFFSETS_MINUTES)))
        if self._postgresql:
            default = cast(default, JSON)
            typeof, expand = func.json_typeof, func.json_array_elements_text
        else:
            typeof, expand = func.json_type, func.json_each
        chosen = case(
            (
                typeof(stored) == "array",
                case((func.json_array_length(stored) > 0, stored), else_=default),
            ),
            else_=default,
        )
        return expand(chosen).table_valued("value")

    def _rows(self, targets: CTE) -> Select[Any]:
        offsets = self._offsets()
        offset = cast(offsets.c.value, Integer)
        if self._postgresql:
            due: ColumnElement[Any] = meetings.c.starts_at - func.make_interval(
                0, 0, 0, 0, 0, offset, type_=Interval
            )
            payload = func.json_build_object
        else:
            # SQLAlchemy keeps microseconds after the seconds; offsets are whole minutes.
            due = func.strftime(
                "%Y-%m-%d %H:%M:%S",
                meetings.c.starts_at,
                "-" + cast(offset, String) + " minutes",
                type_=String,
            ) + func.substr(meetings.c.starts_at, 20, type_=String)
            payload = func.json_object
        due = type_coerce(due, UTCDateTime())
        key = (
            self.current_prefix(meetings)
            + cast(offset, String)
            + ":"
            + targets.c.platform
            + ":"
            + targets.c.chat_id
        )
        return (
            select(
                key.label("dedupe_key"),
                targets.c.platform,
                targets.c.chat_id,
                due.label("due_at"),
                meetings.c.starts_at.label("expires_at"),
                payload(
                    "type",
                    literal(REMINDER_PAYLOAD),
                    "meeting_id",
                    meetings.c.id,
                    "offset",
                    offset,
                ).label("payload"),
                literal(OutboxStatus.PENDING.value).label("status"),
                literal(0).label("attempts"),
                meetings.c.id.label("meeting_id"),
                meetings.c.org_unit_id,
                self._now.label("created_at"),
            )
            .select_from(
                meetings.join(org_units, org_units.c.id == meetings.c.org_unit_id)
                .join(targets, targets.c.cell_id == meetings.c.org_unit_id)
                .join(offsets, true())
            )
            .where(self._chosen, due > self._now)
        )

    def keys(self, targets: CTE) -> Select[Any]:
        return select(self._rows(targets).subquery().c.dedupe_key)

    def insert(self, targets: CTE) -> Executable:
        """Write the rows not written yet (a key that exists in any status is left alone, so
        re-planning is harmless), in the order ``reminder_rows`` gives them."""
        rows = self._rows(targets)
        ordered = rows.order_by(meetings.c.id, rows.selected_columns.due_at, targets.c.rank)
        columns = [column.name for column in rows.selected_columns]
        statement = (
            postgresql_insert(outbox) if self._postgresql else sqlite_insert(outbox)
        ).from_select(columns, ordered)
        return statement.on_conflict_do_nothing(index_elements=[outbox.c.dedupe_key])
