"""Cells for the workbooks the bot writes: people's text always lands as text.

openpyxl guesses a cell's type from its value: a string starting with "=" becomes a formula and
"#N/A" an error, so a member named "=HYPERLINK(…)" would turn into a live link in the report a
secretary sends upward. Every value written goes through ``written_cell``; a string becomes an
explicitly typed string cell, which spreadsheet programs show as it is and never evaluate,
whatever it starts with (=, +, -, @, a tab or a line break). Numbers stay numbers.
"""

from __future__ import annotations

import re
from datetime import date

from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

# Characters XML 1.0 cannot carry at all; openpyxl refuses a whole workbook with one of them.
_UNWRITABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
# An XML reader turns a carriage return into a line feed (XML 1.0 §2.11), so one written as it
# is would read back as something else; writing the line feed keeps written and read the same.
_CARRIAGE_RETURN = re.compile("\r\n?")
_STRING = "s"


def written_cell(sheet: WriteOnlyWorksheet, value: object) -> object:
    """What to append to a write-only sheet for ``value``: numbers, dates and empty cells as
    they are, anything else as a string cell that is never read as a formula."""
    if value is None or isinstance(value, bool | int | float | date):
        return value
    return text_cell(sheet, str(value))


def text_cell(sheet: WriteOnlyWorksheet, text: str) -> Cell:
    """A cell holding ``text`` as a string, with the characters XML cannot carry replaced."""
    cell = WriteOnlyCell(sheet, value=_writable(text))
    # Set after the value: assigning the value is where openpyxl guesses formula or error.
    cell.data_type = _STRING
    return cell


def _writable(text: str) -> str:
    text = _CARRIAGE_RETURN.sub("\n", text)
    return _UNWRITABLE.sub("\ufffd", text)
