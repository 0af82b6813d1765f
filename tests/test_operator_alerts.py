"""Operators hear of each kind of unexpected error at most once per window, with a count."""

from __future__ import annotations

from datetime import timedelta

from bot.operator_alerts import ALERT_WINDOW, OperatorAlerts
from scheduler.clock import ManualClock
from tests.conftest import START


def test_a_repeated_error_pages_the_operators_once_per_window_with_its_count() -> None:
    clock = ManualClock(START)
    alerts = OperatorAlerts(clock.now)

    assert alerts.admit("ValueError") == 1
    held = [alerts.admit("ValueError") for _ in range(50)]
    assert held == [None] * 50
    # Another kind of error is news: it is not held back behind the first.
    assert alerts.admit("KeyError") == 1

    clock.advance(ALERT_WINDOW - timedelta(seconds=1))
    assert alerts.admit("ValueError") is None
    clock.advance(timedelta(seconds=1))
    # The next notice stands for itself and the 51 held back.
    assert alerts.admit("ValueError") == 52
    assert alerts.admit("ValueError") is None
