"""Closing check-in a secretary can trust (issue 15): a private confirmation first, undecided
requests decided on it, the closer counted present, names only privately (unless the cell
chose otherwise), one truth after a late decision, and the quality criteria with the end."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.core import Reply
from handlers.i18n import Texts
from scheduler.clock import ManualClock
from storage.attendance import CheckinNotOpen
from storage.audit import Actor
from storage.crypto import FieldCipher
from storage.models import AttendanceState
from storage.schema import attendance
from tests.support.harness import Harness, buttons_of
from tests.test_absences import NEXT_WEEK, Cell, ask, make_cell, rows
from tests.test_attendance import GROUP, meeting_row, member_id

vi = Texts("vi")


@pytest.fixture
def harness(sqlite_engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock) -> Harness:
    return Harness(sqlite_engine, cipher, clock)


def _to(replies: list[Reply], chat: str) -> str:
    return "\n".join(reply.text for reply in replies if reply.chat_id == chat)


async def _open(harness: Harness, cell: Cell, clock: ManualClock) -> None:
    """Nam asks to miss the meeting (still undecided); check-in opens; only the deputy taps."""
    await ask(harness, cell.member, cell.meeting_id)
    clock.advance(timedelta(days=7, minutes=-10))
    await harness.say(cell.secretary, "/diemdanh", group=GROUP)
    await harness.tap(cell.deputy, f"ci:{cell.meeting_id}:in_person", group=GROUP)


async def test_closing_asks_privately_first_and_requests_are_decided_on_the_card(
    harness: Harness, sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    cell = await make_cell(harness, sqlite_engine)
    await _open(harness, cell, clock)
    meeting = cell.meeting_id

    asked = await harness.tap(cell.secretary, f"cc:{meeting}", group=GROUP)

    assert [r.text for r in asked if r.popup] == [vi("closing.sent_privately")]
    assert _to(asked, GROUP) == "" and all(r.chat_id != GROUP for r in asked)
    card = _to(asked, cell.secretary.user_id)
    # The secretary who closes is not among the absent; Nam's request is still waiting.
    assert vi("closing.absent", count=2, names="Lê Văn Nam, Ngô Thị Lan") in card
    assert vi("closing.waiting", count=1, names="Lê Văn Nam") in card
    assert "Trần Thị Hoa" not in card
    assert (await meeting_row(sqlite_engine, meeting))["checkin_closed_at"] is None

    approve = buttons_of(asked)[vi("absence.button.approve_named", name="Lê Văn Nam")]
    decided = await harness.tap(cell.secretary, approve)
    assert decided[0].replace
    assert vi("closing.absent", count=1, names="Ngô Thị Lan") in decided[0].text
    assert vi("closing.waiting", count=1, names="Lê Văn Nam") not in decided[0].text
    assert vi("absence.told_excused") in _to(decided, cell.member.user_id)

    closed = await harness.tap(cell.secretary, buttons_of(decided)[vi("closing.button.close")])

    assert closed[1].replace and not closed[1].choices  # the confirmation's buttons are gone
    group = _to(closed, GROUP)
    assert "Có mặt: 2/4 đồng chí phải dự họp" in group
    assert vi("attendance.summary.absent_counts", excused=1, unexcused=1) in group
    assert "Ngô Thị Lan" not in group and "Lê Văn Nam" not in group
    assert vi("quality.header") in group
    for leader in (cell.secretary, cell.deputy):
        assert "Vắng không lý do (1): Ngô Thị Lan." in _to(closed, leader.user_id)
    minutes = str((await meeting_row(sqlite_engine, meeting))["minutes"])
    assert "- Đảng viên chính thức: có mặt 2/4: Trần Thị Hoa, Phạm Văn Phó." in minutes
    assert "- Vắng có lý do (1): Lê Văn Nam." in minutes
    assert "- Vắng không lý do (1): Ngô Thị Lan." in minutes


async def test_the_closer_who_did_not_attend_says_so(
    harness: Harness, sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    cell = await make_cell(harness, sqlite_engine)
    await _open(harness, cell, clock)
    await harness.tap(cell.secretary, f"cc:{cell.meeting_id}", group=GROUP)
    await harness.tap(cell.secretary, f"cy:{cell.meeting_id}:0")
    minutes = str((await meeting_row(sqlite_engine, cell.meeting_id))["minutes"])
    assert "- Vắng không lý do (3): Trần Thị Hoa, Lê Văn Nam, Ngô Thị Lan." in minutes


async def test_a_cell_may_choose_to_name_absentees_in_the_group(
    harness: Harness, sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    cell = await make_cell(harness, sqlite_engine)
    await _open(harness, cell, clock)
    asked = await harness.tap(cell.secretary, f"cc:{cell.meeting_id}")
    toggled = await harness.tap(cell.secretary, buttons_of(asked)[vi("closing.button.names_on")])
    assert vi("closing.names_in_group") in toggled[0].text
    closed = await harness.tap(cell.secretary, f"cy:{cell.meeting_id}:1")
    assert "Vắng không lý do (2): Lê Văn Nam, Ngô Thị Lan." in _to(closed, GROUP)


async def test_an_absence_approved_after_closing_is_one_truth_everywhere(
    harness: Harness, sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    cell = await make_cell(harness, sqlite_engine)
    await _open(harness, cell, clock)
    await harness.tap(cell.secretary, f"cc:{cell.meeting_id}")
    await harness.tap(cell.secretary, f"cy:{cell.meeting_id}:1")
    [request] = await rows(sqlite_engine)

    decided = await harness.tap(cell.secretary, f"xd:{request['id']}:y")

    nam = await member_id(harness, cell.member)
    async with sqlite_engine.connect() as connection:
        state = (
            await connection.execute(
                select(attendance.c.state).where(
                    attendance.c.meeting_id == cell.meeting_id, attendance.c.member_id == nam
                )
            )
        ).scalar_one()
    assert state == AttendanceState.EXCUSED
    minutes = str((await meeting_row(sqlite_engine, cell.meeting_id))["minutes"])
    assert "- Vắng có lý do (1): Lê Văn Nam." in minutes
    assert "- Vắng không lý do (1): Ngô Thị Lan." in minutes
    resent = _to(decided, cell.secretary.user_id)
    assert vi("closing.minutes_updated", name="Lê Văn Nam") in resent and minutes in resent
    assert vi("absence.told_excused") in _to(decided, cell.member.user_id)
    unit = await harness.services.cells.cell_for_chat("telegram", GROUP)
    assert unit is not None
    month = NEXT_WEEK.replace(day=1, hour=0, minute=0)
    before = month.replace(month=month.month - 1)
    report = await harness.services.reports.month(
        unit, months=[before, month], end=month.replace(month=month.month + 1)
    )
    [tallied] = report.meetings
    assert (tallied.present, tallied.excused) == (2, 1)


async def test_the_close_and_the_minutes_judge_the_quality_criteria(
    harness: Harness, sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    cell = await make_cell(harness, sqlite_engine)
    await _open(harness, cell, clock)
    await harness.tap(cell.secretary, f"cc:{cell.meeting_id}")
    closed = await harness.tap(cell.secretary, f"cy:{cell.meeting_id}:1")
    group = _to(closed, GROUP)
    failed = [
        vi("quality.failed", line=vi("quality.rate", rate="50,0%")),
        vi("quality.failed", line=vi("quality.unexcused", count=2)),
        vi("quality.failed", line=vi("quality.duration", minutes=0)),
        vi("quality.failed", line=vi("quality.documents", count=0)),
    ]
    for line in [*failed, vi("quality.passed", line=vi("quality.minutes"))]:
        assert line in group, line

    clock.advance(timedelta(minutes=110))  # the meeting ran 100 minutes from its start
    draft = next(r for r in closed if r.chat_id == cell.secretary.user_id and r.choices)
    ended = await harness.tap(cell.secretary, buttons_of([draft])[vi("closing.button.ended")])
    assert ended[1].replace
    minutes = str((await meeting_row(sqlite_engine, cell.meeting_id))["minutes"])
    assert "   Kết thúc lúc 20:40, Chủ Nhật 29/11/2026." in minutes
    assert vi("quality.passed", line=vi("quality.duration", minutes=100)) in minutes
    assert minutes in ended[1].text


async def test_storage_close_counts_the_closer_and_rewrites_with_the_end(
    engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock
) -> None:
    """On every backend: the closer is marked present, the end is kept, a rewrite moves it."""
    harness = Harness(engine, cipher, clock)
    cell = await make_cell(harness, engine)
    repo = harness.services.attendance
    actor = Actor("test")
    hoa = await member_id(harness, cell.secretary)
    await ask(harness, cell.member, cell.meeting_id)
    with pytest.raises(CheckinNotOpen):
        await repo.rewrite_minutes(cell_id=cell.cell_id, meeting_id=cell.meeting_id, draft=str)
    await repo.open(cell_id=cell.cell_id, meeting_id=cell.meeting_id, actor=actor, now=NEXT_WEEK)
    closed = await repo.close(
        cell_id=cell.cell_id,
        meeting_id=cell.meeting_id,
        actor=actor,
        now=NEXT_WEEK,
        draft=lambda taken: f"{len(taken.marks)} marks",
        present_member=hoa,
    )
    assert closed.marks[hoa].state is AttendanceState.PRESENT
    assert closed.meeting.ended_at == NEXT_WEEK and closed.meeting.minutes == "1 marks"
    kept = await repo.rewrite_minutes(
        cell_id=cell.cell_id, meeting_id=cell.meeting_id, draft=lambda _: "again"
    )
    assert kept.meeting.ended_at == NEXT_WEEK and kept.meeting.minutes == "again"
    later = NEXT_WEEK + timedelta(minutes=95)
    moved = await repo.rewrite_minutes(
        cell_id=cell.cell_id, meeting_id=cell.meeting_id, draft=str, ended_at=later
    )
    assert moved.meeting.ended_at == later
    [request] = await rows(engine)
    _, excused = await harness.services.absences.decide(
        cell_id=cell.cell_id,
        absence_id=int(str(request["id"])),
        approve=True,
        decided_by=hoa,
        actor=actor,
        now=later,
    )
    nam = await member_id(harness, cell.member)
    marks = await repo.marks(cell.meeting_id)
    assert excused and marks[nam].state is AttendanceState.EXCUSED
