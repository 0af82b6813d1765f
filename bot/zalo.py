"""The Zalo adapter: Zalo events become neutral ``Inbound``s, ``Reply``s become text.

Zalo has no buttons, no editing and no files, and in groups it delivers only messages that
mention the bot (or reply to it). So choices render as numbered lines and the number (or the
option's text) is taken as the answer; the options wait per (chat, person) in the database until
they expire, and a group's latest options are open to everyone there (the dispatcher still checks
who may do what). Files travel as signed, expiring links to our web endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from dataclasses import replace
from datetime import timedelta
from typing import Any

from bot.links import DOCUMENT, TEMPORARY, LinkSigner, ServedFile, TemporaryFiles
from bot.relay import PlatformSenders
from bot.zalo_client import ZaloClient, ZaloError, ZaloRateLimited
from handlers.core import ChatKind, Inbound, Platform, Reply, SharedFile
from handlers.dispatch import Dispatcher
from handlers.i18n import Texts
from scheduler.clock import Clock
from scheduler.dispatcher import ChatUnavailable, PlatformDown, RetryLater
from storage.cells import CellRepository
from storage.choices import ANYONE, ChoiceRepository, Option
from storage.seen_messages import SeenMessages
from storage.usage import UsageRepository

logger = logging.getLogger(__name__)

CHOICES_TTL = timedelta(hours=12)
TEXT_EVENTS = ("message.text.received", "message.image.received")
UNAVAILABLE_CODES = (403, 404)
NO_ANSWER = 0  # ZaloError.code when the request got no answer at all
SERVER_ERRORS = 500
_NUMBER = re.compile(r"^\s*(?:số\s*)?(\d{1,2})\s*[.)]?\s*$", re.IGNORECASE)


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


def _plain(text: str) -> str:
    """For matching an option typed back: letters and digits only, case folded."""
    normal = unicodedata.normalize("NFC", text).casefold()
    return " ".join("".join(ch if ch.isalnum() else " " for ch in normal).split())


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


def pick(options_lists: list[list[Option]], text: str) -> str | None:
    """The choice data ``text`` answers: a number of a listed option, or an option's text."""
    number = _NUMBER.match(text)
    wanted = _plain(text)
    for options in options_lists:
        if number is not None:
            position = int(number.group(1))
            if 1 <= position <= len(options):
                return options[position - 1][1]
            continue
        for label, data in options:
            if wanted and _plain(label) == wanted:
                return data
    return None


class ZaloOutput:
    """Renders replies as Zalo text, sends them, keeps their options and counts what is sent."""

    def __init__(
        self,
        client: ZaloClient,
        texts: Texts,
        clock: Clock,
        choices: ChoiceRepository,
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
        self._choices = choices
        self._usage = usage
        self._cells = cells
        self.bot_name = bot_name
        self._quota = monthly_quota
        self._warn_at = max(1, monthly_quota * warn_percent // 100)
        self._signer = signer
        self._files = files

    def render(self, reply: Reply, *, in_group: bool) -> str:
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
            parts.append("\n".join(f"{n}. {label}" for n, label in enumerate(options, 1)))
            key = "zalo.choose_group" if in_group else "zalo.choose_private"
            parts.append(texts(key, bot=self.bot_name, example=1))
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
        self, chat_id: str, reply: Reply, *, asker: str | None, in_group: bool | None
    ) -> None:
        """Send one reply to ``chat_id``. ``asker`` is who the reply answers (None for the
        outbox); their options, and in a group everyone's, are what a number then picks.
        ``in_group`` None: look it up (a cell's group, or else a private chat)."""
        if reply.edit_buttons:
            return  # Zalo cannot edit a message: its text already says what was done
        if in_group is None:
            in_group = await self._cells.cell_for_chat(Platform.ZALO, chat_id) is not None
        text = self.render(reply, in_group=in_group)
        if not text.strip():
            return
        options = [(c.label, c.data) for row in reply.choices for c in row if not c.url]
        holders: list[str] = []
        if options and (asker is None or in_group):
            holders.append(ANYONE)  # anyone there may answer; the dispatcher checks who may
        if asker is not None and (options or reply.ask_text):
            holders.append(asker)  # a new question replaces what they could pick before
        # Offered before the message goes out: a quick answer must find its options.
        for holder in holders:
            await self._choices.offer(
                platform=Platform.ZALO,
                chat_id=chat_id,
                user_id=holder,
                options=options,
                expires_at=self._clock.now() + CHOICES_TTL,
            )
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
            for reply in replies:
                await self._output.deliver(chat_id, reply, asker=None, in_group=None)
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
        self, output: ZaloOutput, choices: ChoiceRepository, seen: SeenMessages, clock: Clock
    ) -> None:
        self._output = output
        self._choices = choices
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
        inbound = await self._with_choice(inbound)
        replies = await dispatcher.handle(inbound, ZaloGateway())
        for reply in replies:
            if reply.platform not in (None, Platform.ZALO):
                continue
            chat_id = reply.chat_id or inbound.chat_id
            same_chat = chat_id == inbound.chat_id
            try:
                await self._output.deliver(
                    chat_id,
                    reply,
                    asker=inbound.user_id if same_chat else None,
                    in_group=inbound.is_group if same_chat else None,
                )
            except ZaloError as error:
                # The next reply may go to another chat that still works.
                logger.warning("zalo: a reply could not be sent: %s", error.code)
        # A cell's group on the other platform (Telegram) hears it through that platform.
        await relay.relay([r for r in replies if r.platform not in (None, Platform.ZALO)])

    async def _with_choice(self, inbound: Inbound) -> Inbound:
        """A number or an option's text answering options we showed becomes that choice."""
        if inbound.command is not None or not inbound.text:
            return inbound
        options = await self._choices.options_for(
            platform=Platform.ZALO,
            chat_id=inbound.chat_id,
            user_id=inbound.user_id,
            now=self._clock.now(),
        )
        data = pick(options, inbound.text)
        return inbound if data is None else replace(inbound, choice=data, text="")


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
