"""/lich: the cell's coming meetings as an .ics file, parsed back with icalendar."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers import calendar_ics
from handlers.i18n import Texts
from scheduler.clock import ManualClock
from storage.crypto import FieldCipher
from tests.conftest import START
from tests.support.harness import Harness, texts_of
from tests.test_attendance import GROUP, found_cell, insert_meeting, join, wired_harness

vi = Texts("vi")


@pytest.fixture
def harness(sqlite_engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock) -> Harness:
    return wired_harness(sqlite_engine, cipher, clock)


async def test_calendar_file_holds_the_coming_meetings_only(
    harness: Harness, sqlite_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    secretary, cell = await found_cell(harness)
    member = await join(harness, secretary, "Lê Văn Nam")
    december = datetime(2026, 12, 15, 12, 30, tzinfo=UTC)
    first = await insert_meeting(
        sqlite_engine,
        cell.id,
        december,
        title="Sinh hoạt chi bộ tháng 12",
        place="Hội trường KP5",
        agenda="Kiểm điểm công tác năm\nBầu chi ủy",
        online_url="https://meet.example.org/kp5",
    )
    second = await insert_meeting(
        sqlite_engine,
        cell.id,
        datetime(2027, 1, 12, 12, 30, tzinfo=UTC),
        title="Sinh hoạt chi bộ tháng 1",
        place="Nhà văn hóa",
    )
    await insert_meeting(sqlite_engine, cell.id, START + timedelta(days=3), status="cancelled")
    await insert_meeting(sqlite_engine, cell.id, START - timedelta(days=1), title="Đã qua")
    await insert_meeting(sqlite_engine, cell.id, START + timedelta(days=400), title="Quá xa")

    threaded: list[str] = []
    real_to_thread = asyncio.to_thread

    async def spy(function, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        threaded.append(function.__name__)
        return await real_to_thread(function, *args, **kwargs)

    monkeypatch.setattr(calendar_ics.asyncio, "to_thread", spy)
    replies = await harness.say(member, "/lich", group=GROUP)
    assert threaded == ["build_ics"], "the file is built off the event loop"
    assert len(replies) == 1 and replies[0].file is not None
    sent = replies[0].file
    assert sent.file_name == "lich-chi-bo.ics"
    assert sent.caption == vi("calendar.caption", cell="Chi bộ Khu phố 5", count=2)
    assert replies[0].text == vi("calendar.how_to")

    parsed = Calendar.from_ical(sent.content)
    assert str(parsed["X-WR-CALNAME"]) == "Lịch họp Chi bộ Khu phố 5"
    events = parsed.walk("VEVENT")
    assert [str(e["UID"]) for e in events] == [f"meeting-{first}@chibo", f"meeting-{second}@chibo"]
    event = events[0]
    assert event.decoded("DTSTART") == december
    assert event.decoded("DTEND") == december + timedelta(hours=2)
    assert str(event["SUMMARY"]) == "Sinh hoạt chi bộ tháng 12"
    assert str(event["LOCATION"]) == "Hội trường KP5"
    description = str(event["DESCRIPTION"])
    assert "Kiểm điểm công tác năm" in description and "Bầu chi ủy" in description
    assert "https://meet.example.org/kp5" in description
    assert str(event["URL"]) == "https://meet.example.org/kp5"
    assert events[1].get("URL") is None and "DESCRIPTION" not in events[1]
    alarms = event.walk("VALARM")
    assert len(alarms) == 1 and alarms[0].decoded("TRIGGER") == -timedelta(hours=1)

    # The same meeting keeps its UID in a later download, so phones update rather than copy.
    again = await harness.say(secretary, "/calendar")
    later = Calendar.from_ical(again[0].file.content)  # type: ignore[union-attr]
    assert str(later.walk("VEVENT")[0]["UID"]) == f"meeting-{first}@chibo"


async def test_no_coming_meetings_gives_a_message_and_no_file(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, cell = await found_cell(harness)
    await insert_meeting(sqlite_engine, cell.id, START + timedelta(days=3), status="cancelled")
    replies = await harness.say(secretary, "/lich", group=GROUP)
    assert texts_of(replies) == vi("calendar.none") and replies[0].file is None


async def test_strangers_get_no_calendar(harness: Harness, sqlite_engine: AsyncEngine) -> None:
    _, cell = await found_cell(harness)
    await insert_meeting(sqlite_engine, cell.id, START + timedelta(days=3))
    stranger = harness.person("Người Lạ")
    in_group = await harness.say(stranger, "/lich", group=GROUP)
    assert texts_of(in_group) == vi("error.not_member") and in_group[0].file is None
    private = await harness.say(stranger, "/calendar")
    assert texts_of(private) == vi("error.not_member")


def test_build_ics_is_valid_without_optional_fields() -> None:
    event = calendar_ics.CalendarEvent(
        uid=calendar_ics.event_uid(7),
        title="Họp chi ủy",
        starts_at=START,
        ends_at=START + timedelta(hours=2),
        place="Phòng họp",
        description="",
        url=None,
        alarm_text="Sắp đến giờ họp",
    )
    content = calendar_ics.build_ics("Lịch", [event], START)
    assert content.startswith(b"BEGIN:VCALENDAR") and b"DTSTART:20261122T120000Z" in content
    parsed = Calendar.from_ical(content)
    assert str(parsed["VERSION"]) == "2.0" and str(parsed.walk("VEVENT")[0]["UID"]) == (
        "meeting-7@chibo"
    )
