"""`chibo run` at CHIBO_LOG_LEVEL=DEBUG writes no personal data and no token: the real process
against the local Bot API server, every line it logs captured, while a secretary saves her
citizen ID and party card number, a member his phone, and the member sends feedback
anonymously. Then the log is searched for each of them."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from cryptography.fernet import Fernet

from bot.playground.bot_api import FakeBotApi, FakeChat, FakeUser, StoredMessage
from handlers.i18n import Texts
from tests.support.chibo_process import start_chibo
from tests.support.e2e import found_cell, text_has

vi = Texts("vi")
CITIZEN_ID = "079123456789"
CARD_NUMBER = "93017254"
PHONE = "0912345678"
# An ASCII word inside, so that the search also holds if a library escaped the Vietnamese.
FEEDBACK = "Đèn đường hẻm 7 hỏng đã lâu, mã QZ7FEEDBACK"


def _card_with_buttons(message: StoredMessage) -> bool:
    # Not the card shown after a save, which has none.
    return "Hồ sơ đảng viên" in (message.text or "") and bool(message.buttons)


async def _edit_own_field(api: FakeBotApi, person: FakeUser, field: str, value: str) -> None:
    private = await api.private_chat(person)
    mark = api.mark()
    await api.send_text(private, person, "/hoso")
    card = await api.wait_for_message(private, _card_with_buttons, after=mark)
    if field != "phone":  # the secretary's full form
        await api.tap(person, card, button_text=vi("card.button.edit"))
        await api.wait_until_idle()
        card = api.messages[(private.id, card.message_id)]
    label = vi("profile.button.phone") if field == "phone" else vi(f"field.{field}")
    mark = api.mark()
    await api.tap(person, card, button_text=label)
    ask = await api.wait_for_message(private, after=mark)
    assert ask.is_force_reply
    mark = api.mark()
    await api.send_text(private, person, value, reply_to_message=ask)
    await api.wait_for_message(private, text_has("✅ Đã lưu"), after=mark)


async def _feedback_anonymously(api: FakeBotApi, member: FakeUser, private: FakeChat) -> None:
    mark = api.mark()
    await api.send_text(private, member, "/gopy")
    menu = await api.wait_for_message(private, text_has("gửi gì cho chi bộ"), after=mark)
    mark = api.mark()
    await api.tap(member, menu, button_text=vi("feedback.button.kind.report"))
    # Anonymity is chosen first; only then is the text asked for (issue 13, item 9).
    how = await api.wait_for_message(private, text_has("thế nào? Hãy chọn trước"), after=mark)
    mark = api.mark()
    await api.tap(member, how, button_text=vi("feedback.button.anonymous"))
    ask: StoredMessage = await api.wait_for_message(private, text_has("ẩn danh"), after=mark)
    mark = api.mark()
    await api.send_text(private, member, FEEDBACK, reply_to_message=ask)
    sent = await api.wait_for_message(private, text_has("✅ Đã gửi"), after=mark)
    assert "ẩn danh" in (sent.text or "")
    await api.wait_until_idle()  # the leaders' notice, which carries the text


async def test_debug_logging_writes_no_personal_data_and_no_token(
    api: FakeBotApi, tmp_path: Path
) -> None:
    # A file, not a pipe: every line must be kept.
    log_path = tmp_path / "chibo.log"
    with log_path.open("wb") as log_file:
        process = await start_chibo(
            "run",
            cwd=tmp_path,
            output=log_file,
            CHIBO_TELEGRAM_TOKEN=api.token,
            CHIBO_TELEGRAM_BASE_URL=api.base_url,
            CHIBO_TELEGRAM_BASE_FILE_URL=api.base_file_url,
            CHIBO_DATA_KEYS=Fernet.generate_key().decode(),
            CHIBO_LOG_LEVEL="DEBUG",
        )
    try:
        await api.wait_for_request("getUpdates", timeout=30, answered=False)
        secretary, member, group = await found_cell(api)
        mark = api.mark()
        await api.send_text(group, member, "/thamgia")
        request = await api.wait_for_message(group, text_has("xin vào danh sách"), after=mark)
        await api.tap(secretary, request, button_text=vi("join.button.approve"))
        await api.wait_until_idle()
        await _edit_own_field(api, secretary, "citizen_id", CITIZEN_ID)
        await _edit_own_field(api, secretary, "card_number", CARD_NUMBER)
        await _edit_own_field(api, member, "phone", "0912 345 678")
        private = await api.private_chat(member)
        await _feedback_anonymously(api, member, private)
        # The data really went through the bot (it was shown back, privately).
        shown = " ".join(m.text or "" for m in api.sent_in(await api.private_chat(secretary)))
        assert CITIZEN_ID in shown and CARD_NUMBER in shown and "QZ7FEEDBACK" in shown
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), timeout=30)
    log = log_path.read_text(encoding="utf-8")
    assert process.returncode == 0, log
    secret_half = api.token.split(":", 1)[1]
    for needle in (CITIZEN_ID, CARD_NUMBER, PHONE, "0912 345 678", api.token, secret_half):
        assert needle not in log, needle
    assert "QZ7FEEDBACK" not in log and "hẻm 7" not in log
