"""What the monthly report (/baocao) is made of, read for one cell or all of a committee's cells.

One query per table, whatever the number of cells or members: the cells are named by a
subquery on the committee, never by a list of ids, so a province-sized committee costs the
same handful of round trips as one cell. The database does the counting — a province's year
holds millions of attendance marks, and only a few numbers per cell and month leave it. Rows
per member are read for one cell's own workbook only (``ReportRepository.cell_detail``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.cells import cell_ids
from storage.db import reading
from storage.models import (
    AbsenceReason,
    AbsenceStatus,
    AttendanceState,
    FeedbackKind,
    FeedbackStatus,
    MeetingStatus,
    MemberState,
    MemberStatus,
    OrgKind,
    OrgUnit,
    StudyStatus,
)
from storage.schema import (
    absences,
    attendance,
    document_reads,
    document_targets,
    documents,
    feedback,
    meetings,
    members,
    org_units,
    study_campaigns,
    study_results,
    study_targets,
)

OPEN_FEEDBACK = (FeedbackStatus.NEW, FeedbackStatus.IN_PROGRESS)
# Expected at meetings: exempted members are not (DOMAIN.md).
EXPECTED_STATUSES = (MemberStatus.OFFICIAL, MemberStatus.PROBATIONARY)

# A member expected at a meeting: active in its cell, not exempted, on the roster by its start.
_EXPECTED_THERE = and_(
    members.c.org_unit_id == meetings.c.org_unit_id,
    members.c.state == MemberState.ACTIVE,
    members.c.status.in_(EXPECTED_STATUSES),
    members.c.created_at <= meetings.c.starts_at,
)
# That member's mark at that meeting, if any.
_THEIR_MARK = and_(attendance.c.meeting_id == meetings.c.id, attendance.c.member_id == members.c.id)


@dataclass(frozen=True, slots=True)
class MeetingTally:
    """A meeting of the month, counted over the members expected at it."""

    id: int
    cell_id: int
    title: str
    starts_at: datetime
    closed: bool
    expected: int
    present: int
    excused: int


@dataclass(slots=True)
class CellTally:
    """A cell's counts for the month."""

    members: int = 0  # active
    documents: int = 0  # posted to the cell
    reads: int = 0  # (document, member) pairs: its active members who read its documents
    feedback_new: int = 0  # raised this month
    feedback_open: int = 0  # raised by the month's end and still waiting for an answer
    study_due: int = 0  # open campaigns due this month
    study_done: int = 0  # results handed in for them


@dataclass
class ReportData:
    """``cells`` counted over the month ``[start, end)``; ``history`` holds (present, expected)
    over the closed meetings of each month the caller asked for, oldest first."""

    cells: list[OrgUnit]
    start: datetime
    end: datetime
    tallies: dict[int, CellTally] = field(default_factory=lambda: defaultdict(CellTally))
    meetings: list[MeetingTally] = field(default_factory=list)
    history: list[tuple[int, int]] = field(default_factory=list)

    def tally(self, cell_id: int) -> CellTally:
        return self.tallies.get(cell_id, CellTally())


@dataclass(frozen=True, slots=True)
class ReportMember:
    id: int
    full_name: str
    status: MemberStatus
    joined_at: datetime

    @property
    def expected(self) -> bool:
        return self.status in EXPECTED_STATUSES


@dataclass(frozen=True, slots=True)
class ReportMeeting:
    id: int
    starts_at: datetime
    closed: bool


@dataclass(frozen=True, slots=True)
class ReportAbsence:
    meeting_id: int
    member_id: int
    reason: AbsenceReason
    status: AbsenceStatus


@dataclass(frozen=True, slots=True)
class ReportDocument:
    id: int
    title: str
    posted_at: datetime


@dataclass(frozen=True, slots=True)
class ReportFeedback:
    kind: FeedbackKind
    status: FeedbackStatus


@dataclass
class CellDetail:
    """One cell's month row by row, for its own workbook: a few dozen members."""

    members: list[ReportMember] = field(default_factory=list)
    meetings: list[ReportMeeting] = field(default_factory=list)
    marks: dict[int, dict[int, AttendanceState]] = field(default_factory=dict)
    absences: list[ReportAbsence] = field(default_factory=list)
    documents: list[ReportDocument] = field(default_factory=list)
    reads: set[tuple[int, int]] = field(default_factory=set)  # (document, member)
    feedback: list[ReportFeedback] = field(default_factory=list)
    study_due: list[int] = field(default_factory=list)  # campaigns due this month
    study_finished: set[tuple[int, int]] = field(default_factory=set)  # (campaign, member)


def _window(unit: OrgUnit, start: datetime, end: datetime) -> ColumnElement[bool]:
    """The unit's scheduled meetings starting in ``[start, end)``."""
    return and_(
        meetings.c.org_unit_id.in_(cell_ids(unit)),
        meetings.c.status == MeetingStatus.SCHEDULED,
        meetings.c.starts_at >= start,
        meetings.c.starts_at < end,
    )


def _due(unit: OrgUnit, start: datetime, end: datetime) -> ColumnElement[bool]:
    """Open study campaigns aimed at the unit's cells, due in ``[start, end)``."""
    return and_(
        study_targets.c.cell_id.in_(cell_ids(unit)),
        study_campaigns.c.status == StudyStatus.OPEN,
        study_campaigns.c.deadline >= start,
        study_campaigns.c.deadline < end,
    )


def _posted(unit: OrgUnit, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(
        document_targets.c.cell_id.in_(cell_ids(unit)),
        document_targets.c.posted_at >= start,
        document_targets.c.posted_at < end,
    )


class ReportRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def month(
        self, unit: OrgUnit, *, months: Sequence[datetime], end: datetime
    ) -> ReportData:
        """The counts for the report of ``unit`` (a cell, or a committee: all its cells).
        ``months`` are the first instants of the chart's months, oldest first; the last one
        is the report's month, which ends at ``end``."""
        start = months[-1]
        async with reading(self._engine).connect() as connection:
            data = ReportData(await self._cells(connection, unit), start, end)
            await self._count_members(connection, unit, data)
            await self._count_meetings(connection, unit, data)
            data.history = await self._history(connection, unit, months, end)
            await self._count_documents(connection, unit, data)
            await self._count_feedback(connection, unit, data)
            await self._count_study(connection, unit, data)
        return data

    async def _cells(self, connection: AsyncConnection, unit: OrgUnit) -> list[OrgUnit]:
        query = (
            select(org_units)
            .where(org_units.c.id.in_(cell_ids(unit)))
            .order_by(org_units.c.name, org_units.c.id)
        )
        return [
            OrgUnit(
                row.id,
                OrgKind(row.kind),
                row.parent_id,
                row.name,
                row.timezone,
                bool(row.auto_accept),
                bool(row.absentees_in_group),
            )
            for row in await connection.execute(query)
        ]

    async def _count_members(
        self, connection: AsyncConnection, unit: OrgUnit, data: ReportData
    ) -> None:
        for cell_id, count in await connection.execute(
            select(members.c.org_unit_id, func.count())
            .where(
                members.c.org_unit_id.in_(cell_ids(unit)),
                members.c.state == MemberState.ACTIVE,
            )
            .group_by(members.c.org_unit_id)
        ):
            data.tallies[cell_id].members = count

    async def _count_meetings(
        self, connection: AsyncConnection, unit: OrgUnit, data: ReportData
    ) -> None:
        """The month's meetings, each with its expected members' marks counted."""
        query = (
            select(
                meetings.c.id,
                meetings.c.org_unit_id,
                meetings.c.title,
                meetings.c.starts_at,
                meetings.c.checkin_closed_at,
                func.count(members.c.id),
                func.count().filter(attendance.c.state == AttendanceState.PRESENT),
                func.count().filter(attendance.c.state == AttendanceState.EXCUSED),
            )
            .select_from(
                meetings.outerjoin(members, _EXPECTED_THERE).outerjoin(attendance, _THEIR_MARK)
            )
            .where(_window(unit, data.start, data.end))
            .group_by(meetings.c.id)
            .order_by(meetings.c.starts_at, meetings.c.id)
        )
        row: Any
        for row in await connection.execute(query):
            data.meetings.append(
                MeetingTally(
                    row.id,
                    row.org_unit_id,
                    row.title,
                    row.starts_at,
                    row.checkin_closed_at is not None,
                    row[5],
                    row[6],
                    row[7],
                )
            )

    async def _history(
        self,
        connection: AsyncConnection,
        unit: OrgUnit,
        months: Sequence[datetime],
        end: datetime,
    ) -> list[tuple[int, int]]:
        """(present, expected) over each month's closed meetings; (0, 0) for a month
        without one."""
        month = case(
            *((meetings.c.starts_at < bound, index) for index, bound in enumerate(months[1:])),
            else_=len(months) - 1,
        )
        # Grouped outside: PostgreSQL would not match the CASE's own bound parameters
        # repeated in GROUP BY.
        marks = (
            select(month.label("month"), attendance.c.state)
            .select_from(meetings.join(members, _EXPECTED_THERE).outerjoin(attendance, _THEIR_MARK))
            .where(
                _window(unit, months[0], end),
                meetings.c.checkin_closed_at.is_not(None),
            )
            .subquery()
        )
        totals = [(0, 0)] * len(months)
        for index, present, expected in await connection.execute(
            select(
                marks.c.month,
                func.count().filter(marks.c.state == AttendanceState.PRESENT),
                func.count(),
            ).group_by(marks.c.month)
        ):
            totals[index] = (present, expected)
        return totals

    async def _count_documents(
        self, connection: AsyncConnection, unit: OrgUnit, data: ReportData
    ) -> None:
        posted = _posted(unit, data.start, data.end)
        for cell_id, count in await connection.execute(
            select(document_targets.c.cell_id, func.count())
            .join(documents, documents.c.id == document_targets.c.document_id)
            .where(posted)
            .group_by(document_targets.c.cell_id)
        ):
            data.tallies[cell_id].documents = count
        for cell_id, count in await connection.execute(
            select(document_targets.c.cell_id, func.count())
            .select_from(document_targets)
            .join(document_reads, document_reads.c.document_id == document_targets.c.document_id)
            .join(
                members,
                and_(
                    members.c.id == document_reads.c.member_id,
                    members.c.org_unit_id == document_targets.c.cell_id,
                ),
            )
            .where(
                posted,
                members.c.state == MemberState.ACTIVE,
                document_reads.c.read_at < data.end,
            )
            .group_by(document_targets.c.cell_id)
        ):
            data.tallies[cell_id].reads = count

    async def _count_feedback(
        self, connection: AsyncConnection, unit: OrgUnit, data: ReportData
    ) -> None:
        for cell_id, raised, waiting in await connection.execute(
            select(
                feedback.c.org_unit_id,
                func.count().filter(feedback.c.created_at >= data.start),
                func.count().filter(feedback.c.status.in_(OPEN_FEEDBACK)),
            )
            .where(
                feedback.c.org_unit_id.in_(cell_ids(unit)),
                feedback.c.created_at < data.end,
            )
            .group_by(feedback.c.org_unit_id)
        ):
            data.tallies[cell_id].feedback_new = raised
            data.tallies[cell_id].feedback_open = waiting

    async def _count_study(
        self, connection: AsyncConnection, unit: OrgUnit, data: ReportData
    ) -> None:
        due = _due(unit, data.start, data.end)
        for cell_id, count in await connection.execute(
            select(study_targets.c.cell_id, func.count())
            .join(study_campaigns, study_campaigns.c.id == study_targets.c.campaign_id)
            .where(due)
            .group_by(study_targets.c.cell_id)
        ):
            data.tallies[cell_id].study_due = count
        for cell_id, count in await connection.execute(
            select(study_results.c.cell_id, func.count())
            .join(
                study_targets,
                and_(
                    study_targets.c.campaign_id == study_results.c.campaign_id,
                    study_targets.c.cell_id == study_results.c.cell_id,
                ),
            )
            .join(study_campaigns, study_campaigns.c.id == study_results.c.campaign_id)
            .where(due)
            .group_by(study_results.c.cell_id)
        ):
            data.tallies[cell_id].study_done = count

    async def cell_detail(self, cell: OrgUnit, *, start: datetime, end: datetime) -> CellDetail:
        """One cell's month row by row: members, marks, absences, documents and who read
        them, feedback, study campaigns and who finished them."""
        detail = CellDetail()
        row: Any  # each query below yields rows of its own shape
        async with reading(self._engine).connect() as connection:
            for row in await connection.execute(
                select(members.c.id, members.c.full_name, members.c.status, members.c.created_at)
                .where(members.c.org_unit_id == cell.id, members.c.state == MemberState.ACTIVE)
                .order_by(members.c.full_name, members.c.id)
            ):
                detail.members.append(
                    ReportMember(row.id, row.full_name, MemberStatus(row.status), row[3])
                )
            in_month = _window(cell, start, end)
            for row in await connection.execute(
                select(meetings.c.id, meetings.c.starts_at, meetings.c.checkin_closed_at)
                .where(in_month)
                .order_by(meetings.c.starts_at, meetings.c.id)
            ):
                detail.meetings.append(
                    ReportMeeting(row.id, row.starts_at, row.checkin_closed_at is not None)
                )
            month_ids = select(meetings.c.id).where(in_month)
            for row in await connection.execute(
                select(attendance.c.meeting_id, attendance.c.member_id, attendance.c.state).where(
                    attendance.c.meeting_id.in_(month_ids)
                )
            ):
                detail.marks.setdefault(row.meeting_id, {})[row.member_id] = AttendanceState(
                    row.state
                )
            for row in await connection.execute(
                select(
                    absences.c.meeting_id,
                    absences.c.member_id,
                    absences.c.reason,
                    absences.c.status,
                ).where(
                    absences.c.meeting_id.in_(month_ids),
                    absences.c.status != AbsenceStatus.WITHDRAWN,
                )
            ):
                detail.absences.append(
                    ReportAbsence(
                        row.meeting_id,
                        row.member_id,
                        AbsenceReason(row.reason),
                        AbsenceStatus(row.status),
                    )
                )
            posted = _posted(cell, start, end)
            for row in await connection.execute(
                select(documents.c.id, documents.c.title, document_targets.c.posted_at)
                .join(documents, documents.c.id == document_targets.c.document_id)
                .where(posted)
                .order_by(document_targets.c.posted_at, documents.c.id)
            ):
                detail.documents.append(ReportDocument(row[0], row[1], row[2]))
            for row in await connection.execute(
                select(document_reads.c.document_id, document_reads.c.member_id)
                .join(members, members.c.id == document_reads.c.member_id)
                .where(
                    document_reads.c.document_id.in_(
                        select(document_targets.c.document_id).where(posted)
                    ),
                    members.c.org_unit_id == cell.id,
                    document_reads.c.read_at < end,
                )
            ):
                detail.reads.add((row[0], row[1]))
            # Items raised this month, and older ones still waiting for an answer.
            for row in await connection.execute(
                select(feedback.c.kind, feedback.c.status).where(
                    feedback.c.org_unit_id == cell.id,
                    feedback.c.created_at < end,
                    or_(feedback.c.created_at >= start, feedback.c.status.in_(OPEN_FEEDBACK)),
                )
            ):
                detail.feedback.append(ReportFeedback(FeedbackKind(row[0]), FeedbackStatus(row[1])))
            due = _due(cell, start, end)
            for row in await connection.execute(
                select(study_targets.c.campaign_id)
                .join(study_campaigns, study_campaigns.c.id == study_targets.c.campaign_id)
                .where(due)
            ):
                detail.study_due.append(row[0])
            for row in await connection.execute(
                select(study_results.c.campaign_id, study_results.c.member_id)
                .join(
                    study_targets,
                    and_(
                        study_targets.c.campaign_id == study_results.c.campaign_id,
                        study_targets.c.cell_id == study_results.c.cell_id,
                    ),
                )
                .join(study_campaigns, study_campaigns.c.id == study_results.c.campaign_id)
                .where(due)
            ):
                detail.study_finished.add((row[0], row[1]))
        return detail
