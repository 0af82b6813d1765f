"""The Zalo adapter's pieces: events to Inbound, numbered options and their answers, and the
outbox sender against the fake Zalo Bot API (its limits and errors)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.links import LinkSigner, TemporaryFiles
from bot.relay import PlatformSenders
from bot.zalo import ZaloAdapter, ZaloOutput, ZaloSender, strip_mention, to_inbound
from bot.zalo_client import MAX_TEXT, ZaloClient
from handlers.cards import NumberedCards, plain, typed_number
from handlers.catalog import build_registry
from handlers.context import Context, Services
from handlers.core import ChatKind, Choice, OutboundFile, Platform, Reply
from handlers.dispatch import Dispatcher
from handlers.i18n import Texts
from handlers.registry import Access, Command, Registry, Scope
from scheduler.clock import ManualClock
from scheduler.dispatcher import ChatUnavailable, PlatformDown, RetryLater
from storage.cells import CellRepository
from storage.choices import ANYONE, CardRepository
from storage.crypto import FieldCipher
from storage.fee_rules import load_fee_config
from storage.seen_messages import SeenMessages
from storage.usage import UsageRepository
from tests.conftest import START
from tests.support.fake_zalo_api import FakeZaloApi, running_fake_zalo_api

vi = Texts("vi")
BOT = "Chi bộ số"


def _event(text: str, *, group: bool = False, is_bot: bool = False, **extra: Any) -> dict[str, Any]:
    return {
        "event_name": extra.pop("event_name", "message.text.received"),
        "message": {
            "from": {"id": "u1", "display_name": "Lê Văn Nam", "is_bot": is_bot},
            "chat": {"id": "g1" if group else "u1", "chat_type": "GROUP" if group else "PRIVATE"},
            "text": text,
            "message_id": "m1",
            **extra,
        },
    }


def test_group_mentions_are_stripped_and_commands_found() -> None:
    inbound = to_inbound(_event(f"@{BOT} /thamgia@chibo Lê Văn Nam", group=True), BOT)
    assert inbound is not None
    assert inbound.platform is Platform.ZALO and inbound.chat_kind is ChatKind.GROUP
    assert (inbound.command, inbound.args, inbound.chat_id) == ("thamgia", "Lê Văn Nam", "g1")
    assert inbound.reply_to_bot  # in a Zalo group everything that reaches us is for us
    private = to_inbound(_event("xin chào"), BOT)
    assert private is not None and private.chat_kind is ChatKind.PRIVATE
    assert (private.command, private.text) == (None, "xin chào")
    assert strip_mention(f"@{BOT.upper()}   1", BOT) == "1"
    assert strip_mention("@Người khác 1", BOT) == "@Người khác 1"


def test_what_is_not_a_person_writing_is_ignored() -> None:
    assert to_inbound(_event("/trogiup", is_bot=True), BOT) is None
    assert to_inbound(_event("", event_name="message.sticker.received"), BOT) is None
    assert to_inbound({"event_name": "message.text.received"}, BOT) is None
    photo = to_inbound(_event("", event_name="message.image.received", caption="/trogiup"), BOT)
    assert photo is not None and photo.command == "trogiup"


def test_a_typed_number_is_read_only_in_the_ways_people_write_it() -> None:
    assert [typed_number(t) for t in ("2", " số 1. ", "3)", "Số 12")] == [2, 1, 3, 12]
    # Not an option number: other digits, a zero, three digits, words around it.
    assert [typed_number(t) for t in ("²", "٣", "0", "100", "1 2", "đồng ý 1", "")] == [None] * 7
    assert plain("❌ Từ chối") == plain("từ  CHỐI!") == "từ chối"


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZaloApi]:
    async with running_fake_zalo_api() as server:
        yield server


@pytest.fixture
async def output(
    zalo: FakeZaloApi, sqlite_engine: AsyncEngine, clock: ManualClock
) -> AsyncIterator[ZaloOutput]:
    client = ZaloClient(zalo.token, base_url=zalo.base_url)
    yield _output(client, sqlite_engine, clock)
    await client.aclose()


def _cards(engine: AsyncEngine, clock: ManualClock) -> NumberedCards:
    services = Services.over(
        engine,
        FieldCipher([Fernet.generate_key().decode()]),
        load_fee_config(),
        clock=clock,
        texts=vi,
        default_timezone="Asia/Ho_Chi_Minh",
    )
    return NumberedCards(build_registry(), services, CardRepository(engine), Platform.ZALO)


def _output(client: ZaloClient, engine: AsyncEngine, clock: ManualClock) -> ZaloOutput:
    return ZaloOutput(
        client,
        vi,
        clock,
        _cards(engine, clock),
        UsageRepository(engine),
        CellRepository(engine),
        bot_name=BOT,
        monthly_quota=3000,
        warn_percent=80,
        signer=LinkSigner(b"k" * 32, "https://chibo.example"),
        files=TemporaryFiles(timedelta(hours=1)),
    )


def test_replies_render_as_text_with_numbered_options(output: ZaloOutput) -> None:
    reply = Reply(
        "Chọn việc:",
        choices=((Choice("📋 Danh sách", "ml:0"), Choice("👤 Hồ sơ", "pf")),),
        continue_privately="hoso",
        file=OutboundFile("lich.ics", b"BEGIN:VCALENDAR"),
    )
    text = output.render(reply, in_group=True)
    assert "1. 📋 Danh sách\n2. 👤 Hồ sơ" in text
    assert vi("zalo.choose_group", bot=BOT, example=1) in text
    assert vi("zalo.continue_privately", command="hoso") in text
    assert "Tệp «lich.ics»" in text and "https://chibo.example/d/tmp." in text
    private = output.render(Reply("Viết tên:", ask_text=True), in_group=False)
    assert private == "Viết tên:"
    asked = output.render(Reply("Viết tên:", ask_text=True), in_group=True)
    assert asked.endswith(vi("zalo.answer_group", bot=BOT))


def test_a_link_choice_is_written_out_and_takes_no_number(output: ZaloOutput) -> None:
    reply = Reply(
        "Họp tối nay",
        choices=(
            (
                Choice("🙋 Xin vắng", "go:xinvang"),
                Choice("🎥 Vào họp", "", url="https://meet.example.org/kp5"),
            ),
        ),
    )
    text = output.render(reply, in_group=False)
    assert "🎥 Vào họp: https://meet.example.org/kp5" in text
    assert "1. 🙋 Xin vắng" in text and "2." not in text


async def test_outbox_sender_splits_long_texts_and_keeps_group_options(
    zalo: FakeZaloApi, output: ZaloOutput, sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    long_text = "\n\n".join(f"Đoạn {n}. " + "nội dung " * 60 for n in range(12))
    reply = Reply(long_text, choices=((Choice("🙋 Có mặt", "ci:5"),),))
    await ZaloSender(output).send("zalo", "g1", [reply])
    parts = zalo.sent_to("g1")
    assert len(parts) > 1 and all(len(part.text) <= MAX_TEXT for part in parts)
    [card] = await CardRepository(sqlite_engine).visible(
        platform="zalo", chat_id="g1", user_id="anyone-here"
    )
    assert card.audience == ANYONE and card.expires_at > clock.now()
    assert [(o.label, o.data, o.open) for o in card.options] == [("🙋 Có mặt", "ci:5", True)]
    assert await UsageRepository(sqlite_engine).sent("zalo", clock.now()) == len(parts)


async def test_outbox_sender_maps_zalo_errors(zalo: FakeZaloApi, output: ZaloOutput) -> None:
    sender = ZaloSender(output)
    zalo.fail_next("sendMessage", 429, "Quota exceeded", http_status=429)
    with pytest.raises(RetryLater):
        await sender.send("zalo", "g1", [Reply("Nhắc họp")])
    zalo.fail_next("sendMessage", 403, "Forbidden")  # ok:false inside HTTP 200
    with pytest.raises(ChatUnavailable):
        await sender.send("zalo", "g1", [Reply("Nhắc họp")])
    with pytest.raises(ValueError, match="cannot send"):
        await sender.send("telegram", "g1", [Reply("Nhắc họp")])
    zalo.fail_next("sendMessage", 502, "Bad Gateway", http_status=502)  # Zalo failing on its side
    with pytest.raises(PlatformDown, match="zalo 502"):
        await sender.send("zalo", "g1", [Reply("Nhắc họp")])
    assert zalo.sent == []


async def test_outbox_sender_calls_no_answer_the_platform_down(
    sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    def no_answer(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(no_answer)) as http:
        client = ZaloClient("1:secret", base_url="https://zalo.example", http=http)
        with pytest.raises(PlatformDown, match="zalo ReadTimeout"):
            await ZaloSender(_output(client, sqlite_engine, clock)).send(
                "zalo", "g1", [Reply("Nhắc họp")]
            )


async def test_outbox_sender_words_options_for_a_group_or_a_private_chat(
    zalo: FakeZaloApi, output: ZaloOutput, sqlite_engine: AsyncEngine
) -> None:
    await CellRepository(sqlite_engine).found_cell(
        platform="zalo",
        chat_id="g-linked",
        chat_title=None,
        cell_name="Chi bộ 1",
        timezone="Asia/Ho_Chi_Minh",
        secretary_name="Hoa",
        secretary_user_id="u-hoa",
        now=START,
    )
    reply = Reply("Điểm danh:", choices=((Choice("🙋 Có mặt", "ci:5"),),))
    await ZaloSender(output).send("zalo", "g-linked", [reply])
    await ZaloSender(output).send("zalo", "u-hoa", [reply])
    [in_group] = zalo.sent_to("g-linked")
    [in_private] = zalo.sent_to("u-hoa")
    assert vi("zalo.choose_group", bot=BOT, example=1) in in_group.text
    assert vi("zalo.choose_private", example=1) in in_private.text


async def test_a_reply_of_several_cards_is_numbered_as_one_list(
    zalo: FakeZaloApi, output: ZaloOutput, sqlite_engine: AsyncEngine
) -> None:
    """Two meetings, two options each: 1–2 under the first, 3–4 under the second, and one
    card of four options (so «3» is the second meeting's, never a dead "1. 2." list)."""
    meetings = [
        Reply(
            f"Họp tháng {month}",
            choices=((Choice("✏️ Sửa", f"me:{n}"), Choice("🗑 Hủy", f"mx:{n}")),),
        )
        for n, month in ((1, 11), (2, 12))
    ]
    await output.deliver(
        "u1", [Reply("Các cuộc họp sắp tới:"), *meetings], asker="u1", in_group=False
    )
    first, second, third = (m.text for m in zalo.sent_to("u1"))
    assert first == "Các cuộc họp sắp tới:"
    assert "1. ✏️ Sửa\n2. 🗑 Hủy" in second and vi("zalo.choose_private", example=1) not in second
    assert "3. ✏️ Sửa\n4. 🗑 Hủy" in third and vi("zalo.choose_private", example=3) in third
    [card] = await CardRepository(sqlite_engine).visible(
        platform="zalo", chat_id="u1", user_id="u1"
    )
    assert [(o.data, o.about) for o in card.options] == [
        ("me:1", "Họp tháng 11"),
        ("mx:1", "Họp tháng 11"),
        ("me:2", "Họp tháng 12"),
        ("mx:2", "Họp tháng 12"),
    ]


async def test_an_unexpected_error_gets_a_plain_sentence_on_zalo_too(
    zalo: FakeZaloApi,
    output: ZaloOutput,
    sqlite_engine: AsyncEngine,
    clock: ManualClock,
    cipher: FieldCipher,
) -> None:
    """A handler that fails (here one built to) must not leave the person without an answer."""

    async def broken(_context: Context) -> list[Reply]:
        raise RuntimeError("a fault nobody foresaw")

    registry = Registry()
    registry.command(Command("hong", "broken", broken, Access.ANYONE, Scope.ANY, "cmd.help"))
    services = Services.over(
        sqlite_engine,
        cipher,
        load_fee_config(),
        clock=clock,
        texts=vi,
        default_timezone="Asia/Ho_Chi_Minh",
    )
    cards = NumberedCards(registry, services, CardRepository(sqlite_engine), Platform.ZALO)
    adapter = ZaloAdapter(output, cards, SeenMessages(sqlite_engine), clock)
    adapter.attach(Dispatcher(registry, services), PlatformSenders())

    await adapter.on_event(_event("/hong"))

    assert [part.text for part in zalo.sent_to("u1")] == [vi("error.internal")]
