"""One sender per platform behind the outbox's ``Sender`` protocol, so a row goes out through
its own platform, and a reply meant for the other platform (a cell's second group) gets there."""

from __future__ import annotations

import logging

from handlers.core import Reply
from scheduler.dispatcher import ChatUnavailable, Sender

logger = logging.getLogger(__name__)


class PlatformSenders:
    def __init__(self) -> None:
        self._senders: dict[str, Sender] = {}

    def register(self, platform: str, sender: Sender) -> None:
        self._senders[platform] = sender

    def serves(self, platform: str) -> bool:
        return platform in self._senders

    async def send(self, platform: str, chat_id: str, replies: list[Reply]) -> None:
        sender = self._senders.get(platform)
        if sender is None:
            # This process has no token for that platform: the chat cannot be reached from here.
            raise ChatUnavailable(f"no {platform} bot configured")
        await sender.send(platform, chat_id, replies)

    async def relay(self, replies: list[Reply]) -> None:
        """Deliver replies addressed to another platform's chats, each on its own; a failure
        is logged and does not stop the others (the person in front of us got their answer)."""
        for reply in replies:
            if reply.platform is None or reply.chat_id is None:
                continue
            try:
                await self.send(reply.platform, reply.chat_id, [reply])
            except Exception as error:
                logger.warning(
                    "could not relay a reply to %s: %s", reply.platform, type(error).__name__
                )
