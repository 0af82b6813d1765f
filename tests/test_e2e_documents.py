"""End to end over HTTP: the real PTB Application against the fake Bot API. A secretary answers a
PDF in the group with /tailieu, confirms, the group gets the document with its «Đã đọc» button,
a member taps it, and the secretary sees who has read it; a protected photo for a meeting and
its private nudge through the outbox; and how the adapter reads files off replies and captions."""

from __future__ import annotations

from datetime import timedelta

from telegram import Update

from bot.app import ChiboBot
from bot.playground.bot_api import FakeBotApi, FakeChat, FakeUser
from bot.telegram import to_inbound
from handlers.core import Attachment
from handlers.i18n import Texts
from scheduler.clock import ManualClock
from storage.audit import Actor
from storage.documents import NUDGE_LEAD
from storage.meetings import MeetingDetails
from storage.models import MeetingKind
from tests.support.e2e import found_cell, text_has

vi = Texts("vi")
PDF = b"%PDF-1.4 nghi quyet"


async def _cell_with_a_member(api: FakeBotApi) -> tuple[FakeUser, FakeUser, FakeChat]:
    secretary, member, group = await found_cell(api)
    mark = api.mark()
    await api.send_text(group, member, "/thamgia")
    request = await api.wait_for_message(group, text_has("xin vào danh sách"), after=mark)
    mark = api.mark()
    await api.tap(secretary, request, button_text=vi("join.button.approve"))
    await api.wait_for_callback_answer(secretary, after=mark)
    return secretary, member, group


async def test_a_pdf_in_the_group_is_confirmed_posted_and_read(
    api: FakeBotApi, chibo: ChiboBot
) -> None:
    secretary, member, group = await _cell_with_a_member(api)

    upload = await api.send_document(group, secretary, "nghi-quyet.pdf", PDF, "application/pdf")
    pdf_message = upload["message"]["message_id"]
    mark = api.mark()
    await api.send_text(
        group, secretary, "/tailieu Nghị quyết chi bộ", reply_to_message=pdf_message
    )
    card = await api.wait_for_message(group, text_has(vi("document.card.header")), after=mark)
    assert "nghi-quyet.pdf" in (card.text or "")
    assert not api.calls("sendDocument", after=mark)  # nothing posted before «Gửi»

    mark = api.mark()
    await api.tap(secretary, card, button_text=vi("document.button.send"))
    posted = await api.wait_for_message(group, lambda m: m.document is not None, after=mark)
    assert posted.document is not None and posted.document["file_name"] == "nghi-quyet.pdf"
    assert api.file(posted.document["file_id"]).content == PDF  # re-sent, not re-uploaded
    assert "Nghị quyết chi bộ" in (posted.text or "")
    assert [label for label, _ in posted.buttons] == [vi("document.button.read")]
    assert "Đã gửi «Nghị quyết chi bộ» vào 1 nhóm" in (
        api.messages[(group.id, card.message_id)].text or ""
    )

    mark = api.mark()
    await api.tap(member, posted, button_text=vi("document.button.read"))
    answer = await api.wait_for_callback_answer(member, after=mark)
    assert answer.text == vi("document.read_recorded", title="Nghị quyết chi bộ")

    private = await api.private_chat(secretary)
    mark = api.mark()
    await api.send_text(private, secretary, "/tailieu")
    listing = await api.wait_for_message(private, text_has(vi("document.list.header")), after=mark)
    mark = api.mark()
    await api.tap(secretary, listing, button_text="1. Nghị quyết chi bộ")
    status = await api.wait_for_message(private, text_has("đã đọc"), after=mark)
    assert "Chi bộ Khu phố 5: 1 đã đọc, 1 chưa đọc" in (status.text or "")
    assert "✅ Lê Văn Nam" in (status.text or "")
    assert vi("document.status.unread_line", names="Trần Thị Hoa") in (status.text or "")


async def test_a_protected_photo_for_a_meeting_and_the_nudge_before_it(
    api: FakeBotApi, chibo: ChiboBot, clock: ManualClock
) -> None:
    secretary, member, group = await _cell_with_a_member(api)
    services = chibo.runtime.services
    assert services is not None
    cell = await services.cells.cell_for_chat("telegram", str(group.id))
    assert cell is not None
    starts_at = clock.now() + timedelta(days=3)
    meeting = await services.meetings.create(
        cell_id=cell.id,
        details=MeetingDetails(
            MeetingKind.REGULAR, "Sinh hoạt tháng 11", starts_at, "Hội trường KP5", None, ""
        ),
        actor=Actor("test"),
        now=clock.now(),
    )

    private = await api.private_chat(secretary)
    mark = api.mark()
    await api.send_text(private, secretary, "/tailieu")
    await api.wait_for_message(private, text_has(vi("document.ask_file")), after=mark)
    mark = api.mark()
    await api.send_photo(private, secretary, b"jpeg bytes", caption="Sơ đồ hội trường")
    card = await api.wait_for_message(private, text_has(vi("document.card.header")), after=mark)
    mark = api.mark()
    await api.tap(secretary, card, button_text=vi("document.button.protect_on"))
    await api.wait_for_callback_answer(secretary, after=mark)
    card = api.messages[(private.id, card.message_id)]
    mark = api.mark()
    await api.tap(secretary, card, button_text=vi("document.button.meeting"))
    await api.wait_for_callback_answer(secretary, after=mark)
    picker = api.messages[(private.id, card.message_id)]
    mark = api.mark()
    await api.tap(secretary, picker, callback_data=f"dm:{meeting.id}")
    await api.wait_for_callback_answer(secretary, after=mark)
    card = api.messages[(private.id, card.message_id)]
    assert "Cho cuộc họp: Sinh hoạt tháng 11" in (card.text or "")
    mark = api.mark()
    await api.tap(secretary, card, button_text=vi("document.button.send"))
    posted = await api.wait_for_message(group, lambda m: m.method == "sendPhoto", after=mark)
    assert posted.data["has_protected_content"] is True
    assert "Sơ đồ hội trường" in (posted.text or "")

    # A day before the meeting the member, who has not read it, gets it privately.
    member_chat = await api.private_chat(member)
    mark = api.mark()
    clock.advance(starts_at - NUDGE_LEAD - clock.now())
    nudge = await api.wait_for_message(member_chat, lambda m: m.method == "sendPhoto", after=mark)
    assert (nudge.text or "").startswith("🔔 Nhắc đọc tài liệu «Sơ đồ hội trường»")
    assert nudge.data["has_protected_content"] is True
    mark = api.mark()
    await api.tap(member, nudge, button_text=vi("document.button.read"))
    answer = await api.wait_for_callback_answer(member, after=mark)
    assert answer.text == vi("document.read_recorded", title="Sơ đồ hội trường")


class _Bot:
    """What to_inbound reads of the bot."""

    id = 42
    username = "chibo_test_bot"


def _update(message: dict[str, object]) -> Update:
    base = {
        "message_id": 7,
        "date": 0,
        "chat": {"id": -100, "type": "supergroup", "title": "Chi bộ"},
        "from": {"id": 5, "is_bot": False, "first_name": "Hoa"},
    }
    return Update.de_json({"update_id": 1, "message": {**base, **message}}, None)


def test_to_inbound_takes_the_file_of_a_replied_message_or_a_caption_command() -> None:
    photo_sizes = [
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 60},
        {"file_id": "large", "file_unique_id": "l", "width": 1280, "height": 960, "file_size": 9},
    ]
    replied = {"message_id": 6, "date": 0, "chat": {"id": -100, "type": "supergroup"}}
    command = {"type": "bot_command", "offset": 0, "length": 8}
    inbound = to_inbound(
        _update(
            {
                "text": "/tailieu Sơ đồ",
                "entities": [command],
                "reply_to_message": {**replied, "photo": photo_sizes},
            }
        ),
        _Bot(),  # type: ignore[arg-type]
    )
    assert inbound is not None and inbound.command == "tailieu" and inbound.args == "Sơ đồ"
    assert inbound.attachment == Attachment("large", "photo.jpg", "image/jpeg", 9, is_photo=True)

    document = {"file_id": "pdf", "file_unique_id": "p", "file_name": "nq.pdf", "file_size": 3}
    inbound = to_inbound(
        _update(
            {"document": document, "caption": "/tailieu Nghị quyết", "caption_entities": [command]}
        ),
        _Bot(),  # type: ignore[arg-type]
    )
    assert inbound is not None and inbound.command == "tailieu" and inbound.args == "Nghị quyết"
    assert inbound.attachment == Attachment("pdf", "nq.pdf", None, 3)

    # A plain command replying to a text message carries no file; a caption is the text.
    inbound = to_inbound(
        _update({"text": "/tailieu", "entities": [command], "reply_to_message": replied}),
        _Bot(),  # type: ignore[arg-type]
    )
    assert inbound is not None and inbound.attachment is None
    inbound = to_inbound(_update({"document": document, "caption": "Bản mới"}), _Bot())  # type: ignore[arg-type]
    assert inbound is not None and inbound.command is None and inbound.text == "Bản mới"
