"""Updates from different people are handled at the same time; one person's are kept in order.

PTB handles updates one after another by default, so every update waits for the database and
Telegram round trips of all the updates before it. Its ``concurrent_updates`` runs them all at
once, which would let one person's answer overtake the question it answers (a reply typed right
after a button tap). This processor runs updates concurrently but queues those of the same
person (or, without a person, the same chat) behind one another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


def _owner(update: object) -> int | None:
    if not isinstance(update, Update):
        return None
    if update.effective_user is not None:
        return update.effective_user.id
    return update.effective_chat.id if update.effective_chat is not None else None


class PerPersonUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._queues: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        owner = _owner(update)
        if owner is None:
            await coroutine
            return
        lock = self._queues.setdefault(owner, asyncio.Lock())
        self._users[owner] = self._users.get(owner, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            # Forget a person's lock once nobody waits on it, so the map stays small.
            self._users[owner] -= 1
            if not self._users[owner]:
                del self._users[owner], self._queues[owner]

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""
