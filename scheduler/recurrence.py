"""When the occurrences of a monthly meeting fall: day N of the month, or the Nth weekday."""

from __future__ import annotations

import calendar
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
