"""What the monthly report (/baocao) is made of, read for one cell or all of a committee's cells.

One query per table, whatever the number of cells or members: the cells are named by a
subquery on the committee, never by a list of ids, so a province-sized committee costs the
same handful of round trips as one cell. The handler does the counting.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnClause

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


@dataclass(frozen=True, slots=True)
class ReportMember:
    id: int
    cell_id: int
    full_name: str
    status: MemberStatus
    joined_at: datetime

    @property
    def expected(self) -> bool:
        """Expected at meetings: exempted members are not (DOMAIN.md)."""
        return self.status in (MemberStatus.OFFICIAL, MemberStatus.PROBATIONARY)


@dataclass(frozen=True, slots=True)
class ReportMeeting:
    id: int
    cell_id: int
    title: str
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
    cell_id: int
    title: str
    posted_at: datetime


@dataclass(frozen=True, slots=True)
class ReportFeedback:
    cell_id: int
    kind: FeedbackKind
    status: FeedbackStatus
    created_at: datetime


@dataclass
class ReportData:
    """Raw rows for ``cells`` over ``[since, end)``; the month is ``[start, end)``."""

    cells: list[OrgUnit]
    start: datetime
    end: datetime
    members: list[ReportMember] = field(default_factory=list)
    # Every scheduled meeting from ``since`` (the chart's first month) to ``end``.
    meetings: list[ReportMeeting] = field(default_factory=list)
    marks: dict[int, dict[int, AttendanceState]] = field(default_factory=dict)
    absences: list[ReportAbsence] = field(default_factory=list)
    documents: list[ReportDocument] = field(default_factory=list)
    reads: set[tuple[int, int]] = field(default_factory=set)
    feedback: list[ReportFeedback] = field(default_factory=list)
    # Study campaigns due this month: (campaign, cell) pairs, and who finished each.
    study_targets: list[tuple[int, int]] = field(default_factory=list)
    study_finished: set[tuple[int, int]] = field(default_factory=set)  # (campaign, member)
    study_done: Counter[tuple[int, int]] = field(default_factory=Counter)  # (campaign, cell)
    _members_by_cell: dict[int, list[ReportMember]] | None = field(default=None, repr=False)
    _documents_by_cell: dict[int, list[ReportDocument]] | None = field(default=None, repr=False)

    def month_meetings(self) -> list[ReportMeeting]:
        return [m for m in self.meetings if self.start <= m.starts_at < self.end]

    def members_of(self, cell_id: int) -> list[ReportMember]:
        """The cell's members; grouped once, since a committee report asks for every cell of
        a province and scanning all members each time grows with cells × members."""
        if self._members_by_cell is None:
            grouped: dict[int, list[ReportMember]] = defaultdict(list)
            for member in self.members:
                grouped[member.cell_id].append(member)
            self._members_by_cell = grouped
        return self._members_by_cell.get(cell_id, [])

    def documents_of(self, cell_id: int) -> list[ReportDocument]:
        if self._documents_by_cell is None:
            grouped: dict[int, list[ReportDocument]] = defaultdict(list)
            for document in self.documents:
                grouped[document.cell_id].append(document)
            self._documents_by_cell = grouped
        return self._documents_by_cell.get(cell_id, [])


class ReportRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def month(
        self, unit: OrgUnit, *, since: datetime, start: datetime, end: datetime
    ) -> ReportData:
        """Everything the report of ``unit`` (a cell, or a committee: all its cells) needs."""
        if unit.kind is OrgKind.CELL:
            cell_ids: object = [unit.id]
        else:
            cell_ids = select(org_units.c.id).where(
                org_units.c.parent_id == unit.id, org_units.c.kind == OrgKind.CELL
            )

        def within(column: ColumnClause[int] | ColumnElement[int]) -> ColumnElement[bool]:
            return column.in_(cell_ids)  # type: ignore[arg-type]

        row: Any  # each query below yields rows of its own shape
        async with reading(self._engine).connect() as connection:
            cells_query = select(org_units).order_by(org_units.c.name, org_units.c.id)
            cells_query = cells_query.where(within(org_units.c.id))
            cells = [
                OrgUnit(
                    row.id,
                    OrgKind(row.kind),
                    row.parent_id,
                    row.name,
                    row.timezone,
                    bool(row.auto_accept),
                )
                for row in await connection.execute(cells_query)
            ]
            data = ReportData(cells, start, end)
            for row in await connection.execute(
                select(
                    members.c.id,
                    members.c.org_unit_id,
                    members.c.full_name,
                    members.c.status,
                    members.c.created_at,
                )
                .where(within(members.c.org_unit_id), members.c.state == MemberState.ACTIVE)
                .order_by(members.c.full_name, members.c.id)
            ):
                data.members.append(
                    ReportMember(
                        row.id, row.org_unit_id, row.full_name, MemberStatus(row.status), row[4]
                    )
                )
            in_window = and_(
                within(meetings.c.org_unit_id),
                meetings.c.status == MeetingStatus.SCHEDULED,
                meetings.c.starts_at >= since,
                meetings.c.starts_at < end,
            )
            for row in await connection.execute(
                select(
                    meetings.c.id,
                    meetings.c.org_unit_id,
                    meetings.c.title,
                    meetings.c.starts_at,
                    meetings.c.checkin_closed_at,
                )
                .where(in_window)
                .order_by(meetings.c.starts_at, meetings.c.id)
            ):
                data.meetings.append(
                    ReportMeeting(
                        row.id,
                        row.org_unit_id,
                        row.title,
                        row.starts_at,
                        row.checkin_closed_at is not None,
                    )
                )
                data.marks[row.id] = {}
            window_ids = select(meetings.c.id).where(in_window)
            for row in await connection.execute(
                select(attendance.c.meeting_id, attendance.c.member_id, attendance.c.state).where(
                    attendance.c.meeting_id.in_(window_ids)
                )
            ):
                data.marks.setdefault(row.meeting_id, {})[row.member_id] = AttendanceState(
                    row.state
                )
            month_ids = select(meetings.c.id).where(in_window, meetings.c.starts_at >= start)
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
                data.absences.append(
                    ReportAbsence(
                        row.meeting_id,
                        row.member_id,
                        AbsenceReason(row.reason),
                        AbsenceStatus(row.status),
                    )
                )
            for row in await connection.execute(
                select(
                    documents.c.id,
                    document_targets.c.cell_id,
                    documents.c.title,
                    document_targets.c.posted_at,
                )
                .join(documents, documents.c.id == document_targets.c.document_id)
                .where(
                    within(document_targets.c.cell_id),
                    document_targets.c.posted_at >= start,
                    document_targets.c.posted_at < end,
                )
                .order_by(document_targets.c.posted_at, documents.c.id)
            ):
                data.documents.append(ReportDocument(row[0], row[1], row[2], row[3]))
            posted_ids = select(document_targets.c.document_id).where(
                within(document_targets.c.cell_id),
                document_targets.c.posted_at >= start,
                document_targets.c.posted_at < end,
            )
            for row in await connection.execute(
                select(document_reads.c.document_id, document_reads.c.member_id)
                .join(members, members.c.id == document_reads.c.member_id)
                .where(
                    document_reads.c.document_id.in_(posted_ids),
                    within(members.c.org_unit_id),
                    document_reads.c.read_at < end,
                )
            ):
                data.reads.add((row[0], row[1]))
            # Items raised this month, and older ones still waiting for an answer.
            for row in await connection.execute(
                select(
                    feedback.c.org_unit_id,
                    feedback.c.kind,
                    feedback.c.status,
                    feedback.c.created_at,
                ).where(
                    within(feedback.c.org_unit_id),
                    feedback.c.created_at < end,
                    or_(feedback.c.created_at >= start, feedback.c.status.in_(OPEN_FEEDBACK)),
                )
            ):
                data.feedback.append(
                    ReportFeedback(row[0], FeedbackKind(row[1]), FeedbackStatus(row[2]), row[3])
                )
            due = and_(
                within(study_targets.c.cell_id),
                study_campaigns.c.status == StudyStatus.OPEN,
                study_campaigns.c.deadline >= start,
                study_campaigns.c.deadline < end,
            )
            for row in await connection.execute(
                select(study_targets.c.campaign_id, study_targets.c.cell_id)
                .join(study_campaigns, study_campaigns.c.id == study_targets.c.campaign_id)
                .where(due)
            ):
                data.study_targets.append((row[0], row[1]))
            for row in await connection.execute(
                select(
                    study_results.c.campaign_id,
                    study_results.c.cell_id,
                    study_results.c.member_id,
                )
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
                data.study_done[(row[0], row[1])] += 1
                data.study_finished.add((row[0], row[2]))
        return data
