"""/baocao: the monthly workbook read back cell by cell, the chart checked as a PNG of the
expected size, the committee office's one-row-per-cell view, and who may get a report."""

from __future__ import annotations

import io
import struct
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.core import Reply
from handlers.i18n import Texts
from handlers.reports import CHART_SIZE, attendance_history, chart_months
from scheduler.clock import ManualClock
from storage.audit import Actor
from storage.crypto import FieldCipher
from storage.fee_rules import FeeBasis, FeeReduction
from storage.models import FeeBasisKind, OrgKind, OrgUnit
from storage.schema import (
    absences,
    attendance,
    document_reads,
    document_targets,
    documents,
    fee_bases,
    feedback,
    meetings,
    members,
    study_campaigns,
    study_results,
    study_targets,
)
from storage.study import NewQuestion
from tests.conftest import START
from tests.support.harness import Harness, Person, texts_of
from tests.test_attendance import GROUP, OTHER_GROUP, found_cell, insert_meeting, join, member_id

vi = Texts("vi")
NOV_MEETING = START - timedelta(days=10)  # 12/11/2026
OCT_MEETING = START - timedelta(days=40)  # 13/10/2026
# members, meetings, attendance %, documents, read %, new and open feedback, fees paid,
# collected, unpaid, outstanding, study completion %.
CELL_A_ROW = ("Chi bộ Khu phố 5", 3, 1, 66.7, 1, 33.3, 1, 1, 1, 100_000, 1, 60_000, 33.3)


@pytest.fixture
def harness(sqlite_engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock) -> Harness:
    return Harness(sqlite_engine, cipher, clock)


async def closed_meeting(
    engine: AsyncEngine, cell_id: int, when: object, marks: dict[int, str], title: str
) -> int:
    meeting = await insert_meeting(engine, cell_id, when, title=title)  # type: ignore[arg-type]
    async with engine.begin() as connection:
        await connection.execute(
            update(meetings)
            .where(meetings.c.id == meeting)
            .values(checkin_opened_at=when, checkin_closed_at=when)
        )
        for member, state in marks.items():
            await connection.execute(
                insert(attendance).values(
                    meeting_id=meeting, member_id=member, state=state, marked_at=when
                )
            )
    return meeting


async def populated_cell(harness: Harness, engine: AsyncEngine) -> tuple[Person, Person, int]:
    """Secretary Hoa, members Nam and Lan; November: one meeting (Hoa and Nam present, Lan
    excused), one document read by Nam, one feedback item, Nam's fee paid."""
    secretary, cell = await found_cell(harness)
    nam = await join(harness, secretary, "Lê Văn Nam")
    lan = await join(harness, secretary, "Ngô Thị Lan")
    ids = [await member_id(harness, p) for p in (secretary, nam, lan)]
    hoa_id, nam_id, lan_id = ids
    async with engine.begin() as connection:
        # Everyone joined before October, so both months count them.
        await connection.execute(
            update(members).values(created_at=OCT_MEETING - timedelta(days=30))
        )
    await closed_meeting(
        engine, cell.id, OCT_MEETING, {hoa_id: "present", nam_id: "absent"}, "Họp tháng 10"
    )
    november = await closed_meeting(
        engine,
        cell.id,
        NOV_MEETING,
        {hoa_id: "present", nam_id: "present", lan_id: "excused"},
        "Họp tháng 11",
    )
    async with engine.begin() as connection:
        await connection.execute(
            insert(absences).values(
                org_unit_id=cell.id,
                meeting_id=november,
                member_id=lan_id,
                reason="sick",
                reason_text="riêng tư",
                status="approved",
                requested_at=NOV_MEETING - timedelta(days=1),
            )
        )
        document = (
            await connection.execute(
                insert(documents)
                .values(
                    org_unit_id=cell.id,
                    kind="link",
                    title="Nghị quyết 57",
                    title_folded="nghi quyet 57",
                    url="https://example.org/nq57",
                    created_at=NOV_MEETING,
                )
                .returning(documents.c.id)
            )
        ).scalar_one()
        await connection.execute(
            insert(document_targets).values(
                document_id=document, cell_id=cell.id, posted_at=NOV_MEETING
            )
        )
        await connection.execute(
            insert(document_reads).values(document_id=document, member_id=nam_id, read_at=START)
        )
        await connection.execute(
            insert(feedback).values(
                org_unit_id=cell.id,
                member_id=None,
                kind="proposal",
                text="Đề xuất sửa đường",
                status="new",
                created_at=NOV_MEETING,
                updated_at=NOV_MEETING,
            )
        )
    fees = harness.services.fees
    for member, amount in ((nam_id, 10_000_000), (lan_id, 6_000_000)):
        await fees.set_basis(
            cell_id=cell.id,
            member_id=member,
            basis=FeeBasis(FeeBasisKind.SALARY, NOV_MEETING.date().replace(day=1), amount=amount),
            actor=Actor("test"),
            now=START,
        )
    await fees.record_paid(
        cell_id=cell.id,
        month=NOV_MEETING.date(),
        member_ids=[nam_id],
        actor=Actor("test"),
        now=START,
    )
    study = harness.services.study
    campaign = await study.create(
        unit_id=cell.id,
        title="Học tập Nghị quyết 57",
        deadline=START + timedelta(days=6),
        document_id=None,
        actor=Actor("test"),
        now=START,
    )
    question = NewQuestion("Nghị quyết 57 bàn về gì?", ("Nông nghiệp", "Khoa học"), 1)
    await study.add_questions(
        unit_id=cell.id, campaign_id=campaign, questions=[question], actor=Actor("test"), now=START
    )
    await study.open(
        unit=cell,
        campaign_id=campaign,
        platform="telegram",
        notice="n",
        reminder="r",
        actor=Actor("test"),
        now=START,
    )
    _, first, _ = await study.next_question(cell.id, campaign, nam_id, START)
    assert first is not None
    await study.answer(
        cell_id=cell.id,
        campaign_id=campaign,
        question_id=first.id,
        member_id=nam_id,
        chosen=0,
        actor=Actor("test"),
        now=START,
    )
    return secretary, nam, cell.id


def png_size(content: bytes) -> tuple[int, int]:
    assert content[:8] == b"\x89PNG\r\n\x1a\n"
    assert content[12:16] == b"IHDR"
    width, height = struct.unpack(">II", content[16:24])
    return width, height


def sheet_rows(reply: Reply, title: str) -> list[tuple[object, ...]]:
    assert reply.file is not None
    book = load_workbook(io.BytesIO(reply.file.content))
    return [tuple(row) for row in book[title].iter_rows(values_only=True)]


async def test_the_cell_report_reads_back_cell_by_cell(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, _, _ = await populated_cell(harness, sqlite_engine)
    replies = await harness.say(secretary, "/baocao 11/2026")
    assert len(replies) == 2
    workbook, chart = replies
    assert workbook.file is not None and workbook.file.file_name == "bao-cao-2026-11.xlsx"
    assert (
        vi(
            "report.summary.cell",
            unit="Chi bộ Khu phố 5",
            month="11/2026",
            meetings=1,
            attendance="67%",
            read="33%",
            paid=1,
            owed=1,
        )
        in workbook.text
    )

    summary = sheet_rows(workbook, vi("report.sheet.cells"))
    assert summary[0][0] == vi("report.col.cell")
    # members, meetings, attendance %, documents, read %, new and open feedback, fees.
    assert summary[1] == CELL_A_ROW

    members = sheet_rows(workbook, vi("report.sheet.members"))
    by_name = {row[0]: row for row in members[1:]}
    assert by_name["Lê Văn Nam"] == (
        "Lê Văn Nam",
        vi("status.official"),
        1,
        1,
        0,
        1,
        1,
        100_000,
        0,
        1,
        1,
    )
    assert by_name["Ngô Thị Lan"] == (
        "Ngô Thị Lan",
        vi("status.official"),
        0,
        1,
        1,
        0,
        1,
        0,
        60_000,
        0,
        1,
    )

    meeting_rows = sheet_rows(workbook, vi("report.sheet.meetings"))
    assert meeting_rows[1] == ("Họp tháng 11", "12/11/2026 19:00", 3, 2, 1, 0, 66.7)

    absence_rows = sheet_rows(workbook, vi("report.sheet.absences"))
    assert absence_rows[1] == (
        "Ngô Thị Lan",
        "Họp tháng 11",
        vi("report.reason.sick"),
        vi("report.decision.approved"),
    )
    # The member's own words stay out of the workbook.
    assert chart.file is not None
    assert b"ri\xc3\xaang t\xc6\xb0" not in workbook.file.content

    documents_rows = sheet_rows(workbook, vi("report.sheet.documents"))
    assert documents_rows[1] == ("Nghị quyết 57", "12/11/2026", 1, 33.3)
    feedback_rows = sheet_rows(workbook, vi("report.sheet.feedback"))
    assert feedback_rows[1][0] == vi("report.kind.proposal") and feedback_rows[1][1] == 1

    assert chart.file.file_name == "bao-cao-2026-11.png"
    assert png_size(chart.file.content) == CHART_SIZE


async def test_the_chart_covers_twelve_months(harness: Harness, sqlite_engine: AsyncEngine) -> None:
    _, _, cell_id = await populated_cell(harness, sqlite_engine)
    unit = OrgUnit(cell_id, OrgKind.CELL, None, "A", "Asia/Ho_Chi_Minh", False)
    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    months = chart_months(date(2026, 11, 1))
    data = await harness.services.reports.month(
        unit,
        months=[datetime.combine(m, time(), zone) for m in months],
        end=datetime.combine(date(2026, 12, 1), time(), zone),
    )
    history = attendance_history(months, data)
    assert len(history) == 12
    assert history[0][0] == date(2025, 12, 1)
    assert dict(history)[date(2026, 10, 1)] == 33.3  # Hoa present, Nam and Lan absent
    assert dict(history)[date(2026, 11, 1)] == 66.7


async def test_no_report_reaches_anyone_but_a_secretary(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, nam, _ = await populated_cell(harness, sqlite_engine)
    refused = await harness.say(nam, "/baocao")
    assert texts_of(refused) == vi("error.secretary_only")
    assert all(reply.file is None for reply in refused)
    in_group = await harness.say(secretary, "/baocao", group=GROUP)
    assert texts_of(in_group) == vi("error.private_only")
    assert all(reply.file is None for reply in in_group)
    stranger = harness.person("Người lạ")
    assert texts_of(await harness.say(stranger, "/baocao")) == vi("error.not_member")


async def test_bad_months_are_refused(harness: Harness, sqlite_engine: AsyncEngine) -> None:
    secretary, _ = await found_cell(harness)
    assert texts_of(await harness.say(secretary, "/baocao 12/2026")) == vi(
        "report.error.future", month="12/2026"
    )
    assert texts_of(await harness.say(secretary, "/baocao hôm qua")) == vi("fee.error.month")


async def test_the_committee_office_gets_one_row_per_cell(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    _, _, cell_id = await populated_cell(harness, sqlite_engine)
    _, other = await found_cell(harness, OTHER_GROUP, "Chi bộ Khu phố 6")
    cells = harness.services.cells
    committee = await cells.create_committee("Đảng ủy phường Bến Nghé", "Asia/Ho_Chi_Minh", START)
    for cell in (cell_id, other.id):
        await cells.attach_to_committee(
            cell_id=cell, committee_id=committee.id, actor=Actor("test"), now=START
        )
    office = await harness.office_staff(committee.id)
    replies = await harness.say(office, "/baocao 11/2026")
    workbook = replies[0]
    assert (
        vi("report.summary.committee", unit="Đảng ủy phường Bến Nghé", month="11/2026", cells=2)
        in workbook.text
    )
    assert workbook.file is not None
    book = load_workbook(io.BytesIO(workbook.file.content))
    assert book.sheetnames == [vi("report.sheet.cells")]  # no member names across cells
    rows = sheet_rows(workbook, vi("report.sheet.cells"))
    assert rows[1] == CELL_A_ROW
    assert rows[2] == ("Chi bộ Khu phố 6", 1, 0, None, 0, None, 0, 0, 0, 0, 0, 0, None)
    assert png_size(replies[1].file.content) == CHART_SIZE  # type: ignore[union-attr]


async def test_the_report_reads_the_same_on_every_backend(
    engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock
) -> None:
    harness = Harness(engine, cipher, clock)
    secretary, _, _ = await populated_cell(harness, engine)
    workbook, chart = await harness.say(secretary, "/baocao 11/2026")
    assert sheet_rows(workbook, vi("report.sheet.cells"))[1] == CELL_A_ROW
    assert chart.file is not None and png_size(chart.file.content) == CHART_SIZE


def utc(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


async def add_member(
    engine: AsyncEngine, cell_id: int, name: str, status: str, joined: str, state: str = "active"
) -> int:
    async with engine.begin() as connection:
        return int(
            (
                await connection.execute(
                    insert(members)
                    .values(
                        org_unit_id=cell_id,
                        full_name=name,
                        role="member",
                        status=status,
                        state=state,
                        created_at=utc(joined),
                        updated_at=utc(joined),
                    )
                    .returning(members.c.id)
                )
            ).scalar_one()
        )


async def marked_meeting(
    engine: AsyncEngine,
    cell_id: int,
    when: str,
    marks: dict[int, str],
    *,
    closed: bool = True,
    status: str = "scheduled",
) -> None:
    meeting = await insert_meeting(engine, cell_id, utc(when), status=status)
    async with engine.begin() as connection:
        if closed:
            await connection.execute(
                update(meetings)
                .where(meetings.c.id == meeting)
                .values(checkin_opened_at=utc(when), checkin_closed_at=utc(when))
            )
        for member, state in marks.items():
            await connection.execute(
                insert(attendance).values(
                    meeting_id=meeting, member_id=member, state=state, marked_at=utc(when)
                )
            )


async def posted(engine: AsyncEngine, title: str, cells: list[int], when: str) -> int:
    async with engine.begin() as connection:
        document = (
            await connection.execute(
                insert(documents)
                .values(
                    org_unit_id=cells[0],
                    kind="link",
                    title=title,
                    title_folded=title.lower(),
                    url=f"https://example.org/{title}",
                    created_at=utc(when),
                )
                .returning(documents.c.id)
            )
        ).scalar_one()
        for cell in cells:
            await connection.execute(
                insert(document_targets).values(
                    document_id=document, cell_id=cell, posted_at=utc(when)
                )
            )
    return int(document)


async def a_committee_month(harness: Harness, engine: AsyncEngine, cipher: FieldCipher) -> Person:
    """Two cells of one committee, November 2026 (UTC+7: 31/10 17:00 to 30/11 17:00 UTC),
    with what the summary must leave out: exempted, late-joining and pending members' marks,
    an open and a cancelled meeting, last month's and next month's items, reads by pending
    members or after the month, a full exemption, a basis not yet in force, a member who joined
    after the month, a campaign due later and one not opened."""
    secretary, cell_a = await found_cell(harness)
    other_secretary, cell_b = await found_cell(harness, OTHER_GROUP, "Chi bộ Khu phố 6")
    hoa, binh = [await member_id(harness, p) for p in (secretary, other_secretary)]
    async with engine.begin() as connection:
        await connection.execute(update(members).values(created_at=utc("2026-09-01")))
    a, b = cell_a.id, cell_b.id
    an = await add_member(engine, a, "An", "official", "2026-09-01")
    bao = await add_member(engine, a, "Bảo", "probationary", "2026-09-01")
    cuc = await add_member(engine, a, "Cúc", "exempted", "2026-09-01")
    dung = await add_member(engine, a, "Dũng", "official", "2026-11-15")
    em = await add_member(engine, a, "Em", "official", "2026-09-01", state="pending")
    hanh = await add_member(engine, a, "Hạnh", "official", "2026-12-02")
    giang = await add_member(engine, b, "Giang", "official", "2026-09-01")
    # A: 5/11 expects Hoa, An, Bảo (2 present); 20/11 also Dũng (Hoa, Dũng present, An
    # excused, Bảo unmarked): 4 of 7. B: 1 of 2.
    every = {hoa: "present", an: "present", bao: "absent", cuc: "present", dung: "present"}
    await marked_meeting(engine, a, "2026-11-05 12:00", {**every, em: "present"})
    await marked_meeting(
        engine, a, "2026-11-20 12:00", {hoa: "present", an: "excused", dung: "present"}
    )
    await marked_meeting(engine, a, "2026-11-28 12:00", {bao: "present"}, closed=False)
    await marked_meeting(engine, a, "2026-11-08 12:00", {bao: "present"}, status="cancelled")
    await marked_meeting(engine, a, "2026-10-10 12:00", {bao: "present", an: "present"})
    await marked_meeting(engine, b, "2026-11-15 12:00", {binh: "present", giang: "absent"})
    # A: one document, read by An and Cúc (Em is pending, Hoa read it after the month).
    # B: two, each read once.
    both = await posted(engine, "Nghị quyết chung", [a, b], "2026-11-03 03:00")
    await posted(engine, "Nghị quyết tháng 10", [a], "2026-10-01 03:00")
    only_b = await posted(engine, "Nghị quyết riêng", [b], "2026-11-25 03:00")
    reads = [
        (both, an, "2026-11-04"),
        (both, cuc, "2026-11-04"),
        (both, em, "2026-11-04"),
        (both, hoa, "2026-12-02"),
        (both, giang, "2026-11-04"),
        (only_b, binh, "2026-11-26"),
    ]
    async with engine.begin() as connection:
        for document, reader, when in reads:
            await connection.execute(
                insert(document_reads).values(
                    document_id=document, member_id=reader, read_at=utc(when)
                )
            )
        for cell, status, when in (
            (a, "answered", "2026-11-10"),
            (a, "in_progress", "2026-10-05"),
            (a, "new", "2026-12-03"),
            (b, "new", "2026-11-12"),
        ):
            await connection.execute(
                insert(feedback).values(
                    org_unit_id=cell,
                    member_id=None,
                    kind="comment",
                    text="Ý kiến",
                    status=status,
                    created_at=utc(when),
                    updated_at=utc(when),
                )
            )
    fees, actor, november = harness.services.fees, Actor("test"), date(2026, 11, 1)
    salary = FeeBasisKind.SALARY
    for cell, member, basis in (
        (a, hoa, FeeBasis(salary, date(2026, 10, 1), amount=10_000_000)),
        (a, an, FeeBasis(salary, date(2026, 10, 1), amount=8_000_000)),
        (a, bao, FeeBasis(FeeBasisKind.MIN_WAGE, date(2026, 10, 1), region=1)),
        (a, cuc, FeeBasis(salary, date(2026, 10, 1), amount=5_000_000)),
        (a, hanh, FeeBasis(salary, date(2026, 10, 1), amount=7_000_000)),
        (b, binh, FeeBasis(salary, date(2026, 10, 1), amount=6_000_000)),
        (b, giang, FeeBasis(salary, date(2026, 12, 1), amount=9_000_000)),
    ):
        await fees.set_basis(cell_id=cell, member_id=member, basis=basis, actor=actor, now=START)
    for member, percent in ((an, 50), (cuc, 100)):
        await fees.add_reduction(
            cell_id=a,
            member_id=member,
            reduction=FeeReduction(percent, date(2026, 11, 1), date(2026, 11, 1)),
            actor=actor,
            now=START,
        )
    async with engine.begin() as connection:
        await connection.execute(
            insert(fee_bases).values(
                member_id=em,
                org_unit_id=a,
                kind="salary",
                amount_enc=cipher.encrypt("7000000"),
                valid_from=date(2026, 10, 1),
                created_at=START,
            )
        )
    for cell, member, month in (
        (a, hoa, november),
        (b, binh, november),
        (a, an, date(2026, 10, 1)),
    ):
        await fees.record_paid(
            cell_id=cell, month=month, member_ids=[member], actor=actor, now=START
        )
    # Campaign 1 is due in November for both cells; 2 is due in December; 3 is a draft.
    async with engine.begin() as connection:
        campaigns = []
        for deadline, status in (
            ("2026-11-25", "open"),
            ("2026-12-05", "open"),
            ("2026-11-20", "draft"),
        ):
            campaigns.append(
                (
                    await connection.execute(
                        insert(study_campaigns)
                        .values(
                            org_unit_id=a,
                            title="Học tập",
                            deadline=utc(deadline),
                            status=status,
                            created_at=START,
                        )
                        .returning(study_campaigns.c.id)
                    )
                ).scalar_one()
            )
        first, later, draft = campaigns
        for campaign, cell in ((first, a), (first, b), (later, a), (draft, b)):
            await connection.execute(
                insert(study_targets).values(campaign_id=campaign, cell_id=cell)
            )
        for campaign, member, cell in (
            (first, an, a),
            (first, bao, a),
            (first, giang, b),
            (later, hoa, a),
            (draft, binh, b),
        ):
            await connection.execute(
                insert(study_results).values(
                    campaign_id=campaign,
                    member_id=member,
                    cell_id=cell,
                    score=1,
                    total=1,
                    completed_at=START,
                )
            )
    cells = harness.services.cells
    committee = await cells.create_committee("Đảng ủy phường Bến Nghé", "Asia/Ho_Chi_Minh", START)
    for cell in (a, b):
        await cells.attach_to_committee(
            cell_id=cell, committee_id=committee.id, actor=actor, now=START
        )
    office = await harness.office_staff(committee.id)
    return office


# Members (active), meetings (closed), attendance %, documents, read %, new and open
# feedback, fees paid, collected, unpaid, outstanding (An 40.000, Bảo 16.000), study %.
COMMITTEE_ROWS = [
    ("Chi bộ Khu phố 5", 6, 2, 57.1, 1, 33.3, 1, 1, 1, 100_000, 2, 56_000, 33.3),
    ("Chi bộ Khu phố 6", 2, 1, 50.0, 2, 50.0, 1, 1, 1, 60_000, 0, 0, 50.0),
]


async def test_the_summary_counts_only_what_each_cell_owes_the_month(
    engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock
) -> None:
    harness = Harness(engine, cipher, clock)
    office = await a_committee_month(harness, engine, cipher)
    workbook, _ = await harness.say(office, "/baocao 11/2026")
    assert sheet_rows(workbook, vi("report.sheet.cells"))[1:] == COMMITTEE_ROWS
