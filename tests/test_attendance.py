"""Attendance, the closing announcement and the minutes draft, through the real dispatcher with
neutral Inbound messages on a real SQLite file; the count itself is unit-tested by hand."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers import attendance
from handlers.core import Reply
from handlers.i18n import Texts, catalog
from scheduler.clock import ManualClock
from storage.attendance import (
    AttendanceRepository,
    CheckinClosed,
    CheckinNotOpen,
    CheckinSnapshot,
    Mark,
    RosterEntry,
)
from storage.audit import Actor
from storage.crypto import FieldCipher
from storage.models import (
    AttendanceMode,
    AttendanceState,
    MemberStatus,
    OrgUnit,
    Role,
    RosterRow,
)
from storage.schema import attendance as attendance_table
from storage.schema import audit_log, meetings, members, org_units
from tests.conftest import START
from tests.support.harness import Harness, Person, buttons_of, texts_of, told

GROUP = "-100888"
OTHER_GROUP = "-100999"
vi = Texts("vi")
# The clock starts at 19:00 on Sunday 22/11/2026 in Hà Nội (12:00 UTC); the test meeting
# starts half an hour later.
MEETING_AT = START + timedelta(minutes=30)
ROOT = Path(__file__).resolve().parent.parent


def wired_harness(engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock) -> Harness:
    return Harness(engine, cipher, clock)


@pytest.fixture
def harness(sqlite_engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock) -> Harness:
    return wired_harness(sqlite_engine, cipher, clock)


# --- setup helpers ---------------------------------------------------------------------------


async def insert_meeting(
    engine: AsyncEngine,
    cell_id: int,
    starts_at: datetime,
    *,
    title: str = "Sinh hoạt chi bộ tháng 11",
    place: str = "Hội trường KP5",
    agenda: str = "",
    online_url: str | None = None,
    status: str = "scheduled",
    kind: str = "regular",
) -> int:
    async with engine.begin() as connection:
        return int(
            (
                await connection.execute(
                    insert(meetings)
                    .values(
                        org_unit_id=cell_id,
                        kind=kind,
                        title=title,
                        starts_at=starts_at,
                        place=place,
                        online_url=online_url,
                        agenda=agenda,
                        status=status,
                        created_at=START,
                        updated_at=START,
                    )
                    .returning(meetings.c.id)
                )
            ).scalar_one()
        )


async def found_cell(
    harness: Harness, group: str = GROUP, name: str = "Chi bộ Khu phố 5"
) -> tuple[Person, OrgUnit]:
    secretary = harness.person("Trần Thị Hoa" if group == GROUP else "Đỗ Văn Bình")
    harness.platform.admins[group] = {secretary.user_id}
    await harness.say(secretary, f"/batdau {name}", group=group)
    cell = await harness.services.cells.cell_for_chat("telegram", group)
    assert cell is not None
    return secretary, cell


async def join(harness: Harness, secretary: Person, name: str, group: str = GROUP) -> Person:
    person = harness.person(name)
    request = await harness.say(person, "/thamgia", group=group)
    approve = buttons_of(request)[vi("join.button.approve")]
    await harness.tap(secretary, approve, group=group)
    return person


async def member_id(harness: Harness, person: Person) -> int:
    member = await harness.services.members.by_identity("telegram", person.user_id)
    assert member is not None
    return member.id


async def import_members(harness: Harness, cell_id: int, people: list[tuple[str, MemberStatus]]):  # type: ignore[no-untyped-def]
    rows = [
        RosterRow(name, None, None, None, None, None, None, None, status) for name, status in people
    ]
    await harness.services.members.import_roster(
        cell_id=cell_id, rows=rows, actor=Actor("test"), now=START
    )
    roster = await harness.services.members.roster(cell_id)
    return {m.full_name: m.id for m in roster}


async def meeting_row(engine: AsyncEngine, meeting_id: int) -> dict[str, object]:
    async with engine.connect() as connection:
        row = (
            (await connection.execute(select(meetings).where(meetings.c.id == meeting_id)))
            .mappings()
            .one()
        )
    return dict(row)


async def count(engine: AsyncEngine, table, *conditions) -> int:  # type: ignore[no-untyped-def]
    async with engine.connect() as connection:
        query = select(func.count()).select_from(table).where(*conditions)
        return int((await connection.execute(query)).scalar_one())


async def audit_actions(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(audit_log.c.action)
            .where(audit_log.c.action.like("attendance.%"))
            .order_by(audit_log.c.id)
        )
        return [str(action) for action in rows.scalars()]


async def close_checkin(
    harness: Harness, who: Person, meeting: int, *, group: str | None = None
) -> list[Reply]:
    """«Kết thúc điểm danh» (in ``group`` or privately), then its private confirmation."""
    await harness.tap(who, f"cc:{meeting}", group=group)
    return await harness.tap(who, f"cy:{meeting}:1")


def popups(replies: list) -> list[str]:  # type: ignore[type-arg]
    return [reply.text for reply in replies if reply.popup]


# --- the count, by hand ----------------------------------------------------------------------


def _roster(official: int, probationary: int, exempted: int, temporary: int = 0):  # type: ignore[no-untyped-def]
    people: list[RosterEntry] = []
    for status, how_many in (
        (MemberStatus.OFFICIAL, official),
        (MemberStatus.PROBATIONARY, probationary),
        (MemberStatus.EXEMPTED, exempted),
        (MemberStatus.TEMPORARILY_EXEMPTED, temporary),
    ):
        for _ in range(how_many):
            n = len(people) + 1
            people.append(RosterEntry(n, f"Người {n}", Role.MEMBER, status))
    return people


def _mark(member: int, state: AttendanceState, mode: AttendanceMode | None = None) -> Mark:
    return Mark(member, state, mode, None, START)


def test_tally_twenty_two_expected_with_one_unexcused_fails_despite_86_percent() -> None:
    roster = _roster(20, 2, 3)  # ids 1–20 official, 21–22 probationary, 23–25 exempted
    marks = {i: _mark(i, AttendanceState.PRESENT, AttendanceMode.IN_PERSON) for i in range(1, 18)}
    marks |= {i: _mark(i, AttendanceState.PRESENT, AttendanceMode.ONLINE) for i in (21, 22)}
    marks |= {i: _mark(i, AttendanceState.EXCUSED) for i in (18, 19)}
    marks[23] = _mark(23, AttendanceState.PRESENT, AttendanceMode.IN_PERSON)  # exempted, came
    counts = attendance.tally(roster, marks)
    assert (counts.total, counts.expected, counts.present) == (25, 22, 19)
    assert (len(counts.in_person), len(counts.online)) == (17, 2)
    assert [m.id for m in counts.excused] == [18, 19]
    assert [m.id for m in counts.unexcused] == [20]  # never marked
    assert [m.id for m in counts.exempted_present] == [23]
    assert counts.rate == Fraction(19, 22)
    assert attendance.percent(vi, counts.rate) == "86,4%"
    assert attendance.percent(Texts("en"), counts.rate) == "86.4%"
    assert not counts.meets_bar  # above 85%, but one absence without reason


def test_tally_meets_the_bar_only_strictly_above_85_percent() -> None:
    roster = _roster(20, 0, 0)
    excused_three = {i: _mark(i, AttendanceState.PRESENT) for i in range(1, 18)}
    excused_three |= {i: _mark(i, AttendanceState.EXCUSED) for i in (18, 19, 20)}
    exactly = attendance.tally(roster, excused_three)
    assert exactly.rate == Fraction(17, 20) and not exactly.meets_bar  # 85% is not "above"
    excused_two = dict(excused_three) | {18: _mark(18, AttendanceState.PRESENT)}
    above = attendance.tally(roster, excused_two)
    assert above.rate == Fraction(18, 20) and above.meets_bar and not above.unexcused
    # A mode-less present mark (the secretary's) counts as in person.
    assert len(above.in_person) == 18 and not above.online


def test_tally_ignores_strangers_counts_explicit_absence_and_exempted_never_lower_rate() -> None:
    roster = _roster(2, 1, 1, 1)  # 1, 2 official; 3 probationary; 4 exempted; 5 temporary
    marks = {
        1: _mark(1, AttendanceState.PRESENT, AttendanceMode.ONLINE),
        2: _mark(2, AttendanceState.ABSENT),
        3: _mark(3, AttendanceState.PRESENT),
        4: _mark(4, AttendanceState.ABSENT),  # exempted: not expected, not counted absent
        99: _mark(99, AttendanceState.PRESENT),  # no longer on the roster
    }
    counts = attendance.tally(roster, marks)
    assert (counts.total, counts.expected, counts.present) == (5, 3, 2)
    assert [m.id for m in counts.unexcused] == [2]
    assert counts.exempted_present == () and counts.rate == Fraction(2, 3)
    assert counts.present_ids == {1, 3}


def test_tally_with_nobody_expected_has_no_rate_and_fails() -> None:
    counts = attendance.tally(_roster(0, 0, 2), {})
    assert counts.expected == 0 and counts.rate is None and not counts.meets_bar
    assert attendance.percent(vi, counts.rate) == "—"


# --- the whole flow --------------------------------------------------------------------------


async def test_open_mark_and_close_end_to_end(harness: Harness, sqlite_engine: AsyncEngine) -> None:
    secretary, cell = await found_cell(harness)
    nam = await join(harness, secretary, "Lê Văn Nam")
    lan = await join(harness, secretary, "Phạm Thị Lan")
    meeting = await insert_meeting(
        sqlite_engine,
        cell.id,
        MEETING_AT,
        agenda="Kiểm điểm công tác tháng 11\nXét kết nạp đảng viên mới",
        online_url="https://meet.example.org/kp5",
    )

    opened = await harness.say(secretary, "/diemdanh", group=GROUP)
    assert len(opened) == 1 and opened[0].chat_id is None
    assert "19:30, Chủ Nhật 22/11/2026" in opened[0].text and "Hội trường KP5" in opened[0].text
    buttons = buttons_of(opened)
    assert buttons == {
        vi("attendance.button.in_person"): f"ci:{meeting}:in_person",
        vi("attendance.button.online"): f"ci:{meeting}:online",
        vi("attendance.button.close"): f"cc:{meeting}",
    }
    assert (await meeting_row(sqlite_engine, meeting))["checkin_opened_at"] == START

    in_person, online = f"ci:{meeting}:in_person", f"ci:{meeting}:online"
    mode_in, mode_online = vi("attendance.mode.in_person"), vi("attendance.mode.online")
    first = await harness.tap(nam, in_person, group=GROUP)
    assert popups(first) == [vi("attendance.marked", name="Lê Văn Nam", mode=mode_in)]
    changed = await harness.tap(nam, online, group=GROUP)
    assert popups(changed) == [vi("attendance.mode_changed", name="Lê Văn Nam", mode=mode_online)]
    same = await harness.tap(nam, online, group=GROUP)
    assert popups(same) == [vi("attendance.already_marked", name="Lê Văn Nam", mode=mode_online)]
    await harness.tap(secretary, in_person, group=GROUP)

    # The secretary marks Lan privately: not marked → present → absent with reason.
    sheet = await harness.say(secretary, "/diemdanh")
    assert len(sheet) == 1, "already open: nothing is posted to the group again"
    lan_id = await member_id(harness, lan)
    lan_button = buttons_of(sheet)[vi("attendance.button.member.none", name="Phạm Thị Lan")]
    assert lan_button == f"cm:{meeting}:{lan_id}:present"
    marked = await harness.tap(secretary, lan_button)
    assert marked[0].popup and marked[1].replace
    excuse = buttons_of(marked)[vi("attendance.button.member.present", name="Phạm Thị Lan")]
    assert excuse == f"cm:{meeting}:{lan_id}:excused"
    excused = await harness.tap(secretary, excuse)
    assert vi("attendance.button.member.excused", name="Phạm Thị Lan") in buttons_of(excused)
    assert "Có mặt 2/3; vắng có lý do 1; chưa có mặt và chưa có lý do 0." in excused[1].text

    closed = await close_checkin(harness, secretary, meeting, group=GROUP)
    assert closed[0].popup and closed[0].text == vi("attendance.closed_done")
    assert closed[1].replace and "có mặt 2/3" in closed[1].text
    to_group = [r for r in closed if r.chat_id == GROUP]
    # The secretary privately: the names, and the minutes draft with its «Họp xong» button.
    named, *to_secretary = [r for r in closed if r.chat_id == secretary.user_id]
    assert len(to_group) == 1 and len(to_secretary) == 1 and to_secretary[0].choices
    announcement = to_group[0].text
    assert "Tổng số đảng viên: 3 (chính thức 3, dự bị 0" in announcement
    assert "Có mặt: 2/3 đồng chí phải dự họp (trực tiếp 1, trực tuyến 1), đạt 66,7%." in (
        announcement
    )
    assert vi("attendance.summary.absent_counts", excused=1, unexcused=0) in announcement
    assert "Phạm Thị Lan" not in announcement
    assert "Vắng có lý do (1): Phạm Thị Lan." in named.text
    assert "Vắng không lý do (0): không có." in named.text
    assert vi("attendance.summary.low_rate", rate="66,7%") in announcement

    stored = await meeting_row(sqlite_engine, meeting)
    assert stored["checkin_closed_at"] == START and isinstance(stored["minutes"], str)
    assert str(stored["minutes"]) in to_secretary[0].text
    assert await audit_actions(sqlite_engine) == [
        "attendance.opened",
        *["attendance.marked"] * 6,
        "attendance.closed",
    ]

    late = await harness.tap(lan, in_person, group=GROUP)
    assert popups(late) == [vi("attendance.closed")]
    assert await count(sqlite_engine, attendance_table, attendance_table.c.member_id == lan_id) == 1
    again = await harness.tap(secretary, f"cc:{meeting}", group=GROUP)
    assert popups(again) == [vi("attendance.closed_already")]
    late_mark = await harness.tap(secretary, lan_button)
    assert popups(late_mark) == [vi("attendance.closed_already")]
    reopen = await harness.say(secretary, "/diemdanh", group=GROUP)
    assert "đã kết thúc lúc 19:00, Chủ Nhật 22/11/2026" in texts_of(reopen)

    fetched = await harness.say(secretary, "/bienban")
    assert texts_of(fetched) == to_secretary[0].text
    by_number = await harness.say(secretary, f"/minutes {meeting}")
    assert texts_of(by_number) == to_secretary[0].text


async def test_minutes_have_every_header_field_and_absentees_by_name(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, cell = await found_cell(harness)
    ids = await import_members(
        harness,
        cell.id,
        [
            ("Nguyễn Văn An", MemberStatus.OFFICIAL),
            ("Vũ Thị Bích", MemberStatus.PROBATIONARY),
            ("Hoàng Văn Cường", MemberStatus.OFFICIAL),
            ("Lý Thị Duyên", MemberStatus.EXEMPTED),
            ("Đinh Văn Em", MemberStatus.TEMPORARILY_EXEMPTED),
        ],
    )
    meeting = await insert_meeting(
        sqlite_engine,
        cell.id,
        MEETING_AT,
        title="Sinh hoạt chuyên đề quý IV",
        kind="thematic",
        agenda="Học tập Nghị quyết\nKiểm điểm công tác tháng",
        online_url="https://meet.example.org/q4",
    )
    await harness.say(secretary, "/diemdanh", group=GROUP)
    for name, state in (
        ("Trần Thị Hoa", "present"),
        ("Vũ Thị Bích", "present"),
        ("Hoàng Văn Cường", "excused"),
        ("Lý Thị Duyên", "present"),
    ):
        await harness.tap(secretary, f"cm:{meeting}:{ids[name]}:{state}")
    await harness.tap(secretary, f"ci:{meeting}:online", group=GROUP)  # Hoa joins online instead
    sheet = await harness.say(secretary, "/diemdanh")  # still open: the sheet
    assert sheet and (await meeting_row(sqlite_engine, meeting))["checkin_closed_at"] is None
    replies = await close_checkin(harness, secretary, meeting)
    minutes = str((await meeting_row(sqlite_engine, meeting))["minutes"])
    assert minutes.startswith("BIÊN BẢN SINH HOẠT CHI BỘ CHUYÊN ĐỀ (BẢN NHÁP)")
    for expected in (
        "Chi bộ: Chi bộ Khu phố 5",
        f"Cuộc họp: Sinh hoạt chuyên đề quý IV (số {meeting})",
        "1. Thời gian: bắt đầu lúc 19:30, Chủ Nhật 22/11/2026.",
        "2. Địa điểm: Hội trường KP5.",
        "Họp trực tuyến: https://meet.example.org/q4",
        "3. Khách mời: ……",
        "4. Chủ trì: đồng chí Trần Thị Hoa.",
        "5. Thư ký (người ghi biên bản): đồng chí ……",
        "6. Dự họp: có mặt 2/4 đảng viên phải dự họp, đạt 50,0% (tổng số đảng viên của chi bộ: 6).",
        "- Đảng viên chính thức: có mặt 1/3: Trần Thị Hoa (trực tuyến).",
        "- Đảng viên dự bị: có mặt 1/1: Vũ Thị Bích.",
        "- Đảng viên được miễn sinh hoạt: 1; có mặt 1: Lý Thị Duyên.",
        "- Đảng viên tạm miễn sinh hoạt: 1; có mặt 0: không có.",
        "- Đảng viên sinh hoạt tạm thời có mặt: ……",
        "- Vắng có lý do (1): Hoàng Văn Cường.",
        "- Vắng không lý do (1): Nguyễn Văn An.",
        "1) Học tập Nghị quyết",
        "2) Kiểm điểm công tác tháng",
    ):
        assert expected in minutes, expected
    assert minutes.count("Ý kiến phát biểu: ……") == 2
    assert minutes.count("Kết luận của chủ trì: ……") == 2
    # Closed from the private sheet: the announcement still goes to the group.
    assert [r.chat_id for r in replies if r.chat_id == GROUP] == [GROUP]
    group_text = next(r.text for r in replies if r.chat_id == GROUP)
    assert "Đồng chí được miễn sinh hoạt vẫn đến dự (1): Lý Thị Duyên." in group_text


async def test_twenty_two_expected_announcement_and_no_personal_data_in_group(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, cell = await found_cell(harness)
    people = [(f"Đảng Viên {n:02d}", MemberStatus.OFFICIAL) for n in range(1, 20)]
    people += [("Dự Bị Một", MemberStatus.PROBATIONARY), ("Dự Bị Hai", MemberStatus.PROBATIONARY)]
    people += [("Miễn Một", MemberStatus.EXEMPTED), ("Miễn Hai", MemberStatus.EXEMPTED)]
    people += [("Tạm Miễn", MemberStatus.TEMPORARILY_EXEMPTED)]
    ids = await import_members(harness, cell.id, people)
    await harness.services.members.update_fields(
        cell_id=cell.id,
        member_id=ids["Đảng Viên 19"],
        changes={"phone": "0912345678", "citizen_id": "001234567890"},
        actor=Actor("test"),
        now=START,
    )
    meeting = await insert_meeting(sqlite_engine, cell.id, MEETING_AT)
    await harness.say(secretary, "/diemdanh", group=GROUP)
    await harness.tap(secretary, f"ci:{meeting}:in_person", group=GROUP)
    present = [f"Đảng Viên {n:02d}" for n in range(1, 17)] + ["Dự Bị Một", "Dự Bị Hai"]
    for name in present:
        await harness.tap(secretary, f"cm:{meeting}:{ids[name]}:present")
    for name in ("Đảng Viên 17", "Đảng Viên 18"):
        last_page = await harness.tap(secretary, f"cm:{meeting}:{ids[name]}:excused")
    await harness.tap(secretary, f"cm:{meeting}:{ids['Tạm Miễn']}:present")
    # 25 members: the sheet has two pages and a tap shows the page of the member tapped.
    assert "Trang 2/2." in last_page[1].text
    assert vi("attendance.button.previous") in buttons_of(last_page)
    first_page = await harness.tap(secretary, f"cp:{meeting}:0")
    assert "Trang 1/2." in first_page[0].text and first_page[0].replace

    closed = await close_checkin(harness, secretary, meeting, group=GROUP)
    group_text = "\n".join(r.text for r in closed if r.chat_id in (GROUP, None))
    assert (
        "Tổng số đảng viên: 25 (chính thức 20, dự bị 2, miễn sinh hoạt 2, "
        "tạm miễn sinh hoạt 1)." in group_text
    )
    assert "Có mặt: 19/22 đồng chí phải dự họp (trực tiếp 19, trực tuyến 0), đạt 86,4%." in (
        group_text
    )
    assert vi("attendance.summary.absent_counts", excused=2, unexcused=1) in group_text
    assert "Đảng Viên 17" not in group_text and "Đảng Viên 19" not in group_text
    named = "\n".join(r.text for r in closed if r.chat_id == secretary.user_id)
    assert "Vắng có lý do (2): Đảng Viên 17, Đảng Viên 18." in named
    assert "Vắng không lý do (1): Đảng Viên 19." in named
    assert vi("attendance.summary.has_unexcused", count=1) in group_text
    assert vi("attendance.summary.meets") not in group_text
    assert vi("attendance.summary.low_rate", rate="86,4%") not in group_text
    assert "Đồng chí được miễn sinh hoạt vẫn đến dự (1): Tạm Miễn." in group_text
    for reply in closed:  # nothing anywhere carries personal data
        assert "0912345678" not in reply.text and "001234567890" not in reply.text


async def test_private_open_posts_the_buttons_to_the_group(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, cell = await found_cell(harness)
    meeting = await insert_meeting(sqlite_engine, cell.id, START + timedelta(hours=2))
    replies = await harness.say(secretary, "/attendance")
    assert replies[0].chat_id is None
    assert replies[0].text.startswith(vi("attendance.opened_in_group"))
    assert [r.chat_id for r in replies[1:]] == [GROUP]
    assert f"ci:{meeting}:in_person" in buttons_of(replies[1:]).values()
    assert await audit_actions(sqlite_engine) == ["attendance.opened"]
    again = await harness.say(secretary, "/diemdanh")
    assert len(again) == 1 and await audit_actions(sqlite_engine) == ["attendance.opened"]


# --- who may do what -------------------------------------------------------------------------


async def test_member_cannot_open_or_close_and_nothing_is_stored(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, cell = await found_cell(harness)
    nam = await join(harness, secretary, "Lê Văn Nam")
    meeting = await insert_meeting(sqlite_engine, cell.id, MEETING_AT)
    refused = await harness.say(nam, "/diemdanh", group=GROUP)
    # The refusal says what a member does instead: tap «Có mặt» when check-in opens.
    assert texts_of(refused) == vi("attendance.member_hint")
    assert (await meeting_row(sqlite_engine, meeting))["checkin_opened_at"] is None
    await harness.say(secretary, "/diemdanh", group=GROUP)
    close = await harness.tap(nam, f"cc:{meeting}", group=GROUP)
    assert popups(close) == [vi("error.leader_only")]
    mark = await harness.tap(nam, f"cm:{meeting}:{await member_id(harness, nam)}:excused")
    assert texts_of(mark) == vi("error.leader_only")
    minutes = await harness.say(nam, "/bienban")
    assert texts_of(minutes) == vi("error.leader_only")
    assert (await meeting_row(sqlite_engine, meeting))["checkin_closed_at"] is None
    assert await count(sqlite_engine, attendance_table) == 0
    assert await audit_actions(sqlite_engine) == ["attendance.opened"]
    stranger = harness.person("Người Lạ")
    tap = await harness.tap(stranger, f"ci:{meeting}:in_person", group=GROUP)
    assert popups(tap) == [vi("error.not_member")]
    assert await count(sqlite_engine, attendance_table) == 0


async def test_a_secretary_cannot_touch_another_cells_meeting_or_members(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary_a, cell_a = await found_cell(harness)
    secretary_b, cell_b = await found_cell(harness, OTHER_GROUP, "Chi bộ Khu phố 6")
    member_b = await join(harness, secretary_b, "Người Của B", group=OTHER_GROUP)
    b_id = await member_id(harness, member_b)
    meeting_a = await insert_meeting(sqlite_engine, cell_a.id, MEETING_AT)
    meeting_b = await insert_meeting(sqlite_engine, cell_b.id, MEETING_AT)
    await harness.say(secretary_a, "/diemdanh", group=GROUP)
    await harness.say(secretary_b, "/diemdanh", group=OTHER_GROUP)

    assert texts_of(await harness.tap(secretary_a, f"cm:{meeting_b}:{b_id}:present")) == vi(
        "attendance.meeting_gone"
    )
    assert texts_of(await harness.tap(secretary_a, f"cm:{meeting_a}:{b_id}:present")) == vi(
        "error.member_not_found"
    )
    assert texts_of(await harness.tap(secretary_a, f"cc:{meeting_b}")) == vi(
        "attendance.meeting_gone"
    )
    assert texts_of(await harness.tap(secretary_a, f"cp:{meeting_b}:0")) == vi(
        "attendance.meeting_gone"
    )
    # In B's group, A's secretary is a stranger; and a member of B cannot tap into A's meeting.
    in_b = await harness.tap(secretary_a, f"cc:{meeting_b}", group=OTHER_GROUP)
    assert popups(in_b) == [vi("error.not_member")]
    cross = await harness.tap(member_b, f"ci:{meeting_a}:in_person", group=OTHER_GROUP)
    assert popups(cross) == [vi("attendance.meeting_gone")]
    assert await count(sqlite_engine, attendance_table) == 0
    assert (await meeting_row(sqlite_engine, meeting_b))["checkin_closed_at"] is None

    await close_checkin(harness, secretary_b, meeting_b, group=OTHER_GROUP)
    assert texts_of(await harness.say(secretary_a, f"/bienban {meeting_b}")) == vi(
        "minutes.not_found", id=str(meeting_b)
    )
    assert texts_of(await harness.say(secretary_a, "/bienban")) == vi("minutes.none")


async def test_stale_unknown_and_deleted_meetings_get_a_clear_popup(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, cell = await found_cell(harness)
    nam = await join(harness, secretary, "Lê Văn Nam")
    nam_id = await member_id(harness, nam)
    meeting = await insert_meeting(sqlite_engine, cell.id, MEETING_AT)
    await harness.say(secretary, "/diemdanh", group=GROUP)
    async with sqlite_engine.begin() as connection:
        await connection.execute(delete(meetings).where(meetings.c.id == meeting))
    for who, data in (
        (nam, f"ci:{meeting}:in_person"),
        (nam, "ci:424242:online"),
        (secretary, f"cc:{meeting}"),
    ):
        replies = await harness.tap(who, data, group=GROUP)
        assert [(r.text, r.popup) for r in replies] == [(vi("attendance.meeting_gone"), True)]
    assert texts_of(await harness.tap(secretary, f"cm:{meeting}:{nam_id}:present")) == vi(
        "attendance.meeting_gone"
    )
    for data in (
        "ci:abc:in_person",
        "ci:1:flying",
        "ci:1",
        "ci:" + "9" * 30 + ":online",
        "cc:",
        "cc:1:2",
        f"cm:1:{nam_id}",
        f"cm:1:{nam_id}:maybe",
        "cp:x:0",
    ):
        replies = await harness.tap(
            secretary, data, group=GROUP if data[:2] in ("ci", "cc") else None
        )
        assert told(replies) == [vi("error.stale_button")] and len(replies) == 1, data
    assert texts_of(await harness.say(secretary, "/bienban abc")) == vi("minutes.bad_number")
    assert await count(sqlite_engine, attendance_table) == 0


async def test_cancelled_meeting_is_gone_for_check_in(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, cell = await found_cell(harness)
    meeting = await insert_meeting(sqlite_engine, cell.id, MEETING_AT)
    await harness.say(secretary, "/diemdanh", group=GROUP)
    async with sqlite_engine.begin() as connection:
        await connection.execute(
            update(meetings).where(meetings.c.id == meeting).values(status="cancelled")
        )
    tap = await harness.tap(secretary, f"ci:{meeting}:in_person", group=GROUP)
    assert popups(tap) == [vi("attendance.meeting_gone")]
    assert texts_of(await harness.say(secretary, "/diemdanh", group=GROUP)) == vi(
        "attendance.no_meeting_scheduled"
    )


# --- which meeting is "now" ------------------------------------------------------------------


async def test_no_meeting_now_says_when_the_next_one_is(
    harness: Harness, sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    secretary, cell = await found_cell(harness)
    none = await harness.say(secretary, "/diemdanh", group=GROUP)
    assert texts_of(none) == vi("attendance.no_meeting_scheduled")
    await insert_meeting(sqlite_engine, cell.id, START - timedelta(hours=6, minutes=1))
    await insert_meeting(
        sqlite_engine, cell.id, datetime(2026, 12, 15, 12, 30, tzinfo=UTC), title="Tháng 12"
    )
    later = await harness.say(secretary, "/diemdanh", group=GROUP)
    assert texts_of(later) == vi(
        "attendance.no_meeting_now",
        title="Tháng 12",
        when="19:30, Thứ Ba 15/12/2026",
        opens="17:30, Thứ Ba 15/12/2026",
    )
    assert await audit_actions(sqlite_engine) == []
    clock.advance(datetime(2026, 12, 15, 10, 30, tzinfo=UTC) - START)  # exactly 2 hours before
    opened = await harness.say(secretary, "/diemdanh", group=GROUP)
    assert "Tháng 12" in texts_of(opened) and buttons_of(opened)


async def _bare_cell(engine: AsyncEngine) -> int:
    async with engine.begin() as connection:
        inserted = await connection.execute(
            insert(org_units)
            .values(
                kind="cell",
                name="C",
                timezone="Asia/Ho_Chi_Minh",
                auto_accept=False,
                created_at=START,
            )
            .returning(org_units.c.id)
        )
        return int(inserted.scalar_one())


async def test_the_nearest_meeting_in_the_window_is_chosen(engine: AsyncEngine) -> None:
    """Storage on every backend: the window, idempotent opening, closing once."""
    repo = AttendanceRepository(engine)
    cell_id = await _bare_cell(engine)
    earlier = await insert_meeting(engine, cell_id, START - timedelta(hours=5))
    nearer = await insert_meeting(engine, cell_id, START + timedelta(minutes=90))
    await insert_meeting(engine, cell_id, START + timedelta(hours=2, minutes=1))
    current = await repo.current(cell_id, START)
    assert current is not None and current.id == nearer
    assert (await repo.current(cell_id, START - timedelta(hours=3))).id == earlier  # type: ignore[union-attr]

    actor = Actor("test")
    with pytest.raises(CheckinNotOpen):
        await repo.close(
            cell_id=cell_id, meeting_id=nearer, actor=actor, now=START, draft=lambda _: ""
        )
    first, opened = await repo.open(cell_id=cell_id, meeting_id=nearer, actor=actor, now=START)
    second, again = await repo.open(
        cell_id=cell_id, meeting_id=nearer, actor=actor, now=START + timedelta(minutes=5)
    )
    assert opened and not again and second.checkin_opened_at == first.checkin_opened_at == START
    seen: list[int] = []
    closed = await repo.close(
        cell_id=cell_id,
        meeting_id=nearer,
        actor=actor,
        now=START,
        draft=lambda snapshot: seen.append(snapshot.meeting.id) or "draft",  # type: ignore[func-returns-value]
    )
    assert seen == [nearer] and closed.meeting.minutes == "draft" and closed.meeting.is_closed
    with pytest.raises(CheckinClosed):
        await repo.open(cell_id=cell_id, meeting_id=nearer, actor=actor, now=START)
    latest = await repo.latest_minutes(cell_id)
    assert latest is not None and latest.id == nearer


async def test_marks_racing_the_close_never_land_after_the_minutes(engine: AsyncEngine) -> None:
    """Every mark either counts in the minutes or is refused as "closed": none slips in."""
    repo = AttendanceRepository(engine)
    cell_id = await _bare_cell(engine)
    async with engine.begin() as connection:
        for n in range(12):
            await connection.execute(
                insert(members).values(
                    org_unit_id=cell_id,
                    full_name=f"Người {n}",
                    role="member",
                    status="official",
                    state="active",
                    created_at=START,
                    updated_at=START,
                )
            )
        ids = list((await connection.execute(select(members.c.id))).scalars())
    meeting = await insert_meeting(engine, cell_id, MEETING_AT)
    actor = Actor("test")
    await repo.open(cell_id=cell_id, meeting_id=meeting, actor=actor, now=START)

    async def mark(member: int) -> bool:
        try:
            await repo.mark(
                cell_id=cell_id,
                meeting_id=meeting,
                member_id=member,
                state=AttendanceState.PRESENT,
                mode=AttendanceMode.ONLINE,
                marked_by=member,
                actor=actor,
                now=START,
            )
        except CheckinClosed:
            return False
        return True

    def draft(snapshot: CheckinSnapshot) -> str:
        return ",".join(str(member) for member in sorted(snapshot.marks))

    results = await asyncio.gather(
        *(mark(member) for member in ids[:6]),
        repo.close(cell_id=cell_id, meeting_id=meeting, actor=actor, now=START, draft=draft),
        *(mark(member) for member in ids[6:]),
    )
    snapshot = results[6]
    assert isinstance(snapshot, CheckinSnapshot)
    accepted = sorted(
        member for member, ok in zip(ids, results[:6] + results[7:], strict=True) if ok
    )
    assert sorted(snapshot.marks) == accepted
    assert snapshot.meeting.minutes == ",".join(str(member) for member in accepted)
    assert await count(engine, attendance_table) == len(accepted)


# --- catalog ---------------------------------------------------------------------------------


def test_every_attendance_minutes_and_calendar_key_exists_in_both_languages() -> None:
    pattern = re.compile(r"""["']((?:attendance|minutes|calendar)\.[a-z_.]+)["']""")
    used = {
        key
        for name in ("handlers/attendance.py", "handlers/calendar_ics.py")
        for key in pattern.findall((ROOT / name).read_text(encoding="utf-8"))
        if not key.endswith(".py")
    }
    dynamic = {
        *(f"attendance.button.member.{s}" for s in ("none", *AttendanceState)),
        *(f"attendance.state.{s}" for s in AttendanceState),
        *(f"attendance.mode.{m}" for m in AttendanceMode),
        *(f"minutes.title.{k}" for k in ("regular", "thematic", "committee")),
    }
    for language in ("vi", "en"):
        missing = sorted((used | dynamic) - set(catalog(language)))
        assert missing == [], language


async def test_an_online_member_checks_in_privately_while_check_in_is_open(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, cell = await found_cell(harness)
    nam = await join(harness, secretary, "Lê Văn Nam")
    meeting = await insert_meeting(sqlite_engine, cell.id, MEETING_AT)
    early = await harness.say(nam, "/diemdanh")
    assert texts_of(early) == vi(
        "attendance.online.not_open",
        title="Sinh hoạt chi bộ tháng 11",
        when="19:30, Chủ Nhật 22/11/2026",
    )
    await harness.say(secretary, "/diemdanh", group=GROUP)

    card = await harness.say(nam, "/diemdanh")
    button = buttons_of(card)[vi("attendance.button.online_private")]
    assert button == f"ci:{meeting}:online"
    checked = await harness.tap(nam, button)

    online = vi("attendance.mode.online")
    assert [(r.text, r.replace, r.choices) for r in checked] == [
        (vi("attendance.marked", name="Lê Văn Nam", mode=online), True, ())
    ]
    marks = await harness.services.attendance.marks(meeting)
    nam_id = await member_id(harness, nam)
    assert marks[nam_id].state is AttendanceState.PRESENT
    assert marks[nam_id].mode is AttendanceMode.ONLINE
    # In the room one checks in on the group's card: privately only «online» counts.
    forged = await harness.tap(nam, f"ci:{meeting}:in_person")
    assert told(forged) == [vi("error.stale_button")]
    await close_checkin(harness, secretary, meeting, group=GROUP)
    late = await harness.say(nam, "/diemdanh")
    assert "đã kết thúc" in texts_of(late) and not buttons_of(late)
