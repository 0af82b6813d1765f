"""Closing check-in, and keeping its result true afterwards.

«Kết thúc điểm danh» first shows the leader, privately, what closing will record: the counts,
who will be marked absent without reason, and the absence requests still undecided, which
can be decided right there. The leader who closes is counted present unless they say they
did not attend. The group then hears the totals and the quality verdict; the absentees'
names go privately to the leaders and into the minutes (the rules name absentees in the
meeting, not in a chat), unless the cell chose to name them in the group too.

An absence decided after the close updates the attendance, the minutes draft (sent again to
the secretary) and so every report; «🏁 Họp xong» records when the meeting ended.
"""

from __future__ import annotations

from dataclasses import replace
from zoneinfo import ZoneInfo

from handlers import absences
from handlers.attendance import (
    checkin_errors,
    group_chats,
    minutes_reply_text,
    minutes_text,
    summary_text,
    tally,
)
from handlers.context import Context, QuestionGone, button_id
from handlers.core import Choice, Reply, private_reply
from storage.absences import Absence, AbsenceNotFound
from storage.attendance import CheckinMeeting, CheckinSnapshot, Mark
from storage.models import AbsenceStatus, AttendanceMode, AttendanceState, OrgUnit

# Choice-data prefixes (register them in handlers/catalog.py); «Kết thúc điểm danh» itself
# is attendance.CLOSE, on the check-in card and the marking sheet.
CONFIRM = "cy"  # cy:<meeting>:<1 present|0 not>  the leader confirms the close
DECIDE_HERE = "cd"  # cd:<meeting>:<absence>:<y|n>  a request decided on the confirmation
NAMES = "cg"  # cg:<meeting>:<1|0>                the cell names absentees in its group, or not
ENDED = "ce"  # ce:<meeting>                      the meeting has ended now


def _when(context: Context, cell: OrgUnit, meeting: CheckinMeeting) -> str:
    return context.services.texts.datetime(meeting.starts_at.astimezone(ZoneInfo(cell.timezone)))


async def _open_meeting(context: Context, cell: OrgUnit, args: list[str]) -> CheckinMeeting:
    meeting_id = button_id(args, 0)
    with checkin_errors(closed_key="attendance.closed_already"):
        meeting = await context.services.attendance.in_cell(cell.id, meeting_id)
    if meeting.is_closed:
        raise QuestionGone("attendance.closed_already")
    if not meeting.is_open:
        raise QuestionGone("attendance.not_open")
    return meeting


async def _confirmation(
    context: Context, cell: OrgUnit, meeting: CheckinMeeting, *, replace_card: bool
) -> Reply:
    """What closing will record, counting the leader present, with the undecided requests."""
    actor = context.require_actor()
    roster = await context.services.members.roster(cell.id)
    marks = dict(await context.services.attendance.marks(meeting.id))
    mine = marks.get(actor.id)
    if mine is None or mine.state is not AttendanceState.PRESENT:
        marks[actor.id] = Mark(
            actor.id, AttendanceState.PRESENT, AttendanceMode.IN_PERSON, actor.id, context.now
        )
    counts = tally(roster, marks)
    waiting = [
        absence
        for absence in await context.services.absences.for_meeting(cell.id, meeting.id)
        if absence.status is AbsenceStatus.PENDING
    ]
    nobody = context.t("attendance.nobody")
    lines = [
        context.t("closing.header", title=meeting.title, when=_when(context, cell, meeting)),
        context.t(
            "closing.counts",
            present=counts.present,
            expected=counts.expected,
            excused=len(counts.excused),
        ),
        context.t(
            "closing.absent",
            count=len(counts.unexcused),
            names=", ".join(m.full_name for m in counts.unexcused) or nobody,
        ),
    ]
    rows: list[tuple[Choice, ...]] = []
    if waiting:
        lines.append(
            context.t(
                "closing.waiting",
                count=len(waiting),
                names=", ".join(a.member_name for a in waiting),
            )
        )
        rows += [_decision_row(context, meeting, a) for a in waiting if a.member_id != actor.id]
    lines.append(context.t("closing.you_present"))
    lines.append(
        context.t("closing.names_in_group" if cell.absentees_in_group else "closing.names_private")
    )
    toggle = "closing.button.names_off" if cell.absentees_in_group else "closing.button.names_on"
    rows += [
        (Choice(context.t("closing.button.close"), f"{CONFIRM}:{meeting.id}:1"),),
        (Choice(context.t("closing.button.close_absent"), f"{CONFIRM}:{meeting.id}:0"),),
        (Choice(context.t(toggle), f"{NAMES}:{meeting.id}:{0 if cell.absentees_in_group else 1}"),),
    ]
    return Reply("\n".join(lines), choices=tuple(rows), replace=replace_card)


def _decision_row(
    context: Context, meeting: CheckinMeeting, absence: Absence
) -> tuple[Choice, ...]:
    name = absence.member_name[:30]
    return (
        Choice(
            context.t("absence.button.approve_named", name=name),
            f"{DECIDE_HERE}:{meeting.id}:{absence.id}:y",
        ),
        Choice(
            context.t("absence.button.decline_named", name=name),
            f"{DECIDE_HERE}:{meeting.id}:{absence.id}:n",
        ),
    )


async def ask_close(context: Context, args: list[str]) -> list[Reply]:
    """«Kết thúc điểm danh»: the confirmation, always privately (it names people)."""
    cell = context.require_cell()
    if len(args) != 1:
        raise QuestionGone("error.stale_button")
    meeting = await _open_meeting(context, cell, args)
    inbound = context.inbound
    card = await _confirmation(context, cell, meeting, replace_card=not inbound.is_group)
    if not inbound.is_group:
        return [card]
    return [
        Reply(context.t("closing.sent_privately"), popup=True),
        private_reply(card.text, inbound.platform, inbound.user_id, card.choices),
    ]


async def decide_here(context: Context, args: list[str]) -> list[Reply]:
    """A request decided on the confirmation: the member is told, the card shows the change."""
    cell = context.require_cell()
    if len(args) != 3 or args[2] not in ("y", "n"):
        raise QuestionGone("error.stale_button")
    meeting = await _open_meeting(context, cell, args)
    absence_id = button_id(args, 1)
    try:
        requested = await context.services.absences.get(cell.id, absence_id)
    except AbsenceNotFound:
        raise QuestionGone("absence.not_found") from None
    if requested.meeting.id != meeting.id:
        raise QuestionGone("error.stale_button")
    _, _, told = await absences.decide_request(context, cell, absence_id, args[2] == "y")
    return [await _confirmation(context, cell, meeting, replace_card=True), *told]


async def toggle_names(context: Context, args: list[str]) -> list[Reply]:
    """The cell's choice: absentees named in the group's announcement, or only privately."""
    cell = context.require_cell()
    if len(args) != 2 or args[1] not in ("0", "1"):
        raise QuestionGone("error.stale_button")
    meeting = await _open_meeting(context, cell, args)
    enabled = args[1] == "1"
    await context.services.cells.set_absentees_in_group(
        cell.id, enabled, context.audit_actor, context.now
    )
    refreshed = replace(context, cell=replace(cell, absentees_in_group=enabled))
    return [await _confirmation(refreshed, refreshed.require_cell(), meeting, replace_card=True)]


async def confirm_close(context: Context, args: list[str]) -> list[Reply]:
    """Close check-in: the totals and verdict to the group, the names privately to the
    leaders, the minutes draft to the secretary (and to the leader who closed)."""
    cell = context.require_cell()
    actor = context.require_actor()
    if len(args) != 2 or args[1] not in ("0", "1"):
        raise QuestionGone("error.stale_button")
    meeting_id = button_id(args, 0)
    texts = context.services.texts
    # The draft is written inside the close transaction, synchronously: read this first.
    feedback = await context.services.feedback.summary_before(
        cell_id=cell.id, meeting_id=meeting_id
    )
    with checkin_errors(closed_key="attendance.closed_already"):
        snapshot = await context.services.attendance.close(
            cell_id=cell.id,
            meeting_id=meeting_id,
            actor=context.audit_actor,
            now=context.now,
            draft=lambda taken: minutes_text(texts, cell, taken, feedback),
            present_member=actor.id if args[1] == "1" else None,
        )
    meeting = snapshot.meeting
    counts = tally(snapshot.roster, snapshot.marks)
    note = context.t(
        "attendance.closed_note",
        title=meeting.title,
        present=counts.present,
        expected=counts.expected,
    )
    # The confirmation's buttons go: its work is done.
    replies = [Reply(context.t("attendance.closed_done"), popup=True), Reply(note, replace=True)]
    documents = snapshot.documents_before
    announcement = summary_text(
        texts, cell, meeting, counts, names=cell.absentees_in_group, documents_before=documents
    )
    inbound = context.inbound
    groups = await group_chats(context, cell)
    replies += [
        Reply(announcement, chat_id=chat_id, platform=platform) for chat_id, platform in groups
    ]
    named = summary_text(texts, cell, meeting, counts, names=True, documents_before=documents)
    leaders = await context.services.links.leader_accounts(cell.id, inbound.platform)
    replies += [private_reply(named, platform, account) for platform, account in leaders]
    replies += await _minutes_to_secretary(context, cell, meeting, also_closer=True)
    # Repeated absences: a private word to the secretary, never to the group.
    replies += await absences.flag_replies(context, cell, meeting.id)
    return replies


async def _minutes_to_secretary(
    context: Context, cell: OrgUnit, meeting: CheckinMeeting, *, also_closer: bool
) -> list[Reply]:
    inbound = context.inbound
    recipients = [(str(inbound.platform), inbound.user_id)] if also_closer else []
    recipients += await context.services.links.secretary_accounts(cell.id, inbound.platform)
    ended = ((Choice(context.t("closing.button.ended"), f"{ENDED}:{meeting.id}"),),)
    draft = minutes_reply_text(context, meeting)
    return [
        private_reply(draft, platform, account, ended)
        for platform, account in dict.fromkeys(recipients)
    ]


async def _rewrite(
    context: Context, cell: OrgUnit, meeting_id: int, *, ended: bool = False
) -> CheckinSnapshot:
    texts = context.services.texts
    feedback = await context.services.feedback.summary_before(
        cell_id=cell.id, meeting_id=meeting_id
    )
    with checkin_errors():
        return await context.services.attendance.rewrite_minutes(
            cell_id=cell.id,
            meeting_id=meeting_id,
            draft=lambda taken: minutes_text(texts, cell, taken, feedback),
            ended_at=context.now if ended else None,
        )


async def meeting_ended(context: Context, args: list[str]) -> list[Reply]:
    """«🏁 Họp xong»: the meeting ends now; the minutes draft shows it and its duration."""
    cell = context.require_cell()
    if len(args) != 1:
        raise QuestionGone("error.stale_button")
    snapshot = await _rewrite(context, cell, button_id(args, 0), ended=True)
    text = minutes_reply_text(context, snapshot.meeting)
    return [Reply(context.t("closing.ended_saved"), popup=True), Reply(text, replace=True)]


async def decide(context: Context, args: list[str]) -> list[Reply]:
    """«Đồng ý» / «Không đồng ý» on a request card. Decided after check-in closed, it also
    rewrites the minutes draft (sent again to the secretary), so attendance, minutes and
    every report say the same."""
    cell = context.require_cell()
    absence_id = button_id(args, 0)
    if len(args) != 2 or args[1] not in ("y", "n"):
        raise QuestionGone("error.stale_button")
    absence, excused, told = await absences.decide_request(
        context, cell, absence_id, args[1] == "y"
    )
    replies = [absences.decided_card(context, cell, absence), *told]
    if excused:
        with checkin_errors():
            meeting = await context.services.attendance.in_cell(cell.id, absence.meeting.id)
        if meeting.is_closed:
            snapshot = await _rewrite(context, cell, meeting.id)
            notice = context.t("closing.minutes_updated", name=absence.member_name)
            again = await _minutes_to_secretary(context, cell, snapshot.meeting, also_closer=False)
            replies += [replace(reply, text=notice + "\n\n" + reply.text) for reply in again]
    return replies
