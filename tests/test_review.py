"""/danhgia: a seeded 2026 through the real dispatcher and storage — each member's own year
(message and workbook) checked against the database, the secretary's year table with each
meeting's criteria, the self-review round (deadline, sending, reminders through the outbox),
grades, the committee office's roll-up without names, and bad input changing nothing."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.core import Attachment, Reply
from handlers.i18n import Texts
from handlers.year_figures import meeting_qualities
from scheduler.clock import ManualClock
from storage.audit import Actor
from storage.crypto import FieldCipher
from storage.models import AttendanceState, MemberStatus, ReviewGrade
from storage.review import YearDetail, YearMeeting, YearMember
from storage.schema import (
    attendance,
    identities,
    meetings,
    members,
    outbox,
    review_grades,
    review_rounds,
    self_reviews,
)
from tests.conftest import START
from tests.support.harness import Harness, Person, texts_of
from tests.test_attendance import GROUP, import_members, member_id
from tests.test_reports import populated_cell

vi = Texts("vi")
HOA, NAM, LAN = "Trần Thị Hoa", "Lê Văn Nam", "Ngô Thị Lan"
EXEMPTED, PROBATIONARY = "Phan Văn Miễn", "Đào Thị Dự"


@pytest.fixture
def harness(engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock) -> Harness:
    return Harness(engine, cipher, clock)


def workbook_text(reply: Reply) -> str:
    assert reply.file is not None and reply.file.file_name.endswith(".xlsx")
    book = load_workbook(io.BytesIO(reply.file.content))
    return "\n".join(
        str(value)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for value in row
        if value is not None
    )


def sheet_rows(reply: Reply, title: str) -> list[tuple[object, ...]]:
    assert reply.file is not None
    book = load_workbook(io.BytesIO(reply.file.content))
    return list(book[title].iter_rows(values_only=True))[1:]


async def seeded(harness: Harness, engine: AsyncEngine) -> tuple[Person, Person, Person, int]:
    """The monthly report's seeded cell (October: Hoa present, Nam absent, Lan never marked;
    November: Hoa and Nam present, Lan excused; Nam paid November's fee, Lan did not; Nam did
    November's study), with an exempted and a probationary member added in November."""
    secretary, nam, cell_id = await populated_cell(harness, engine)
    await import_members(
        harness,
        cell_id,
        [(EXEMPTED, MemberStatus.EXEMPTED), (PROBATIONARY, MemberStatus.PROBATIONARY)],
    )
    roster = await harness.services.members.roster(cell_id)
    lan_record = next(m for m in roster if m.full_name == LAN)
    identities = await harness.services.fees.accounts([lan_record.id], "telegram")
    lan = Person(identities[lan_record.id][0], LAN)
    return secretary, nam, lan, cell_id


async def ids(harness: Harness, cell_id: int) -> dict[str, int]:
    return {m.full_name: m.id for m in await harness.services.members.roster(cell_id)}


async def count(engine: AsyncEngine, table, *conditions) -> int:  # type: ignore[no-untyped-def]
    async with engine.connect() as connection:
        return int(
            (
                await connection.execute(select(func.count()).select_from(table).where(*conditions))
            ).scalar_one()
        )


async def test_a_member_sees_their_own_year_as_the_database_holds_it(
    harness: Harness, engine: AsyncEngine
) -> None:
    _, nam, lan, cell_id = await seeded(harness, engine)
    people = await ids(harness, cell_id)
    present = await count(
        engine,
        attendance,
        attendance.c.member_id == people[NAM],
        attendance.c.state == "present",
    )
    closed = await count(engine, meetings, meetings.c.checkin_closed_at.is_not(None))
    assert (present, closed) == (1, 2)

    [own] = await harness.say(nam, "/danhgia 2026")
    assert own.chat_id is None  # the member's own private chat
    assert vi("review.own.title", year=2026, name=NAM) in own.text
    assert (
        vi("review.own.meetings", present=present, expected=closed, excused=0, unexcused=1)
        in own.text
    )
    assert vi("review.own.fees", paid=1, late=0, unpaid=0) in own.text
    assert vi("review.own.study", done=1, due=1) in own.text
    assert vi("review.own.study_line", title="Học tập Nghị quyết 57", score=0, total=1) in own.text
    assert vi("review.own.feedback", count=0) in own.text  # the one item was anonymous
    assert vi("review.own.no_deadline") in own.text
    shown = own.text + workbook_text(own)
    for other in (HOA, LAN, EXEMPTED, PROBATIONARY):
        assert other not in shown
    figures = dict(sheet_rows(own, vi("review.sheet.mine")))  # type: ignore[arg-type]
    assert figures[vi("review.col.present")] == 1
    assert figures[vi("review.col.fees_paid")] == 1
    # Only a secretary's card carries the cell's buttons.
    assert not any(
        choice.data.startswith(("vt:", "vd:", "vg:", "vr:"))
        for row in own.choices
        for choice in row
    )

    [hers] = await harness.say(lan, "/danhgia")
    assert vi("review.own.meetings", present=0, expected=2, excused=1, unexcused=1) in hers.text
    assert vi("review.own.fees", paid=0, late=0, unpaid=1) in hers.text
    assert NAM not in hers.text + workbook_text(hers)


async def test_the_secretary_table_judges_each_meeting_and_sets_exempted_apart(
    harness: Harness, engine: AsyncEngine
) -> None:
    secretary, _, _, _ = await seeded(harness, engine)
    async with engine.begin() as connection:
        await connection.execute(
            update(meetings).where(meetings.c.title == "Họp tháng 11").values(minutes="Biên bản")
        )
    [table] = await harness.tap(secretary, "vt:2026")
    members = {row[0]: row for row in sheet_rows(table, vi("review.sheet.members"))}
    assert set(members) == {HOA, NAM, LAN, PROBATIONARY}
    assert members[PROBATIONARY][1] == vi("status.probationary")
    assert members[NAM][2:7] == (2, 1, 0, 1, 1)  # expected, present, excused, unexcused, run
    assert members[LAN][2:10] == (2, 0, 1, 1, 2, 0, 0, 1)
    exempted = sheet_rows(table, vi("review.sheet.exempted"))
    assert [row[0] for row in exempted] == [EXEMPTED]
    assert exempted[0][-1] == vi("review.not_graded")
    verdicts = {row[0]: row for row in sheet_rows(table, vi("review.sheet.meetings"))}
    october, november = verdicts["Họp tháng 10"], verdicts["Họp tháng 11"]
    # October: 1 of 3 present, two absent without reason, no minutes.
    assert october[2:4] == (3, 1)
    assert october[5:9] == (vi("review.no"), vi("review.no"), vi("review.yes"), vi("review.no"))
    assert october[-1] == vi("review.verdict.short")
    # November: 2 of 3 (66.7%) is not above 85%, though nobody was absent without reason.
    assert november[4] == 66.7
    assert november[5:9] == (vi("review.no"), vi("review.yes"), vi("review.yes"), vi("review.yes"))
    assert vi("review.table.missing", names=f"{HOA}, {NAM}, {LAN}, {PROBATIONARY}").split(":")[
        0
    ] in texts_of([table])


async def test_the_self_review_round_deadline_sending_and_reminders(
    harness: Harness, engine: AsyncEngine
) -> None:
    secretary, nam, lan, cell_id = await seeded(harness, engine)
    people = await ids(harness, cell_id)
    await harness.tap(secretary, "vd:2026")
    [past] = await harness.say(secretary, "01/11/2026")
    assert past.text == vi("review.error.deadline_past")
    assert await count(engine, review_rounds) == 0
    [done] = await harness.say(secretary, "20/12/2026")
    # Hoa, Nam and Lan have accounts; the imported members have none to remind.
    assert done.text == vi("review.deadline.done", year=2026, date="20/12/2026", count=3)
    assert await count(engine, review_rounds, review_rounds.c.cell_id == cell_id) == 1
    planned = outbox.c.dedupe_key.like("review:2026:%:planned:%")
    assert await count(engine, outbox, planned, outbox.c.status == "pending") == 3
    async with engine.connect() as connection:
        due = (await connection.execute(select(outbox.c.due_at).where(planned))).scalars().all()
    # Two days before the deadline, at 08:00 in the cell's time zone.
    assert {d.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).isoformat() for d in due} == {
        "2026-12-18T08:00:00+07:00"
    }

    asked = await harness.tap(nam, "vs:2026")
    assert asked[0].ask_text
    [classified] = await harness.say(nam, "Bản tự kiểm điểm — TỐI MẬT")
    assert classified.text == vi("review.error.classified", mark="TỐI MẬT")
    huge = Attachment("file-big", "tu-kiem-diem.pdf", "application/pdf", 30 * 1024 * 1024)
    [too_big] = await harness.say(nam, "", attachment=huge)
    assert too_big.text == vi("review.error.too_big", limit="20 MB")
    assert await count(engine, self_reviews) == 0
    [sent] = await harness.say(nam, "Tôi tự nhận thấy năm qua đã cố gắng.")
    assert sent.text == vi("review.submit.done", year=2026)
    assert await count(engine, self_reviews, self_reviews.c.member_id == people[NAM]) == 1
    nam_key = outbox.c.dedupe_key.like(f"review:2026:{people[NAM]}:%")
    assert await count(engine, outbox, nam_key, outbox.c.status == "cancelled") == 1

    [reminded] = await harness.tap(secretary, "vr:2026")
    assert reminded.text == vi("review.remind.done", count=2)  # Hoa and Lan, not Nam
    [again] = await harness.tap(secretary, "vr:2026")
    assert again.text == vi("review.remind.done", count=0)

    [table] = await harness.tap(secretary, "vt:2026")
    members = {row[0]: row for row in sheet_rows(table, vi("review.sheet.members"))}
    assert members[NAM][13] is not None and members[NAM][13] != vi("review.none")
    assert members[LAN][13] == vi("review.none")
    view = next(c.data for row in table.choices for c in row)
    [read] = await harness.tap(secretary, view)
    assert read.text == "Tôi tự nhận thấy năm qua đã cố gắng."
    # A member may not open the table nor another's self-review.
    [refused] = await harness.tap(lan, view)
    assert refused.text == vi("error.leader_only")

    harness.services.clock.advance(timedelta(days=40))  # type: ignore[attr-defined]
    [closed] = await harness.tap(lan, "vs:2026")
    assert closed.text == vi("review.error.closed", year=2026, date="20/12/2026")


async def test_grades_are_recorded_counted_and_refused_for_the_exempted(
    harness: Harness, engine: AsyncEngine
) -> None:
    secretary, nam, _, cell_id = await seeded(harness, engine)
    people = await ids(harness, cell_id)
    [card] = await harness.tap(secretary, f"vm:{people[NAM]}:2026")
    grades = [c.data for row in card.choices for c in row]
    assert len(grades) == 4
    [done] = await harness.tap(secretary, grades[0])
    assert done.text == vi(
        "review.grades.done", name=NAM, year=2026, grade=vi("review.grade.excellent")
    )
    [refused] = await harness.tap(secretary, f"vk:{people[EXEMPTED]}:2026:good")
    assert refused.text == vi("review.error.exempted", name=EXEMPTED)
    [member_refused] = await harness.tap(nam, f"vk:{people[NAM]}:2026:excellent")
    assert member_refused.text == vi("error.secretary_only")
    async with engine.connect() as connection:
        stored = (
            await connection.execute(select(review_grades.c.member_id, review_grades.c.grade))
        ).all()
    assert [tuple(row) for row in stored] == [(people[NAM], "excellent")]
    [table] = await harness.tap(secretary, "vt:2026")
    totals = dict(sheet_rows(table, vi("review.sheet.totals")))  # type: ignore[arg-type]
    assert totals[vi("review.grade.excellent")] == 1
    assert totals[vi("review.total.ungraded")] == 3
    assert totals[vi("review.total.exempted")] == 1
    assert totals[vi("review.total.probationary")] == 1


async def test_the_committee_office_sees_counts_and_no_names(
    harness: Harness, engine: AsyncEngine
) -> None:
    _, _, _, cell_id = await seeded(harness, engine)
    people = await ids(harness, cell_id)
    await harness.services.review.set_grade(
        cell_id=cell_id,
        member_id=people[NAM],
        year=2026,
        grade=ReviewGrade.GOOD,
        actor=Actor("test"),
        now=START,
    )
    cells = harness.services.cells
    committee = await cells.create_committee("Đảng ủy phường Bến Nghé", "Asia/Ho_Chi_Minh", START)
    await cells.attach_to_committee(
        cell_id=cell_id, committee_id=committee.id, actor=Actor("test"), now=START
    )
    office = await harness.office_staff(committee.id)
    [rollup] = await harness.say(office, "/danhgia 2026")
    shown = rollup.text + workbook_text(rollup)
    for name in (HOA, NAM, LAN, EXEMPTED, PROBATIONARY):
        assert name not in shown
    [row] = sheet_rows(rollup, vi("review.sheet.cells"))
    # cell, members to grade, probationary, exempted, meetings, good, self-reviews, grades…
    assert row[:7] == ("Chi bộ Khu phố 5", 4, 1, 1, 2, 0, 0)
    assert row[7:] == (0, 1, 0, 0, 3)


async def test_bad_input_gets_clear_messages_and_changes_nothing(
    harness: Harness, engine: AsyncEngine
) -> None:
    secretary, nam, _, _ = await seeded(harness, engine)
    [none] = await harness.say(nam, "/danhgia 2025")
    assert none.text == vi("review.error.no_data", year=2025)
    [future] = await harness.say(nam, "/danhgia 2027")
    assert future.text == vi("review.error.future", year=2027)
    [odd] = await harness.say(nam, "/danhgia hai nghìn")
    assert odd.text == vi("review.error.year")
    [in_group] = await harness.say(nam, "/danhgia", group=GROUP)
    assert in_group.text == vi("error.private_only")
    [no_round] = await harness.tap(nam, "vs:2026")
    assert no_round.text == vi("review.error.no_round", year=2026)
    [empty_year] = await harness.tap(secretary, "vt:2025")
    assert empty_year.text == vi("review.error.no_data", year=2025)
    assert await member_id(harness, nam)
    for table in (review_rounds, self_reviews, review_grades):
        assert await count(engine, table) == 0
    assert await count(engine, outbox, outbox.c.dedupe_key.like("review:%")) == 0


def test_a_meeting_fails_once_someone_has_missed_more_than_three_in_a_row() -> None:
    """The run criterion counts expected members only (an exempted member's misses never
    count) and resets when the member comes."""
    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    joined = START - timedelta(days=400)
    detail = YearDetail(
        members=[
            YearMember(1, 7, "A", MemberStatus.OFFICIAL, joined),
            YearMember(2, 7, "B", MemberStatus.EXEMPTED, joined),
        ]
    )
    for month in range(1, 7):
        when = datetime(2026, month, 10, 19, 0, tzinfo=zone)
        detail.meetings.append(YearMeeting(month, 7, f"Họp {month}", when, True))
        detail.marks[month] = {1: AttendanceState.PRESENT} if month == 6 else {}
    judged = meeting_qualities(detail)
    assert [q.longest_run for q in judged] == [1, 2, 3, 4, 5, 0]
    assert [q.no_long_run for q in judged] == [True, True, True, False, False, True]
    assert [q.expected for q in judged] == [1] * 6
    assert judged[-1].meets_bar  # 1 of 1 present, minutes kept, nobody on a long run


async def test_an_exempted_member_sees_their_year_without_being_counted_absent(
    harness: Harness, engine: AsyncEngine
) -> None:
    _, _, _, cell_id = await seeded(harness, engine)
    people = await ids(harness, cell_id)
    exempted = harness.person(EXEMPTED)
    async with engine.begin() as connection:
        # On the roster all year, with an account to ask from.
        await connection.execute(
            update(members)
            .where(members.c.id == people[EXEMPTED])
            .values(created_at=START - timedelta(days=300))
        )
        await connection.execute(
            insert(identities).values(
                platform="telegram",
                external_user_id=exempted.user_id,
                member_id=people[EXEMPTED],
                linked_at=START,
            )
        )
    [own] = await harness.say(exempted, "/danhgia 2026")
    assert vi("review.own.exempted") in own.text
    assert vi("review.own.meetings", present=0, expected=0, excused=0, unexcused=0) in own.text
    marks = [row[2] for row in sheet_rows(own, vi("review.sheet.meetings"))]
    assert marks == [vi("review.mark.not_expected")] * 2
