"""Validation of one member field as a person types it (an edit) or a file holds it (an
import). Each parser returns the clean value or raises FieldProblem with a catalog key."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from storage.models import Gender, MemberStatus


class FieldProblem(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def fold(text: str) -> str:
    """Lower-case, accent-free, single-spaced: "Ngày vào Đảng" → "ngay vao dang"."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.casefold().split())


# Day first with one separator used twice (05/03/1958, 5.3.1958, 05-03-1958), or ISO 1958-03-05.
_DATE_PATTERNS = (
    re.compile(r"(?P<d>[0-9]{1,2})([/.\-])(?P<m>[0-9]{1,2})\2(?P<y>[0-9]{4})"),
    re.compile(r"(?P<y>[0-9]{4})-(?P<m>[0-9]{1,2})-(?P<d>[0-9]{1,2})"),
)
EARLIEST_YEAR = 1900


def parse_date(raw: str, *, today: date) -> date:
    text = raw.strip()
    for pattern in _DATE_PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            try:
                value = date(int(match["y"]), int(match["m"]), int(match["d"]))
            except ValueError:
                break
            return check_date(value, today=today)
    raise FieldProblem("field.bad_date")


def check_date(value: date, *, today: date) -> date:
    if value > today:
        raise FieldProblem("field.future_date")
    if value.year < EARLIEST_YEAR:
        raise FieldProblem("field.date_too_early")
    return value


def parse_gender(raw: str) -> Gender | None:
    folded = fold(raw)
    if not folded:
        return None
    if folded in ("nam", "male", "m"):
        return Gender.MALE
    if folded in ("nu", "female", "f"):
        return Gender.FEMALE
    raise FieldProblem("field.bad_gender")


_STATUS_WORDS = {
    "chinh thuc": MemberStatus.OFFICIAL,
    "official": MemberStatus.OFFICIAL,
    "du bi": MemberStatus.PROBATIONARY,
    "probationary": MemberStatus.PROBATIONARY,
    "mien sinh hoat": MemberStatus.EXEMPTED,
    "exempted": MemberStatus.EXEMPTED,
    "tam mien sinh hoat": MemberStatus.TEMPORARILY_EXEMPTED,
    "temporarily exempted": MemberStatus.TEMPORARILY_EXEMPTED,
}


def parse_status(raw: str) -> MemberStatus:
    found = _STATUS_WORDS.get(fold(raw))
    if found is None:
        raise FieldProblem("field.bad_status")
    return found


_SEPARATORS = re.compile(r"[\s.\-()]")


def without_separators(raw: str) -> str:
    """The characters of a number without the spaces, dots, dashes and brackets that group them."""
    return _SEPARATORS.sub("", raw)


def parse_citizen_id(raw: str) -> str:
    digits = without_separators(raw)
    if not re.fullmatch(r"[0-9]{12}", digits):
        raise FieldProblem("field.bad_citizen_id")
    return digits


def parse_card_number(raw: str) -> str:
    digits = without_separators(raw)
    if not re.fullmatch(r"[0-9]{6,12}", digits):
        raise FieldProblem("field.bad_card_number")
    return digits


def parse_phone(raw: str) -> str:
    """A Vietnamese number, normalised to the domestic form 0xxxxxxxxx."""
    digits = without_separators(raw)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) in (11, 12):
        digits = "0" + digits[2:]
    if not re.fullmatch(r"0[0-9]{9,10}", digits):
        raise FieldProblem("field.bad_phone")
    return digits
