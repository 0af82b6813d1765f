"""Reading roster files: CSV and XLSX bytes in, checked RosterRows and row problems out."""

from __future__ import annotations

import csv
import io
import string
import unicodedata
import zipfile
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from handlers import roster_file
from handlers.i18n import Texts, catalog
from handlers.roster_file import ParsedRoster, RosterFileError, RowProblem, parse_roster
from storage.models import Gender, MemberStatus, RosterRow

TODAY = date(2026, 11, 22)
VI_HEADER = [
    "Họ và tên",
    "Ngày sinh",
    "Giới tính",
    "Ngày vào Đảng",
    "Ngày chính thức",
    "Số thẻ đảng",
    "Số CCCD",
    "Số điện thoại",
    "Trạng thái",
]


def csv_bytes(
    rows: list[list[str]], *, delimiter: str = ",", encoding: str = "utf-8", header: list[str]
) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def parse_csv(rows: list[list[str]], header: list[str] | None = None) -> ParsedRoster:
    return parse_roster("ds.csv", csv_bytes(rows, header=header or VI_HEADER), today=TODAY)


def xlsx_bytes(rows: Sequence[Sequence[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def row(**overrides: str) -> list[str]:
    """One CSV row under VI_HEADER; a good member unless told otherwise."""
    values = {
        "name": "Nguyễn Văn An",
        "birth": "05/03/1958",
        "gender": "Nam",
        "admitted": "19/05/1980",
        "official": "19/05/1981",
        "card": "12345678",
        "citizen": "001058012345",
        "phone": "0912345678",
        "status": "Chính thức",
    } | overrides
    return list(values.values())


def problems_of(parsed: ParsedRoster) -> list[tuple[int, str, dict[str, str]]]:
    return [(p.line, p.key, p.values) for p in parsed.problems]


def file_error(file_name: str, content: bytes) -> RosterFileError:
    with pytest.raises(RosterFileError) as caught:
        parse_roster(file_name, content, today=TODAY)
    return caught.value


# --- Good files -------------------------------------------------------------------------------


def test_csv_with_bom_semicolons_and_vietnamese_headers() -> None:
    content = csv_bytes(
        [
            row(),
            ["", "", "", "", "", "", "", "", ""],  # a blank row is skipped but still counted
            [
                "  Trần   Thị  Bình ",
                "1/2/1975",
                "nữ",
                "2000-09-02",
                "",
                "",
                "",
                "+84 98 765 4321",
                "",
            ],
        ],
        delimiter=";",
        encoding="utf-8-sig",
        header=VI_HEADER,
    )
    assert content.startswith(b"\xef\xbb\xbf")

    parsed = parse_roster("Danh sách.CSV", content, today=TODAY)

    assert parsed.problems == []
    assert parsed.rows == [
        (
            2,
            RosterRow(
                full_name="Nguyễn Văn An",
                birth_date=date(1958, 3, 5),
                gender=Gender.MALE,
                admitted_on=date(1980, 5, 19),
                official_on=date(1981, 5, 19),
                card_number="12345678",
                citizen_id="001058012345",
                phone="0912345678",
                status=MemberStatus.OFFICIAL,
            ),
        ),
        (
            4,
            RosterRow(
                full_name="Trần Thị Bình",
                birth_date=date(1975, 2, 1),
                gender=Gender.FEMALE,
                admitted_on=date(2000, 9, 2),
                official_on=None,
                card_number=None,
                citizen_id=None,
                phone="0987654321",
                status=MemberStatus.PROBATIONARY,
            ),
        ),
    ]


def test_utf16_tab_separated_file_from_excel_unicode_text() -> None:
    content = csv_bytes(
        [["Lê Văn Cường", "07.11.1990", "M"]],
        delimiter="\t",
        encoding="utf-16",
        header=["Họ tên", "Ngày sinh", "Giới tính"],
    )
    parsed = parse_roster("ds.csv", content, today=TODAY)
    assert parsed.problems == []
    assert parsed.rows == [
        (
            2,
            RosterRow(
                full_name="Lê Văn Cường",
                birth_date=date(1990, 11, 7),
                gender=Gender.MALE,
                admitted_on=None,
                official_on=None,
                card_number=None,
                citizen_id=None,
                phone=None,
                status=MemberStatus.PROBATIONARY,
            ),
        )
    ]


def test_english_headers_with_commas_and_utf8_without_bom() -> None:
    header = ["Full name", "Date of birth", "Gender", "Admitted", "Official date", "Status"]
    content = csv_bytes(
        [["Pham, Thi Dung", "1985-12-31", "female", "10-10-2010", "10-10-2011", "exempted"]],
        header=header,
    )
    parsed = parse_roster("roster.csv", content, today=TODAY)
    assert parsed.problems == []
    [(line, member)] = parsed.rows
    assert line == 2
    assert member.full_name == "Pham, Thi Dung"
    assert member.gender is Gender.FEMALE
    assert (member.admitted_on, member.official_on) == (date(2010, 10, 10), date(2011, 10, 10))
    assert member.status is MemberStatus.EXEMPTED


def test_xlsx_with_date_cells_and_number_cells() -> None:
    content = xlsx_bytes(
        [
            ["STT", "Họ và tên", "Ngày sinh", "Ngày vào Đảng", "SĐT", "CCCD", "Số thẻ đảng"],
            [1, "Nguyễn Văn An", datetime(1958, 3, 5), date(1980, 5, 19), 912345678, 1058012345],
            [],
            [2, "Đỗ Thị Hoa", "05/06/1970", datetime(1995, 1, 1, 0, 0), 84987654321, 1.2345678e11],
            [3, "Vũ Minh", None, None, "024 3825 3536", "079 123 456 789", 87654321],
        ]
    )

    parsed = parse_roster("danh-sach.xlsx", content, today=TODAY)

    assert parsed.problems == []
    assert [(line, r.full_name) for line, r in parsed.rows] == [
        (2, "Nguyễn Văn An"),
        (4, "Đỗ Thị Hoa"),
        (5, "Vũ Minh"),
    ]
    first, second, third = (r for _, r in parsed.rows)
    assert first.birth_date == date(1958, 3, 5)
    assert first.admitted_on == date(1980, 5, 19)
    assert first.phone == "0912345678"  # the leading zero Excel dropped is back
    assert first.citizen_id == "001058012345"  # and the two zeros of Hà Nội's code 001
    assert second.birth_date == date(1970, 6, 5)
    assert second.admitted_on == date(1995, 1, 1)
    assert second.phone == "0987654321"
    assert second.citizen_id == "123456780000"
    assert third.phone == "02438253536"
    assert third.citizen_id == "079123456789"
    assert third.card_number == "87654321"
    assert all(r.status is MemberStatus.PROBATIONARY for r in (first, second, third))


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (79123456789, "079123456789"),  # 11 digits: the leading zero is back
        (1058012345, "001058012345"),  # 10 digits: province codes 001–009 lose two zeros
        (123456789012, "123456789012"),
        (123456789012.0, "123456789012"),
        (1.2345678e11, "123456780000"),
        (123456789, None),  # an old 9-digit identity card number is not a citizen ID
        (1234567890123, None),
        (1.5e11 + 0.5, None),
    ],
)
def test_xlsx_number_cells_as_citizen_ids(cell: float, expected: str | None) -> None:
    content = xlsx_bytes([["Họ và tên", "Số CCCD"], ["Nguyễn Văn An", cell]])
    parsed = parse_roster("a.xlsx", content, today=TODAY)
    if expected is None:
        assert problems_of(parsed) == [(2, "roster.error.bad_citizen_id", {"column": "Số CCCD"})]
    else:
        assert parsed.problems == []
        assert parsed.rows[0][1].citizen_id == expected


def test_xlsx_dates_are_checked_like_typed_ones() -> None:
    content = xlsx_bytes(
        [
            ["Họ và tên", "Ngày sinh", "Ngày vào Đảng"],
            ["A", datetime(2030, 1, 1), None],
            ["B", date(1880, 1, 1), None],
            ["C", 1958, None],  # a bare number is not a date
            ["D", datetime(2000, 1, 1), datetime(2017, 12, 31)],
        ]
    )
    parsed = parse_roster("a.xlsx", content, today=TODAY)
    assert problems_of(parsed) == [
        (2, "roster.error.future_date", {"column": "Ngày sinh", "value": "01/01/2030"}),
        (3, "roster.error.date_too_early", {"column": "Ngày sinh", "value": "01/01/1880"}),
        (4, "roster.error.bad_date", {"column": "Ngày sinh", "value": "1958"}),
        (5, "roster.error.too_young", {"age": "18"}),
    ]


def test_xlsx_reads_only_the_first_sheet_and_skips_leading_blank_rows() -> None:
    workbook = Workbook()
    first = workbook.active
    assert first is not None
    first["A3"] = "Họ và tên"
    first["A4"] = "Nguyễn Văn An"
    other = workbook.create_sheet("Khác")
    other.append(["Cột lạ"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    parsed = parse_roster("a.xlsx", buffer.getvalue(), today=TODAY)
    assert [(line, r.full_name) for line, r in parsed.rows] == [(4, "Nguyễn Văn An")]


# --- Headers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "value", "field", "expected"),
    [
        ("HO VA TEN", "", "full_name", "Nguyễn Văn An"),
        ("Ngay sinh", "05/03/1958", "birth_date", date(1958, 3, 5)),
        ("NGÀY SINH", "05/03/1958", "birth_date", date(1958, 3, 5)),
        ("date_of_birth", "05/03/1958", "birth_date", date(1958, 3, 5)),
        ("  Giới   Tính ", "Nữ", "gender", Gender.FEMALE),
        ("gioi tinh", "NAM", "gender", Gender.MALE),
        ("ngày vào đảng", "19/05/1980", "admitted_on", date(1980, 5, 19)),
        ("NGAY VAO DANG", "19/05/1980", "admitted_on", date(1980, 5, 19)),
        ("Ngày kết nạp", "19/05/1980", "admitted_on", date(1980, 5, 19)),
        ("ngaychinhthuc", "19/05/1981", "official_on", date(1981, 5, 19)),
        ("Số Thẻ Đảng Viên", "12345678", "card_number", "12345678"),
        ("so the dang", "12345678", "card_number", "12345678"),
        ("Card Number", "12345678", "card_number", "12345678"),
        ("số cccd", "001058012345", "citizen_id", "001058012345"),
        ("Căn cước công dân", "001058012345", "citizen_id", "001058012345"),
        ("Citizen ID", "001058012345", "citizen_id", "001058012345"),
        ("SĐT", "0912345678", "phone", "0912345678"),
        ("sdt", "0912345678", "phone", "0912345678"),
        ("ĐIỆN THOẠI", "0912345678", "phone", "0912345678"),
        ("Số điện thoại:", "0912345678", "phone", "0912345678"),
        ("trang thai", "du bi", "status", MemberStatus.PROBATIONARY),
        ("Status", "Official", "status", MemberStatus.OFFICIAL),
    ],
)
def test_headers_match_whatever_the_case_spacing_and_diacritics(
    header: str, value: str, field: str, expected: object
) -> None:
    if field == "full_name":
        parsed = parse_csv([["Nguyễn Văn An"]], header=[header])
    else:
        parsed = parse_csv([["Nguyễn Văn An", value]], header=["Họ tên", header])
    assert parsed.problems == []
    assert getattr(parsed.rows[0][1], field) == expected


def test_headers_written_in_decomposed_unicode_match_too() -> None:
    header = [unicodedata.normalize("NFD", name) for name in VI_HEADER]
    parsed = parse_csv([row()], header=header)
    assert parsed.problems == []
    assert parsed.rows[0][1].citizen_id == "001058012345"


def test_the_running_number_column_is_ignored() -> None:
    parsed = parse_csv([["1", "Nguyễn Văn An"], ["2", "Trần Bình"]], header=["STT", "Họ và tên"])
    assert [r.full_name for _, r in parsed.rows] == ["Nguyễn Văn An", "Trần Bình"]


@pytest.mark.parametrize(
    ("header", "key", "values"),
    [
        (["Ngày sinh", "Giới tính"], "roster.error.no_name_column", {}),
        (["Họ và tên", "Ghi chú"], "roster.error.unknown_column", {"column": "Ghi chú"}),
        (
            ["Họ và tên", "Ngày  sinh nhật"],
            "roster.error.unknown_column",
            {"column": "Ngày sinh nhật"},
        ),
        (["Họ và tên", "Họ tên"], "roster.error.duplicate_column", {"column": "Họ tên"}),
        (["Full name", "SĐT", "Phone"], "roster.error.duplicate_column", {"column": "Phone"}),
    ],
)
def test_bad_headers_reject_the_file(header: list[str], key: str, values: dict[str, str]) -> None:
    error = file_error("a.csv", csv_bytes([["Nguyễn Văn An", "x", "y"]], header=header))
    assert (error.key, error.values) == (key, values)


def test_an_overlong_unknown_header_is_cut_short_in_the_message() -> None:
    header = ["Họ và tên", "Cột " + "x" * 100]
    error = file_error("a.csv", csv_bytes([["A", "B"]], header=header))
    assert error.key == "roster.error.unknown_column"
    assert len(error.values["column"]) == 40
    assert error.values["column"].endswith("…")


# --- Whole-file problems ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ds.xls", "ds.pdf", "ds", "ds.csv.exe", "ds.ods"])
def test_other_file_types_are_refused(name: str) -> None:
    assert file_error(name, b"Ho ten\nA\n").key == "roster.error.file_type"


@pytest.mark.parametrize(
    "content",
    [
        "Ho\u0323 và tên\nLê Văn An\n".encode("cp1258"),  # Windows Vietnamese
        "Họ và tên\nĐặng Thùy\n".encode("utf-16-le"),  # UTF-16 without its mark
        b"Ho ten\nJos\xe9\n",  # Latin-1
    ],
)
def test_csv_in_another_encoding_is_refused(content: bytes) -> None:
    assert file_error("a.csv", content).key == "roster.error.encoding"


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a zip file",
        xlsx_bytes([["Họ và tên"], ["Nguyễn Văn An"]])[:200],  # cut short in transit
    ],
)
def test_damaged_xlsx_is_unreadable(content: bytes) -> None:
    assert file_error("a.xlsx", content).key == "roster.error.unreadable"


def test_zip_that_is_not_a_workbook_is_unreadable() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "xin chào")
    assert file_error("a.xlsx", buffer.getvalue()).key == "roster.error.unreadable"


@pytest.mark.parametrize(
    ("file_name", "content"),
    [
        ("a.csv", b""),
        ("a.csv", b"\xef\xbb\xbf"),
        ("a.csv", b"\n\n  \n"),
        ("a.csv", "Họ và tên;Ngày sinh\n".encode()),
        ("a.csv", "Họ và tên,Ngày sinh\n,\n ,  \n".encode()),
        ("a.xlsx", xlsx_bytes([])),
        ("a.xlsx", xlsx_bytes([["Họ và tên", "Ngày sinh"]])),
    ],
)
def test_empty_or_header_only_file_is_refused(file_name: str, content: bytes) -> None:
    assert file_error(file_name, content).key == "roster.error.empty"


def test_two_thousand_rows_are_accepted_and_one_more_is_refused() -> None:
    names = [[f"Đảng viên {n}"] for n in range(2000)]
    parsed = parse_csv(names, header=["Họ và tên"])
    assert len(parsed.rows) == 2000
    assert parsed.rows[-1] == (2001, parsed.rows[-1][1])
    assert parsed.rows[-1][1].full_name == "Đảng viên 1999"

    with_blank_rows_after = csv_bytes([*names, [""], [" "]], header=["Họ và tên"])
    assert len(parse_roster("a.csv", with_blank_rows_after, today=TODAY).rows) == 2000

    error = file_error("a.csv", csv_bytes([*names, ["Một người nữa"]], header=["Họ và tên"]))
    assert (error.key, error.values) == ("roster.error.too_many_rows", {"limit": "2000"})


def test_blank_rows_do_not_count_towards_the_limit() -> None:
    rows = [[f"Đảng viên {n}"] if n % 2 else [""] for n in range(4000)]
    parsed = parse_csv(rows, header=["Họ và tên"])
    assert len(parsed.rows) == 2000
    assert parsed.rows[0][0] == 3  # line 2 is blank


def test_a_sea_of_blank_rows_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roster_file, "MAX_SCANNED_ROWS", 50)
    content = xlsx_bytes([["Họ và tên"], ["A"], *([[""]] * 60), ["B"]])
    assert file_error("a.xlsx", content).key == "roster.error.too_many_rows"


def test_too_many_rows_in_xlsx() -> None:
    content = xlsx_bytes([["Họ và tên"], *([["Nguyễn Văn An"]] * 2001)])
    assert file_error("a.xlsx", content).values == {"limit": "2000"}


# --- Row problems -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "key", "values"),
    [
        ({"name": ""}, "roster.error.name_missing", {}),
        ({"name": "   "}, "roster.error.name_missing", {}),
        ({"name": "A" * 121}, "roster.error.name_too_long", {"limit": "120"}),
        ({"name": "12345"}, "roster.error.name_invalid", {}),
        ({"name": "🙂🎉"}, "roster.error.name_invalid", {}),
        ({"name": "Nguyễn\x07Văn"}, "roster.error.name_invalid", {}),
        ({"name": "Nguyễn \u202eVăn"}, "roster.error.name_invalid", {}),
        (
            {"birth": "31/02/1990"},
            "roster.error.bad_date",
            {"column": "Ngày sinh", "value": "31/02/1990"},
        ),
        ({"birth": "1990"}, "roster.error.bad_date", {"column": "Ngày sinh", "value": "1990"}),
        (
            {"birth": "05/03/58"},
            "roster.error.bad_date",
            {"column": "Ngày sinh", "value": "05/03/58"},
        ),
        (
            {"birth": "5 tháng 3"},
            "roster.error.bad_date",
            {"column": "Ngày sinh", "value": "5 tháng 3"},
        ),
        (
            {"birth": "05/03-1958"},
            "roster.error.bad_date",
            {"column": "Ngày sinh", "value": "05/03-1958"},
        ),
        (
            {"birth": "1958/03/05"},
            "roster.error.bad_date",
            {"column": "Ngày sinh", "value": "1958/03/05"},
        ),
        (
            {"birth": "29/02/1959"},
            "roster.error.bad_date",
            {"column": "Ngày sinh", "value": "29/02/1959"},
        ),
        (
            {"official": "23/11/2026"},
            "roster.error.future_date",
            {"column": "Ngày chính thức", "value": "23/11/2026"},
        ),
        (
            {"birth": "31/12/1899"},
            "roster.error.date_too_early",
            {"column": "Ngày sinh", "value": "31/12/1899"},
        ),
        ({"official": "18/05/1980"}, "roster.error.official_before_admission", {}),
        ({"birth": "20/05/1962"}, "roster.error.too_young", {"age": "18"}),
        ({"gender": "khác"}, "roster.error.bad_gender", {"column": "Giới tính", "value": "khác"}),
        (
            {"status": "đã chết"},
            "roster.error.bad_status",
            {"column": "Trạng thái", "value": "đã chết"},
        ),
        ({"citizen": "00105801234"}, "roster.error.bad_citizen_id", {"column": "Số CCCD"}),
        ({"citizen": "0010580123456"}, "roster.error.bad_citizen_id", {"column": "Số CCCD"}),
        ({"citizen": "00105801234X"}, "roster.error.bad_citizen_id", {"column": "Số CCCD"}),
        ({"citizen": "1.23457E+11"}, "roster.error.bad_citizen_id", {"column": "Số CCCD"}),
        ({"card": "12345"}, "roster.error.bad_card_number", {"column": "Số thẻ đảng"}),
        ({"card": "1234567890123"}, "roster.error.bad_card_number", {"column": "Số thẻ đảng"}),
        ({"card": "AB123456"}, "roster.error.bad_card_number", {"column": "Số thẻ đảng"}),
        ({"phone": "12345"}, "roster.error.bad_phone", {"column": "Số điện thoại"}),
        ({"phone": "091234567890"}, "roster.error.bad_phone", {"column": "Số điện thoại"}),
        ({"phone": "+1 415 555 0100"}, "roster.error.bad_phone", {"column": "Số điện thoại"}),
        ({"phone": "09I2345678"}, "roster.error.bad_phone", {"column": "Số điện thoại"}),
        ({"phone": "9123456789"}, "roster.error.bad_phone", {"column": "Số điện thoại"}),
        ({"phone": "12345678"}, "roster.error.bad_phone", {"column": "Số điện thoại"}),
        ({"phone": "０９１２３４５６７８"}, "roster.error.bad_phone", {"column": "Số điện thoại"}),
    ],
)
def test_each_kind_of_row_problem(
    overrides: dict[str, str], key: str, values: dict[str, str]
) -> None:
    parsed = parse_csv(
        [row(), row(**({"card": "87654321", "citizen": "001058099999"} | overrides))]
    )
    assert problems_of(parsed) == [(3, key, values)]
    assert [line for line, _ in parsed.rows] == [2]


def test_every_problem_of_every_row_is_reported_in_column_order() -> None:
    parsed = parse_csv(
        [
            row(name="", birth="x", gender="?", card="1", citizen="2", phone="3", status="?"),
            row(card="87654321", citizen="001058099999"),
            row(admitted="01/01/2000", official="01/01/1999", card="11111111", citizen=""),
        ]
    )
    assert [(line, key) for line, key, _ in problems_of(parsed)] == [
        (2, "roster.error.name_missing"),
        (2, "roster.error.bad_date"),
        (2, "roster.error.bad_gender"),
        (2, "roster.error.bad_card_number"),
        (2, "roster.error.bad_citizen_id"),
        (2, "roster.error.bad_phone"),
        (2, "roster.error.bad_status"),
        (4, "roster.error.official_before_admission"),
    ]
    assert [line for line, _ in parsed.rows] == [3]


def test_duplicate_citizen_ids_and_card_numbers_are_reported_on_the_later_row() -> None:
    parsed = parse_csv(
        [
            row(),
            row(name="Trần Bình", card="87654321"),  # same citizen ID as line 2
            row(name="Lê Cường", citizen="001058099999", card="1234 5678"),  # same card
            row(name="Phạm Dũng", citizen="001 058 012 345", card="12-34-56-78"),  # both
        ]
    )
    assert problems_of(parsed) == [
        (3, "roster.error.duplicate_citizen_id", {"column": "Số CCCD", "first_line": "2"}),
        (4, "roster.error.duplicate_card_number", {"column": "Số thẻ đảng", "first_line": "2"}),
        (5, "roster.error.duplicate_citizen_id", {"column": "Số CCCD", "first_line": "2"}),
        (5, "roster.error.duplicate_card_number", {"column": "Số thẻ đảng", "first_line": "2"}),
    ]
    assert [line for line, _ in parsed.rows] == [2]


def test_cells_outside_the_named_columns_are_a_problem() -> None:
    content = "Họ và tên,Ngày sinh\nNguyễn Văn An,05/03/1958,thừa\nTrần Bình,,\n".encode()
    parsed = parse_roster("a.csv", content, today=TODAY)
    assert problems_of(parsed) == [(2, "roster.error.extra_cells", {})]
    assert [line for line, _ in parsed.rows] == [3]
    # A column with an empty header is the same thing.
    content = xlsx_bytes([["Họ và tên", None, "Ngày sinh"], ["A", "x", None], ["B", None, None]])
    assert problems_of(parse_roster("a.xlsx", content, today=TODAY)) == [
        (2, "roster.error.extra_cells", {})
    ]


def test_personal_values_never_appear_in_problems() -> None:
    secrets = {"citizen": "9988776655443", "card": "99887766554433", "phone": "0998877665544"}
    parsed = parse_csv([row(**secrets), row(), row(name="B")])
    assert {p.key for p in parsed.problems} == {
        "roster.error.bad_citizen_id",
        "roster.error.bad_card_number",
        "roster.error.bad_phone",
        "roster.error.duplicate_citizen_id",
        "roster.error.duplicate_card_number",
    }
    shown = " ".join(v for p in parsed.problems for v in p.values.values())
    for secret in [*secrets.values(), "001058012345", "12345678"]:
        assert secret not in shown
    assert all(set(p.values) <= {"column", "first_line"} for p in parsed.problems)


def test_shown_values_are_short_and_on_one_line() -> None:
    parsed = parse_csv([row(birth="ngày\nsinh " + "9" * 80)])
    [problem] = parsed.problems
    assert problem.key == "roster.error.bad_date"
    assert problem.values["value"] == "ngày sinh " + "9" * 29 + "…"
    assert len(problem.values["value"]) == 40


def test_line_numbers_are_spreadsheet_rows_even_with_line_breaks_in_cells() -> None:
    content = 'Họ và tên,Ngày sinh\n"Nguyễn\nVăn An",05/03/1958\n\n"B",xx\n'.encode()
    parsed = parse_roster("a.csv", content, today=TODAY)
    assert parsed.rows[0] == (2, parsed.rows[0][1])
    assert parsed.rows[0][1].full_name == "Nguyễn Văn An"
    assert problems_of(parsed) == [
        (4, "roster.error.bad_date", {"column": "Ngày sinh", "value": "xx"})
    ]


# --- Field values -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Nguyễn Văn An", "Nguyễn Văn An"),
        ("  Nguyễn \t Văn\u00a0An  ", "Nguyễn Văn An"),
        (unicodedata.normalize("NFD", "Nguyễn Thị Ánh"), "Nguyễn Thị Ánh"),
        ("\u200bNguyễn Văn An", "Nguyễn Văn An"),
        ("محمد علي", "محمد علي"),
        ("שרה כהן", "שרה כהן"),
        ("Lê Văn Tám 🇻🇳", "Lê Văn Tám 🇻🇳"),
        ("Nguyễn 👨‍👩‍👧 An", "Nguyễn 👨‍👩‍👧 An"),
        ("A", "A"),
        ("A" * 120, "A" * 120),
    ],
)
def test_names_are_cleaned_and_kept(raw: str, expected: str) -> None:
    parsed = parse_csv([[raw]], header=["Họ và tên"])
    assert parsed.problems == []
    assert parsed.rows[0][1].full_name == expected
    assert unicodedata.is_normalized("NFC", parsed.rows[0][1].full_name)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("05/03/1958", date(1958, 3, 5)),
        ("5/3/1958", date(1958, 3, 5)),
        ("05-03-1958", date(1958, 3, 5)),
        ("05.03.1958", date(1958, 3, 5)),
        ("1958-03-05", date(1958, 3, 5)),
        ("1958-3-5", date(1958, 3, 5)),
        ("1958-03-05 00:00:00", date(1958, 3, 5)),
        (" 05/03/1958 ", date(1958, 3, 5)),
        ("29/02/1960", date(1960, 2, 29)),
        ("01/01/1900", date(1900, 1, 1)),
        ("22/11/2008", date(2008, 11, 22)),
    ],
)
def test_date_formats(raw: str, expected: date) -> None:
    parsed = parse_csv([["A", raw]], header=["Họ và tên", "Ngày sinh"])
    assert parsed.problems == []
    assert parsed.rows[0][1].birth_date == expected


def test_today_is_not_in_the_future() -> None:
    parsed = parse_csv(
        [["A", "", "22/11/2026"]], header=["Họ và tên", "Ngày sinh", "Ngày vào Đảng"]
    )
    assert parsed.rows[0][1].admitted_on == TODAY


def test_admission_exactly_on_the_eighteenth_birthday_is_allowed() -> None:
    header = ["Họ và tên", "Ngày sinh", "Ngày vào Đảng"]
    assert parse_csv([["A", "20/05/1962", "20/05/1980"]], header=header).problems == []
    assert parse_csv([["A", "21/05/1962", "20/05/1980"]], header=header).problems[0].key == (
        "roster.error.too_young"
    )
    # Born on 29 February: eighteen on 1 March of a common year.
    assert parse_csv([["A", "29/02/1960", "01/03/1978"]], header=header).problems == []
    assert parse_csv([["A", "29/02/1960", "28/02/1978"]], header=header).problems[0].key == (
        "roster.error.too_young"
    )


def test_official_on_the_admission_day_is_allowed() -> None:
    parsed = parse_csv([row(admitted="19/05/1980", official="19/05/1980")])
    assert parsed.problems == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Nam", Gender.MALE),
        ("nam", Gender.MALE),
        ("NAM", Gender.MALE),
        ("male", Gender.MALE),
        ("M", Gender.MALE),
        ("Nữ", Gender.FEMALE),
        ("nu", Gender.FEMALE),
        ("NỮ", Gender.FEMALE),
        ("female", Gender.FEMALE),
        ("F", Gender.FEMALE),
        ("", None),
    ],
)
def test_gender_words(raw: str, expected: Gender | None) -> None:
    parsed = parse_csv([["A", raw]], header=["Họ và tên", "Giới tính"])
    assert parsed.problems == []
    assert parsed.rows[0][1].gender is expected


@pytest.mark.parametrize(
    ("raw", "official", "expected"),
    [
        ("chính thức", "", MemberStatus.OFFICIAL),
        ("Chinh Thuc", "", MemberStatus.OFFICIAL),
        ("official", "", MemberStatus.OFFICIAL),
        ("dự bị", "", MemberStatus.PROBATIONARY),
        ("DỰ BỊ", "", MemberStatus.PROBATIONARY),
        ("probationary", "", MemberStatus.PROBATIONARY),
        ("miễn sinh hoạt", "", MemberStatus.EXEMPTED),
        ("exempted", "", MemberStatus.EXEMPTED),
        ("Tạm miễn sinh hoạt", "", MemberStatus.TEMPORARILY_EXEMPTED),
        ("tam mien  sinh hoat", "", MemberStatus.TEMPORARILY_EXEMPTED),
        ("temporarily exempted", "", MemberStatus.TEMPORARILY_EXEMPTED),
        ("", "19/05/1981", MemberStatus.OFFICIAL),
        ("", "", MemberStatus.PROBATIONARY),
    ],
)
def test_status_words_and_the_default(raw: str, official: str, expected: MemberStatus) -> None:
    parsed = parse_csv(
        [["A", official, raw]], header=["Họ và tên", "Ngày chính thức", "Trạng thái"]
    )
    assert parsed.problems == []
    assert parsed.rows[0][1].status is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0912345678", "0912345678"),
        ("0912 345 678", "0912345678"),
        ("0912.345.678", "0912345678"),
        ("091-234-5678", "0912345678"),
        ("(024) 3825 3536", "02438253536"),
        ("+84912345678", "0912345678"),
        ("+84 24 3825 3536", "02438253536"),
        ("84912345678", "0912345678"),
        ("912345678", "0912345678"),  # a spreadsheet dropped the zero
        ("2438253536", "02438253536"),
    ],
)
def test_phone_numbers_are_normalised(raw: str, expected: str) -> None:
    parsed = parse_csv([["A", raw]], header=["Họ và tên", "Số điện thoại"])
    assert parsed.problems == []
    assert parsed.rows[0][1].phone == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("001058012345", "001058012345"),
        ("001 058 012 345", "001058012345"),
        ("79123456789", "079123456789"),  # CSV saved from a spreadsheet that dropped the zero
        ("1058012345", "001058012345"),
        ("01058012345", None),  # starts with its zero, so a digit is missing
        ("123456789", None),
        ("0010580123456", None),
    ],
)
def test_citizen_ids(raw: str, expected: str | None) -> None:
    parsed = parse_csv([["A", raw]], header=["Họ và tên", "Số CCCD"])
    if expected is None:
        assert [p.key for p in parsed.problems] == ["roster.error.bad_citizen_id"]
    else:
        assert parsed.rows[0][1].citizen_id == expected


def test_xlsx_number_cells_in_id_columns() -> None:
    content = xlsx_bytes(
        [
            ["Họ và tên", "Số thẻ đảng", "Số điện thoại", "Số CCCD"],
            ["A", 123456, 2438253536, 79123456789],
            ["B", 12345.5, -912345678, datetime(2000, 1, 1)],
        ]
    )
    parsed = parse_roster("a.xlsx", content, today=TODAY)
    assert parsed.rows[0][1].card_number == "123456"
    assert parsed.rows[0][1].phone == "02438253536"
    assert parsed.rows[0][1].citizen_id == "079123456789"
    assert [p.key for p in parsed.problems] == [
        "roster.error.bad_card_number",
        "roster.error.bad_citizen_id",
        "roster.error.bad_phone",
    ]


# --- Messages ---------------------------------------------------------------------------------


ALL_KEYS = [
    "roster.error.file_type",
    "roster.error.encoding",
    "roster.error.unreadable",
    "roster.error.empty",
    "roster.error.too_many_rows",
    "roster.error.no_name_column",
    "roster.error.unknown_column",
    "roster.error.duplicate_column",
    "roster.error.name_missing",
    "roster.error.name_too_long",
    "roster.error.name_invalid",
    "roster.error.bad_date",
    "roster.error.future_date",
    "roster.error.date_too_early",
    "roster.error.official_before_admission",
    "roster.error.too_young",
    "roster.error.bad_gender",
    "roster.error.bad_status",
    "roster.error.bad_citizen_id",
    "roster.error.bad_card_number",
    "roster.error.bad_phone",
    "roster.error.duplicate_citizen_id",
    "roster.error.duplicate_card_number",
    "roster.error.extra_cells",
]


@pytest.mark.parametrize("language", ["vi", "en"])
def test_every_key_has_a_message_in_both_languages(language: str) -> None:
    messages = catalog(language)
    for key in ALL_KEYS:
        assert messages.get(key, key) != key, key


def test_row_problems_render_with_the_line_number() -> None:
    parsed = parse_csv(
        [
            row(name="", birth="x", gender="?", card="1", citizen="2", phone="3", status="?"),
            row(name="A" * 121, official="01/01/2030", birth="01/01/1800"),
            row(admitted="01/01/2000", official="01/01/1999", birth="01/01/1990"),
        ]
    )
    for language in ("vi", "en"):
        texts = Texts(language)
        for problem in parsed.problems:
            text = texts(problem.key, line=problem.line, **problem.values)
            assert str(problem.line) in text
            assert "{" not in text
    assert Texts("vi")("roster.error.bad_date", line=7, column="Ngày sinh", value="x").startswith(
        "Dòng 7: cột «Ngày sinh»"
    )


@pytest.mark.parametrize(
    ("file_name", "content"),
    [
        ("a.pdf", b""),
        ("a.csv", b"\xff\xfe\x00\xd8"),
        ("a.xlsx", b"junk"),
        ("a.csv", b""),
        ("a.csv", csv_bytes([["A"]] * 2001, header=["Họ và tên"])),
        ("a.csv", csv_bytes([["A"]], header=["Ngày sinh"])),
        ("a.csv", csv_bytes([["A", "B"]], header=["Họ và tên", "Lạ"])),
        ("a.csv", csv_bytes([["A", "B"]], header=["Họ và tên", "Họ tên"])),
    ],
)
def test_file_errors_render(file_name: str, content: bytes) -> None:
    error = file_error(file_name, content)
    for language in ("vi", "en"):
        text = Texts(language)(error.key, **error.values)
        assert "{" not in text
        assert text != error.key


# --- Properties -------------------------------------------------------------------------------

VIETNAMESE_LETTERS = (
    string.ascii_letters
    + "ăâđêôơưĂÂĐÊÔƠƯ"
    + "áàảãạắằẳẵặấầẩẫậéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ"
    + "ÁÀẢÃẠẮẰẲẴẶẤẦẨẪẬÉÈẺẼẸẾỀỂỄỆÍÌỈĨỊÓÒỎÕỌỐỒỔỖỘỚỜỞỠỢÚÙỦŨỤỨỪỬỮỰÝỲỶỸỴ"
)
words = st.text(alphabet=VIETNAMESE_LETTERS, min_size=1, max_size=12)
names = st.lists(words, min_size=1, max_size=6).map(" ".join).filter(lambda n: len(n) <= 120)
GENDER_WORDS = {
    Gender.MALE: ["Nam", "nam", "NAM", "male", "M", "m"],
    Gender.FEMALE: ["Nữ", "nữ", "nu", "NỮ", "female", "F"],
}
STATUS_WORDS = {
    MemberStatus.OFFICIAL: ["chính thức", "Chính thức", "chinh thuc", "official"],
    MemberStatus.PROBATIONARY: ["dự bị", "Dự bị", "du bi", "probationary"],
    MemberStatus.EXEMPTED: ["miễn sinh hoạt", "Mien sinh hoat", "exempted"],
    MemberStatus.TEMPORARILY_EXEMPTED: ["tạm miễn sinh hoạt", "temporarily exempted"],
}
DATE_FORMATS = ["%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d"]


def _years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return date(day.year + years, 3, 1)


# Province code 001–096, then 9 digits.
citizen_ids = st.builds(
    "{:03d}{}".format, st.integers(1, 96), st.from_regex(r"[0-9]{9}", fullmatch=True)
)
# Mobile numbers 0 + 9 digits; landlines 02x + 8 digits.
phones = st.from_regex(r"0[35789][0-9]{8}|02[0-9]{9}", fullmatch=True)


@st.composite
def roster_rows(draw: st.DrawFn) -> RosterRow:
    latest_birth = _years_later(TODAY, -18)
    birth = draw(st.none() | st.dates(date(1900, 1, 1), latest_birth))
    earliest_admission = _years_later(birth, 18) if birth else date(1930, 2, 3)
    admitted = draw(st.none() | st.dates(earliest_admission, TODAY))
    official = draw(st.none() | st.dates(admitted or date(1931, 1, 1), TODAY))
    status = draw(st.none() | st.sampled_from(MemberStatus))
    if status is None:
        status = MemberStatus.OFFICIAL if official else MemberStatus.PROBATIONARY
    return RosterRow(
        full_name=draw(names),
        birth_date=birth,
        gender=draw(st.none() | st.sampled_from(Gender)),
        admitted_on=admitted,
        official_on=official,
        card_number=draw(st.none() | st.from_regex(r"[0-9]{6,12}", fullmatch=True)),
        citizen_id=draw(st.none() | citizen_ids),
        phone=draw(st.none() | phones),
        status=status,
    )


def _unique_ids(rows: list[RosterRow]) -> bool:
    cards = [r.card_number for r in rows if r.card_number]
    citizens = [r.citizen_id for r in rows if r.citizen_id]
    return len(set(cards)) == len(cards) and len(set(citizens)) == len(citizens)


many_rows = st.lists(roster_rows(), min_size=1, max_size=8).filter(_unique_ids)


def _cells(draw: Callable[[st.SearchStrategy[Any]], Any], member: RosterRow) -> list[str]:
    def day(value: date | None) -> str:
        return value.strftime(draw(st.sampled_from(DATE_FORMATS))) if value else ""

    status_default = MemberStatus.OFFICIAL if member.official_on else MemberStatus.PROBATIONARY
    status_words = STATUS_WORDS[member.status] + ([""] if member.status is status_default else [])
    return [
        member.full_name,
        day(member.birth_date),
        draw(st.sampled_from(GENDER_WORDS[member.gender])) if member.gender else "",
        day(member.admitted_on),
        day(member.official_on),
        member.card_number or "",
        member.citizen_id or "",
        member.phone or "",
        draw(st.sampled_from(status_words)),
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    members=many_rows,
    delimiter=st.sampled_from([",", ";", "\t"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
    data=st.data(),
)
def test_any_valid_rows_written_to_csv_read_back_the_same(
    members: list[RosterRow], delimiter: str, encoding: str, data: st.DataObject
) -> None:
    cells = [_cells(data.draw, member) for member in members]
    content = csv_bytes(cells, delimiter=delimiter, encoding=encoding, header=VI_HEADER)
    parsed = parse_roster("ds.csv", content, today=TODAY)
    assert parsed.problems == []
    assert parsed.rows == [(line, member) for line, member in enumerate(members, start=2)]


def _number_if_possible(digits: str | None) -> int | str | None:
    """Card numbers as a spreadsheet holds them: a number unless a leading zero matters."""
    return int(digits) if digits and not digits.startswith("0") else digits


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(members=many_rows)
def test_any_valid_rows_written_to_xlsx_read_back_the_same(members: list[RosterRow]) -> None:
    header = ["Full name", "Date of birth", "Gender", "Admission date", "Official date"]
    header += ["Card number", "Citizen ID", "Phone", "Status"]
    content = xlsx_bytes(
        [
            header,
            *(
                [
                    m.full_name,
                    m.birth_date,
                    m.gender.value if m.gender else None,
                    m.admitted_on,
                    m.official_on,
                    _number_if_possible(m.card_number),
                    int(m.citizen_id) if m.citizen_id else None,  # typed as a number
                    int(m.phone) if m.phone else None,
                    m.status.value.replace("_", " "),
                ]
                for m in members
            ),
        ]
    )
    parsed = parse_roster("ds.xlsx", content, today=TODAY)
    assert parsed.problems == []
    assert parsed.rows == [(line, member) for line, member in enumerate(members, start=2)]


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(st.lists(st.text(max_size=30), min_size=9, max_size=9), min_size=1))
def test_any_cells_give_rows_or_problems_and_never_leak_personal_values(
    cells: list[list[str]],
) -> None:
    try:
        parsed = parse_roster("a.csv", csv_bytes(cells, header=VI_HEADER), today=TODAY)
    except RosterFileError as error:  # only blank rows, or a NUL that looks like UTF-16
        assert error.key in ("roster.error.empty", "roster.error.encoding")
        return
    for problem in parsed.problems:
        assert isinstance(problem, RowProblem)
        assert problem.key in ALL_KEYS
        assert all(len(value) <= 40 for value in problem.values.values())
        if problem.key.endswith(("citizen_id", "card_number", "phone")):
            assert set(problem.values) <= {"column", "first_line"}
    for _, member in parsed.rows:
        assert member.full_name and len(member.full_name) <= 120
        assert member.phone is None or (member.phone.isascii() and member.phone[0] == "0")
        assert member.citizen_id is None or len(member.citizen_id) == 12
        assert member.birth_date is None or member.birth_date <= TODAY


@settings(max_examples=200, deadline=None)
@given(content=st.binary(max_size=500), suffix=st.sampled_from([".csv", ".xlsx"]))
def test_arbitrary_bytes_fail_only_with_a_roster_file_error(content: bytes, suffix: str) -> None:
    try:
        parsed = parse_roster("ds" + suffix, content, today=TODAY)
    except RosterFileError as error:
        assert error.key in ALL_KEYS
    else:
        assert isinstance(parsed, ParsedRoster)


def test_a_row_of_the_future_cannot_sneak_in_through_a_time_of_day() -> None:
    tomorrow = datetime.combine(TODAY + timedelta(days=1), datetime.min.time())
    content = xlsx_bytes([["Họ và tên", "Ngày vào Đảng"], ["A", tomorrow]])
    assert [p.key for p in parse_roster("a.xlsx", content, today=TODAY).problems] == [
        "roster.error.future_date"
    ]
