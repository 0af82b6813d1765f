"""The one parser for numbers people type and buttons carry.

Button data is client-controlled and typed answers are anything a keyboard can make, so a number is
accepted only as a short run of ASCII digits inside a stated range: ``str.isdigit`` also accepts
'²' and '٣' (``int('²')`` raises), and an unbounded string of digits overflows a database column.
"""

from __future__ import annotations

ASCII_DIGITS = frozenset("0123456789")

# Row ids are 32-bit integers on PostgreSQL (INTEGER primary keys): a larger id was forged, and
# would fail inside the query instead of finding nothing.
MAX_ROW_ID = 2**31 - 1


def is_ascii_digits(text: str) -> bool:
    """True for a non-empty run of the digits 0-9 and nothing else."""
    return bool(text) and all(character in ASCII_DIGITS for character in text)


def parse_number(text: str, *, low: int = 0, high: int = MAX_ROW_ID) -> int | None:
    """``text`` as an integer in ``low..high`` when it is plain ASCII digits, else None."""
    if len(text) > len(str(high)) + 2 or not is_ascii_digits(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


def parse_row_id(text: str) -> int | None:
    """A database id carried by a button or typed after a command ("#12"), or None."""
    return parse_number(text, low=1, high=MAX_ROW_ID)
