"""Reading the meeting date and time a cell secretary types, in Vietnamese.

Pure and platform-neutral: text in, an aware datetime out, or a DateTimeProblem whose ``key``
names the catalog message to show. Case, diacritics ("thu 5 tuan sau") and spacing do not
matter, and the date part and the time part may come in either order.

Dates:
    ``15/12``, ``15-12``, ``15/12/2026``, ``15/12/26``, ``15.12.2026``, ``15 tháng 12``,
    ``ngày 15 tháng 12 năm 2026``, ``ngày 15`` (the next 15th), ``hôm nay``/``nay``,
    ``mai``/``ngày mai``, ``ngày kia``/``mốt``, ``thứ hai`` … ``thứ bảy``, ``thứ 2`` … ``thứ 7``,
    ``chủ nhật``/``CN`` (English weekday names too), optionally with ``tuần này``,
    ``tuần sau``/``tuần tới``, ``tuần sau nữa`` or ``tuần trước``.
Times:
    ``19:30``, ``19.30``, ``19h30``, ``19h``, ``19g30``, ``19 giờ 30 phút``, ``7 giờ rưỡi``,
    ``8 giờ kém 15``, each optionally with ``sáng``, ``trưa``, ``chiều`` or ``tối``.
Words that only join the parts are ignored: ``lúc``, ``vào``, ``ngày``, ``hôm``, ``buổi``.

Without a year, a date whose moment has already passed this year means next year. A weekday
without a week means its nearest occurrence after ``now``. A weekday next to a full date must
agree with it. Past moments are returned as they are: refusing them is the caller's job.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TypeVar

EMPTY = "when.error.empty"
NO_TIME = "when.error.no_time"
NO_DATE = "when.error.no_date"
BAD_DATE = "when.error.bad_date"
BAD_TIME = "when.error.bad_time"
UNKNOWN = "when.error.unknown"
ERROR_KEYS = (EMPTY, NO_TIME, NO_DATE, BAD_DATE, BAD_TIME, UNKNOWN)

# Longer than anyone types for a meeting time; anything past this is not a date.
MAX_LENGTH = 300

VI_WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")


class DateTimeProblem(ValueError):
    """The text is not a usable meeting time; ``key`` is one of ERROR_KEYS."""

    key: str

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def format_when(moment: datetime) -> str:
    """The canonical way to write a moment: ``19:30 15/12/2026`` (parse_when reads it back)."""
    return (
        f"{moment.hour:02d}:{moment.minute:02d} "
        f"{moment.day:02d}/{moment.month:02d}/{moment.year:04d}"
    )


def parse_when(text: str, *, now: datetime) -> datetime:
    """The moment ``text`` names, aware in ``now``'s time zone, to the minute.

    ``now`` must be aware and already in the cell's time zone. Raises DateTimeProblem.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise TypeError("now must be a timezone-aware datetime")
    plain = _plain(text)
    if not plain:
        raise DateTimeProblem(EMPTY)
    if len(plain) > MAX_LENGTH:
        raise DateTimeProblem(UNKNOWN)
    parts = _read(plain)
    parts.check_date()
    hour, minute = parts.check_time()
    if not parts.has_date():
        raise DateTimeProblem(NO_DATE)
    if hour is None or minute is None:
        raise DateTimeProblem(NO_TIME)
    try:
        day = parts.resolve(hour, minute, now)
    except DateTimeProblem:
        raise
    except (ValueError, OverflowError) as error:  # before year 1 or after 9999
        raise DateTimeProblem(BAD_DATE) from error
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=now.tzinfo)


# ---------------------------------------------------------------------------------------------
# Normalising: lower case, no diacritics, ASCII digits and dashes, single spaces.

_SAME_AS = str.maketrans(
    {
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2019": "'",
        "\u2032": "'",
    }
)


def _plain(text: str) -> str:
    lowered = text.lower().replace("đ", "d")
    decomposed = unicodedata.normalize("NFKD", lowered)
    bare = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return " ".join(bare.translate(_SAME_AS).split())


# ---------------------------------------------------------------------------------------------
# The pieces a text is made of. Each pattern runs on what the earlier ones left over.

_NOT_NUMBER_BEFORE = r"(?<![0-9.:/\-])"
_NOT_NUMBER_AFTER = r"(?![0-9/:\-]|\.[0-9])"
_WORD_START = r"(?<![a-z])"
_WORD_END = r"(?![a-z])"

_NUMERIC_DATE = re.compile(
    _NOT_NUMBER_BEFORE
    + r"(?P<d>[0-9]{1,2})(?P<sep>[/\-])(?P<m>[0-9]{1,2})"
    + r"(?:(?P=sep)(?P<y>[0-9]{4}|[0-9]{2}))?"
    + _NOT_NUMBER_AFTER
)
_DOTTED_DATE = re.compile(
    _NOT_NUMBER_BEFORE
    + r"(?P<d>[0-9]{1,2})\.(?P<m>[0-9]{1,2})\.(?P<y>[0-9]{4}|[0-9]{2})"
    + _NOT_NUMBER_AFTER
)
_MONTH_DATE = re.compile(
    r"(?<![0-9a-z.:/\-])(?:ngay ?)?(?P<d>[0-9]{1,2}) ?(?:thang|thg) ?(?P<m>[0-9]{1,2})"
    + r"(?:,? ?(?:nam ?)?(?P<y>[0-9]{4}))?"
    + _NOT_NUMBER_AFTER
)
_VI_WEEKDAY_NAMES = {"hai": 0, "ba": 1, "tu": 2, "nam": 3, "sau": 4, "bay": 5}
_EN_WEEKDAY_NAMES = {
    name: index
    for index, name in enumerate(
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    )
}
_WEEKDAY = re.compile(
    _WORD_START
    + r"(?:thu ?(?:(?P<name>hai|bay|ba|tu|nam|sau)"
    + r"|(?P<digit>[0-9]{1,2})(?![0-9]|[/.:\-][0-9]| ?(?:gio|h|g)(?![a-z])))"
    + r"|(?P<sunday>chu ?nhat|chu ?nhut|cn)"
    + r"|(?P<english>"
    + "|".join(_EN_WEEKDAY_NAMES)
    + r"))"
    + _WORD_END
)
_WEEKS = {"sau nua": 2, "sau": 1, "toi": 1, "nay": 0, "truoc": -1}
_WEEK = re.compile(_WORD_START + r"tuan ?(?P<which>sau nua|sau|toi|nay|truoc)" + _WORD_END)
_RELATIVE_DAYS = {"ngay kia": 2, "ngaykia": 2, "mot": 2, "mai": 1, "nay": 0}
_RELATIVE_DAY = re.compile(_WORD_START + r"(?P<which>ngay ?kia|mot|mai|nay)" + _WORD_END)
_YEAR = re.compile(_WORD_START + r"nam ?(?P<y>[0-9]{4})(?![0-9])")
_COLON_TIME = re.compile(
    _NOT_NUMBER_BEFORE + r"(?P<h>[0-9]{1,2}):(?P<m>[0-9]{2})(?![0-9:]|[/\-][0-9]|\.[0-9])"
)
_MINUTES_UNIT = r"(?: ?(?:phut|p)(?![a-z])|')?"
_UNIT_TIME = re.compile(
    _NOT_NUMBER_BEFORE
    + r"(?P<h>[0-9]{1,2}) ?(?:gio|h|g)"
    + r"(?: ?(?P<m>[0-9]{1,2})"
    + _MINUTES_UNIT
    + r"| ?(?P<half>ruoi)"
    + r"| ?kem ?(?P<less>[0-9]{1,2})"
    + _MINUTES_UNIT
    + r")?"
    + r"(?![a-z0-9/:\-]|\.[0-9])"
)
_DOTTED_PAIR = re.compile(
    _NOT_NUMBER_BEFORE + r"(?P<a>[0-9]{1,2})\.(?P<b>[0-9]{2})" + _NOT_NUMBER_AFTER
)
_DAY_OF_MONTH = re.compile(
    _WORD_START + r"ngay ?(?P<d>[0-9]{1,2})(?![0-9]|[/.:\-][0-9]| ?(?:gio|h|g)(?![a-z]))"
)
_PERIOD = re.compile(_WORD_START + r"(?P<which>sang|trua|chieu|toi)" + _WORD_END)
_FILLERS = frozenset({"luc", "vao", "ngay", "hom", "buoi", "bua"})
_LEFTOVER_WORD = re.compile(r"[^\s,;.!?()'\"\-]+")

_T = TypeVar("_T")

_MAX_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

# A time as written: hour, minute, and minutes to take away ("8 giờ kém 15" = 8, 0, 15).
_Time = tuple[int, int, int]
# A date as written: day, month, year if given.
_Date = tuple[int, int, int | None]


def _full_year(digits: str | None) -> int | None:
    if digits is None:
        return None
    return 2000 + int(digits) if len(digits) == 2 else int(digits)


def _one(values: list[_T]) -> _T | None:
    """The single value written, however often; two different values make no sense."""
    if len(set(values)) > 1:
        raise DateTimeProblem(UNKNOWN)
    return values[0] if values else None


def _date_ok(day: int, month: int, year: int | None) -> bool:
    if not 1 <= month <= 12 or not 1 <= day <= _MAX_DAYS[month - 1]:
        return False
    if year is None:
        return True
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _time_ok(hour: int, minute: int) -> bool:
    return hour <= 23 and minute <= 59


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass
class _Parts:
    dates: list[_Date] = field(default_factory=list)
    days_of_month: list[int] = field(default_factory=list)
    relative_days: list[int] = field(default_factory=list)
    weekdays: list[int] = field(default_factory=list)
    weeks: list[int] = field(default_factory=list)
    years: list[int] = field(default_factory=list)
    times: list[_Time] = field(default_factory=list)
    periods: list[str] = field(default_factory=list)
    bad_weekday: bool = False

    def has_date(self) -> bool:
        return bool(self.dates or self.days_of_month or self.relative_days or self.weekdays)

    def check_date(self) -> None:
        """Dates that cannot exist, whatever today is."""
        if self.bad_weekday:
            raise DateTimeProblem(BAD_DATE)
        year = _one(self.years)
        written = _one(self.dates)
        if year is not None and not 1 <= year <= 9999:
            raise DateTimeProblem(BAD_DATE)
        if written is not None:
            day, month, own_year = written
            if own_year is not None and year is not None and own_year != year:
                raise DateTimeProblem(BAD_DATE)
            if not _date_ok(day, month, own_year if own_year is not None else year):
                raise DateTimeProblem(BAD_DATE)
        day_of_month = _one(self.days_of_month)
        if day_of_month is not None and not 1 <= day_of_month <= 31:
            raise DateTimeProblem(BAD_DATE)
        _one(self.relative_days)
        _one(self.weekdays)
        _one(self.weeks)

    def check_time(self) -> tuple[int | None, int | None]:
        """The hour and minute on a 24-hour clock, or None when no time was written."""
        period = _one(self.periods)
        written = _one(self.times)
        if written is None:
            return None, None
        hour, minute, less = written
        if not _time_ok(hour, minute) or less > 59:
            raise DateTimeProblem(BAD_TIME)
        if period is not None:
            hour = _with_period(hour, period)
        total = hour * 60 + minute - less
        if total < 0:
            raise DateTimeProblem(BAD_TIME)
        return divmod(total, 60)

    def resolve(self, hour: int, minute: int, now: datetime) -> date:
        """The day meant, then a check that every other part agrees with it."""
        today = now.date()

        def ahead(day: date) -> bool:
            return datetime(day.year, day.month, day.day, hour, minute, tzinfo=now.tzinfo) > now

        written, year = _one(self.dates), _one(self.years)
        relative, weekday = _one(self.relative_days), _one(self.weekdays)
        week, day_of_month = _one(self.weeks), _one(self.days_of_month)
        if written is not None:
            day, month, own_year = written
            chosen = _written_date(
                day, month, year if own_year is None else own_year, today.year, ahead
            )
        elif relative is not None:
            chosen = today + timedelta(days=relative)
        elif weekday is not None and week is not None:
            chosen = _monday(today) + timedelta(days=7 * week + weekday)
        elif day_of_month is not None:
            chosen = _next_day_of_month(day_of_month, today, ahead)
        elif weekday is not None:
            chosen = next(
                day
                for day in (today + timedelta(days=offset) for offset in range(8))
                if day.weekday() == weekday and ahead(day)
            )
        else:  # pragma: no cover - parse_when checks has_date first
            raise DateTimeProblem(NO_DATE)
        agrees = (
            (written is None or (chosen.day, chosen.month) == written[:2])
            and (year is None or chosen.year == year)
            and (relative is None or chosen == today + timedelta(days=relative))
            and (weekday is None or chosen.weekday() == weekday)
            and (week is None or _monday(chosen) == _monday(today) + timedelta(days=7 * week))
            and (day_of_month is None or chosen.day == day_of_month)
        )
        if not agrees:
            raise DateTimeProblem(BAD_DATE)
        return chosen


def _with_period(hour: int, period: str) -> int:
    """``7 giờ tối`` is 19:00; a period that cannot go with the hour is a bad time."""
    if period == "sang" and hour <= 12:
        return hour
    if period == "trua" and hour in (11, 12, 13):
        return hour
    if period == "trua" and hour == 1:
        return 13
    if period in ("chieu", "toi") and 1 <= hour <= 11:
        return hour + 12
    if period == "chieu" and 12 <= hour <= 23:
        return hour
    if period == "toi" and 13 <= hour <= 23:
        return hour
    raise DateTimeProblem(BAD_TIME)


def _written_date(
    day: int, month: int, year: int | None, this_year: int, ahead: Callable[[date], bool]
) -> date:
    """A written date; without a year, this year's unless it has passed, then next year's."""
    if year is not None:
        return date(year, month, day)
    latest: date | None = None
    for candidate_year in (this_year, this_year + 1):
        try:
            candidate = date(candidate_year, month, day)
        except ValueError:  # 29/2 outside a leap year, or past year 9999
            continue
        if ahead(candidate):
            return candidate
        latest = candidate
    if latest is None:
        raise DateTimeProblem(BAD_DATE)
    return latest


def _next_day_of_month(day: int, today: date, ahead: Callable[[date], bool]) -> date:
    """``ngày 15``: the next 15th still ahead, skipping months too short for it."""
    year, month = today.year, today.month
    for _ in range(13):
        if _date_ok(day, month, year) and ahead(candidate := date(year, month, day)):
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise DateTimeProblem(BAD_DATE)


def _read(plain: str) -> _Parts:
    """Split normalised text into parts; anything not understood is UNKNOWN."""
    parts = _Parts()
    dotted: list[tuple[int, int]] = []
    found = 0

    def take(pattern: re.Pattern[str], record: Callable[[re.Match[str]], None]) -> None:
        nonlocal plain, found

        def replace(match: re.Match[str]) -> str:
            nonlocal found
            found += 1
            record(match)
            return " "

        plain = pattern.sub(replace, plain)

    def written_date(match: re.Match[str]) -> None:
        parts.dates.append((int(match["d"]), int(match["m"]), _full_year(match["y"])))

    def weekday(match: re.Match[str]) -> None:
        if match["name"]:
            parts.weekdays.append(_VI_WEEKDAY_NAMES[match["name"]])
        elif match["digit"]:
            number = int(match["digit"])
            if 2 <= number <= 7:
                parts.weekdays.append(number - 2)
            else:
                parts.bad_weekday = True
        elif match["sunday"]:
            parts.weekdays.append(6)
        else:
            parts.weekdays.append(_EN_WEEKDAY_NAMES[match["english"]])

    def unit_time(match: re.Match[str]) -> None:
        minute = 30 if match["half"] else int(match["m"] or 0)
        parts.times.append((int(match["h"]), minute, int(match["less"] or 0)))

    take(_NUMERIC_DATE, written_date)
    take(_DOTTED_DATE, written_date)
    take(_MONTH_DATE, written_date)
    take(_WEEKDAY, weekday)
    take(_WEEK, lambda match: parts.weeks.append(_WEEKS[match["which"]]))
    take(_RELATIVE_DAY, lambda match: parts.relative_days.append(_RELATIVE_DAYS[match["which"]]))
    take(_YEAR, lambda match: parts.years.append(int(match["y"])))
    take(_COLON_TIME, lambda match: parts.times.append((int(match["h"]), int(match["m"]), 0)))
    take(_UNIT_TIME, unit_time)
    take(_DOTTED_PAIR, lambda match: dotted.append((int(match["a"]), int(match["b"]))))
    take(_DAY_OF_MONTH, lambda match: parts.days_of_month.append(int(match["d"])))
    take(_PERIOD, lambda match: parts.periods.append(match["which"]))

    leftover = [word for word in _LEFTOVER_WORD.findall(plain) if word not in _FILLERS]
    if leftover or not found:
        raise DateTimeProblem(UNKNOWN)
    _place_dotted(dotted, parts)
    return parts


def _place_dotted(dotted: list[tuple[int, int]], parts: _Parts) -> None:
    """``19.30`` is a time and ``15.12`` a date: decide from what else was written."""
    if not dotted:
        return
    if len(dotted) == 1:
        (a, b), *_ = dotted
        if not parts.times:
            parts.times.append((a, b, 0))
        elif not parts.has_date():
            parts.dates.append((a, b, None))
        else:
            raise DateTimeProblem(UNKNOWN)
        return
    if len(dotted) > 2 or parts.times or parts.dates:
        raise DateTimeProblem(UNKNOWN)
    (a1, b1), (a2, b2) = dotted
    date_first = _date_ok(a1, b1, None) and _time_ok(a2, b2)
    time_first = _time_ok(a1, b1) and _date_ok(a2, b2, None)
    if time_first and date_first:
        raise DateTimeProblem(UNKNOWN)
    if time_first:
        parts.times.append((a1, b1, 0))
        parts.dates.append((a2, b2, None))
    else:  # date first, or neither: the checks then name what is wrong
        parts.dates.append((a1, b1, None))
        parts.times.append((a2, b2, 0))
