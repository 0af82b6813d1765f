"""Telegram in and out: how a Reply's buttons become Bot API markup (bot/telegram_render.py):
the menu keyboard, URL buttons and button colours; and how a message's command is read
(bot/telegram.py): accented commands whole, a mention as addressing the bot."""

from __future__ import annotations

import pytest
from telegram import InlineKeyboardMarkup, ReplyKeyboardMarkup, Update

from bot.telegram import to_inbound
from bot.telegram_render import keyboard
from handlers.core import Choice, Reply, Tone
from handlers.i18n import Texts

vi = Texts("vi")


def test_the_menu_becomes_a_persistent_reply_keyboard() -> None:
    markup = keyboard(Reply("Chọn một việc", keyboard=(("📅 Cuộc họp", "🙋 Xin vắng"),)), "b", vi)
    assert isinstance(markup, ReplyKeyboardMarkup)
    assert markup.is_persistent and markup.resize_keyboard
    assert [key.text for key in markup.keyboard[0]] == ["📅 Cuộc họp", "🙋 Xin vắng"]


def test_a_reply_carries_a_menu_or_buttons_never_both() -> None:
    with pytest.raises(ValueError, match="not both"):
        Reply("x", keyboard=(("a",),), choices=((Choice("b", "pf"),),))


def test_url_choices_become_link_buttons_and_tones_colour_buttons() -> None:
    reply = Reply(
        "Họp",
        choices=(
            (Choice("🎥 Vào họp", "", url="https://meet.example.org/kp5"),),
            (Choice("✅ Gửi", "as:1", tone=Tone.PRIMARY),),
            (Choice("✖️ Thôi", "ax", tone=Tone.DESTRUCTIVE),),
            (Choice("Khác", "pf"),),
        ),
    )
    markup = keyboard(reply, "b", vi)
    assert isinstance(markup, InlineKeyboardMarkup)
    link, send, drop, plain = (row[0] for row in markup.inline_keyboard)
    assert link.url == "https://meet.example.org/kp5" and link.callback_data is None
    assert (send.style, drop.style, plain.style) == ("success", "danger", None)


def test_a_choice_needs_data_or_a_url() -> None:
    with pytest.raises(ValueError):
        Choice("x", "")
    with pytest.raises(ValueError):
        Choice("x", "pf", url="https://example.org")


class _Bot:
    """What to_inbound reads of the bot."""

    id = 42
    username = "chibo_test_bot"


def _message(text: str, entities: list[dict[str, object]]) -> Update:
    message = {
        "message_id": 7,
        "date": 0,
        "chat": {"id": -100, "type": "supergroup", "title": "Chi bộ"},
        "from": {"id": 5, "is_bot": False, "first_name": "Lan"},
        "text": text,
        "entities": entities,
    }
    return Update.de_json({"update_id": 1, "message": message}, None)


def test_an_accented_command_arrives_whole_and_a_mention_addresses_the_bot() -> None:
    # Telegram ends the command entity at the first letter outside ASCII: "/h" of "/họp".
    cut = [{"type": "bot_command", "offset": 0, "length": 2}]
    inbound = to_inbound(_message("/họp tối nay", cut), _Bot())  # type: ignore[arg-type]
    assert inbound is not None and (inbound.command, inbound.args) == ("họp", "tối nay")
    inbound = to_inbound(_message("/xinvắng@chibo_test_bot", cut), _Bot())  # type: ignore[arg-type]
    assert inbound is not None and inbound.command == "xinvắng"
    # Another bot's command is none of ours.
    assert to_inbound(_message("/họp@other_bot", cut), _Bot()).command is None  # type: ignore[arg-type,union-attr]
    mention = [{"type": "mention", "offset": 0, "length": 15}]
    inbound = to_inbound(_message("@chibo_test_bot họp", mention), _Bot())  # type: ignore[arg-type]
    assert inbound is not None and inbound.text == "họp" and inbound.reply_to_bot
