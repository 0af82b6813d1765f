"""Feedback end to end: the real PTB Application polling a local fake Bot API, a member writing
a proposal in a private chat and the secretary answering it from theirs."""

from __future__ import annotations

from bot.app import ChiboBot
from bot.playground.bot_api import FakeBotApi
from handlers.i18n import Texts
from tests.support.e2e import text_has

vi = Texts("vi")
PROPOSAL = "Đề nghị chi bộ tổ chức tham quan khu di tích vào tháng 3."


async def test_a_member_proposes_privately_and_the_secretary_answers(
    api: FakeBotApi, chibo: ChiboBot
) -> None:
    secretary = await api.add_user("Trần Thị Hoa")
    member = await api.add_user("Lê Văn Nam")
    group = await api.add_group("Chi bộ KP5", admins=[secretary], members=[member])
    mark = api.mark()
    await api.send_text(group, secretary, "/batdau Chi bộ Khu phố 5")
    await api.wait_for_message(group, text_has("Đã lập chi bộ"), after=mark)
    mark = api.mark()
    await api.send_text(group, member, "/thamgia")
    request = await api.wait_for_message(group, text_has("xin vào danh sách"), after=mark)
    mark = api.mark()
    await api.tap(secretary, request, button_text=vi("join.button.approve"))
    await api.wait_for_callback_answer(secretary, after=mark)

    # In the group /gopy only points to the private chat.
    mark = api.mark()
    await api.send_text(group, member, "/gopy")
    pointer = await api.wait_for_message(group, after=mark)
    assert pointer.text == vi("error.private_only")
    assert pointer.buttons[0][1] == "https://t.me/chibo_test_bot?start=gopy"

    private = await api.private_chat(member)
    mark = api.mark()
    await api.send_text(private, member, "/start gopy")
    menu = await api.wait_for_message(private, text_has("gửi gì cho chi bộ"), after=mark)
    mark = api.mark()
    await api.tap(member, menu, button_text=vi("feedback.button.kind.proposal"))
    # Named or anonymous is chosen first, then the text is written.
    how = await api.wait_for_message(private, text_has("muốn gửi đề xuất thế nào"), after=mark)
    mark = api.mark()
    await api.tap(member, how, button_text=vi("feedback.button.named"))
    ask = await api.wait_for_message(private, text_has("viết đề xuất"), after=mark)
    assert ask.is_force_reply
    chosen = api.messages[(private.id, how.message_id)]
    assert chosen.text == vi("feedback.chosen", how=vi("feedback.button.named"))
    assert not chosen.buttons, "the choice buttons are gone"
    mark = api.mark()
    await api.send_text(private, member, PROPOSAL, reply_to_message=ask)
    # The secretary is told privately; the member gets the confirmation.
    office_chat = await api.private_chat(secretary)
    notice = await api.wait_for_message(office_chat, text_has(PROPOSAL), after=mark)
    confirmed = await api.wait_for_message(private, text_has("Đã gửi đề xuất số 1"), after=mark)
    assert (confirmed.text or "").startswith("✅ Đã gửi đề xuất số 1 kèm tên")
    assert "người gửi: Lê Văn Nam" in (notice.text or "")
    mark = api.mark()
    await api.tap(secretary, notice, button_text=vi("feedback.button.open"))
    card = await api.wait_for_message(office_chat, text_has("Người gửi: Lê Văn Nam"), after=mark)
    mark = api.mark()
    await api.tap(secretary, card, button_text=vi("feedback.button.to.answered"))
    ask = await api.wait_for_message(office_chat, text_has("Bước «💬 Trả lời»"), after=mark)
    mark = api.mark()
    await api.send_text(office_chat, secretary, "Chi bộ đồng ý, sẽ bàn ở buổi họp tới.", ask)
    told = await api.wait_for_message(private, text_has("Chi bộ đã trả lời"), after=mark)
    assert "Chi bộ đồng ý, sẽ bàn ở buổi họp tới." in (told.text or "")

    # Nothing of it ever reached the group.
    assert all(PROPOSAL not in (m.text or "") for m in api.sent_in(group))
    assert all("bàn ở buổi họp tới" not in (m.text or "") for m in api.sent_in(group))
