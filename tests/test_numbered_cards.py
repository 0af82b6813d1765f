"""Issue 14: typed numbers answer the newest card a person saw in a chat, on every platform.

A hypothesis state machine shows cards of several kinds (a leader's list, pages, a join
request, check-in, closing attendance, a profile menu) to several people (secretary, member,
someone whose request is pending, the outbox) in a group and in private chats, lets time pass,
and answers with numbers. A plain model of what each person saw is the oracle: every number
acts on the newest card shown to that person in that chat or is refused as stale, nothing
irreversible is chosen without its confirmation, and no confirmation outlives another card.
The storage, the registry and the member lookups are the real ones, on a real SQLite file.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from cryptography.fernet import Fernet
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Bot

from bot.playground.bot_api import running_fake_bot_api
from bot.telegram_cards import keep_cards
from bot.telegram_sender import TelegramSender
from handlers.cards import CONFIRM_TTL, DROP, Answer, NumberedCards, ShownOption
from handlers.catalog import build_registry
from handlers.context import Services
from handlers.core import ChatKind, Choice, Inbound, Platform, Reply
from handlers.i18n import Texts
from scheduler.clock import ManualClock
from storage.choices import LOOK_BACK, CardRepository
from storage.crypto import FieldCipher
from storage.db import create_engine, migrate
from storage.fee_rules import load_fee_config
from storage.members import MemberRepository
from tests.conftest import START

vi = Texts("vi")
T = TypeVar("T")
_examples = itertools.count()

# The oracle's own table of who may use what, written out rather than read from the registry.
LEADERS_ONLY = ("me", "mx", "jn", "my")
MEMBERS = ("ml", "ci", "pf")
EVERYONES = ("ci",)  # on a group card, open to everyone there whoever it answered
PRIVATE_ONLY = ("pf",)
CONFIRMED = ("jn", "my")  # acts that need a confirmation when chosen by number

SECRETARY, MEMBER, PENDING = "secretary", "member", "pending"
PEOPLE = (SECRETARY, MEMBER, PENDING)
LEVELS = {SECRETARY: 2, MEMBER: 1, PENDING: 0}


def kinds(pending_id: int) -> dict[str, list[tuple[str, str]]]:
    return {
        "meetings": [("✏️ Sửa", "me:1"), ("🗑 Hủy họp", "mx:1")],
        "pages": [("Trang 1", "ml:0"), ("Trang 2", "ml:1")],
        "join": [("✅ Đồng ý", f"jn:{pending_id}:ok"), ("❌ Từ chối", f"jn:{pending_id}:no")],
        "checkin": [("🙋 Có mặt", "ci:1:in_person")],
        "cancel": [("🗑 Hủy cuộc họp", "my:1")],
        "profile": [("👤 Hồ sơ", "pf")],
    }


def prefix(data: str) -> str:
    return data.partition(":")[0]


def can(person: str, data: str, *, in_group: bool) -> bool:
    head = prefix(data)
    if head == DROP:
        return True
    if in_group and head in PRIVATE_ONLY:  # the dispatcher refuses private acts in a group
        return False
    needed = 2 if head in LEADERS_ONLY else 1
    return LEVELS[person] >= needed


@dataclass
class Seen:
    """The model of one card: what was shown, to whom, and whether it still works."""

    seq: int
    chat: str
    audience: str | None  # a person, or None for the outbox (everyone in the chat)
    options: list[tuple[str, bool]]  # (data, open to others)
    confirming: bool
    expires: datetime
    ended: bool = False

    @property
    def shared(self) -> bool:
        return self.audience is None or any(is_open for _, is_open in self.options)


@dataclass
class Model:
    cards: list[Seen] = field(default_factory=list)
    seq: int = 0

    def show(self, card: Seen) -> None:
        for old in self.cards:
            if old.confirming and (
                (card.audience is not None and old.audience == card.audience)
                or (card.shared and old.chat == card.chat)
            ):
                old.ended = True
        self.cards.append(card)

    def visible(self, person: str, chat: str) -> list[Seen]:
        found = [
            c for c in reversed(self.cards) if c.chat == chat and (c.audience == person or c.shared)
        ]
        return found[:LOOK_BACK]


class NumberedCardsMachine(RuleBasedStateMachine):
    def __init__(self, loop: asyncio.AbstractEventLoop, engine: AsyncEngine) -> None:
        super().__init__()
        self._loop = loop
        self._engine = engine
        self.clock = ManualClock(START)
        self.model = Model()
        self.cards: NumberedCards | None = None
        self.platform = Platform.ZALO
        self.users: dict[str, str] = {}
        self.group = ""
        self.kinds: dict[str, list[tuple[str, str]]] = {}

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(coroutine)

    def chat(self, person: str, in_group: bool) -> str:
        return self.group if in_group else self.users[person]

    @initialize(platform=st.sampled_from(list(Platform)))
    def found_the_cell(self, platform: Platform) -> None:
        self.platform = platform
        run = next(_examples)
        services = Services.over(
            self._engine,
            FieldCipher([Fernet.generate_key().decode()]),
            load_fee_config(),
            clock=self.clock,
            texts=vi,
            default_timezone="Asia/Ho_Chi_Minh",
        )
        self.users = {person: f"{person}-{run}" for person in PEOPLE}
        self.group = f"group-{run}"
        cell, _secretary = self.run(
            services.cells.found_cell(
                platform=platform,
                chat_id=self.group,
                chat_title=None,
                cell_name=f"Chi bộ {run}",
                timezone="Asia/Ho_Chi_Minh",
                secretary_name="Trần Thị Hoa",
                secretary_user_id=self.users[SECRETARY],
                now=START,
            )
        )
        members: MemberRepository = services.members
        for person, accept in ((MEMBER, True), (PENDING, False)):
            joined = self.run(
                members.request_join(
                    cell_id=cell.id,
                    platform=platform,
                    user_id=self.users[person],
                    full_name=f"Đồng chí {person}",
                    accept_at_once=accept,
                    now=START,
                )
            )
        self.kinds = kinds(joined.id)
        self.cards = NumberedCards(
            build_registry(), services, CardRepository(self._engine), platform
        )

    def _show(
        self,
        chat: str,
        asker: str | None,
        options: list[tuple[str, str]],
        *,
        confirming: bool,
        in_group: bool,
    ) -> None:
        assert self.cards is not None
        self.run(
            self.cards.show(
                chat_id=chat,
                asker=self.users[asker] if asker else None,
                in_group=in_group,
                options=[ShownOption(label, data, "") for label, data in options],
                text=" / ".join(label for label, _ in options),
                question=False,
                confirming=confirming,
            )
        )
        self.model.seq += 1

        def is_open(data: str) -> bool:
            if asker is None:
                return True
            if not in_group:
                return False
            return prefix(data) in EVERYONES or not can(asker, data, in_group=True)

        self.model.show(
            Seen(
                seq=self.model.seq,
                chat=chat,
                audience=asker,
                options=[(data, is_open(data)) for _, data in options],
                confirming=confirming,
                expires=self.clock.now() + (CONFIRM_TTL if confirming else timedelta(hours=12)),
            )
        )

    @rule(
        kind=st.sampled_from(["meetings", "pages", "join", "checkin", "cancel", "profile"]),
        asker=st.sampled_from([*PEOPLE, None]),
        in_group=st.booleans(),
        private_to=st.sampled_from(PEOPLE),
    )
    def show_a_card(self, kind: str, asker: str | None, in_group: bool, private_to: str) -> None:
        """A reply to someone (or an outbox message) carrying a card."""
        chat = self.group if in_group else self.users[asker or private_to]
        self._show(chat, asker, self.kinds[kind], confirming=False, in_group=in_group)

    @rule(person=st.sampled_from([SECRETARY, SECRETARY, MEMBER]), in_group=st.booleans())
    def a_card_elsewhere(self, person: str, in_group: bool) -> None:
        """Another card reaches someone: in their private chat (theirs alone), or in the
        group where it is open to leaders (a newcomer's request)."""
        if in_group:
            self._show(self.group, PENDING, self.kinds["join"], confirming=False, in_group=True)
        else:
            chat = self.users[person]
            self._show(chat, person, self.kinds["pages"], confirming=False, in_group=False)

    @rule(minutes=st.sampled_from([1, 3, 6]))
    def time_passes(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))

    @rule(person=st.sampled_from(PEOPLE), in_group=st.booleans(), number=st.integers(1, 3))
    def answer_with_a_number(self, person: str, in_group: bool, number: int) -> None:
        self._answer(person, in_group, number)

    @rule(number=st.integers(1, 2))
    def the_secretary_answers_in_the_group(self, number: int) -> None:
        """The case of the issue, drawn more often: leaders' numbers in a busy group."""
        self._answer(SECRETARY, True, number)

    def _answer(self, person: str, in_group: bool, number: int) -> None:
        assert self.cards is not None
        chat = self.chat(person, in_group)
        inbound = Inbound(
            platform=self.platform,
            chat_id=chat,
            chat_kind=ChatKind.GROUP if in_group else ChatKind.PRIVATE,
            user_id=self.users[person],
            user_name=person,
            text=f"{number}",
            reply_to_bot=in_group,  # an answer to the bot (Zalo: a mention; Telegram: a reply)
        )
        answer = self.run(self.cards.answer(inbound))
        self._check(person, chat, in_group, number, answer)

    def _check(
        self, person: str, chat: str, in_group: bool, number: int, answer: Answer | None
    ) -> None:
        now = self.clock.now()
        seen = self.model.visible(person, chat)

        def usable(card: Seen, data: str, is_open: bool) -> bool:
            mine = card.audience == person or is_open
            return mine and can(person, data, in_group=in_group)

        def live(card: Seen) -> bool:
            return not card.ended and card.expires > now

        current = next((c for c in seen if any(usable(c, *o) for o in c.options)), None)
        if current is not None and live(current) and number <= len(current.options):
            data, is_open = current.options[number - 1]
            if not usable(current, data, is_open):
                self._expect_refusal(person, data, in_group, answer)
                return
            if current.confirming:
                current.ended = True  # a confirmation answers once
            assert answer is not None
            if prefix(data) in CONFIRMED and not current.confirming:
                # Nothing irreversible by number without a confirmation restating it.
                assert answer.choice is None and answer.confirming
                [question] = answer.replies
                options = [(c.label, c.data) for row in question.choices for c in row]
                assert [d for _, d in options] == [data, DROP]
                self._show(chat, person, options, confirming=True, in_group=in_group)
            else:
                assert answer.choice == data, (answer, current)
            return
        if current is None:
            for card in seen:
                if live(card) and number <= len(card.options) and card.options[number - 1][1]:
                    self._expect_refusal(person, card.options[number - 1][0], in_group, answer)
                    return
        superseded = [
            c
            for c in seen
            if (current is None or c.seq <= current.seq)
            and not (c is current and live(c))
            and (c.audience == person or any(usable(c, *o) for o in c.options))
        ]
        if any(number <= len(card.options) for card in superseded):
            # A number that fits only a dead card is refused as stale, never acted on.
            assert answer is not None and answer.choice is None
            assert answer.replies[0].text.startswith("⚠️ Danh sách này đã cũ")
            return
        assert answer is None, (answer, current, seen)

    def _expect_refusal(
        self, person: str, data: str, in_group: bool, answer: Answer | None
    ) -> None:
        """Someone else's option: handed to the dispatcher only when the person may not take
        it (so it is refused with the reason), else answered «not yours»; never acted on."""
        assert answer is not None
        if can(person, data, in_group=in_group):
            assert answer.choice is None and answer.replies[0].text == vi("card.not_yours")
        else:
            assert answer.choice == data and answer.echo == ""


def test_every_number_answers_the_newest_card_or_is_refused(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'cards.db'}")
    try:
        loop.run_until_complete(migrate(engine))
        run_state_machine_as_test(
            lambda: NumberedCardsMachine(loop, engine),
            settings=settings(
                max_examples=60,
                stateful_step_count=30,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        loop.run_until_complete(engine.dispose())
        loop.close()


async def test_telegram_keeps_its_buttons_as_a_numbered_card(
    sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    """Telegram shows buttons, not numbers: the card kept for typed digits numbers them row
    by row, and that numbered text is what a stale digit gets back."""
    services = Services.over(
        sqlite_engine,
        FieldCipher([Fernet.generate_key().decode()]),
        load_fee_config(),
        clock=clock,
        texts=vi,
        default_timezone="Asia/Ho_Chi_Minh",
    )
    repository = CardRepository(sqlite_engine)
    cards = NumberedCards(build_registry(), services, repository, Platform.TELEGRAM)
    inbound = Inbound(Platform.TELEGRAM, "42", ChatKind.PRIVATE, "42", "Nam", text="/dangvien")
    shown = Reply(
        "Danh sách:", choices=((Choice("Trang 1", "ml:0"),), (Choice("Trang 2", "ml:1"),))
    )
    await keep_cards(cards, inbound, [shown, Reply("Đã xong.", popup=True)], confirming=False)
    [card] = await repository.visible(platform="telegram", chat_id="42", user_id="42")
    assert card.text == "Danh sách:\n\n1. Trang 1\n2. Trang 2"
    assert [option.data for option in card.options] == ["ml:0", "ml:1"]


async def test_a_reminder_the_telegram_outbox_sends_is_the_newest_card(
    sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    """What the outbox sends carries buttons too (a reminder's «Xin vắng»): a digit typed under
    it answers it, not an older card of the person's."""
    services = Services.over(
        sqlite_engine,
        FieldCipher([Fernet.generate_key().decode()]),
        load_fee_config(),
        clock=clock,
        texts=vi,
        default_timezone="Asia/Ho_Chi_Minh",
    )
    repository = CardRepository(sqlite_engine)
    cards = NumberedCards(build_registry(), services, repository, Platform.TELEGRAM)
    reminder = Reply(
        "🔔 Nhắc lịch họp",
        choices=((Choice("🙋 Xin vắng", "xm:7"), Choice("🎥 Vào họp", "", url="https://x.org")),),
    )
    async with running_fake_bot_api() as api:
        person = await api.add_user("Lê Văn Nam")
        chat = str(person.id)
        older = Inbound(Platform.TELEGRAM, chat, ChatKind.PRIVATE, chat, "Nam", text="/dangvien")
        listing = Reply("Danh sách:", choices=((Choice("Trang 2", "ml:1"),),))
        await keep_cards(cards, older, [listing], confirming=False)
        async with Bot(api.token, base_url=api.base_url) as bot:
            await TelegramSender(bot, cards=cards).send("telegram", chat, [reminder])
    newest, *_ = await repository.visible(
        platform="telegram", chat_id=str(person.id), user_id=str(person.id)
    )
    # The link is opened by its button, never by a digit; everyone there may answer the rest.
    assert [(option.data, option.open) for option in newest.options] == [("xm:7", True)]
