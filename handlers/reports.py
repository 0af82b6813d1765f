"""/baocao [MM/YYYY]: the monthly report, privately to the secretary — an XLSX workbook and a PNG
chart of attendance over the past 12 months. A committee office gets the same over all its
cells, one row per cell. Reading is batched (storage/reports.py); counting happens here, and
building the files is CPU work done in a worker thread.
"""

from __future__ import annotations

import asyncio
import io
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from handlers.context import Context, UserError
from handlers.core import OutboundFile, Reply
from handlers.fees import parse_month
from storage.fee_rules import month_start
from storage.fees import FeeLedger, FeeMember
from storage.models import AbsenceStatus, AttendanceState, FeedbackStatus, OrgUnit
from storage.reports import (
    OPEN_FEEDBACK,
    ReportData,
    ReportFeedback,
    ReportMeeting,
    ReportMember,
)

CHART_MONTHS = 12
CHART_SIZE = (1000, 500)  # pixels
CHART_DPI = 100


def _shift(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _utc(month: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(month, time(), zone).astimezone(UTC)


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


# --- counting --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MeetingRow:
    title: str
    starts_at: datetime
    expected: int
    present: int
    excused: int
    absent: int
    closed: bool

    @property
    def rate(self) -> float | None:
        return _percent(self.present, self.expected) if self.closed else None


@dataclass(frozen=True, slots=True)
class CellRow:
    name: str
    members: int
    meetings: int
    attendance: float | None
    documents: int
    read_rate: float | None
    feedback_new: int
    feedback_open: int
    fees_paid: int
    fees_collected: int
    fees_owed: int
    fees_outstanding: int
    study_completion: float | None


def _expected(data: ReportData, meeting: ReportMeeting) -> list[ReportMember]:
    return [
        m
        for m in data.members_of(meeting.cell_id)
        if m.expected and m.joined_at <= meeting.starts_at
    ]


def meeting_row(data: ReportData, meeting: ReportMeeting) -> MeetingRow:
    expected = _expected(data, meeting)
    marks = data.marks.get(meeting.id, {})
    present = sum(marks.get(m.id) is AttendanceState.PRESENT for m in expected)
    excused = sum(marks.get(m.id) is AttendanceState.EXCUSED for m in expected)
    return MeetingRow(
        meeting.title,
        meeting.starts_at,
        len(expected),
        present,
        excused,
        len(expected) - present - excused,
        meeting.closed,
    )


def attendance_history(data: ReportData, zone: ZoneInfo, last: date) -> list[tuple[date, float]]:
    """Attendance % per month (closed meetings only) for the ``CHART_MONTHS`` up to ``last``;
    a month without a meeting shows 0."""
    totals: dict[date, list[int]] = {
        _shift(last, -offset): [0, 0] for offset in range(CHART_MONTHS)
    }
    for meeting in data.meetings:
        if not meeting.closed:
            continue
        month = month_start(meeting.starts_at.astimezone(zone).date())
        if month in totals:
            row = meeting_row(data, meeting)
            totals[month][0] += row.present
            totals[month][1] += row.expected
    return [(month, _percent(*totals[month]) or 0.0) for month in sorted(totals)]


def cell_rows(data: ReportData, ledger: FeeLedger, month: date) -> list[CellRow]:
    """One row per cell. Everything is grouped by cell once: a committee report covers a
    whole province, and filtering every list again for each cell grows as cells × rows."""
    meetings_by_cell: dict[int, list[ReportMeeting]] = defaultdict(list)
    for meeting in data.month_meetings():
        if meeting.closed:
            meetings_by_cell[meeting.cell_id].append(meeting)
    feedback_by_cell: dict[int, list[ReportFeedback]] = defaultdict(list)
    for item in data.feedback:
        feedback_by_cell[item.cell_id].append(item)
    fee_members_by_cell: dict[int, list[FeeMember]] = defaultdict(list)
    for fee_member in ledger.members:
        fee_members_by_cell[fee_member.cell_id].append(fee_member)
    campaigns_by_cell: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for pair in data.study_targets:
        campaigns_by_cell[pair[1]].append(pair)
    return [
        _cell_row(
            data,
            ledger,
            cell,
            month,
            meetings_by_cell[cell.id],
            feedback_by_cell[cell.id],
            fee_members_by_cell[cell.id],
            campaigns_by_cell[cell.id],
        )
        for cell in data.cells
    ]


def _cell_row(
    data: ReportData,
    ledger: FeeLedger,
    cell: OrgUnit,
    month: date,
    closed_meetings: list[ReportMeeting],
    items: list[ReportFeedback],
    fee_members: list[FeeMember],
    campaigns: list[tuple[int, int]],
) -> CellRow:
    meetings = [meeting_row(data, m) for m in closed_meetings]
    cell_members = data.members_of(cell.id)
    ids = {m.id for m in cell_members}
    docs = data.documents_of(cell.id)
    reads = sum((d.id, member) in data.reads for d in docs for member in ids)
    paid = [ledger.payment(m.id, month) for m in cell_members]
    owed = [ledger.outstanding(m, month) for m in fee_members if ledger.owes(m, month)]
    return CellRow(
        name=cell.name,
        members=len(cell_members),
        meetings=len(meetings),
        attendance=_percent(sum(r.present for r in meetings), sum(r.expected for r in meetings)),
        documents=len(docs),
        read_rate=_percent(reads, len(docs) * len(ids)),
        feedback_new=sum(f.created_at >= data.start for f in items),
        feedback_open=sum(f.status in OPEN_FEEDBACK for f in items),
        fees_paid=sum(p is not None for p in paid),
        fees_collected=sum(p.amount_paid for p in paid if p is not None),
        fees_owed=len(owed),
        fees_outstanding=sum(owed),
        study_completion=_percent(
            sum(data.study_done[pair] for pair in campaigns),
            len(campaigns) * len(cell_members),
        ),
    )


# --- the files -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sheet:
    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[object]]


def build_workbook(sheets: Sequence[Sheet]) -> bytes:
    """An XLSX file, one worksheet per ``Sheet``; pure and blocking — run it in a thread."""
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for sheet in sheets:
        page = book.create_sheet(sheet.title[:31])
        page.append(list(sheet.header))
        for cell in page[1]:
            cell.font = Font(bold=True)
        for row in sheet.rows:
            page.append(list(row))
        for column, title in enumerate(sheet.header, start=1):
            widest = max([len(str(title)), *(len(str(row[column - 1])) for row in sheet.rows)])
            page.column_dimensions[get_column_letter(column)].width = min(widest + 2, 60)
        page.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def build_chart(title: str, ylabel: str, points: Sequence[tuple[str, float]]) -> bytes:
    """A bar chart PNG of ``CHART_SIZE`` pixels (matplotlib, Agg: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    width, height = CHART_SIZE
    figure = Figure(figsize=(width / CHART_DPI, height / CHART_DPI), dpi=CHART_DPI)
    axes = figure.add_subplot()
    labels = [label for label, _ in points]
    values = [value for _, value in points]
    bars = axes.bar(labels, values, color="#c62828")
    axes.bar_label(bars, labels=[f"{v:.0f}%" if v else "" for v in values], fontsize=8)
    axes.axhline(85, color="#2e7d32", linestyle="--", linewidth=1)  # a good meeting: >85%
    axes.set_ylim(0, 105)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.tick_params(axis="x", labelsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=CHART_DPI)
    return buffer.getvalue()


# --- the command -----------------------------------------------------------------------------


def _report_month(context: Context, unit: OrgUnit) -> date:
    zone = ZoneInfo(unit.timezone)
    this_month = month_start(context.now.astimezone(zone).date())
    args = context.inbound.args.strip()
    month = parse_month(args) if args else this_month
    if month > this_month:
        raise UserError("report.error.future", month=f"{month:%m/%Y}")
    return month


async def report_command(context: Context) -> list[Reply]:
    unit = context.require_cell()
    month = _report_month(context, unit)
    zone = ZoneInfo(unit.timezone)
    data = await context.services.reports.month(
        unit,
        since=_utc(_shift(month, 1 - CHART_MONTHS), zone),
        start=_utc(month, zone),
        end=_utc(_shift(month, 1), zone),
    )
    if not data.cells:
        raise UserError("report.error.no_cells")
    ledger = await context.services.fees.ledger([c.id for c in data.cells], month, month)
    rows = cell_rows(data, ledger, month)
    sheets = [_cells_sheet(context, rows)]
    if not context.is_office:
        sheets += _cell_sheets(context, data, ledger, month)
    history = attendance_history(data, zone, month)
    shown = f"{month:%m/%Y}"
    title = context.t("report.chart.title", unit=unit.name, month=shown)
    points = [(f"{m:%m/%y}", value) for m, value in history]
    workbook, chart = await asyncio.gather(
        asyncio.to_thread(build_workbook, sheets),
        asyncio.to_thread(build_chart, title, context.t("report.chart.ylabel"), points),
    )
    stem = f"bao-cao-{month:%Y-%m}"
    total = rows[0] if len(rows) == 1 else None
    summary = (
        context.t(
            "report.summary.cell",
            unit=unit.name,
            month=shown,
            meetings=total.meetings,
            attendance=_shown_percent(total.attendance),
            read=_shown_percent(total.read_rate),
            paid=total.fees_paid,
            owed=total.fees_owed,
        )
        if total is not None and not context.is_office
        else context.t("report.summary.committee", unit=unit.name, month=shown, cells=len(rows))
    )
    return [
        Reply(summary, file=OutboundFile(f"{stem}.xlsx", workbook, title)),
        Reply(context.t("report.chart.caption"), file=OutboundFile(f"{stem}.png", chart, title)),
    ]


def _shown_percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}%"


def _cells_sheet(context: Context, rows: Sequence[CellRow]) -> Sheet:
    return Sheet(
        context.t("report.sheet.cells"),
        [context.t(f"report.col.{name}") for name in CELL_COLUMNS],
        [
            [
                r.name,
                r.members,
                r.meetings,
                r.attendance,
                r.documents,
                r.read_rate,
                r.feedback_new,
                r.feedback_open,
                r.fees_paid,
                r.fees_collected,
                r.fees_owed,
                r.fees_outstanding,
                r.study_completion,
            ]
            for r in rows
        ],
    )


CELL_COLUMNS = (
    "cell",
    "members",
    "meetings",
    "attendance",
    "documents",
    "read_rate",
    "feedback_new",
    "feedback_open",
    "fees_paid",
    "fees_collected",
    "fees_owed",
    "fees_outstanding",
    "study_completion",
)


def _cell_sheets(context: Context, data: ReportData, ledger: FeeLedger, month: date) -> list[Sheet]:
    """The one-cell workbook's detail pages: meetings, members, absences, documents, feedback."""
    zone = ZoneInfo(data.cells[0].timezone)
    meetings = data.month_meetings()
    rows = {m.id: meeting_row(data, m) for m in meetings}
    meeting_sheet = Sheet(
        context.t("report.sheet.meetings"),
        [
            context.t(f"report.col.{n}")
            for n in ("meeting", "when", "expected", "present", "excused", "absent", "attendance")
        ],
        [
            [
                r.title,
                r.starts_at.astimezone(zone).strftime("%d/%m/%Y %H:%M"),
                r.expected,
                r.present if r.closed else None,
                r.excused if r.closed else None,
                r.absent if r.closed else None,
                r.rate,
            ]
            for r in rows.values()
        ],
    )
    closed = [m for m in meetings if m.closed]
    absences = Counter(a.member_id for a in data.absences if a.status is AbsenceStatus.APPROVED)
    member_rows = []
    fee_members = {m.id: m for m in ledger.members}
    due_studies = [campaign for campaign, _ in data.study_targets]
    for member in data.members:
        attended = [m for m in closed if member in _expected(data, m)]
        present = sum(
            data.marks.get(m.id, {}).get(member.id) is AttendanceState.PRESENT for m in attended
        )
        payment = ledger.payment(member.id, month)
        fee_member = fee_members.get(member.id)
        owed = ledger.outstanding(fee_member, month) if fee_member else 0
        member_rows.append(
            [
                member.full_name,
                context.t(f"status.{member.status.value}"),
                present,
                len(attended),
                absences.get(member.id, 0),
                sum((d.id, member.id) in data.reads for d in data.documents),
                len(data.documents),
                payment.amount_paid if payment else 0,
                owed,
                sum((c, member.id) in data.study_finished for c in due_studies),
                len(due_studies),
            ]
        )
    member_sheet = Sheet(
        context.t("report.sheet.members"),
        [
            context.t(f"report.col.{n}")
            for n in (
                "member",
                "status",
                "present",
                "meetings",
                "excused_count",
                "read",
                "documents",
                "fees_collected",
                "fees_outstanding",
                "study_done",
                "study_due",
            )
        ],
        member_rows,
    )
    names = {m.id: m.full_name for m in data.members}
    titles = {m.id: m.title for m in meetings}
    absence_sheet = Sheet(
        context.t("report.sheet.absences"),
        [context.t(f"report.col.{n}") for n in ("member", "meeting", "reason", "decision")],
        [
            [
                names.get(a.member_id, "?"),
                titles.get(a.meeting_id, "?"),
                context.t(f"report.reason.{a.reason.value}"),
                context.t(f"report.decision.{a.status.value}"),
            ]
            for a in data.absences
        ],
    )
    readers = len(data.members)
    document_sheet = Sheet(
        context.t("report.sheet.documents"),
        [context.t(f"report.col.{n}") for n in ("document", "when", "read", "read_rate")],
        [
            [
                d.title,
                d.posted_at.astimezone(zone).strftime("%d/%m/%Y"),
                read := sum((d.id, m.id) in data.reads for m in data.members),
                _percent(read, readers),
            ]
            for d in data.documents
        ],
    )
    by_status = Counter((f.kind, f.status) for f in data.feedback)
    feedback_sheet = Sheet(
        context.t("report.sheet.feedback"),
        [
            context.t("report.col.kind"),
            *(context.t(f"report.fb.{s.value}") for s in FeedbackStatus),
        ],
        [
            [
                context.t(f"report.kind.{kind.value}"),
                *(by_status[(kind, s)] for s in FeedbackStatus),
            ]
            for kind in sorted({kind for kind, _ in by_status})
        ],
    )
    return [member_sheet, meeting_sheet, absence_sheet, document_sheet, feedback_sheet]
