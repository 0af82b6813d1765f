"""Party fees (/dangphi): always private. A member sees their own months; the secretary or
deputy sees a month's sheet, records payments one by one or «everyone paid» (then taps the
few who did not to take them back), sets each member's fee basis and reductions, and sends
private reminders to those who have not paid. Once a month's collection has started, whoever
has still not paid on the 25th is reminded privately without being asked. Members unpaid for
3 months or more in a year are flagged on the secretary's private sheet only (DOMAIN.md: chibo
warns, never decides).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from typing_extensions import TypedDict

from handlers.context import Context, QuestionGone, UserError, button_id
from handlers.core import Choice, Reply
from handlers.numbers import parse_number
from storage.fee_rules import REDUCTIONS, FeeBasis, FeeReduction, format_vnd, month_start
from storage.fees import FeeLedger, FeeMember, FeeRepository, reminder_key
from storage.models import FeeBasisKind, OrgUnit
from storage.outbox import NewOutboxRow

# Choice-data prefixes (registered in handlers/catalog.py). Months travel as YYYYMM.
SHEET = "fs"  # fs:<month>                    a month's sheet
TOGGLE = "fp"  # fp:<month>:<member>          paid / take back
ALL_PAID = "fa"  # fa:<month>                 everyone not yet paid has paid
REMIND = "fn"  # fn:<month>                   private reminders to the unpaid
MEMBERS = "fw"  # fw:<month>                  pick a member to set their basis
BASIS = "fb"  # fb:<member>:<month>           a member's basis card
KIND = "fk"  # fk:<member>:<month>:<kind>     salary / pension (asks the amount) / min wage
REGION = "fg"  # fg:<member>:<month>:<region>:<0|1>   min wage region, retirement age
REDUCE = "fr"  # fr:<member>:<month>:<percent> a reduction or exemption (asks the last month)
MINE = "fo"  # fo                             one's own months

AMOUNT_FLOW = "fee_amount"
REDUCTION_FLOW = "fee_reduction"


class AmountQuestion(TypedDict):
    member: int
    month: str  # YYYYMM, checked again where it is read
    kind: FeeBasisKind


class ReductionQuestion(TypedDict):
    member: int
    month: str
    percent: int


REMINDER_DAY = 25  # unpaid members are reminded on this day of the month, in the morning
REMINDER_TIME = time(9, 0)
FLAG_MONTHS = 3  # unpaid months in a year that the secretary is warned about
MAX_AMOUNT = 10_000_000_000  # a monthly salary beyond this is a typing slip
MONTH_TEXT = re.compile(r"^\s*(\d{1,2})\s*[/.-]\s*(\d{4})\s*$")
REGION_NAMES = {1: "I", 2: "II", 3: "III", 4: "IV"}


def _repo(context: Context) -> FeeRepository:
    return context.services.fees


def _this_month(context: Context, cell: OrgUnit) -> date:
    return month_start(context.now.astimezone(ZoneInfo(cell.timezone)).date())


def _code(month: date) -> str:
    return f"{month:%Y%m}"


def _shown(month: date) -> str:
    return f"{month:%m/%Y}"


def _shift(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def parse_month(text: str) -> date:
    """ "11/2026" → 2026-11-01; anything else is a UserError saying how to write it."""
    found = MONTH_TEXT.match(text)
    if found is None or not 1 <= int(found[1]) <= 12 or not 2000 <= int(found[2]) <= 2100:
        raise UserError("fee.error.month")
    return date(int(found[2]), int(found[1]), 1)


def parse_amount(text: str) -> int:
    """ "10.000.000 đ" → 10000000; negative, zero or not a number is a UserError."""
    cleaned = re.sub(r"[\s.,]|đ$|đồng$|d$", "", text.strip().lower())
    if cleaned.startswith("-"):
        raise UserError("fee.error.negative")
    amount = parse_number(cleaned, low=1, high=MAX_AMOUNT)
    if amount is None:
        raise UserError("fee.error.amount")
    return amount


def _month_arg(value: str) -> date:
    year = parse_number(value[:4], low=2000, high=2100) if len(value) == 6 else None
    month = parse_number(value[4:], low=1, high=12)
    if year is None or month is None:
        raise QuestionGone("error.stale_button")
    return date(year, month, 1)


def _not_future(context: Context, cell: OrgUnit, month: date) -> date:
    if month > _this_month(context, cell):
        raise UserError("fee.error.future", month=_shown(month))
    return month


def _fee_cell(context: Context) -> OrgUnit:
    cell = context.require_cell()
    if context.is_office:
        raise UserError("fee.error.office")
    return cell


# --- what people see -------------------------------------------------------------------------


async def fees_command(context: Context) -> list[Reply]:
    """/dangphi [MM/YYYY]: leaders get the month's sheet, members their own months."""
    cell = _fee_cell(context)
    actor = context.require_actor()
    if not actor.leads:
        return await _own_status(context, cell)
    args = context.inbound.args.strip()
    month = parse_month(args) if args else _this_month(context, cell)
    return [await _sheet(context, cell, _not_future(context, cell, month))]


async def own_status(context: Context, args: list[str]) -> list[Reply]:
    return await _own_status(context, _fee_cell(context))


async def _own_status(context: Context, cell: OrgUnit) -> list[Reply]:
    actor = context.require_actor()
    now_month = _this_month(context, cell)
    first = date(now_month.year, 1, 1)
    ledger = await _repo(context).ledger([cell.id], first, now_month, member_id=actor.id)
    if not ledger.members:
        raise UserError("error.not_member")
    member = ledger.members[0]
    lines = [context.t("fee.mine.title", year=now_month.year)]
    basis = ledger.basis(member.id, now_month)
    lines.append(_basis_line(context, basis) if basis else context.t("fee.mine.no_basis"))
    month = max(first, member.joined)
    while month <= now_month:
        lines.append(_own_line(context, ledger, member, month))
        month = _shift(month, 1)
    lines.append(context.t("fee.mine.hint"))
    return [Reply("\n".join(lines))]


def _own_line(context: Context, ledger: FeeLedger, member: FeeMember, month: date) -> str:
    payment = ledger.payment(member.id, month)
    if payment is not None:
        return context.t(
            "fee.mine.paid",
            month=_shown(month),
            amount=format_vnd(payment.amount_paid),
            date=context.services.texts.date(payment.paid_at.date()),
        )
    due = ledger.due(member.id, month)
    if due is None:
        return context.t("fee.mine.unknown", month=_shown(month))
    if due == 0:
        return context.t("fee.mine.exempt", month=_shown(month))
    return context.t("fee.mine.unpaid", month=_shown(month), amount=format_vnd(due))


def _basis_line(context: Context, basis: FeeBasis) -> str:
    if basis.kind is FeeBasisKind.MIN_WAGE:
        age = "fee.basis.retired_age" if basis.retirement_age else "fee.basis.working_age"
        return context.t(
            "fee.basis.min_wage",
            region=REGION_NAMES.get(basis.region or 0, "?"),
            age=context.t(age),
        )
    return context.t(f"fee.basis.{basis.kind.value}")


def unpaid_flags(ledger: FeeLedger, year: int, last: date) -> dict[int, list[date]]:
    """Members unpaid for ``FLAG_MONTHS`` or more months of ``year`` up to ``last``."""
    flagged: dict[int, list[date]] = {}
    for member in ledger.members:
        month, missed = date(year, 1, 1), []
        while month <= last:
            if ledger.owes(member, month):
                missed.append(month)
            month = _shift(month, 1)
        if len(missed) >= FLAG_MONTHS:
            flagged[member.id] = missed
    return flagged


async def _sheet(context: Context, cell: OrgUnit, month: date) -> Reply:
    now_month = _this_month(context, cell)
    year_start = date(month.year, 1, 1)
    ledger = await _repo(context).ledger([cell.id], year_start, month)
    lines = [context.t("fee.sheet.title", month=_shown(month), cell=cell.name)]
    paid_count, paid_sum, owed_count, owed_sum = 0, 0, 0, 0
    member_lines, buttons = [], []
    for member in ledger.members:
        payment = ledger.payment(member.id, month)
        due = ledger.due(member.id, month)
        if payment is not None:
            paid_count, paid_sum = paid_count + 1, paid_sum + payment.amount_paid
            line = context.t(
                "fee.sheet.paid", name=member.full_name, amount=format_vnd(payment.amount_paid)
            )
        elif due is None:
            line = context.t("fee.sheet.no_basis", name=member.full_name)
        elif due == 0 or month < member.joined:
            line = context.t("fee.sheet.exempt", name=member.full_name)
        else:
            owed_count, owed_sum = owed_count + 1, owed_sum + due
            line = context.t("fee.sheet.unpaid", name=member.full_name, amount=format_vnd(due))
        member_lines.append(line)
        mark = "✅" if payment is not None else "⬜"
        buttons.append(
            (Choice(f"{mark} {member.full_name}", f"{TOGGLE}:{_code(month)}:{member.id}"),)
        )
    lines.append(
        context.t(
            "fee.sheet.totals",
            paid=paid_count,
            paid_sum=format_vnd(paid_sum),
            owed=owed_count,
            owed_sum=format_vnd(owed_sum),
        )
    )
    lines += member_lines
    # The current month is not overdue yet: the warning counts the months before it.
    flags = unpaid_flags(ledger, month.year, min(month, _shift(now_month, -1)))
    names = {member.id: member.full_name for member in ledger.members}
    for member_id, missed in flags.items():
        lines.append(
            context.t(
                "fee.sheet.flag",
                name=names[member_id],
                months=len(missed),
                months_list=", ".join(str(m.month) for m in missed),
                year=month.year,
            )
        )
    lines.append(context.t("fee.sheet.hint"))
    navigation = [Choice(context.t("fee.button.previous"), f"{SHEET}:{_code(_shift(month, -1))}")]
    if month < now_month:
        navigation.append(
            Choice(context.t("fee.button.next"), f"{SHEET}:{_code(_shift(month, 1))}")
        )
    choices = (
        *buttons,
        (
            Choice(context.t("fee.button.all_paid"), f"{ALL_PAID}:{_code(month)}"),
            Choice(context.t("fee.button.remind"), f"{REMIND}:{_code(month)}"),
        ),
        (
            Choice(context.t("fee.button.bases"), f"{MEMBERS}:{_code(month)}"),
            Choice(context.t("fee.button.mine"), MINE),
        ),
        tuple(navigation),
    )
    return Reply("\n".join(lines), choices=choices)


# --- leaders' buttons --------------------------------------------------------------------------


async def show_sheet(context: Context, args: list[str]) -> list[Reply]:
    cell = _fee_cell(context)
    month = _not_future(context, cell, _month_arg(args[0] if args else ""))
    return [_replacing(await _sheet(context, cell, month))]


def _replacing(reply: Reply) -> Reply:
    return Reply(reply.text, choices=reply.choices, replace=True)


async def toggle_paid(context: Context, args: list[str]) -> list[Reply]:
    cell = _fee_cell(context)
    month = _not_future(context, cell, _month_arg(args[0] if args else ""))
    member_id = button_id(args, 1)
    repo = _repo(context)
    undone = await repo.undo_paid(
        cell_id=cell.id,
        member_id=member_id,
        month=month,
        actor=context.audit_actor,
        now=context.now,
    )
    if not undone:
        result = await repo.record_paid(
            cell_id=cell.id,
            month=month,
            member_ids=[member_id],
            actor=context.audit_actor,
            now=context.now,
        )
        if result.no_basis:
            raise UserError("fee.error.no_basis")
    # Taken back after «everyone paid»: this member is now among those to remind.
    await _plan_reminders(context, cell, month)
    return [_replacing(await _sheet(context, cell, month))]


async def all_paid(context: Context, args: list[str]) -> list[Reply]:
    cell = _fee_cell(context)
    month = _not_future(context, cell, _month_arg(args[0] if args else ""))
    result = await _repo(context).record_paid(
        cell_id=cell.id, month=month, member_ids=None, actor=context.audit_actor, now=context.now
    )
    await _plan_reminders(context, cell, month)
    replies = [_replacing(await _sheet(context, cell, month))]
    replies.append(
        Reply(
            context.t(
                "fee.all_paid.done",
                count=len(result.paid),
                month=_shown(month),
                missing=len(result.no_basis),
            )
        )
    )
    return replies


async def remind(context: Context, args: list[str]) -> list[Reply]:
    """Queue one private reminder per unpaid member for the month (pressing twice adds none)."""
    cell = _fee_cell(context)
    month = _not_future(context, cell, _month_arg(args[0] if args else ""))
    written = await _queue_reminders(context, cell, month, context.now, planned=False)
    return [Reply(context.t("fee.remind.done", count=written, month=_shown(month)))]


async def _plan_reminders(context: Context, cell: OrgUnit, month: date) -> None:
    """Once a month's collection has started, those who have not paid by the reminder day get
    a private reminder then (cancelled for each one who pays first)."""
    zone = ZoneInfo(cell.timezone)
    due_at = datetime.combine(month.replace(day=REMINDER_DAY), REMINDER_TIME, zone)
    if due_at > context.now:
        await _queue_reminders(context, cell, month, due_at, planned=True)


async def _queue_reminders(
    context: Context, cell: OrgUnit, month: date, due_at: datetime, *, planned: bool
) -> int:
    repo = _repo(context)
    ledger = await repo.ledger([cell.id], month, month)
    unpaid = {m.id: m for m in ledger.members if ledger.owes(m, month)}
    platform = context.inbound.platform.value
    accounts = await repo.accounts(list(unpaid), platform)
    rows = [
        NewOutboxRow(
            dedupe_key=reminder_key(member_id, month, planned=planned),
            platform=platform,
            chat_id=account,
            due_at=due_at,
            expires_at=None,
            payload={
                "type": "text",
                "text": context.t(
                    "fee.reminder",
                    month=_shown(month),
                    amount=format_vnd(ledger.due(member_id, month) or 0),
                ),
            },
            org_unit_id=cell.id,
        )
        for member_id in unpaid
        for account in accounts.get(member_id, [])[:1]
    ]
    return await repo.remind(
        cell_id=cell.id, month=month, rows=rows, actor=context.audit_actor, now=context.now
    )


async def pick_member(context: Context, args: list[str]) -> list[Reply]:
    cell = _fee_cell(context)
    month = _not_future(context, cell, _month_arg(args[0] if args else ""))
    ledger = await _repo(context).ledger([cell.id], month, month)
    choices = tuple(
        (Choice(member.full_name, f"{BASIS}:{member.id}:{_code(month)}"),)
        for member in ledger.members
    )
    return [Reply(context.t("fee.bases.pick", month=_shown(month)), choices=choices)]


async def basis_card(context: Context, args: list[str]) -> list[Reply]:
    cell = _fee_cell(context)
    member_id = button_id(args, 0)
    month = _not_future(context, cell, _month_arg(args[1] if len(args) > 1 else ""))
    member = await context.services.members.in_cell(cell.id, member_id)
    ledger = await _repo(context).ledger([cell.id], month, month, member_id=member_id)
    basis = ledger.basis(member_id, month)
    due = ledger.due(member_id, month)
    lines = [
        context.t("fee.card.title", name=member.full_name, month=_shown(month)),
        _basis_line(context, basis) if basis else context.t("fee.mine.no_basis"),
    ]
    if due is not None:
        lines.append(context.t("fee.card.due", amount=format_vnd(due)))
    lines.append(context.t("fee.card.hint"))
    base = f"{member_id}:{_code(month)}"
    choices = (
        (
            Choice(context.t("fee.button.salary"), f"{KIND}:{base}:{FeeBasisKind.SALARY.value}"),
            Choice(context.t("fee.button.pension"), f"{KIND}:{base}:{FeeBasisKind.PENSION.value}"),
        ),
        (Choice(context.t("fee.button.min_wage"), f"{KIND}:{base}:{FeeBasisKind.MIN_WAGE.value}"),),
        tuple(
            Choice(context.t(f"fee.button.reduce_{percent}"), f"{REDUCE}:{base}:{percent}")
            for percent in REDUCTIONS
        ),
        (Choice(context.t("fee.button.back"), f"{SHEET}:{_code(month)}"),),
    )
    return [Reply("\n".join(lines), choices=choices)]


async def pick_kind(context: Context, args: list[str]) -> list[Reply]:
    cell = _fee_cell(context)
    member_id = button_id(args, 0)
    month = _not_future(context, cell, _month_arg(args[1] if len(args) > 1 else ""))
    await context.services.members.in_cell(cell.id, member_id)
    try:
        kind = FeeBasisKind(args[2] if len(args) > 2 else "")
    except ValueError as exc:
        raise QuestionGone("error.stale_button") from exc
    if kind is FeeBasisKind.MIN_WAGE:
        base = f"{REGION}:{member_id}:{_code(month)}"
        choices = tuple(
            (
                Choice(context.t("fee.button.region_working", region=name), f"{base}:{number}:0"),
                Choice(context.t("fee.button.region_retired", region=name), f"{base}:{number}:1"),
            )
            for number, name in REGION_NAMES.items()
        )
        return [Reply(context.t("fee.ask.region"), choices=choices)]
    await context.expect_answer(
        AMOUNT_FLOW, {"member": member_id, "month": _code(month), "kind": kind.value}
    )
    return [Reply(context.t(f"fee.ask.{kind.value}"), ask_text=True)]


async def pick_region(context: Context, args: list[str]) -> list[Reply]:
    cell = _fee_cell(context)
    member_id = button_id(args, 0)
    month = _not_future(context, cell, _month_arg(args[1] if len(args) > 1 else ""))
    region = button_id(args, 2)
    retired = args[3] if len(args) > 3 else ""
    if region not in REGION_NAMES or retired not in ("0", "1"):
        raise QuestionGone("error.stale_button")
    basis = FeeBasis(FeeBasisKind.MIN_WAGE, month, region=region, retirement_age=retired == "1")
    return await _save_basis(context, cell, member_id, basis)


def _leader_cell(context: Context) -> OrgUnit:
    """Free-text answers come without the dispatcher's access check: repeat it."""
    if not context.require_actor().leads:
        raise UserError("error.leader_only")
    return _fee_cell(context)


async def amount_answer(context: Context, data: dict[str, object]) -> list[Reply]:
    cell = _leader_cell(context)
    amount = parse_amount(context.inbound.text)
    basis = FeeBasis(FeeBasisKind(str(data["kind"])), _month_arg(str(data["month"])), amount=amount)
    return await _save_basis(context, cell, int(str(data["member"])), basis)


async def _save_basis(
    context: Context, cell: OrgUnit, member_id: int, basis: FeeBasis
) -> list[Reply]:
    await _repo(context).set_basis(
        cell_id=cell.id,
        member_id=member_id,
        basis=basis,
        actor=context.audit_actor,
        now=context.now,
    )
    ledger = await _repo(context).ledger(
        [cell.id], basis.valid_from, basis.valid_from, member_id=member_id
    )
    due = ledger.due(member_id, basis.valid_from) or 0
    return [
        Reply(
            context.t(
                "fee.basis.saved",
                month=_shown(basis.valid_from),
                amount=format_vnd(due),
            ),
            choices=(
                (Choice(context.t("fee.button.back"), f"{SHEET}:{_code(basis.valid_from)}"),),
            ),
        )
    ]


async def pick_reduction(context: Context, args: list[str]) -> list[Reply]:
    cell = _fee_cell(context)
    member_id = button_id(args, 0)
    month = _not_future(context, cell, _month_arg(args[1] if len(args) > 1 else ""))
    percent = button_id(args, 2)
    if percent not in REDUCTIONS:
        raise QuestionGone("error.stale_button")
    await context.services.members.in_cell(cell.id, member_id)
    await context.expect_answer(
        REDUCTION_FLOW, {"member": member_id, "month": _code(month), "percent": percent}
    )
    return [Reply(context.t("fee.ask.until", month=_shown(month)), ask_text=True)]


async def reduction_answer(context: Context, data: dict[str, object]) -> list[Reply]:
    cell = _leader_cell(context)
    start = _month_arg(str(data["month"]))
    until = parse_month(context.inbound.text)
    if until < start:
        raise UserError("fee.error.until_before", month=_shown(start))
    reduction = FeeReduction(int(str(data["percent"])), start, until)
    await _repo(context).add_reduction(
        cell_id=cell.id,
        member_id=int(str(data["member"])),
        reduction=reduction,
        actor=context.audit_actor,
        now=context.now,
    )
    return [
        Reply(
            context.t(
                "fee.reduction.saved",
                percent=reduction.percent,
                start=_shown(start),
                until=_shown(until),
            ),
            choices=((Choice(context.t("fee.button.back"), f"{SHEET}:{_code(start)}"),),),
        )
    ]
