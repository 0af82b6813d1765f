"""Whether an XLSX file is small enough to read, decided before openpyxl touches it.

An XLSX is a zip of XML, and both layers multiply: a 2 MB file can unpack to gigabytes of XML,
and a few bytes of XML (one cell in column XFD) make a reader pad a row to 16,384 cells. So the
archive is checked first, from its directory alone (entries, unpacked sizes, how far each part
is compressed), then every part is run through expat, with no tree built, counting what
openpyxl would build: XML elements, and the cells of each row up to its last column. The
sizes in the directory are a real bound: Python's zipfile never yields more than an entry
claims, and a part that holds more fails its checksum.

A worksheet's declared dimension is not trusted: some programs write it wrong, and a hostile
file can write anything there.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from typing import IO
from xml.parsers import expat

MAX_ENTRIES = 500
MAX_UNPACKED_BYTES = 20 * 1024 * 1024
# A part over RATIO_FLOOR unpacked that is compressed more than MAX_RATIO times holds nothing
# a person typed: real worksheets compress 5 to 30 times.
MAX_RATIO = 100
RATIO_FLOOR = 1024 * 1024
# A 2,000-member roster with its styles is about 100,000 elements.
MAX_ELEMENTS = 1_000_000

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_ROW, _CELL = f"{_MAIN} row", f"{_MAIN} c"
_COLUMN = re.compile(r"\$?([A-Za-z]{1,3})")
_READ_SIZE = 64 * 1024
# What unpacking a damaged, encrypted, or oddly packed entry raises.
_DAMAGED = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    RuntimeError,
    NotImplementedError,
    OSError,
    ValueError,
)


class SpreadsheetTooLarge(Exception):
    """The file would cost more to read than any honest one of its kind."""


class SpreadsheetUnreadable(Exception):
    """The file is no workbook that can be read safely (not a zip, encrypted, a DTD, …)."""


def check_xlsx(content: bytes, *, max_cells: int) -> None:
    """Raise unless ``content`` is a zip whose parts are all within budget, with at most
    ``max_cells`` cells counted over every row of every worksheet (a row counts up to its
    last column: that is what a reader pads it to)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, struct.error):
        raise SpreadsheetUnreadable from None
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            raise SpreadsheetTooLarge
        if sum(entry.file_size for entry in entries) > MAX_UNPACKED_BYTES:
            raise SpreadsheetTooLarge
        if any(_compressed_too_far(entry) for entry in entries):
            raise SpreadsheetTooLarge
        counter = _Counter(max_cells)
        for entry in entries:
            try:
                with archive.open(entry) as part:
                    counter.scan(part)
            except _DAMAGED:
                raise SpreadsheetUnreadable from None


def _compressed_too_far(entry: zipfile.ZipInfo) -> bool:
    return entry.file_size > RATIO_FLOOR and entry.file_size > MAX_RATIO * entry.compress_size


class _Counter:
    """Elements and row cells over all the parts of one archive."""

    def __init__(self, max_cells: int) -> None:
        self.max_cells = max_cells
        self.elements = 0
        self.cells = 0
        self.column = 0  # of the last cell seen in the current row
        self.row_width = 0

    def scan(self, part: IO[bytes]) -> None:
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        # Workbooks have no DTD; one here is an entity bomb or an external entity.
        parser.StartDoctypeDeclHandler = _refuse_doctype
        try:
            while chunk := part.read(_READ_SIZE):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
        except expat.ExpatError:
            # Not XML (an image), or broken XML that openpyxl, on the same expat, stops at
            # too: what came before the error is counted.
            pass
        self._end(_ROW)  # a row left open counts as well

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        self.elements += 1
        if self.elements > MAX_ELEMENTS:
            raise SpreadsheetTooLarge
        if name == _ROW:
            self._end(_ROW)
        elif name == _CELL:
            # A cell without a reference follows the one before it, as openpyxl reads it.
            reference = _COLUMN.match(attributes.get("r", ""))
            self.column = _column_index(reference.group(1)) if reference else self.column + 1
            self.row_width = max(self.row_width, self.column)

    def _end(self, name: str) -> None:
        if name != _ROW:
            return
        self.cells += self.row_width
        self.column = self.row_width = 0
        if self.cells > self.max_cells:
            raise SpreadsheetTooLarge


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters.upper():
        index = index * 26 + ord(letter) - ord("A") + 1
    return index


def _refuse_doctype(*_: object) -> None:
    raise SpreadsheetUnreadable
