"""A monthly series across restarts: never a meeting before its first date, and a title that
names a month follows each occurrence (issue 15)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduler.recurrence import title_for
from storage.audit import Actor
from storage.cells import CellRepository
from storage.meetings import MeetingDetails, MeetingRepository, SeriesPattern
from storage.models import MeetingKind, SeriesRule
from storage.schema import meetings

# 19:30 in Hà Nội is 12:30 UTC.
CREATED = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
FIRST = datetime(2027, 1, 5, 12, 30, tzinfo=UTC)
PATTERN = SeriesPattern(SeriesRule.MONTHLY_DAY, time(19, 30), day_of_month=5)


def _fifth(year: int, month: int) -> datetime:
    return datetime(year, month, 5, 12, 30, tzinfo=UTC)


def _months(start: date, count: int) -> list[tuple[int, int]]:
    index = start.year * 12 + start.month - 1
    return [divmod(index + n, 12) for n in range(count)]


def _expected(restart: datetime) -> set[datetime]:
    """What a secretary expects: the three months made when the series was saved, then, after
    a restart, the coming occurrences of three months from the later of start and restart."""
    made = {_fifth(2027, 1), _fifth(2027, 2), _fifth(2027, 3)}
    base = max(FIRST, restart) + timedelta(hours=7)  # the local date in Hà Nội
    later = {_fifth(year, month + 1) for year, month in _months(base.date(), 3)}
    return made | {moment for moment in later if moment > restart}


async def _cell(engine: AsyncEngine) -> int:
    cell, _ = await CellRepository(engine).found_cell(
        platform="telegram",
        chat_id="-100900",
        chat_title="Nhóm",
        cell_name="Chi bộ Khu phố 5",
        timezone="Asia/Ho_Chi_Minh",
        secretary_name="Trần Thị Hoa",
        secretary_user_id="900",
        now=CREATED,
    )
    return cell.id


async def _occurrences(engine: AsyncEngine, series_id: int) -> list[tuple[datetime, str]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(meetings.c.starts_at, meetings.c.title)
            .where(meetings.c.series_id == series_id)
            .order_by(meetings.c.starts_at)
        )
        return [(row.starts_at, row.title) for row in rows]


async def test_a_restart_at_any_moment_never_adds_a_meeting_before_the_first(
    sqlite_engine: AsyncEngine,
) -> None:
    repo = MeetingRepository(sqlite_engine)
    cell_id = await _cell(sqlite_engine)
    details = MeetingDetails(
        MeetingKind.REGULAR, "Sinh hoạt thường kỳ", FIRST, "Hội trường", None, ""
    )
    # Every 11 hours from the day it is saved to well past its first meeting, so restarts fall
    # on both sides of 5 December and 5 January, at every hour of the day.
    restart = CREATED
    checked = 0
    while restart < datetime(2027, 2, 10, tzinfo=UTC):
        saved = await repo.create_series(
            cell_id=cell_id, details=details, pattern=PATTERN, actor=Actor("test"), now=CREATED
        )
        series_id = saved[0].series_id
        assert series_id is not None
        await repo.reconcile(restart)
        made = {starts_at for starts_at, _ in await _occurrences(sqlite_engine, series_id)}
        assert made == _expected(restart), restart
        # Only one series is live at a time, so the next restart judges the next one alone.
        await repo.stop_series(
            cell_id=cell_id, series_id=series_id, actor=Actor("test"), now=restart
        )
        restart += timedelta(hours=11)
        checked += 1
    assert checked > 100


async def test_a_title_naming_a_month_follows_each_occurrence(sqlite_engine: AsyncEngine) -> None:
    repo = MeetingRepository(sqlite_engine)
    cell_id = await _cell(sqlite_engine)
    details = MeetingDetails(
        MeetingKind.REGULAR, "Sinh hoạt thường kỳ tháng 1/2027", FIRST, "Hội trường", None, ""
    )
    saved = await repo.create_series(
        cell_id=cell_id, details=details, pattern=PATTERN, actor=Actor("test"), now=CREATED
    )
    assert saved[0].series_id is not None
    await repo.reconcile(datetime(2027, 3, 1, tzinfo=UTC))
    titles = [title for _, title in await _occurrences(sqlite_engine, saved[0].series_id)]
    assert titles == [
        "Sinh hoạt thường kỳ tháng 1/2027",
        "Sinh hoạt thường kỳ tháng 2/2027",
        "Sinh hoạt thường kỳ tháng 3/2027",
        "Sinh hoạt thường kỳ tháng 4/2027",
        "Sinh hoạt thường kỳ tháng 5/2027",
    ]


def test_title_for_follows_only_the_first_occurrences_month() -> None:
    december, january = date(2026, 12, 5), date(2027, 1, 5)
    assert title_for("Họp tháng 12", december, january) == "Họp tháng 1"
    assert title_for("Họp Tháng 12 / 2026", december, january) == "Họp Tháng 1 / 2027"
    assert title_for("Họp tháng 01/2027", january, date(2027, 2, 5)) == "Họp tháng 02/2027"
    # Another month named in the title is about something else.
    assert title_for("Sơ kết Nghị quyết tháng 6", december, january) == "Sơ kết Nghị quyết tháng 6"
    assert title_for("Họp tháng 12/2025", december, january) == "Họp tháng 12/2025"
    assert title_for("Sinh hoạt thường kỳ", december, january) == "Sinh hoạt thường kỳ"
