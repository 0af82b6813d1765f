"""What the year-end review (/danhgia) reads and keeps: a cell's (or a committee's cells') year
row by row, the self-review round and its deadline, the self-reviews sent and the grades the
cell decided.

A year is read with one query per table whatever the number of cells: the cells are named by
a subquery on the unit (``cell_ids``), as for the monthly report. Every change checks in the
same transaction that the member is on the cell's active roster, so a forged id changes
nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.audit import Actor, record
from storage.cells import cell_ids
from storage.db import reading
from storage.errors import MemberNotFound
from storage.models import (
    AbsenceReason,
    AbsenceStatus,
    AttendanceState,
    MeetingStatus,
    MemberState,
    MemberStatus,
    OrgUnit,
    OutboxStatus,
    ReviewGrade,
    SelfReviewKind,
    StudyStatus,
)
from storage.outbox import NewOutboxRow, enqueue, open_rows
from storage.schema import (
    absences,
    attendance,
    feedback,
    meetings,
    members,
    outbox,
    review_grades,
    review_rounds,
    self_reviews,
    study_campaigns,
    study_results,
    study_targets,
)


@dataclass(frozen=True, slots=True)
class YearMember:
    id: int
    cell_id: int
    full_name: str
    status: MemberStatus
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class YearMeeting:
    """A meeting of the year whose check-in was closed: the ones attendance counts."""

    id: int
    cell_id: int
    title: str
    starts_at: datetime
    has_minutes: bool


@dataclass(frozen=True, slots=True)
class YearAbsence:
    meeting_id: int
    member_id: int
    reason: AbsenceReason
    status: AbsenceStatus


@dataclass(frozen=True, slots=True)
class YearCampaign:
    id: int
    title: str
    deadline: datetime
    cell_ids: frozenset[int]


@dataclass(frozen=True, slots=True)
class SelfReview:
    member_id: int
    kind: SelfReviewKind
    text: str | None
    file_name: str | None
    platform: str | None
    platform_file_id: str | None
    submitted_at: datetime


@dataclass
class YearDetail:
    """The year ``[start, end)`` of one cell, or of every cell of a committee."""

    members: list[YearMember] = field(default_factory=list)
    meetings: list[YearMeeting] = field(default_factory=list)
    marks: dict[int, dict[int, AttendanceState]] = field(default_factory=dict)
    absences: list[YearAbsence] = field(default_factory=list)
    campaigns: list[YearCampaign] = field(default_factory=list)
    results: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)  # score, total
    feedback: Counter[int] = field(default_factory=Counter)  # items each member signed
    deadlines: dict[int, datetime] = field(default_factory=dict)  # cell → self-review deadline
    reviews: dict[int, SelfReview] = field(default_factory=dict)  # member → their self-review
    grades: dict[int, ReviewGrade] = field(default_factory=dict)  # member → grade

    @property
    def empty(self) -> bool:
        """Nothing happened that year: no meeting counted, no study, no feedback."""
        return not (self.meetings or self.campaigns or self.feedback)


def self_review_reminder_key(member_id: int, year: int, planned_for: date | None = None) -> str:
    """One reminder per member and year from the secretary's button, and one planned before
    each deadline set (a moved deadline plans a new one: the old one is cancelled)."""
    key = f"review:{year}:{member_id}"
    return key if planned_for is None else f"{key}:planned:{planned_for:%Y%m%d}"


def _only(column: ColumnElement[int], member_id: int | None) -> ColumnElement[bool]:
    """Rows of ``member_id`` only, or of everyone when it is None."""
    return true() if member_id is None else column == member_id


class ReviewRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # --- reading ---------------------------------------------------------------------------

    async def year(
        self,
        unit: OrgUnit,
        year: int,
        *,
        start: datetime,
        end: datetime,
        member_id: int | None = None,
    ) -> YearDetail:
        """The year of ``unit`` (a cell, or all of a committee's cells). With ``member_id``,
        only that member's own rows are read besides the meetings: a member's view never
        holds anyone else's marks."""
        detail = YearDetail()
        cells = cell_ids(unit)
        row: Any  # each query below yields rows of its own shape
        who = _only(members.c.id, member_id)
        async with reading(self._engine).connect() as connection:
            for row in await connection.execute(
                select(
                    members.c.id,
                    members.c.org_unit_id,
                    members.c.full_name,
                    members.c.status,
                    members.c.created_at,
                )
                .where(
                    members.c.org_unit_id.in_(cells),
                    members.c.state == MemberState.ACTIVE,
                    who,
                )
                .order_by(members.c.org_unit_id, members.c.full_name, members.c.id)
            ):
                detail.members.append(
                    YearMember(row[0], row[1], row[2], MemberStatus(row[3]), row[4])
                )
            in_year = and_(
                meetings.c.org_unit_id.in_(cells),
                meetings.c.status == MeetingStatus.SCHEDULED,
                meetings.c.checkin_closed_at.is_not(None),
                meetings.c.starts_at >= start,
                meetings.c.starts_at < end,
            )
            for row in await connection.execute(
                select(
                    meetings.c.id,
                    meetings.c.org_unit_id,
                    meetings.c.title,
                    meetings.c.starts_at,
                    meetings.c.minutes.is_not(None),
                )
                .where(in_year)
                .order_by(meetings.c.starts_at, meetings.c.id)
            ):
                detail.meetings.append(YearMeeting(row[0], row[1], row[2], row[3], bool(row[4])))
            year_ids = select(meetings.c.id).where(in_year)
            mark_who = _only(attendance.c.member_id, member_id)
            for row in await connection.execute(
                select(attendance.c.meeting_id, attendance.c.member_id, attendance.c.state).where(
                    attendance.c.meeting_id.in_(year_ids), mark_who
                )
            ):
                detail.marks.setdefault(row[0], {})[row[1]] = AttendanceState(row[2])
            absence_who = _only(absences.c.member_id, member_id)
            for row in await connection.execute(
                select(
                    absences.c.meeting_id,
                    absences.c.member_id,
                    absences.c.reason,
                    absences.c.status,
                ).where(
                    absences.c.meeting_id.in_(year_ids),
                    absences.c.status != AbsenceStatus.WITHDRAWN,
                    absence_who,
                )
            ):
                detail.absences.append(
                    YearAbsence(row[0], row[1], AbsenceReason(row[2]), AbsenceStatus(row[3]))
                )
            await self._study(connection, unit, detail, start, end, member_id)
            feedback_who = _only(feedback.c.member_id, member_id)
            for row in await connection.execute(
                select(feedback.c.member_id, func.count())
                .where(
                    feedback.c.org_unit_id.in_(cells),
                    feedback.c.member_id.is_not(None),  # anonymous items are nobody's
                    feedback.c.created_at >= start,
                    feedback.c.created_at < end,
                    feedback_who,
                )
                .group_by(feedback.c.member_id)
            ):
                detail.feedback[row[0]] = row[1]
            await self._review_state(connection, unit, year, detail, member_id)
        return detail

    async def _study(
        self,
        connection: AsyncConnection,
        unit: OrgUnit,
        detail: YearDetail,
        start: datetime,
        end: datetime,
        member_id: int | None,
    ) -> None:
        due = and_(
            study_targets.c.cell_id.in_(cell_ids(unit)),
            study_campaigns.c.status == StudyStatus.OPEN,
            study_campaigns.c.deadline >= start,
            study_campaigns.c.deadline < end,
        )
        targets: dict[int, tuple[str, datetime, set[int]]] = {}
        row: Any
        for row in await connection.execute(
            select(
                study_campaigns.c.id,
                study_campaigns.c.title,
                study_campaigns.c.deadline,
                study_targets.c.cell_id,
            )
            .join(study_campaigns, study_campaigns.c.id == study_targets.c.campaign_id)
            .where(due)
            .order_by(study_campaigns.c.deadline, study_campaigns.c.id)
        ):
            targets.setdefault(row[0], (row[1], row[2], set()))[2].add(row[3])
        detail.campaigns = [
            YearCampaign(campaign, title, deadline, frozenset(cells))
            for campaign, (title, deadline, cells) in targets.items()
        ]
        who = _only(study_results.c.member_id, member_id)
        for row in await connection.execute(
            select(
                study_results.c.campaign_id,
                study_results.c.member_id,
                study_results.c.score,
                study_results.c.total,
            )
            .join(
                study_targets,
                and_(
                    study_targets.c.campaign_id == study_results.c.campaign_id,
                    study_targets.c.cell_id == study_results.c.cell_id,
                ),
            )
            .join(study_campaigns, study_campaigns.c.id == study_results.c.campaign_id)
            .where(due, who)
        ):
            detail.results[(row[0], row[1])] = (row[2], row[3])

    async def _review_state(
        self,
        connection: AsyncConnection,
        unit: OrgUnit,
        year: int,
        detail: YearDetail,
        member_id: int | None,
    ) -> None:
        cells = cell_ids(unit)
        row: Any
        for row in await connection.execute(
            select(review_rounds.c.cell_id, review_rounds.c.deadline).where(
                review_rounds.c.cell_id.in_(cells), review_rounds.c.year == year
            )
        ):
            detail.deadlines[row[0]] = row[1]
        review_who = _only(self_reviews.c.member_id, member_id)
        for row in await connection.execute(
            select(self_reviews).where(
                self_reviews.c.cell_id.in_(cells), self_reviews.c.year == year, review_who
            )
        ):
            detail.reviews[row.member_id] = SelfReview(
                row.member_id,
                SelfReviewKind(row.kind),
                row.text,
                row.file_name,
                row.platform,
                row.platform_file_id,
                row.submitted_at,
            )
        grade_who = _only(review_grades.c.member_id, member_id)
        for row in await connection.execute(
            select(review_grades.c.member_id, review_grades.c.grade).where(
                review_grades.c.cell_id.in_(cells), review_grades.c.year == year, grade_who
            )
        ):
            detail.grades[row[0]] = ReviewGrade(row[1])

    async def self_review(self, cell_id: int, member_id: int, year: int) -> SelfReview | None:
        """A member's self-review, only when the member is on that cell's active roster."""
        async with reading(self._engine).connect() as connection:
            row = (
                await connection.execute(
                    select(self_reviews)
                    .join(members, members.c.id == self_reviews.c.member_id)
                    .where(
                        self_reviews.c.member_id == member_id,
                        self_reviews.c.year == year,
                        self_reviews.c.cell_id == cell_id,
                        members.c.org_unit_id == cell_id,
                        members.c.state == MemberState.ACTIVE,
                    )
                )
            ).first()
        if row is None:
            return None
        return SelfReview(
            row.member_id,
            SelfReviewKind(row.kind),
            row.text,
            row.file_name,
            row.platform,
            row.platform_file_id,
            row.submitted_at,
        )

    async def deadline(self, cell_id: int, year: int) -> datetime | None:
        async with reading(self._engine).connect() as connection:
            found: datetime | None = (
                await connection.execute(
                    select(review_rounds.c.deadline).where(
                        review_rounds.c.cell_id == cell_id, review_rounds.c.year == year
                    )
                )
            ).scalar_one_or_none()
        return found

    # --- changing --------------------------------------------------------------------------

    async def set_deadline(
        self,
        *,
        cell_id: int,
        year: int,
        deadline: datetime,
        reminders: Sequence[NewOutboxRow],
        actor: Actor,
        now: datetime,
    ) -> None:
        """Set (or move) the year's deadline; the planned reminders not yet out are replaced
        by ``reminders``, in the same transaction."""
        async with self._engine.begin() as connection:
            await connection.execute(
                delete(review_rounds).where(
                    review_rounds.c.cell_id == cell_id, review_rounds.c.year == year
                )
            )
            await connection.execute(
                insert(review_rounds).values(
                    cell_id=cell_id,
                    year=year,
                    deadline=deadline,
                    set_by=actor.member_id,
                    set_at=now,
                )
            )
            await _cancel_reminders(
                connection,
                and_(
                    outbox.c.org_unit_id == cell_id,
                    outbox.c.dedupe_key.like(f"review:{year}:%:planned:%"),
                ),
                now,
            )
            await enqueue(connection, reminders, now)
            await record(
                connection,
                at=now,
                actor=actor,
                action="review.deadline",
                org_unit_id=cell_id,
                target=f"year:{year}",
                details={"deadline": deadline.isoformat()},
            )

    async def submit(
        self,
        *,
        cell_id: int,
        member_id: int,
        year: int,
        kind: SelfReviewKind,
        text: str | None,
        file_name: str | None,
        platform: str | None,
        platform_file_id: str | None,
        actor: Actor,
        now: datetime,
    ) -> None:
        """Keep the member's self-review (replacing an earlier one) and cancel their
        reminders not yet out."""
        async with self._engine.begin() as connection:
            await _require_member(connection, cell_id, member_id)
            await connection.execute(
                delete(self_reviews).where(
                    self_reviews.c.member_id == member_id, self_reviews.c.year == year
                )
            )
            await connection.execute(
                insert(self_reviews).values(
                    member_id=member_id,
                    year=year,
                    cell_id=cell_id,
                    kind=kind,
                    text=text,
                    file_name=file_name,
                    platform=platform,
                    platform_file_id=platform_file_id,
                    submitted_at=now,
                )
            )
            key = self_review_reminder_key(member_id, year)
            await _cancel_reminders(
                connection,
                or_(outbox.c.dedupe_key == key, outbox.c.dedupe_key.like(f"{key}:planned:%")),
                now,
            )
            # The text itself stays out of the audit log: it is the member's own writing.
            await record(
                connection,
                at=now,
                actor=actor,
                action="review.submitted",
                org_unit_id=cell_id,
                target=f"member:{member_id}:{year}",
                details={"kind": kind.value},
            )

    async def set_grade(
        self,
        *,
        cell_id: int,
        member_id: int,
        year: int,
        grade: ReviewGrade,
        actor: Actor,
        now: datetime,
    ) -> None:
        async with self._engine.begin() as connection:
            await _require_member(connection, cell_id, member_id)
            await connection.execute(
                delete(review_grades).where(
                    review_grades.c.member_id == member_id, review_grades.c.year == year
                )
            )
            await connection.execute(
                insert(review_grades).values(
                    member_id=member_id,
                    year=year,
                    cell_id=cell_id,
                    grade=grade,
                    graded_by=actor.member_id,
                    graded_at=now,
                )
            )
            await record(
                connection,
                at=now,
                actor=actor,
                action="review.graded",
                org_unit_id=cell_id,
                target=f"member:{member_id}:{year}",
                details={"grade": grade.value},
            )

    async def remind(
        self, *, cell_id: int, year: int, rows: Sequence[NewOutboxRow], actor: Actor, now: datetime
    ) -> int:
        """Queue private reminders (each key once, ever). Returns how many are new."""
        async with self._engine.begin() as connection:
            written = await enqueue(connection, rows, now)
            if written:
                await record(
                    connection,
                    at=now,
                    actor=actor,
                    action="review.reminded",
                    org_unit_id=cell_id,
                    target=f"year:{year}",
                    details={"count": written},
                )
            return written


async def _cancel_reminders(
    connection: AsyncConnection, which: ColumnElement[bool], now: datetime
) -> None:
    """Cancel the reminders that are not out yet; sent ones stay sent. Cancelled rows keep
    their keys, so a moved deadline plans its reminders under a new key."""
    await connection.execute(
        update(outbox)
        .where(which, open_rows(now))
        .values(status=OutboxStatus.CANCELLED, claimed_by=None, lease_until=None)
    )


async def _require_member(connection: AsyncConnection, cell_id: int, member_id: int) -> None:
    found = (
        await connection.execute(
            select(members.c.id).where(
                members.c.id == member_id,
                members.c.org_unit_id == cell_id,
                members.c.state == MemberState.ACTIVE,
            )
        )
    ).first()
    if found is None:
        raise MemberNotFound(member_id)
