"""Sends outbox messages through Telegram: the outbox's ``Sender`` for the Telegram platform.

Replies render as the adapter renders plain sends (text split at 4,096 characters, choices as an
inline keyboard under the last part). Telegram's errors are mapped onto the outbox's: a flood
wait becomes ``RetryLater`` so the row is rescheduled instead of this task sleeping, a chat
that no longer accepts the bot becomes ``ChatUnavailable``, and Telegram failing on its side or
not answering (5xx, network errors, timeouts) becomes ``PlatformDown``.

Give it the application's bot (an ``ExtBot`` with the app's ``AIORateLimiter``): the limits are
per token, so every send of the process must pass through that one limiter.
"""

from __future__ import annotations

import logging
import math
import warnings
from datetime import timedelta

from telegram import Bot
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter

from bot.telegram_cards import record_card, shown
from bot.telegram_render import keyboard, send_reply
from handlers.cards import NumberedCards
from handlers.core import Platform, Reply
from handlers.i18n import Texts
from scheduler.dispatcher import ChatUnavailable, PlatformDown, RetryLater

logger = logging.getLogger(__name__)

# Bad Request wordings that mean the bot cannot write to the chat at all; anything else is a
# problem with the message or a transient one.
_UNAVAILABLE_WORDING = (
    "chat not found",
    "not enough rights to send",
    "have no rights to send",
    "chat_write_forbidden",
    "bot is not a member",
    "group chat was deactivated",
    "peer_id_invalid",
)


def retry_after_seconds(error: RetryAfter) -> float:
    """Seconds to wait, read without PTB's int/timedelta deprecation warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = error.retry_after
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    return float(math.ceil(seconds))


def _chat(chat_id: str) -> int | str:
    try:
        return int(chat_id)
    except ValueError:
        return chat_id  # "@channelname"


class TelegramSender:
    def __init__(
        self, bot: Bot, *, texts: Texts | None = None, cards: NumberedCards | None = None
    ) -> None:
        self._bot = bot
        self._texts = texts  # for the label of the "continue privately" button
        # Where the buttons sent are kept: a digit typed under a reminder answers it.
        self._cards = cards

    async def send(self, platform: str, chat_id: str, replies: list[Reply]) -> None:
        if platform != Platform.TELEGRAM:
            raise ValueError(f"TelegramSender cannot send to {platform!r}")
        if self._cards is not None:
            # Before the message goes out, as for the adapter's replies; the outbox answers
            # nobody in particular, so everyone there may answer its buttons.
            await record_card(self._cards, chat_id, shown(replies), asker=None, in_group=False)
        target = _chat(chat_id)
        try:
            for reply in replies:
                target = await self._send_reply(target, reply)
        except RetryAfter as error:
            raise RetryLater(retry_after_seconds(error)) from None
        except Forbidden as error:
            # Kicked from the group, blocked by the person, never started by them.
            raise ChatUnavailable(error.message) from None
        except BadRequest as error:
            if any(wording in error.message.lower() for wording in _UNAVAILABLE_WORDING):
                raise ChatUnavailable(error.message) from None
            raise
        except NetworkError as error:
            # After BadRequest, its subclass: what is left is PTB's word for a 5xx, a
            # connection that failed, or a timeout (TimedOut), which may come after delivery.
            raise PlatformDown(type(error).__name__) from None

    async def _send_reply(self, target: int | str, reply: Reply) -> int | str:
        try:
            await self._send_parts(target, reply)
        except ChatMigrated as moved:
            # The group became a supergroup under a new id: deliver there. Which chat row to
            # update is the app's business; the log says what moved.
            logger.info("chat %s migrated to %s", target, moved.new_chat_id)
            target = moved.new_chat_id
            await self._send_parts(target, reply)
        return target

    async def _send_parts(self, target: int | str, reply: Reply) -> None:
        if reply.continue_privately and self._texts is None:
            raise ValueError("a 'continue privately' button needs TelegramSender(texts=...)")
        markup = keyboard(reply, self._bot.username, self._texts or Texts("vi"))
        await send_reply(self._bot, target, reply, markup)
