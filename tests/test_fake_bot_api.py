"""Tests for the local Telegram-compatible Bot API server in ``bot/playground/bot_api.py``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.playground.bot_api import (
    DEFAULT_TOKEN,
    FakeBotApi,
    FakeBotApiTimeout,
    buttons,
    parse_html,
    parse_markdown_v2,
    running_fake_bot_api,
)


@pytest.fixture
async def server() -> AsyncIterator[FakeBotApi]:
    async with running_fake_bot_api() as fake:
        yield fake
        assert fake.internal_errors == []


@pytest.fixture
async def bot(server: FakeBotApi) -> AsyncIterator[Bot]:
    async with Bot(
        server.token, base_url=server.base_url, base_file_url=server.base_file_url
    ) as ptb_bot:
        yield ptb_bot


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d)] for t, d in pairs])


# ------------------------------------------------------------------------------ raw HTTP


async def test_raw_http_protocol(server: FakeBotApi) -> None:
    api = f"{server.base_url}{server.token}"
    async with httpx.AsyncClient() as client:
        me = (await client.post(f"{api}/getMe")).json()
        assert me["ok"] is True
        assert me["result"]["id"] == 9_000_001
        assert me["result"]["is_bot"] is True
        assert me["result"]["username"] == "chibo_test_bot"
        assert me["result"]["first_name"] == "Chi bộ số"

        # methods are case-insensitive, GET with a query string works too
        assert (await client.get(f"{api}/getme")).json()["ok"] is True

        unknown = await client.post(f"{api}/frobnicate")
        assert unknown.status_code == 404
        assert unknown.json() == {
            "ok": False,
            "error_code": 404,
            "description": "Not Found: method not found",
        }

        wrong = await client.post(f"{server.base_url}999:WRONG/getMe")
        assert wrong.status_code == 401
        assert wrong.json()["description"] == "Unauthorized"

        alice = await server.add_user("Alice")
        # form encoding: non-strings JSON encoded, text kept as a string even if numeric
        form = await client.post(
            f"{api}/sendMessage",
            data={
                "chat_id": str(alice.id),
                "text": "123",
                "reply_markup": json.dumps(
                    {"inline_keyboard": [[{"text": "A", "url": "https://x.y"}]]}
                ),
            },
        )
        message = form.json()["result"]
        assert message["text"] == "123"
        assert message["chat"]["id"] == alice.id
        assert message["from"]["id"] == server.bot_id
        assert message["reply_markup"]["inline_keyboard"][0][0]["url"] == "https://x.y"

        # JSON body
        as_json = await client.post(f"{api}/sendMessage", json={"chat_id": alice.id, "text": "hi"})
        assert as_json.json()["result"]["message_id"] == message["message_id"] + 1

        missing = await client.post(f"{api}/sendMessage", json={"chat_id": -1, "text": "x"})
        assert missing.status_code == 400
        assert missing.json()["description"] == "Bad Request: chat not found"

    logged = server.calls("sendMessage")
    assert [call.status for call in logged] == [200, 200, 400]
    assert logged[0].params["chat_id"] == alice.id
    assert logged[0].params["text"] == "123"
    assert logged[0].params["reply_markup"]["inline_keyboard"][0][0]["text"] == "A"
    assert DEFAULT_TOKEN not in repr(server)


# ------------------------------------------------------------------------------ PTB Bot


async def test_get_me_and_send_message_with_keyboard(server: FakeBotApi, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == server.bot_id
    assert me.username == "chibo_test_bot"
    assert me.can_join_groups is True
    assert me.can_read_all_group_messages is False

    alice = await server.add_user("Alice", "Nguyễn", username="alice")
    assert alice.id > 2**31
    markup = keyboard(("Đồng ý", "yes"), ("Không", "no"))
    sent = await bot.send_message(alice.id, "Bạn có tham gia họp?", reply_markup=markup)
    assert sent.text == "Bạn có tham gia họp?"
    assert sent.reply_markup == markup
    assert sent.from_user is not None
    assert sent.from_user.id == server.bot_id

    stored = await server.wait_for_message(alice.id)
    assert stored.text == "Bạn có tham gia họp?"
    assert buttons(stored) == [("Đồng ý", "yes"), ("Không", "no")]
    assert stored.buttons == buttons(stored.data)
    assert server.sent_in(alice.id) == [stored]


async def test_send_message_errors(server: FakeBotApi, bot: Bot) -> None:
    alice = await server.add_user("Alice")
    stranger = await server.add_user("Bob", started_bot=False)

    with pytest.raises(BadRequest, match=r"(?i)Chat not found"):
        await bot.send_message(-100123, "hi")
    with pytest.raises(BadRequest, match=r"(?i)Message is too long"):
        await bot.send_message(alice.id, "x" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)Message text is empty"):
        await bot.send_message(alice.id, "   \n")
    with pytest.raises(Forbidden, match=r"(?i)bot can't initiate conversation with a user"):
        await bot.send_message(stranger.id, "hi")
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(alice.id, "hi", reply_markup=keyboard(("A", "x" * 65)))

    assert (await bot.send_message(alice.id, "x" * 4096)).text == "x" * 4096
    # after the user writes to the bot, it may answer
    await server.send_text(await server.private_chat(stranger), stranger, "/start")
    await bot.send_message(stranger.id, "xin chào")
    alice.blocked_bot = True
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(alice.id, "hi")

    group = await server.add_group("Chi bộ", members=[alice], bot_status="left")
    with pytest.raises(Forbidden, match=r"(?i)bot is not a member of the supergroup chat"):
        await bot.send_message(group.id, "hi")


async def test_html_and_markdown_are_parsed_like_telegram(server: FakeBotApi, bot: Bot) -> None:
    alice = await server.add_user("Alice")
    sent = await bot.send_message(
        alice.id, "  <b>Họp</b> chi bộ &amp; <a href='https://x.vn'>link</a>\n", parse_mode="HTML"
    )
    assert sent.text == "Họp chi bộ & link"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [
        ("bold", 0, 3),
        ("text_link", 13, 4),
    ]
    stored = server.sent_in(alice.id)[-1]
    assert stored.params["text"].startswith("  <b>Họp</b>")

    with pytest.raises(BadRequest, match=r"(?i)Unsupported start tag"):
        await bot.send_message(alice.id, "a<br>b", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)Unsupported start tag"):
        await bot.send_message(alice.id, "1 < 2", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)Can't find end tag"):
        await bot.send_message(alice.id, "<b>open", parse_mode=ParseMode.HTML)

    md = await bot.send_message(alice.id, r"*Đậm* và \. _nghiêng_", parse_mode="MarkdownV2")
    assert md.text == "Đậm và . nghiêng"
    assert [e.type for e in md.entities] == ["bold", "italic"]
    with pytest.raises(BadRequest, match=r"(?i)is reserved"):
        await bot.send_message(alice.id, "Họp lúc 9.30", parse_mode=ParseMode.MARKDOWN_V2)

    mention = await bot.send_message(
        alice.id, f'<a href="tg://user?id={alice.id}">Alice</a>', parse_mode="HTML"
    )
    assert mention.entities[0].type == "text_mention"
    assert mention.entities[0].user is not None
    assert mention.entities[0].user.id == alice.id


def test_parsers_directly() -> None:
    assert parse_html("<pre><code class='language-py'>x=1</code></pre>") == (
        "x=1",
        [{"type": "pre", "offset": 0, "length": 3, "language": "py"}],
    )
    text, entities = parse_html("😀 <i>ừ</i>")
    assert text == "😀 ừ"
    assert entities == [{"type": "italic", "offset": 3, "length": 1}]  # UTF-16 offsets
    assert parse_markdown_v2("[Trang](https://x.vn/a\\)b) `c*d`") == (
        "Trang c*d",
        [
            {"type": "text_link", "offset": 0, "length": 5, "url": "https://x.vn/a)b"},
            {"type": "code", "offset": 6, "length": 3},
        ],
    )
    assert parse_markdown_v2(">trích\n>dẫn\nhết")[1] == [
        {"type": "blockquote", "offset": 0, "length": 9}
    ]


async def test_get_updates_long_poll_and_offsets(server: FakeBotApi, bot: Bot) -> None:
    alice = await server.add_user("Alice")
    chat = await server.private_chat(alice)

    assert await bot.get_updates(timeout=0) == ()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    assert not poll.done()
    injected = await server.send_text(chat, alice, "/start@chibo_test_bot hello")
    updates = await asyncio.wait_for(poll, 2)
    assert len(updates) == 1
    update = updates[0]
    assert update.update_id == injected["update_id"]
    assert update.message is not None
    assert update.message.text == "/start@chibo_test_bot hello"
    assert update.message.entities[0].type == "bot_command"
    assert update.message.entities[0].length == len("/start@chibo_test_bot")
    assert update.message.from_user is not None
    assert update.message.from_user.id == alice.id

    # unconfirmed updates are returned again; confirming drops them
    assert len(await bot.get_updates(timeout=0)) == 1
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()
    await server.wait_until_idle()


async def test_tap_and_answer_callback_query(server: FakeBotApi, bot: Bot) -> None:
    alice = await server.add_user("Alice")
    await bot.send_message(alice.id, "Chọn", reply_markup=keyboard(("Có", "vote:yes")))
    message = await server.wait_for_message(alice.id)

    with pytest.raises(ValueError, match="no button"):
        await server.tap(alice, message, "vote:no")
    tapped = await server.tap(alice, message, button_text="Có")
    (update,) = await bot.get_updates(timeout=0)
    query = update.callback_query
    assert query is not None
    assert query.data == "vote:yes"
    assert query.from_user.id == alice.id
    assert query.message is not None
    assert query.message.message_id == message.message_id
    assert query.id == tapped["callback_query"]["id"]

    assert await bot.answer_callback_query(query.id, "Đã ghi nhận", show_alert=True)
    answer = await server.wait_for_callback_answer(tapped)
    assert answer.text == "Đã ghi nhận"
    assert answer.show_alert is True
    assert answer.data == "vote:yes"
    assert (await server.wait_for_callback_answer(alice)).callback_query_id == query.id
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query.id)


async def test_edit_and_delete(server: FakeBotApi, bot: Bot) -> None:
    alice = await server.add_user("Alice")
    sent = await bot.send_message(alice.id, "v1", reply_markup=keyboard(("A", "a")))
    edited = await bot.edit_message_text("v2", alice.id, sent.message_id)
    assert isinstance(edited, object)
    stored = server.messages[(alice.id, sent.message_id)]
    assert stored.text == "v2"
    assert stored.buttons == []  # no reply_markup on edit removes the keyboard
    assert "edit_date" in stored.data
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_text("v2", alice.id, sent.message_id)
    await bot.edit_message_reply_markup(
        alice.id, sent.message_id, reply_markup=keyboard(("B", "b"))
    )
    assert stored.buttons == [("B", "b")]
    assert await bot.delete_message(alice.id, sent.message_id)
    assert stored.deleted
    with pytest.raises(BadRequest, match=r"(?i)Message to edit not found"):
        await bot.edit_message_text("v3", alice.id, sent.message_id)


async def test_chat_members(server: FakeBotApi, bot: Bot) -> None:
    boss = await server.add_user("Boss")
    admin = await server.add_user("Admin")
    member = await server.add_user("Member")
    outsider = await server.add_user("Outsider")
    group = await server.add_group(
        "Chi bộ 1", admins=[admin], members=[member], creator=boss, bot_status="administrator"
    )
    assert group.id < -1_000_000_000_000
    statuses = {
        user.id: (await bot.get_chat_member(group.id, user.id)).status
        for user in (boss, admin, member, outsider)
    }
    assert statuses == {
        boss.id: "creator",
        admin.id: "administrator",
        member.id: "member",
        outsider.id: "left",
    }
    assert (await bot.get_chat_member(group.id, server.bot_id)).status == "administrator"
    admins = await bot.get_chat_administrators(group.id)
    assert {a.user.id for a in admins} == {boss.id, admin.id, server.bot_id}
    assert await bot.get_chat_member_count(group.id) == 4
    chat = await bot.get_chat(group.id)
    assert chat.title == "Chi bộ 1"
    assert chat.type == "supergroup"


async def test_documents_upload_and_download(server: FakeBotApi, bot: Bot) -> None:
    alice = await server.add_user("Alice")
    chat = await server.private_chat(alice)

    sent = await bot.send_document(
        alice.id, b"a,b\n1,2\n", filename="bao_cao.csv", caption="Báo cáo"
    )
    assert sent.document is not None
    assert sent.document.file_name == "bao_cao.csv"
    assert sent.document.file_size == 8
    assert sent.caption == "Báo cáo"
    stored = await server.wait_for_message(alice.id, lambda m: m.document is not None)
    assert server.file(stored.document["file_id"]).content == b"a,b\n1,2\n"  # type: ignore[index]

    # a user sends a file; the bot downloads it
    update = await server.send_document(
        chat, alice, "danh_sach.xlsx", b"PK\x03\x04binary\r\n--x", "application/vnd.ms-excel"
    )
    file_id = update["message"]["document"]["file_id"]
    tg_file = await bot.get_file(file_id)
    assert tg_file.file_size == len(b"PK\x03\x04binary\r\n--x")
    assert bytes(await tg_file.download_as_bytearray()) == b"PK\x03\x04binary\r\n--x"

    # resend by file_id
    again = await bot.send_document(alice.id, file_id)
    assert again.document is not None
    assert again.document.file_id == file_id

    big = await server.send_document(chat, alice, "big.bin", b"\0" * (20 * 1024 * 1024 + 1))
    with pytest.raises(BadRequest, match=r"(?i)File is too big"):
        await bot.get_file(big["message"]["document"]["file_id"])
    with pytest.raises(BadRequest, match=r"(?i)Invalid file_id"):
        await bot.get_file("nope")


async def test_files_kept_on_disk_outlive_the_server(tmp_path: Path) -> None:
    """With ``files_dir`` (the playground) a file_id the bot stored works after a restart."""
    folder = tmp_path / "files"
    async with running_fake_bot_api(files_dir=folder) as first:
        alice = await first.add_user("Alice", user_id=7_000_000_001)
        chat = await first.private_chat(alice)
        update = await first.send_document(
            chat, alice, "Nghị quyết.pdf", b"%PDF-1.4", "application/pdf"
        )
        file_id = update["message"]["document"]["file_id"]
    async with running_fake_bot_api(files_dir=folder) as second:
        alice = await second.add_user("Alice", user_id=7_000_000_001)
        async with Bot(
            second.token, base_url=second.base_url, base_file_url=second.base_file_url
        ) as ptb_bot:
            tg_file = await ptb_bot.get_file(file_id)
            assert bytes(await tg_file.download_as_bytearray()) == b"%PDF-1.4"
            resent = await ptb_bot.send_document(alice.id, file_id)
            assert resent.document is not None and resent.document.file_name == "Nghị quyết.pdf"
        chat = await second.private_chat(alice)
        newer = await second.send_document(chat, alice, "khác.txt", b"x", "text/plain")
        assert newer["message"]["document"]["file_id"] != file_id
    assert len(list(folder.iterdir())) == 3  # two files and their index


async def test_commands_per_scope(server: FakeBotApi, bot: Bot) -> None:
    await bot.set_my_commands(
        [BotCommand("start", "Bắt đầu"), BotCommand("help", "Trợ giúp")],
        scope=BotCommandScopeAllPrivateChats(),
    )
    await bot.set_my_commands(
        [BotCommand("setup", "Thiết lập chi bộ")], scope=BotCommandScopeAllGroupChats()
    )
    await bot.set_my_commands([BotCommand("start", "Start")], language_code="en")
    assert server.commands_for("all_private_chats") == [("start", "Bắt đầu"), ("help", "Trợ giúp")]
    assert server.commands_for({"type": "all_group_chats"}) == [("setup", "Thiết lập chi bộ")]
    assert server.commands_for("default", "en") == [("start", "Start")]
    assert server.commands_for("default") == []
    group_commands = await bot.get_my_commands(scope=BotCommandScopeAllGroupChats())
    assert [c.command for c in group_commands] == ["setup"]
    await bot.delete_my_commands(scope=BotCommandScopeAllGroupChats())
    assert server.commands_for("all_group_chats") == []
    call = server.calls("setMyCommands")[1]
    assert call.params["scope"] == {"type": "all_group_chats"}
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])


async def test_privacy_mode_in_groups(server: FakeBotApi, bot: Bot) -> None:
    alice = await server.add_user("Alice")
    group = await server.add_group("Chi bộ", members=[alice])
    await server.send_text(group, alice, "chuyện phiếm")
    await server.send_text(group, alice, "/help@other_bot")
    command = await server.send_text(group, alice, "/help")
    prompt = await bot.send_message(group.id, "Tên?", reply_markup=ForceReply(selective=True))
    assert prompt.reply_markup is None  # Telegram only echoes inline keyboards
    stored_prompt = server.messages[(group.id, prompt.message_id)]
    assert stored_prompt.is_force_reply
    answer = await server.send_text(group, alice, "Nguyễn Thị A", reply_to_message=stored_prompt)

    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [command["update_id"], answer["update_id"]]
    reply = updates[1].message
    assert reply is not None
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.message_id == prompt.message_id
    assert len(server.undelivered) == 2

    outsider = await server.add_user("Eve")
    with pytest.raises(ValueError, match="not a member"):
        await server.send_text(group, outsider, "/help")


async def test_polls_and_votes(server: FakeBotApi, bot: Bot) -> None:
    alice = await server.add_user("Alice")
    group = await server.add_group("Chi bộ", members=[alice])
    sent = await bot.send_poll(group.id, "Biểu quyết?", ["Tán thành", "Không"], is_anonymous=False)
    assert sent.poll is not None
    assert sent.poll.options[0].text == "Tán thành"
    stored = await server.wait_for_message(group, lambda m: m.poll is not None)
    assert server.votes_of(alice, stored) == []
    answer_update, poll_update = await server.vote(alice, stored, [0])
    assert server.votes_of(alice, stored) == [0]
    updates = await bot.get_updates(timeout=0)
    assert updates[0].poll_answer is not None
    assert updates[0].poll_answer.option_ids == (0,)
    assert updates[1].poll is not None
    assert updates[1].poll.options[0].voter_count == 1
    assert poll_update["poll"]["total_voter_count"] == 1
    assert answer_update["poll_answer"]["user"]["id"] == alice.id
    closed = await bot.stop_poll(group.id, sent.message_id)
    assert closed.is_closed


async def test_fixed_ids_for_people_and_groups_that_come_back(server: FakeBotApi) -> None:
    """The playground lays the same people and group out again after every restart."""
    alice = await server.add_user("Alice", user_id=7_000_000_001)
    group = await server.add_group("Chi bộ", members=[alice], chat_id=-1_009_000_000_001)
    assert (alice.id, group.id) == (7_000_000_001, -1_009_000_000_001)
    assert server.user(7_000_000_001) is alice and server.chat(group.id) is group
    with pytest.raises(ValueError):
        await server.add_user("Bob", user_id=alice.id)
    for taken in (group.id, 5):
        with pytest.raises(ValueError):
            await server.add_group("Khác", chat_id=taken)


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_injected_errors_and_waiting_helpers(server: FakeBotApi, bot: Bot) -> None:
    alice = await server.add_user("Alice")
    server.fail_next("sendMessage", retry_after=3)
    with pytest.raises(RetryAfter):
        await bot.send_message(alice.id, "hi")
    server.fail_next("getMe", 401, "Unauthorized")
    with pytest.raises(InvalidToken):
        await bot.get_me()

    mark = server.mark()
    await bot.send_message(alice.id, "một")
    with pytest.raises(FakeBotApiTimeout, match="no matching bot message"):
        await server.wait_for_message(alice.id, lambda m: m.text == "hai", timeout=0.2, after=mark)
    call = await server.wait_for_request("sendMessage", after=mark)
    assert call.ok
    assert call.result["text"] == "một"
    await server.wait_until_idle()


# ------------------------------------------------------------------------------ Application


async def test_real_application_polls_the_fake(server: FakeBotApi) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(
            update.effective_chat.id,
            "Chào mừng!",
            reply_markup=keyboard(("Tham gia", "join")),
        )

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("Đã tham gia")
        await query.edit_message_text("Bạn đã tham gia chi bộ.")

    async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        assert message.document is not None
        data = await (await message.document.get_file()).download_as_bytearray()
        await message.reply_text(f"Đã nhận {len(data)} byte", do_quote=True)

    app: Application = (  # type: ignore[type-arg]
        ApplicationBuilder()
        .token(server.token)
        .base_url(server.base_url)
        .base_file_url(server.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(on_button))
    app.add_handler(MessageHandler(filters.Document.ALL, on_document))

    alice = await server.add_user("Alice", username="alice")
    chat = await server.private_chat(alice)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=2)
        try:
            mark = server.mark()
            await server.send_text(chat, alice, "/start")
            welcome = await server.wait_for_message(chat, after=mark)
            assert welcome.text == "Chào mừng!"

            tapped = await server.tap(alice, welcome, "join")
            answer = await server.wait_for_callback_answer(tapped)
            assert answer.text == "Đã tham gia"
            await server.wait_for_request("editMessageText")
            assert welcome.text == "Bạn đã tham gia chi bộ."
            assert welcome.buttons == []

            mark = server.mark()
            await server.send_document(chat, alice, "ds.csv", b"12345", "text/csv")
            receipt = await server.wait_for_message(chat, after=mark)
            assert receipt.text == "Đã nhận 5 byte"
            assert receipt.data["reply_to_message"]["document"]["file_name"] == "ds.csv"

            mark = server.mark()
            await server.send_text(chat, alice, "không phải lệnh")
            await server.wait_until_idle()
            assert server.sent_in(chat, after=mark) == []
        finally:
            await app.updater.stop()
            await app.stop()
    assert server.calls("deleteWebhook")


async def test_multipart_filenames_and_polling_conflicts(server: FakeBotApi, bot: Bot) -> None:
    alice = await server.add_user("Alice")
    name = 'Báo "cáo" quý\\1.csv'
    sent = await bot.send_document(alice.id, "dòng 1\r\n--\r\n".encode(), filename=name)
    assert sent.document is not None
    assert sent.document.file_name == name
    assert server.file(sent.document.file_id).content == "dòng 1\r\n--\r\n".encode()

    # PTB's get_updates pool has a single connection, so poll concurrently with a second Bot
    async with Bot(server.token, base_url=server.base_url) as other:
        first = asyncio.create_task(bot.get_updates(timeout=5))
        await server.wait_for_request("getUpdates", answered=False)  # first long poll arrived
        second = asyncio.create_task(
            other.get_updates(timeout=5, allowed_updates=["callback_query"])
        )
        with pytest.raises(Conflict):
            await asyncio.wait_for(first, 2)
        await server.send_text(await server.private_chat(alice), alice, "/start")  # filtered out
        await bot.send_message(alice.id, "x", reply_markup=keyboard(("A", "a")))
        tapped = await server.tap(alice, server.sent[-1], "a")
        (update,) = await asyncio.wait_for(second, 2)
    assert update.update_id == tapped["update_id"]
    assert server.allowed_updates == ["callback_query"]
