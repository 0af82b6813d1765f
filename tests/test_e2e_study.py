"""End to end over HTTP: the secretary makes a study campaign privately, a member takes it as
native Telegram quiz polls, and each vote reaches the bot as an answer."""

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
from tests.test_e2e_absences import _tap_and_read
from tests.test_e2e_telegram import _found_cell, _text_has
from tests.test_study import DEADLINE, QUIZ

vi = Texts("vi")


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


async def test_a_member_answers_quiz_polls_privately(api: FakeBotApi, chibo: ChiboBot) -> None:
    secretary, member, group = await _found_cell(api)
    mark = api.mark()
    await api.send_text(group, member, "/thamgia")
    request = await api.wait_for_message(group, _text_has("xin vào danh sách"), after=mark)
    await _tap_and_read(api, secretary, request, vi("join.button.approve"))

    boss = await api.private_chat(secretary)
    mark = api.mark()
    await api.send_text(boss, secretary, "/hoctap")
    listing = await api.wait_for_message(boss, _text_has(vi("study.list.title")), after=mark)
    mark = api.mark()
    await api.tap(secretary, listing, button_text=vi("study.button.new"))
    pick = await api.wait_for_message(boss, _text_has(vi("study.new.pick_document")), after=mark)
    mark = api.mark()
    await api.tap(secretary, pick, button_text=vi("study.button.no_document"))
    await api.wait_for_message(boss, _text_has("Gõ tên đợt học tập"), after=mark)
    mark = api.mark()
    await api.send_text(boss, secretary, "Học tập Nghị quyết 57")
    await api.wait_for_message(boss, _text_has("hạn làm bài"), after=mark)
    mark = api.mark()
    await api.send_text(boss, secretary, DEADLINE)
    await api.wait_for_message(boss, _text_has("Gửi các câu hỏi"), after=mark)
    mark = api.mark()
    await api.send_text(boss, secretary, QUIZ)
    added = await api.wait_for_message(boss, _text_has("Đã thêm 2 câu"), after=mark)
    mark = api.mark()
    await api.tap(secretary, added, button_text=vi("study.button.open"))
    await api.wait_for_message(boss, _text_has("Đã mở «Học tập Nghị quyết 57»"), after=mark)

    private = await api.private_chat(member)
    mark = api.mark()
    await api.send_text(private, member, "/hoctap")
    mine = await api.wait_for_message(private, _text_has("Học tập Nghị quyết 57"), after=mark)
    mark = api.mark()
    await api.tap(member, mine, button_text=vi("study.button.take", title="Học tập Nghị quyết 57"))
    first = await api.wait_for_message(private, lambda m: m.poll is not None, after=mark)
    assert first.poll is not None
    assert first.poll["type"] == "quiz" and first.poll["is_anonymous"] is False
    assert first.poll["correct_option_ids"] == [1]
    assert first.poll["question"].startswith("Câu 1/2: Nghị quyết 57")

    mark = api.mark()
    await api.vote(member, first, [1])
    await api.wait_for_message(private, _text_has(vi("study.right")), after=mark)
    second = await api.wait_for_message(private, lambda m: m.poll is not None, after=mark)
    assert second.poll is not None and second.poll["question"].startswith("Câu 2/2")
    mark = api.mark()
    await api.vote(member, second, [0])
    done = await api.wait_for_message(private, _text_has("Đồng chí đã làm xong"), after=mark)
    assert done.text == vi("study.finished", score=1, total=2)
