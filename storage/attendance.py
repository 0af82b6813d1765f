"""Attendance at a meeting: opening check-in, the marks members and leaders make, and closing
it with the minutes draft stored on the meeting.

Every write first takes the meeting row with a guarded UPDATE (open and not yet closed, in the
caller's cell). That one statement both checks the state and locks the row — a row lock on
PostgreSQL, the write lock on SQLite — so a mark and a close never interleave: a tap that loses
the race sees "closed" instead of slipping in after the minutes were written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.absences import excuse_approved
from storage.audit import Actor, record
from storage.db import reading
from storage.errors import MemberNotFound, StorageConflict
from storage.models import (
    AttendanceMode,
    AttendanceState,
    MeetingKind,
    MeetingStatus,
    MemberState,
    MemberStatus,
    Role,
)
from storage.schema import attendance, document_targets, documents, meetings, members

# Check-in is for the meeting happening now: one that started up to 6 hours ago or starts
# within the next 2 hours (people gather early; long meetings run late).
CHECKIN_LOOKBACK = timedelta(hours=6)
CHECKIN_LOOKAHEAD = timedelta(hours=2)
# A no-op write on the meeting row while its check-in is open: it only takes the row's lock, so
# that marks and the closing of check-in follow one another. It also says whether the member
# is active in the cell, which saves a check-in tap a statement of its own.
_LOCK_OPEN = (
    update(meetings)
    .where(
        meetings.c.id == bindparam("meeting_id"),
        meetings.c.org_unit_id == bindparam("cell_id"),
        meetings.c.status == MeetingStatus.SCHEDULED,
        meetings.c.checkin_opened_at.is_not(None),
        meetings.c.checkin_closed_at.is_(None),
    )
    .values(checkin_opened_at=meetings.c.checkin_opened_at)
    .returning(
        meetings.c.id,
        select(members.c.id)
        .where(
            members.c.id == bindparam("member_id"),
            members.c.org_unit_id == bindparam("cell_id"),
            members.c.state == MemberState.ACTIVE,
        )
        .scalar_subquery()
        .label("active_member"),
    )
)
# Built once, like the lock: a check-in tap is the busiest write there is.
_MARK_OF = select(attendance).where(
    attendance.c.meeting_id == bindparam("meeting_id"),
    attendance.c.member_id == bindparam("member_id"),
)
_INSERT_MARK = insert(attendance)
# The key's parameters are named apart from the columns: in an UPDATE, a parameter named like a
# column would also be written to it.
_UPDATE_MARK = (
    update(attendance)
    .where(
        attendance.c.meeting_id == bindparam("meeting_id_"),
        attendance.c.member_id == bindparam("member_id_"),
    )
    .values(
        state=bindparam("state"),
        mode=bindparam("mode"),
        marked_by=bindparam("marked_by"),
        marked_at=bindparam("marked_at"),
    )
)

_ROLE_ORDER = {Role.SECRETARY: 0, Role.DEPUTY: 1, Role.COMMITTEE: 2, Role.MEMBER: 3}


class CheckinMeetingNotFound(StorageConflict):
    """No such meeting in this cell, or it was cancelled."""


class CheckinNotOpen(StorageConflict):
    pass


class CheckinClosed(StorageConflict):
    pass


@dataclass(frozen=True, slots=True)
class CheckinMeeting:
    """A meeting as attendance sees it: what it is plus where its check-in stands."""

    id: int
    cell_id: int
    kind: MeetingKind
    title: str
    starts_at: datetime
    place: str
    online_url: str | None
    agenda: str
    status: MeetingStatus
    checkin_opened_at: datetime | None
    checkin_closed_at: datetime | None
    ended_at: datetime | None
    minutes: str | None

    @property
    def is_open(self) -> bool:
        return self.checkin_opened_at is not None and self.checkin_closed_at is None

    @property
    def is_closed(self) -> bool:
        return self.checkin_closed_at is not None


@dataclass(frozen=True, slots=True)
class Mark:
    member_id: int
    state: AttendanceState
    mode: AttendanceMode | None
    marked_by: int | None
    marked_at: datetime


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """The little of a member that attendance needs: never personal data."""

    id: int
    full_name: str
    role: Role
    status: MemberStatus


@dataclass(frozen=True, slots=True)
class CheckinSnapshot:
    """The meeting, the active roster and every mark, read in one transaction."""

    meeting: CheckinMeeting
    roster: tuple[RosterEntry, ...]
    marks: dict[int, Mark]
    # Documents for this meeting that reached the cell's groups before it started.
    documents_before: int = 0


def _meeting(row: Any) -> CheckinMeeting:
    return CheckinMeeting(
        id=row["id"],
        cell_id=row["org_unit_id"],
        kind=MeetingKind(row["kind"]),
        title=row["title"],
        starts_at=row["starts_at"],
        place=row["place"],
        online_url=row["online_url"],
        agenda=row["agenda"],
        status=MeetingStatus(row["status"]),
        checkin_opened_at=row["checkin_opened_at"],
        checkin_closed_at=row["checkin_closed_at"],
        ended_at=row["ended_at"],
        minutes=row["minutes"],
    )


def _mark(row: Any) -> Mark:
    return Mark(
        member_id=row["member_id"],
        state=AttendanceState(row["state"]),
        mode=AttendanceMode(row["mode"]) if row["mode"] else None,
        marked_by=row["marked_by"],
        marked_at=row["marked_at"],
    )


class AttendanceRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # --- reading -------------------------------------------------------------------------

    async def current(self, cell_id: int, now: datetime) -> CheckinMeeting | None:
        """The cell's scheduled meeting nearest to ``now`` inside the check-in window."""
        query = select(meetings).where(
            meetings.c.org_unit_id == cell_id,
            meetings.c.status == MeetingStatus.SCHEDULED,
            meetings.c.starts_at >= now - CHECKIN_LOOKBACK,
            meetings.c.starts_at <= now + CHECKIN_LOOKAHEAD,
        )
        async with reading(self._engine).connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        found = [_meeting(row) for row in rows]
        if not found:
            return None
        return min(found, key=lambda m: (abs(m.starts_at - now), m.starts_at, m.id))

    async def next_after(self, cell_id: int, moment: datetime) -> CheckinMeeting | None:
        """The first scheduled meeting starting after ``moment``."""
        query = (
            select(meetings)
            .where(
                meetings.c.org_unit_id == cell_id,
                meetings.c.status == MeetingStatus.SCHEDULED,
                meetings.c.starts_at > moment,
            )
            .order_by(meetings.c.starts_at, meetings.c.id)
            .limit(1)
        )
        async with reading(self._engine).connect() as connection:
            row = (await connection.execute(query)).mappings().first()
        return _meeting(row) if row else None

    async def in_cell(self, cell_id: int, meeting_id: int) -> CheckinMeeting:
        """The meeting if it belongs to ``cell_id``; otherwise not found (no leaking)."""
        async with reading(self._engine).connect() as connection:
            return await self._in_cell(connection, cell_id, meeting_id)

    async def marks(self, meeting_id: int) -> dict[int, Mark]:
        async with reading(self._engine).connect() as connection:
            return await self._marks(connection, meeting_id)

    async def latest_minutes(self, cell_id: int) -> CheckinMeeting | None:
        """The most recent meeting of the cell that has a minutes draft."""
        query = (
            select(meetings)
            .where(meetings.c.org_unit_id == cell_id, meetings.c.minutes.is_not(None))
            .order_by(meetings.c.starts_at.desc(), meetings.c.id.desc())
            .limit(1)
        )
        async with reading(self._engine).connect() as connection:
            row = (await connection.execute(query)).mappings().first()
        return _meeting(row) if row else None

    # --- changing ------------------------------------------------------------------------

    async def open(
        self, *, cell_id: int, meeting_id: int, actor: Actor, now: datetime
    ) -> tuple[CheckinMeeting, bool]:
        """Open check-in; opening an open one changes nothing. Returns the meeting and
        whether this call opened it."""
        async with self._engine.begin() as connection:
            opened = (
                await connection.execute(
                    update(meetings)
                    .where(
                        meetings.c.id == meeting_id,
                        meetings.c.org_unit_id == cell_id,
                        meetings.c.status == MeetingStatus.SCHEDULED,
                        meetings.c.checkin_opened_at.is_(None),
                    )
                    .values(checkin_opened_at=now)
                    .returning(meetings.c.id)
                )
            ).first()
            meeting = await self._in_cell(connection, cell_id, meeting_id)
            if opened is None:
                if meeting.is_closed:
                    raise CheckinClosed
                return meeting, False
            await record(
                connection,
                at=now,
                actor=actor,
                action="attendance.opened",
                org_unit_id=cell_id,
                target=f"meeting:{meeting_id}",
            )
            # Approved absences count as "absent with reason" from the first moment.
            await excuse_approved(
                connection,
                cell_id=cell_id,
                meeting_id=meeting_id,
                marked_by=None,
                actor=actor,
                now=now,
            )
            return meeting, True

    async def mark(
        self,
        *,
        cell_id: int,
        meeting_id: int,
        member_id: int,
        state: AttendanceState,
        mode: AttendanceMode | None,
        marked_by: int | None,
        actor: Actor,
        now: datetime,
    ) -> tuple[Mark | None, Mark]:
        """Record (or change) one member's attendance while check-in is open. Returns the
        previous mark, if any, and the new one."""
        if state is not AttendanceState.PRESENT:
            mode = None
        async with self._engine.begin() as connection:
            member_active = await self._lock_open(connection, cell_id, meeting_id, member_id)
            if not member_active:
                raise MemberNotFound
            key = {"meeting_id": meeting_id, "member_id": member_id}
            previous_row = (await connection.execute(_MARK_OF, key)).mappings().first()
            values = {"state": state, "mode": mode, "marked_by": marked_by, "marked_at": now}
            # The meeting row is locked, so select-then-write cannot race another mark.
            if previous_row is None:
                await connection.execute(_INSERT_MARK, {**key, **values})
            else:
                await connection.execute(
                    _UPDATE_MARK, {"meeting_id_": meeting_id, "member_id_": member_id, **values}
                )
            await record(
                connection,
                at=now,
                actor=actor,
                action="attendance.marked",
                org_unit_id=cell_id,
                target=f"member:{member_id}",
                details={"meeting": meeting_id, "state": state.value, "mode": mode and mode.value},
            )
        return (
            _mark(previous_row) if previous_row is not None else None,
            Mark(member_id, state, mode, marked_by, now),
        )

    async def close(
        self,
        *,
        cell_id: int,
        meeting_id: int,
        actor: Actor,
        now: datetime,
        draft: Callable[[CheckinSnapshot], str],
        present_member: int | None = None,
    ) -> CheckinSnapshot:
        """Close check-in and store the minutes ``draft`` writes from the final snapshot, in
        one transaction: the minutes always describe exactly the marks that counted. The
        meeting's end is recorded now unless a «Họp xong» tap did earlier. ``present_member``
        (the leader who closes) is counted present in the room unless already marked so."""
        async with self._engine.begin() as connection:
            member_active = await self._lock_open(connection, cell_id, meeting_id, present_member)
            if present_member is not None and member_active:
                await self._mark_present(connection, meeting_id, present_member, now)
            await connection.execute(
                update(meetings)
                .where(meetings.c.id == meeting_id)
                .values(
                    checkin_closed_at=now,
                    ended_at=func.coalesce(meetings.c.ended_at, now),
                )
            )
            snapshot = await self._write_minutes(connection, cell_id, meeting_id, draft)
            await record(
                connection,
                at=now,
                actor=actor,
                action="attendance.closed",
                org_unit_id=cell_id,
                target=f"meeting:{meeting_id}",
                details={"marks": len(snapshot.marks)},
            )
        return snapshot

    async def rewrite_minutes(
        self,
        *,
        cell_id: int,
        meeting_id: int,
        draft: Callable[[CheckinSnapshot], str],
        ended_at: datetime | None = None,
    ) -> CheckinSnapshot:
        """After closing: write the minutes draft again from the marks as they are now (an
        absence decided later, or the meeting's end recorded by a tap), so the minutes and
        every report tell one truth. Refused while check-in is not closed."""
        # Writing the end (or, without one, rewriting it as it is) also locks the row.
        end = meetings.c.ended_at if ended_at is None else ended_at
        async with self._engine.begin() as connection:
            locked = (
                await connection.execute(
                    update(meetings)
                    .where(
                        meetings.c.id == meeting_id,
                        meetings.c.org_unit_id == cell_id,
                        meetings.c.status == MeetingStatus.SCHEDULED,
                        meetings.c.checkin_closed_at.is_not(None),
                    )
                    .values(ended_at=end)
                    .returning(meetings.c.id)
                )
            ).first()
            if locked is None:
                await self._in_cell(connection, cell_id, meeting_id)
                raise CheckinNotOpen  # still open, or never opened: nothing to rewrite yet
            return await self._write_minutes(connection, cell_id, meeting_id, draft)

    async def _write_minutes(
        self,
        connection: AsyncConnection,
        cell_id: int,
        meeting_id: int,
        draft: Callable[[CheckinSnapshot], str],
    ) -> CheckinSnapshot:
        meeting = await self._in_cell(connection, cell_id, meeting_id)
        documents_before = (
            await connection.execute(
                select(func.count())
                .select_from(
                    documents.join(
                        document_targets, document_targets.c.document_id == documents.c.id
                    )
                )
                .where(
                    documents.c.meeting_id == meeting_id,
                    document_targets.c.cell_id == cell_id,
                    document_targets.c.posted_at < meeting.starts_at,
                )
            )
        ).scalar_one()
        snapshot = CheckinSnapshot(
            meeting=meeting,
            roster=await self._roster(connection, cell_id),
            marks=await self._marks(connection, meeting_id),
            documents_before=int(documents_before),
        )
        text = draft(snapshot)
        await connection.execute(
            update(meetings).where(meetings.c.id == meeting_id).values(minutes=text)
        )
        return replace(snapshot, meeting=replace(meeting, minutes=text))

    async def _mark_present(
        self, connection: AsyncConnection, meeting_id: int, member_id: int, now: datetime
    ) -> None:
        key = {"meeting_id": meeting_id, "member_id": member_id}
        previous = (await connection.execute(_MARK_OF, key)).mappings().first()
        if previous is not None and previous["state"] == AttendanceState.PRESENT:
            return  # already present, in the room or online: keep how they came
        values = {
            "state": AttendanceState.PRESENT,
            "mode": AttendanceMode.IN_PERSON,
            "marked_by": member_id,
            "marked_at": now,
        }
        if previous is None:
            await connection.execute(_INSERT_MARK, {**key, **values})
        else:
            await connection.execute(
                _UPDATE_MARK, {"meeting_id_": meeting_id, "member_id_": member_id, **values}
            )

    # --- helpers -------------------------------------------------------------------------

    async def _in_cell(
        self, connection: AsyncConnection, cell_id: int, meeting_id: int
    ) -> CheckinMeeting:
        row = (
            (await connection.execute(select(meetings).where(meetings.c.id == meeting_id)))
            .mappings()
            .first()
        )
        if row is None or row["org_unit_id"] != cell_id:
            raise CheckinMeetingNotFound
        meeting = _meeting(row)
        if meeting.status is MeetingStatus.CANCELLED:
            raise CheckinMeetingNotFound
        return meeting

    async def _lock_open(
        self,
        connection: AsyncConnection,
        cell_id: int,
        meeting_id: int,
        member_id: int | None = None,
    ) -> bool:
        """Lock the meeting row if its check-in is open, otherwise say why not; and whether
        ``member_id`` is an active member of the cell."""
        params = {"meeting_id": meeting_id, "cell_id": cell_id, "member_id": member_id}
        locked = (await connection.execute(_LOCK_OPEN, params)).first()
        if locked is not None:
            return locked.active_member is not None
        meeting = await self._in_cell(connection, cell_id, meeting_id)
        raise CheckinClosed if meeting.is_closed else CheckinNotOpen

    async def _marks(self, connection: AsyncConnection, meeting_id: int) -> dict[int, Mark]:
        rows = (
            await connection.execute(
                select(attendance).where(attendance.c.meeting_id == meeting_id)
            )
        ).mappings()
        return {row["member_id"]: _mark(row) for row in rows}

    async def _roster(self, connection: AsyncConnection, cell_id: int) -> tuple[RosterEntry, ...]:
        rows = await connection.execute(
            select(members.c.id, members.c.full_name, members.c.role, members.c.status).where(
                members.c.org_unit_id == cell_id, members.c.state == MemberState.ACTIVE
            )
        )
        entries = [
            RosterEntry(row.id, row.full_name, Role(row.role), MemberStatus(row.status))
            for row in rows
        ]
        # The order /dangvien uses: leaders first, then by name.
        return tuple(
            sorted(entries, key=lambda m: (_ROLE_ORDER[m.role], m.full_name.casefold(), m.id))
        )
