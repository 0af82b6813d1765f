"""Absence requests through the real dispatcher on a real SQLite file (storage also on
PostgreSQL), and the rules behind the secretary's private warning, by hand."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers import absences as absence_handlers
from handlers.absences import absence_flags, missed_in_a_row, unexcused_in_year
from handlers.core import Reply
from handlers.i18n import Texts, catalog
from scheduler.clock import ManualClock
from storage.absences import AbsenceExists, AbsenceSettled, ExpectedMember, PastMeeting
from storage.audit import Actor
from storage.crypto import FieldCipher
from storage.linking import LinkRepository
from storage.models import AbsenceReason, AbsenceStatus, AttendanceState, Role
from storage.schema import absences, attendance, audit_log, meetings
from tests.conftest import START
from tests.support.harness import Harness, Person, buttons_of, told
from tests.test_attendance import GROUP, OTHER_GROUP, found_cell, insert_meeting, join, member_id

vi = Texts("vi")
ROOT = Path(__file__).resolve().parent.parent
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
NEXT_WEEK = START + timedelta(days=7)


@pytest.fixture
def harness(sqlite_engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock) -> Harness:
    return Harness(sqlite_engine, cipher, clock)


@dataclass
class Cell:
    secretary: Person
    deputy: Person
    member: Person
    other: Person
    cell_id: int
    meeting_id: int


async def make_cell(harness: Harness, engine: AsyncEngine, group: str = GROUP) -> Cell:
    secretary, cell = await found_cell(harness, group)
    suffix = "" if group == GROUP else " B"
    deputy = await join(harness, secretary, f"Phạm Văn Phó{suffix}", group)
    member = await join(harness, secretary, f"Lê Văn Nam{suffix}", group)
    other = await join(harness, secretary, f"Ngô Thị Lan{suffix}", group)
    await harness.services.members.set_role(
        cell_id=cell.id,
        member_id=await member_id(harness, deputy),
        role=Role.DEPUTY,
        actor=Actor("test"),
        now=START,
    )
    meeting = await insert_meeting(engine, cell.id, NEXT_WEEK, title=f"Họp tháng 12{suffix}")
    return Cell(secretary, deputy, member, other, cell.id, meeting)


async def ask(
    harness: Harness, who: Person, meeting: int, reason: str = "sick", note: str | None = None
) -> list[Reply]:
    """``who`` asks privately to miss ``meeting``: reason, optional text, «Gửi»."""
    await harness.say(who, "/xinvang")
    replies = await harness.tap(who, f"xr:{meeting}:{reason}")
    if note is not None:
        replies = await harness.say(who, note)
    send = buttons_of(replies)[vi("absence.button.send")]
    return await harness.tap(who, send)


async def rows(engine: AsyncEngine) -> list[dict[str, object]]:
    async with engine.connect() as connection:
        result = await connection.execute(select(absences).order_by(absences.c.id))
        return [dict(row) for row in result.mappings()]


async def absence_audit(engine: AsyncEngine) -> list[tuple[str, dict[str, object]]]:
    async with engine.connect() as connection:
        result = await connection.execute(
            select(audit_log.c.action, audit_log.c.details)
            .where(
                audit_log.c.action.like("absence.%") | (audit_log.c.action == "attendance.excused")
            )
            .order_by(audit_log.c.id)
        )
        return [(str(row[0]), dict(row[1])) for row in result]


async def mark_of(engine: AsyncEngine, meeting: int, member: int) -> str | None:
    async with engine.connect() as connection:
        return (
            await connection.execute(
                select(attendance.c.state).where(
                    attendance.c.meeting_id == meeting, attendance.c.member_id == member
                )
            )
        ).scalar()


def to(replies: list[Reply], chat_id: str) -> list[Reply]:
    return [reply for reply in replies if reply.chat_id == chat_id]


# --- asking, deciding, being told ------------------------------------------------------------


async def test_group_gets_only_a_pointer_and_the_deep_link_resumes_privately(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    cell = await make_cell(harness, sqlite_engine)
    [pointer] = await harness.say(cell.member, "/xinvang", group=GROUP)
    assert pointer.text == vi("absence.group_hint")
    assert pointer.continue_privately == "xinvang" and pointer.choices == ()
    [english] = await harness.say(cell.member, "/absent", group=GROUP)
    assert english.text == pointer.text

    [home] = await harness.say(cell.member, "/start xinvang")
    assert "Họp tháng 12" in home.text
    buttons = buttons_of([home])
    assert buttons[vi("absence.button.sick")] == f"xr:{cell.meeting_id}:sick"
    assert set(buttons.values()) >= {f"xr:{cell.meeting_id}:{r}" for r in AbsenceReason}
    assert vi("absence.button.list") not in buttons  # only leaders list requests
    # A stranger in the group is told to join, and nothing is stored.
    stranger = harness.person("Người lạ")
    [refusal] = await harness.say(stranger, "/xinvang", group=GROUP)
    assert refusal.text == vi("error.not_member")
    assert await rows(sqlite_engine) == []


async def test_sick_request_goes_to_both_leaders_and_the_member_hears_the_decision(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    cell = await make_cell(harness, sqlite_engine)
    replies = await ask(harness, cell.member, cell.meeting_id, note="  nằm viện   ba ngày ")
    sent = [r for r in replies if r.chat_id is None]
    assert sent[0].text.startswith("✅ Đã gửi đơn xin vắng buổi Họp tháng 12")
    for leader in (cell.secretary, cell.deputy):
        [card] = to(replies, leader.user_id)
        assert "Lê Văn Nam" in card.text and "Ốm (nằm viện ba ngày)" in card.text
        assert vi("absence.card_late") not in card.text
    assert to(replies, GROUP) == []
    [row] = await rows(sqlite_engine)
    assert row["status"] == "pending" and row["reason"] == "sick"
    assert row["reason_text"] == "nằm viện ba ngày" and row["late"] is False

    [card] = to(replies, cell.secretary.user_id)
    decided = await harness.tap(cell.secretary, buttons_of([card])[vi("absence.button.approve")])
    assert decided[0].replace and vi("absence.decided.approved") in decided[0].text
    [notice] = to(decided, cell.member.user_id)
    assert notice.text.startswith("✅ Bí thư đã đồng ý cho đồng chí vắng buổi họp Họp tháng 12")
    [row] = await rows(sqlite_engine)
    assert row["status"] == "approved"
    assert row["decided_by"] == await member_id(harness, cell.secretary)

    # The deputy's copy is now stale: deciding twice changes nothing.
    [deputy_card] = to(replies, cell.deputy.user_id)
    again = await harness.tap(cell.deputy, buttons_of([deputy_card])[vi("absence.button.decline")])
    assert told(again) == [
        vi("absence.already_settled", name="Lê Văn Nam", status=vi("absence.status.approved"))
    ]
    assert (await rows(sqlite_engine))[0]["status"] == "approved"
    actions = await absence_audit(sqlite_engine)
    assert [a for a, _ in actions] == ["absence.requested", "absence.decided"]
    # Ids and field names only: never the reason's text.
    assert all("nằm viện" not in str(details) for _, details in actions)
    assert all("reason" not in details for _, details in actions)


async def test_other_reason_needs_text_within_bounds(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    cell = await make_cell(harness, sqlite_engine)
    await harness.say(cell.member, "/xinvang")
    [question] = await harness.tap(cell.member, f"xr:{cell.meeting_id}:other")
    assert question.ask_text and question.text == vi("absence.ask_reason", limit=300)
    [empty] = await harness.say(cell.member, "   ")
    assert empty.text == vi("absence.error.empty_reason", limit=300)
    [long] = await harness.say(cell.member, "x" * 301)
    assert long.text == vi("absence.error.too_long", limit=300)
    [confirm] = await harness.say(cell.member, "Đưa cháu đi thi")
    assert "Lý do khác (Đưa cháu đi thi)" in confirm.text
    [again] = await harness.say(cell.member, "Đưa cháu đi thi đại học")
    assert "Lý do khác (Đưa cháu đi thi đại học)" in again.text
    assert await rows(sqlite_engine) == []  # nothing is stored before «Gửi»
    await harness.tap(cell.member, buttons_of([again])[vi("absence.button.send")])
    [row] = await rows(sqlite_engine)
    assert row["reason"] == "other" and row["reason_text"] == "Đưa cháu đi thi đại học"
    # «Gửi» tapped a second time: the draft is gone, still one row.
    second = await harness.tap(cell.member, buttons_of([again])[vi("absence.button.send")])
    assert told(second) == [vi("absence.error.draft_gone")]
    assert len(await rows(sqlite_engine)) == 1


async def test_drop_stores_nothing(harness: Harness, sqlite_engine: AsyncEngine) -> None:
    cell = await make_cell(harness, sqlite_engine)
    await harness.say(cell.member, "/xinvang")
    confirm = await harness.tap(cell.member, f"xr:{cell.meeting_id}:family")
    [dropped] = await harness.tap(cell.member, buttons_of(confirm)[vi("absence.button.drop")])
    assert dropped.text == vi("absence.dropped")
    sent = await harness.tap(cell.member, buttons_of(confirm)[vi("absence.button.send")])
    assert told(sent) == [vi("absence.error.draft_gone")]
    assert await rows(sqlite_engine) == []


async def test_one_live_request_per_meeting(harness: Harness, sqlite_engine: AsyncEngine) -> None:
    cell = await make_cell(harness, sqlite_engine)
    card = to(await ask(harness, cell.member, cell.meeting_id), cell.secretary.user_id)
    when = vi.datetime(NEXT_WEEK.astimezone(ZONE))
    # The page no longer offers that meeting; a stale reason button says it is already sent.
    [home] = await harness.say(cell.member, "/xinvang")
    assert f"xr:{cell.meeting_id}:sick" not in buttons_of([home]).values()
    assert vi("absence.status.pending") in home.text
    again = await harness.tap(cell.member, f"xr:{cell.meeting_id}:sick")
    assert told(again) == [vi("absence.already_sent", title="Họp tháng 12", when=when)]
    await harness.tap(cell.secretary, buttons_of(card)[vi("absence.button.decline")])
    again = await harness.tap(cell.member, f"xr:{cell.meeting_id}:sick")
    assert told(again) == [
        vi(
            "absence.already_decided",
            title="Họp tháng 12",
            when=when,
            status=vi("absence.status.declined"),
        )
    ]
    assert [row["status"] for row in await rows(sqlite_engine)] == ["declined"]


async def test_withdraw_before_the_meeting_then_ask_again(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    cell = await make_cell(harness, sqlite_engine)
    card = to(await ask(harness, cell.member, cell.meeting_id), cell.secretary.user_id)
    [home] = await harness.say(cell.member, "/xinvang")
    withdraw = buttons_of([home])[vi("absence.button.withdraw", day="29/11/2026")]
    replies = await harness.tap(cell.member, withdraw)
    assert replies[0].text.startswith("↩️ Đã rút lại đơn")
    for leader in (cell.secretary, cell.deputy):
        [note] = to(replies, leader.user_id)
        assert note.text.startswith("↩️ Đồng chí Lê Văn Nam đã rút lại")
    assert (await rows(sqlite_engine))[0]["status"] == "withdrawn"
    # Deciding a withdrawn request, or withdrawing it twice: told, nothing changes.
    late = await harness.tap(cell.secretary, buttons_of(card)[vi("absence.button.approve")])
    assert told(late) == [
        vi("absence.already_settled", name="Lê Văn Nam", status=vi("absence.status.withdrawn"))
    ]
    twice = await harness.tap(cell.member, withdraw)
    assert told(twice) == [
        vi("absence.error.cannot_withdraw", status=vi("absence.status.withdrawn"))
    ]
    # A new request is allowed after a withdrawal.
    await ask(harness, cell.member, cell.meeting_id, reason="business_trip")
    assert [row["status"] for row in await rows(sqlite_engine)] == ["withdrawn", "pending"]
    actions = [a for a, _ in await absence_audit(sqlite_engine)]
    assert actions == ["absence.requested", "absence.withdrawn", "absence.requested"]


async def test_late_request_is_marked_and_cannot_be_withdrawn(
    harness: Harness, sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    cell = await make_cell(harness, sqlite_engine)
    await ask(harness, cell.member, cell.meeting_id)
    [home] = await harness.say(cell.member, "/xinvang")
    withdraw = buttons_of([home])[vi("absence.button.withdraw", day="29/11/2026")]
    clock.advance(timedelta(days=7, minutes=20))  # the meeting started 20 minutes ago
    [home] = await harness.say(cell.other, "/xinvang")
    assert "đơn sẽ ghi là gửi muộn" in home.text
    replies = await ask(harness, cell.other, cell.meeting_id)
    [card] = to(replies, cell.secretary.user_id)
    assert vi("absence.card_late") in card.text
    assert [row["late"] for row in await rows(sqlite_engine)] == [False, True]
    refused = await harness.tap(cell.member, withdraw)
    assert told(refused) == [vi("absence.error.too_late_to_withdraw")]
    assert (await rows(sqlite_engine))[0]["status"] == "pending"


async def test_leaders_list_requests_per_meeting(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    cell = await make_cell(harness, sqlite_engine)
    await ask(harness, cell.member, cell.meeting_id, note="sốt cao")
    await ask(harness, cell.other, cell.meeting_id, reason="family")
    [home] = await harness.say(cell.deputy, "/xinvang")
    [menu] = await harness.tap(cell.deputy, buttons_of([home])[vi("absence.button.list")])
    label = vi("absence.button.meeting", title="Họp tháng 12", day="29/11/2026", count=2)
    [listing] = await harness.tap(cell.deputy, buttons_of([menu])[label])
    assert "1. Lê Văn Nam: Ốm (sốt cao). đang chờ bí thư trả lời" in listing.text
    assert "2. Ngô Thị Lan: Việc gia đình. đang chờ bí thư trả lời" in listing.text
    approve = buttons_of([listing])[vi("absence.button.approve_named", name="Ngô Thị Lan")]
    decided = await harness.tap(cell.deputy, approve)
    [notice] = to(decided, cell.other.user_id)
    assert notice.text.startswith("✅")
    [listing] = await harness.tap(cell.deputy, f"xl:{cell.meeting_id}")
    assert "Ngô Thị Lan: Việc gia đình. đã được đồng ý" in listing.text
    # The list never offers a leader their own pending request.
    await ask(harness, cell.deputy, cell.meeting_id)
    [listing] = await harness.tap(cell.deputy, f"xl:{cell.meeting_id}")
    assert vi("absence.button.approve_named", name="Phạm Văn Phó") not in buttons_of([listing])


# --- who may see and do what -----------------------------------------------------------------


async def test_members_cannot_decide_list_or_touch_anothers_request(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    cell = await make_cell(harness, sqlite_engine)
    replies = await ask(harness, cell.member, cell.meeting_id, note="bí mật riêng")
    [card] = to(replies, cell.secretary.user_id)
    approve = buttons_of([card])[vi("absence.button.approve")]
    [absence] = await rows(sqlite_engine)

    assert told(await harness.tap(cell.other, approve)) == [vi("error.leader_only")]
    assert told(await harness.tap(cell.other, "xl")) == [vi("error.leader_only")]
    assert told(await harness.tap(cell.other, f"xl:{cell.meeting_id}")) == [vi("error.leader_only")]
    withdraw = await harness.tap(cell.other, f"xw:{absence['id']}")
    assert told(withdraw) == [vi("absence.not_found")]
    [home] = await harness.say(cell.other, "/xinvang")
    assert "bí mật riêng" not in home.text and "Lê Văn Nam" not in home.text
    # Decision buttons only work privately, never in the group.
    in_group = await harness.tap(cell.secretary, approve, group=GROUP)
    assert told(in_group) == [vi("error.private_only")]
    assert (await rows(sqlite_engine))[0]["status"] == "pending"

    # Nobody decides their own request: the deputy's goes to the secretary.
    replies = await ask(harness, cell.deputy, cell.meeting_id)
    assert to(replies, cell.deputy.user_id) == []
    [own] = [r for r in await rows(sqlite_engine) if r["id"] != absence["id"]]
    refused = await harness.tap(cell.deputy, f"xd:{own['id']}:y")
    assert told(refused) == [vi("absence.error.own_request")]
    assert [r["status"] for r in await rows(sqlite_engine)] == ["pending", "pending"]


async def test_the_secretary_of_another_cell_cannot_act_or_see(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    a = await make_cell(harness, sqlite_engine)
    b = await make_cell(harness, sqlite_engine, OTHER_GROUP)
    await ask(harness, a.member, a.meeting_id, note="riêng tư")
    [absence] = await rows(sqlite_engine)
    for data in (f"xd:{absence['id']}:y", f"xd:{absence['id']}:n"):
        assert told(await harness.tap(b.secretary, data)) == [vi("absence.not_found")]
    assert told(await harness.tap(b.secretary, f"xl:{a.meeting_id}")) == [
        vi("absence.meeting_gone")
    ]
    [menu] = await harness.tap(b.secretary, "xl")
    assert all(f"xl:{a.meeting_id}" != data for data in buttons_of([menu]).values())
    # Cell B's member cannot ask to miss cell A's meeting.
    stolen = await harness.tap(b.member, f"xr:{a.meeting_id}:sick")
    assert told(stolen) == [vi("absence.meeting_gone")]
    assert told(await harness.tap(b.member, f"xw:{absence['id']}")) == [vi("absence.not_found")]
    [row] = await rows(sqlite_engine)
    assert row["status"] == "pending" and row["decided_by"] is None


# --- bad input -------------------------------------------------------------------------------


async def test_cancelled_meetings_unknown_ids_and_forged_buttons(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    cell = await make_cell(harness, sqlite_engine)
    await harness.say(cell.member, "/xinvang")
    confirm = await harness.tap(cell.member, f"xr:{cell.meeting_id}:sick")
    async with sqlite_engine.begin() as connection:
        await connection.execute(
            update(meetings).where(meetings.c.id == cell.meeting_id).values(status="cancelled")
        )
    sent = await harness.tap(cell.member, buttons_of(confirm)[vi("absence.button.send")])
    assert told(sent) == [vi("absence.meeting_gone")]
    for data in (
        f"xr:{cell.meeting_id}:sick",
        f"xm:{cell.meeting_id}",
        "xr:424242:sick",
        "xm:424242",
    ):
        assert told(await harness.tap(cell.member, data)) == [vi("absence.meeting_gone")], data
    for data in ("xr", "xr:abc:sick", f"xr:{cell.meeting_id}:bored", "xm:-1"):
        assert told(await harness.tap(cell.member, data)) == [vi("error.stale_button")], data
    for data in ("xd:999999:y", "xd:1:maybe", "xd:99999999999999999999:y", "xw:abc"):
        expected = "absence.not_found" if data == "xd:999999:y" else "error.stale_button"
        assert told(await harness.tap(cell.secretary, data)) == [vi(expected)], data
    [home] = await harness.say(cell.member, "/xinvang")
    assert home.text == vi("absence.no_meeting")
    assert await rows(sqlite_engine) == []


async def test_decision_after_the_meeting_was_cancelled(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    cell = await make_cell(harness, sqlite_engine)
    card = to(await ask(harness, cell.member, cell.meeting_id), cell.secretary.user_id)
    async with sqlite_engine.begin() as connection:
        await connection.execute(
            update(meetings).where(meetings.c.id == cell.meeting_id).values(status="cancelled")
        )
    tapped = await harness.tap(cell.secretary, buttons_of(card)[vi("absence.button.approve")])
    assert told(tapped) == [vi("absence.meeting_gone")]
    assert (await rows(sqlite_engine))[0]["status"] == "pending"


# --- attendance --------------------------------------------------------------------------------


async def test_approved_absence_is_excused_at_check_in_and_presence_overrides(
    harness: Harness, sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    cell = await make_cell(harness, sqlite_engine)
    member, other = await member_id(harness, cell.member), await member_id(harness, cell.other)
    card = to(await ask(harness, cell.member, cell.meeting_id), cell.secretary.user_id)
    await harness.tap(cell.secretary, buttons_of(card)[vi("absence.button.approve")])
    declined = to(await ask(harness, cell.other, cell.meeting_id), cell.secretary.user_id)
    await harness.tap(cell.secretary, buttons_of(declined)[vi("absence.button.decline")])

    clock.advance(timedelta(days=7, minutes=-30))
    await harness.say(cell.secretary, "/diemdanh", group=GROUP)
    assert await mark_of(sqlite_engine, cell.meeting_id, member) == "excused"
    assert await mark_of(sqlite_engine, cell.meeting_id, other) is None

    # Approved while check-in is open: excused at once, and the member is told so.
    deputy = await member_id(harness, cell.deputy)
    replies = await ask(harness, cell.deputy, cell.meeting_id)
    card = to(replies, cell.secretary.user_id)
    decided = await harness.tap(cell.secretary, buttons_of(card)[vi("absence.button.approve")])
    [notice] = to(decided, cell.deputy.user_id)
    assert vi("absence.told_excused") in notice.text
    assert await mark_of(sqlite_engine, cell.meeting_id, deputy) == "excused"

    # The member came after all: present overrides the excuse.
    await harness.tap(cell.member, f"ci:{cell.meeting_id}:in_person", group=GROUP)
    assert await mark_of(sqlite_engine, cell.meeting_id, member) == "present"
    excused = [d for a, d in await absence_audit(sqlite_engine) if a == "attendance.excused"]
    assert excused == [{"meeting": cell.meeting_id}, {"meeting": cell.meeting_id}]


async def test_withdrawing_an_approved_absence_during_check_in_removes_the_excuse(
    harness: Harness, sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    cell = await make_cell(harness, sqlite_engine)
    member = await member_id(harness, cell.member)
    card = to(await ask(harness, cell.member, cell.meeting_id), cell.secretary.user_id)
    await harness.tap(cell.secretary, buttons_of(card)[vi("absence.button.approve")])
    clock.advance(timedelta(days=7, minutes=-60))
    await harness.say(cell.secretary, "/diemdanh", group=GROUP)
    assert await mark_of(sqlite_engine, cell.meeting_id, member) == "excused"
    [home] = await harness.say(cell.member, "/xinvang")
    await harness.tap(
        cell.member, buttons_of([home])[vi("absence.button.withdraw", day="29/11/2026")]
    )
    assert await mark_of(sqlite_engine, cell.meeting_id, member) is None


# --- the secretary's private warning ---------------------------------------------------------


def _past(day: int, states: dict[int, AttendanceState], year: int = 2026) -> PastMeeting:
    return PastMeeting(day, datetime(year, 1, 1, 12, tzinfo=UTC) + timedelta(days=day), states)


EXCUSED, ABSENT, PRESENT = AttendanceState.EXCUSED, AttendanceState.ABSENT, AttendanceState.PRESENT
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def test_missed_in_a_row_counts_back_from_the_latest() -> None:
    newest_first = [_past(90, {1: EXCUSED}), _past(60, {}), _past(30, {1: PRESENT}), _past(0, {})]
    assert missed_in_a_row(1, newest_first) == 2
    assert missed_in_a_row(2, newest_first) == 4  # never marked: absent every time
    assert missed_in_a_row(1, []) == 0


def test_unexcused_counts_only_this_year_and_only_without_reason() -> None:
    meetings = [
        _past(40, {1: ABSENT}),
        _past(20, {1: EXCUSED}),
        _past(10, {}),
        _past(-5, {1: ABSENT}),  # 27/12/2025: last year
    ]
    assert unexcused_in_year(1, meetings, 2026, ZONE) == 2
    assert unexcused_in_year(1, meetings, 2025, ZONE) == 1


def test_flags_fire_once_and_only_when_the_latest_meeting_is_part_of_it() -> None:
    expected = [
        ExpectedMember(1, "Ba buổi liền có lý do", LONG_AGO),
        ExpectedMember(2, "Có mặt hôm nay", LONG_AGO),
        ExpectedMember(3, "Ba lần không lý do", LONG_AGO),
        ExpectedMember(4, "Mới vào", datetime(2026, 3, 1, tzinfo=UTC)),
        ExpectedMember(5, "Hai buổi liền", LONG_AGO),
    ]
    newest_first = [
        _past(100, {1: EXCUSED, 2: PRESENT, 3: ABSENT, 5: EXCUSED}),
        _past(80, {1: EXCUSED, 2: ABSENT, 3: PRESENT, 5: EXCUSED}),
        _past(70, {1: EXCUSED, 2: ABSENT, 3: ABSENT, 4: PRESENT, 5: PRESENT}),
        _past(50, {1: PRESENT, 2: ABSENT, 3: ABSENT, 5: PRESENT}),  # before member 4 joined
        _past(30, {1: PRESENT, 2: ABSENT, 3: PRESENT, 5: PRESENT}),
    ]
    flags = absence_flags(expected, newest_first, ZONE)
    assert [(f.full_name, f.streak, f.unexcused) for f in flags] == [
        ("Ba buổi liền có lý do", 3, 0),
        ("Ba lần không lý do", 0, 3),
    ]
    # Member 4 joined after day 50: only two meetings count, no streak of three.
    assert absence_flags(expected, [], ZONE) == []


async def test_closing_check_in_warns_the_secretary_privately_never_the_group(
    harness: Harness, sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    cell = await make_cell(harness, sqlite_engine)
    # Three meetings a week apart; Lê Văn Nam never comes, the others always do.
    ids = [cell.meeting_id]
    for week in (2, 3):
        ids.append(
            await insert_meeting(sqlite_engine, cell.cell_id, START + timedelta(days=7 * week))
        )
    comers = [cell.secretary, cell.deputy, cell.other]
    warnings: list[list[Reply]] = []
    for index, meeting in enumerate(ids):
        clock.advance(timedelta(days=7) - (timedelta(minutes=10) if index == 0 else timedelta()))
        await harness.say(cell.secretary, "/diemdanh", group=GROUP)
        for person in comers:
            await harness.tap(person, f"ci:{meeting}:in_person", group=GROUP)
        await harness.tap(cell.secretary, f"cc:{meeting}", group=GROUP)
        closed = await harness.tap(cell.secretary, f"cy:{meeting}:1")
        warnings.append([r for r in closed if vi("absence.flag.header") in r.text])
        assert all(vi("absence.flag.header") not in r.text for r in to(closed, GROUP))
        assert all("vắng 3 buổi" not in r.text for r in to(closed, GROUP))
    assert warnings[0] == [] and warnings[1] == []
    [warning] = warnings[2]
    assert warning.chat_id == cell.secretary.user_id
    assert vi("absence.flag.streak", name="Lê Văn Nam", count=3) in warning.text
    assert vi("absence.flag.unexcused", name="Lê Văn Nam", count=3, year=2026) in warning.text
    assert "Ngô Thị Lan" not in warning.text


# --- storage on every engine -----------------------------------------------------------------


async def test_storage_request_decide_withdraw_on_each_engine(
    engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock
) -> None:
    harness = Harness(engine, cipher, clock)
    cell = await make_cell(harness, engine)
    repo = harness.services.absences
    member = await member_id(harness, cell.member)
    secretary = await member_id(harness, cell.secretary)
    first = await repo.request(
        cell_id=cell.cell_id,
        meeting_id=cell.meeting_id,
        member_id=member,
        reason=AbsenceReason.FAMILY,
        reason_text=None,
        actor=Actor("test", member),
        now=START,
    )
    assert first.status is AbsenceStatus.PENDING and not first.late
    assert [a.id for a in await repo.mine(cell.cell_id, member, START)] == [first.id]
    decided, excused = await repo.decide(
        cell_id=cell.cell_id,
        absence_id=first.id,
        approve=True,
        decided_by=secretary,
        actor=Actor("test", secretary),
        now=START,
    )
    assert decided.status is AbsenceStatus.APPROVED and not excused
    opened, _ = await harness.services.attendance.open(
        cell_id=cell.cell_id,
        meeting_id=cell.meeting_id,
        actor=Actor("test", secretary),
        now=START,
    )
    assert await mark_of(engine, opened.id, member) == "excused"
    withdrawn = await repo.withdraw(
        cell_id=cell.cell_id,
        absence_id=first.id,
        member_id=member,
        actor=Actor("test", member),
        now=START,
    )
    assert withdrawn.status is AbsenceStatus.WITHDRAWN
    assert await mark_of(engine, opened.id, member) is None
    past, expected = await repo.history(cell.cell_id)
    assert past == [] and {m.full_name for m in expected} >= {"Lê Văn Nam", "Trần Thị Hoa"}
    leaders = await LinkRepository(engine).leader_accounts(cell.cell_id, "telegram")
    assert set(leaders) == {
        ("telegram", cell.secretary.user_id),
        ("telegram", cell.deputy.user_id),
    }


def test_every_absence_key_exists_in_both_languages() -> None:
    source = (ROOT / "handlers" / "absences.py").read_text(encoding="utf-8")
    used = set(re.findall(r"""["'](absence\.[a-z_.]+)["']""", source))
    dynamic = {
        *(f"absence.button.{r}" for r in AbsenceReason),
        *(f"absence.reason.{r}" for r in AbsenceReason),
        *(f"absence.status.{s}" for s in AbsenceStatus),
        *(f"absence.{k}.{s}" for k in ("decided", "told") for s in ("approved", "declined")),
    }
    assert len(used) > 40
    for language in ("vi", "en"):
        assert sorted((used | dynamic) - set(catalog(language))) == [], language
    assert absence_handlers.COMMAND == "xinvang"


async def test_another_of_the_next_meetings_can_be_picked(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    cell = await make_cell(harness, sqlite_engine)
    later = await insert_meeting(
        sqlite_engine, cell.cell_id, NEXT_WEEK + timedelta(days=14), title="Họp chuyên đề"
    )
    [home] = await harness.say(cell.member, "/xinvang")
    pick = buttons_of([home])[
        vi("absence.button.other_meeting", title="Họp chuyên đề", day="13/12/2026")
    ]
    [page] = await harness.tap(cell.member, pick)
    assert page.replace and "Xin vắng buổi họp: Họp chuyên đề" in page.text
    assert buttons_of([page])[vi("absence.button.family")] == f"xr:{later}:family"
    await ask(harness, cell.member, later, reason="family")
    [row] = await rows(sqlite_engine)
    assert row["meeting_id"] == later
    # The other meeting is still offered; the asked one answers "already sent".
    [home] = await harness.say(cell.member, "/xinvang")
    assert f"xr:{cell.meeting_id}:sick" in buttons_of([home]).values()
    assert told(await harness.tap(cell.member, pick)) == [
        vi(
            "absence.already_sent",
            title="Họp chuyên đề",
            when=vi.datetime((NEXT_WEEK + timedelta(days=14)).astimezone(ZONE)),
        )
    ]


async def test_racing_requests_and_decisions_settle_once_on_each_engine(
    engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock
) -> None:
    harness = Harness(engine, cipher, clock)
    cell = await make_cell(harness, engine)
    repo = harness.services.absences
    member = await member_id(harness, cell.member)
    leaders = [await member_id(harness, p) for p in (cell.secretary, cell.deputy)]

    async def request() -> bool:
        try:
            await repo.request(
                cell_id=cell.cell_id,
                meeting_id=cell.meeting_id,
                member_id=member,
                reason=AbsenceReason.SICK,
                reason_text=None,
                actor=Actor("test", member),
                now=START,
            )
        except AbsenceExists:
            return False
        return True

    assert sorted(await asyncio.gather(*(request() for _ in range(5)))) == [False] * 4 + [True]
    [row] = await rows(engine)

    async def decide(leader: int, approve: bool) -> str:
        try:
            absence, _ = await repo.decide(
                cell_id=cell.cell_id,
                absence_id=int(str(row["id"])),
                approve=approve,
                decided_by=leader,
                actor=Actor("test", leader),
                now=START,
            )
        except AbsenceSettled:
            return "settled"
        return absence.status.value

    async def withdraw() -> str:
        try:
            absence = await repo.withdraw(
                cell_id=cell.cell_id,
                absence_id=int(str(row["id"])),
                member_id=member,
                actor=Actor("test", member),
                now=START,
            )
        except AbsenceSettled:
            return "settled"
        return absence.status.value

    # Two declines and a withdrawal: each one rules out the others (an approval would not, as
    # an approved request may still be withdrawn).
    outcomes = await asyncio.gather(
        decide(leaders[0], False), decide(leaders[1], False), withdraw()
    )
    winners = [outcome for outcome in outcomes if outcome != "settled"]
    assert len(winners) == 1
    [row] = await rows(engine)
    assert row["status"] == winners[0]
    assert len([a for a, _ in await absence_audit(engine) if a != "absence.requested"]) == 1
