"""Reading a roster file a cell secretary sends: CSV or XLSX bytes in, checked rows out.

Pure and platform-neutral: nothing is read or written besides the bytes given. A problem with
the file as a whole raises RosterFileError; a problem with one row becomes a RowProblem, and
every row is checked so the secretary can fix the whole file in one go.

Personal values (citizen ID, card number, phone) never go into a RowProblem: messages are shown
in chat and may reach logs, so a problem names only the column.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from handlers.fields import (
    FieldProblem,
    check_date,
    fold,
    parse_card_number,
    parse_citizen_id,
    parse_date,
    parse_gender,
    parse_phone,
    parse_status,
    without_separators,
)
from handlers.xlsx_budget import SpreadsheetTooLarge, SpreadsheetUnreadable, check_xlsx
from storage.models import Gender, MemberStatus, RosterRow

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_DATA_ROWS = 2000
# Rows looked at, blank ones included: an XLSX can claim a million empty rows in a few bytes.
MAX_SCANNED_ROWS = 100_000
# Cells looked at, each row counted up to its last cell: 2,001 rows of 100 columns. One cell
# in column XFD makes a row of 16,384, and a CSV line of separators a row of a million.
MAX_CELLS = 200_000
MAX_NAME_LENGTH = 120
MAX_SHOWN_LENGTH = 40
ADMISSION_AGE = 18

# A cell as read from either format: text from CSV; text, numbers or dates from XLSX.
Cell = str | int | float | date | None


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why one row was rejected. ``line`` is the row number the secretary sees (header = 1)."""

    line: int
    key: str
    values: dict[str, str]


@dataclass(frozen=True, slots=True)
class ParsedRoster:
    rows: list[tuple[int, RosterRow]]
    problems: list[RowProblem]


class RosterFileError(Exception):
    """The file as a whole is unusable; ``key`` and ``values`` make the message."""

    def __init__(self, key: str, **values: str) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


# ---------------------------------------------------------------------------------------------
# Columns


_FULL_NAME = "full_name"
_BIRTH_DATE = "birth_date"
_GENDER = "gender"
_ADMITTED_ON = "admitted_on"
_OFFICIAL_ON = "official_on"
_CARD_NUMBER = "card_number"
_CITIZEN_ID = "citizen_id"
_PHONE = "phone"
_STATUS = "status"
_IGNORED = "ignored"

_HEADER_NAMES: dict[str, tuple[str, ...]] = {
    _FULL_NAME: ("Họ và tên", "Họ tên", "full name", "name"),
    _BIRTH_DATE: ("Ngày sinh", "Ngày tháng năm sinh", "date of birth", "birth date"),
    _GENDER: ("Giới tính", "gender"),
    _ADMITTED_ON: ("Ngày vào Đảng", "Ngày kết nạp", "admission date", "admitted"),
    _OFFICIAL_ON: ("Ngày chính thức", "official date"),
    _CARD_NUMBER: ("Số thẻ đảng", "Số thẻ đảng viên", "card number"),
    _CITIZEN_ID: ("Số CCCD", "CCCD", "Căn cước công dân", "Số căn cước công dân", "citizen id"),
    _PHONE: ("Số điện thoại", "Điện thoại", "SĐT", "phone", "phone number"),
    _STATUS: ("Trạng thái", "status"),
    # The running number almost every Vietnamese list starts with: carries nothing to keep.
    _IGNORED: ("STT", "TT", "Số thứ tự", "No."),
}


def _header_key(text: str) -> str:
    """Case-, space-, punctuation- and diacritics-free: "Số CCCD:" → "socccd"."""
    return "".join(ch for ch in fold(text) if ch.isalnum())


_COLUMN_BY_KEY = {
    _header_key(name): field for field, names in _HEADER_NAMES.items() for name in names
}


@dataclass(frozen=True, slots=True)
class _Column:
    index: int
    field: str
    header: str  # as the secretary wrote it, for messages


def _read_header(cells: Sequence[Cell]) -> tuple[dict[str, _Column], set[int]]:
    """The named columns by field, and the positions whose content is deliberately ignored."""
    columns: dict[str, _Column] = {}
    ignored: set[int] = set()
    for index, cell in enumerate(cells):
        header = _text(cell)
        if not header:
            continue
        field = _COLUMN_BY_KEY.get(_header_key(header))
        if field is None:
            raise RosterFileError("roster.error.unknown_column", column=_shown(header))
        if field == _IGNORED:
            ignored.add(index)
        elif field in columns:
            raise RosterFileError("roster.error.duplicate_column", column=_shown(header))
        else:
            columns[field] = _Column(index, field, header)
    if _FULL_NAME not in columns:
        raise RosterFileError("roster.error.no_name_column")
    return columns, ignored


# ---------------------------------------------------------------------------------------------
# Reading the two formats into rows of cells


def parse_roster(file_name: str, content: bytes, *, today: date) -> ParsedRoster:
    """Every row of a roster file checked; raises RosterFileError if the file is unusable."""
    suffix = file_name.lower().rsplit(".", 1)[-1] if "." in file_name else ""
    if len(content) > MAX_FILE_BYTES:
        raise RosterFileError("import.too_big", limit=f"{MAX_FILE_BYTES // (1024 * 1024)} MB")
    if suffix == "csv":
        lines = _limited(_csv_rows(content))
    elif suffix == "xlsx":
        lines = _xlsx_lines(content)
    else:
        raise RosterFileError("roster.error.file_type")
    if len(lines) < 2:
        raise RosterFileError("roster.error.empty")
    (_, header), *data = lines
    columns, ignored = _read_header(header)
    return _check_rows(data, columns, ignored, today=today)


def _limited(rows: Iterable[Sequence[Cell]]) -> list[tuple[int, Sequence[Cell]]]:
    """The non-blank rows with their 1-based line numbers: the header and at most
    MAX_DATA_ROWS data rows, or RosterFileError; at most MAX_SCANNED_ROWS rows and MAX_CELLS
    cells are looked at."""
    kept: list[tuple[int, Sequence[Cell]]] = []
    too_many = RosterFileError("roster.error.too_many_rows", limit=str(MAX_DATA_ROWS))
    cells = 0
    for line, row in enumerate(rows, start=1):
        if line > MAX_SCANNED_ROWS:
            raise too_many
        cells += len(row)
        if cells > MAX_CELLS:
            raise _too_large()
        if any(_text(cell) for cell in row):
            kept.append((line, row))
            if len(kept) > 1 + MAX_DATA_ROWS:
                raise too_many
    return kept


_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


def _decode(content: bytes) -> str:
    """UTF-8 with or without a byte-order mark, or UTF-16 with one (Excel's "Unicode text")."""
    encoding = next((name for bom, name in _BOMS if content.startswith(bom)), "utf-8")
    try:
        text = content.decode(encoding)
    except UnicodeDecodeError:
        raise RosterFileError("roster.error.encoding") from None
    if "\x00" in text:  # UTF-16 without a mark decodes as "valid" UTF-8 full of NULs
        raise RosterFileError("roster.error.encoding")
    return text


def _delimiter(text: str) -> str:
    """Comma, semicolon (Excel in Vietnamese locales) or tab: whichever the header uses most."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return max((",", ";", "\t"), key=first.count)


def _csv_rows(content: bytes) -> Iterator[list[str]]:
    text = _decode(content)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=False)
    try:
        yield from reader
    except csv.Error:
        raise RosterFileError("roster.error.unreadable") from None


def _too_large() -> RosterFileError:
    return RosterFileError("roster.error.too_large", rows=str(MAX_DATA_ROWS))


def _xlsx_lines(content: bytes) -> list[tuple[int, Sequence[Cell]]]:
    # Before openpyxl sees the file: it would unpack and pad whatever the file asks for.
    try:
        check_xlsx(content, max_cells=MAX_CELLS)
    except SpreadsheetTooLarge:
        raise _too_large() from None
    except SpreadsheetUnreadable:
        raise RosterFileError("roster.error.unreadable") from None
    # Imported here: openpyxl is slow to import and only XLSX files need it.
    from openpyxl import load_workbook
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:  # a damaged or fake file fails in many ways (zip, XML, KeyError, …)
        raise RosterFileError("roster.error.unreadable") from None
    try:
        if not workbook.worksheets:
            raise RosterFileError("roster.error.empty")
        sheet = workbook.worksheets[0]
        if isinstance(sheet, ReadOnlyWorksheet):
            # Some programs write wrong dimensions; read what is really there instead.
            sheet.reset_dimensions()
        rows = (
            [_xlsx_cell(value) for value in row]
            for row in sheet.iter_rows(min_row=1, values_only=True)
        )
        return _limited(rows)
    except RosterFileError:
        raise
    except Exception:
        raise RosterFileError("roster.error.unreadable") from None
    finally:
        workbook.close()


def _xlsx_cell(value: object) -> Cell:
    if value is None or isinstance(value, str | date | float):
        return value  # datetime is a date
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return value
    return str(value)  # times, durations, decimals: shown as text and rejected where it matters


# ---------------------------------------------------------------------------------------------
# Checking rows


_UNIQUE_FIELDS = {
    _CITIZEN_ID: "roster.error.duplicate_citizen_id",
    _CARD_NUMBER: "roster.error.duplicate_card_number",
}


def _check_rows(
    data: list[tuple[int, Sequence[Cell]]],
    columns: dict[str, _Column],
    ignored: set[int],
    *,
    today: date,
) -> ParsedRoster:
    known = {column.index for column in columns.values()} | ignored
    rows: list[tuple[int, RosterRow]] = []
    problems: list[RowProblem] = []
    first_seen: dict[tuple[str, str], int] = {}
    for line, cells in data:
        check = _RowCheck(line, cells, columns, today)
        row = check.run()
        if any(_text(cell) for index, cell in enumerate(cells) if index not in known):
            check.problem("roster.error.extra_cells")
        for field, key in _UNIQUE_FIELDS.items():
            value = check.unique.get(field)
            if value is None:
                continue
            earlier = first_seen.setdefault((field, value), line)
            if earlier != line:
                check.problem(key, column=columns[field].header, first_line=str(earlier))
        if check.problems:
            problems.extend(check.problems)
        elif row is not None:
            rows.append((line, row))
    return ParsedRoster(rows=rows, problems=problems)


class _RowCheck:
    """One data row: every field parsed and every problem noted, field by field."""

    def __init__(
        self, line: int, cells: Sequence[Cell], columns: dict[str, _Column], today: date
    ) -> None:
        self.line = line
        self.cells = cells
        self.columns = columns
        self.today = today
        self.problems: list[RowProblem] = []
        self.unique: dict[str, str] = {}

    def problem(self, key: str, **values: str) -> None:
        shown = {name: _shown(value) for name, value in values.items()}
        self.problems.append(RowProblem(self.line, key, shown))

    def cell(self, field: str) -> Cell:
        column = self.columns.get(field)
        if column is None or column.index >= len(self.cells):
            return None
        return self.cells[column.index]

    def run(self) -> RosterRow | None:
        full_name = self.full_name()
        birth_date = self.date_of(_BIRTH_DATE)
        gender = self.gender()
        admitted_on = self.date_of(_ADMITTED_ON)
        official_on = self.date_of(_OFFICIAL_ON)
        card_number = self.digits(_CARD_NUMBER, parse_card_number, "roster.error.bad_card_number")
        citizen_id = self.digits(_CITIZEN_ID, _citizen_id, "roster.error.bad_citizen_id")
        phone = self.digits(_PHONE, _phone, "roster.error.bad_phone")
        status = self.status(official_on)
        if admitted_on and official_on and official_on < admitted_on:
            self.problem("roster.error.official_before_admission")
        if birth_date and admitted_on and _age_on(admitted_on, birth_date) < ADMISSION_AGE:
            self.problem("roster.error.too_young", age=str(ADMISSION_AGE))
        if self.problems or full_name is None or status is None:
            return None
        return RosterRow(
            full_name=full_name,
            birth_date=birth_date,
            gender=gender,
            admitted_on=admitted_on,
            official_on=official_on,
            card_number=card_number,
            citizen_id=citizen_id,
            phone=phone,
            status=status,
        )

    def full_name(self) -> str | None:
        name = " ".join(_text(self.cell(_FULL_NAME)).split())
        if not name:
            self.problem("roster.error.name_missing")
            return None
        if len(name) > MAX_NAME_LENGTH:
            self.problem("roster.error.name_too_long", limit=str(MAX_NAME_LENGTH))
            return None
        if _has_control(name) or not any(ch.isalpha() for ch in name):
            self.problem("roster.error.name_invalid")
            return None
        return name

    def date_of(self, field: str) -> date | None:
        raw = self.cell(field)
        text = _text(raw)
        if not text:
            return None
        try:
            if isinstance(raw, datetime):
                return check_date(raw.date(), today=self.today)
            if isinstance(raw, date):
                return check_date(raw, today=self.today)
            return parse_date(_MIDNIGHT.sub("", text), today=self.today)
        except FieldProblem as problem:
            column = self.columns[field].header
            self.problem(_DATE_PROBLEMS[problem.key], column=column, value=text)
            return None

    def gender(self) -> Gender | None:
        raw = _text(self.cell(_GENDER))
        try:
            return parse_gender(raw)
        except FieldProblem:
            self.problem("roster.error.bad_gender", column=self.columns[_GENDER].header, value=raw)
            return None

    def status(self, official_on: date | None) -> MemberStatus | None:
        raw = _text(self.cell(_STATUS))
        if not raw:
            return MemberStatus.OFFICIAL if official_on else MemberStatus.PROBATIONARY
        try:
            return parse_status(raw)
        except FieldProblem:
            self.problem("roster.error.bad_status", column=self.columns[_STATUS].header, value=raw)
            return None

    def digits(self, field: str, parse: Callable[[str], str], key: str) -> str | None:
        raw = self.cell(field)
        text = _text(raw)
        if not text:
            return None
        try:
            value = parse(without_separators(text)) if _may_hold_digits(raw) else None
        except FieldProblem:
            value = None
        if value is None:
            # Only the column: the value itself is personal.
            self.problem(key, column=self.columns[field].header)
            return None
        self.unique[field] = value
        return value


# ---------------------------------------------------------------------------------------------
# Values


_INVISIBLE = dict.fromkeys(map(ord, "\u200b\ufeff"))


def _text(cell: Cell) -> str:
    """A cell as NFC text without surrounding space; whole numbers without a decimal point."""
    if cell is None:
        return ""
    if isinstance(cell, str):
        # Zero-width spaces and stray byte-order marks ride along with copy-and-paste.
        return unicodedata.normalize("NFC", cell).translate(_INVISIBLE).strip()
    if isinstance(cell, float):
        return str(int(cell)) if cell.is_integer() else str(cell)
    if isinstance(cell, date):
        return cell.strftime("%d/%m/%Y")
    return str(cell)


def _shown(value: str) -> str:
    """A value fit to be shown in a message: one line, no control characters, ≤ 40 chars."""
    clean = "".join(" " if _is_control(ch) else ch for ch in value)
    clean = " ".join(clean.split())
    if len(clean) > MAX_SHOWN_LENGTH:
        return clean[: MAX_SHOWN_LENGTH - 1] + "…"
    return clean


def _is_control(ch: str) -> bool:
    # Format characters include the bidi overrides used to disguise text; the zero-width joiner
    # is kept because emoji sequences need it.
    return unicodedata.category(ch) in ("Cc", "Cf") and ch != "\u200d"


def _has_control(text: str) -> bool:
    return any(_is_control(ch) for ch in text)


# Spreadsheets exporting a date cell to CSV may add a midnight time: "1958-03-05 00:00:00".
_MIDNIGHT = re.compile(r"[ T]0?0:00(:00)?$")
_DATE_PROBLEMS = {
    "field.bad_date": "roster.error.bad_date",
    "field.future_date": "roster.error.future_date",
    "field.date_too_early": "roster.error.date_too_early",
}


def _age_on(day: date, birth: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _may_hold_digits(cell: Cell) -> bool:
    """Text or a whole number: a date, a fraction or a negative number is no ID or phone."""
    if isinstance(cell, date) or (isinstance(cell, float) and not cell.is_integer()):
        return False
    return not (isinstance(cell, int | float) and cell < 0)


# Spreadsheets drop leading zeros from numbers (in the cell, and in CSV saved from it). The
# parsers below put them back where a length can only mean that, then check the value as typed.


def _citizen_id(digits: str) -> str:
    # Citizen IDs start with a province code 001–096: 11 digits lost one zero, 10 digits two (old
    # 9-digit identity card numbers stay wrong).
    return parse_citizen_id(_with_zeros(digits, {10: "00", 11: "0"}))


def _phone(digits: str) -> str:
    # Mobile numbers are 0 + 9 digits, landlines 02x + 8 digits: 9 digits lost their zero, and
    # 10 digits only if they start with 2.
    return parse_phone(_with_zeros(digits, {9: "0", 10: "0"} if digits[:1] == "2" else {9: "0"}))


def _with_zeros(digits: str, zeros_lost: dict[int, str]) -> str:
    zeros = zeros_lost.get(len(digits))
    return zeros + digits if zeros and re.match("[1-9]", digits) else digits
