"""The one source of "now". Code asks a Clock instead of calling datetime.now(), so tests (and
the playground's fast-forward) can move time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, timezone-aware (UTC)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to: for tests and the playground."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class OffsetClock:
    """Real time plus an offset that only grows: the playground's fast-forward.

    Time keeps flowing (the outbox's interval ticks see it move) and ``advance`` jumps ahead,
    so reminders fall due without waiting. ``start`` pins where the clock begins (tests)."""

    def __init__(self, start: datetime | None = None) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("OffsetClock needs a timezone-aware start")
        self._offset = timedelta(0) if start is None else start - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    @property
    def offset(self) -> timedelta:
        return self._offset

    def advance(self, delta: timedelta) -> None:
        if delta <= timedelta(0):
            raise ValueError("the clock only moves forward")
        self._offset += delta
