"""The year-end review's figures, worked out from what storage read: pure, no I/O.

A meeting's quality follows the guidance of 2018 (DOMAIN.md): attendance above 85% of the
members expected (attendance.BAR, the rule check-in already announces), nobody absent without
reason, nobody absent more than three times in a row that year, minutes recorded, and at
least 90 minutes long. chibo keeps no meeting end time, so that last criterion is shown as
unknown and left out of the verdict (README says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from fractions import Fraction
from zoneinfo import ZoneInfo

from handlers.absences import STREAK
from handlers.attendance import BAR
from storage.fees import FeeLedger
from storage.models import AttendanceState, MemberStatus, ReviewGrade
from storage.review import YearDetail, YearMeeting, YearMember

EXPECTED = (MemberStatus.OFFICIAL, MemberStatus.PROBATIONARY)
LONGEST_ALLOWED_RUN = 3  # a good meeting: nobody absent more than three times in a row


def year_bounds(year: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The year's first instant and the next year's, in the cell's time zone."""
    return (
        datetime.combine(date(year, 1, 1), time(), zone),
        datetime.combine(date(year + 1, 1, 1), time(), zone),
    )


def _expected_at(member: YearMember, meeting: YearMeeting) -> bool:
    return (
        member.status in EXPECTED
        and member.cell_id == meeting.cell_id
        and member.joined_at <= meeting.starts_at
    )


def _state(detail: YearDetail, meeting: YearMeeting, member_id: int) -> AttendanceState:
    # An expected member never marked was absent without reason (as check-in counts it).
    return detail.marks.get(meeting.id, {}).get(member_id, AttendanceState.ABSENT)


# --- a member's year -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StudyLine:
    title: str
    score: int | None  # None: not done
    total: int | None


@dataclass(frozen=True, slots=True)
class MemberYear:
    member: YearMember
    expected: int  # meetings they were expected at
    present: int
    excused: int  # absent with an approved reason
    unexcused: int  # absent without reason
    longest_run: int  # meetings missed in a row, at most
    fees_paid: int  # months paid on time
    fees_late: int  # months paid after the month ended
    fees_unpaid: int  # months owed and not paid
    study: tuple[StudyLine, ...]
    feedback: int
    reviewed_at: datetime | None
    grade: ReviewGrade | None

    @property
    def exempted(self) -> bool:
        return self.member.status not in EXPECTED

    @property
    def study_done(self) -> int:
        return sum(line.score is not None for line in self.study)

    @property
    def run_flagged(self) -> bool:
        """Three or more in a row: what the secretary is warned about after a meeting."""
        return self.longest_run >= STREAK


def _fee_months(
    ledger: FeeLedger | None, member_id: int, months: Sequence[date], zone: ZoneInfo
) -> tuple[int, int, int]:
    if ledger is None:
        return 0, 0, 0
    fee_member = next((m for m in ledger.members if m.id == member_id), None)
    paid = late = unpaid = 0
    for month in months:
        payment = ledger.payment(member_id, month)
        if payment is not None:
            next_month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
            if payment.paid_at < datetime.combine(next_month, time(), zone):
                paid += 1
            else:
                late += 1
        elif fee_member is not None and ledger.owes(fee_member, month):
            unpaid += 1
    return paid, late, unpaid


def member_years(
    detail: YearDetail, ledger: FeeLedger | None, months: Sequence[date], zone: ZoneInfo
) -> list[MemberYear]:
    """Every active member's year; ``months`` are the fee months counted (the year's, up to
    this month)."""
    rows = []
    for member in detail.members:
        theirs = [m for m in detail.meetings if _expected_at(member, m)]
        states = [_state(detail, m, member.id) for m in theirs]
        run = longest = 0
        for state in states:
            run = 0 if state is AttendanceState.PRESENT else run + 1
            longest = max(longest, run)
        attended_anyway = sum(
            _state(detail, m, member.id) is AttendanceState.PRESENT
            for m in detail.meetings
            if m.cell_id == member.cell_id and m not in theirs and member.joined_at <= m.starts_at
        )
        study = tuple(
            StudyLine(c.title, *detail.results.get((c.id, member.id), (None, None)))
            for c in detail.campaigns
            if member.cell_id in c.cell_ids
        )
        review = detail.reviews.get(member.id)
        rows.append(
            MemberYear(
                member=member,
                expected=len(theirs),
                present=states.count(AttendanceState.PRESENT) + attended_anyway,
                excused=states.count(AttendanceState.EXCUSED),
                unexcused=states.count(AttendanceState.ABSENT),
                longest_run=longest,
                fees_paid=0,
                fees_late=0,
                fees_unpaid=0,
                study=study,
                feedback=detail.feedback.get(member.id, 0),
                reviewed_at=review.submitted_at if review else None,
                grade=detail.grades.get(member.id),
            )
        )
    return [_with_fees(row, ledger, months, zone) for row in rows]


def _with_fees(
    row: MemberYear, ledger: FeeLedger | None, months: Sequence[date], zone: ZoneInfo
) -> MemberYear:
    paid, late, unpaid = _fee_months(ledger, row.member.id, months, zone)
    return MemberYear(
        row.member,
        row.expected,
        row.present,
        row.excused,
        row.unexcused,
        row.longest_run,
        paid,
        late,
        unpaid,
        row.study,
        row.feedback,
        row.reviewed_at,
        row.grade,
    )


def fee_months(year: int, today: date) -> list[date]:
    """The year's months up to this one (none for a year still to come)."""
    last = 12 if year < today.year else today.month if year == today.year else 0
    return [date(year, month, 1) for month in range(1, last + 1)]


# --- a meeting's quality ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MeetingQuality:
    meeting: YearMeeting
    expected: int
    present: int
    unexcused: int
    longest_run: int  # the longest run of misses ending at this meeting, among those expected

    @property
    def rate(self) -> Fraction | None:
        return Fraction(self.present, self.expected) if self.expected else None

    @property
    def attendance_ok(self) -> bool:
        return self.rate is not None and self.rate > BAR

    @property
    def no_unexcused(self) -> bool:
        return self.unexcused == 0

    @property
    def no_long_run(self) -> bool:
        return self.longest_run <= LONGEST_ALLOWED_RUN

    @property
    def minutes_ok(self) -> bool:
        return self.meeting.has_minutes

    @property
    def meets_bar(self) -> bool:
        """Every criterion chibo can judge holds (the length is not known to it)."""
        return self.attendance_ok and self.no_unexcused and self.no_long_run and self.minutes_ok


def meeting_qualities(detail: YearDetail) -> list[MeetingQuality]:
    """Each counted meeting of the year, judged; exempted members are never expected."""
    runs: dict[int, int] = {}
    judged = []
    for meeting in detail.meetings:  # oldest first: runs build up meeting by meeting
        expected = [m for m in detail.members if _expected_at(m, meeting)]
        present = unexcused = longest = 0
        for member in expected:
            state = _state(detail, meeting, member.id)
            if state is AttendanceState.PRESENT:
                present += 1
                runs[member.id] = 0
                continue
            unexcused += state is AttendanceState.ABSENT
            runs[member.id] = runs.get(member.id, 0) + 1
            longest = max(longest, runs[member.id])
        judged.append(MeetingQuality(meeting, len(expected), present, unexcused, longest))
    return judged
