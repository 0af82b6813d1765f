"""End to end on Zalo: the real runtime (client, adapter, dispatcher, outbox, web endpoint)
talking HTTP to a local fake Zalo Bot API, while scripted people write in a Zalo group (always
mentioning the bot, as Zalo requires) and in private chats, and answer numbered choices."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from bot.app import Runtime, running_zalo
from bot.links import DOCUMENT, ServedFile
from bot.settings import Settings
from handlers.i18n import Texts
from scheduler.clock import ManualClock
from storage.schema import attendance, feedback, meetings, members
from tests.support.fake_zalo_api import (
    FakeZaloApi,
    Mark,
    SentMessage,
    ZaloGroup,
    ZaloUser,
    running_fake_zalo_api,
)

vi = Texts("vi")
on_zalo = vi.on("zalo")
ROOT = Path(__file__).resolve().parent.parent
CELL = "Chi bộ Khu phố 5"


def has(fragment: str) -> Callable[[SentMessage], bool]:
    return lambda message: fragment in message.text


def number_of(message: SentMessage, label: str) -> str:
    """The number in front of ``label`` in a message's numbered options."""
    for line in message.text.splitlines():
        found = re.fullmatch(r"(\d+)\. (.*)", line)
        if found and found.group(2) == label:
            return found.group(1)
    raise AssertionError(f"no option {label!r} in {message.text!r}")


async def confirm(
    zalo: FakeZaloApi, user: ZaloUser, label: str, *, group: ZaloGroup | None = None
) -> SentMessage:
    """Answer the confirmation a number for an irreversible act asks (it restates the act)."""
    chat = group.id if group else user.id
    question = await zalo.wait_for(chat, has(vi("card.confirm_yes", label=label)))
    mark = zalo.mark()
    await zalo.say(user, number_of(question, vi("card.confirm_yes", label=label)), group=group)
    await zalo.wait_for(chat, after=mark)
    return question


def zalo_settings(zalo: FakeZaloApi, tmp_path: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "zalo_token": zalo.token,
        "zalo_base_url": zalo.base_url,
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'chibo.db'}",
        "data_keys": (Fernet.generate_key().decode(),),
        "outbox_interval_seconds": 0.2,
        "web_port": 0,
        **extra,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZaloApi]:
    async with running_fake_zalo_api() as server:
        yield server
        # Zalo has no buttons: nothing the bot says there may ask anyone to tap one (a link
        # is still "bấm vào liên kết").
        tapping = re.compile(r"\bnút\b|bấm (?!vào liên kết)", re.IGNORECASE)
        assert [m.text for m in server.sent if tapping.search(m.text)] == []


@pytest.fixture
async def chibo(zalo: FakeZaloApi, tmp_path: Path, clock: ManualClock) -> AsyncIterator[Runtime]:
    async with running_zalo(zalo_settings(zalo, tmp_path), clock=clock) as runtime:
        yield runtime


async def found_cell(zalo: FakeZaloApi) -> tuple[ZaloUser, ZaloUser, ZaloGroup]:
    """The secretary founds the cell from the Zalo group; the member joins and is approved,
    every step by mentioning the bot and answering with a number."""
    secretary, member = zalo.add_user("Trần Thị Hoa"), zalo.add_user("Lê Văn Nam")
    group = zalo.add_group("Chi bộ KP5")
    mark = zalo.mark()
    await zalo.say(secretary, "/batdau", group=group)
    ask = await zalo.wait_for(group.id, after=mark)
    assert ask.text.startswith(vi("setup.ask_name"))
    assert vi("zalo.answer_group", bot=zalo.bot_name) in ask.text
    mark = zalo.mark()
    await zalo.say(secretary, CELL, group=group)
    await zalo.wait_for(group.id, has(f"Đã lập chi bộ «{CELL}»"), after=mark)
    mark = zalo.mark()
    await zalo.say(member, "/thamgia", group=group)
    request = await zalo.wait_for(group.id, has("xin vào danh sách"), after=mark)
    assert vi("zalo.choose_group", bot=zalo.bot_name, example=1) in request.text
    mark = zalo.mark()
    await zalo.say(secretary, number_of(request, vi("join.button.approve")), group=group)
    await confirm(zalo, secretary, vi("join.button.approve"), group=group)
    await zalo.wait_for(
        group.id, has(vi("join.approved", name="Lê Văn Nam", cell=CELL)), after=mark
    )
    # The new member gets the menu of tasks privately, as numbered lines.
    welcome = await zalo.wait_for(member.id, has(vi("menu.meetings")), after=mark)
    assert f"1. {vi('menu.meetings')}" in welcome.text
    return secretary, member, group


async def test_join_in_a_zalo_group_by_mentions_and_numbers(
    zalo: FakeZaloApi, chibo: Runtime
) -> None:
    _secretary, member, group = await found_cell(zalo)
    # Zalo never delivers what does not mention the bot: the bot cannot react to it.
    assert await zalo.say(member, "/trogiup", group=group, mention=False) is None
    mark = zalo.mark()
    await zalo.say(member, "/trogiup", group=group)
    help_text = await zalo.wait_for(group.id, after=mark)
    assert help_text.text.startswith(on_zalo("help.group_member", name="Lê Văn Nam", cell=CELL))
    assert vi("help.zalo_group") in help_text.text
    # Personal matters point to the private chat, in words (Zalo has no deep links).
    assert vi("zalo.continue_privately", command="hoso") in help_text.text
    assert chibo.engine is not None
    async with chibo.engine.connect() as connection:
        states = (await connection.execute(select(members.c.state))).scalars().all()
    assert sorted(states) == ["active", "active"]


async def test_a_number_from_someone_not_allowed_changes_nothing(
    zalo: FakeZaloApi, chibo: Runtime
) -> None:
    secretary, member, group = await found_cell(zalo)
    stranger = zalo.add_user("Người Lạ")
    mark = zalo.mark()
    await zalo.say(stranger, "/thamgia", group=group)
    request = await zalo.wait_for(group.id, has("xin vào danh sách"), after=mark)
    mark = zalo.mark()
    # An ordinary member answers the leaders' options: refused, the request stays pending.
    # The refusal is for them alone (a popup on Telegram): privately, not in the group.
    await zalo.say(member, number_of(request, vi("join.button.approve")), group=group)
    refusal = await zalo.wait_for(member.id, after=mark)
    assert refusal.text == vi("error.leader_only")
    assert zalo.sent_to(group.id, after=mark) == []
    assert chibo.engine is not None
    async with chibo.engine.connect() as connection:
        pending = await connection.execute(
            select(func.count()).select_from(members).where(members.c.state == "pending")
        )
        assert pending.scalar_one() == 1
    # A number past the list is just text: in a group, not the bot's business.
    mark = zalo.mark()
    await zalo.say(secretary, "9", group=group)
    await zalo.idle()
    assert zalo.sent_to(group.id, after=mark) == []


async def schedule(zalo: FakeZaloApi, secretary: ZaloUser, group: ZaloGroup) -> None:
    mark = zalo.mark()
    await zalo.say(secretary, "/lichhop 24/11 19:30 Hội trường KP5 | Họp tháng 11", group=group)
    confirm = await zalo.wait_for(group.id, has("19:30, Thứ Ba 24/11/2026"), after=mark)
    mark = zalo.mark()
    await zalo.say(secretary, number_of(confirm, vi("meeting.button.save_once")), group=group)
    await zalo.wait_for(group.id, has("📢 Lịch họp chi bộ"), after=mark)


async def test_meeting_scheduled_on_zalo_reminds_the_zalo_group_once(
    zalo: FakeZaloApi, chibo: Runtime, clock: ManualClock
) -> None:
    secretary, _member, group = await found_cell(zalo)
    await schedule(zalo, secretary, group)
    mark = zalo.mark()
    clock.advance(timedelta(days=1, minutes=31))
    reminder = await zalo.wait_for(group.id, has("🔔 Nhắc lịch họp"), after=mark)
    assert "Hội trường KP5" in reminder.text and "1 ngày" in reminder.text
    await zalo.idle(0.6)
    assert len([m for m in zalo.sent_to(group.id, after=mark) if "🔔" in m.text]) == 1


async def test_feedback_privately_on_zalo_by_option_text_and_number(
    zalo: FakeZaloApi, chibo: Runtime
) -> None:
    secretary, member, group = await found_cell(zalo)
    mark = zalo.mark()
    await zalo.say(member, "/gopy", group=group)
    pointer = await zalo.wait_for(group.id, after=mark)
    assert vi("zalo.continue_privately", command="gopy") in pointer.text
    mark = zalo.mark()
    await zalo.say(member, "/gopy")
    menu = await zalo.wait_for(member.id, has("gửi gì cho chi bộ"), after=mark)
    assert vi("zalo.choose_private", example=1) in menu.text
    mark = zalo.mark()
    await zalo.say(member, "đề xuất")  # an option's own words work as well as its number
    how = await zalo.wait_for(member.id, has("muốn gửi đề xuất thế nào"), after=mark)
    mark = zalo.mark()
    await zalo.say(member, number_of(how, vi("feedback.button.named")))
    ask = await zalo.wait_for(member.id, has("viết đề xuất"), after=mark)
    assert vi("zalo.answer_group", bot=zalo.bot_name) not in ask.text  # private: just write
    proposal = "Đề nghị sửa đèn đường ngõ 3."
    mark = zalo.mark()
    await zalo.say(member, proposal)
    await zalo.wait_for(member.id, has("✅ Đã gửi đề xuất số 1 kèm tên"), after=mark)
    notice = await zalo.wait_for(secretary.id, has(proposal), after=mark)
    assert "người gửi: Lê Văn Nam" in notice.text
    assert all(proposal not in m.text for m in zalo.sent_to(group.id))
    assert chibo.engine is not None
    async with chibo.engine.connect() as connection:
        stored = (await connection.execute(select(feedback.c.kind, feedback.c.text))).all()
    assert [tuple(row) for row in stored] == [("proposal", proposal)]


class _Documents:
    def __init__(self) -> None:
        self.opened: list[tuple[int, int | None]] = []

    async def open_document(self, document_id: int, member_id: int | None) -> ServedFile | None:
        self.opened.append((document_id, member_id))
        if document_id != 7:
            return None
        return ServedFile("Nghị quyết 12.pdf", b"%PDF-1.4 nghi quyet", "application/pdf")


async def test_document_links_download_until_they_expire(
    zalo: FakeZaloApi, chibo: Runtime, clock: ManualClock
) -> None:
    assert chibo.zalo is not None and chibo.zalo.signer is not None and chibo.zalo.web
    documents = _Documents()
    chibo.zalo.web.documents = documents
    url = chibo.zalo.signer.url(DOCUMENT, 7, 3, clock.now() + timedelta(hours=1))
    async with httpx.AsyncClient() as http:
        fresh = await http.get(url)
        assert fresh.status_code == 200 and fresh.content == b"%PDF-1.4 nghi quyet"
        assert "Ngh%E1%BB%8B%20quy%E1%BA%BFt%2012.pdf" in fresh.headers["content-disposition"]
        assert documents.opened == [(7, 3)]  # the reader is known: a read counts for them
        forged = await http.get(url.replace("/d/doc.7.3.", "/d/doc.8.3."))
        assert forged.status_code == 404 and forged.text == vi("link.invalid")
        clock.advance(timedelta(hours=1, seconds=1))
        expired = await http.get(url)
        assert expired.status_code == 410 and expired.text == vi("link.expired")
    assert documents.opened == [(7, 3)]


async def test_a_file_a_reply_carries_travels_as_a_link(zalo: FakeZaloApi, chibo: Runtime) -> None:
    secretary, member, group = await found_cell(zalo)
    await schedule(zalo, secretary, group)
    mark = zalo.mark()
    await zalo.say(member, "/lich")
    message = await zalo.wait_for(member.id, has("http://"), after=mark)
    url = re.search(r"http://\S+", message.text)
    assert url is not None
    async with httpx.AsyncClient() as http:
        download = await http.get(url.group(0))
    assert download.status_code == 200 and b"BEGIN:VCALENDAR" in download.content


async def test_quota_warning_goes_privately_to_the_secretary_once(
    zalo: FakeZaloApi, tmp_path: Path, clock: ManualClock
) -> None:
    settings = zalo_settings(zalo, tmp_path, zalo_monthly_quota=14, zalo_quota_warn_percent=50)
    async with running_zalo(settings, clock=clock):
        secretary, member, group = await found_cell(zalo)  # 6 messages: below the level
        await zalo.idle(0.5)
        assert zalo.sent_to(secretary.id) == []
        for _ in range(3):  # the 7th reaches half of 14, the ones after do not warn again
            mark = zalo.mark()
            await zalo.say(member, "/trogiup", group=group)
            await zalo.wait_for(group.id, after=mark)
        warning = await zalo.wait_for(secretary.id, has("sắp hết số tin nhắn"))
        assert warning.text == vi("zalo.quota_warning", quota=14)
        await zalo.idle(0.5)
    assert len([m for m in zalo.sent if "sắp hết" in m.text]) == 1
    assert all(m.chat_id != group.id for m in zalo.sent if "sắp hết" in m.text)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_webhook_checks_the_secret_and_handles_a_redelivery_once(
    zalo: FakeZaloApi, tmp_path: Path, clock: ManualClock
) -> None:
    port = _free_port()
    settings = zalo_settings(
        zalo,
        tmp_path,
        web_port=port,
        public_url=f"http://127.0.0.1:{port}",
        zalo_webhook_secret="webhook-secret-1",
    )
    async with running_zalo(settings, clock=clock):
        assert zalo.webhook_url == f"http://127.0.0.1:{port}/zalo/webhook"
        person = zalo.add_user("Lê Văn Nam")
        event: dict[str, Any] = {
            "event_name": "message.text.received",
            "message": {
                "from": {"id": person.id, "display_name": person.display_name},
                "chat": {"id": person.id, "chat_type": "PRIVATE"},
                "text": "/trogiup",
                "message_id": "m-dup-1",
                "date": 1,
            },
        }
        assert await zalo.post_webhook(event, "wrong-secret-xx") == 403
        assert await zalo.post_webhook(event, None) == 403
        await zalo.idle(0.2)
        assert zalo.sent_to(person.id) == []  # nothing processed
        await zalo.deliver(event)
        await zalo.deliver(event)  # Zalo redelivers the same message_id
        reply = await zalo.wait_for(person.id)
        assert reply.text == on_zalo("help.private_stranger", name="Lê Văn Nam")
        await zalo.idle(0.3)
        assert len(zalo.sent_to(person.id)) == 1
        assert zalo.webhook_statuses == [200, 200]


async def test_a_redelivery_after_a_restart_is_still_handled_once(
    zalo: FakeZaloApi, tmp_path: Path, clock: ManualClock
) -> None:
    port = _free_port()
    settings = zalo_settings(
        zalo,
        tmp_path,
        web_port=port,
        public_url=f"http://127.0.0.1:{port}",
        zalo_webhook_secret="webhook-secret-1",
    )
    person = zalo.add_user("Lê Văn Nam")
    event: dict[str, Any] = {
        "event_name": "message.text.received",
        "message": {
            "from": {"id": person.id, "display_name": person.display_name},
            "chat": {"id": person.id, "chat_type": "PRIVATE"},
            "text": "/trogiup",
            "message_id": "m-restart-1",
            "date": 1,
        },
    }
    async with running_zalo(settings, clock=clock):
        await zalo.deliver(event)
        await zalo.wait_for(person.id)
    # The bot restarts (a deploy, a crash) and Zalo redelivers the same message.
    async with running_zalo(settings, clock=clock):
        await zalo.deliver(event)
        await zalo.idle(0.3)
    assert len(zalo.sent_to(person.id)) == 1
    assert zalo.webhook_statuses == [200, 200]


async def test_chibo_run_serves_zalo_alone_and_never_logs_the_token(
    zalo: FakeZaloApi, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIBO_")}
    env.update(
        CHIBO_ZALO_TOKEN=zalo.token,
        CHIBO_ZALO_BASE_URL=zalo.base_url,
        CHIBO_WEB_PORT="0",
        CHIBO_LOG_LEVEL="DEBUG",
        PYTHONPATH=str(ROOT),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        person = zalo.add_user("Lê Văn Nam")
        await zalo.say(person, "/trogiup")
        reply = await zalo.wait_for(person.id, within=30)
        assert reply.text == on_zalo("help.private_stranger", name="Lê Văn Nam")
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    log = output.decode()
    assert process.returncode == 0, log
    assert zalo.token not in log and zalo.token.split(":")[1] not in log
    assert (tmp_path / "data" / "chibo.db").is_file()


async def test_check_in_in_a_zalo_group_by_number(
    zalo: FakeZaloApi, chibo: Runtime, clock: ManualClock
) -> None:
    secretary, member, group = await found_cell(zalo)
    await schedule(zalo, secretary, group)
    mark = zalo.mark()
    clock.advance(timedelta(days=2, minutes=25))  # 19:25 on the day, local time
    # The two reminders still due (a day and two hours before) go out first: they carry
    # numbered next steps, and a number answers the newest numbered message in the group.
    for _ in range(2):
        reminder = await zalo.wait_for(group.id, has(vi("menu.absence")), after=mark)
        mark = Mark(sent=zalo.sent.index(reminder) + 1, calls=0)
    mark = zalo.mark()
    await zalo.say(secretary, "/diemdanh", group=group)
    sheet = await zalo.wait_for(group.id, has(vi("attendance.button.in_person")), after=mark)
    mark = zalo.mark()
    # The check-in options are open to everyone in the group, answered by number; the
    # member alone is told it was noted (privately: the group is not flooded).
    await zalo.say(member, number_of(sheet, vi("attendance.button.in_person")), group=group)
    await zalo.wait_for(member.id, has("Lê Văn Nam"), after=mark)
    assert [m for m in zalo.sent_to(group.id, after=mark) if "Lê Văn Nam" in m.text] == []
    assert chibo.engine is not None
    async with chibo.engine.connect() as connection:
        marked = (await connection.execute(select(attendance.c.state, attendance.c.mode))).all()
    assert [tuple(row) for row in marked] == [("present", "in_person")]


async def test_absence_request_answered_with_numbers(
    zalo: FakeZaloApi, chibo: Runtime, clock: ManualClock
) -> None:
    secretary, member, group = await found_cell(zalo)
    await schedule(zalo, secretary, group)
    group_mark = zalo.mark()
    await zalo.say(member, "/xinvang", group=group)
    pointer = await zalo.wait_for(group.id, after=group_mark)
    assert pointer.text.startswith(on_zalo("absence.group_hint"))
    assert vi("zalo.continue_privately", command="xinvang") in pointer.text

    mark = zalo.mark()
    await zalo.say(member, "/xinvang")
    home = await zalo.wait_for(member.id, has("Họp tháng 11"), after=mark)
    mark = zalo.mark()
    await zalo.say(member, number_of(home, vi("absence.button.sick")))
    draft = await zalo.wait_for(member.id, has("Lý do: Ốm"), after=mark)
    mark = zalo.mark()
    await zalo.say(member, "nằm viện")
    draft = await zalo.wait_for(member.id, has("Ốm (nằm viện)"), after=mark)
    mark = zalo.mark()
    await zalo.say(member, number_of(draft, vi("absence.button.send")))
    await zalo.wait_for(member.id, has("✅ Đã gửi đơn xin vắng"), after=mark)

    # The secretary decides privately, by number too; the member is told.
    card = await zalo.wait_for(secretary.id, has("📝 Đơn xin vắng họp"), after=mark)
    assert "Lê Văn Nam" in card.text and "Ốm (nằm viện)" in card.text
    mark = zalo.mark()
    await zalo.say(secretary, number_of(card, vi("absence.button.approve")))
    await confirm(zalo, secretary, vi("absence.button.approve"))
    told = await zalo.wait_for(member.id, has("Bí thư đã đồng ý"), after=mark)
    assert "Họp tháng 11" in told.text
    # The group saw the pointer only: no name, no reason, no decision.
    await zalo.idle(0.3)
    assert [m.text for m in zalo.sent_to(group.id, after=group_mark)] == [pointer.text]


async def test_a_number_answers_the_newest_card_not_a_confirmation_left_open(
    zalo: FakeZaloApi, chibo: Runtime
) -> None:
    """Issue 14: the secretary leaves «cancel the meeting?» unanswered, a newcomer asks to
    join, and the secretary's «1» is about the newcomer: it never cancels the meeting."""
    secretary, _member, group = await found_cell(zalo)
    await schedule(zalo, secretary, group)
    mark = zalo.mark()
    await zalo.say(secretary, "/hop", group=group)
    listing = await zalo.wait_for(group.id, has(vi("meeting.button.cancel")), after=mark)
    mark = zalo.mark()
    await zalo.say(secretary, number_of(listing, vi("meeting.button.cancel")), group=group)
    question = await zalo.wait_for(group.id, has(vi("meeting.button.confirm_cancel")), after=mark)
    # The reply to a number starts by saying what was chosen.
    assert question.text.startswith("➡️ 2 — " + vi("meeting.button.cancel"))
    assert number_of(question, vi("meeting.button.confirm_cancel")) == "1"
    newcomer = zalo.add_user("Lê Thị Hoa")
    mark = zalo.mark()
    await zalo.say(newcomer, "/thamgia", group=group)
    request = await zalo.wait_for(group.id, has("Lê Thị Hoa xin vào"), after=mark)
    assert number_of(request, vi("join.button.approve")) == "1"
    mark = zalo.mark()
    await zalo.say(secretary, "1", group=group)
    # The newest card is the request: its «1» is asked again in words, and nothing is done.
    ask = await zalo.wait_for(group.id, after=mark)
    assert ask.text.startswith("Đồng chí Lê Thị Hoa xin vào")
    assert vi("confirm.join") in ask.text
    assert chibo.engine is not None
    async with chibo.engine.connect() as connection:
        status = (await connection.execute(select(meetings.c.status))).scalar_one()
        pending = await connection.execute(
            select(func.count()).select_from(members).where(members.c.state == "pending")
        )
        assert (status, pending.scalar_one()) == ("scheduled", 1)
    mark = zalo.mark()
    await zalo.say(secretary, "1", group=group)
    await zalo.wait_for(
        group.id, has(vi("join.approved", name="Lê Thị Hoa", cell=CELL)), after=mark
    )
    # The cancel question died when the request was shown: its «1» is stale, never a cancel.
    mark = zalo.mark()
    await zalo.say(secretary, "1", group=group)
    stale = await zalo.wait_for(group.id, after=mark)
    assert stale.text.startswith("⚠️ Danh sách này đã cũ")
    await zalo.idle(0.3)
    async with chibo.engine.connect() as connection:
        status = (await connection.execute(select(meetings.c.status))).scalar_one()
        states = (await connection.execute(select(members.c.state))).scalars().all()
    assert status == "scheduled" and sorted(states) == ["active"] * 3
    assert not [m for m in zalo.sent_to(group.id) if "hủy" in m.text.lower() and "📢" in m.text]


async def test_a_strangers_private_help_on_zalo_points_to_the_zalo_group(
    zalo: FakeZaloApi, chibo: Runtime
) -> None:
    stranger = zalo.add_user("Người Lạ")
    mark = zalo.mark()
    await zalo.say(stranger, "/trogiup")
    help_text = await zalo.wait_for(stranger.id, after=mark)
    assert help_text.text == on_zalo("help.private_stranger", name="Người Lạ")
    assert "nhóm Zalo" in help_text.text and "Telegram" not in help_text.text
