"""End to end: the real PTB Application, polling a local fake Bot API over HTTP, while
scripted people run the roster flows in a group and in private chats."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from bot.app import ChiboBot
from bot.playground.bot_api import FakeBotApi
from handlers.i18n import Texts
from scheduler.clock import ManualClock
from tests.support.e2e import found_cell, text_has

vi = Texts("vi")
ROOT = Path(__file__).resolve().parent.parent


async def test_command_menus_differ_for_groups_and_private_chats(
    api: FakeBotApi, chibo: ChiboBot
) -> None:
    group = dict(api.commands_for("all_group_chats"))
    private = dict(api.commands_for("all_private_chats"))
    assert group["batdau"] == vi("cmd.setup") and "batdau" not in private
    assert private["hoso"] == vi("cmd.profile") and "hoso" not in group
    assert dict(api.commands_for("all_private_chats", "en"))["hoso"] == Texts("en")("cmd.profile")


async def test_setup_join_approve_members_and_profile(api: FakeBotApi, chibo: ChiboBot) -> None:
    secretary, member, group = await found_cell(api)

    mark = api.mark()
    await api.send_text(group, member, "/thamgia")
    request = await api.wait_for_message(group, text_has("xin vào danh sách"), after=mark)
    # The member taps Approve on their own request: refused with a popup, nothing changes.
    mark = api.mark()
    await api.tap(member, request, button_text=vi("join.button.approve"))
    answer = await api.wait_for_callback_answer(member, after=mark)
    assert answer.text == vi("error.pending_member")
    mark = api.mark()
    await api.tap(secretary, request, button_text=vi("join.button.approve"))
    await api.wait_for_callback_answer(secretary, after=mark)
    edited = api.messages[(group.id, request.message_id)]
    assert "đã vào danh sách" in (edited.text or "")

    mark = api.mark()
    await api.send_text(group, member, "/members")
    listing = await api.wait_for_message(group, text_has("Chi bộ «Chi bộ Khu phố 5»"), after=mark)
    assert "Lê Văn Nam — Đảng viên" in (listing.text or "")
    assert "Chính thức" not in (listing.text or "")

    # /hoso in the group points to the private chat with a deep link, and shows nothing else.
    mark = api.mark()
    await api.send_text(group, member, "/hoso")
    pointer = await api.wait_for_message(group, after=mark)
    [(_, link)] = pointer.buttons
    assert link == "https://t.me/chibo_test_bot?start=hoso"
    private = await api.private_chat(member)
    mark = api.mark()
    await api.send_text(private, member, "/start hoso")
    card = await api.wait_for_message(private, text_has("Hồ sơ đảng viên"), after=mark)
    mark = api.mark()
    await api.tap(member, card, button_text=vi("profile.button.phone"))
    ask = await api.wait_for_message(private, after=mark)
    assert ask.is_force_reply
    mark = api.mark()
    await api.send_text(private, member, "0912 345 678", reply_to_message=ask)
    await api.wait_for_message(private, text_has("Số điện thoại: 0912345678"), after=mark)
    # The phone number never reached the group.
    assert all("0912345678" not in (m.text or "") for m in api.sent_in(group))


async def test_setup_by_non_admin_and_twice(api: FakeBotApi, chibo: ChiboBot) -> None:
    _, member, group = await found_cell(api)
    mark = api.mark()
    await api.send_text(group, member, "/setup Chi bộ khác")
    refusal = await api.wait_for_message(group, after=mark)
    assert refusal.text == vi("setup.already_linked_named", cell="Chi bộ Khu phố 5")
    other = await api.add_group("Nhóm khác", members=[member])
    mark = api.mark()
    await api.send_text(other, member, "/batdau Chi bộ mới")
    refusal = await api.wait_for_message(other, after=mark)
    assert refusal.text == vi("setup.not_admin")


async def test_secretary_imports_a_roster_file(api: FakeBotApi, chibo: ChiboBot) -> None:
    secretary, _, _ = await found_cell(api)
    private = await api.private_chat(secretary)
    good = (
        "\ufeffHọ và tên;Ngày sinh;Giới tính;Số điện thoại;Trạng thái\n"
        "Nguyễn Văn An;05/03/1950;Nam;0912345678;chính thức\n"
        "Phạm Thị Bình;12/12/1948;Nữ;;dự bị\n"
    ).encode()
    bad = "Họ và tên,Ngày sinh\nNguyễn Văn C,31/02/1950\n".encode()
    mark = api.mark()
    await api.send_document(private, secretary, "sai.csv", bad, "text/csv")
    rejected = await api.wait_for_message(private, after=mark)
    assert "Dòng 2" in (rejected.text or "") and vi("import.nothing_saved") in (rejected.text or "")
    mark = api.mark()
    await api.send_document(private, secretary, "danh-sach.csv", good, "text/csv")
    done = await api.wait_for_message(private, text_has("Đã nhập 2 đảng viên"), after=mark)
    assert "Nguyễn Văn An" in (done.text or "") and "0912345678" not in (done.text or "")
    mark = api.mark()
    await api.send_text(private, secretary, "/dangvien")
    listing = await api.wait_for_message(private, after=mark)
    assert "Phạm Thị Bình — Đảng viên, Dự bị (chưa có tài khoản)" in (listing.text or "")


async def test_bad_input_over_http(api: FakeBotApi, chibo: ChiboBot) -> None:
    _, member, _ = await found_cell(api)
    private = await api.private_chat(member)
    mark = api.mark()
    await api.send_text(private, member, "/khongco")
    unknown = await api.wait_for_message(private, after=mark)
    assert unknown.text == vi("error.unknown_command", command="khongco")
    mark = api.mark()
    await api.send_text(private, member, "x" * (10 * 1024 * 1024))
    too_long = await api.wait_for_message(private, after=mark)
    assert "quá dài" in (too_long.text or "")
    mark = api.mark()
    await api.send_document(private, member, "a.csv", b"Ho va ten\nA", "text/csv")
    refused = await api.wait_for_message(private, after=mark)
    assert refused.text == vi("import.secretary_only")


async def test_an_internal_error_is_logged_and_the_user_told_plainly(
    api: FakeBotApi, chibo: ChiboBot, caplog: pytest.LogCaptureFixture
) -> None:
    secretary, _, _ = await found_cell(api)
    # The admin check fails at Telegram's side: an unexpected error inside a handler.
    api.fail_next("getChatMember", error_code=500, description="Internal Server Error", times=5)
    other = await api.add_group("Nhóm mới", admins=[secretary])
    mark = api.mark()
    await api.send_text(other, secretary, "/batdau Chi bộ X")
    told = await api.wait_for_message(other, after=mark)
    assert told.text == vi("error.internal")
    assert "Traceback" not in (told.text or "")
    assert any("error while handling update" in r.getMessage() for r in caplog.records)
    assert api.token not in caplog.text


async def test_chibo_run_answers_against_a_local_bot_api(api: FakeBotApi, tmp_path: Path) -> None:
    """The issue's 'done when': the real `chibo run` process, configured by environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIBO_")}
    env.update(
        CHIBO_TELEGRAM_TOKEN=api.token,
        CHIBO_TELEGRAM_BASE_URL=api.base_url,
        CHIBO_TELEGRAM_BASE_FILE_URL=api.base_file_url,
        CHIBO_DATA_KEYS=Fernet.generate_key().decode(),
        PYTHONPATH=str(ROOT),
    )
    log = io.StringIO()
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
        await api.wait_for_request("getUpdates", timeout=30, answered=False)
        secretary, member, group = await found_cell(api)
        mark = api.mark()
        await api.send_text(group, member, "/join")
        await api.wait_for_message(group, text_has("xin vào danh sách"), after=mark)
        mark = api.mark()
        await api.send_text(group, member, "/trogiup")
        await api.wait_for_message(group, text_has(""), after=mark)
        private = await api.private_chat(secretary)
        mark = api.mark()
        await api.send_text(private, secretary, "/hoso")
        await api.wait_for_message(private, text_has("Hồ sơ đảng viên"), after=mark)
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
        log.write(output.decode())
    assert process.returncode == 0, log.getvalue()
    assert api.token not in log.getvalue()
    assert (tmp_path / "data" / "chibo.db").is_file()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_chibo_run_in_webhook_mode_checks_the_secret(api: FakeBotApi, tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIBO_")}
    env.update(
        CHIBO_TELEGRAM_TOKEN=api.token,
        CHIBO_TELEGRAM_BASE_URL=api.base_url,
        CHIBO_TELEGRAM_BASE_FILE_URL=api.base_file_url,
        CHIBO_WEBHOOK_URL=f"http://127.0.0.1:{port}",
        CHIBO_WEBHOOK_PORT=str(port),
        CHIBO_WEBHOOK_SECRET="s3cret-value_1",
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
        registered = await api.wait_for_request("setWebhook", timeout=30)
        assert registered.params["url"] == f"http://127.0.0.1:{port}/telegram"
        user = await api.add_user("Lê Văn Nam")
        private = await api.private_chat(user)
        update = {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": private.to_dict(),
                "from": user.to_dict(),
                "text": "/trogiup",
                "entities": [{"type": "bot_command", "offset": 0, "length": 8}],
            },
        }
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            wrong = await client.post("/telegram", json=update)
            assert wrong.status_code == 403
            mark = api.mark()
            right = await client.post(
                "/telegram",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-value_1"},
            )
            assert right.status_code == 200
        reply = await api.wait_for_message(private, after=mark, timeout=10)
        assert reply.text == vi("help.private_stranger", name="Lê Văn Nam")
        assert len(api.sent_in(private)) == 1  # the forged call was not processed
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    assert api.token not in output.decode()


async def test_scheduled_meeting_reminds_the_group_on_time(
    api: FakeBotApi, chibo: ChiboBot, clock: ManualClock
) -> None:
    """Schedule in the group, confirm, move the injected clock, and the reminder arrives."""
    secretary, _, group = await found_cell(api)
    mark = api.mark()
    await api.send_text(group, secretary, "/lichhop 24/11 19:30 Hội trường KP5 | Họp tháng 11")
    confirm = await api.wait_for_message(group, text_has("19:30, Thứ Ba 24/11/2026"), after=mark)
    mark = api.mark()
    await api.tap(secretary, confirm, button_text=vi("meeting.button.save_once"))
    await api.wait_for_message(group, text_has("📢 Lịch họp chi bộ"), after=mark)
    # Due in 1 day (24/11 12:30 UTC minus a day); the clock starts on 22/11 12:00 UTC.
    mark = api.mark()
    clock.advance(timedelta(days=1, minutes=31))
    reminder = await api.wait_for_message(group, text_has("🔔 Nhắc lịch họp"), after=mark)
    assert "Hội trường KP5" in (reminder.text or "") and "1 ngày" in (reminder.text or "")
    await api.wait_until_idle()
    assert len([m for m in api.sent_in(group, after=mark) if "🔔" in (m.text or "")]) == 1


async def test_a_group_that_removed_the_bot_fails_its_reminders_and_the_secretary_is_told(
    api: FakeBotApi, chibo: ChiboBot, clock: ManualClock
) -> None:
    secretary, _, group = await found_cell(api)
    private = await api.private_chat(secretary)
    mark = api.mark()
    await api.send_text(private, secretary, "/lichhop 24/11 19:30 Hội trường KP5")
    confirm = await api.wait_for_message(private, text_has("Hội trường KP5"), after=mark)
    mark = api.mark()
    await api.tap(secretary, confirm, button_text=vi("meeting.button.save_once"))
    await api.wait_for_message(group, text_has("📢 Lịch họp chi bộ"), after=mark)
    await api.set_bot_status(group, "kicked", by=secretary)
    mark = api.mark()
    clock.advance(timedelta(days=1, minutes=31))
    notice = await api.wait_for_message(private, text_has("⚠️"), after=mark, timeout=10)
    assert notice.text == vi("reminders.chat_gone")
    assert [m for m in api.sent_in(group, after=mark)] == []


async def test_a_digit_typed_on_telegram_answers_the_newest_card(
    api: FakeBotApi, chibo: ChiboBot
) -> None:
    """Issue 14 on Telegram: a digit typed in answer to the bot follows the Zalo model (the
    first button is 1), and an act others see asks one confirmation first."""
    secretary, member, group = await found_cell(api)
    mark = api.mark()
    await api.send_text(group, member, "/thamgia")
    request = await api.wait_for_message(group, text_has("xin vào danh sách"), after=mark)
    # Chatter in the group that answers nobody is not a choice.
    mark = api.mark()
    await api.send_text(group, secretary, "1")
    await asyncio.sleep(0.3)
    assert api.sent_in(group, after=mark) == []
    mark = api.mark()
    await api.send_text(group, secretary, "1", reply_to_message=request)
    ask = await api.wait_for_message(group, text_has(vi("confirm.join")), after=mark)
    assert [label for label, _ in ask.buttons] == [
        vi("card.confirm_yes", label=vi("join.button.approve")),
        vi("card.confirm_no"),
    ]
    mark = api.mark()
    await api.send_text(group, secretary, "1", reply_to_message=ask)
    done = await api.wait_for_message(group, text_has("đã vào danh sách"), after=mark)
    assert (done.text or "").startswith("➡️ 1 — " + vi("card.confirm_yes", label=""))
    # The confirmation answered once: its numbers are now stale, never the request's again.
    mark = api.mark()
    await api.send_text(group, secretary, "2", reply_to_message=ask)
    stale = await api.wait_for_message(group, after=mark)
    assert (stale.text or "").startswith("⚠️ Danh sách này đã cũ")

    # «Thôi» tapped on a confirmation ends it: a digit typed under it afterwards is stale.
    newcomer = await api.add_user("Đỗ Thị Mai")
    api.chats[group.id].members[newcomer.id] = "member"  # she joins the group chat
    mark = api.mark()
    await api.send_text(group, newcomer, "/thamgia")
    again = await api.wait_for_message(group, text_has("xin vào danh sách"), after=mark)
    mark = api.mark()
    await api.send_text(group, secretary, "2", reply_to_message=again)  # «Từ chối»
    ask = await api.wait_for_message(group, text_has(vi("confirm.join")), after=mark)
    mark = api.mark()
    await api.tap(secretary, ask, button_text=vi("card.confirm_no"))
    await api.wait_until_idle()
    mark = api.mark()
    await api.send_text(group, secretary, "1", reply_to_message=ask)
    refused = await api.wait_for_message(group, after=mark)
    assert (refused.text or "").startswith("⚠️ Danh sách này đã cũ"), refused.text
