"""Absence requests (xin phép vắng họp): a member asks, the secretary or deputy decides, the
member may withdraw before the meeting. An approved absence becomes an EXCUSED attendance
mark: at once if check-in is already open, otherwise when it opens (``excuse_approved``).

Every write locks the meeting row first (a no-op update), so two taps racing on the same
meeting — a second request, a decision and a withdrawal — are serialised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.audit import Actor, record
from storage.db import reading
from storage.errors import StorageConflict
from storage.models import (
    AbsenceReason,
    AbsenceStatus,
    AttendanceState,
    MeetingStatus,
    MemberState,
    MemberStatus,
)
from storage.schema import absences, attendance, meetings, members

# A request may still be made (marked late) for a meeting that started this long ago and
# whose check-in has not closed: the same window check-in itself uses.
LATE_WINDOW = timedelta(hours=6)
# A member has at most one of these per meeting; a withdrawn request does not count.
LIVE_STATUSES = (AbsenceStatus.PENDING, AbsenceStatus.APPROVED, AbsenceStatus.DECLINED)
WITHDRAWABLE = (AbsenceStatus.PENDING, AbsenceStatus.APPROVED)


class AbsenceMeetingGone(StorageConflict):
    """No such meeting in this cell, it was cancelled, or its check-in has closed."""


class AbsenceNotFound(StorageConflict):
    """No such request in this cell (or not the member's own)."""


class AbsenceExists(StorageConflict):
    """The member already has a request for this meeting."""

    def __init__(self, existing: Absence) -> None:
        super().__init__(existing.status.value)
        self.existing = existing


class AbsenceSettled(StorageConflict):
    """The request was already decided or withdrawn."""

    def __init__(self, current: Absence) -> None:
        super().__init__(current.status.value)
        self.current = current


class AbsenceTooLate(StorageConflict):
    """The meeting has started: a request can no longer be withdrawn."""


@dataclass(frozen=True, slots=True)
class AbsenceMeeting:
    id: int
    title: str
    starts_at: datetime


@dataclass(frozen=True, slots=True)
class Absence:
    id: int
    cell_id: int
    member_id: int
    member_name: str
    meeting: AbsenceMeeting
    reason: AbsenceReason
    reason_text: str | None
    status: AbsenceStatus
    late: bool
    requested_at: datetime
    decided_at: datetime | None
    decided_by: int | None


@dataclass(frozen=True, slots=True)
class PastMeeting:
    """A meeting whose check-in closed, with everyone's final state (no mark: absent)."""

    id: int
    starts_at: datetime
    states: dict[int, AttendanceState]


@dataclass(frozen=True, slots=True)
class ExpectedMember:
    """An active member who is expected at meetings (not exempted), and since when."""

    id: int
    full_name: str
    since: datetime


def _query() -> Select[Any]:
    return (
        select(
            absences,
            members.c.full_name,
            meetings.c.title,
            meetings.c.starts_at,
        )
        .join(members, members.c.id == absences.c.member_id)
        .join(meetings, meetings.c.id == absences.c.meeting_id)
    )


def _absence(row: Any) -> Absence:
    return Absence(
        id=row["id"],
        cell_id=row["org_unit_id"],
        member_id=row["member_id"],
        member_name=row["full_name"],
        meeting=AbsenceMeeting(row["meeting_id"], row["title"], row["starts_at"]),
        reason=AbsenceReason(row["reason"]),
        reason_text=row["reason_text"],
        status=AbsenceStatus(row["status"]),
        late=bool(row["late"]),
        requested_at=row["requested_at"],
        decided_at=row["decided_at"],
        decided_by=row["decided_by"],
    )


def _meeting(row: Any) -> AbsenceMeeting:
    return AbsenceMeeting(row.id, row.title, row.starts_at)


async def _excuse_after_close(
    connection: AsyncConnection, meeting_id: int, member_id: int, decided_by: int, now: datetime
) -> bool:
    """An absence approved after check-in closed: the member, absent (marked or not), becomes
    absent with reason. A member who came stays present."""
    mark = (
        await connection.execute(
            select(attendance.c.state).where(
                attendance.c.meeting_id == meeting_id, attendance.c.member_id == member_id
            )
        )
    ).first()
    values = {
        "state": AttendanceState.EXCUSED,
        "mode": None,
        "marked_by": decided_by,
        "marked_at": now,
    }
    if mark is None:
        await connection.execute(
            insert(attendance).values(meeting_id=meeting_id, member_id=member_id, **values)
        )
        return True
    if mark.state == AttendanceState.ABSENT:
        await connection.execute(
            update(attendance)
            .where(attendance.c.meeting_id == meeting_id, attendance.c.member_id == member_id)
            .values(**values)
        )
        return True
    return False


async def excuse_approved(
    connection: AsyncConnection,
    *,
    cell_id: int,
    meeting_id: int,
    marked_by: int | None,
    actor: Actor,
    now: datetime,
    only_member: int | None = None,
) -> int:
    """Mark EXCUSED every active member (or ``only_member``) with an approved absence for the
    meeting who has no mark yet: a member who came and checked in keeps PRESENT, and a mark
    the secretary made stays theirs. Returns how many were marked."""
    marked = {
        row.member_id
        for row in await connection.execute(
            select(attendance.c.member_id).where(attendance.c.meeting_id == meeting_id)
        )
    }
    approved = [
        row.member_id
        for row in await connection.execute(
            select(absences.c.member_id)
            .join(members, members.c.id == absences.c.member_id)
            .where(
                absences.c.meeting_id == meeting_id,
                absences.c.org_unit_id == cell_id,
                absences.c.status == AbsenceStatus.APPROVED,
                members.c.org_unit_id == cell_id,
                members.c.state == MemberState.ACTIVE,
            )
        )
        if row.member_id not in marked and only_member in (None, row.member_id)
    ]
    approved = list(dict.fromkeys(approved))
    for member_id in approved:
        await connection.execute(
            insert(attendance).values(
                meeting_id=meeting_id,
                member_id=member_id,
                state=AttendanceState.EXCUSED,
                mode=None,
                marked_by=marked_by,
                marked_at=now,
            )
        )
        await record(
            connection,
            at=now,
            actor=actor,
            action="attendance.excused",
            org_unit_id=cell_id,
            target=f"member:{member_id}",
            details={"meeting": meeting_id},
        )
    return len(approved)


class AbsenceRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # --- reading -------------------------------------------------------------------------

    async def candidates(self, cell_id: int, now: datetime, limit: int = 4) -> list[AbsenceMeeting]:
        """Meetings one may still ask to miss: the coming ones, and one that started a little
        while ago whose check-in is still open (such a request is late)."""
        query = (
            select(meetings.c.id, meetings.c.title, meetings.c.starts_at)
            .where(
                meetings.c.org_unit_id == cell_id,
                meetings.c.status == MeetingStatus.SCHEDULED,
                meetings.c.starts_at > now - LATE_WINDOW,
                meetings.c.checkin_closed_at.is_(None),
            )
            .order_by(meetings.c.starts_at, meetings.c.id)
            .limit(limit)
        )
        async with reading(self._engine).connect() as connection:
            return [_meeting(row) for row in await connection.execute(query)]

    async def recent_meetings(
        self, cell_id: int, now: datetime, limit: int = 3
    ) -> list[AbsenceMeeting]:
        """For the leaders' list: the next meetings and the most recent past ones."""
        base = select(meetings.c.id, meetings.c.title, meetings.c.starts_at).where(
            meetings.c.org_unit_id == cell_id, meetings.c.status == MeetingStatus.SCHEDULED
        )
        coming = base.where(meetings.c.starts_at > now).order_by(meetings.c.starts_at).limit(limit)
        past = (
            base.where(meetings.c.starts_at <= now)
            .order_by(meetings.c.starts_at.desc())
            .limit(limit)
        )
        async with reading(self._engine).connect() as connection:
            ahead = [_meeting(row) for row in await connection.execute(coming)]
            behind = [_meeting(row) for row in await connection.execute(past)]
        return [*ahead, *behind]

    async def get(self, cell_id: int, absence_id: int) -> Absence:
        async with reading(self._engine).connect() as connection:
            return await self._get(connection, cell_id, absence_id)

    async def for_meeting(self, cell_id: int, meeting_id: int) -> list[Absence]:
        """Every request for one meeting of the cell, oldest first (withdrawn ones too)."""
        query = (
            _query()
            .where(absences.c.org_unit_id == cell_id, absences.c.meeting_id == meeting_id)
            .order_by(absences.c.requested_at, absences.c.id)
        )
        async with reading(self._engine).connect() as connection:
            return [_absence(row) for row in (await connection.execute(query)).mappings()]

    async def mine(self, cell_id: int, member_id: int, now: datetime) -> list[Absence]:
        """The member's live requests (not withdrawn) for meetings that have not started."""
        query = (
            _query()
            .where(
                absences.c.org_unit_id == cell_id,
                absences.c.member_id == member_id,
                absences.c.status != AbsenceStatus.WITHDRAWN,
                meetings.c.status == MeetingStatus.SCHEDULED,
                meetings.c.starts_at > now,
            )
            .order_by(meetings.c.starts_at, absences.c.id)
        )
        async with reading(self._engine).connect() as connection:
            return [_absence(row) for row in (await connection.execute(query)).mappings()]

    async def history(
        self, cell_id: int, limit: int = 100
    ) -> tuple[list[PastMeeting], list[ExpectedMember]]:
        """The cell's closed meetings, newest first, with their final marks; and the members
        expected at meetings. Read in one transaction for the absence rules."""
        closed = (
            select(meetings.c.id, meetings.c.starts_at)
            .where(
                meetings.c.org_unit_id == cell_id,
                meetings.c.status == MeetingStatus.SCHEDULED,
                meetings.c.checkin_closed_at.is_not(None),
            )
            .order_by(meetings.c.starts_at.desc(), meetings.c.id.desc())
            .limit(limit)
        )
        roster = select(members.c.id, members.c.full_name, members.c.created_at).where(
            members.c.org_unit_id == cell_id,
            members.c.state == MemberState.ACTIVE,
            members.c.status.in_((MemberStatus.OFFICIAL, MemberStatus.PROBATIONARY)),
        )
        async with reading(self._engine).connect() as connection:
            past = [(row.id, row.starts_at) for row in await connection.execute(closed)]
            states: dict[int, dict[int, AttendanceState]] = {mid: {} for mid, _ in past}
            if past:
                marks = await connection.execute(
                    select(
                        attendance.c.meeting_id, attendance.c.member_id, attendance.c.state
                    ).where(attendance.c.meeting_id.in_(list(states)))
                )
                for row in marks:
                    states[row.meeting_id][row.member_id] = AttendanceState(row.state)
            expected = [
                ExpectedMember(row.id, row.full_name, row.created_at)
                for row in await connection.execute(roster)
            ]
        return [PastMeeting(mid, at, states[mid]) for mid, at in past], expected

    # --- changing ------------------------------------------------------------------------

    async def request(
        self,
        *,
        cell_id: int,
        meeting_id: int,
        member_id: int,
        reason: AbsenceReason,
        reason_text: str | None,
        actor: Actor,
        now: datetime,
    ) -> Absence:
        """File a request. One live request per member and meeting: a pending or decided one
        raises ``AbsenceExists``; after a withdrawal the member may ask again."""
        async with self._engine.begin() as connection:
            meeting = await self._lock_meeting(connection, cell_id, meeting_id)
            if (
                meeting["checkin_closed_at"] is not None
                or meeting["starts_at"] <= now - LATE_WINDOW
            ):
                raise AbsenceMeetingGone
            existing = (
                (
                    await connection.execute(
                        _query()
                        .where(
                            absences.c.meeting_id == meeting_id,
                            absences.c.member_id == member_id,
                            absences.c.status.in_(LIVE_STATUSES),
                        )
                        .limit(1)
                    )
                )
                .mappings()
                .first()
            )
            if existing is not None:
                raise AbsenceExists(_absence(existing))
            late = meeting["starts_at"] <= now
            absence_id = (
                await connection.execute(
                    insert(absences)
                    .values(
                        org_unit_id=cell_id,
                        meeting_id=meeting_id,
                        member_id=member_id,
                        reason=reason,
                        reason_text=reason_text,
                        status=AbsenceStatus.PENDING,
                        late=late,
                        requested_at=now,
                    )
                    .returning(absences.c.id)
                )
            ).scalar_one()
            await record(
                connection,
                at=now,
                actor=actor,
                action="absence.requested",
                org_unit_id=cell_id,
                target=f"absence:{absence_id}",
                details={"meeting": meeting_id, "late": late},
            )
            return await self._get(connection, cell_id, absence_id)

    async def decide(
        self,
        *,
        cell_id: int,
        absence_id: int,
        approve: bool,
        decided_by: int,
        actor: Actor,
        now: datetime,
    ) -> tuple[Absence, bool]:
        """Approve or decline a pending request. Returns it and whether the member was marked
        EXCUSED at once: approved while check-in is open and they had no mark, or approved
        after it closed and they were not present (the minutes and reports then follow)."""
        async with self._engine.begin() as connection:
            current = await self._get(connection, cell_id, absence_id)
            meeting = await self._lock_meeting(connection, cell_id, current.meeting.id)
            current = await self._get(connection, cell_id, absence_id)
            if current.status is not AbsenceStatus.PENDING:
                raise AbsenceSettled(current)
            status = AbsenceStatus.APPROVED if approve else AbsenceStatus.DECLINED
            await connection.execute(
                update(absences)
                .where(absences.c.id == absence_id)
                .values(status=status, decided_at=now, decided_by=decided_by)
            )
            await record(
                connection,
                at=now,
                actor=actor,
                action="absence.decided",
                org_unit_id=cell_id,
                target=f"absence:{absence_id}",
                details={"meeting": current.meeting.id, "status": status.value},
            )
            excused = False
            checkin_open = (
                meeting["checkin_opened_at"] is not None and meeting["checkin_closed_at"] is None
            )
            if approve and meeting["checkin_closed_at"] is not None:
                excused = await _excuse_after_close(
                    connection, current.meeting.id, current.member_id, decided_by, now
                )
            elif approve and checkin_open:
                excused = (
                    await excuse_approved(
                        connection,
                        cell_id=cell_id,
                        meeting_id=current.meeting.id,
                        marked_by=decided_by,
                        actor=actor,
                        now=now,
                        only_member=current.member_id,
                    )
                    > 0
                )
            return await self._get(connection, cell_id, absence_id), excused

    async def withdraw(
        self, *, cell_id: int, absence_id: int, member_id: int, actor: Actor, now: datetime
    ) -> Absence:
        """The member takes back their own pending or approved request before the meeting
        starts; an EXCUSED mark it caused is removed with it."""
        async with self._engine.begin() as connection:
            current = await self._get(connection, cell_id, absence_id)
            if current.member_id != member_id:
                raise AbsenceNotFound
            await self._lock_meeting(connection, cell_id, current.meeting.id)
            current = await self._get(connection, cell_id, absence_id)
            if current.status not in WITHDRAWABLE:
                raise AbsenceSettled(current)
            if current.meeting.starts_at <= now:
                raise AbsenceTooLate
            await connection.execute(
                update(absences)
                .where(absences.c.id == absence_id)
                .values(status=AbsenceStatus.WITHDRAWN, decided_at=now)
            )
            if current.status is AbsenceStatus.APPROVED:
                await connection.execute(
                    attendance.delete().where(
                        attendance.c.meeting_id == current.meeting.id,
                        attendance.c.member_id == member_id,
                        attendance.c.state == AttendanceState.EXCUSED,
                    )
                )
            await record(
                connection,
                at=now,
                actor=actor,
                action="absence.withdrawn",
                org_unit_id=cell_id,
                target=f"absence:{absence_id}",
                details={"meeting": current.meeting.id},
            )
            return await self._get(connection, cell_id, absence_id)

    # --- helpers -------------------------------------------------------------------------

    async def _get(self, connection: AsyncConnection, cell_id: int, absence_id: int) -> Absence:
        row = (
            (
                await connection.execute(
                    _query().where(absences.c.id == absence_id, absences.c.org_unit_id == cell_id)
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise AbsenceNotFound
        return _absence(row)

    async def _lock_meeting(
        self, connection: AsyncConnection, cell_id: int, meeting_id: int
    ) -> Any:
        """Lock the cell's scheduled meeting row and return it; gone or cancelled raises."""
        locked = (
            (
                await connection.execute(
                    update(meetings)
                    .where(
                        meetings.c.id == meeting_id,
                        meetings.c.org_unit_id == cell_id,
                        meetings.c.status == MeetingStatus.SCHEDULED,
                    )
                    # A no-op write: it only takes the lock.
                    .values(updated_at=meetings.c.updated_at)
                    .returning(
                        meetings.c.starts_at,
                        meetings.c.checkin_opened_at,
                        meetings.c.checkin_closed_at,
                    )
                )
            )
            .mappings()
            .first()
        )
        if locked is None:
            raise AbsenceMeetingGone
        return locked
