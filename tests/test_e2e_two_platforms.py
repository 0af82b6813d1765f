"""One cell, two platforms: the real process serving Telegram (a fake Bot API) and Zalo (a
fake Zalo Bot API) at once. The secretary links her Zalo account with /lienket, brings the Zalo
group to the cell, and every announcement and reminder reaches each group once."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from bot.app import ChiboBot, build_bot, running
from bot.playground.bot_api import FakeBotApi, StoredMessage, running_fake_bot_api
from bot.settings import Settings
from handlers.i18n import Texts
from scheduler.clock import ManualClock
from storage.schema import audit_log, chats, identities
from tests.support.fake_zalo_api import FakeZaloApi, running_fake_zalo_api

vi = Texts("vi")
CELL = "Chi bộ Khu phố 5"


@pytest.fixture
async def telegram() -> AsyncIterator[FakeBotApi]:
    async with running_fake_bot_api() as server:
        yield server


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZaloApi]:
    async with running_fake_zalo_api() as server:
        yield server


@pytest.fixture
async def chibo(
    telegram: FakeBotApi, zalo: FakeZaloApi, tmp_path: Path, clock: ManualClock
) -> AsyncIterator[ChiboBot]:
    settings = Settings(
        telegram_token=telegram.token,
        telegram_base_url=telegram.base_url,
        telegram_base_file_url=telegram.base_file_url,
        zalo_token=zalo.token,
        zalo_base_url=zalo.base_url,
        web_port=0,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'chibo.db'}",
        data_keys=(Fernet.generate_key().decode(),),
        outbox_interval_seconds=0.2,
        _env_file=None,
    )
    bot = build_bot(settings, clock=clock)
    async with running(bot.application):
        yield bot


def _has(fragment: str):  # type: ignore[no-untyped-def]
    return lambda message: fragment in (message.text or "")


async def test_one_cell_on_telegram_and_zalo(
    telegram: FakeBotApi, zalo: FakeZaloApi, chibo: ChiboBot, clock: ManualClock
) -> None:
    # The cell is founded on Telegram.
    secretary = await telegram.add_user("Trần Thị Hoa")
    tg_group = await telegram.add_group("Chi bộ KP5", admins=[secretary])
    mark = telegram.mark()
    await telegram.send_text(tg_group, secretary, f"/batdau {CELL}")
    await telegram.wait_for_message(tg_group, _has("Đã lập chi bộ"), after=mark)

    # She asks for a link code privately on Telegram and sends it to the bot on Zalo.
    tg_private = await telegram.private_chat(secretary)
    mark = telegram.mark()
    await telegram.send_text(tg_private, secretary, "/lienket")
    code_message: StoredMessage = await telegram.wait_for_message(
        tg_private, _has("Mã liên kết"), after=mark
    )
    found = re.search(r"(\d{4} \d{4})", code_message.text or "")
    assert found is not None and "mở Zalo" in (code_message.text or "")
    hoa = zalo.add_user("Hoa Trần")
    zmark = zalo.mark()
    await zalo.say(hoa, "/lienket 0000 0000")
    refused = await zalo.wait_for(hoa.id, after=zmark)
    assert refused.text == vi("link.bad_code")
    zmark = zalo.mark()
    await zalo.say(hoa, f"/lienket {found.group(1)}")
    done = await zalo.wait_for(hoa.id, after=zmark)
    assert done.text == vi("link.done", name="Trần Thị Hoa", cell=CELL)
    zmark = zalo.mark()
    await zalo.say(hoa, f"/lienket {found.group(1)}")  # a code works once
    assert (await zalo.wait_for(hoa.id, after=zmark)).text.startswith("Tài khoản này đã có")

    # As the cell's secretary she brings the Zalo group to the same cell.
    z_group = zalo.add_group("Chi bộ KP5 (Zalo)")
    zmark = zalo.mark()
    await zalo.say(hoa, "/batdau", group=z_group)
    linked = await zalo.wait_for(z_group.id, after=zmark)
    assert linked.text == vi("setup.second_group", cell=CELL)

    # A meeting scheduled on Telegram is announced in both groups.
    mark, zmark = telegram.mark(), zalo.mark()
    await telegram.send_text(tg_group, secretary, "/lichhop 24/11 19:30 Hội trường KP5")
    confirm = await telegram.wait_for_message(
        tg_group, _has("19:30, Thứ Ba 24/11/2026"), after=mark
    )
    await telegram.tap(secretary, confirm, button_text=vi("meeting.button.save_once"))
    await telegram.wait_for_message(tg_group, _has("📢 Lịch họp chi bộ"), after=mark)
    await zalo.wait_for(z_group.id, _has("📢 Lịch họp chi bộ"), after=zmark)

    # Each reminder reaches each group once.
    mark, zmark = telegram.mark(), zalo.mark()
    clock.advance(timedelta(days=1, minutes=31))
    await telegram.wait_for_message(tg_group, _has("🔔 Nhắc lịch họp"), after=mark)
    await zalo.wait_for(z_group.id, _has("🔔 Nhắc lịch họp"), after=zmark)
    await telegram.wait_until_idle()
    await zalo.idle(0.6)
    assert len([m for m in telegram.sent_in(tg_group, after=mark) if "🔔" in (m.text or "")]) == 1
    assert len([m for m in zalo.sent_to(z_group.id, after=zmark) if "🔔" in m.text]) == 1

    # A document sent on Telegram reaches the Zalo group as a signed link serving the file,
    # and «Đã đọc» there is option 1.
    pdf = b"%PDF-1.4 nghi quyet chi bo\n%%EOF"
    upload = await telegram.send_document(tg_group, secretary, "nq.pdf", pdf, "application/pdf")
    mark, zmark = telegram.mark(), zalo.mark()
    await telegram.send_text(
        tg_group, secretary, "/tailieu Nghị quyết 57", reply_to_message=upload["message"]
    )
    card = await telegram.wait_for_message(tg_group, _has(vi("document.card.header")), after=mark)
    await telegram.tap(secretary, card, button_text=vi("document.button.send"))
    posted = await zalo.wait_for(z_group.id, _has("Nghị quyết 57"), after=zmark)
    link = re.search(r"(http://\S+/d/\S+)", posted.text)
    assert link is not None and "1. " + vi("document.button.read") in posted.text
    async with httpx.AsyncClient() as web:
        download = await web.get(link.group(1))
    assert download.status_code == 200 and download.content == pdf
    zmark = zalo.mark()
    await zalo.say(hoa, "1", group=z_group)
    # «Đã đọc» is noted for her alone, privately: the group is not flooded with one line per
    # reader. The reply to a number starts by saying what it chose.
    read = await zalo.wait_for(hoa.id, after=zmark)
    await zalo.idle(0.2)
    assert zalo.sent_to(z_group.id, after=zmark) == []
    chosen = vi("card.echo_about", number=1, label=vi("document.button.read"), about="")
    assert read.text.startswith(chosen.rstrip())
    assert read.text.endswith(vi("document.read_recorded", title="Nghị quyết 57"))

    engine = chibo.runtime.engine
    assert engine is not None
    async with engine.connect() as connection:
        accounts = (await connection.execute(select(identities.c.platform))).scalars().all()
        groups = (await connection.execute(select(chats.c.platform))).scalars().all()
        actions = (await connection.execute(select(audit_log.c.action))).scalars().all()
    assert sorted(accounts) == ["telegram", "zalo"]  # one member, two accounts
    assert sorted(groups) == ["telegram", "zalo"]
    assert {"member.link_code_made", "member.account_linked", "cell.group_linked"} <= set(actions)
