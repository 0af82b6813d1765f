"""End-to-end fixtures: the real bot (PTB application, storage, outbox) polling the local Bot
API server over HTTP, and the steps most end-to-end tests begin with. Loaded as a pytest plugin
by tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.app import ChiboBot, build_bot, running
from bot.playground.bot_api import FakeBotApi, running_fake_bot_api
from bot.settings import Settings
from handlers.i18n import Texts
from scheduler.clock import ManualClock

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


def text_has(fragment: str):  # type: ignore[no-untyped-def]
    return lambda message: fragment in (message.text or "")


async def found_cell(api: FakeBotApi):  # type: ignore[no-untyped-def]
    secretary = await api.add_user("Trần Thị Hoa")
    member = await api.add_user("Lê Văn Nam")
    group = await api.add_group("Chi bộ KP5", admins=[secretary], members=[member])
    mark = api.mark()
    await api.send_text(group, secretary, "/batdau@chibo_test_bot")
    question = await api.wait_for_message(group, after=mark)
    assert question.is_force_reply and question.text == vi("setup.ask_name")
    mark = api.mark()
    await api.send_text(group, secretary, "Chi bộ Khu phố 5", reply_to_message=question)
    await api.wait_for_message(group, text_has("Đã lập chi bộ «Chi bộ Khu phố 5»"), after=mark)
    return secretary, member, group
