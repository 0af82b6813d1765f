"""Scheduling, listing, editing and cancelling meetings, and the reminder rows they plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.context import UserError
from handlers.i18n import Texts
from handlers.meetings import parse_offsets, render_reminder
from scheduler.clock import ManualClock
from storage.crypto import FieldCipher
from storage.models import MeetingStatus, OutboxStatus
from storage.schema import meetings, outbox
from tests.support.harness import Harness, Person, buttons_of, texts_of

GROUP = "-100777"
vi = Texts("vi")
# The clock starts at 19:00 on Sunday 22/11/2026 in Hà Nội (12:00 UTC).


@pytest.fixture
def harness(sqlite_engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock) -> Harness:
    return Harness(sqlite_engine, cipher, clock)


async def _rows(engine: AsyncEngine, *conditions: object) -> list[dict[str, object]]:
    async with engine.connect() as connection:
        result = await connection.execute(
            select(outbox).where(*conditions).order_by(outbox.c.due_at)
        )
        return [dict(row) for row in result.mappings()]


async def _count(engine: AsyncEngine, table) -> int:  # type: ignore[no-untyped-def]
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())


async def _secretary(harness: Harness) -> Person:
    secretary = harness.person("Trần Thị Hoa")
    harness.platform.admins[GROUP] = {secretary.user_id}
    await harness.say(secretary, "/batdau Chi bộ Khu phố 5", group=GROUP)
    return secretary


async def _schedule(harness: Harness, who: Person, line: str, *, group: str | None = GROUP):
    confirm = await harness.say(who, f"/lichhop {line}", group=group)
    save = buttons_of(confirm)[vi("meeting.button.save_once")]
    return confirm, await harness.tap(who, save, group=group)


async def test_one_line_is_confirmed_before_anything_is_saved(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary = await _secretary(harness)
    confirm = await harness.say(
        secretary,
        "/lichhop 15/12 19:30 Hội trường KP5 | Sinh hoạt thường kỳ tháng 12 | Kiểm điểm; Kết nạp",
        group=GROUP,
    )
    text = texts_of(confirm)
    assert "19:30, Thứ Ba 15/12/2026" in text and "Hội trường KP5" in text
    assert "Sinh hoạt thường kỳ tháng 12" in text and "Kiểm điểm\nKết nạp" in text
    assert await _count(sqlite_engine, meetings) == 0 and await _count(sqlite_engine, outbox) == 0
    saved = await harness.tap(
        secretary, buttons_of(confirm)[vi("meeting.button.save_once")], group=GROUP
    )
    assert saved[0].replace and saved[0].text == vi("meeting.group_told")
    assert [r.chat_id for r in saved[1:]] == [GROUP] and "📢 Lịch họp chi bộ" in saved[1].text
    rows = await _rows(sqlite_engine)
    starts = datetime(2026, 12, 15, 12, 30, tzinfo=UTC)
    assert [r["due_at"] for r in rows] == [
        starts - timedelta(days=3),
        starts - timedelta(days=1),
        starts - timedelta(hours=2),
    ]
    assert {(r["chat_id"], r["status"], r["expires_at"]) for r in rows} == {
        (GROUP, OutboxStatus.PENDING, starts)
    }


async def test_discarding_a_draft_saves_nothing(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary = await _secretary(harness)
    confirm = await harness.say(secretary, "/lichhop 15/12 19h30 Hội trường", group=GROUP)
    discarded = await harness.tap(
        secretary, buttons_of(confirm)[vi("meeting.button.discard")], group=GROUP
    )
    assert discarded[0].text == vi("meeting.discarded")
    assert await _count(sqlite_engine, meetings) == 0


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("15/12 Hội trường", "when.error.no_time"),
        ("20/11/2026 19:30 Hội trường", "meeting.error.past"),
        ("15/12 19:30 https://meet.example.org/x", "meeting.error.no_place"),
        ("15/12 19:30 Hội trường ftp://nope", None),
        ("15/12 19:30 Hội trường https://nodot", "meeting.error.bad_link"),
        ("15/12 19:30 " + "x" * 301, "meeting.error.place_too_long"),
        ("abc", "when.error.unknown"),
    ],
)
async def test_bad_meeting_lines_are_explained_and_nothing_is_stored(
    harness: Harness, sqlite_engine: AsyncEngine, line: str, key: str | None
) -> None:
    secretary = await _secretary(harness)
    replies = await harness.say(secretary, f"/lichhop {line}", group=GROUP)
    if key is not None:
        assert texts_of(replies) == vi(key, limit=300)
    assert await _count(sqlite_engine, meetings) == 0


async def test_members_cannot_schedule(harness: Harness, sqlite_engine: AsyncEngine) -> None:
    secretary = await _secretary(harness)
    listing = await harness.say(secretary, "/dangvien")
    await harness.tap(secretary, buttons_of(listing)[vi("members.auto_off")])
    member = harness.person("Lê Văn Nam")
    await harness.say(member, "/thamgia", group=GROUP)
    replies = await harness.say(member, "/lichhop 15/12 19:30 Hội trường", group=GROUP)
    assert texts_of(replies) == vi("error.leader_only")
    assert await _count(sqlite_engine, meetings) == 0


async def test_members_get_every_coming_meeting_in_one_message(harness: Harness) -> None:
    secretary = await _secretary(harness)
    listing = await harness.say(secretary, "/dangvien")
    await harness.tap(secretary, buttons_of(listing)[vi("members.auto_off")])
    member = harness.person("Lê Văn Nam")
    await harness.say(member, "/thamgia", group=GROUP)
    await _schedule(harness, secretary, "15/12 19:30 Hội trường")
    await _schedule(harness, secretary, "20/12 08:00 Nhà văn hóa")

    [seen] = await harness.say(member, "/hop", group=GROUP)
    assert "19:30, Thứ Ba 15/12/2026" in seen.text and "08:00, Chủ Nhật 20/12/2026" in seen.text
    assert seen.text.index("15/12/2026") < seen.text.index("20/12/2026")
    # The card carries the member's next step for the next meeting, not leaders' buttons.
    assert buttons_of([seen]) == {vi("menu.absence"): "go:xinvang"}
    # Leaders get one message a meeting, each with the buttons that change it.
    led = await harness.say(secretary, "/hop", group=GROUP)
    assert len(led) == 2 and all(reply.choices for reply in led)
    assert "15/12/2026" in led[0].text and "20/12/2026" in led[1].text


async def test_guided_flow_with_buttons(harness: Harness, sqlite_engine: AsyncEngine) -> None:
    secretary = await _secretary(harness)
    days = await harness.say(secretary, "/lichhop")
    assert buttons_of(days)["T4 25/11"] == "md:2026-11-25"
    times = await harness.tap(secretary, "md:2026-11-25")
    ask_place = await harness.tap(secretary, buttons_of(times)["19:30"])
    assert ask_place[0].ask_text
    ask_title = await harness.say(secretary, "Nhà văn hóa tổ 3")
    confirm = await harness.tap(
        secretary, buttons_of(ask_title)[vi("meeting.button.default_title")]
    )
    assert "19:30, Thứ Tư 25/11/2026" in texts_of(confirm)
    saved = await harness.tap(secretary, buttons_of(confirm)[vi("meeting.button.save_once")])
    # Scheduled privately: the secretary is told, the group gets the announcement.
    assert saved[0].text == vi("meeting.group_told") and saved[1].chat_id == GROUP
    [meeting] = await harness.services.meetings.upcoming(1, harness.services.clock.now())
    assert meeting.title == "Sinh hoạt chi bộ thường kỳ tháng 11/2026"


async def test_edit_moves_reminders_and_cancel_cancels_them(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary = await _secretary(harness)
    await _schedule(harness, secretary, "15/12 19:30 Hội trường")
    listing = await harness.say(secretary, "/hop", group=GROUP)
    edit = buttons_of(listing)[vi("meeting.button.edit")]
    meeting_id = int(edit.split(":")[1])
    menu = await harness.tap(secretary, edit, group=GROUP)
    await harness.tap(secretary, buttons_of(menu)[vi("meeting.edit.time")], group=GROUP)
    preview = await harness.say(secretary, "16/12 20h", group=GROUP)
    # A preview first: nothing is saved, nothing reaches the group yet.
    assert "📢 Lịch họp đã thay đổi" not in texts_of(preview)
    change = vi(
        "meeting.change.line",
        field=vi("meeting.edit.time"),
        old="19:30, Thứ Ba 15/12/2026",
        new="20:00, Thứ Tư 16/12/2026",
    )
    assert change in texts_of(preview)
    assert len(await _rows(sqlite_engine, outbox.c.status == OutboxStatus.CANCELLED)) == 0
    typed = await harness.say(secretary, "ok", group=GROUP)
    assert texts_of(typed) == vi("meeting.edit.tap_to_confirm")
    changed = await harness.tap(
        secretary, buttons_of(preview)[vi("meeting.button.save_edit")], group=GROUP
    )
    assert changed[0].replace and not changed[0].choices  # the preview's buttons go
    [told] = [reply for reply in changed if reply.chat_id == GROUP]
    assert "📢 Lịch họp đã thay đổi" in told.text and change in told.text
    pending = await _rows(sqlite_engine, outbox.c.status == OutboxStatus.PENDING)
    assert [r["due_at"] for r in pending][-1] == datetime(2026, 12, 16, 11, 0, tzinfo=UTC)
    assert len(pending) == 3
    assert len(await _rows(sqlite_engine, outbox.c.status == OutboxStatus.CANCELLED)) == 3

    ask = await harness.tap(secretary, f"mx:{meeting_id}", group=GROUP)
    done = await harness.tap(
        secretary, buttons_of(ask)[vi("meeting.button.confirm_cancel")], group=GROUP
    )
    assert "📢 Đã hủy cuộc họp" in texts_of(done)
    assert await _rows(sqlite_engine, outbox.c.status == OutboxStatus.PENDING) == []
    again = await harness.tap(secretary, f"me:{meeting_id}", group=GROUP)
    assert texts_of(again) == vi("meeting.error.cancelled")


async def test_an_edit_can_be_dropped_and_the_group_hears_nothing(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary = await _secretary(harness)
    await _schedule(harness, secretary, "15/12 19:30 Hội trường")
    [meeting] = await harness.services.meetings.upcoming(1, harness.services.clock.now())
    await harness.tap(secretary, f"mf:{meeting.id}:place")
    preview = await harness.say(secretary, "Nhà văn hóa KP5")
    assert vi(
        "meeting.change.line",
        field=vi("meeting.edit.place"),
        old="Hội trường",
        new="Nhà văn hóa KP5",
    ) in texts_of(preview)
    dropped = await harness.tap(secretary, buttons_of(preview)[vi("meeting.button.drop_edit")])
    assert [r.text for r in dropped] == [vi("meeting.edit.dropped")] and dropped[0].replace
    [kept] = await harness.services.meetings.upcoming(1, harness.services.clock.now())
    assert kept.place == "Hội trường"


async def test_monthly_series_skip_one_occurrence(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary = await _secretary(harness)
    confirm = await harness.say(secretary, "/lichhop 5/12 19:30 Hội trường", group=GROUP)
    saved = await harness.tap(
        secretary, buttons_of(confirm)[vi("meeting.button.monthly_day", day=5)], group=GROUP
    )
    assert "05/12/2026, 05/01/2027, 05/02/2027" in texts_of(saved)
    repo = harness.services.meetings
    clock = harness.services.clock
    first, second, third = await repo.upcoming(1, clock.now(), limit=5)
    ask = await harness.tap(secretary, f"mx:{second.id}", group=GROUP)
    await harness.tap(secretary, buttons_of(ask)[vi("meeting.button.confirm_cancel")], group=GROUP)
    await repo.reconcile(clock.now())
    remaining = await repo.upcoming(1, clock.now(), limit=5)
    assert [m.id for m in remaining] == [first.id, third.id]
    skipped = await repo.get(second.id)
    assert skipped is not None and skipped.status is MeetingStatus.CANCELLED


async def test_reminder_offsets_and_private_reminders(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary = await _secretary(harness)
    await _schedule(harness, secretary, "15/12 19:30 Hội trường")
    saved = await harness.say(secretary, "/nhacnho 1 ngày, 30 phút", group=GROUP)
    assert texts_of(saved) == vi("reminders.saved", offsets="1 ngày, 30 phút")
    menu = await harness.say(secretary, "/nhacnho")
    await harness.tap(secretary, buttons_of(menu)[vi("reminders.button.private_off")])
    pending = await _rows(sqlite_engine, outbox.c.status == OutboxStatus.PENDING)
    starts = datetime(2026, 12, 15, 12, 30, tzinfo=UTC)
    assert sorted((r["chat_id"], r["due_at"]) for r in pending) == sorted(
        [
            (GROUP, starts - timedelta(days=1)),
            (GROUP, starts - timedelta(minutes=30)),
            (secretary.user_id, starts - timedelta(days=1)),
            (secretary.user_id, starts - timedelta(minutes=30)),
        ]
    )


def test_offsets_parse() -> None:
    assert parse_offsets("3d 1d 2h 30m") == [4320, 1440, 120, 30]
    assert parse_offsets("3 ngày, 2 giờ, 1 phút") == [4320, 120, 1]
    for bad in ("", "0m", "abc", "3x", "-1h", "1d 1d 1d 1d 1d 1d 1d"):
        with pytest.raises(UserError):
            parse_offsets(bad)


async def test_reminder_text_is_current_and_silent_when_cancelled(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary = await _secretary(harness)
    await _schedule(harness, secretary, "15/12 19:30 Hội trường https://meet.example.org/kp5")
    [meeting] = await harness.services.meetings.upcoming(1, harness.services.clock.now())
    services = harness.services
    at = datetime(2026, 12, 15, 10, 30, tzinfo=UTC)
    [reply] = await render_reminder(
        services.meetings, services.cells, services.documents, vi, {"meeting_id": meeting.id}, at
    )
    assert reply.text.startswith(vi("reminders.header", remaining="2 giờ"))
    assert "https://meet.example.org/kp5" in reply.text and "Thứ Ba 15/12/2026" in reply.text
    late = datetime(2026, 12, 15, 12, 31, tzinfo=UTC)
    assert (
        await render_reminder(
            services.meetings,
            services.cells,
            services.documents,
            vi,
            {"meeting_id": meeting.id},
            late,
        )
        == []
    )


async def test_a_reminder_that_fell_due_while_the_bot_was_down_survives_the_restart(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    """Start-up re-plans every future meeting; a reminder already due but not yet sent is not
    in the new plan, and must not be cancelled by it (found by bench/fanout.py)."""
    secretary = await _secretary(harness)
    await _schedule(harness, secretary, "15/12 19:30 Hội trường")
    starts = datetime(2026, 12, 15, 12, 30, tzinfo=UTC)
    clock = harness.services.clock
    assert isinstance(clock, ManualClock)
    # The 2-hour reminder is half an hour overdue.
    clock.advance(starts - timedelta(minutes=90) - clock.now())
    await harness.services.meetings.reconcile(clock.now())
    overdue = await _rows(
        sqlite_engine,
        outbox.c.status == OutboxStatus.PENDING,
        outbox.c.due_at == starts - timedelta(hours=2),
    )
    assert [row["chat_id"] for row in overdue] == [GROUP]


async def test_a_saved_draft_in_the_group_loses_its_buttons_and_says_so(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary = await _secretary(harness)
    _, saved = await _schedule(harness, secretary, "15/12 19:30 Hội trường")
    # The tapped draft is edited: «Lưu» is gone, so nobody can tap it and be told off.
    assert saved[0].replace and not saved[0].choices
    assert saved[0].text == vi("meeting.group_told")
    assert [r.chat_id for r in saved[1:]] == [GROUP]


async def test_an_expired_private_draft_is_edited_to_say_so(
    harness: Harness, sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    secretary = await _secretary(harness)
    confirm = await harness.say(secretary, "/lichhop 15/12 19:30 Hội trường")
    clock.advance(timedelta(hours=1))  # the question behind the card has expired
    late = await harness.tap(secretary, buttons_of(confirm)[vi("meeting.button.save_once")])
    assert [(r.text, r.replace, r.choices) for r in late] == [
        (vi("meeting.error.draft_gone"), True, ())
    ]
