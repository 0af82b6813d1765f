"""Attendance at a meeting (/diemdanh): leaders open check-in, members tap "present" in the
group (or online, privately), the secretary marks anyone privately; closing (handlers/closing.py)
announces the count in the group and sends the minutes draft privately to the secretary, whose
text is written here; /bienban fetches the minutes later.

The count follows the rules in DOMAIN.md: exempted members are in the membership total but
are not expected, so they never lower the attendance rate; a meeting meets the bar when more
than 85% of those expected are present and nobody is absent without reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from typing import Protocol
from zoneinfo import ZoneInfo

from babel.numbers import format_percent

from handlers.context import Context, QuestionGone, UserError, button_id
from handlers.core import Choice, Platform, Reply
from handlers.feedback import minutes_section
from handlers.i18n import Texts
from handlers.numbers import parse_row_id
from storage.attendance import (
    CHECKIN_LOOKAHEAD,
    AttendanceRepository,
    CheckinClosed,
    CheckinMeeting,
    CheckinMeetingNotFound,
    CheckinNotOpen,
    CheckinSnapshot,
    Mark,
)
from storage.feedback import FeedbackSummary
from storage.models import AttendanceMode, AttendanceState, MemberStatus, OrgUnit, Role

# Choice-data prefixes (register them in handlers/catalog.py).
CHECKIN = "ci"  # ci:<meeting>:<mode>            a member says "present"
CLOSE = "cc"  # cc:<meeting>                     a leader closes check-in
MARK = "cm"  # cm:<meeting>:<member>:<state>    a leader marks someone
PAGE = "cp"  # cp:<meeting>:<page>              a leader pages through the roster

PAGE_SIZE = 20
BAR = Fraction(85, 100)  # attendance must be strictly above this
# Ids in choice data are ours, but a forged one must not overflow a 64-bit column.
# The secretary's tap cycles: not yet marked / absent → present → excused → absent → …
NEXT_STATE = {
    None: AttendanceState.PRESENT,
    AttendanceState.ABSENT: AttendanceState.PRESENT,
    AttendanceState.PRESENT: AttendanceState.EXCUSED,
    AttendanceState.EXCUSED: AttendanceState.ABSENT,
}
EXEMPT = (MemberStatus.EXEMPTED, MemberStatus.TEMPORARILY_EXEMPTED)


# --- the count -------------------------------------------------------------------------------


class Attendee(Protocol):
    """Anyone on the roster: a storage Member or a RosterEntry."""

    @property
    def id(self) -> int: ...

    @property
    def full_name(self) -> str: ...

    @property
    def status(self) -> MemberStatus: ...


@dataclass(frozen=True, slots=True)
class Tally:
    """Who was expected, who came and how, and who was absent with or without reason."""

    official: tuple[Attendee, ...]
    probationary: tuple[Attendee, ...]
    exempted: tuple[Attendee, ...]
    temporarily_exempted: tuple[Attendee, ...]
    in_person: tuple[Attendee, ...]  # expected members present in the room
    online: tuple[Attendee, ...]  # expected members present online
    exempted_present: tuple[Attendee, ...]  # came although not expected
    excused: tuple[Attendee, ...]  # expected, absent with an approved reason
    unexcused: tuple[Attendee, ...]  # expected, absent without reason (or never marked)
    online_ids: frozenset[int]

    @property
    def total(self) -> int:
        """The membership total: exempted members are part of it."""
        return (
            len(self.official)
            + len(self.probationary)
            + len(self.exempted)
            + len(self.temporarily_exempted)
        )

    @property
    def expected(self) -> int:
        return len(self.official) + len(self.probationary)

    @property
    def present(self) -> int:
        """Expected members present; exempted members who came are counted apart."""
        return len(self.in_person) + len(self.online)

    @property
    def rate(self) -> Fraction | None:
        return Fraction(self.present, self.expected) if self.expected else None

    @property
    def meets_bar(self) -> bool:
        return self.rate is not None and self.rate > BAR and not self.unexcused

    @property
    def present_ids(self) -> frozenset[int]:
        """Everyone who came, expected or not."""
        return frozenset(m.id for m in (*self.in_person, *self.online, *self.exempted_present))


def tally(roster: Iterable[Attendee], marks: Mapping[int, Mark]) -> Tally:
    """Count a meeting from the active roster and the marks made. Marks of people no longer
    on the roster are ignored; an expected member without a mark is absent without reason;
    a present mark without a mode counts as in person."""
    groups: dict[MemberStatus, list[Attendee]] = {status: [] for status in MemberStatus}
    in_person: list[Attendee] = []
    online: list[Attendee] = []
    exempted_present: list[Attendee] = []
    excused: list[Attendee] = []
    unexcused: list[Attendee] = []
    for member in roster:
        groups[member.status].append(member)
        mark = marks.get(member.id)
        state = mark.state if mark else AttendanceState.ABSENT
        if member.status in EXEMPT:
            if state is AttendanceState.PRESENT:
                exempted_present.append(member)
        elif state is AttendanceState.PRESENT:
            is_online = mark is not None and mark.mode is AttendanceMode.ONLINE
            (online if is_online else in_person).append(member)
        elif state is AttendanceState.EXCUSED:
            excused.append(member)
        else:
            unexcused.append(member)
    online_ids = frozenset(
        member_id
        for member_id, mark in marks.items()
        if mark.state is AttendanceState.PRESENT and mark.mode is AttendanceMode.ONLINE
    )
    return Tally(
        official=tuple(groups[MemberStatus.OFFICIAL]),
        probationary=tuple(groups[MemberStatus.PROBATIONARY]),
        exempted=tuple(groups[MemberStatus.EXEMPTED]),
        temporarily_exempted=tuple(groups[MemberStatus.TEMPORARILY_EXEMPTED]),
        in_person=tuple(in_person),
        online=tuple(online),
        exempted_present=tuple(exempted_present),
        excused=tuple(excused),
        unexcused=tuple(unexcused),
        online_ids=online_ids,
    )


def percent(texts: Texts, rate: Fraction | None) -> str:
    if rate is None:
        return "—"
    return format_percent(float(rate), "#,##0.0%", locale=texts.language)


# --- rendering -------------------------------------------------------------------------------


def _zone(cell: OrgUnit) -> ZoneInfo:
    return ZoneInfo(cell.timezone)


def _when(texts: Texts, cell: OrgUnit, meeting: CheckinMeeting) -> str:
    return texts.datetime(meeting.starts_at.astimezone(_zone(cell)))


def _names(texts: Texts, people: Iterable[Attendee], key: str) -> str:
    listed = [person.full_name for person in people]
    return ", ".join(listed) if listed else texts(key)


# A good meeting lasts at least this long (DOMAIN.md, guidance of 2018).
LONG_ENOUGH = timedelta(minutes=90)


def criteria(
    texts: Texts, meeting: CheckinMeeting, counts: Tally, documents_before: int
) -> list[str]:
    """The quality criteria of DOMAIN.md the data can judge, one line each, passed or not:
    attendance above 85 %, nobody absent without reason, at least 90 minutes, documents
    sent before the meeting, minutes made."""
    ended = meeting.ended_at
    minutes = int((ended - meeting.starts_at).total_seconds() // 60) if ended else None
    judged = (
        (
            counts.rate is not None and counts.rate > BAR,
            texts("quality.rate", rate=percent(texts, counts.rate)),
        ),
        (not counts.unexcused, texts("quality.unexcused", count=len(counts.unexcused))),
        (
            ended is not None and ended - meeting.starts_at >= LONG_ENOUGH,
            texts("quality.duration", minutes=max(minutes or 0, 0)),
        ),
        (documents_before > 0, texts("quality.documents", count=documents_before)),
        (True, texts("quality.minutes")),
    )
    lines = [texts("quality.header")]
    lines += [texts("quality.passed" if ok else "quality.failed", line=line) for ok, line in judged]
    return lines


def summary_text(
    texts: Texts,
    cell: OrgUnit,
    meeting: CheckinMeeting,
    counts: Tally,
    *,
    names: bool,
    documents_before: int = 0,
) -> str:
    """What check-in's close announces: numbers, the quality verdict and, only when ``names``
    (the leaders privately, or a cell that chose it for its group), who was absent. Never
    personal data, never the text of anyone's reason."""
    lines = [
        texts("attendance.summary.header", title=meeting.title, when=_when(texts, cell, meeting)),
        texts(
            "attendance.summary.total",
            total=counts.total,
            official=len(counts.official),
            probationary=len(counts.probationary),
            exempted=len(counts.exempted),
            temporarily_exempted=len(counts.temporarily_exempted),
        ),
        texts(
            "attendance.summary.present",
            present=counts.present,
            expected=counts.expected,
            in_person=len(counts.in_person),
            online=len(counts.online),
            rate=percent(texts, counts.rate),
        ),
    ]
    if counts.exempted_present:  # came although exempted: no one is shamed by this line
        lines.append(
            texts(
                "attendance.summary.exempted_present",
                count=len(counts.exempted_present),
                names=_names(texts, counts.exempted_present, "attendance.nobody"),
            )
        )
    if names:
        for key, people in (("excused", counts.excused), ("unexcused", counts.unexcused)):
            lines.append(
                texts(
                    f"attendance.summary.{key}",
                    count=len(people),
                    names=_names(texts, people, "attendance.nobody"),
                )
            )
    else:
        lines.append(
            texts(
                "attendance.summary.absent_counts",
                excused=len(counts.excused),
                unexcused=len(counts.unexcused),
            )
        )
    if counts.meets_bar:
        lines.append(texts("attendance.summary.meets"))
    else:
        if counts.rate is None or counts.rate <= BAR:
            lines.append(texts("attendance.summary.low_rate", rate=percent(texts, counts.rate)))
        if counts.unexcused:
            lines.append(texts("attendance.summary.has_unexcused", count=len(counts.unexcused)))
    lines += ["", *criteria(texts, meeting, counts, documents_before)]
    return "\n".join(lines)


def minutes_text(
    texts: Texts,
    cell: OrgUnit,
    snapshot: CheckinSnapshot,
    feedback: FeedbackSummary | None = None,
) -> str:
    """The minutes draft (biên bản): every header field DOMAIN.md lists, the attendance split
    by status, one block per agenda item for the secretary to complete, and the feedback
    received and answered since the previous meeting."""
    meeting = snapshot.meeting
    counts = tally(snapshot.roster, snapshot.marks)
    chair = next((m for m in snapshot.roster if m.role is Role.SECRETARY), None)

    def attended(group: tuple[Attendee, ...], key: str) -> str:
        present = [m for m in group if m.id in counts.present_ids]
        names = [
            texts("attendance.online_name", name=m.full_name)
            if m.id in counts.online_ids
            else m.full_name
            for m in present
        ]
        return texts(
            key,
            count=len(group),
            present=len(present),
            names=", ".join(names) if names else texts("attendance.nobody"),
        )

    lines = [
        texts(f"minutes.title.{meeting.kind}"),
        texts("minutes.cell", cell=cell.name),
        texts("minutes.meeting", title=meeting.title, id=meeting.id),
        "",
        texts("minutes.time", when=_when(texts, cell, meeting)),
        *(
            [texts("minutes.ended", when=texts.datetime(meeting.ended_at.astimezone(_zone(cell))))]
            if meeting.ended_at
            else []
        ),
        texts("minutes.place", place=meeting.place),
    ]
    if meeting.online_url:
        lines.append(texts("minutes.online", link=meeting.online_url))
    lines += [
        texts("minutes.guests"),
        texts("minutes.chair", name=chair.full_name) if chair else texts("minutes.chair_blank"),
        texts("minutes.taker"),
        texts(
            "minutes.attendance",
            present=counts.present,
            expected=counts.expected,
            total=counts.total,
            rate=percent(texts, counts.rate),
        ),
        attended(counts.official, "minutes.official"),
        attended(counts.probationary, "minutes.probationary"),
        attended(counts.exempted, "minutes.exempted"),
        attended(counts.temporarily_exempted, "minutes.temporarily_exempted"),
        texts("minutes.attached"),
        texts(
            "minutes.excused",
            count=len(counts.excused),
            names=_names(texts, counts.excused, "attendance.nobody"),
        ),
        texts(
            "minutes.unexcused",
            count=len(counts.unexcused),
            names=_names(texts, counts.unexcused, "attendance.nobody"),
        ),
        "",
        texts("minutes.content"),
    ]
    items = [line.strip() for line in meeting.agenda.splitlines() if line.strip()]
    for number, item in enumerate(items or [""], start=1):
        heading = (
            texts("minutes.item", n=number, item=item)
            if item
            else texts("minutes.item_blank", n=number)
        )
        lines += [heading, texts("minutes.speakers"), texts("minutes.conclusion")]
    lines += ["", *criteria(texts, meeting, counts, snapshot.documents_before)]
    if feedback is not None:
        lines += ["", minutes_section(texts, cell, feedback)]
    lines += ["", texts("minutes.other"), texts("minutes.end"), "", texts("minutes.signatures")]
    return "\n".join(lines)


# --- helpers ---------------------------------------------------------------------------------


def _repo(context: Context) -> AttendanceRepository:
    return context.services.attendance


@contextmanager
def checkin_errors(*, closed_key: str = "attendance.closed") -> Iterator[None]:
    """Storage's check-in conflicts, as messages the person can act on."""
    try:
        yield
    except CheckinMeetingNotFound:
        raise UserError("attendance.meeting_gone") from None
    except CheckinNotOpen:
        raise UserError("attendance.not_open") from None
    except CheckinClosed:
        raise UserError(closed_key) from None


async def group_chats(context: Context, cell: OrgUnit) -> list[tuple[str, Platform]]:
    """The cell's groups on every platform, as (chat id, platform)."""
    return [
        (chat.external_id, Platform(chat.platform))
        for chat in await context.services.cells.chats_of(cell.id)
    ]


def _checkin_message(context: Context, cell: OrgUnit, meeting: CheckinMeeting) -> Reply:
    texts = context.services.texts
    text = context.t(
        "attendance.open_group",
        title=meeting.title,
        when=_when(texts, cell, meeting),
        place=meeting.place,
    )
    rows = (
        (Choice(context.t("attendance.button.in_person"), f"{CHECKIN}:{meeting.id}:in_person"),),
        (Choice(context.t("attendance.button.online"), f"{CHECKIN}:{meeting.id}:online"),),
        (Choice(context.t("attendance.button.close"), f"{CLOSE}:{meeting.id}"),),
    )
    return Reply(text, choices=rows)


def _closed_error(context: Context, cell: OrgUnit, meeting: CheckinMeeting) -> UserError:
    moment = meeting.checkin_closed_at or meeting.starts_at
    return UserError(
        "attendance.already_closed",
        title=meeting.title,
        when=context.services.texts.datetime(moment.astimezone(_zone(cell))),
    )


async def _no_meeting(context: Context, cell: OrgUnit) -> Reply:
    coming = await _repo(context).next_after(cell.id, context.now)
    if coming is None:
        return Reply(context.t("attendance.no_meeting_scheduled"))
    texts = context.services.texts
    opens = (coming.starts_at - CHECKIN_LOOKAHEAD).astimezone(_zone(cell))
    return Reply(
        context.t(
            "attendance.no_meeting_now",
            title=coming.title,
            when=_when(texts, cell, coming),
            opens=texts.datetime(opens),
        )
    )


async def _roster_view(
    context: Context,
    cell: OrgUnit,
    meeting: CheckinMeeting,
    *,
    page: int = 0,
    focus: int | None = None,
    note: str | None = None,
    replace: bool = False,
) -> Reply:
    """The leader's private marking sheet: one big button per member, showing their state;
    a tap moves them to the next state."""
    roster = await context.services.members.roster(cell.id)
    marks = await _repo(context).marks(meeting.id)
    counts = tally(roster, marks)
    pages = max(1, -(-len(roster) // PAGE_SIZE))
    if focus is not None:
        index = next((i for i, m in enumerate(roster) if m.id == focus), 0)
        page = index // PAGE_SIZE
    page = min(max(page, 0), pages - 1)
    texts = context.services.texts
    lines = [note] if note else []
    lines.append(
        context.t(
            "attendance.sheet_header",
            title=meeting.title,
            when=_when(texts, cell, meeting),
            present=counts.present,
            expected=counts.expected,
            excused=len(counts.excused),
            unexcused=len(counts.unexcused),
        )
    )
    if pages > 1:
        lines.append(context.t("attendance.roster_page", page=page + 1, pages=pages))
    rows: list[tuple[Choice, ...]] = []
    for member in roster[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]:
        mark = marks.get(member.id)
        state = mark.state if mark else None
        name = (
            context.t("attendance.name_exempted", name=member.full_name)
            if member.status in EXEMPT
            else member.full_name
        )
        label = context.t(f"attendance.button.member.{state or 'none'}", name=name)
        data = f"{MARK}:{meeting.id}:{member.id}:{NEXT_STATE[state]}"
        rows.append((Choice(label, data),))
    navigation = []
    if page > 0:
        navigation.append(
            Choice(context.t("attendance.button.previous"), f"{PAGE}:{meeting.id}:{page - 1}")
        )
    if page + 1 < pages:
        navigation.append(
            Choice(context.t("attendance.button.next"), f"{PAGE}:{meeting.id}:{page + 1}")
        )
    if navigation:
        rows.append(tuple(navigation))
    rows.append((Choice(context.t("attendance.button.close"), f"{CLOSE}:{meeting.id}"),))
    return Reply("\n".join(lines), choices=tuple(rows), replace=replace)


# --- commands and buttons --------------------------------------------------------------------


async def attendance_command(context: Context) -> list[Reply]:
    """/diemdanh: open check-in for the meeting happening now. In the group it posts the
    check-in message; privately it also shows the leader the marking sheet."""
    cell = context.require_cell()
    if not context.require_actor().leads:
        if context.inbound.is_group:
            # A member wanting to check in is shown where: the «Có mặt» button.
            raise UserError("attendance.member_hint")
        return [await _online_card(context, cell)]
    repo = _repo(context)
    meeting = await repo.current(cell.id, context.now)
    if meeting is None:
        return [await _no_meeting(context, cell)]
    if meeting.is_closed:
        raise _closed_error(context, cell, meeting)
    with checkin_errors():
        meeting, opened = await repo.open(
            cell_id=cell.id, meeting_id=meeting.id, actor=context.audit_actor, now=context.now
        )
    if context.inbound.is_group:
        return [_checkin_message(context, cell, meeting)]
    replies: list[Reply] = []
    note = None
    if opened:
        groups = await group_chats(context, cell)
        message = _checkin_message(context, cell, meeting)
        replies = [
            Reply(message.text, choices=message.choices, chat_id=chat_id, platform=platform)
            for chat_id, platform in groups
        ]
        note = context.t("attendance.opened_in_group" if groups else "attendance.opened_no_group")
    return [await _roster_view(context, cell, meeting, note=note), *replies]


async def _online_card(context: Context, cell: OrgUnit) -> Reply:
    """/diemdanh privately, for a member: while check-in is open, one button to say «present,
    online» (members far away follow the meeting without the group at hand)."""
    meeting = await _repo(context).current(cell.id, context.now)
    if meeting is None:
        # No meeting now: what a member does when there is one (the leaders' «how to schedule»
        # is not for them).
        return Reply(context.t("attendance.member_hint"))
    if meeting.is_closed:
        raise _closed_error(context, cell, meeting)
    when = _when(context.services.texts, cell, meeting)
    if not meeting.is_open:
        return Reply(context.t("attendance.online.not_open", title=meeting.title, when=when))
    button = Choice(context.t("attendance.button.online_private"), f"{CHECKIN}:{meeting.id}:online")
    text = context.t("attendance.online.card", title=meeting.title, when=when)
    return Reply(text, choices=((button,),))


async def member_checkin(context: Context, args: list[str]) -> list[Reply]:
    """A member's tap on "present": in person or online in the group, online privately (in
    the room one checks in on the group's card); tapping again changes the mode."""
    cell = context.require_cell()
    actor = context.require_actor()
    meeting_id = button_id(args, 0)
    if len(args) != 2 or args[1] not in {mode.value for mode in AttendanceMode}:
        raise QuestionGone("error.stale_button")
    mode = AttendanceMode(args[1])
    private = not context.inbound.is_group
    if private and mode is not AttendanceMode.ONLINE:
        raise QuestionGone("error.stale_button")
    with checkin_errors():
        previous, _ = await _repo(context).mark(
            cell_id=cell.id,
            meeting_id=meeting_id,
            member_id=actor.id,
            state=AttendanceState.PRESENT,
            mode=mode,
            marked_by=actor.id,
            actor=context.audit_actor,
            now=context.now,
        )
    if previous is None or previous.state is not AttendanceState.PRESENT:
        key = "attendance.marked"
    elif previous.mode is mode:
        key = "attendance.already_marked"
    else:
        key = "attendance.mode_changed"
    mode_label = context.t(f"attendance.mode.{mode}")
    text = context.t(key, name=actor.full_name, mode=mode_label)
    # Privately the card is the member's own: its button goes once it has done its work.
    return [Reply(text, replace=True) if private else Reply(text, popup=True)]


async def leader_mark(context: Context, args: list[str]) -> list[Reply]:
    """A leader's tap on a member in the marking sheet: set the state it names."""
    cell = context.require_cell()
    actor = context.require_actor()
    meeting_id, member_id = button_id(args, 0), button_id(args, 1)
    if len(args) != 3 or args[2] not in {state.value for state in AttendanceState}:
        raise QuestionGone("error.stale_button")
    state = AttendanceState(args[2])
    repo = _repo(context)
    with checkin_errors(closed_key="attendance.closed_already"):
        meeting = await repo.in_cell(cell.id, meeting_id)
        member = await context.services.members.in_cell(cell.id, member_id)
        await repo.mark(
            cell_id=cell.id,
            meeting_id=meeting.id,
            member_id=member.id,
            state=state,
            # The secretary marks those in the room, often members without a phone.
            mode=AttendanceMode.IN_PERSON if state is AttendanceState.PRESENT else None,
            marked_by=actor.id,
            actor=context.audit_actor,
            now=context.now,
        )
    done = context.t(
        "attendance.set_by_leader",
        name=member.full_name,
        state=context.t(f"attendance.state.{state}"),
    )
    sheet = await _roster_view(context, cell, meeting, focus=member.id, replace=True)
    return [Reply(done, popup=True), sheet]


async def roster_page(context: Context, args: list[str]) -> list[Reply]:
    cell = context.require_cell()
    meeting_id, page = button_id(args, 0), button_id(args, 1)
    with checkin_errors():
        meeting = await _repo(context).in_cell(cell.id, meeting_id)
    if meeting.is_closed:
        raise _closed_error(context, cell, meeting)
    return [await _roster_view(context, cell, meeting, page=page, replace=True)]


def minutes_reply_text(context: Context, meeting: CheckinMeeting) -> str:
    return context.t("minutes.intro", id=meeting.id) + "\n\n" + (meeting.minutes or "")


async def minutes_command(context: Context) -> list[Reply]:
    """/bienban [meeting number]: the stored minutes draft, for the leader's own cell only."""
    cell = context.require_cell()
    repo = _repo(context)
    argument = context.inbound.args.strip().lstrip("#")
    meeting: CheckinMeeting | None
    if argument:
        meeting_id = parse_row_id(argument)
        if meeting_id is None:
            raise UserError("minutes.bad_number")
        try:
            meeting = await repo.in_cell(cell.id, meeting_id)
        except CheckinMeetingNotFound:
            meeting = None
        if meeting is None or meeting.minutes is None:
            raise UserError("minutes.not_found", id=argument)
    else:
        meeting = await repo.latest_minutes(cell.id)
        if meeting is None:
            raise UserError("minutes.none")
    return [Reply(minutes_reply_text(context, meeting))]
