"""When the occurrences of a monthly meeting fall: day N of the month, or the Nth weekday."""

from __future__ import annotations

import calendar
import re
from datetime import date

from storage.models import SeriesRule


def occurrence_in(
    rule: SeriesRule,
    year: int,
    month: int,
    *,
    day_of_month: int | None = None,
    weekday: int | None = None,
    week_of_month: int | None = None,
) -> date:
    """The meeting day in ``year``/``month``. Day 31 in a shorter month falls on its last day;
    week_of_month -1 means the last such weekday."""
    last_day = calendar.monthrange(year, month)[1]
    if rule is SeriesRule.MONTHLY_DAY:
        if day_of_month is None or not 1 <= day_of_month <= 31:
            raise ValueError("a monthly_day series needs day_of_month 1..31")
        return date(year, month, min(day_of_month, last_day))
    if weekday is None or week_of_month is None or not 0 <= weekday <= 6:
        raise ValueError("a monthly_weekday series needs weekday and week_of_month")
    days = [d for d in range(1, last_day + 1) if date(year, month, d).weekday() == weekday]
    if week_of_month == -1:
        return date(year, month, days[-1])
    if not 1 <= week_of_month <= 4:
        raise ValueError("week_of_month is 1..4 or -1")
    return date(year, month, days[week_of_month - 1])


def months_from(start: date, count: int) -> list[tuple[int, int]]:
    """(year, month) for ``count`` months starting with the month of ``start``."""
    months = []
    year, month = start.year, start.month
    for _ in range(count):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


# "tháng 1/2027", "Tháng 01 / 2027", "tháng 12" (the year is optional), as a whole word.
_MONTH_IN_TITLE = re.compile(
    r"(?P<word>\btháng\s+)(?P<month>[0-9]{1,2})(?:(?P<sep>\s*/\s*)(?P<year>[0-9]{4}))?\b",
    re.IGNORECASE,
)


def title_for(title: str, first: date, occurrence: date) -> str:
    """The title of one occurrence: a month the title names follows the occurrence when it is
    the first occurrence's month («tháng 1/2027» becomes «tháng 2/2027» in February). Any other
    month it names is left alone (it is about something else)."""

    def follow(found: re.Match[str]) -> str:
        month = int(found["month"])
        year = int(found["year"]) if found["year"] else None
        if month != first.month or (year is not None and year != first.year):
            return found[0]
        zero_padded = found["month"].startswith("0")
        shown = f"{occurrence.month:02d}" if zero_padded else str(occurrence.month)
        if year is None:
            return f"{found['word']}{shown}"
        return f"{found['word']}{shown}{found['sep']}{occurrence.year}"

    return _MONTH_IN_TITLE.sub(follow, title)
