"""Telling the operators that the bot hit an unexpected error, without letting anyone page them.

A member who finds an input that crashes a handler can repeat it at will; each repetition must
not become a message to every operator. So each kind of error is reported at most once per
window, and the report names how many of that kind were held back since the last one.

The budget is kept in process memory on purpose: it only thins out messages, and losing it in a
restart costs at most one extra notice per kind of error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# At most one notice per kind of error in this long.
ALERT_WINDOW = timedelta(minutes=15)


@dataclass(slots=True)
class OperatorAlerts:
    now: Callable[[], datetime]
    window: timedelta = ALERT_WINDOW
    _last_sent: dict[str, datetime] = field(default_factory=dict)
    _held_back: dict[str, int] = field(default_factory=dict)

    def admit(self, kind: str) -> int | None:
        """How many errors of ``kind`` the notice to send now stands for (this one and those
        held back), or None when a notice of that kind went out within the window."""
        moment = self.now()
        last = self._last_sent.get(kind)
        if last is not None and moment - last < self.window:
            self._held_back[kind] = self._held_back.get(kind, 0) + 1
            return None
        self._last_sent[kind] = moment
        return 1 + self._held_back.pop(kind, 0)
