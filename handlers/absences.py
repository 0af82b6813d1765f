"""Absence requests (/xinvang): a member asks privately to miss a meeting, the secretary or
deputy approves or declines, the member is told; the member may withdraw before the meeting;
leaders list the requests per meeting. Reasons never reach a group: asked there, /xinvang only
points to the private chat.

When check-in closes, ``flag_replies`` warns the secretary privately about members absent at
the last three meetings in a row, or three times without reason this year (DOMAIN.md: chibo
only warns, it never decides or announces).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from typing_extensions import TypedDict

from handlers.context import Context, QuestionGone, UserError, button_id
from handlers.core import Choice, Reply, Tone, private_reply
from storage.absences import (
    WITHDRAWABLE,
    Absence,
    AbsenceExists,
    AbsenceMeeting,
    AbsenceMeetingGone,
    AbsenceNotFound,
    AbsenceRepository,
    AbsenceSettled,
    AbsenceTooLate,
    ExpectedMember,
    PastMeeting,
)
from storage.meetings import MeetingNotFound
from storage.models import AbsenceReason, AbsenceStatus, AttendanceState, OrgUnit

COMMAND = "xinvang"
REASON_FLOW = "absence_reason"
CONFIRM_FLOW = "absence_confirm"


class ReasonQuestion(TypedDict):
    meeting: int


class AbsenceDraft(ReasonQuestion):
    reason: AbsenceReason
    note: str | None


MAX_REASON = 300
STREAK = 3  # absent at this many closed meetings in a row
YEARLY_UNEXCUSED = 3  # absent without reason this many times in a calendar year

# Choice-data prefixes (registered in handlers/catalog.py).
PICK_MEETING = "xm"  # xm:<meeting>
PICK_REASON = "xr"  # xr:<meeting>:<reason>
SEND = "xs"  # xs:<meeting>
DROP = "xc"  # xc                       drop the draft
DECIDE = "xd"  # xd:<absence>:<y|n>
WITHDRAW = "xw"  # xw:<absence>
LIST = "xl"  # xl  or  xl:<meeting>


# --- the rules for the secretary's private warning ---------------------------------------------


@dataclass(frozen=True, slots=True)
class AbsenceFlag:
    """A member to warn the secretary about. ``streak`` is the run of meetings missed in a
    row (0 when that rule did not fire); ``unexcused`` the absences without reason this
    year (0 when that rule did not fire)."""

    member_id: int
    full_name: str
    streak: int
    unexcused: int


def _state(meeting: PastMeeting, member_id: int) -> AttendanceState:
    # An expected member never marked was absent without reason (as the tally counts it).
    return meeting.states.get(member_id, AttendanceState.ABSENT)


def missed_in_a_row(member_id: int, newest_first: Sequence[PastMeeting]) -> int:
    """How many of the member's meetings, counting back from the latest, they missed."""
    run = 0
    for meeting in newest_first:
        if _state(meeting, member_id) is AttendanceState.PRESENT:
            break
        run += 1
    return run


def unexcused_in_year(
    member_id: int, meetings: Sequence[PastMeeting], year: int, zone: ZoneInfo
) -> int:
    return sum(
        1
        for meeting in meetings
        if meeting.starts_at.astimezone(zone).year == year
        and _state(meeting, member_id) is AttendanceState.ABSENT
    )


def absence_flags(
    expected: Sequence[ExpectedMember], newest_first: Sequence[PastMeeting], zone: ZoneInfo
) -> list[AbsenceFlag]:
    """Who to warn about after the latest meeting (``newest_first[0]``) closed. A rule fires
    only when that latest meeting is part of it, so each warning is given once per meeting;
    meetings before a member joined do not count against them."""
    if not newest_first:
        return []
    latest = newest_first[0]
    year = latest.starts_at.astimezone(zone).year
    flags = []
    for member in expected:
        theirs = [m for m in newest_first if m.starts_at >= member.since]
        if not theirs or theirs[0] is not latest:
            continue
        state = _state(latest, member.id)
        if state is AttendanceState.PRESENT:
            continue
        streak = missed_in_a_row(member.id, theirs)
        unexcused = unexcused_in_year(member.id, theirs, year, zone)
        streak_fires = streak >= STREAK
        year_fires = state is AttendanceState.ABSENT and unexcused >= YEARLY_UNEXCUSED
        if streak_fires or year_fires:
            flags.append(
                AbsenceFlag(
                    member.id,
                    member.full_name,
                    streak if streak_fires else 0,
                    unexcused if year_fires else 0,
                )
            )
    return flags


async def flag_replies(context: Context, cell: OrgUnit, meeting_id: int) -> list[Reply]:
    """The secretary's private warning after check-in of ``meeting_id`` closed (none if
    nobody crossed a line). Never addressed to a group."""
    past, expected = await _repo(context).history(cell.id)
    index = next((i for i, m in enumerate(past) if m.id == meeting_id), None)
    if index is None:
        return []
    zone = _zone(cell)
    flags = absence_flags(expected, past[index:], zone)
    if not flags:
        return []
    year = past[index].starts_at.astimezone(zone).year
    lines = [context.t("absence.flag.header")]
    for flag in flags:
        if flag.streak:
            lines.append(context.t("absence.flag.streak", name=flag.full_name, count=flag.streak))
        if flag.unexcused:
            lines.append(
                context.t(
                    "absence.flag.unexcused", name=flag.full_name, count=flag.unexcused, year=year
                )
            )
    lines.append(context.t("absence.flag.footer"))
    accounts = await context.services.links.secretary_accounts(cell.id, context.inbound.platform)
    return [private_reply("\n".join(lines), where, account) for where, account in accounts]


# --- helpers -----------------------------------------------------------------------------------


def _repo(context: Context) -> AbsenceRepository:
    return context.services.absences


def _zone(cell: OrgUnit) -> ZoneInfo:
    return ZoneInfo(cell.timezone)


def _when(context: Context, cell: OrgUnit, moment: datetime) -> str:
    return context.services.texts.datetime(moment.astimezone(_zone(cell)))


def _day(context: Context, cell: OrgUnit, moment: datetime) -> str:
    return context.services.texts.date(moment.astimezone(_zone(cell)).date())


def _reason(context: Context, reason: AbsenceReason, note: str | None) -> str:
    label = context.t(f"absence.reason.{reason}")
    return context.t("absence.reason_with_note", reason=label, note=note) if note else label


def _status(context: Context, status: AbsenceStatus) -> str:
    return context.t(f"absence.status.{status}")


async def _candidate(context: Context, cell: OrgUnit, meeting_id: int) -> AbsenceMeeting:
    """A meeting of the cell one may still ask to miss; anything else is a stale button."""
    for meeting in await _repo(context).candidates(cell.id, context.now):
        if meeting.id == meeting_id:
            return meeting
    raise QuestionGone("absence.meeting_gone")


def _exists_error(context: Context, cell: OrgUnit, existing: Absence) -> UserError:
    when = _when(context, cell, existing.meeting.starts_at)
    if existing.status is AbsenceStatus.PENDING:
        return UserError("absence.already_sent", title=existing.meeting.title, when=when)
    return UserError(
        "absence.already_decided",
        title=existing.meeting.title,
        when=when,
        status=_status(context, existing.status),
    )


async def _refuse_if_asked(context: Context, cell: OrgUnit, meeting_id: int) -> None:
    member_id = context.require_actor().id
    for absence in await _repo(context).mine(cell.id, member_id, context.now):
        if absence.meeting.id == meeting_id:
            raise _exists_error(context, cell, absence)


async def _other_leaders(context: Context, cell: OrgUnit) -> list[tuple[str, str]]:
    """Leaders' (platform, account), without the one acting: nobody decides their own
    request. A leader may use the other platform than the member (one cell, two apps)."""
    accounts = await context.services.links.leader_accounts(cell.id, context.inbound.platform)
    me = context.actor.id if context.actor else None
    return [account for account, member_id in accounts.items() if member_id != me]


def _leader_card(context: Context, cell: OrgUnit, absence: Absence) -> str:
    lines = [
        context.t(
            "absence.card",
            name=absence.member_name,
            title=absence.meeting.title,
            when=_when(context, cell, absence.meeting.starts_at),
            reason=_reason(context, absence.reason, absence.reason_text),
        )
    ]
    if absence.late:
        lines.append(context.t("absence.card_late"))
    return "\n".join(lines)


def _decide_buttons(context: Context, absence: Absence) -> tuple[tuple[Choice, ...], ...]:
    return (
        (
            Choice(
                context.t("absence.button.approve"), f"{DECIDE}:{absence.id}:y", tone=Tone.PRIMARY
            ),
        ),
        (
            Choice(
                context.t("absence.button.decline"),
                f"{DECIDE}:{absence.id}:n",
                tone=Tone.DESTRUCTIVE,
            ),
        ),
    )


def _mine_section(
    context: Context, cell: OrgUnit, mine: list[Absence]
) -> tuple[list[str], list[tuple[Choice, ...]]]:
    """The member's live requests, each with «Rút lại» while it can still be withdrawn."""
    if not mine:
        return [], []
    lines = [context.t("absence.mine_header")]
    rows: list[tuple[Choice, ...]] = []
    for absence in mine:
        starts_at = absence.meeting.starts_at
        lines.append(
            context.t(
                "absence.mine_line",
                title=absence.meeting.title,
                when=_when(context, cell, starts_at),
                status=_status(context, absence.status),
            )
        )
        if absence.status in WITHDRAWABLE:
            label = context.t("absence.button.withdraw", day=_day(context, cell, starts_at))
            rows.append((Choice(label, f"{WITHDRAW}:{absence.id}"),))
    return lines, rows


def _ask_section(
    context: Context, cell: OrgUnit, chosen: AbsenceMeeting, others: list[AbsenceMeeting]
) -> tuple[list[str], list[tuple[Choice, ...]]]:
    """The chosen meeting with one big button per reason, then the other meetings."""
    key = "absence.pick_reason_late" if chosen.starts_at <= context.now else "absence.pick_reason"
    lines = [context.t(key, title=chosen.title, when=_when(context, cell, chosen.starts_at))]
    rows: list[tuple[Choice, ...]] = [
        (Choice(context.t(f"absence.button.{reason}"), f"{PICK_REASON}:{chosen.id}:{reason}"),)
        for reason in AbsenceReason
    ]
    for other in others:
        label = context.t(
            "absence.button.other_meeting",
            title=other.title[:40],
            day=_day(context, cell, other.starts_at),
        )
        rows.append((Choice(label, f"{PICK_MEETING}:{other.id}"),))
    return lines, rows


async def _home(
    context: Context, cell: OrgUnit, chosen_id: int | None, *, replace: bool = False
) -> Reply:
    """The member's page: their live requests, the meeting to ask about (the next one
    unless another was picked) with the reasons, and for leaders the list of requests."""
    actor = context.require_actor()
    repo = _repo(context)
    mine = await repo.mine(cell.id, actor.id, context.now)
    lines, rows = _mine_section(context, cell, mine)
    asked = {absence.meeting.id for absence in mine}
    candidates = [m for m in await repo.candidates(cell.id, context.now) if m.id not in asked]
    chosen = next((m for m in candidates if m.id == chosen_id), None)
    if chosen_id is not None and chosen is None:
        raise QuestionGone("absence.meeting_gone")
    chosen = chosen or (candidates[0] if candidates else None)
    if chosen is not None:
        others = [m for m in candidates if m.id != chosen.id]
        ask_lines, ask_rows = _ask_section(context, cell, chosen, others)
        if lines:
            lines.append("")  # a blank line between one's requests and the new one
        lines += ask_lines
        rows += ask_rows
    elif not mine:
        lines.append(context.t("absence.no_meeting"))
    if actor.leads:
        rows.append((Choice(context.t("absence.button.list"), LIST),))
    return Reply("\n".join(lines), choices=tuple(rows), replace=replace)


async def _confirm(
    context: Context,
    cell: OrgUnit,
    meeting: AbsenceMeeting,
    reason: AbsenceReason,
    note: str | None,
) -> Reply:
    """The draft, kept as the pending answer until «Gửi»; a typed text meanwhile becomes
    the note (or, for «Lý do khác», replaces the reason)."""
    await context.expect_answer(
        CONFIRM_FLOW, {"meeting": meeting.id, "reason": reason.value, "note": note}
    )
    lines = [
        context.t(
            "absence.confirm",
            title=meeting.title,
            when=_when(context, cell, meeting.starts_at),
            reason=_reason(context, reason, note),
        )
    ]
    if meeting.starts_at <= context.now:
        lines.append(context.t("absence.confirm_late"))
    lines.append(
        context.t(
            "absence.confirm_hint_other"
            if reason is AbsenceReason.OTHER
            else "absence.confirm_hint"
        )
    )
    rows = (
        (Choice(context.t("absence.button.send"), f"{SEND}:{meeting.id}", tone=Tone.PRIMARY),),
        (Choice(context.t("absence.button.drop"), DROP, tone=Tone.DESTRUCTIVE),),
    )
    return Reply("\n".join(lines), choices=rows, replace=context.inbound.choice is not None)


async def _typed(
    context: Context, flow: str, data: dict[str, object], empty_key: str
) -> str | list[Reply]:
    text = " ".join(context.inbound.text.split())
    if not text:
        await context.expect_answer(flow, data)
        return [Reply(context.t(empty_key, limit=MAX_REASON), ask_text=True)]
    if len(text) > MAX_REASON:
        await context.expect_answer(flow, data)
        return [Reply(context.t("absence.error.too_long", limit=MAX_REASON), ask_text=True)]
    return text


def _reason_from(data: dict[str, object]) -> AbsenceReason:
    value = data.get("reason")
    if value not in {reason.value for reason in AbsenceReason}:
        raise QuestionGone("absence.error.draft_gone")
    return AbsenceReason(str(value))


def _meeting_from(data: dict[str, object]) -> int:
    value = data.get("meeting")
    if not isinstance(value, int):
        raise QuestionGone("absence.error.draft_gone")
    return value


# --- the command, the flows and the buttons ----------------------------------------------------


async def absence_command(context: Context) -> list[Reply]:
    """/xinvang: in a group only a pointer to the private chat (the reason stays private);
    privately the member's page."""
    cell = context.require_cell()
    if context.inbound.is_group:
        return [Reply(context.t("absence.group_hint"), continue_privately=COMMAND)]
    return [await _home(context, cell, None)]


async def pick_meeting(context: Context, args: list[str]) -> list[Reply]:
    cell = context.require_cell()
    meeting_id = button_id(args, 0)
    await _refuse_if_asked(context, cell, meeting_id)
    return [await _home(context, cell, meeting_id, replace=True)]


async def pick_reason(context: Context, args: list[str]) -> list[Reply]:
    cell = context.require_cell()
    meeting_id = button_id(args, 0)
    if len(args) != 2 or args[1] not in {reason.value for reason in AbsenceReason}:
        raise QuestionGone("error.stale_button")
    reason = AbsenceReason(args[1])
    meeting = await _candidate(context, cell, meeting_id)
    await _refuse_if_asked(context, cell, meeting.id)
    if reason is AbsenceReason.OTHER:
        await context.expect_answer(REASON_FLOW, {"meeting": meeting.id})
        return [Reply(context.t("absence.ask_reason", limit=MAX_REASON), ask_text=True)]
    return [await _confirm(context, cell, meeting, reason, None)]


async def reason_answer(context: Context, data: dict[str, object]) -> list[Reply]:
    """The text of «Lý do khác»: required, one short paragraph."""
    cell = context.require_cell()
    typed = await _typed(context, REASON_FLOW, data, "absence.error.empty_reason")
    if isinstance(typed, list):
        return typed
    meeting = await _candidate(context, cell, _meeting_from(data))
    return [await _confirm(context, cell, meeting, AbsenceReason.OTHER, typed)]


async def confirm_answer(context: Context, data: dict[str, object]) -> list[Reply]:
    """Text typed while the draft waits for «Gửi»: it becomes the note."""
    cell = context.require_cell()
    typed = await _typed(context, CONFIRM_FLOW, data, "absence.error.empty_note")
    if isinstance(typed, list):
        return typed
    meeting = await _candidate(context, cell, _meeting_from(data))
    return [await _confirm(context, cell, meeting, _reason_from(data), typed)]


async def send(context: Context, args: list[str]) -> list[Reply]:
    """«Gửi»: file the request and put it before the secretary and deputy."""
    cell = context.require_cell()
    actor = context.require_actor()
    meeting_id = button_id(args, 0)
    pending = await context.take_question()
    if pending is None or pending.flow != CONFIRM_FLOW or pending.data.get("meeting") != meeting_id:
        if pending is not None:  # another question was waiting: leave it waiting
            await context.expect_answer(pending.flow, pending.data)
        raise QuestionGone("absence.error.draft_gone")
    note = pending.data.get("note")
    reason = _reason_from(pending.data)
    try:
        absence = await _repo(context).request(
            cell_id=cell.id,
            meeting_id=meeting_id,
            member_id=actor.id,
            reason=reason,
            reason_text=note if isinstance(note, str) else None,
            actor=context.audit_actor,
            now=context.now,
        )
    except AbsenceMeetingGone:
        raise QuestionGone("absence.meeting_gone") from None
    except AbsenceExists as error:
        raise _exists_error(context, cell, error.existing) from None
    leaders = await _other_leaders(context, cell)
    key = "absence.sent" if leaders else "absence.sent_no_leader"
    when = _when(context, cell, absence.meeting.starts_at)
    replies = [Reply(context.t(key, title=absence.meeting.title, when=when), replace=True)]
    card = _leader_card(context, cell, absence)
    buttons = _decide_buttons(context, absence)
    replies += [private_reply(card, where, account, buttons) for where, account in leaders]
    return replies


async def drop(context: Context, _args: list[str]) -> list[Reply]:
    inbound = context.inbound
    await context.services.pending.forget(
        platform=inbound.platform, chat_id=inbound.chat_id, user_id=inbound.user_id
    )
    return [Reply(context.t("absence.dropped"), replace=True)]


async def decide_request(
    context: Context, cell: OrgUnit, absence_id: int, approve: bool
) -> tuple[Absence, bool, list[Reply]]:
    """A leader approves or declines a request: the decided request, whether the member was
    marked absent with reason by it, and the member's private notice."""
    actor = context.require_actor()
    repo = _repo(context)
    try:
        if (await repo.get(cell.id, absence_id)).member_id == actor.id:
            raise UserError("absence.error.own_request")
        absence, excused = await repo.decide(
            cell_id=cell.id,
            absence_id=absence_id,
            approve=approve,
            decided_by=actor.id,
            actor=context.audit_actor,
            now=context.now,
        )
    except AbsenceNotFound:
        raise UserError("absence.not_found") from None
    except AbsenceMeetingGone:
        raise QuestionGone("absence.meeting_gone") from None
    except AbsenceSettled as error:
        raise UserError(
            "absence.already_settled",
            name=error.current.member_name,
            status=_status(context, error.current.status),
        ) from None
    when = _when(context, cell, absence.meeting.starts_at)
    told = context.t(f"absence.told.{absence.status}", title=absence.meeting.title, when=when)
    if excused:
        told += "\n" + context.t("absence.told_excused")
    accounts = await context.services.links.member_accounts(
        absence.member_id, context.inbound.platform
    )
    return absence, excused, [private_reply(told, where, account) for where, account in accounts]


def decided_card(context: Context, cell: OrgUnit, absence: Absence) -> Reply:
    """The leader's request card once decided: its buttons go, it says what was done."""
    done = context.t(f"absence.decided.{absence.status}")
    return Reply(_leader_card(context, cell, absence) + "\n" + done, replace=True)


async def withdraw(context: Context, args: list[str]) -> list[Reply]:
    """«Rút lại»: the member's own request, before the meeting starts; leaders are told."""
    cell = context.require_cell()
    actor = context.require_actor()
    try:
        absence = await _repo(context).withdraw(
            cell_id=cell.id,
            absence_id=button_id(args, 0),
            member_id=actor.id,
            actor=context.audit_actor,
            now=context.now,
        )
    except AbsenceNotFound:
        raise UserError("absence.not_found") from None
    except AbsenceMeetingGone:
        raise QuestionGone("absence.meeting_gone") from None
    except AbsenceTooLate:
        raise UserError("absence.error.too_late_to_withdraw") from None
    except AbsenceSettled as error:
        raise UserError(
            "absence.error.cannot_withdraw", status=_status(context, error.current.status)
        ) from None
    title, when = absence.meeting.title, _when(context, cell, absence.meeting.starts_at)
    replies = [Reply(context.t("absence.withdrawn", title=title, when=when), replace=True)]
    note = context.t("absence.withdrawn_leader", name=actor.full_name, title=title, when=when)
    leaders = await _other_leaders(context, cell)
    replies += [private_reply(note, where, account) for where, account in leaders]
    return replies


async def list_requests(context: Context, args: list[str]) -> list[Reply]:
    """«Danh sách xin vắng»: the next and recent meetings, then one meeting's requests, with
    the decision buttons of those still waiting."""
    cell = context.require_cell()
    if not args:
        return [await _meetings_menu(context, cell)]
    return [await _meeting_requests(context, cell, button_id(args, 0))]


async def _meetings_menu(context: Context, cell: OrgUnit) -> Reply:
    repo = _repo(context)
    rows = []
    for meeting in await repo.recent_meetings(cell.id, context.now):
        count = len(await repo.for_meeting(cell.id, meeting.id))
        label = context.t(
            "absence.button.meeting",
            title=meeting.title[:40],
            day=_day(context, cell, meeting.starts_at),
            count=count,
        )
        rows.append((Choice(label, f"{LIST}:{meeting.id}"),))
    key = "absence.list.pick" if rows else "absence.list.no_meetings"
    return Reply(context.t(key), choices=tuple(rows), replace=True)


async def _meeting_requests(context: Context, cell: OrgUnit, meeting_id: int) -> Reply:
    try:
        meeting = await context.services.meetings.in_cell(cell.id, meeting_id)
    except MeetingNotFound:
        raise QuestionGone("absence.meeting_gone") from None
    requests = await _repo(context).for_meeting(cell.id, meeting_id)
    lines = [
        context.t(
            "absence.list.header",
            title=meeting.title,
            when=_when(context, cell, meeting.starts_at),
            count=len(requests),
        )
    ]
    me = context.require_actor().id
    buttons: list[tuple[Choice, ...]] = []
    for number, absence in enumerate(requests, start=1):
        key = "absence.list.line_late" if absence.late else "absence.list.line"
        lines.append(
            context.t(
                key,
                n=number,
                name=absence.member_name,
                reason=_reason(context, absence.reason, absence.reason_text),
                status=_status(context, absence.status),
            )
        )
        if absence.status is AbsenceStatus.PENDING and absence.member_id != me:
            name = absence.member_name[:30]
            approve = context.t("absence.button.approve_named", name=name)
            decline = context.t("absence.button.decline_named", name=name)
            buttons.append(
                (
                    Choice(approve, f"{DECIDE}:{absence.id}:y"),
                    Choice(decline, f"{DECIDE}:{absence.id}:n"),
                )
            )
    if not requests:
        lines.append(context.t("absence.list.empty"))
    buttons.append((Choice(context.t("absence.button.back"), LIST),))
    return Reply("\n".join(lines), choices=tuple(buttons), replace=True)
