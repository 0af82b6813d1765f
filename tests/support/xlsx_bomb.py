"""XLSX files built to cost far more to read than to send, for the roster reader's budget tests
and bench.roster_bomb. Each is a real workbook (openpyxl's own, with one part swapped for a huge
one) whose sizes and checksums are all true: nothing but the budget can refuse it.

A huge part is written as one deflate block of a repeated chunk, flushed so that the block
stands alone and can be copied: building a gigabyte of XML costs its checksum, not its
compression.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass

from openpyxl import Workbook

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
HEADER_ROW = '<row r="1"><c r="A1" t="inlineStr"><is><t>Họ và tên</t></is></c></row>'
SHARED_STRINGS_TYPE = (
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
)


@dataclass(frozen=True, slots=True)
class Part:
    """``head`` + ``chunk`` × ``times`` + ``tail``."""

    head: bytes
    chunk: bytes = b""
    times: int = 0
    tail: bytes = b""

    @property
    def size(self) -> int:
        return len(self.head) + len(self.chunk) * self.times + len(self.tail)


def one_huge_row(times: int) -> dict[str, Part]:
    """A header, then a second row of 65,536 × ``times`` numbers."""
    return {
        "xl/worksheets/sheet1.xml": _sheet(
            b'<row r="2">', b"<c><v>1</v></c>" * 65_536, times, b"</row>"
        )
    }


def wide_blank_rows(thousands: int) -> dict[str, Part]:
    """A header, then 1,000 × ``thousands`` rows with one empty cell each, in the last column
    (XFD): a few bytes a row that a reader pads to 16,384 cells."""
    rows = b'<row><c r="XFD2"/></row>' * 1000
    return {"xl/worksheets/sheet1.xml": _sheet(b"", rows, thousands, b"")}


def many_shared_strings(times: int) -> dict[str, Part]:
    """A small sheet and a shared-string table of 4,096 × ``times`` strings."""
    strings = Part(f'<sst xmlns="{MAIN}">'.encode(), b"<si><t>x</t></si>" * 4096, times, b"</sst>")
    return {"xl/sharedStrings.xml": strings}


def _sheet(head: bytes, chunk: bytes, times: int, tail: bytes) -> Part:
    start = f'<worksheet xmlns="{MAIN}"><sheetData>{HEADER_ROW}'.encode()
    return Part(start + head, chunk, times, tail + b"</sheetData></worksheet>")


def bomb(parts: dict[str, Part]) -> bytes:
    """A one-sheet workbook (header "Họ và tên") with ``parts`` replacing or adding parts."""
    template = io.BytesIO()
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Họ và tên"])
    book.save(template)
    entries: dict[str, Part] = {}
    with zipfile.ZipFile(template) as archive:
        for name in archive.namelist():
            entries[name] = Part(archive.read(name))
    if "xl/sharedStrings.xml" in parts:
        types = entries["[Content_Types].xml"].head.replace(
            b"</Types>",
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{SHARED_STRINGS_TYPE}"/>'
            "</Types>".encode(),
        )
        entries["[Content_Types].xml"] = Part(types)
    entries.update(parts)
    return _zip(entries)


def _deflated(part: Part) -> tuple[bytes, int]:
    """Raw deflate data and CRC-32 of ``part``."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(part.head) + compressor.flush(zlib.Z_FULL_FLUSH)
    # A full flush forgets everything before it: the chunk's block is the same every time.
    block = compressor.compress(part.chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.compress(part.tail) + compressor.flush()
    crc = zlib.crc32(part.head)
    for _ in range(part.times):
        crc = zlib.crc32(part.chunk, crc)
    crc = zlib.crc32(part.tail, crc)
    return head + block * part.times + tail, crc


def _zip(entries: dict[str, Part]) -> bytes:
    """A plain (not ZIP64) archive: every part stays under 4 GiB."""
    out = io.BytesIO()
    directory = io.BytesIO()
    for name, part in entries.items():
        data, crc = _deflated(part)
        encoded = name.encode()
        offset = out.tell()
        # version, flags, method (8 = deflate), time, date, crc, sizes, name length, extra.
        fields = (20, 0, 8, 0, 0x21, crc, len(data), part.size, len(encoded))
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", *fields, 0) + encoded + data)
        directory.write(
            struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, 0, offset) + encoded
        )
    start, listing = out.tell(), directory.getvalue()
    count = len(entries)
    out.write(listing)
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(listing), start, 0))
    return out.getvalue()
