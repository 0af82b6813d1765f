"""The Telegram adapter: PTB Updates become neutral ``Inbound``s, ``Reply``s become Bot API
calls. The only module besides bot/app.py that imports python-telegram-bot."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal, cast

from telegram import (
    Bot,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram import Poll as TelegramPoll
from telegram.constants import ChatMemberStatus, ChatType, MessageEntityType, MessageLimit
from telegram.error import BadRequest, Forbidden
from telegram.ext import ContextTypes

from bot.relay import PlatformSenders
from bot.telegram_cards import keep_cards
from bot.telegram_render import keyboard, send_reply
from handlers.cards import NumberedCards, replies_to
from handlers.core import Attachment, ChatKind, Inbound, Platform, Poll, Reply
from handlers.dispatch import Dispatcher
from handlers.i18n import Texts

logger = logging.getLogger(__name__)

MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # the Bot API's getFile limit
SEEN_UPDATES = 2048  # a webhook may redeliver: remember this many recent update ids
# Quiz polls awaiting an answer: poll id → (choice data, private chat). Kept in memory: after a
# restart an answer to an older poll is dropped, and /hoctap sends the question again.
OPEN_POLLS = 10_000


class TelegramGateway:
    """What handlers may ask Telegram: is someone a group admin, and a file's bytes."""

    platform = Platform.TELEGRAM

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def is_chat_admin(self, chat_id: str, user_id: str) -> bool:
        member = await self._bot.get_chat_member(int(chat_id), int(user_id))
        return member.status in (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR)

    async def download(self, file_id: str) -> bytes:
        file = await self._bot.get_file(file_id)
        return bytes(await file.download_as_bytearray())


def _command_of(
    text: str, entities: Sequence[MessageEntity], bot_username: str
) -> tuple[str, str] | None:
    """(command, arguments) when ``text`` (a message or a caption) starts with a command
    meant for us."""
    entity = next(iter(entities), None)
    if entity is None or entity.type != MessageEntityType.BOT_COMMAND or entity.offset != 0:
        return None
    # Telegram ends a command at the first letter outside ASCII ("/họp" is "/h" + "ọp"): the
    # command is the whole first word, and the dispatcher reads it without diacritics.
    head = text.split(maxsplit=1)[0]
    name, _, addressee = head[1:].partition("@")
    if addressee and addressee.lower() != bot_username.lower():
        return None  # addressed to another bot in the same group
    return name.lower(), text[len(head) :].strip()


def _attachment_of(message: Message | None) -> Attachment | None:
    """The file a message carries: a document, or a photo at its largest size."""
    if message is None:
        return None
    if message.document is not None:
        document = message.document
        return Attachment(
            file_id=document.file_id,
            file_name=document.file_name or "file",
            mime_type=document.mime_type,
            size=document.file_size,
        )
    if message.photo:
        photo = max(message.photo, key=lambda size: size.width * size.height)
        return Attachment(
            file_id=photo.file_id,
            file_name="photo.jpg",
            mime_type="image/jpeg",
            size=photo.file_size,
            is_photo=True,
        )
    return None


def to_inbound(update: Update, bot: Bot) -> Inbound | None:
    """The neutral form of an update, or None when it is nothing we act on."""
    chat = update.effective_chat
    user = update.effective_user
    if chat is None or user is None or user.is_bot:
        return None
    kind = ChatKind.PRIVATE if chat.type == ChatType.PRIVATE else ChatKind.GROUP
    base = Inbound(
        platform=Platform.TELEGRAM,
        chat_id=str(chat.id),
        chat_kind=kind,
        user_id=str(user.id),
        user_name=user.full_name,
        chat_title=chat.title,
        language=user.language_code,
    )
    query = update.callback_query
    if query is not None:
        return replace(base, choice=query.data or "")
    message = update.message
    if message is None:
        return None
    replied = message.reply_to_message
    reply_to_bot = bool(replied and replied.from_user and replied.from_user.id == bot.id)
    attachment = _attachment_of(message)
    if attachment is not None:
        # A caption may carry a command ("/tailieu Title" sent with the file itself).
        caption = message.caption or ""
        command = _command_of(caption, message.caption_entities, bot.username)
        if command is not None:
            name, args = command
            return replace(base, text=caption, command=name, args=args, attachment=attachment)
        return replace(base, text=caption, attachment=attachment, reply_to_bot=reply_to_bot)
    text = message.text or ""
    mention = f"@{bot.username}"
    if text[: len(mention)].lower() == mention.lower():
        # "@chibo_bot họp" in a group is said to the bot, like a reply to it.
        text, reply_to_bot = text[len(mention) :].strip(), True
    command = _command_of(text, message.entities, bot.username)
    if command is not None:
        name, args = command
        # A command answering a message with a file acts on that file ("/tailieu Title"
        # as a reply to a PDF in the group).
        return replace(base, text=text, command=name, args=args, attachment=_attachment_of(replied))
    return replace(base, text=text, reply_to_bot=reply_to_bot)


def _echoed(replies: list[Reply], echo: str, chat_id: str) -> list[Reply]:
    """The first reply in the asker's chat starts with what their typed number chose."""
    for position, reply in enumerate(replies):
        if reply.chat_id in (None, chat_id) and reply.text.strip() and reply.poll is None:
            echoed = replace(reply, text=f"{echo}\n\n{reply.text}")
            return [*replies[:position], echoed, *replies[position + 1 :]]
    return replies


# The Bot API numbers quiz options 0 to 11 (study questions have at most ten).
QuizOption = Literal[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]


def _quiz_option(index: int) -> QuizOption:
    if not 0 <= index <= 11:
        raise ValueError(f"a quiz option must be numbered 0 to 11, not {index}")
    return cast(QuizOption, index)


class TelegramAdapter:
    """Receives PTB updates, runs the dispatcher, renders its replies."""

    def __init__(self, texts: Texts) -> None:
        self._texts = texts
        self._dispatcher: Dispatcher | None = None
        self._relay: PlatformSenders | None = None
        self._cards: NumberedCards | None = None
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._polls: OrderedDict[str, tuple[str, str]] = OrderedDict()

    def attach(
        self,
        dispatcher: Dispatcher,
        relay: PlatformSenders | None = None,
        cards: NumberedCards | None = None,
    ) -> None:
        """``cards``: where the buttons shown are kept, so that a digit typed instead of a tap
        answers the newest card as on Zalo (the first button is 1, row by row)."""
        self._dispatcher = dispatcher
        self._relay = relay
        self._cards = cards

    def _first_delivery(self, update_id: int) -> bool:
        if update_id in self._seen:
            return False
        self._seen[update_id] = None
        if len(self._seen) > SEEN_UPDATES:
            self._seen.popitem(last=False)
        return True

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if self._dispatcher is None:
            raise RuntimeError("the adapter received an update before start-up finished")
        if not self._first_delivery(update.update_id):
            return
        if update.poll_answer is not None:
            await self._on_poll_answer(context.bot, update)
            return
        inbound = to_inbound(update, context.bot)
        if inbound is None:
            return
        cards = self._cards
        answer = await cards.answer(inbound) if cards is not None else None
        gateway = TelegramGateway(context.bot)
        replies, confirming, echo = await replies_to(self._dispatcher, inbound, gateway, answer)
        local = [r for r in replies if r.platform in (None, Platform.TELEGRAM)]
        if echo:
            local = _echoed(local, echo, inbound.chat_id)
        if cards is not None:
            # Kept before the messages go out: a quick answer (another person's too) must find
            # its card, as on Zalo.
            await keep_cards(cards, inbound, local, confirming=confirming)
        await self.render(context.bot, update, local)
        # A cell's group on another platform (Zalo) hears it through that platform's sender.
        if self._relay is not None:
            await self._relay.relay([r for r in replies if r.platform is Platform.ZALO])

    async def _on_poll_answer(self, bot: Bot, update: Update) -> None:
        """A vote in one of our quiz polls is a choice made in the private chat it was sent to."""
        answer = update.poll_answer
        if answer is None or answer.user is None or not answer.option_ids:
            return  # an anonymous vote, or a retracted one
        found = self._polls.pop(answer.poll_id, None)
        if found is None or self._dispatcher is None:
            return
        data, chat_id = found
        inbound = Inbound(
            platform=Platform.TELEGRAM,
            chat_id=chat_id,
            chat_kind=ChatKind.PRIVATE,
            user_id=str(answer.user.id),
            user_name=answer.user.full_name,
            choice=f"{data}:{answer.option_ids[0]}",
            language=answer.user.language_code,
        )
        replies = await self._dispatcher.handle(inbound, TelegramGateway(bot))
        # The update names no chat: every reply goes to the chat the poll was in.
        await self.render(bot, update, [replace(r, chat_id=r.chat_id or chat_id) for r in replies])

    async def render(self, bot: Bot, update: Update, replies: list[Reply]) -> None:
        query = update.callback_query
        answered = False
        for reply in replies:
            if reply.popup and query is not None and not answered:
                await query.answer(reply.text[:200], show_alert=len(reply.text) > 60)
                answered = True
                continue
            if reply.edit_buttons:
                if query is not None and isinstance(query.message, Message):
                    await self._edit_buttons(query.message, reply)
                continue
            if reply.replace and query is not None and isinstance(query.message, Message):
                await self._edit(query.message, reply)
                continue
            await self._send(bot, update, reply)
        if query is not None and not answered:
            await query.answer()

    async def _edit_buttons(self, message: Message, reply: Reply) -> None:
        markup = keyboard(reply, None, self._texts)
        if not isinstance(markup, InlineKeyboardMarkup):
            raise ValueError("only inline buttons can be edited")
        try:
            await message.edit_reply_markup(reply_markup=markup)
        except BadRequest as error:
            if "not modified" not in str(error).lower():
                raise

    async def _edit(self, message: Message, reply: Reply) -> None:
        markup = keyboard(reply, None, self._texts)
        if not isinstance(markup, InlineKeyboardMarkup | None):
            raise ValueError("an edited message keeps inline buttons only")
        try:
            await message.edit_text(
                reply.text[: MessageLimit.MAX_TEXT_LENGTH],
                reply_markup=markup,
            )
        except BadRequest as error:
            if "not modified" not in str(error).lower():
                raise

    async def _send(self, bot: Bot, update: Update, reply: Reply) -> None:
        origin = update.effective_chat
        chat_id = reply.chat_id or (str(origin.id) if origin else None)
        if chat_id is None:
            return
        try:
            await self._send_to(bot, update, chat_id, reply)
        except Forbidden:
            # The person never opened a private chat with the bot, or blocked it.
            logger.info("chat %s does not accept messages from the bot", chat_id)

    async def _send_to(self, bot: Bot, update: Update, chat_id: str, reply: Reply) -> None:
        if reply.poll is not None:
            await self._send_poll(bot, chat_id, reply.poll)
            return
        origin, asked = update.effective_chat, update.effective_message
        answering = None
        if reply.ask_text and origin is not None and chat_id == str(origin.id) and asked:
            answering = ReplyParameters(asked.message_id, allow_sending_without_reply=True)
        markup = keyboard(reply, bot.username, self._texts)
        await send_reply(bot, chat_id, reply, markup, answering=answering)

    async def _send_poll(self, bot: Bot, chat_id: str, poll: Poll) -> None:
        message = await bot.send_poll(
            chat_id,
            poll.question,
            list(poll.options),
            type=TelegramPoll.QUIZ,
            is_anonymous=False,
            # Bot API 9.6 (python-telegram-bot 22.8) replaced correct_option_id with a list.
            correct_option_ids=[_quiz_option(poll.correct_option)],
        )
        if message.poll is not None:
            self._polls[message.poll.id] = (poll.data, chat_id)
            if len(self._polls) > OPEN_POLLS:
                self._polls.popitem(last=False)
