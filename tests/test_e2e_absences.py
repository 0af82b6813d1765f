"""End to end over HTTP: the real PTB Application against the local fake Bot API, a member
asks to miss a meeting from the group, finishes privately, and the secretary approves."""

from __future__ import annotations

from bot.app import ChiboBot
from bot.playground.bot_api import FakeBotApi, StoredMessage
from handlers.i18n import Texts
from tests.support.e2e import found_cell, text_has

vi = Texts("vi")


async def _tap_and_read(api: FakeBotApi, user, message: StoredMessage, label: str) -> StoredMessage:  # type: ignore[no-untyped-def]
    """Tap ``label`` on ``message`` and return the message as the bot edited it."""
    mark = api.mark()
    await api.tap(user, message, button_text=label)
    await api.wait_for_callback_answer(user, after=mark)
    return api.messages[(message.chat_id, message.message_id)]


async def test_absence_from_group_to_private_to_secretary_and_back(
    api: FakeBotApi, chibo: ChiboBot
) -> None:
    secretary, member, group = await found_cell(api)
    mark = api.mark()
    await api.send_text(group, member, "/thamgia")
    request = await api.wait_for_message(group, text_has("xin vào danh sách"), after=mark)
    await _tap_and_read(api, secretary, request, vi("join.button.approve"))
    mark = api.mark()
    await api.send_text(group, secretary, "/lichhop 29/11 19:30 Hội trường KP5 | Họp tháng 12")
    confirm = await api.wait_for_message(group, text_has("Họp tháng 12"), after=mark)
    mark = api.mark()
    await api.tap(secretary, confirm, button_text=vi("meeting.button.save_once"))
    await api.wait_for_message(group, text_has("📢 Lịch họp chi bộ"), after=mark)
    boss = await api.private_chat(secretary)
    await api.send_text(boss, secretary, "/start")
    group_mark = api.mark()

    # In the group: only a pointer with a deep link.
    await api.send_text(group, member, "/xinvang")
    pointer = await api.wait_for_message(group, after=group_mark)
    assert pointer.text == vi("absence.group_hint")
    [(_, link)] = pointer.buttons
    assert link == "https://t.me/chibo_test_bot?start=xinvang"

    # Privately: the next meeting is preselected; pick a reason, add a note, send.
    private = await api.private_chat(member)
    mark = api.mark()
    await api.send_text(private, member, "/start xinvang")
    home = await api.wait_for_message(private, text_has("Họp tháng 12"), after=mark)
    draft = await _tap_and_read(api, member, home, vi("absence.button.sick"))
    assert "Lý do: Ốm" in (draft.text or "")
    mark = api.mark()
    await api.send_text(private, member, "nằm viện")
    draft = await api.wait_for_message(private, text_has("Ốm (nằm viện)"), after=mark)
    mark = api.mark()
    sent = await _tap_and_read(api, member, draft, vi("absence.button.send"))
    assert (sent.text or "").startswith("✅ Đã gửi đơn xin vắng")

    # The secretary gets the request privately, with the decision buttons, and approves.
    card = await api.wait_for_message(boss, text_has("📝 Đơn xin vắng họp"), after=mark)
    assert "Lê Văn Nam" in (card.text or "") and "Ốm (nằm viện)" in (card.text or "")
    mark = api.mark()
    decided = await _tap_and_read(api, secretary, card, vi("absence.button.approve"))
    assert vi("absence.decided.approved") in (decided.text or "")
    told = await api.wait_for_message(private, text_has("Bí thư đã đồng ý"), after=mark)
    assert "Họp tháng 12" in (told.text or "")

    # The group saw the pointer and nothing else: no name, no reason, no decision.
    await api.wait_until_idle()
    in_group = api.sent_in(group, after=group_mark)
    assert [m.text for m in in_group] == [vi("absence.group_hint")]
