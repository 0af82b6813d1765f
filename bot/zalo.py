"""The Zalo adapter: Zalo events become neutral ``Inbound``s, ``Reply``s become text.

Zalo has no buttons, no editing and no files, and in groups it delivers only messages that
mention the bot (or reply to it). So choices render as numbered lines, the replies to one message
numbered as one list, and the number (or the option's text) is taken as the answer to the newest
card that person saw in that chat (handlers/cards.py keeps that model). Files travel as signed,
expiring links to our web endpoint.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from bot.links import DOCUMENT, TEMPORARY, LinkSigner, ServedFile, TemporaryFiles
from bot.relay import PlatformSenders
from bot.zalo_client import ZaloClient, ZaloError, ZaloRateLimited
from handlers.cards import NumberedCards, ShownOption, replies_to
from handlers.core import ChatKind, Inbound, Platform, Reply, SharedFile
from handlers.dispatch import Dispatcher
from handlers.i18n import Texts
from scheduler.clock import Clock
from scheduler.dispatcher import ChatUnavailable, PlatformDown, RetryLater
from storage.cells import CellRepository
from storage.seen_messages import SeenMessages
from storage.usage import UsageRepository

logger = logging.getLogger(__name__)

TEXT_EVENTS = ("message.text.received", "message.image.received")
UNAVAILABLE_CODES = (403, 404)
NO_ANSWER = 0  # ZaloError.code when the request got no answer at all
SERVER_ERRORS = 500


class ZaloGateway:
    """What handlers may ask Zalo. Zalo publishes no member lists, so it cannot say who is a
    group's admin: the bot only joins a group its owner approved, and /batdau is only open in a
    group no cell has yet (the first person founds the cell, or a secretary already linked
    with /lienket brings the group to their cell). Files never arrive from Zalo."""

    platform = Platform.ZALO

    async def is_chat_admin(self, chat_id: str, user_id: str) -> bool:
        return True

    async def download(self, file_id: str) -> bytes:
        raise ZaloError("download", 0, "Zalo does not deliver files to bots")


def strip_mention(text: str, bot_name: str) -> str:
    """Zalo puts "@BotName" in front of what a group member wrote to the bot."""
    stripped = text.lstrip()
    if bot_name and stripped.casefold().startswith(f"@{bot_name}".casefold()):
        return stripped[len(bot_name) + 1 :].lstrip()
    return stripped


def to_inbound(event: dict[str, Any], bot_name: str) -> Inbound | None:
    """The neutral form of a Zalo event, or None when it is nothing we act on."""
    if event.get("event_name") not in TEXT_EVENTS:
        return None
    message = event.get("message")
    if not isinstance(message, dict):
        return None
    sender, chat = message.get("from") or {}, message.get("chat") or {}
    if sender.get("is_bot") or not sender.get("id") or not chat.get("id"):
        return None
    group = str(chat.get("chat_type", "")).upper() == "GROUP"
    text = strip_mention(str(message.get("text") or message.get("caption") or ""), bot_name)
    base = Inbound(
        platform=Platform.ZALO,
        chat_id=str(chat["id"]),
        chat_kind=ChatKind.GROUP if group else ChatKind.PRIVATE,
        user_id=str(sender["id"]),
        user_name=str(sender.get("display_name") or ""),
        text=text,
        # In a group everything that reaches us was addressed to the bot.
        reply_to_bot=group,
    )
    if text.startswith("/"):
        head, _, args = text[1:].partition(" ")
        name = head.partition("@")[0].lower()
        if name:
            return replace(base, command=name, args=args.strip())
    return base


class ZaloOutput:
    """Renders replies as Zalo text, sends them, keeps their options and counts what is sent."""

    def __init__(
        self,
        client: ZaloClient,
        texts: Texts,
        clock: Clock,
        cards: NumberedCards,
        usage: UsageRepository,
        cells: CellRepository,
        *,
        bot_name: str,
        monthly_quota: int,
        warn_percent: int,
        signer: LinkSigner | None = None,
        files: TemporaryFiles | None = None,
    ) -> None:
        self._client = client
        self._texts = texts
        self._clock = clock
        self._cards = cards
        self._usage = usage
        self._cells = cells
        self.bot_name = bot_name
        self._quota = monthly_quota
        self._warn_at = max(1, monthly_quota * warn_percent // 100)
        self._signer = signer
        self._files = files

    def render(self, reply: Reply, *, in_group: bool, first: int = 1, hint: bool = True) -> str:
        """``reply`` as Zalo text, its options numbered from ``first`` (the replies to one
        message are one list); ``hint`` adds how to answer (under the list's last part)."""
        texts = self._texts
        parts = [reply.text.strip()] if reply.text.strip() else []
        if reply.file is not None:
            parts.append(self._file_line(reply.file.file_name, reply.file.content))
        if reply.shared_file is not None:
            parts.append(self._document_line(reply.shared_file))
        # A link (an online meeting's room) is written out: Zalo opens links in a text.
        parts += [f"{c.label}: {c.url}" for row in reply.choices for c in row if c.url]
        options = [choice.label for row in reply.choices for choice in row if not choice.url]
        if options:
            parts.append("\n".join(f"{n}. {label}" for n, label in enumerate(options, first)))
            if hint:
                key = "zalo.choose_group" if in_group else "zalo.choose_private"
                parts.append(texts(key, bot=self.bot_name, example=first))
        if reply.ask_text and in_group:
            parts.append(texts("zalo.answer_group", bot=self.bot_name))
        if reply.continue_privately:
            parts.append(texts("zalo.continue_privately", command=reply.continue_privately))
        return "\n\n".join(parts)

    def _file_line(self, file_name: str, content: bytes) -> str:
        if self._signer is None or self._files is None:
            return self._texts("zalo.file_unavailable", name=file_name)
        file_id, expires = self._files.keep(ServedFile(file_name, content))
        url = self._signer.url(TEMPORARY, file_id, None, expires)
        return self._texts("zalo.file_link", name=file_name, link=url)

    def _document_line(self, shared: SharedFile) -> str:
        """Zalo cannot carry files: a stored document travels as a signed, expiring link that
        the web endpoint serves from the platform holding it."""
        if self._signer is None or self._files is None or shared.document_id is None:
            return self._texts("zalo.file_unavailable", name=shared.file_name)
        expires = self._clock.now() + self._files.ttl
        url = self._signer.url(DOCUMENT, shared.document_id, None, expires)
        return self._texts("zalo.file_link", name=shared.file_name, link=url)

    async def deliver(
        self,
        chat_id: str,
        replies: list[Reply],
        *,
        asker: str | None,
        in_group: bool | None,
        confirming: bool = False,
        echo: str = "",
    ) -> None:
        """Send ``replies`` to ``chat_id`` as one card: their options numbered as one list.
        ``asker`` is who they answer (None for the outbox, then everyone there may answer);
        ``confirming``: the card confirms an act and lives only minutes; ``echo`` (what a
        typed number chose) goes first. ``in_group`` None: look it up (a cell's group, or else
        a private chat)."""
        if in_group is None:
            in_group = await self._cells.cell_for_chat(Platform.ZALO, chat_id) is not None
        last_card = max(
            (n for n, r in enumerate(replies) if any(not c.url for row in r.choices for c in row)),
            default=-1,
        )
        messages: list[str] = []
        options: list[ShownOption] = []
        card_parts: list[str] = []
        for position, reply in enumerate(replies):
            text = self.render(
                reply, in_group=in_group, first=len(options) + 1, hint=position == last_card
            )
            about = reply.text.strip().partition("\n")[0]
            # A link is written out, not numbered (render does the same).
            shown = [
                ShownOption(c.label, c.data, about)
                for row in reply.choices
                for c in row
                if not c.url
            ]
            if shown:
                card_parts.append(text)
            options += shown
            if text.strip():
                messages.append(text)
        if echo:
            messages = [f"{echo}\n\n{messages[0]}" if messages else echo, *messages[1:]]
        # Recorded before the messages go out: a quick answer must find its card.
        await self._cards.show(
            chat_id=chat_id,
            asker=asker,
            in_group=in_group,
            options=options,
            text="\n\n".join(card_parts),
            question=any(reply.ask_text for reply in replies),
            confirming=confirming,
        )
        for text in messages:
            parts = await self._client.send_message(chat_id, text)
            await self._count(len(parts))

    async def tell_error(self, chat_id: str) -> None:
        """The plain apology for an unexpected error; if even that fails, the log has it."""
        try:
            parts = await self._client.send_message(chat_id, self._texts("error.internal"))
        except ZaloError as error:
            logger.warning("zalo: could not tell the chat about an error: %s", error.code)
            return
        await self._count(len(parts))

    async def _count(self, messages: int) -> None:
        usage = await self._usage.count(
            platform=Platform.ZALO,
            messages=messages,
            now=self._clock.now(),
            warn_at=self._warn_at,
            notice=self._texts("zalo.quota_warning", quota=self._quota),
        )
        if usage.warned_now:
            logger.warning("zalo: %d of %d monthly messages used", usage.sent, self._quota)


class ZaloSender:
    """The outbox's ``Sender`` for Zalo: Zalo's errors become the outbox's."""

    def __init__(self, output: ZaloOutput) -> None:
        self._output = output

    async def send(self, platform: str, chat_id: str, replies: list[Reply]) -> None:
        if platform != Platform.ZALO:
            raise ValueError(f"ZaloSender cannot send to {platform!r}")
        try:
            await self._output.deliver(chat_id, replies, asker=None, in_group=None)
        except ZaloRateLimited as error:
            raise RetryLater(error.retry_after) from None
        except ZaloError as error:
            if error.code in UNAVAILABLE_CODES:
                raise ChatUnavailable(f"zalo {error.code}") from None
            if error.code == NO_ANSWER:
                # The client names only the httpx error's kind (ReadTimeout, ConnectError).
                raise PlatformDown(f"zalo {error.description}") from None
            if error.code >= SERVER_ERRORS:
                raise PlatformDown(f"zalo {error.code}") from None
            raise


class ZaloAdapter:
    """Receives Zalo events (polled or from the webhook), runs the dispatcher, sends replies."""

    def __init__(
        self, output: ZaloOutput, cards: NumberedCards, seen: SeenMessages, clock: Clock
    ) -> None:
        self._output = output
        self._cards = cards
        self._seen = seen
        self._clock = clock
        self._dispatcher: Dispatcher | None = None
        self._relay: PlatformSenders | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiting: dict[str, int] = {}

    def attach(self, dispatcher: Dispatcher, relay: PlatformSenders) -> None:
        self._dispatcher = dispatcher
        self._relay = relay

    async def on_event(self, event: dict[str, Any]) -> None:
        if self._dispatcher is None or self._relay is None:
            raise RuntimeError("the Zalo adapter received an event before start-up finished")
        message = event.get("message")
        message_id = str(message.get("message_id") or "") if isinstance(message, dict) else ""
        # A webhook may redeliver, to this process or another one, or after a restart.
        if message_id and not await self._seen.first_sight(message_id, self._clock.now()):
            return
        inbound = to_inbound(event, self._output.bot_name)
        if inbound is None:
            return
        # One person's messages in order (webhook calls may overlap); others run alongside.
        person = inbound.user_id
        lock = self._locks.setdefault(person, asyncio.Lock())
        self._waiting[person] = self._waiting.get(person, 0) + 1
        try:
            async with lock:
                await self._handle(self._dispatcher, self._relay, inbound)
        except Exception:
            # As on Telegram: the log gets the error, the person a plain sentence (never a
            # trace), and what was stored stays as it was.
            logger.exception("error while handling a zalo message in chat %s", inbound.chat_id)
            await self._output.tell_error(inbound.chat_id)
        finally:
            # Forget a person's lock once nobody waits on it, so the map stays small.
            self._waiting[person] -= 1
            if not self._waiting[person]:
                del self._waiting[person], self._locks[person]

    async def _handle(
        self, dispatcher: Dispatcher, relay: PlatformSenders, inbound: Inbound
    ) -> None:
        answer = await self._cards.answer(inbound)
        replies, confirming, echo = await replies_to(dispatcher, inbound, ZaloGateway(), answer)
        # Each chat hears its replies as one message sequence, numbered as one list.
        by_chat: dict[str, list[Reply]] = {}
        private = inbound.user_id  # a Zalo person's private chat with the bot has their id
        whispers: list[Reply] = []
        for reply in replies:
            if reply.platform not in (None, Platform.ZALO) or reply.edit_buttons:
                # Zalo cannot edit a message: a reply that only refreshes buttons (a post's
                # read count) has nothing to say there.
                continue
            chat_id = reply.chat_id or inbound.chat_id
            if reply.popup and inbound.is_group and chat_id == inbound.chat_id:
                # What Telegram shows only to the person (a read noted, a refusal) goes to
                # their private chat: one line per member would flood the group.
                whispers.append(reply)
                continue
            by_chat.setdefault(chat_id, []).append(reply)
        echo_chat = inbound.chat_id if inbound.chat_id in by_chat else private
        for chat_id, chat_replies in by_chat.items():
            await self._deliver(
                inbound,
                chat_id,
                chat_replies,
                confirming=confirming and chat_id == inbound.chat_id,
                echo=echo if chat_id == echo_chat else "",
                fallback=False,
            )
        if whispers:
            await self._deliver(
                inbound,
                private,
                whispers,
                confirming=False,
                echo=echo if echo_chat == private else "",
                fallback=True,
            )
        # A cell's group on the other platform (Telegram) hears it through that platform.
        await relay.relay([r for r in replies if r.platform not in (None, Platform.ZALO)])

    async def _deliver(
        self,
        inbound: Inbound,
        chat_id: str,
        replies: list[Reply],
        *,
        confirming: bool,
        echo: str,
        fallback: bool,
    ) -> None:
        """Send one chat its replies; the asker's own chats (where they wrote, and their
        private chat) keep their card. ``fallback``: they were meant for the group (popups
        only, nothing private), and go there when Zalo refuses the private chat (the person
        never wrote to the bot)."""
        own = chat_id in (inbound.chat_id, inbound.user_id)
        try:
            await self._output.deliver(
                chat_id,
                replies,
                asker=inbound.user_id if own else None,
                in_group=inbound.is_group and chat_id == inbound.chat_id if own else None,
                confirming=confirming,
                echo=echo,
            )
        except ZaloError as error:
            if not fallback:
                # The next chat may still work.
                logger.warning("zalo: a reply could not be sent: %s", error.code)
                return
            await self._deliver(
                inbound, inbound.chat_id, replies, confirming=False, echo=echo, fallback=False
            )


class ZaloPoller:
    """Long-polls getUpdates (one event per call; 408 means nothing yet) for local use."""

    def __init__(self, client: ZaloClient, adapter: ZaloAdapter) -> None:
        self._client = client
        self._adapter = adapter

    async def run(self) -> None:
        await self._client.delete_webhook()  # getUpdates does not work while one is set
        failures = 0
        while True:
            try:
                event = await self._client.get_updates()
            except ZaloError as error:
                failures += 1
                delay = min(30.0, 2.0 ** min(failures, 5))
                if isinstance(error, ZaloRateLimited):
                    delay = max(delay, error.retry_after)
                logger.warning(
                    "zalo: getUpdates failed (%s); retrying in %.0f s", error.code, delay
                )
                await asyncio.sleep(delay)
                continue
            failures = 0
            if event is None:
                continue
            try:
                await self._adapter.on_event(event)
            except Exception:
                logger.exception("error while handling a zalo event")
