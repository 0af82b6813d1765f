"""Meetings: scheduling (one line or guided by buttons, always confirmed), the list of coming
meetings (/hop), editing and cancelling with a notice to the group, monthly series, and the
reminder text the outbox sends."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Literal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from typing_extensions import TypedDict

from handlers.context import Context, QuestionGone, UserError, button_id
from handlers.core import Choice, Platform, Reply
from handlers.fields import fold
from handlers.i18n import Texts
from handlers.menu import TASK
from handlers.numbers import ASCII_DIGITS, is_ascii_digits
from handlers.plain_words import ABSENCE, DOCUMENTS
from handlers.vi_datetime import DateTimeProblem, parse_when
from storage.cells import CellRepository
from storage.documents import DocumentRepository
from storage.meetings import Meeting, MeetingDetails, MeetingRepository, SeriesPattern
from storage.models import MeetingKind, MeetingStatus, OrgUnit, SeriesRule

CONFIRM_FLOW = "meeting_confirm"
PLACE_FLOW = "meeting_place"
TITLE_FLOW = "meeting_title"
EDIT_FLOW = "meeting_edit"
EDIT_CONFIRM_FLOW = "meeting_edit_confirm"
MAX_TITLE, MAX_PLACE, MAX_AGENDA, MAX_URL = 200, 300, 2000, 500
GUIDED_DAYS = 21
# Cells plan a year ahead at most; a date further out is a typo (or year 9999, which no reminder
# or recurrence arithmetic can follow).
MAX_AHEAD = timedelta(days=2 * 365)
GUIDED_TIMES = ("07:30", "08:00", "14:00", "19:00", "19:30", "20:00")
EDITABLE = ("time", "place", "link", "title", "agenda")


# What each question keeps between asking and answering (checked before an answer is read).
class PlaceQuestion(TypedDict):
    starts_at: datetime


class TitleQuestion(PlaceQuestion):
    place: str


class EditQuestion(TypedDict):
    meeting_id: int
    field: Literal["time", "place", "link", "title", "agenda"]


class EditDraft(TypedDict):
    """An edit shown for confirmation: the meeting as it was when previewed, and as it will be
    (a change made meanwhile by someone else makes the preview stale)."""

    meeting_id: int
    was: MeetingDetails
    becomes: MeetingDetails


# --- shared rendering ----------------------------------------------------------------------


def _zone(cell: OrgUnit) -> ZoneInfo:
    return ZoneInfo(cell.timezone)


def describe(
    texts: Texts, details: MeetingDetails, zone: ZoneInfo, documents: Sequence[str] = ()
) -> str:
    lines = [
        texts(
            "meeting.line.title", title=details.title, kind=texts(f"meeting.kind.{details.kind}")
        ),
        texts("meeting.line.when", when=texts.datetime(details.starts_at.astimezone(zone))),
        texts("meeting.line.place", place=details.place),
    ]
    if details.online_url:
        lines.append(texts("meeting.line.link", link=details.online_url))
    if details.agenda:
        lines.append(texts("meeting.line.agenda", agenda=details.agenda))
    # No "none yet" line: a document posted without naming its meeting would seem missing.
    if documents:
        lines.append(texts("meeting.line.documents", titles="; ".join(documents)))
    return "\n".join(lines)


def next_steps(
    texts: Texts, details: MeetingDetails, has_documents: bool
) -> tuple[tuple[Choice, ...], ...]:
    """What a member does next with a meeting card or a reminder: ask leave (privately; in a
    group the command points there), join online, read its documents."""
    row = [Choice(texts("menu.absence"), f"{TASK}:{ABSENCE}")]
    if details.online_url:
        row.append(Choice(texts("meeting.button.join_online"), "", url=details.online_url))
    if has_documents:
        row.append(Choice(texts("menu.documents"), f"{TASK}:{DOCUMENTS}"))
    return (tuple(row),)


async def _announce(context: Context, cell: OrgUnit, text: str) -> list[Reply]:
    """``text`` to each of the cell's group chats on every platform, plus a short note to the
    secretary when they acted from a private chat."""
    groups = await context.services.cells.chats_of(cell.id)
    replies = [
        Reply(text, chat_id=chat.external_id, platform=Platform(chat.platform)) for chat in groups
    ]
    here = (context.inbound.platform, context.inbound.chat_id)
    tapped = context.inbound.choice is not None
    if tapped or here not in {(chat.platform, chat.external_id) for chat in groups}:
        # A tapped card's work is done: its buttons go (in the group too, where anyone could
        # still tap «Lưu» and be told only leaders may) and it says what happened.
        replies.insert(0, Reply(context.t("meeting.group_told"), replace=tapped))
    return replies


# --- drafts: what the secretary is about to save ---------------------------------------------


def _draft_data(details: MeetingDetails) -> dict[str, object]:
    return {
        "kind": details.kind.value,
        "title": details.title,
        "starts_at": details.starts_at.isoformat(),
        "place": details.place,
        "online_url": details.online_url,
        "agenda": details.agenda,
    }


def _draft_from(data: dict[str, object]) -> MeetingDetails:
    try:
        return MeetingDetails(
            kind=MeetingKind(str(data["kind"])),
            title=str(data["title"]),
            starts_at=datetime.fromisoformat(str(data["starts_at"])),
            place=str(data["place"]),
            online_url=str(data["online_url"]) if data.get("online_url") else None,
            agenda=str(data.get("agenda") or ""),
        )
    except (KeyError, ValueError):
        raise QuestionGone("error.stale_button") from None


# --- checking what people type ---------------------------------------------------------------


def _check_length(value: str, limit: int, key: str) -> str:
    if len(value) > limit:
        raise UserError(key, limit=limit)
    return value


def _check_url(raw: str) -> str:
    parsed = urlparse(raw)
    if parsed.scheme not in ("http", "https") or "." not in parsed.netloc or len(raw) > MAX_URL:
        raise UserError("meeting.error.bad_link")
    return raw


def _check_future(context: Context, starts_at: datetime) -> datetime:
    if starts_at <= context.now:
        raise UserError("meeting.error.past")
    if starts_at > context.now + MAX_AHEAD:
        raise UserError("meeting.error.too_far", years=MAX_AHEAD.days // 365)
    return starts_at


def _kind_of(title: str) -> MeetingKind:
    folded = fold(title)
    if "chuyen de" in folded:
        return MeetingKind.THEMATIC
    if "chi uy" in folded:
        return MeetingKind.COMMITTEE
    return MeetingKind.REGULAR


def _parse_when(context: Context, text: str, cell: OrgUnit) -> datetime:
    try:
        return parse_when(text, now=context.now.astimezone(_zone(cell)))
    except DateTimeProblem as problem:
        raise UserError(problem.key) from None


def _split_when(context: Context, head: str, cell: OrgUnit) -> tuple[datetime, str]:
    """The longest leading run of words that reads as a date and time, and what follows."""
    words = head.split()
    # The most telling problem: one from the longest prefix that read as a date or a time
    # at all ("15/12 Hội trường" → no time given), else "not understood".
    telling: UserError | None = None
    for end in range(len(words), 0, -1):
        try:
            return _parse_when(context, " ".join(words[:end]), cell), " ".join(words[end:])
        except UserError as problem:
            if telling is None and problem.key != "when.error.unknown":
                telling = problem
    raise telling or UserError("when.error.unknown" if words else "when.error.empty")


def parse_one_line(context: Context, text: str, cell: OrgUnit) -> MeetingDetails:
    """`15/12 19:30 Hội trường KP5 https://… | Title | agenda item; agenda item`"""
    head, _, tail = text.partition("|")
    title, _, agenda = tail.partition("|")
    starts_at, rest = _split_when(context, head.strip(), cell)
    links = [word for word in rest.split() if word.lower().startswith(("http://", "https://"))]
    place = " ".join(word for word in rest.split() if word not in links)
    if not place:
        raise UserError("meeting.error.no_place")
    title = " ".join(title.split()) or context.t(
        "meeting.default_title", month=starts_at.month, year=starts_at.year
    )
    agenda_lines = [item.strip() for item in agenda.split(";") if item.strip()]
    return MeetingDetails(
        kind=_kind_of(title),
        title=_check_length(title, MAX_TITLE, "meeting.error.title_too_long"),
        starts_at=_check_future(context, starts_at),
        place=_check_length(place, MAX_PLACE, "meeting.error.place_too_long"),
        online_url=_check_url(links[0]) if links else None,
        agenda=_check_length("\n".join(agenda_lines), MAX_AGENDA, "meeting.error.agenda_too_long"),
    )


# --- scheduling ------------------------------------------------------------------------------


async def schedule_command(context: Context) -> list[Reply]:
    """/lichhop: one line with everything, or no arguments for the guided flow."""
    cell = context.require_cell()
    if context.inbound.args.strip():
        details = parse_one_line(context, context.inbound.args, cell)
        return await _confirm(context, cell, details)
    return [_day_picker(context, cell)]


def _day_picker(context: Context, cell: OrgUnit) -> Reply:
    today = context.now.astimezone(_zone(cell)).date()
    texts = context.services.texts
    days = [today + timedelta(days=n) for n in range(GUIDED_DAYS)]
    buttons = [
        Choice(
            texts(
                "meeting.day_button",
                weekday=texts(f"weekday.short.{day.weekday()}"),
                day=day.strftime("%d/%m"),
            ),
            f"md:{day.isoformat()}",
        )
        for day in days
    ]
    rows = tuple(tuple(buttons[i : i + 3]) for i in range(0, len(buttons), 3))
    return Reply(context.t("meeting.pick_day"), choices=rows)


async def pick_day(context: Context, args: list[str]) -> list[Reply]:
    day = _day_arg(args)
    rows = tuple(
        tuple(Choice(moment, f"mt:{day.isoformat()}:{moment.replace(':', '')}") for moment in pair)
        for pair in (GUIDED_TIMES[:3], GUIDED_TIMES[3:])
    )
    texts = context.services.texts
    return [Reply(context.t("meeting.pick_time", day=texts.date(day)), choices=rows, replace=True)]


async def pick_time(context: Context, args: list[str]) -> list[Reply]:
    cell = context.require_cell()
    day = _day_arg(args)
    if len(args) != 2 or len(args[1]) != 4 or not is_ascii_digits(args[1]):
        raise QuestionGone("error.stale_button")
    try:
        clock = time(int(args[1][:2]), int(args[1][2:]))
    except ValueError:
        raise QuestionGone("error.stale_button") from None
    starts_at = _check_future(context, datetime.combine(day, clock, _zone(cell)))
    await context.expect_answer(PLACE_FLOW, {"starts_at": starts_at.isoformat()})
    return [Reply(context.t("meeting.ask_place"), ask_text=True)]


def _day_arg(args: list[str]) -> date:
    try:
        return date.fromisoformat(args[0])
    except (IndexError, ValueError):
        raise QuestionGone("error.stale_button") from None


async def place_answer(context: Context, data: dict[str, object]) -> list[Reply]:
    place = " ".join(context.inbound.text.split())
    if not place:
        await context.expect_answer(PLACE_FLOW, data)
        return [Reply(context.t("meeting.error.no_place"), ask_text=True)]
    _check_length(place, MAX_PLACE, "meeting.error.place_too_long")
    await context.expect_answer(TITLE_FLOW, {**data, "place": place})
    starts_at = datetime.fromisoformat(str(data["starts_at"]))
    default = context.t("meeting.default_title", month=starts_at.month, year=starts_at.year)
    return [
        Reply(
            context.t("meeting.ask_title", default=default),
            choices=((Choice(context.t("meeting.button.default_title"), "mn"),),),
        )
    ]


async def title_answer(context: Context, data: dict[str, object]) -> list[Reply]:
    return await _title_chosen(context, data, " ".join(context.inbound.text.split()))


async def default_title(context: Context, _args: list[str]) -> list[Reply]:
    data = await context.take_answer(TITLE_FLOW)
    if data is None:
        raise QuestionGone("error.stale_button")
    return await _title_chosen(context, data, "")


async def _title_chosen(context: Context, data: dict[str, object], title: str) -> list[Reply]:
    cell = context.require_cell()
    starts_at = datetime.fromisoformat(str(data["starts_at"]))
    title = title or context.t("meeting.default_title", month=starts_at.month, year=starts_at.year)
    details = MeetingDetails(
        kind=_kind_of(title),
        title=_check_length(title, MAX_TITLE, "meeting.error.title_too_long"),
        starts_at=_check_future(context, starts_at),
        place=str(data["place"]),
        online_url=None,
        agenda="",
    )
    return await _confirm(context, cell, details)


async def _confirm(context: Context, cell: OrgUnit, details: MeetingDetails) -> list[Reply]:
    """Show what was understood; nothing is saved or sent until the secretary confirms."""
    await context.expect_answer(CONFIRM_FLOW, _draft_data(details))
    local = details.starts_at.astimezone(_zone(cell))
    texts = context.services.texts
    week = (local.day - 1) // 7 + 1
    rows = (
        (Choice(context.t("meeting.button.save_once"), "mk:once"),),
        (Choice(context.t("meeting.button.monthly_day", day=local.day), "mk:day"),),
        (
            Choice(
                context.t(
                    "meeting.button.monthly_weekday",
                    weekday=texts(f"weekday.{local.weekday()}"),
                    week=week,
                ),
                "mk:weekday",
            ),
        ),
        (Choice(context.t("meeting.button.discard"), "mk:no"),),
    )
    text = context.t("meeting.confirm", details=describe(texts, details, _zone(cell)))
    return [Reply(text, choices=rows)]


async def confirm_answer(context: Context, data: dict[str, object]) -> list[Reply]:
    """Text instead of a tap while a draft waits: keep the draft and say what to do."""
    await context.expect_answer(CONFIRM_FLOW, data)
    return [Reply(context.t("meeting.tap_to_confirm"))]


async def decide_draft(context: Context, args: list[str]) -> list[Reply]:
    cell = context.require_cell()
    choice = args[0] if args else ""
    data = await context.take_answer(CONFIRM_FLOW)
    if data is None or choice not in ("once", "day", "weekday", "no"):
        raise QuestionGone("meeting.error.draft_gone")
    if choice == "no":
        return [Reply(context.t("meeting.discarded"), replace=True)]
    details = _draft_from(data)
    _check_future(context, details.starts_at)
    repo: MeetingRepository = context.services.meetings
    if choice == "once":
        meeting = await repo.create(
            cell_id=cell.id, details=details, actor=context.audit_actor, now=context.now
        )
        announcement = context.t(
            "meeting.announce_new",
            details=describe(context.services.texts, meeting.details, _zone(cell)),
        )
        return await _announce(context, cell, announcement)
    local = details.starts_at.astimezone(_zone(cell))
    pattern = (
        SeriesPattern(SeriesRule.MONTHLY_DAY, local.time(), day_of_month=local.day)
        if choice == "day"
        else SeriesPattern(
            SeriesRule.MONTHLY_WEEKDAY,
            local.time(),
            weekday=local.weekday(),
            week_of_month=(local.day - 1) // 7 + 1 if local.day <= 28 else -1,
        )
    )
    created = await repo.create_series(
        cell_id=cell.id,
        details=details,
        pattern=pattern,
        actor=context.audit_actor,
        now=context.now,
    )
    texts = context.services.texts
    dates = ", ".join(texts.date(m.starts_at.astimezone(_zone(cell)).date()) for m in created)
    announcement = context.t(
        "meeting.announce_series",
        details=describe(texts, details, _zone(cell)),
        dates=dates,
    )
    return await _announce(context, cell, announcement)


# --- the list of coming meetings ---------------------------------------------------------------


async def list_command(context: Context) -> list[Reply]:
    """/hop: the next meetings with everything a member needs. Members get them in one message
    (one send each: /hop is the command a whole cell sends before a meeting); leaders get one
    message per meeting, so that its edit and cancel buttons sit under it."""
    cell = context.require_cell()
    coming = await context.services.meetings.upcoming(cell.id, context.now, limit=3)
    if not coming:
        return [Reply(context.t("meeting.none_upcoming"))]
    texts = context.services.texts
    titles = await context.services.documents.titles_for_meetings([m.id for m in coming])
    described = []
    for meeting in coming:
        text = describe(texts, meeting.details, _zone(cell), titles[meeting.id])
        if meeting.series_id is not None:
            text += "\n" + context.t("meeting.line.series")
        described.append(text)
    if context.actor is None or not context.actor.leads:
        steps = next_steps(texts, coming[0].details, bool(titles[coming[0].id]))
        return [Reply("\n\n".join(described), choices=steps)]
    return [
        Reply(
            text,
            choices=(
                (
                    Choice(context.t("meeting.button.edit"), f"me:{meeting.id}"),
                    Choice(context.t("meeting.button.cancel"), f"mx:{meeting.id}"),
                ),
            ),
        )
        for meeting, text in zip(coming, described, strict=True)
    ]


# --- editing and cancelling ----------------------------------------------------------------


async def _scheduled_meeting(context: Context, args: list[str]) -> tuple[OrgUnit, Meeting]:
    cell = context.require_cell()
    meeting = await context.services.meetings.get(button_id(args))
    if meeting is None or meeting.cell_id != cell.id:
        raise QuestionGone("meeting.error.not_found")
    if meeting.status is MeetingStatus.CANCELLED:
        raise QuestionGone("meeting.error.cancelled")
    return cell, meeting


async def edit_menu(context: Context, args: list[str]) -> list[Reply]:
    _, meeting = await _scheduled_meeting(context, args)
    rows = tuple(
        (Choice(context.t(f"meeting.edit.{name}"), f"mf:{meeting.id}:{name}"),) for name in EDITABLE
    )
    return [Reply(context.t("meeting.edit.pick", title=meeting.title), choices=rows)]


async def edit_ask(context: Context, args: list[str]) -> list[Reply]:
    _, meeting = await _scheduled_meeting(context, args)
    if len(args) != 2 or args[1] not in EDITABLE:
        raise QuestionGone("error.stale_button")
    await context.expect_answer(EDIT_FLOW, {"meeting_id": meeting.id, "field": args[1]})
    return [Reply(context.t(f"meeting.edit.ask.{args[1]}"), ask_text=True)]


async def edit_answer(context: Context, data: dict[str, object]) -> list[Reply]:
    meeting_id, field = data.get("meeting_id"), data.get("field")
    if not isinstance(meeting_id, int) or field not in EDITABLE:
        raise QuestionGone("error.stale_button")
    cell, meeting = await _scheduled_meeting(context, [str(meeting_id)])
    text = " ".join(context.inbound.text.split())
    details = _edited(context, cell, meeting.details, str(field), text)
    draft = {
        "meeting_id": meeting.id,
        "was": _draft_data(meeting.details),
        "becomes": _draft_data(details),
    }
    await context.expect_answer(EDIT_CONFIRM_FLOW, draft)
    return [_edit_preview(context, cell, meeting.details, details, meeting.id)]


def _changes(texts: Texts, old: MeetingDetails, new: MeetingDetails, zone: ZoneInfo) -> str:
    """One line per field that changes: «old → new»."""

    def when(details: MeetingDetails) -> str:
        return texts.datetime(details.starts_at.astimezone(zone))

    none = texts("meeting.change.none")
    pairs = (
        ("title", old.title, new.title),
        ("time", when(old), when(new)),
        ("place", old.place, new.place),
        ("link", old.online_url or none, new.online_url or none),
        ("agenda", old.agenda.replace("\n", "; ") or none, new.agenda.replace("\n", "; ") or none),
    )
    return "\n".join(
        texts("meeting.change.line", field=texts(f"meeting.edit.{name}"), old=was, new=becomes)
        for name, was, becomes in pairs
        if was != becomes
    ) or texts("meeting.change.nothing")


def _edit_preview(
    context: Context, cell: OrgUnit, old: MeetingDetails, new: MeetingDetails, meeting_id: int
) -> Reply:
    """Nothing reaches the group before «Lưu và báo nhóm»: the leader sees what will change."""
    changes = _changes(context.services.texts, old, new, _zone(cell))
    rows = (
        (Choice(context.t("meeting.button.save_edit"), f"mu:{meeting_id}"),),
        (Choice(context.t("meeting.button.drop_edit"), "mw"),),
    )
    return Reply(context.t("meeting.edit.preview", changes=changes), choices=rows)


async def edit_confirm_answer(context: Context, data: dict[str, object]) -> list[Reply]:
    """Text instead of a tap while an edit waits: keep it and say what to do."""
    await context.expect_answer(EDIT_CONFIRM_FLOW, data)
    return [Reply(context.t("meeting.edit.tap_to_confirm"))]


async def save_edit(context: Context, args: list[str]) -> list[Reply]:
    """«Lưu và báo nhóm»: the edit is saved and the groups see old → new."""
    cell, meeting = await _scheduled_meeting(context, args)
    data = await context.take_answer(EDIT_CONFIRM_FLOW)
    if data is None or data.get("meeting_id") != meeting.id:
        raise QuestionGone("meeting.error.draft_gone")
    was, becomes = data.get("was"), data.get("becomes")
    if not isinstance(was, dict) or not isinstance(becomes, dict):
        raise QuestionGone("meeting.error.draft_gone")
    if _draft_from(was) != meeting.details:
        raise QuestionGone("meeting.error.changed_meanwhile")
    details = _draft_from(becomes)
    _check_future(context, details.starts_at)
    updated = await context.services.meetings.update(
        cell_id=cell.id,
        meeting_id=meeting.id,
        details=details,
        actor=context.audit_actor,
        now=context.now,
    )
    texts = context.services.texts
    notice = context.t(
        "meeting.announce_changed",
        changes=_changes(texts, meeting.details, updated.details, _zone(cell)),
        details=describe(texts, updated.details, _zone(cell)),
    )
    return await _announce(context, cell, notice)


async def drop_edit(context: Context, _args: list[str]) -> list[Reply]:
    await context.take_answer(EDIT_CONFIRM_FLOW)
    return [Reply(context.t("meeting.edit.dropped"), replace=True)]


def _edited(
    context: Context, cell: OrgUnit, details: MeetingDetails, field: str, text: str
) -> MeetingDetails:
    if field == "time":
        return replace(details, starts_at=_check_future(context, _parse_when(context, text, cell)))
    if field == "link":
        return replace(details, online_url=None if fold(text) in ("-", "xoa") else _check_url(text))
    if not text:
        raise UserError("meeting.error.empty_answer")
    if field == "place":
        return replace(
            details, place=_check_length(text, MAX_PLACE, "meeting.error.place_too_long")
        )
    if field == "title":
        title = _check_length(text, MAX_TITLE, "meeting.error.title_too_long")
        return replace(details, title=title, kind=_kind_of(title))
    agenda = "\n".join(item.strip() for item in context.inbound.text.split(";") if item.strip())
    return replace(
        details, agenda=_check_length(agenda, MAX_AGENDA, "meeting.error.agenda_too_long")
    )


async def cancel_ask(context: Context, args: list[str]) -> list[Reply]:
    cell, meeting = await _scheduled_meeting(context, args)
    texts = context.services.texts
    rows = [(Choice(context.t("meeting.button.confirm_cancel"), f"my:{meeting.id}"),)]
    if meeting.series_id is not None:
        rows.append((Choice(context.t("meeting.button.stop_series"), f"mz:{meeting.id}"),))
    rows.append((Choice(context.t("meeting.button.keep"), "mq"),))
    text = context.t(
        "meeting.cancel_confirm", details=describe(texts, meeting.details, _zone(cell))
    )
    return [Reply(text, choices=tuple(rows))]


async def cancel_meeting(context: Context, args: list[str]) -> list[Reply]:
    cell, meeting = await _scheduled_meeting(context, args)
    await context.services.meetings.cancel(
        cell_id=cell.id, meeting_id=meeting.id, actor=context.audit_actor, now=context.now
    )
    when = context.services.texts.datetime(meeting.starts_at.astimezone(_zone(cell)))
    return await _announce(
        context, cell, context.t("meeting.announce_cancelled", title=meeting.title, when=when)
    )


async def stop_series(context: Context, args: list[str]) -> list[Reply]:
    cell, meeting = await _scheduled_meeting(context, args)
    if meeting.series_id is None:
        raise QuestionGone("error.stale_button")
    count = await context.services.meetings.stop_series(
        cell_id=cell.id, series_id=meeting.series_id, actor=context.audit_actor, now=context.now
    )
    return await _announce(
        context,
        cell,
        context.t("meeting.announce_series_stopped", title=meeting.title, count=count),
    )


async def keep_meeting(context: Context, _args: list[str]) -> list[Reply]:
    return [Reply(context.t("meeting.kept"), replace=True)]


# --- reminders -------------------------------------------------------------------------------


def parse_offsets(text: str) -> list[int]:
    """ "3d 1d 2h 30m" or "3 ngày, 2 giờ, 30 phút" → minutes."""
    units = {"d": 1440, "ngay": 1440, "h": 60, "g": 60, "gio": 60, "m": 1, "p": 1, "phut": 1}
    tokens = fold(text).replace(",", " ").split()
    minutes: list[int] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        number = "".join(itertools.takewhile(ASCII_DIGITS.__contains__, token))
        unit = token[len(number) :]
        if not number or not token.startswith(number):
            raise UserError("reminders.error.bad")
        if not unit and index + 1 < len(tokens):
            index += 1
            unit = tokens[index]
        if unit not in units or int(number) <= 0:
            raise UserError("reminders.error.bad")
        minutes.append(int(number) * units[unit])
        index += 1
    if not minutes or len(minutes) > 6 or max(minutes) > 60 * 24 * 60:
        raise UserError("reminders.error.bad")
    return minutes


def _offset_text(context: Context, minutes: int) -> str:
    if minutes % 1440 == 0:
        return context.t("reminders.days", n=minutes // 1440)
    if minutes % 60 == 0:
        return context.t("reminders.hours", n=minutes // 60)
    return context.t("reminders.minutes", n=minutes)


async def reminders_command(context: Context) -> list[Reply]:
    """/nhacnho: leaders set the cell's reminder times; members choose private reminders."""
    cell = context.require_cell()
    actor = context.require_actor()
    repo: MeetingRepository = context.services.meetings
    args = context.inbound.args.strip()
    if args:
        if not actor.leads:
            raise UserError("error.leader_only")
        chosen = await repo.set_offsets(
            cell_id=cell.id,
            offsets_minutes=parse_offsets(args),
            actor=context.audit_actor,
            now=context.now,
        )
        listed = ", ".join(_offset_text(context, m) for m in chosen)
        return [Reply(context.t("reminders.saved", offsets=listed))]
    offsets = await repo.offsets(cell.id)
    listed = ", ".join(_offset_text(context, m) for m in offsets)
    lines = [context.t("reminders.current", offsets=listed)]
    if actor.leads:
        lines.append(context.t("reminders.how_to_change"))
    choices: tuple[tuple[Choice, ...], ...] = ()
    if not context.inbound.is_group:
        enabled = await repo.private_reminders(actor.id)
        key = "reminders.button.private_on" if enabled else "reminders.button.private_off"
        choices = ((Choice(context.t(key), f"pr:{0 if enabled else 1}"),),)
    return [Reply("\n".join(lines), choices=choices)]


async def toggle_private(context: Context, args: list[str]) -> list[Reply]:
    cell = context.require_cell()
    actor = context.require_actor()
    enabled = args == ["1"]
    await context.services.meetings.set_private_reminders(
        member_id=actor.id,
        cell_id=cell.id,
        enabled=enabled,
        actor=context.audit_actor,
        now=context.now,
    )
    key = "reminders.private_enabled" if enabled else "reminders.private_disabled"
    return [Reply(context.t(key), replace=True)]


async def render_reminder(
    meetings: MeetingRepository,
    cells: CellRepository,
    documents: DocumentRepository,
    texts: Texts,
    payload: dict[str, object],
    now: datetime,
) -> list[Reply]:
    """The reminder as it should read now; nothing for a cancelled or started meeting."""
    meeting_id = payload.get("meeting_id")
    if not isinstance(meeting_id, int):
        return []
    meeting = await meetings.get(meeting_id)
    if meeting is None or meeting.status is MeetingStatus.CANCELLED or meeting.starts_at <= now:
        return []
    cell = await cells.get(meeting.cell_id)
    zone = ZoneInfo(cell.timezone) if cell else ZoneInfo("Asia/Ho_Chi_Minh")
    # Sent a tick after it fell due, "23 h 59 min" should still read "1 day".
    hours = round((meeting.starts_at - now) / timedelta(hours=1))
    minutes = max(1, round((meeting.starts_at - now) / timedelta(minutes=1)))
    if hours >= 24:
        remaining = texts("reminders.days", n=round(hours / 24))
    elif minutes >= 60:
        remaining = texts("reminders.hours", n=hours)
    else:
        remaining = texts("reminders.minutes", n=minutes)
    header = texts("reminders.header", remaining=remaining)
    titles = await documents.titles_for_meeting(meeting.id)
    text = header + "\n" + describe(texts, meeting.details, zone, titles)
    return [Reply(text, choices=next_steps(texts, meeting.details, bool(titles)))]
