"""Bà Lan (72, a retired teacher, a cell member) does each of her tasks on Telegram by taps
alone, through the real PTB Application and the local fake Bot API, and every tap and typed
character is counted. The table measured is the one docs/usability.md publishes."""

from __future__ import annotations

from bot.app import ChiboBot
from bot.playground.bot_api import FakeBotApi, FakeChat, FakeUser, StoredMessage
from handlers.i18n import Texts
from tests.support.e2e import found_cell, text_has
from tests.support.persona import Tally, published_table

vi = Texts("vi")
# Targets (issue 16): three taps a task, four for feedback; nothing typed but its text.
MAX_TAPS = {"✉️ Gửi góp ý": 4}
FEEDBACK_TEXT = "Đề nghị sửa đèn đường ngõ 5."


class Persona:
    """One person in one private chat, counting what they do."""

    def __init__(self, api: FakeBotApi, user: FakeUser, chat: FakeChat, tally: Tally) -> None:
        self.api, self.user, self.chat, self.tally = api, user, chat, tally

    def keyboard(self) -> list[str]:
        """The menu keys under the input box: those of the newest message that set them."""
        for message in reversed(self.api.sent_in(self.chat)):
            markup = message.reply_markup or {}
            if "keyboard" in markup:
                # PTB sends each key as a KeyboardButton object.
                return [key["text"] for row in markup["keyboard"] for key in row]
        return []

    async def press(self, label: str) -> list[StoredMessage]:
        """Tap a key of the menu keyboard (Telegram sends its label as a message)."""
        assert label in self.keyboard(), (label, self.keyboard())
        self.tally.tap()
        mark = self.api.mark()
        await self.api.send_text(self.chat, self.user, label)
        await self.api.wait_for_message(self.chat, after=mark)
        await self.api.wait_until_idle()
        return self.api.sent_in(self.chat, after=mark)

    async def tap(self, message: StoredMessage, label: str) -> StoredMessage:
        """Tap an inline button; returns the message as it stands after (edited or not)."""
        self.tally.tap()
        mark = self.api.mark()
        await self.api.tap(self.user, message, button_text=label)
        await self.api.wait_for_callback_answer(self.user, after=mark)
        await self.api.wait_until_idle()
        return self.api.messages[(message.chat_id, message.message_id)]

    async def write(self, text: str) -> list[StoredMessage]:
        self.tally.type(text)
        mark = self.api.mark()
        await self.api.send_text(self.chat, self.user, text)
        await self.api.wait_for_message(self.chat, after=mark)
        return self.api.sent_in(self.chat, after=mark)


def last_with(messages: list[StoredMessage], label: str) -> StoredMessage:
    return next(m for m in reversed(messages) if label in [text for text, _ in m.buttons])


async def test_ba_lan_does_every_task_in_a_few_taps(api: FakeBotApi, chibo: ChiboBot) -> None:
    # Bà Lan's account is the member found_cell brings (named Lê Văn Nam there).
    secretary, lan, group = await found_cell(api)
    private = await api.private_chat(lan)
    await api.send_text(private, lan, "/start")  # she opened the bot once, from the group's link
    await api.wait_until_idle()
    mark = api.mark()
    await api.send_text(group, lan, "/thamgia")
    request = await api.wait_for_message(group, text_has("xin vào danh sách"), after=mark)
    await api.tap(secretary, request, button_text=vi("join.button.approve"))
    welcome = vi("menu.welcome", name="Lê Văn Nam", cell="Chi bộ Khu phố 5")
    await api.wait_for_message(private, text_has(welcome))
    # The secretary schedules tonight's meeting and posts its document.
    mark = api.mark()
    await api.send_text(group, secretary, "/lichhop 22/11 19:30 Hội trường KP5 | Họp tháng 11")
    confirm = await api.wait_for_message(group, text_has("Họp tháng 11"), after=mark)
    await api.tap(secretary, confirm, button_text=vi("meeting.button.save_once"))
    await api.wait_for_message(group, text_has("📢 Lịch họp chi bộ"), after=mark)
    mark = api.mark()
    await api.send_text(group, secretary, "/tailieu https://example.org/nq5.pdf Nghị quyết 5")
    card = await api.wait_for_message(group, text_has("Nghị quyết 5"), after=mark)
    mark = api.mark()
    await api.tap(secretary, card, button_text=vi("document.button.send"))
    post = await api.wait_for_message(group, text_has("Nghị quyết 5"), after=mark)
    await api.wait_until_idle()

    tally = Tally()
    lan_chat = Persona(api, lan, private, tally)
    lan_group = Persona(api, lan, group, tally)

    tally.task("📅 Xem cuộc họp tới")
    shown = await lan_chat.press(vi("menu.meetings"))
    assert any("Họp tháng 11" in (m.text or "") for m in shown)

    tally.task("🙋 Xin vắng (lý do có sẵn)")
    shown = await lan_chat.press(vi("menu.absence"))
    draft = await lan_chat.tap(
        last_with(shown, vi("absence.button.sick")), vi("absence.button.sick")
    )
    sent = await lan_chat.tap(draft, vi("absence.button.send"))
    assert (sent.text or "").startswith("✅ Đã gửi đơn xin vắng")

    tally.task("✅ Xác nhận đã đọc tài liệu")
    counted = await lan_group.tap(post, vi("document.button.read"))
    # The post shows its read count as it changes (the secretary and Bà Lan are the roster).
    assert counted.buttons == [
        (vi("document.button.read_count", read=1, total=2), post.buttons[0][1])
    ]

    tally.task("🙋 Điểm danh «Có mặt»")
    mark = api.mark()
    await api.send_text(group, secretary, "/diemdanh")
    checkin = await api.wait_for_message(group, text_has("ĐIỂM DANH"), after=mark)
    await api.wait_until_idle()
    await lan_group.tap(checkin, vi("attendance.button.in_person"))

    tally.task("💰 Xem đảng phí của mình")
    shown = await lan_chat.press(vi("menu.fees"))
    assert any(vi("fee.mine.title", year=2026) in (m.text or "") for m in shown)

    tally.task("✉️ Gửi góp ý")
    shown = await lan_chat.press(vi("menu.feedback"))
    kinds = last_with(shown, vi("feedback.button.kind.comment"))
    assert vi("feedback.menu") == kinds.text  # each kind is explained in one line
    await lan_chat.tap(kinds, vi("feedback.button.kind.comment"))
    how = api.sent_in(private)[-1]
    await lan_chat.tap(how, vi("feedback.button.named"))
    answered = await lan_chat.write(FEEDBACK_TEXT)
    assert any("Đã gửi" in (m.text or "") for m in answered), answered

    for task, effort in tally.tasks.items():
        assert effort.taps <= MAX_TAPS.get(task, 3), (task, effort)
        assert effort.typed == (len(FEEDBACK_TEXT) if task == "✉️ Gửi góp ý" else 0), task
    assert tally.table() == published_table("telegram")
