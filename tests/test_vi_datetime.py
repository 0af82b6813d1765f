"""Reading the meeting time a secretary types: every documented form, the nonsense, properties."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from handlers.i18n import Texts, catalog
from handlers.vi_datetime import (
    ERROR_KEYS,
    VI_WEEKDAYS,
    DateTimeProblem,
    format_when,
    parse_when,
)

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
# Sunday 22/11/2026 10:00, the "now" of every example in the brief.
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=HCM)
# Tuesday 24/11/2026 10:00: "thứ 5" and "thứ 5 tuần sau" are then different days.
TUESDAY = datetime(2026, 11, 24, 10, 0, tzinfo=HCM)


def at(day: int, month: int, year: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=HCM)


def key_of(text: str, now: datetime = NOW) -> str:
    with pytest.raises(DateTimeProblem) as caught:
        parse_when(text, now=now)
    return caught.value.key


def strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


# ---------------------------------------------------------------------------------------------
# Examples


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # numeric dates, every way of writing the time
        ("15/12 19:30", at(15, 12, 2026, 19, 30)),
        ("15/12 19h30", at(15, 12, 2026, 19, 30)),
        ("19:30 15/12/2026", at(15, 12, 2026, 19, 30)),
        ("15/12/2026 19h", at(15, 12, 2026, 19)),
        ("15-12 19.30", at(15, 12, 2026, 19, 30)),
        ("15-12-2026 19:30", at(15, 12, 2026, 19, 30)),
        ("15.12.2026 19h30", at(15, 12, 2026, 19, 30)),
        ("15/12/26 19h30", at(15, 12, 2026, 19, 30)),
        ("15/12 19g30", at(15, 12, 2026, 19, 30)),
        ("15/12 19g", at(15, 12, 2026, 19)),
        ("15/12 19 giờ 30", at(15, 12, 2026, 19, 30)),
        ("15/12 19 giờ", at(15, 12, 2026, 19)),
        ("15/12 19 gio 30 phut", at(15, 12, 2026, 19, 30)),
        ("15/12 19 giờ 30 phút", at(15, 12, 2026, 19, 30)),
        ("15/12 19h30p", at(15, 12, 2026, 19, 30)),
        ("15/12 19h30'", at(15, 12, 2026, 19, 30)),
        ("15/12 19 h 30", at(15, 12, 2026, 19, 30)),
        ("15/12 19h05", at(15, 12, 2026, 19, 5)),
        ("15/12 19h5", at(15, 12, 2026, 19, 5)),
        ("15/12 0h", at(15, 12, 2026, 0)),
        ("15/12 23:59", at(15, 12, 2026, 23, 59)),
        ("1/2 7:05", at(1, 2, 2027, 7, 5)),
        # the part of the day
        ("15/12 7h30 tối", at(15, 12, 2026, 19, 30)),
        ("15/12 7 giờ tối", at(15, 12, 2026, 19)),
        ("15/12 7:30 tối", at(15, 12, 2026, 19, 30)),
        ("15/12 19h tối", at(15, 12, 2026, 19)),
        ("15/12 8h sáng", at(15, 12, 2026, 8)),
        ("15/12 11h sáng", at(15, 12, 2026, 11)),
        ("15/12 2 giờ chiều", at(15, 12, 2026, 14)),
        ("15/12 14h chiều", at(15, 12, 2026, 14)),
        ("15/12 12h trưa", at(15, 12, 2026, 12)),
        ("15/12 11h30 trưa", at(15, 12, 2026, 11, 30)),
        ("15/12 1 giờ trưa", at(15, 12, 2026, 13)),
        ("15/12 13h trưa", at(15, 12, 2026, 13)),
        ("buổi tối 15/12 lúc 7 giờ", at(15, 12, 2026, 19)),
        ("15/12 7 giờ rưỡi tối", at(15, 12, 2026, 19, 30)),
        ("15/12 8 giờ kém 15", at(15, 12, 2026, 7, 45)),
        ("15/12 8 giờ kém 15 phút tối", at(15, 12, 2026, 19, 45)),
        # weekdays
        ("thứ 5 tuần sau 19h30", at(26, 11, 2026, 19, 30)),
        ("thứ 5 19h30", at(26, 11, 2026, 19, 30)),
        ("thứ năm 19h30", at(26, 11, 2026, 19, 30)),
        ("thu 5 tuan sau 19h30", at(26, 11, 2026, 19, 30)),
        ("chủ nhật 8h", at(29, 11, 2026, 8)),
        ("CN 8h", at(29, 11, 2026, 8)),
        ("chủ nhật 11h", at(22, 11, 2026, 11)),
        ("chủ nhật 10h", at(29, 11, 2026, 10)),
        ("thứ hai 8h", at(23, 11, 2026, 8)),
        ("thứ ba 8h", at(24, 11, 2026, 8)),
        ("thứ tư 8h", at(25, 11, 2026, 8)),
        ("thứ sáu 8h", at(27, 11, 2026, 8)),
        ("thứ bảy 8h", at(28, 11, 2026, 8)),
        ("thứ 2 8h", at(23, 11, 2026, 8)),
        ("thứ 3 8h", at(24, 11, 2026, 8)),
        ("thứ 4 8h", at(25, 11, 2026, 8)),
        ("thứ 6 8h", at(27, 11, 2026, 8)),
        ("thứ 7 8h", at(28, 11, 2026, 8)),
        ("thứ 2 tuần này 8h", at(16, 11, 2026, 8)),
        ("thứ 2 tuần tới 8h", at(23, 11, 2026, 8)),
        ("thứ sáu tuần sau nữa 14h", at(4, 12, 2026, 14)),
        ("thứ 5 tuần trước 19h", at(12, 11, 2026, 19)),
        ("tối thứ 5 tuần tới lúc 7 giờ", at(26, 11, 2026, 19)),
        ("thursday 19:30", at(26, 11, 2026, 19, 30)),
        # relative days
        ("mai 8h", at(23, 11, 2026, 8)),
        ("ngày mai 8h", at(23, 11, 2026, 8)),
        ("tối mai 7 giờ", at(23, 11, 2026, 19)),
        ("toi mai 7 gio", at(23, 11, 2026, 19)),
        ("7 giờ tối mai", at(23, 11, 2026, 19)),
        ("sáng mai 8h", at(23, 11, 2026, 8)),
        ("chiều nay 3h", at(22, 11, 2026, 15)),
        ("tối nay 7h", at(22, 11, 2026, 19)),
        ("hôm nay 20h", at(22, 11, 2026, 20)),
        ("hôm nay 9h", at(22, 11, 2026, 9)),  # already past: the caller refuses it
        ("ngày kia 9h", at(24, 11, 2026, 9)),
        ("mốt 9h", at(24, 11, 2026, 9)),
        ("ngày mốt 9h", at(24, 11, 2026, 9)),
        # written-out dates
        ("15 tháng 12 lúc 19 giờ 30", at(15, 12, 2026, 19, 30)),
        ("ngày 15 tháng 12 năm 2026 lúc 19h", at(15, 12, 2026, 19)),
        ("ngày 15 tháng 12 năm 2027 lúc 19h", at(15, 12, 2027, 19)),
        ("ngày 15/12 năm 2027 19h", at(15, 12, 2027, 19)),
        ("19g30 ngày 5/1", at(5, 1, 2027, 19, 30)),
        ("ngày 15 19h", at(15, 12, 2026, 19)),
        ("ngày 30 19h", at(30, 11, 2026, 19)),
        ("ngày 31 19h", at(31, 12, 2026, 19)),
        # the weekday written with the date, as the bot writes it back
        ("19:30, Thứ Ba 15/12/2026", at(15, 12, 2026, 19, 30)),
        ("19:30, Tuesday 15/12/2026", at(15, 12, 2026, 19, 30)),
        ("thứ ba 15/12 19h30", at(15, 12, 2026, 19, 30)),
        ("thứ 2 mai 8h", at(23, 11, 2026, 8)),
        ("thứ 5 26/11 19h", at(26, 11, 2026, 19)),
        # spelling, case, spacing, punctuation
        ("THỨ NĂM   19H30", at(26, 11, 2026, 19, 30)),
        ("  Tối   Mai  7  Giờ ", at(23, 11, 2026, 19)),
        ("Thu Nam 19h30", at(26, 11, 2026, 19, 30)),
        ("thu5 19h30", at(26, 11, 2026, 19, 30)),
        ("15/12, lúc 19h30.", at(15, 12, 2026, 19, 30)),
        ("vào lúc 19h30 (15/12)", at(15, 12, 2026, 19, 30)),
        ("15\u201312 19h30", at(15, 12, 2026, 19, 30)),
        ("１５/１２ １９:３０", at(15, 12, 2026, 19, 30)),
        # the dotted form is read by what else is there
        ("15.12 19h", at(15, 12, 2026, 19)),
        ("15.12 19.30", at(15, 12, 2026, 19, 30)),
        ("19.30 15.12", at(15, 12, 2026, 19, 30)),
        ("mai 19.30", at(23, 11, 2026, 19, 30)),
    ],
)
def test_reads(text: str, expected: datetime) -> None:
    result = parse_when(text, now=NOW)
    assert result == expected
    assert result.tzinfo is NOW.tzinfo
    assert (result.second, result.microsecond) == (0, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("thứ 5 19h30", at(26, 11, 2026, 19, 30)),
        ("thứ 5 tuần sau 19h30", at(3, 12, 2026, 19, 30)),
        ("thứ 5 tuần này 19h30", at(26, 11, 2026, 19, 30)),
        ("thứ ba 19h", at(24, 11, 2026, 19)),  # today, still ahead
        ("thứ ba 9h", at(1, 12, 2026, 9)),  # today, already past: next week
        ("thứ ba tuần này 9h", at(24, 11, 2026, 9)),  # asked for: past is the caller's call
        ("chủ nhật 8h", at(29, 11, 2026, 8)),
        ("CN tuần sau 8h", at(6, 12, 2026, 8)),
    ],
)
def test_weekdays_from_midweek(text: str, expected: datetime) -> None:
    assert parse_when(text, now=TUESDAY) == expected


def test_a_passed_date_without_year_is_next_year() -> None:
    december = datetime(2026, 12, 20, 10, 0, tzinfo=HCM)
    assert parse_when("5/1 19h", now=december) == at(5, 1, 2027, 19)
    assert parse_when("20/12 9h", now=december) == at(20, 12, 2027, 9)
    assert parse_when("20/12 11h", now=december) == at(20, 12, 2026, 11)
    assert parse_when("20/12 10h", now=december) == at(20, 12, 2027, 10)  # not after now
    assert parse_when("5/1/2026 19h", now=december) == at(5, 1, 2026, 19)  # year given: as is


def test_29_february_without_year() -> None:
    assert parse_when("29/2 19h", now=datetime(2027, 6, 1, tzinfo=HCM)) == at(29, 2, 2028, 19)
    assert parse_when("29/2 19h", now=datetime(2028, 1, 5, tzinfo=HCM)) == at(29, 2, 2028, 19)
    assert key_of("29/2 19h", now=datetime(2026, 1, 5, tzinfo=HCM)) == "when.error.bad_date"
    assert key_of("29/2/2027 19h") == "when.error.bad_date"
    assert parse_when("29/2/2028 19h", now=NOW) == at(29, 2, 2028, 19)


def test_keeps_the_time_zone_of_now() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    now = datetime(2026, 11, 22, 10, 0, tzinfo=tokyo)
    result = parse_when("mai 8h", now=now)
    assert result == datetime(2026, 11, 23, 8, 0, tzinfo=tokyo)
    assert result.tzinfo is tokyo


def test_now_must_be_aware() -> None:
    with pytest.raises(TypeError):
        parse_when("mai 8h", now=datetime(2026, 11, 22, 10, 0))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("", "when.error.empty"),
        ("   \n\t ", "when.error.empty"),
        ("abc", "when.error.unknown"),
        ("họp chi bộ", "when.error.unknown"),
        ("lúc", "when.error.unknown"),
        ("15/12 19h30 abc", "when.error.unknown"),
        ("15/12 16/12 19h", "when.error.unknown"),
        ("15/12 19h 20h", "when.error.unknown"),
        ("sáng mai 8h tối", "when.error.unknown"),
        ("thứ 2 thứ 3 8h", "when.error.unknown"),
        ("10.11 12.10", "when.error.unknown"),
        ("19:5 15/12", "when.error.unknown"),
        ("119h 15/12", "when.error.unknown"),
        ("15/12/2026/1 19h", "when.error.unknown"),
        ("x" * 400 + " 15/12 19h", "when.error.unknown"),
        ("32/13 19h", "when.error.bad_date"),
        ("31/11 19h", "when.error.bad_date"),
        ("0/12 19h", "when.error.bad_date"),
        ("15/0 19h", "when.error.bad_date"),
        ("15/12/0000 19h", "when.error.bad_date"),
        ("32 tháng 1 19h", "when.error.bad_date"),
        ("ngày 32 19h", "when.error.bad_date"),
        ("thứ 9 19h", "when.error.bad_date"),
        ("thứ 9", "when.error.bad_date"),
        ("thứ 1 19h", "when.error.bad_date"),
        ("thứ 8 19h", "when.error.bad_date"),
        ("19:30, Thứ Tư 15/12/2026", "when.error.bad_date"),
        ("19:30, Wednesday 15/12/2026", "when.error.bad_date"),
        ("thứ 3 mai 8h", "when.error.bad_date"),
        ("mai 15/12 8h", "when.error.bad_date"),
        ("thứ ba tuần sau 15/12 19h", "when.error.bad_date"),
        ("15/12/2026 năm 2027 19h", "when.error.bad_date"),
        ("15/12", "when.error.no_time"),
        ("tối mai", "when.error.no_time"),
        ("thứ 5 tuần sau", "when.error.no_time"),
        ("19h30", "when.error.no_date"),
        ("tuần sau", "when.error.no_date"),
        ("tuần sau 19h", "when.error.no_date"),
        ("lúc 7 giờ tối", "when.error.no_date"),
        ("25:00 15/12", "when.error.bad_time"),
        ("24h 15/12", "when.error.bad_time"),
        ("19:60 15/12", "when.error.bad_time"),
        ("19h75 15/12", "when.error.bad_time"),
        ("25.00 15/12", "when.error.bad_time"),
        ("19h sáng 15/12", "when.error.bad_time"),
        ("12h tối 15/12", "when.error.bad_time"),
        ("0h chiều 15/12", "when.error.bad_time"),
        ("5h trưa 15/12", "when.error.bad_time"),
        ("0 giờ kém 15 15/12", "when.error.bad_time"),
    ],
)
def test_problems(text: str, key: str) -> None:
    assert key_of(text) == key


def test_every_problem_has_a_message_in_both_languages() -> None:
    assert len(set(ERROR_KEYS)) == 6
    assert all(key.startswith("when.error.") for key in ERROR_KEYS)
    for language in ("vi", "en"):
        messages = catalog(language)
        for key in ERROR_KEYS:
            assert messages.get(key, key) != key, (language, key)
    assert "Chưa có giờ họp" in catalog("vi")["when.error.no_time"]


def test_format_when() -> None:
    assert format_when(at(15, 12, 2026, 19, 30)) == "19:30 15/12/2026"
    assert format_when(at(5, 1, 2027, 7, 5)) == "07:05 05/01/2027"


# ---------------------------------------------------------------------------------------------
# Properties

moments = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(2100, 12, 31, 23, 59), timezones=st.just(HCM)
).map(lambda moment: moment.replace(second=0, microsecond=0))
nows = st.datetimes(
    min_value=datetime(1950, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(HCM)
)


@given(moments)
@example(at(1, 1, 1900, 0, 0) + timedelta(days=1))
@example(at(31, 12, 2100, 23, 59))
def test_format_round_trip(moment: datetime) -> None:
    assert parse_when(format_when(moment), now=moment - timedelta(days=1)) == moment


@given(moments)
def test_texts_datetime_round_trip(moment: datetime) -> None:
    """What the bot writes ("19:30, Thứ Ba 15/12/2026") reads back as the same moment."""
    for language in ("vi", "en"):
        written = Texts(language).datetime(moment)
        assert parse_when(written, now=moment - timedelta(days=1)) == moment


@given(moments, st.booleans(), st.booleans())
def test_weekday_round_trip(moment: datetime, accents: bool, upper: bool) -> None:
    name = VI_WEEKDAYS[moment.weekday()]
    text = f"{moment:%H:%M}, {name} {moment.day:02d}/{moment.month:02d}/{moment.year}"
    text = text if accents else strip_marks(text)
    text = text.upper() if upper else text
    assert parse_when(text, now=moment - timedelta(days=1)) == moment


@given(moments, st.integers(1, 6))
def test_wrong_weekday_is_a_bad_date(moment: datetime, shift: int) -> None:
    name = VI_WEEKDAYS[(moment.weekday() + shift) % 7]
    text = f"{moment:%H:%M}, {name} {moment:%d/%m}/{moment.year}"
    assert key_of(text, now=moment) == "when.error.bad_date"


@given(moments)
def test_order_and_spelling_do_not_matter(moment: datetime) -> None:
    day, month, year, hour, minute = (
        moment.day,
        moment.month,
        moment.year,
        moment.hour,
        moment.minute,
    )
    now = moment - timedelta(days=3)
    texts = [
        f"{hour}:{minute:02d} {day}/{month}/{year}",
        f"{day}/{month}/{year} {hour}:{minute:02d}",
        f"{day}-{month}-{year} {hour}h{minute}",
        f"{hour}g{minute:02d} ngày {day}.{month}.{year}",
        f"ngày {day} tháng {month} năm {year} lúc {hour} giờ {minute} phút",
        f"LÚC {hour} GIỜ {minute} NGÀY {day} THÁNG {month} NĂM {year}",
        f"luc {hour} gio {minute} phut ngay {day} thang {month} nam {year}",
    ]
    assert {parse_when(text, now=now) for text in texts} == {moment}


@given(nows, st.integers(1, 12), st.integers(1, 28), st.integers(0, 23), st.integers(0, 59))
def test_without_year_the_next_occurrence(
    now: datetime, month: int, day: int, hour: int, minute: int
) -> None:
    result = parse_when(f"{day}/{month} {hour}:{minute:02d}", now=now)
    assert (result.day, result.month, result.hour, result.minute) == (day, month, hour, minute)
    assert now < result <= now + timedelta(days=366)
    assert result.year in (now.year, now.year + 1)


@given(nows, st.integers(0, 6), st.integers(0, 23), st.integers(0, 59))
def test_weekday_is_the_nearest_one_ahead(
    now: datetime, weekday: int, hour: int, minute: int
) -> None:
    result = parse_when(f"{VI_WEEKDAYS[weekday]} {hour}h{minute}", now=now)
    assert result.weekday() == weekday
    assert (result.hour, result.minute) == (hour, minute)
    assert now < result <= now + timedelta(days=7)


@given(nows, st.integers(0, 6), st.integers(-1, 2))
def test_weekday_with_week_is_in_that_week(now: datetime, weekday: int, weeks: int) -> None:
    word = {-1: "tuần trước", 0: "tuần này", 1: "tuần sau", 2: "tuần sau nữa"}[weeks]
    result = parse_when(f"{VI_WEEKDAYS[weekday]} {word} 8h", now=now)
    assert result.weekday() == weekday
    this_monday = now.date() - timedelta(days=now.weekday())
    assert result.date() - timedelta(days=weekday) == this_monday + timedelta(weeks=weeks)


WORDS = [
    "thứ",
    "thu",
    "năm",
    "nam",
    "hai",
    "ba",
    "tư",
    "sáu",
    "bảy",
    "chủ nhật",
    "CN",
    "tuần",
    "sau",
    "nữa",
    "tới",
    "này",
    "trước",
    "mai",
    "mốt",
    "kia",
    "nay",
    "hôm",
    "ngày",
    "tháng",
    "lúc",
    "vào",
    "sáng",
    "trưa",
    "chiều",
    "tối",
    "giờ",
    "rưỡi",
    "kém",
    "phút",
    "h",
    "g",
    "p",
    "/",
    "-",
    ".",
    ":",
    ",",
    "'",
    "0",
    "1",
    "5",
    "7",
    "12",
    "15",
    "19",
    "23",
    "24",
    "29",
    "30",
    "31",
    "59",
    "60",
    "99",
    "2026",
    "9999",
    "0000",
    "19h30",
    "15/12",
    "19:30",
    "19.30",
    "monday",
    "ｘ",
    "đ",
]
garbage = st.one_of(
    st.text(max_size=60),
    st.text(alphabet="0123456789/-.:hgHG ,'", max_size=30),
    st.lists(st.sampled_from(WORDS), max_size=8).map(" ".join),
    st.lists(st.sampled_from(WORDS), max_size=8).map("".join),
)
any_nows = st.one_of(
    nows,
    st.datetimes(timezones=st.just(HCM)),
    st.sampled_from(
        [
            datetime(1, 1, 1, 0, 0, tzinfo=HCM),
            datetime(9999, 12, 31, 23, 59, tzinfo=HCM),
            datetime(9999, 12, 27, 0, 0, tzinfo=HCM),
        ]
    ),
)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(garbage, any_nows)
@example("15/12 19h", datetime(9999, 12, 31, 23, 59, tzinfo=HCM))
@example("mốt 9h", datetime(9999, 12, 31, 23, 59, tzinfo=HCM))
@example("thứ 2 tuần trước 9h", datetime(1, 1, 1, 0, 0, tzinfo=HCM))
@example("thứ 2 9h", datetime(9999, 12, 31, 23, 59, tzinfo=HCM))
@example("ngày 5 9h", datetime(9999, 12, 31, 23, 59, tzinfo=HCM))
@example("9" * 5000, NOW)
def test_garbage_only_ever_raises_a_problem(text: str, now: datetime) -> None:
    try:
        result = parse_when(text, now=now)
    except DateTimeProblem as problem:
        assert problem.key in ERROR_KEYS
    else:
        assert result.tzinfo is now.tzinfo
        assert (result.second, result.microsecond) == (0, 0)


vietnamese_texts = st.one_of(
    st.lists(st.sampled_from(WORDS), max_size=8).map(" ".join),
    st.text(
        alphabet="0123456789/:.hg thứnămhaibatưsáubảyngàymaitốiđêmchiềusángtuầnCN", max_size=30
    ),
)


@given(vietnamese_texts)
def test_diacritics_and_case_do_not_matter(text: str) -> None:
    def outcome(written: str) -> datetime | str:
        try:
            return parse_when(written, now=NOW)
        except DateTimeProblem as problem:
            return problem.key

    assert outcome(text) == outcome(strip_marks(text).upper()) == outcome(text.lower())
