"""Roster files built to exhaust the bot are refused before they are unpacked or padded, with a
plain message and nothing imported; honest rosters at the limits still read."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers import roster_file
from handlers.i18n import Texts
from handlers.roster_file import MAX_DATA_ROWS, RosterFileError, parse_roster
from handlers.xlsx_budget import MAX_ENTRIES
from scheduler.clock import ManualClock
from storage.crypto import FieldCipher
from storage.schema import members
from tests.support.harness import Harness, texts_of
from tests.support.xlsx_bomb import (
    MAIN,
    Part,
    bomb,
    many_shared_strings,
    one_huge_row,
    wide_blank_rows,
)
from tests.test_attendance import found_cell

vi = Texts("vi")
TODAY = date(2026, 11, 22)
TOO_LARGE = vi("roster.error.too_large", rows=str(MAX_DATA_ROWS))
HEADER = ["STT", "Họ và tên", "Ngày sinh", "Giới tính", "Ngày vào Đảng", "Trạng thái"]


def refusal(file_name: str, content: bytes) -> str:
    with pytest.raises(RosterFileError) as caught:
        parse_roster(file_name, content, today=TODAY)
    return caught.value.key


def honest_xlsx(members: int, *, columns: int = 0) -> bytes:
    """A roster as a secretary's Excel has it, plus ``columns`` styled empty columns."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    for n in range(1, members + 1):
        birth = date(1950 + n % 40, 1 + n % 12, 1 + n % 28)
        admitted = birth.replace(year=birth.year + 25)
        sheet.append([n, f"Nguyễn Văn {n}", birth, "Nam", admitted, "Chính thức"])
        for column in range(len(HEADER) + 1, len(HEADER) + 1 + columns):
            sheet.cell(n + 1, column).number_format = "@"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def test_a_zip_bomb_sent_as_a_roster_is_refused_and_nothing_is_imported(
    sqlite_engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock
) -> None:
    harness = Harness(sqlite_engine, cipher, clock)
    secretary, _ = await found_cell(harness)
    content = bomb(one_huge_row(1000))  # 1.9 MB: 940 MB of XML, 65 million cells
    assert len(content) < roster_file.MAX_FILE_BYTES
    async with sqlite_engine.connect() as connection:
        before = (await connection.execute(select(func.count()).select_from(members))).scalar()

    replies = await harness.send_file(secretary, "danh-sach.xlsx", content)

    assert texts_of(replies) == TOO_LARGE
    async with sqlite_engine.connect() as connection:
        after = (await connection.execute(select(func.count()).select_from(members))).scalar()
    assert after == before == 1


@pytest.mark.parametrize(
    "parts",
    [
        pytest.param(one_huge_row(1000), id="one row of 65 million cells"),
        pytest.param(wide_blank_rows(100), id="100,000 rows padded to column XFD"),
        pytest.param(wide_blank_rows(1), id="1,000 rows padded to column XFD"),
        pytest.param(many_shared_strings(9000), id="36 million shared strings"),
        pytest.param(
            {
                "xl/styles.xml": Part(
                    f'<styleSheet xmlns="{MAIN}"><cellXfs>'.encode(),
                    b"<xf/>" * 1000,
                    1100,
                    b"</cellXfs></styleSheet>",
                )
            },
            id="a million styles",
        ),
    ],
)
def test_workbooks_that_would_cost_gigabytes_are_refused(parts: dict[str, Part]) -> None:
    assert refusal("ds.xlsx", bomb(parts)) == "roster.error.too_large"


def test_a_workbook_of_too_many_parts_is_refused() -> None:
    parts = {f"xl/media/image{n}.png": Part(b"\x89PNG") for n in range(MAX_ENTRIES)}
    assert refusal("ds.xlsx", bomb(parts)) == "roster.error.too_large"


def test_an_entity_bomb_is_refused_before_it_expands() -> None:
    laughs = b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "ha">' + b"".join(
        f'<!ENTITY {chr(98 + n)} "{("&" + chr(97 + n) + ";") * 10}">'.encode() for n in range(9)
    )
    sheet = laughs + f'<worksheet xmlns="{MAIN}"><sheetData>&j;</sheetData></worksheet>'.encode()
    parts = {"xl/worksheets/sheet1.xml": Part(sheet)}
    assert refusal("ds.xlsx", bomb(parts)) == "roster.error.unreadable"


def test_the_cell_budget_counts_every_row_up_to_its_last_column(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    content = honest_xlsx(99)  # 100 rows of 6 columns: 600 cells
    monkeypatch.setattr(roster_file, "MAX_CELLS", 600)
    assert len(parse_roster("ds.xlsx", content, today=TODAY).rows) == 99
    monkeypatch.setattr(roster_file, "MAX_CELLS", 599)
    assert refusal("ds.xlsx", content) == "roster.error.too_large"


def test_an_honest_roster_at_the_row_limit_with_styled_spare_columns_reads() -> None:
    parsed = parse_roster("ds.xlsx", honest_xlsx(MAX_DATA_ROWS, columns=20), today=TODAY)
    assert len(parsed.rows) == MAX_DATA_ROWS and parsed.problems == []
    assert parsed.rows[-1][1].full_name == f"Nguyễn Văn {MAX_DATA_ROWS}"


def test_a_csv_row_of_a_million_separators_is_refused() -> None:
    content = ("Họ và tên;Ngày sinh\n" + "Nguyễn Văn An" + ";" * 1_000_000 + "\n").encode()
    assert len(content) < roster_file.MAX_FILE_BYTES
    assert refusal("ds.csv", content) == "roster.error.too_large"


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_a_file_over_the_size_limit_is_refused_by_the_reader_itself(suffix: str) -> None:
    content = b"x" * (roster_file.MAX_FILE_BYTES + 1)
    assert refusal(f"ds.{suffix}", content) == "import.too_big"


def test_a_zip_that_claims_less_than_it_holds_is_unreadable() -> None:
    content = bytearray(bomb(wide_blank_rows(10)))  # a 230 KB sheet
    name = b"xl/worksheets/sheet1.xml"
    local = content.index(name) - 30
    central = content.index(name, local + 30 + len(name)) - 46
    # The unpacked size, in the entry's local header and in the central directory.
    content[local + 22 : local + 26] = (1000).to_bytes(4, "little")
    content[central + 24 : central + 28] = (1000).to_bytes(4, "little")
    with zipfile.ZipFile(io.BytesIO(bytes(content))) as archive:
        assert archive.getinfo(name.decode()).file_size == 1000
    assert refusal("ds.xlsx", bytes(content)) == "roster.error.unreadable"
