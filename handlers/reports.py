"""/baocao [MM/YYYY]: the monthly report, privately to the secretary — an XLSX workbook and a PNG
chart of attendance over the past 12 months. A committee office gets the same over all its
cells, one row per cell. The database counts (storage/reports.py, and the fee totals in
storage/fees.py); only one cell's own workbook reads rows per member. Building the files is CPU
work done in worker threads.
"""

from __future__ import annotations

import asyncio
import functools
import io
import threading
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from handlers.context import Context, UserError
from handlers.core import OutboundFile, Reply
from handlers.fees import parse_month
from handlers.spreadsheet_cells import text_cell, written_cell
from storage.fee_rules import month_start
from storage.fees import FeeLedger, FeeTotals
from storage.models import AbsenceStatus, AttendanceState, FeedbackStatus, OrgUnit
from storage.reports import CellDetail, CellTally, MeetingTally, ReportData

CHART_MONTHS = 12
CHART_SIZE = (1000, 500)  # pixels
CHART_DPI = 100
CHART_MARGINS = {"left": 0.073, "right": 0.985, "top": 0.925, "bottom": 0.072}  # of the figure


def _shift(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _utc(month: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(month, time(), zone).astimezone(UTC)


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


# --- counting --------------------------------------------------------------------------------


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


def chart_months(last: date) -> list[date]:
    """The ``CHART_MONTHS`` months up to ``last``, oldest first."""
    return [_shift(last, offset) for offset in range(1 - CHART_MONTHS, 1)]


def attendance_history(months: Sequence[date], data: ReportData) -> list[tuple[date, float]]:
    """Attendance % per month of ``months`` (closed meetings only); a month without a
    meeting shows 0."""
    return [
        (month, _percent(present, expected) or 0.0)
        for month, (present, expected) in zip(months, data.history, strict=True)
    ]


def cell_rows(data: ReportData, fees: Mapping[int, FeeTotals]) -> list[CellRow]:
    """One row per cell; the month's closed meetings are grouped by cell once, since a
    committee report covers a whole province."""
    closed: dict[int, list[MeetingTally]] = defaultdict(list)
    for meeting in data.meetings:
        if meeting.closed:
            closed[meeting.cell_id].append(meeting)
    return [
        _cell_row(cell, data.tally(cell.id), closed[cell.id], fees.get(cell.id, FeeTotals()))
        for cell in data.cells
    ]


def _cell_row(
    cell: OrgUnit, tally: CellTally, closed: list[MeetingTally], fees: FeeTotals
) -> CellRow:
    return CellRow(
        name=cell.name,
        members=tally.members,
        meetings=len(closed),
        attendance=_percent(sum(m.present for m in closed), sum(m.expected for m in closed)),
        documents=tally.documents,
        read_rate=_percent(tally.reads, tally.documents * tally.members),
        feedback_new=tally.feedback_new,
        feedback_open=tally.feedback_open,
        fees_paid=fees.paid,
        fees_collected=fees.collected,
        fees_owed=fees.owed,
        fees_outstanding=fees.outstanding,
        study_completion=_percent(tally.study_done, tally.study_due * tally.members),
    )


# --- the files -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sheet:
    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[object]]


def build_workbook(sheets: Sequence[Sheet]) -> bytes:
    """An XLSX file, one worksheet per ``Sheet``; pure and blocking — run it in a thread.
    Written in openpyxl's write-only mode: a province's summary has thousands of rows. Names and
    titles are people's text: every cell goes through ``written_cell``, never as a formula."""
    book = Workbook(write_only=True)
    for sheet in sheets:
        page = book.create_sheet(sheet.title[:31])
        for column, title in enumerate(sheet.header, start=1):
            widest = max([len(str(title)), *(len(str(row[column - 1])) for row in sheet.rows)])
            page.column_dimensions[get_column_letter(column)].width = min(widest + 2, 60)
        page.freeze_panes = "A2"
        header = [text_cell(page, title) for title in sheet.header]
        for cell in header:
            cell.font = Font(bold=True)
        page.append(header)
        for row in sheet.rows:
            page.append([written_cell(page, value) for value in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@functools.cache
def warm_up_files() -> threading.Thread:
    """Draw a chart and write a workbook nobody sees, in a background thread, once the bot is
    up: importing matplotlib and the first draw and save take a second or more, which the
    first /baocao would otherwise wait for. Once per process, however many times a bot starts
    in it (tests do). Not a daemon: one still inside matplotlib's C code when the interpreter
    exits crashes it (SIGSEGV when `chibo run` was stopped half a second after starting), so
    exit waits for it instead, a second at most."""

    def warm_up() -> None:
        months = [(f"{month:02d}/00", 0.0) for month in range(1, CHART_MONTHS + 1)]
        build_chart("warm-up", "%", months)
        build_workbook([Sheet("warm-up", ["warm-up"], [[0]])])

    thread = threading.Thread(target=warm_up, name="report-warm-up")
    thread.start()
    return thread


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
    # The margins tight_layout finds for this size and these labels, fixed: working them out
    # draws the whole figure once more, which made the chart the slowest part of a report.
    figure.subplots_adjust(**CHART_MARGINS)
    buffer = io.BytesIO()
    # The fastest zlib level: a tenth bigger, and the default level took a quarter of the
    # chart's time.
    figure.savefig(buffer, format="png", dpi=CHART_DPI, pil_kwargs={"compress_level": 1})
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
    months = chart_months(month)
    start, end = _utc(month, zone), _utc(_shift(month, 1), zone)
    reports = context.services.reports
    # The fee totals decrypt in a worker thread while the database counts the rest.
    data, fees = await asyncio.gather(
        reports.month(unit, months=[_utc(m, zone) for m in months], end=end),
        context.services.fees.month_totals(unit, month),
    )
    if not data.cells:
        raise UserError("report.error.no_cells")
    rows = cell_rows(data, fees)
    sheets = [_cells_sheet(context, rows)]
    if not context.is_office:
        detail = await reports.cell_detail(unit, start=start, end=end)
        ledger = await context.services.fees.ledger([unit.id], month, month)
        sheets += _cell_sheets(context, data, detail, ledger, month)
    history = attendance_history(months, data)
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


def _cell_sheets(
    context: Context, data: ReportData, detail: CellDetail, ledger: FeeLedger, month: date
) -> list[Sheet]:
    """The one-cell workbook's detail pages: meetings, members, absences, documents, feedback."""
    zone = ZoneInfo(data.cells[0].timezone)
    meeting_sheet = Sheet(
        context.t("report.sheet.meetings"),
        [
            context.t(f"report.col.{n}")
            for n in ("meeting", "when", "expected", "present", "excused", "absent", "attendance")
        ],
        [
            [
                m.title,
                m.starts_at.astimezone(zone).strftime("%d/%m/%Y %H:%M"),
                m.expected,
                m.present if m.closed else None,
                m.excused if m.closed else None,
                m.expected - m.present - m.excused if m.closed else None,
                _percent(m.present, m.expected) if m.closed else None,
            ]
            for m in data.meetings
        ],
    )
    return [
        _member_sheet(context, detail, ledger, month),
        meeting_sheet,
        _absence_sheet(context, data, detail),
        _document_sheet(context, detail, zone),
        _feedback_sheet(context, detail),
    ]


def _member_sheet(context: Context, detail: CellDetail, ledger: FeeLedger, month: date) -> Sheet:
    closed = [m for m in detail.meetings if m.closed]
    absences = Counter(a.member_id for a in detail.absences if a.status is AbsenceStatus.APPROVED)
    fee_members = {m.id: m for m in ledger.members}
    rows = []
    for member in detail.members:
        # The meetings the member was expected at (exempted members are expected at none).
        attended = [m for m in closed if member.expected and member.joined_at <= m.starts_at]
        present = sum(
            detail.marks.get(m.id, {}).get(member.id) is AttendanceState.PRESENT for m in attended
        )
        payment = ledger.payment(member.id, month)
        fee_member = fee_members.get(member.id)
        rows.append(
            [
                member.full_name,
                context.t(f"status.{member.status.value}"),
                present,
                len(attended),
                absences.get(member.id, 0),
                sum((d.id, member.id) in detail.reads for d in detail.documents),
                len(detail.documents),
                payment.amount_paid if payment else 0,
                ledger.outstanding(fee_member, month) if fee_member else 0,
                sum((c, member.id) in detail.study_finished for c in detail.study_due),
                len(detail.study_due),
            ]
        )
    return Sheet(
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
        rows,
    )


def _absence_sheet(context: Context, data: ReportData, detail: CellDetail) -> Sheet:
    names = {m.id: m.full_name for m in detail.members}
    titles = {m.id: m.title for m in data.meetings}
    return Sheet(
        context.t("report.sheet.absences"),
        [context.t(f"report.col.{n}") for n in ("member", "meeting", "reason", "decision")],
        [
            [
                names.get(a.member_id, "?"),
                titles.get(a.meeting_id, "?"),
                context.t(f"report.reason.{a.reason.value}"),
                context.t(f"report.decision.{a.status.value}"),
            ]
            for a in detail.absences
        ],
    )


def _document_sheet(context: Context, detail: CellDetail, zone: ZoneInfo) -> Sheet:
    readers = len(detail.members)
    return Sheet(
        context.t("report.sheet.documents"),
        [context.t(f"report.col.{n}") for n in ("document", "when", "read", "read_rate")],
        [
            [
                d.title,
                d.posted_at.astimezone(zone).strftime("%d/%m/%Y"),
                read := sum((d.id, m.id) in detail.reads for m in detail.members),
                _percent(read, readers),
            ]
            for d in detail.documents
        ],
    )


def _feedback_sheet(context: Context, detail: CellDetail) -> Sheet:
    by_status = Counter((f.kind, f.status) for f in detail.feedback)
    return Sheet(
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
