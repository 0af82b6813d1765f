"""End to end over HTTP: the real PTB Application against the fake Bot API. A secretary answers a
PDF in the group with /tailieu, confirms, the group gets the document with its «Đã đọc» button,
a member taps it, and the secretary sees who has read it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.app import ChiboBot, build_bot, running
from bot.settings import Settings
from handlers.i18n import Texts
from scheduler.clock import ManualClock
from tests.support.fake_bot_api import FakeBotApi, running_fake_bot_api
from tests.test_e2e_telegram import _found_cell, _text_has

vi = Texts("vi")
PDF = b"%PDF-1.4 nghi quyet"


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with running_fake_bot_api() as server:
        yield server


@pytest.fixture
async def chibo(api: FakeBotApi, tmp_path: Path, clock: ManualClock) -> AsyncIterator[ChiboBot]:
    settings = Settings(
        telegram_token=api.token,
        telegram_base_url=api.base_url,
        telegram_base_file_url=api.base_file_url,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'chibo.db'}",
        data_keys=(Fernet.generate_key().decode(),),
        outbox_interval_seconds=0.2,
        _env_file=None,
    )
    bot = build_bot(settings, clock=clock)
    async with running(bot.application):
        yield bot


async def test_a_pdf_in_the_group_is_confirmed_posted_and_read(
    api: FakeBotApi, chibo: ChiboBot
) -> None:
    secretary, member, group = await _found_cell(api)
    mark = api.mark()
    await api.send_text(group, member, "/thamgia")
    request = await api.wait_for_message(group, _text_has("xin vào danh sách"), after=mark)
    mark = api.mark()
    await api.tap(secretary, request, button_text=vi("join.button.approve"))
    await api.wait_for_callback_answer(secretary, after=mark)

    upload = await api.send_document(group, secretary, "nghi-quyet.pdf", PDF, "application/pdf")
    pdf_message = upload["message"]["message_id"]
    mark = api.mark()
    await api.send_text(
        group, secretary, "/tailieu Nghị quyết chi bộ", reply_to_message=pdf_message
    )
    card = await api.wait_for_message(group, _text_has(vi("document.card.header")), after=mark)
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
    listing = await api.wait_for_message(private, _text_has(vi("document.list.header")), after=mark)
    mark = api.mark()
    await api.tap(secretary, listing, button_text="1. Nghị quyết chi bộ")
    status = await api.wait_for_message(private, _text_has("đã đọc"), after=mark)
    assert "Chi bộ Khu phố 5: 1 đã đọc, 1 chưa đọc" in (status.text or "")
    assert "✅ Lê Văn Nam" in (status.text or "")
    assert vi("document.status.unread_line", names="Trần Thị Hoa") in (status.text or "")
