"""/danhgia [YYYY] (/review): the year-end review, always privately.

A member gets their own year (meetings, fees, study, feedback) as a message and a workbook to
print, and sends their self-review (text or a file) before the deadline the secretary set.
Leaders get the cell's year table; the secretary sets the deadline, reminds those who have not
sent through the outbox and records the grade the cell decided for each member. A committee
office gets the roll-up over its cells, without a single name. Figures come from
handlers/year_figures.py; the workbooks are built in worker threads.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from typing_extensions import TypedDict

from handlers.context import ANSWER_TTL, Context, QuestionGone, UserError, button_id
from handlers.core import Choice, OutboundFile, Reply, SharedFile
from handlers.documents import MAX_FILE_BYTES, classified_mark
from handlers.numbers import parse_number
from handlers.reports import Sheet, build_workbook
from handlers.study import parse_deadline
from handlers.year_figures import (
    MeetingQuality,
    MemberYear,
    fee_months,
    meeting_qualities,
    member_years,
    year_bounds,
)
from storage.fees import FeeLedger
from storage.models import AttendanceState, OrgUnit, ReviewGrade, SelfReviewKind
from storage.outbox import NewOutboxRow
from storage.review import ReviewRepository, YearDetail, self_review_reminder_key

FIRST_YEAR = 2000
REMIND_BEFORE = timedelta(days=2)  # the planned reminder goes out this long before the deadline
REMIND_AT = time(8, 0)

# Choice-data prefixes (registered in handlers/catalog.py).
TABLE = "vt"  # vt:<year>                    the cell's year table (leaders)
DEADLINE = "vd"  # vd:<year>                 ask the deadline (secretary)
REMIND = "vr"  # vr:<year>                   remind those who have not sent (secretary)
GRADES = "vg"  # vg:<year>                   whom to grade (secretary)
GRADE_CARD = "vm"  # vm:<member>:<year>      the four grades for one member
GRADE = "vk"  # vk:<member>:<year>:<grade>  record it
SUBMIT = "vs"  # vs:<year>                   send one's self-review
VIEW = "vf"  # vf:<member>:<year>            read a member's self-review (leaders)

DEADLINE_FLOW = "review_deadline"
SUBMIT_FLOW = "review_submit"


class YearQuestion(TypedDict):
    year: int


def _repo(context: Context) -> ReviewRepository:
    return context.services.review


def _zone(unit: OrgUnit) -> ZoneInfo:
    return ZoneInfo(unit.timezone)


def _today(context: Context, unit: OrgUnit) -> date:
    return context.now.astimezone(_zone(unit)).date()


def _year(context: Context, unit: OrgUnit, text: str, *, typed: bool) -> int:
    """A year from the command's text or a button; not one still to come."""
    this_year = _today(context, unit).year
    if not text:
        return this_year
    year = parse_number(text, low=FIRST_YEAR, high=9999)
    if year is None:
        raise UserError("review.error.year" if typed else "error.stale_button")
    if year > this_year:
        raise UserError("review.error.future", year=year)
    return year


def _button_year(context: Context, unit: OrgUnit, args: list[str], position: int) -> int:
    return _year(context, unit, args[position] if len(args) > position else "?", typed=False)


def _cell(context: Context) -> OrgUnit:
    unit = context.require_cell()
    if context.is_office:
        raise UserError("error.secretary_only")
    return unit


async def _read(
    context: Context, unit: OrgUnit, year: int, member_id: int | None = None
) -> tuple[YearDetail, FeeLedger | None, list[date]]:
    start, end = year_bounds(year, _zone(unit))
    months = fee_months(year, _today(context, unit))
    read = _repo(context).year(unit, year, start=start, end=end, member_id=member_id)
    if context.is_office or not months:
        return await read, None, months
    detail, ledger = await asyncio.gather(
        read,
        context.services.fees.ledger([unit.id], months[0], months[-1], member_id=member_id),
    )
    return detail, ledger, months


def _no_data(detail: YearDetail, ledger: FeeLedger | None) -> bool:
    return detail.empty and not (ledger and ledger.payments)


# --- the command -----------------------------------------------------------------------------


async def review_command(context: Context) -> list[Reply]:
    unit = context.require_cell()
    year = _year(context, unit, context.inbound.args.strip(), typed=True)
    if context.is_office:
        return await _rollup(context, unit, year)
    actor = context.require_actor()
    detail, ledger, months = await _read(context, unit, year, member_id=actor.id)
    if _no_data(detail, ledger) and not actor.leads:
        raise UserError("review.error.no_data", year=year)
    rows = member_years(detail, ledger, months, _zone(unit))
    if not rows:
        raise UserError("error.not_member")
    mine = rows[0]
    text = _own_text(context, unit, year, mine, detail.deadlines.get(unit.id))
    workbook = await asyncio.to_thread(build_workbook, _own_sheets(context, unit, detail, mine))
    choices: list[tuple[Choice, ...]] = []
    deadline = detail.deadlines.get(unit.id)
    if deadline is not None and deadline > context.now:
        choices.append((Choice(context.t("review.btn.submit"), f"{SUBMIT}:{year}"),))
    if actor.leads:
        choices.append((Choice(context.t("review.btn.table"), f"{TABLE}:{year}"),))
    if context.is_secretary:
        choices += [
            (Choice(context.t("review.btn.deadline"), f"{DEADLINE}:{year}"),),
            (Choice(context.t("review.btn.remind"), f"{REMIND}:{year}"),),
            (Choice(context.t("review.btn.grades"), f"{GRADES}:{year}"),),
        ]
    name = f"nam-{year}-cua-toi.xlsx"
    return [
        Reply(
            text,
            file=OutboundFile(name, workbook, context.t("review.own.caption", year=year)),
            choices=tuple(choices),
        )
    ]


def _date(context: Context, moment: datetime, unit: OrgUnit) -> str:
    return context.services.texts.date(moment.astimezone(_zone(unit)).date())


def _review_line(
    context: Context, unit: OrgUnit, row: MemberYear, deadline: datetime | None
) -> str:
    if row.reviewed_at is not None:
        return context.t("review.own.sent", date=_date(context, row.reviewed_at, unit))
    if deadline is None:
        return context.t("review.own.no_deadline")
    return context.t("review.own.not_sent", date=_date(context, deadline, unit))


def _own_text(
    context: Context, unit: OrgUnit, year: int, row: MemberYear, deadline: datetime | None
) -> str:
    lines = [context.t("review.own.title", year=year, name=row.member.full_name)]
    if row.exempted:
        lines.append(context.t("review.own.exempted"))
    lines.append(
        context.t(
            "review.own.meetings",
            present=row.present,
            expected=row.expected,
            excused=row.excused,
            unexcused=row.unexcused,
        )
    )
    if row.run_flagged:
        lines.append(context.t("review.own.run", count=row.longest_run))
    lines.append(
        context.t("review.own.fees", paid=row.fees_paid, late=row.fees_late, unpaid=row.fees_unpaid)
    )
    lines.append(context.t("review.own.study", done=row.study_done, due=len(row.study)))
    for line in row.study:
        lines.append(
            context.t("review.own.study_line", title=line.title, score=line.score, total=line.total)
            if line.score is not None
            else context.t("review.own.study_missing", title=line.title)
        )
    lines.append(context.t("review.own.feedback", count=row.feedback))
    lines.append(_review_line(context, unit, row, deadline))
    lines.append(context.t("review.own.next"))
    return "\n".join(lines)


def _own_sheets(
    context: Context, unit: OrgUnit, detail: YearDetail, row: MemberYear
) -> list[Sheet]:
    zone = _zone(unit)
    figures = Sheet(
        context.t("review.sheet.mine"),
        [context.t("review.col.item"), context.t("review.col.value")],
        [[context.t(f"review.col.{key}"), value] for key, value in _figures(row)],
    )
    meetings = Sheet(
        context.t("review.sheet.meetings"),
        [context.t(f"review.col.{n}") for n in ("meeting", "when", "mark")],
        [
            [
                m.title,
                m.starts_at.astimezone(zone).strftime("%d/%m/%Y"),
                _mark(context, detail, m.id, row),
            ]
            for m in detail.meetings
            if m.cell_id == row.member.cell_id and row.member.joined_at <= m.starts_at
        ],
    )
    study = Sheet(
        context.t("review.sheet.study"),
        [context.t("review.col.campaign"), context.t("review.col.score")],
        [
            [s.title, f"{s.score}/{s.total}" if s.score is not None else context.t("review.none")]
            for s in row.study
        ],
    )
    return [figures, meetings, study]


def _mark(context: Context, detail: YearDetail, meeting_id: int, row: MemberYear) -> str:
    """A member's mark at a meeting; an exempted member never marked was not expected."""
    state = detail.marks.get(meeting_id, {}).get(row.member.id)
    if state is None and row.exempted:
        return context.t("review.mark.not_expected")
    return context.t(f"review.mark.{(state or AttendanceState.ABSENT).value}")


def _figures(row: MemberYear) -> list[tuple[str, object]]:
    return [
        ("name", row.member.full_name),
        ("expected", row.expected),
        ("present", row.present),
        ("excused", row.excused),
        ("unexcused", row.unexcused),
        ("run", row.longest_run),
        ("fees_paid", row.fees_paid),
        ("fees_late", row.fees_late),
        ("fees_unpaid", row.fees_unpaid),
        ("study_done", row.study_done),
        ("study_due", len(row.study)),
        ("feedback", row.feedback),
    ]


# --- the cell's table (leaders) --------------------------------------------------------------


def _leader_cell(context: Context) -> OrgUnit:
    unit = _cell(context)
    if context.actor is None or not context.actor.leads:
        raise UserError("error.leader_only")
    return unit


async def table(context: Context, args: list[str]) -> list[Reply]:
    unit = _leader_cell(context)
    year = _button_year(context, unit, args, 0)
    detail, ledger, months = await _read(context, unit, year)
    if _no_data(detail, ledger):
        raise UserError("review.error.no_data", year=year)
    rows = member_years(detail, ledger, months, _zone(unit))
    qualities = meeting_qualities(detail)
    sheets = _table_sheets(context, unit, rows, qualities)
    workbook = await asyncio.to_thread(build_workbook, sheets)
    graded = [r for r in rows if not r.exempted]
    missing = [r.member.full_name for r in graded if r.reviewed_at is None]
    text = context.t(
        "review.table.summary",
        year=year,
        members=len(graded),
        exempted=len(rows) - len(graded),
        sent=len(graded) - len(missing),
        meetings=len(qualities),
        good=sum(q.meets_bar for q in qualities),
        graded=sum(r.grade is not None for r in graded),
    )
    if missing:
        text += "\n" + context.t("review.table.missing", names=", ".join(missing))
    views = tuple(
        (
            Choice(
                context.t("review.btn.view", name=r.member.full_name[:40]),
                f"{VIEW}:{r.member.id}:{year}",
            ),
        )
        for r in rows
        if r.reviewed_at is not None
    )
    caption = context.t("review.table.caption", year=year, unit=unit.name)
    return [
        Reply(
            text,
            file=OutboundFile(f"danh-gia-{year}.xlsx", workbook, caption),
            choices=views,
        )
    ]


def _grade_name(context: Context, grade: ReviewGrade | None) -> str:
    return context.t(f"review.grade.{grade.value}") if grade else context.t("review.none")


def _table_sheets(
    context: Context, unit: OrgUnit, rows: list[MemberYear], qualities: list[MeetingQuality]
) -> list[Sheet]:
    zone = _zone(unit)
    columns = [
        "name",
        "status",
        "expected",
        "present",
        "excused",
        "unexcused",
        "run",
        "fees_paid",
        "fees_late",
        "fees_unpaid",
        "study_done",
        "study_due",
        "feedback",
        "self_review",
        "grade",
    ]

    def line(r: MemberYear, *, graded: bool) -> list[object]:
        return [
            r.member.full_name,
            context.t(f"status.{r.member.status.value}"),
            r.expected,
            r.present,
            r.excused,
            r.unexcused,
            r.longest_run,
            r.fees_paid,
            r.fees_late,
            r.fees_unpaid,
            r.study_done,
            len(r.study),
            r.feedback,
            r.reviewed_at.astimezone(zone).date() if r.reviewed_at else context.t("review.none"),
            _grade_name(context, r.grade) if graded else context.t("review.not_graded"),
        ]

    header = [context.t(f"review.col.{c}") for c in columns]
    members = Sheet(
        context.t("review.sheet.members"),
        header,
        [line(r, graded=True) for r in rows if not r.exempted],
    )
    exempted = Sheet(
        context.t("review.sheet.exempted"),
        header,
        [line(r, graded=False) for r in rows if r.exempted],
    )
    criteria = ("attendance", "no_unexcused", "no_long_run", "minutes", "length", "verdict")
    meetings = Sheet(
        context.t("review.sheet.meetings"),
        [
            context.t(f"review.col.{c}")
            for c in ("meeting", "when", "expected", "present", "rate", *criteria)
        ],
        [
            [
                q.meeting.title,
                q.meeting.starts_at.astimezone(zone).strftime("%d/%m/%Y"),
                q.expected,
                q.present,
                round(float(q.rate) * 100, 1) if q.rate is not None else None,
                _yes_no(context, q.attendance_ok),
                _yes_no(context, q.no_unexcused),
                _yes_no(context, q.no_long_run),
                _yes_no(context, q.minutes_ok),
                context.t("review.unknown"),
                context.t("review.verdict.good" if q.meets_bar else "review.verdict.short"),
            ]
            for q in qualities
        ],
    )
    return [members, exempted, meetings, _totals_sheet(context, rows, qualities)]


def _yes_no(context: Context, value: bool) -> str:
    return context.t("review.yes" if value else "review.no")


def _totals_sheet(
    context: Context, rows: list[MemberYear], qualities: list[MeetingQuality]
) -> Sheet:
    graded = [r for r in rows if not r.exempted]
    grades = Counter(r.grade for r in graded)
    totals: list[list[object]] = [
        [context.t("review.total.members"), len(graded)],
        [
            context.t("review.total.probationary"),
            sum(r.member.status.value == "probationary" for r in graded),
        ],
        [context.t("review.total.exempted"), len(rows) - len(graded)],
        [context.t("review.total.meetings"), len(qualities)],
        [context.t("review.total.good_meetings"), sum(q.meets_bar for q in qualities)],
        [context.t("review.total.self_reviews"), sum(r.reviewed_at is not None for r in graded)],
        *([_grade_name(context, g), grades[g]] for g in ReviewGrade),
        [context.t("review.total.ungraded"), grades[None]],
    ]
    return Sheet(
        context.t("review.sheet.totals"),
        [context.t("review.col.item"), context.t("review.col.value")],
        totals,
    )


async def view(context: Context, args: list[str]) -> list[Reply]:
    unit = _leader_cell(context)
    member_id = button_id(args, 0)
    year = _button_year(context, unit, args, 1)
    found = await _repo(context).self_review(unit.id, member_id, year)
    if found is None:
        raise UserError("review.error.no_self_review")
    if found.kind is SelfReviewKind.TEXT or found.platform_file_id is None:
        return [Reply(found.text or "")]
    if found.platform != context.inbound.platform.value:
        raise UserError("review.error.other_platform")
    return [
        Reply(
            context.t("review.view.file", name=found.file_name or ""),
            shared_file=SharedFile(found.platform_file_id, file_name=found.file_name or ""),
        )
    ]


# --- deadline, reminders and grades (the secretary) ------------------------------------------


def _secretary_cell(context: Context) -> OrgUnit:
    unit = _cell(context)
    if not context.is_secretary:
        raise UserError("error.secretary_only")
    return unit


async def deadline_ask(context: Context, args: list[str]) -> list[Reply]:
    unit = _secretary_cell(context)
    year = _button_year(context, unit, args, 0)
    await context.expect_answer(DEADLINE_FLOW, {"year": year}, ttl=ANSWER_TTL)
    return [Reply(context.t("review.ask.deadline", year=year), ask_text=True)]


async def deadline_answer(context: Context, data: dict[str, object]) -> list[Reply]:
    unit = _secretary_cell(context)
    year = _year(context, unit, str(data["year"]), typed=False)
    # A bad date keeps the question open (the dispatcher puts it back on a UserError).
    deadline = parse_deadline(context.inbound.text, _zone(unit))
    if deadline <= context.now:
        raise UserError("review.error.deadline_past")
    reminders = await _reminders(context, unit, year, deadline, planned=True)
    await _repo(context).set_deadline(
        cell_id=unit.id,
        year=year,
        deadline=deadline,
        reminders=reminders,
        actor=context.audit_actor,
        now=context.now,
    )
    return [
        Reply(
            context.t(
                "review.deadline.done",
                year=year,
                date=_date(context, deadline, unit),
                count=len(reminders),
            )
        )
    ]


async def _reminders(
    context: Context, unit: OrgUnit, year: int, deadline: datetime, *, planned: bool
) -> list[NewOutboxRow]:
    """A private reminder for each member expected to send a self-review who has not."""
    start, end = year_bounds(year, _zone(unit))
    detail = await _repo(context).year(unit, year, start=start, end=end)
    waiting = [
        m.member.id
        for m in member_years(detail, None, [], _zone(unit))
        if not m.exempted and m.reviewed_at is None
    ]
    platform = context.inbound.platform.value
    accounts = await context.services.fees.accounts(waiting, platform)
    local_deadline = deadline.astimezone(_zone(unit))
    due_at = (
        datetime.combine(local_deadline.date() - REMIND_BEFORE, REMIND_AT, _zone(unit))
        if planned
        else context.now
    )
    text = context.t("review.reminder", year=year, date=_date(context, deadline, unit))
    return [
        NewOutboxRow(
            dedupe_key=self_review_reminder_key(
                member_id, year, local_deadline.date() if planned else None
            ),
            platform=platform,
            chat_id=account,
            due_at=max(due_at, context.now),
            expires_at=deadline,
            payload={"type": "text", "text": text},
            org_unit_id=unit.id,
        )
        for member_id in waiting
        for account in accounts.get(member_id, [])[:1]
    ]


async def remind(context: Context, args: list[str]) -> list[Reply]:
    unit = _secretary_cell(context)
    year = _button_year(context, unit, args, 0)
    deadline = await _repo(context).deadline(unit.id, year)
    if deadline is None or deadline <= context.now:
        raise UserError("review.error.no_open_round", year=year)
    rows = await _reminders(context, unit, year, deadline, planned=False)
    written = await _repo(context).remind(
        cell_id=unit.id, year=year, rows=rows, actor=context.audit_actor, now=context.now
    )
    return [Reply(context.t("review.remind.done", count=written))]


async def grade_list(context: Context, args: list[str]) -> list[Reply]:
    unit = _secretary_cell(context)
    year = _button_year(context, unit, args, 0)
    start, end = year_bounds(year, _zone(unit))
    detail = await _repo(context).year(unit, year, start=start, end=end)
    rows = [r for r in member_years(detail, None, [], _zone(unit)) if not r.exempted]
    choices = tuple(
        (
            Choice(
                f"{r.member.full_name[:40]} — {_grade_name(context, r.grade)}",
                f"{GRADE_CARD}:{r.member.id}:{year}",
            ),
        )
        for r in rows
    )
    return [Reply(context.t("review.grades.pick", year=year), choices=choices)]


async def _gradeable(context: Context, unit: OrgUnit, member_id: int) -> str:
    """The member's name, when they are on the cell's roster and not exempted."""
    member = await context.services.members.in_cell(unit.id, member_id)
    if member.status.value in ("exempted", "temporarily_exempted"):
        raise UserError("review.error.exempted", name=member.full_name)
    return member.full_name


async def grade_card(context: Context, args: list[str]) -> list[Reply]:
    unit = _secretary_cell(context)
    member_id = button_id(args, 0)
    year = _button_year(context, unit, args, 1)
    name = await _gradeable(context, unit, member_id)
    choices = tuple(
        (Choice(_grade_name(context, g), f"{GRADE}:{member_id}:{year}:{g.value}"),)
        for g in ReviewGrade
    )
    return [Reply(context.t("review.grades.card", name=name, year=year), choices=choices)]


async def set_grade(context: Context, args: list[str]) -> list[Reply]:
    unit = _secretary_cell(context)
    member_id = button_id(args, 0)
    year = _button_year(context, unit, args, 1)
    try:
        grade = ReviewGrade(args[2] if len(args) > 2 else "")
    except ValueError:
        raise UserError("error.stale_button") from None
    name = await _gradeable(context, unit, member_id)
    await _repo(context).set_grade(
        cell_id=unit.id,
        member_id=member_id,
        year=year,
        grade=grade,
        actor=context.audit_actor,
        now=context.now,
    )
    return [
        Reply(
            context.t(
                "review.grades.done", name=name, year=year, grade=_grade_name(context, grade)
            ),
            replace=True,
        )
    ]


# --- the member's self-review ----------------------------------------------------------------


async def _open_deadline(context: Context, unit: OrgUnit, year: int) -> datetime:
    deadline = await _repo(context).deadline(unit.id, year)
    # Either way an open question for a self-review can no longer be answered: it closes.
    if deadline is None:
        raise QuestionGone("review.error.no_round", year=year)
    if deadline <= context.now:
        raise QuestionGone("review.error.closed", year=year, date=_date(context, deadline, unit))
    return deadline


async def submit_ask(context: Context, args: list[str]) -> list[Reply]:
    unit = _cell(context)
    year = _button_year(context, unit, args, 0)
    await _open_deadline(context, unit, year)
    await context.expect_answer(SUBMIT_FLOW, {"year": year}, ttl=ANSWER_TTL)
    limit = f"{MAX_FILE_BYTES // (1024 * 1024)} MB"
    return [Reply(context.t("review.ask.submit", year=year, limit=limit), ask_text=True)]


async def submit_answer(context: Context, data: dict[str, object]) -> list[Reply]:
    unit = _cell(context)
    actor = context.require_actor()
    year = _year(context, unit, str(data["year"]), typed=False)
    await _open_deadline(context, unit, year)
    attachment = context.inbound.attachment
    text = context.inbound.text.strip()
    limit = f"{MAX_FILE_BYTES // (1024 * 1024)} MB"
    # A refusal below keeps the question open: the member only has to send another one.
    mark = classified_mark(text, attachment.file_name if attachment else "")
    if mark is not None:
        raise UserError("review.error.classified", mark=mark.upper())
    if attachment is not None:
        size = attachment.size
        if size is None:
            size = len(await context.gateway.download(attachment.file_id))
        if size > MAX_FILE_BYTES:
            raise UserError("review.error.too_big", limit=limit)
    elif not text:
        raise UserError("review.error.empty")
    await _repo(context).submit(
        cell_id=unit.id,
        member_id=actor.id,
        year=year,
        kind=SelfReviewKind.FILE if attachment else SelfReviewKind.TEXT,
        text=None if attachment else text,
        file_name=attachment.file_name[:255] if attachment else None,
        platform=context.inbound.platform.value if attachment else None,
        platform_file_id=attachment.file_id[:255] if attachment else None,
        actor=context.audit_actor,
        now=context.now,
    )
    return [Reply(context.t("review.submit.done", year=year))]


# --- the committee office --------------------------------------------------------------------


async def _rollup(context: Context, unit: OrgUnit, year: int) -> list[Reply]:
    """One row per cell: counts only, never a member's name."""
    start, end = year_bounds(year, _zone(unit))
    detail, cells = await asyncio.gather(
        _repo(context).year(unit, year, start=start, end=end),
        context.services.cells.cells_of(unit.id),
    )
    if detail.empty:
        raise UserError("review.error.no_data", year=year)
    rows = member_years(detail, None, [], _zone(unit))
    qualities = meeting_qualities(detail)
    table_rows: list[list[object]] = []
    for cell in cells:
        theirs = [r for r in rows if r.member.cell_id == cell.id]
        graded = [r for r in theirs if not r.exempted]
        grades = Counter(r.grade for r in graded)
        held = [q for q in qualities if q.meeting.cell_id == cell.id]
        table_rows.append(
            [
                cell.name,
                len(graded),
                sum(r.member.status.value == "probationary" for r in graded),
                len(theirs) - len(graded),
                len(held),
                sum(q.meets_bar for q in held),
                sum(r.reviewed_at is not None for r in graded),
                *(grades[g] for g in ReviewGrade),
                grades[None],
            ]
        )
    header = [
        context.t(f"review.col.{c}")
        for c in ("cell", "members", "probationary", "exempted", "meetings", "good_meetings")
    ]
    header += [
        context.t("review.col.self_reviews"),
        *(_grade_name(context, g) for g in ReviewGrade),
        context.t("review.total.ungraded"),
    ]
    sheet = Sheet(context.t("review.sheet.cells"), header, table_rows)
    workbook = await asyncio.to_thread(build_workbook, [sheet])
    text = context.t(
        "review.rollup.summary",
        unit=unit.name,
        year=year,
        cells=len(table_rows),
        meetings=len(qualities),
        good=sum(q.meets_bar for q in qualities),
        sent=sum(r.reviewed_at is not None for r in rows if not r.exempted),
        members=sum(not r.exempted for r in rows),
    )
    caption = context.t("review.table.caption", year=year, unit=unit.name)
    return [Reply(text, file=OutboundFile(f"danh-gia-{year}-cac-chi-bo.xlsx", workbook, caption))]
