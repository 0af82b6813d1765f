"""Single-field validators: what a person may type when editing one field in chat."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers import fields
from handlers.fields import FieldProblem
from handlers.i18n import catalog
from storage.models import Gender, MemberStatus

TODAY = date(2026, 11, 22)


def problem_key(parse: Callable[[str], object], raw: str) -> str:
    with pytest.raises(FieldProblem) as caught:
        parse(raw)
    return caught.value.key


def test_fold_drops_case_accents_and_extra_spaces() -> None:
    assert fields.fold("  Ngày   vào Đảng ") == "ngay vao dang"
    assert fields.fold("TẠM MIỄN sinh hoạt") == "tam mien sinh hoat"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("05/03/1958", date(1958, 3, 5)),
        ("5/3/1958", date(1958, 3, 5)),
        ("05.03.1958", date(1958, 3, 5)),
        ("05-03-1958", date(1958, 3, 5)),
        (" 1958-03-05 ", date(1958, 3, 5)),
        ("1900-01-01", date(1900, 1, 1)),
        ("22/11/2026", TODAY),
    ],
)
def test_parse_date_accepts(raw: str, expected: date) -> None:
    assert fields.parse_date(raw, today=TODAY) == expected


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("", "field.bad_date"),
        ("05/03/58", "field.bad_date"),
        ("31/02/1990", "field.bad_date"),
        ("05/13/1990", "field.bad_date"),
        ("05/03-1958", "field.bad_date"),  # one separator, used twice
        ("1958/03/05", "field.bad_date"),
        ("٠٥/٠٣/١٩٥٨", "field.bad_date"),  # ASCII digits only
        ("05/03/1958 x", "field.bad_date"),
        ("23/11/2026", "field.future_date"),
        ("31/12/1899", "field.date_too_early"),
        ("1066-10-14", "field.date_too_early"),
    ],
)
def test_parse_date_rejects(raw: str, key: str) -> None:
    assert problem_key(lambda text: fields.parse_date(text, today=TODAY), raw) == key


@pytest.mark.parametrize(
    ("day", "key"),
    [(date(2026, 11, 23), "field.future_date"), (date(1899, 12, 31), "field.date_too_early")],
)
def test_check_date_bounds(day: date, key: str) -> None:
    assert fields.check_date(TODAY, today=TODAY) == TODAY
    with pytest.raises(FieldProblem) as caught:
        fields.check_date(day, today=TODAY)
    assert caught.value.key == key


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Nam", Gender.MALE), ("male", Gender.MALE), ("NỮ", Gender.FEMALE), ("f", Gender.FEMALE)],
)
def test_parse_gender(raw: str, expected: Gender) -> None:
    assert fields.parse_gender(raw) is expected


def test_parse_gender_blank_and_unknown() -> None:
    assert fields.parse_gender("  ") is None
    assert problem_key(fields.parse_gender, "khác") == "field.bad_gender"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Chính thức", MemberStatus.OFFICIAL),
        ("dự bị", MemberStatus.PROBATIONARY),
        ("Miễn sinh hoạt", MemberStatus.EXEMPTED),
        ("tạm  miễn sinh hoạt", MemberStatus.TEMPORARILY_EXEMPTED),
        ("Temporarily exempted", MemberStatus.TEMPORARILY_EXEMPTED),
    ],
)
def test_parse_status(raw: str, expected: MemberStatus) -> None:
    assert fields.parse_status(raw) is expected


def test_parse_status_unknown() -> None:
    assert problem_key(fields.parse_status, "") == "field.bad_status"
    assert problem_key(fields.parse_status, "đã chuyển") == "field.bad_status"


@pytest.mark.parametrize(
    "raw",
    ["001058012345", "001 058 012 345", "001.058.012.345", "001-058-012345", "(001)058012345"],
)
def test_parse_citizen_id_accepts_separators(raw: str) -> None:
    assert fields.parse_citizen_id(raw) == "001058012345"


@pytest.mark.parametrize(
    "raw", ["", "00105801234", "0010580123456", "00105801234X", "００１０５８０１２３４５"]
)
def test_parse_citizen_id_rejects(raw: str) -> None:
    assert problem_key(fields.parse_citizen_id, raw) == "field.bad_citizen_id"


def test_parse_card_number() -> None:
    assert fields.parse_card_number("123456") == "123456"
    assert fields.parse_card_number("12.345.678") == "12345678"
    for raw in ("12345", "1234567890123", "12345a", "١٢٣٤٥٦"):
        assert problem_key(fields.parse_card_number, raw) == "field.bad_card_number"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0912345678", "0912345678"),
        ("0912 345 678", "0912345678"),
        ("(024) 3825.1234", "02438251234"),
        ("+84 912 345 678", "0912345678"),
        ("84912345678", "0912345678"),
        ("842438251234", "02438251234"),
    ],
)
def test_parse_phone_accepts(raw: str, expected: str) -> None:
    assert fields.parse_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "12345",
        "912345678",
        "091234567890",
        "+1 415 555 0100",
        "09I2345678",
        "０９１２３４５６７８",
    ],
)
def test_parse_phone_rejects(raw: str) -> None:
    assert problem_key(fields.parse_phone, raw) == "field.bad_phone"


def test_every_field_problem_has_a_message() -> None:
    keys = {"field.bad_date", "field.future_date", "field.date_too_early", "field.bad_phone"}
    for language in ("vi", "en"):
        assert keys <= set(catalog(language))
        assert "{column}" in catalog(language)["field.date_too_early"]


# ---------------------------------------------------------------------------------------------
# Properties

days = st.dates(min_value=date(fields.EARLIEST_YEAR, 1, 1), max_value=TODAY)
separators = st.sampled_from([" ", ".", "-", "(", ")", ""])


@given(days, st.sampled_from(["%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y-%m-%d"]))
def test_any_past_date_written_any_accepted_way_reads_back(day: date, shape: str) -> None:
    assert fields.parse_date(day.strftime(shape), today=TODAY) == day


@given(st.text(max_size=20))
def test_parse_date_gives_a_date_or_a_known_problem(raw: str) -> None:
    try:
        day = fields.parse_date(raw, today=TODAY)
    except FieldProblem as problem:
        assert problem.key in ("field.bad_date", "field.future_date", "field.date_too_early")
    else:
        assert date(fields.EARLIEST_YEAR, 1, 1) <= day <= TODAY


@given(st.lists(st.tuples(st.sampled_from("0123456789"), separators), min_size=12, max_size=12))
def test_citizen_id_ignores_how_digits_are_grouped(parts: list[tuple[str, str]]) -> None:
    digits = "".join(digit for digit, _ in parts)
    written = "".join(digit + separator for digit, separator in parts)
    assert fields.parse_citizen_id(written) == digits


@given(st.text(st.sampled_from("0123456789+84 .-()x"), max_size=16))
def test_a_parsed_phone_is_domestic_ascii_and_stable(raw: str) -> None:
    try:
        phone = fields.parse_phone(raw)
    except FieldProblem as problem:
        assert problem.key == "field.bad_phone"
    else:
        assert phone.isascii() and phone.isdigit() and phone.startswith("0")
        assert fields.parse_phone(phone) == phone
