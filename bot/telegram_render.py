"""How a ``Reply`` becomes Bot API messages, shared by the adapter (answers to updates) and the
outbox's sender (messages sent later), so both render buttons, files and long texts alike."""

from __future__ import annotations

from telegram import (
    Bot,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    ReplyParameters,
)
from telegram.constants import KeyboardButtonStyle, MessageLimit

from handlers.core import Choice, Reply, Tone, split_text
from handlers.i18n import Texts

# Bot API 9.4 button styles (python-telegram-bot 22.8): the step forward green, a destructive
# one red. Clients older than February 2026 ignore the field and draw plain buttons.
STYLES: dict[Tone, str | None] = {
    Tone.PLAIN: None,
    Tone.PRIMARY: KeyboardButtonStyle.SUCCESS,
    Tone.DESTRUCTIVE: KeyboardButtonStyle.DANGER,
}

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup


def _button(choice: Choice) -> InlineKeyboardButton:
    style = STYLES[choice.tone]
    if choice.url is not None:
        return InlineKeyboardButton(choice.label, url=choice.url, style=style)
    return InlineKeyboardButton(choice.label, callback_data=choice.data, style=style)


def keyboard(reply: Reply, bot_username: str | None, texts: Texts) -> Markup | None:
    """The choices as inline buttons, and the button opening the private chat with the bot (a
    deep link) when the reply moves someone out of the group; or the menu of tasks kept under
    the input box (a reply keyboard, which a message carries instead of inline buttons)."""
    if reply.keyboard:
        return ReplyKeyboardMarkup(
            [list(row) for row in reply.keyboard], resize_keyboard=True, is_persistent=True
        )
    rows = [[_button(choice) for choice in row] for row in reply.choices]
    if reply.continue_privately and bot_username:
        link = f"https://t.me/{bot_username}?start={reply.continue_privately}"
        rows.append([InlineKeyboardButton(texts("button.open_private"), url=link)])
    return InlineKeyboardMarkup(rows) if rows else None


async def send_shared_file(
    bot: Bot, chat_id: int | str, reply: Reply, markup: Markup | None
) -> bool:
    """Re-send ``reply.shared_file`` by its id, with the text as caption and the buttons under
    it when the text fits a caption. Returns whether the text went with the file."""
    shared = reply.shared_file
    if shared is None:
        return False
    fits = len(reply.text) <= MessageLimit.CAPTION_LENGTH
    caption = reply.text if fits and reply.text else None
    buttons = markup if fits else None
    protect = reply.protect_content or None
    if shared.is_photo:
        await bot.send_photo(
            chat_id, shared.file_id, caption=caption, reply_markup=buttons, protect_content=protect
        )
    else:
        await bot.send_document(
            chat_id, shared.file_id, caption=caption, reply_markup=buttons, protect_content=protect
        )
    return fits


async def send_reply(
    bot: Bot,
    chat_id: int | str,
    reply: Reply,
    markup: Markup | None,
    *,
    answering: ReplyParameters | None = None,
) -> None:
    """The reply's file, then its text split at Telegram's limit with ``markup`` under the
    last part, or a reply box when it asks for a text (``answering``: the message it answers,
    so that in a group the box opens for the person asked)."""
    if reply.file is not None:
        await bot.send_document(
            chat_id,
            document=reply.file.content,
            filename=reply.file.file_name,
            caption=reply.file.caption or None,
        )
    if await send_shared_file(bot, chat_id, reply, markup):
        return
    if not reply.text.strip():
        return  # a reply that is only a file; Telegram refuses an empty message
    chunks = split_text(reply.text, MessageLimit.MAX_TEXT_LENGTH)
    for position, chunk in enumerate(chunks):
        last = position == len(chunks) - 1
        buttons: Markup | ForceReply | None = None
        if last:
            # selective: in a group only the person asked gets the reply box.
            buttons = ForceReply(selective=True) if reply.ask_text else markup
        await bot.send_message(
            chat_id,
            chunk,
            reply_markup=buttons,
            reply_parameters=answering if last and reply.ask_text else None,
            protect_content=reply.protect_content or None,
        )
