"""/lich: the cell's coming meetings as an .ics file members add to their phone's calendar.

Each meeting keeps one UID, so importing a newer file updates the events instead of
duplicating them. Times are written in UTC; every calendar app shows them in the phone's own
time zone. Building the file is CPU work, so it runs in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from handlers.context import Context
from handlers.core import OutboundFile, Reply
from storage.models import MeetingStatus

FILE_NAME = "lich-chi-bo.ics"
HORIZON = timedelta(days=365)
# Meetings have no end time; a good meeting lasts at least 90 minutes (DOMAIN.md).
MEETING_LENGTH = timedelta(hours=2)
ALARM_BEFORE = timedelta(hours=1)
MAX_EVENTS = 100
PRODUCT_ID = "-//chibo//Chi bo so//VI"


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    uid: str
    title: str
    starts_at: datetime
    ends_at: datetime
    place: str
    description: str
    url: str | None
    alarm_text: str


def event_uid(meeting_id: int) -> str:
    return f"meeting-{meeting_id}@chibo"


def build_ics(name: str, events: Sequence[CalendarEvent], stamp: datetime) -> bytes:
    """An iCalendar (RFC 5545) file; pure and blocking — call it through a thread."""
    # Imported here, not at start-up: few ask for the file, and the library takes a while.
    from icalendar import Alarm, Calendar, Event  # type: ignore[import-untyped]

    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    for item in events:
        event = Event()
        event.add("uid", item.uid)
        event.add("dtstamp", stamp)
        event.add("dtstart", item.starts_at)
        event.add("dtend", item.ends_at)
        event.add("summary", item.title)
        event.add("location", item.place)
        if item.description:
            event.add("description", item.description)
        if item.url:
            event.add("url", item.url)
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("trigger", -ALARM_BEFORE)
        alarm.add("description", item.alarm_text)
        event.add_component(alarm)
        calendar.add_component(event)
    return bytes(calendar.to_ical())


async def calendar_command(context: Context) -> list[Reply]:
    """/lich: the next 12 months of scheduled meetings as a file; cancelled ones are left out."""
    cell = context.require_cell()
    now = context.now
    coming = await context.services.meetings.upcoming(cell.id, now, limit=MAX_EVENTS)
    chosen = [
        meeting
        for meeting in coming
        if meeting.status is MeetingStatus.SCHEDULED and meeting.starts_at <= now + HORIZON
    ]
    if not chosen:
        return [Reply(context.t("calendar.none"))]
    events = []
    for meeting in chosen:
        parts = []
        agenda = [line.strip() for line in meeting.agenda.splitlines() if line.strip()]
        if agenda:
            parts.append(context.t("calendar.agenda"))
            parts += [context.t("calendar.agenda_item", item=item) for item in agenda]
        if meeting.online_url:
            parts.append(context.t("calendar.online", link=meeting.online_url))
        events.append(
            CalendarEvent(
                uid=event_uid(meeting.id),
                title=meeting.title,
                starts_at=meeting.starts_at,
                ends_at=meeting.starts_at + MEETING_LENGTH,
                place=meeting.place,
                description="\n".join(parts),
                url=meeting.online_url,
                alarm_text=context.t("calendar.alarm", title=meeting.title),
            )
        )
    name = context.t("calendar.name", cell=cell.name)
    content = await asyncio.to_thread(build_ics, name, events, now)
    caption = context.t("calendar.caption", cell=cell.name, count=len(events))
    return [
        Reply(context.t("calendar.how_to"), file=OutboundFile(FILE_NAME, content, caption)),
    ]
