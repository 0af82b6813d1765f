"""/lienket and the storage behind one cell on two platforms: link codes, a second group,
numbered choices and the monthly message count. Handlers through the real dispatcher on a real
SQLite file; repositories also on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.zalo import ZaloGateway
from handlers.core import ChatKind, Inbound, Platform, Reply
from handlers.i18n import Texts
from scheduler.clock import ManualClock
from storage.audit import Actor
from storage.cells import CellRepository
from storage.choices import ANYONE, Card, CardOption, CardRepository
from storage.crypto import FieldCipher
from storage.errors import AlreadyRegistered
from storage.linking import (
    ATTEMPT_WINDOW,
    WRONG_CODES_ALLOWED,
    LinkAttemptsExceeded,
    LinkCodeInvalid,
    LinkRepository,
    PlatformAlreadyLinked,
    normalize_code,
)
from storage.meetings import MeetingDetails
from storage.models import MeetingKind
from storage.schema import audit_log, chats, identities, link_attempts, link_codes, outbox
from storage.usage import UsageRepository
from tests.conftest import START
from tests.support.harness import Harness, Person, texts_of

GROUP = "-100111"
ZALO_GROUP = "g-zalo-1"
vi = Texts("vi")


@pytest.fixture
def harness(sqlite_engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock) -> Harness:
    return Harness(sqlite_engine, cipher, clock)


async def on_zalo(
    harness: Harness,
    user_id: str,
    text: str,
    *,
    group: str | None = None,
    name: str = "Hoa",
    choice: str | None = None,
) -> list[Reply]:
    command, args = None, ""
    if text.startswith("/"):
        head, _, args = text[1:].partition(" ")
        command = head
    inbound = Inbound(
        platform=Platform.ZALO,
        chat_id=group or user_id,
        chat_kind=ChatKind.GROUP if group else ChatKind.PRIVATE,
        user_id=user_id,
        user_name=name,
        text=text,
        command=command,
        args=args.strip(),
        choice=choice,
    )
    return await harness.dispatcher.handle(inbound, ZaloGateway())


async def cell_with_member(harness: Harness) -> tuple[Person, Person]:
    secretary, member = harness.person("Trần Thị Hoa"), harness.person("Lê Văn Nam")
    harness.platform.admins[GROUP] = {secretary.user_id}
    await harness.say(secretary, "/batdau Chi bộ KP5", group=GROUP)
    await harness.say(member, "/thamgia", group=GROUP)
    pending = await harness.services.members.by_identity("telegram", member.user_id)
    assert pending is not None
    await harness.tap(secretary, f"jn:{pending.id}:ok", group=GROUP)
    return secretary, member


def code_in(replies: list[Reply]) -> str:
    text = texts_of(replies)
    digits = normalize_code(text.split("Mã liên kết của đồng chí: ")[1].split("\n")[0])
    assert digits is not None
    return digits


async def count(engine: AsyncEngine, table: Table) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())


async def test_a_member_links_a_zalo_account_with_a_one_time_code(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    _secretary, member = await cell_with_member(harness)
    replies = await harness.say(member, "/lienket")
    code = code_in(replies)
    assert "mở Zalo" in texts_of(replies)
    done = await on_zalo(harness, "z-nam", f"/lienket {code[:4]} {code[4:]}")
    assert texts_of(done) == vi("link.done", name="Lê Văn Nam", cell="Chi bộ KP5")
    linked = await harness.services.members.by_identity("zalo", "z-nam")
    original = await harness.services.members.by_identity("telegram", member.user_id)
    assert linked is not None and original is not None and linked.id == original.id
    # Used up: another Zalo account cannot take the same code.
    again = await on_zalo(harness, "z-other", f"/lienket {code}")
    assert texts_of(again) == vi("link.bad_code")
    assert await harness.services.members.by_identity("zalo", "z-other") is None
    async with sqlite_engine.connect() as connection:
        rows = (
            await connection.execute(
                select(audit_log.c.action, audit_log.c.details).where(
                    audit_log.c.action.like("member.link%")
                    | (audit_log.c.action == "member.account_linked")
                )
            )
        ).all()
    assert [(action, details) for action, details in rows] == [
        ("member.link_code_made", {}),
        ("member.account_linked", {"platform": "zalo"}),
    ]
    assert await count(sqlite_engine, link_codes) == 0


async def test_expired_malformed_and_replaced_codes_link_nothing(
    harness: Harness, clock: ManualClock
) -> None:
    _secretary, member = await cell_with_member(harness)
    first = code_in(await harness.say(member, "/lienket"))
    second = code_in(await harness.say(member, "/lienket"))
    for attempt in (first, "abc", "1234", "1234 5678 9", "١٢٣٤٥٦٧٨"):
        if attempt == second:
            continue
        replies = await on_zalo(harness, "z-nam", f"/lienket {attempt}")
        assert texts_of(replies) == vi("link.bad_code"), attempt
    clock.advance(timedelta(minutes=16))
    assert texts_of(await on_zalo(harness, "z-nam", f"/lienket {second}")) == vi("link.bad_code")
    assert await harness.services.members.by_identity("zalo", "z-nam") is None


async def test_link_refuses_a_second_account_on_the_same_platform_and_known_accounts(
    harness: Harness,
) -> None:
    secretary, member = await cell_with_member(harness)
    await on_zalo(harness, "z-nam", f"/lienket {code_in(await harness.say(member, '/lienket'))}")
    code = code_in(await harness.say(member, "/lienket"))
    taken = await on_zalo(harness, "z-nam-2", f"/lienket {code}")
    assert texts_of(taken) == vi("link.platform_taken", platform="Zalo")
    # An account that already is a member (here: Nam's Zalo) cannot take someone else's code.
    hoa_code = code_in(await harness.say(secretary, "/lienket"))
    known = await on_zalo(harness, "z-nam", f"/lienket {hoa_code}")
    assert texts_of(known) == vi("link.already_member", name="Lê Văn Nam")
    assert await harness.services.members.by_identity("zalo", "z-nam-2") is None


async def test_link_needs_a_private_chat_and_a_member_to_make_a_code(harness: Harness) -> None:
    secretary, _member = await cell_with_member(harness)
    in_group = await harness.say(secretary, "/lienket", group=GROUP)
    assert texts_of(in_group) == vi("error.private_only")
    stranger = await on_zalo(harness, "z-nobody", "/lienket")
    assert texts_of(stranger) == vi("error.not_member")


async def test_a_linked_secretary_brings_a_zalo_group_to_her_cell_once(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, member = await cell_with_member(harness)
    await on_zalo(harness, "z-hoa", f"/lienket {code_in(await harness.say(secretary, '/lienket'))}")
    await on_zalo(harness, "z-nam", f"/lienket {code_in(await harness.say(member, '/lienket'))}")
    # A plain member cannot link a group to the cell.
    refused = await on_zalo(harness, "z-nam", "/batdau", group=ZALO_GROUP)
    assert texts_of(refused) == vi("error.already_registered")
    linked = await on_zalo(harness, "z-hoa", "/batdau", group=ZALO_GROUP)
    assert texts_of(linked) == vi("setup.second_group", cell="Chi bộ KP5")
    # One group per platform: a second Zalo group is refused and stays unlinked.
    second = await on_zalo(harness, "z-hoa", "/batdau", group="g-zalo-2")
    assert texts_of(second) == vi("setup.cell_has_group_here", cell="Chi bộ KP5")
    async with sqlite_engine.connect() as connection:
        groups = (await connection.execute(select(chats.c.platform, chats.c.external_id))).all()
    assert sorted(tuple(row) for row in groups) == [("telegram", GROUP), ("zalo", ZALO_GROUP)]
    # In the Zalo group, Nam is a member of the cell like in the Telegram group.
    help_text = texts_of(await on_zalo(harness, "z-nam", "/trogiup", group=ZALO_GROUP))
    assert help_text.startswith(
        vi.on("zalo")("help.group_member", name="Lê Văn Nam", cell="Chi bộ KP5")
    )
    assert vi("help.zalo_group") in help_text
    # Announcements made on Telegram name the Zalo group's platform.
    replies = await harness.say(secretary, "/lichhop 24/11 19:30 Hội trường KP5", group=GROUP)
    save = next(c.data for r in replies for row in r.choices for c in row if "Lưu" in c.label)
    told = await harness.tap(secretary, save, group=GROUP)
    targets = {(r.platform, r.chat_id) for r in told if "📢" in r.text}
    assert targets == {(Platform.TELEGRAM, GROUP), (Platform.ZALO, ZALO_GROUP)}


async def test_feedback_from_zalo_reaches_a_secretary_who_only_uses_telegram(
    harness: Harness,
) -> None:
    secretary, member = await cell_with_member(harness)
    await on_zalo(harness, "z-nam", f"/lienket {code_in(await harness.say(member, '/lienket'))}")
    await on_zalo(harness, "z-nam", "/gopy")
    await on_zalo(harness, "z-nam", "", choice="gk:proposal")
    await on_zalo(harness, "z-nam", "", choice="gs:named")
    sent = await on_zalo(harness, "z-nam", "Đề nghị sửa đèn đường.")
    told = [reply for reply in sent if "Đề nghị sửa đèn đường." in reply.text]
    assert [(r.platform, r.chat_id) for r in told] == [(Platform.TELEGRAM, secretary.user_id)]
    # The secretary answers on Telegram: the member hears it on Telegram, where he has an
    # account too (one message per person, on the platform the answer came from).
    item = next(c.data for r in told for row in r.choices for c in row)
    card = await harness.tap(secretary, item)
    step = next(
        c.data for r in card for row in r.choices for c in row if c.data.endswith("answered")
    )
    await harness.tap(secretary, step)
    answered = await harness.say(secretary, "Chi bộ đồng ý.")
    to_member = [r for r in answered if "Chi bộ đồng ý." in r.text and r.chat_id]
    assert [(r.platform, r.chat_id) for r in to_member] == [(Platform.TELEGRAM, member.user_id)]


async def test_founding_a_new_cell_from_zalo_is_open_to_the_first_person(
    harness: Harness,
) -> None:
    founded = await on_zalo(harness, "z-first", "/batdau Chi bộ KP7", group=ZALO_GROUP, name="An")
    assert "Đã lập chi bộ «Chi bộ KP7»" in texts_of(founded)
    again = await on_zalo(harness, "z-second", "/batdau Chi bộ khác", group=ZALO_GROUP)
    assert texts_of(again) == vi("setup.already_linked_named", cell="Chi bộ KP7")


async def test_guessing_link_codes_is_stopped_per_account(
    harness: Harness, clock: ManualClock
) -> None:
    _secretary, member = await cell_with_member(harness)
    code = code_in(await harness.say(member, "/lienket"))
    wrong = "1" * 8 if code != "1" * 8 else "2" * 8
    for _ in range(WRONG_CODES_ALLOWED):
        assert texts_of(await on_zalo(harness, "z-guess", f"/lienket {wrong}")) == vi(
            "link.bad_code"
        )
    blocked = vi("link.too_many_attempts", minutes=60)
    assert texts_of(await on_zalo(harness, "z-guess", f"/lienket {wrong}")) == blocked
    # Past the allowance even the right code is refused, and says when to try again.
    clock.advance(timedelta(minutes=20))
    right = await on_zalo(harness, "z-guess", f"/lienket {code}")
    assert texts_of(right) == vi("link.too_many_attempts", minutes=40)
    assert await harness.services.members.by_identity("zalo", "z-guess") is None
    # Another account is not held back by this one's guesses.
    assert texts_of(await on_zalo(harness, "z-other", f"/lienket {wrong}")) == vi("link.bad_code")
    # Once the window has passed, a fresh code links.
    clock.advance(ATTEMPT_WINDOW - timedelta(minutes=20))
    fresh = code_in(await harness.say(member, "/lienket"))
    done = await on_zalo(harness, "z-guess", f"/lienket {fresh}")
    assert texts_of(done) == vi("link.done", name="Lê Văn Nam", cell="Chi bộ KP5")


# --- repositories, on SQLite and PostgreSQL ------------------------------------------------


async def _cell_and_secretary(engine: AsyncEngine) -> tuple[int, int]:
    cell, secretary = await CellRepository(engine).found_cell(
        platform="zalo",
        chat_id="g1",
        chat_title=None,
        cell_name="Chi bộ 1",
        timezone="Asia/Ho_Chi_Minh",
        secretary_name="Hoa",
        secretary_user_id="z-hoa",
        now=START,
    )
    return cell.id, secretary.id


async def test_link_repository_redeems_once(engine: AsyncEngine) -> None:
    cell_id, member_id = await _cell_and_secretary(engine)
    links = LinkRepository(engine)
    actor = Actor("zalo:z-hoa", member_id)
    code = await links.make_code(
        member_id=member_id, cell_id=cell_id, actor=actor, now=START, ttl=timedelta(minutes=5)
    )
    with pytest.raises(PlatformAlreadyLinked):
        await links.redeem(code=code, platform="zalo", user_id="z-new", chat_id="z-new", now=START)
    await CellRepository(engine).found_cell(
        platform="telegram",
        chat_id="-100",
        chat_title=None,
        cell_name="Chi bộ 2",
        timezone="Asia/Ho_Chi_Minh",
        secretary_name="Lan",
        secretary_user_id="77",
        now=START,
    )
    with pytest.raises(AlreadyRegistered):  # Lan's Telegram account is hers
        await links.redeem(code=code, platform="telegram", user_id="77", chat_id="77", now=START)
    with pytest.raises(LinkCodeInvalid):
        later = START + timedelta(minutes=5)
        await links.redeem(code=code, platform="telegram", user_id="42", chat_id="42", now=later)
    linked = await links.redeem(
        code=code, platform="telegram", user_id="42", chat_id="42", now=START
    )
    assert (linked.member_id, linked.cell_id) == (member_id, cell_id)
    assert await links.platforms_of(member_id) == ["zalo", "telegram"]
    with pytest.raises(LinkCodeInvalid):
        await links.redeem(code=code, platform="telegram", user_id="43", chat_id="43", now=START)
    assert await count(engine, identities) == 3


async def test_cards_come_newest_first_and_a_new_card_ends_confirmations(
    engine: AsyncEngine,
) -> None:
    cards = CardRepository(engine)
    expires = START + timedelta(hours=1)
    key = {"platform": "zalo", "chat_id": "g1"}

    def option(label: str, data: str, *, is_open: bool = False) -> CardOption:
        return CardOption(label, data, is_open, "")

    async def show(audience: str, *options: CardOption, confirming: bool = False) -> None:
        await cards.show(
            **key,
            audience=audience,
            options=list(options),
            text="",
            expires_at=expires,
            now=START,
            confirming=confirming,
        )

    def labels(found: list[Card]) -> list[list[str]]:
        return [[o.label for o in card.options] for card in found]

    await show(ANYONE, option("Có mặt", "ci:1"))
    await show("u1", option("A", "a"))
    await show("u2", option("B", "b"))  # u2's own: not visible to u1
    await show("u3", option("C", "c"), option("Đồng ý", "jn:1:ok", is_open=True))
    assert labels(await cards.visible(**key, user_id="u1")) == [["C", "Đồng ý"], ["A"], ["Có mặt"]]
    await show("u1", option("Xác nhận", "my:1"), confirming=True)
    await cards.show(
        platform="zalo",
        chat_id="u1",
        audience="u1",
        options=[option("Hồ sơ", "pf")],
        text="",
        expires_at=expires,
        now=START,
    )
    # A card shown to u1 anywhere ends u1's confirmation in the group: it stays the newest
    # (so its number is stale, not an older card's) but it has expired.
    [ended, *_] = await cards.visible(**key, user_id="u1")
    assert (ended.confirming, ended.expires_at) == (True, START)
    await show("u1", option("Xác nhận", "my:1"), confirming=True)
    [newest, *_] = await cards.visible(**key, user_id="u1")
    assert newest.expires_at == expires
    await cards.expire(newest.id, START)
    [answered, *_] = await cards.visible(**key, user_id="u1")
    assert (answered.id, answered.expires_at) == (newest.id, START)
    # A card others may answer, shown in the chat, ends everyone's confirmation there.
    await show("u1", option("Xác nhận", "my:1"), confirming=True)
    await show(ANYONE, option("Đã đọc", "dr:1"))
    [read, confirmation, *_] = await cards.visible(**key, user_id="u1")
    assert labels([read]) == [["Đã đọc"]] and confirmation.expires_at == START


async def test_usage_counts_per_month_and_warns_the_secretary_once(engine: AsyncEngine) -> None:
    await _cell_and_secretary(engine)
    usage = UsageRepository(engine)
    first = await usage.count(platform="zalo", messages=3, now=START, warn_at=5, notice="!")
    assert (first.sent, first.warned_now) == (3, False)
    second = await usage.count(platform="zalo", messages=2, now=START, warn_at=5, notice="!")
    assert (second.sent, second.warned_now) == (5, True)
    third = await usage.count(platform="zalo", messages=1, now=START, warn_at=5, notice="!")
    assert (third.sent, third.warned_now) == (6, False)
    next_month = START + timedelta(days=31)
    assert await usage.sent("zalo", next_month) == 0
    assert await usage.sent("zalo", START) == 6
    async with engine.connect() as connection:
        rows = (await connection.execute(select(outbox.c.chat_id, outbox.c.payload))).all()
    assert [tuple(row) for row in rows] == [("z-hoa", {"type": "text", "text": "!"})]


async def test_private_reminders_go_once_per_person_with_two_accounts(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, member = await cell_with_member(harness)
    await on_zalo(harness, "z-nam", f"/lienket {code_in(await harness.say(member, '/lienket'))}")
    nam = await harness.services.members.by_identity("zalo", "z-nam")
    assert nam is not None
    meetings = harness.services.meetings
    actor = Actor("test", None)
    await meetings.set_private_reminders(
        member_id=nam.id, cell_id=nam.cell_id, enabled=True, actor=actor, now=START
    )
    await meetings.create(
        cell_id=nam.cell_id,
        details=MeetingDetails(
            kind=MeetingKind.REGULAR,
            title="Họp tháng 12",
            starts_at=START + timedelta(days=10),
            place="Hội trường",
            online_url=None,
            agenda="",
        ),
        actor=actor,
        now=START,
    )
    async with sqlite_engine.connect() as connection:
        rows = (await connection.execute(select(outbox.c.platform, outbox.c.chat_id))).all()
    targets = {tuple(row) for row in rows}
    assert targets == {("telegram", GROUP), ("telegram", member.user_id)}
    assert secretary.user_id not in {chat for _, chat in targets}


async def test_secretary_accounts_prefer_the_platform_asked_for(engine: AsyncEngine) -> None:
    cell_id, member_id = await _cell_and_secretary(engine)  # on Zalo only
    links = LinkRepository(engine)
    assert await links.secretary_accounts(cell_id, prefer="telegram") == [("zalo", "z-hoa")]
    actor = Actor("zalo:z-hoa", member_id)
    code = await links.make_code(
        member_id=member_id, cell_id=cell_id, actor=actor, now=START, ttl=timedelta(minutes=5)
    )
    await links.redeem(code=code, platform="telegram", user_id="42", chat_id="42", now=START)
    assert await links.secretary_accounts(cell_id, prefer="telegram") == [("telegram", "42")]
    assert await links.secretary_accounts(cell_id, prefer="zalo") == [("zalo", "z-hoa")]


def data_of(replies: list[Reply], label: str) -> str:
    return next(c.data for r in replies for row in r.choices for c in row if c.label == label)


async def test_an_absence_asked_on_zalo_reaches_a_secretary_on_telegram_and_back(
    harness: Harness,
) -> None:
    secretary, member = await cell_with_member(harness)
    await on_zalo(harness, "z-nam", f"/lienket {code_in(await harness.say(member, '/lienket'))}")
    replies = await harness.say(secretary, "/lichhop 24/11 19:30 Hội trường KP5", group=GROUP)
    await harness.tap(secretary, data_of(replies, vi("meeting.button.save_once")), group=GROUP)
    home = await on_zalo(harness, "z-nam", "/xinvang")
    draft = await on_zalo(harness, "z-nam", "", choice=data_of(home, vi("absence.button.sick")))
    sent = await on_zalo(harness, "z-nam", "", choice=data_of(draft, vi("absence.button.send")))
    cards = [r for r in sent if r.chat_id is not None]
    assert [(r.platform, r.chat_id) for r in cards] == [(Platform.TELEGRAM, secretary.user_id)]
    decided = await harness.tap(secretary, data_of(cards, vi("absence.button.approve")))
    told = [r for r in decided if r.chat_id is not None]
    # Nam has accounts on both; the answer came from Telegram, so he hears it there, once.
    assert [(r.platform, r.chat_id) for r in told] == [(Platform.TELEGRAM, member.user_id)]


async def test_wrong_codes_are_counted_per_account_and_per_chat_even_at_once(
    engine: AsyncEngine,
) -> None:
    cell_id, member_id = await _cell_and_secretary(engine)
    links = LinkRepository(engine)
    code = await links.make_code(
        member_id=member_id,
        cell_id=cell_id,
        actor=Actor("zalo:z-hoa", member_id),
        now=START,
        ttl=timedelta(minutes=15),
    )
    wrong = "1" * 8 if code != "1" * 8 else "2" * 8

    async def attempt(user_id: str, chat_id: str, guess: str = wrong) -> str:
        try:
            await links.redeem(
                code=guess, platform="telegram", user_id=user_id, chat_id=chat_id, now=START
            )
        except LinkCodeInvalid:
            return "wrong"
        except LinkAttemptsExceeded as blocked:
            assert blocked.until == START + ATTEMPT_WINDOW
            return "blocked"
        return "linked"

    # Ten guesses at once from one account: the allowance holds under concurrency.
    outcomes = await asyncio.gather(*(attempt("42", "42") for _ in range(10)))
    assert sorted(outcomes) == ["blocked"] * 5 + ["wrong"] * WRONG_CODES_ALLOWED
    assert await attempt("42", "42", code) == "blocked"
    # Many accounts guessing in one chat are held by the chat's count.
    for user in range(WRONG_CODES_ALLOWED):
        assert await attempt(f"9{user}", "-100chat") == "wrong"
    assert await attempt("99", "-100chat", code) == "blocked"
    # A right code is not counted as a wrong one; a spent window starts again.
    assert await attempt("43", "43", code) == "linked"
    async with engine.connect() as connection:
        counted = dict(
            (
                await connection.execute(
                    select(link_attempts.c.subject, link_attempts.c.failures).where(
                        link_attempts.c.scope == "account"
                    )
                )
            ).all()
        )
    assert counted["telegram:43"] == 0 and counted["telegram:42"] == WRONG_CODES_ALLOWED
    later = START + ATTEMPT_WINDOW
    with pytest.raises(LinkCodeInvalid):  # the code has expired by now; the count restarted
        await links.redeem(code=code, platform="telegram", user_id="42", chat_id="42", now=later)
    async with engine.connect() as connection:
        rows = (await connection.execute(select(link_attempts.c.subject))).scalars().all()
    # What had aged out was pruned by that attempt: only its own fresh counters are left.
    assert sorted(rows) == ["telegram:42", "telegram:42"]
