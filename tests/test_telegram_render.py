"""How a Reply's buttons become Bot API markup (bot/telegram_render.py) and Zalo text
(bot/zalo.py): the menu keyboard, URL buttons, and button colours."""

from __future__ import annotations

import pytest
from telegram import InlineKeyboardMarkup, ReplyKeyboardMarkup

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
