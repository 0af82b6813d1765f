"""The outbox end to end: the real dispatcher, runner and Telegram sender driving a real PTB
``ExtBot`` (with ``AIORateLimiter``) over HTTP against the local fake Bot API, with Telegram's
flood limits switched on in the fake; and a worker process killed mid-batch."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Bot
from telegram.error import BadRequest
from telegram.ext import AIORateLimiter, ExtBot
from telegram.request import HTTPXRequest

from bot.playground.bot_api import (
    FakeBotApi,
    FakeChat,
    RateLimits,
    running_fake_bot_api,
)
from bot.telegram_sender import TelegramSender
from handlers.core import Choice, OutboundFile, Reply, split_text
from handlers.i18n import Texts
from scheduler.clock import ManualClock, SystemClock
from scheduler.dispatcher import (
    ChatUnavailable,
    OutboxDispatcher,
    PlatformDown,
    RetryLater,
    TickResult,
)
from scheduler.runner import start_outbox
from storage.db import create_engine, migrate
from storage.models import OutboxStatus
from storage.outbox import NewOutboxRow, OutboxRepository, enqueue
from tests.conftest import START

ROOT = Path(__file__).resolve().parent.parent
# PTB warns about its own int/timedelta migration whenever it builds a RetryAfter.
pytestmark = pytest.mark.filterwarnings("ignore:.*`retry_after`.*:DeprecationWarning")
T = TypeVar("T")


def row(key: str, chat: FakeChat | int, due: datetime, text: str | None = None) -> NewOutboxRow:
    chat_id = chat.id if isinstance(chat, FakeChat) else chat
    return NewOutboxRow(
        dedupe_key=key,
        platform="telegram",
        chat_id=str(chat_id),
        due_at=due,
        expires_at=due + timedelta(hours=1),
        payload={"type": "text", "text": text or f"Nhắc việc {key}"},
    )


async def add(engine: AsyncEngine, rows: list[NewOutboxRow], now: datetime) -> None:
    async with engine.begin() as connection:
        await enqueue(connection, rows, now)


async def wait_for(
    condition: Callable[[], bool],
    timeout: float,  # noqa: ASYNC109
    what: str = "condition",
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not met within {timeout}s")
        await asyncio.sleep(0.02)


async def eventually(
    read: Callable[[], Awaitable[T]],
    expected: T,
    timeout: float,  # noqa: ASYNC109
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (found := await read()) != expected:
        if loop.time() > deadline:
            raise AssertionError(f"expected {expected!r} within {timeout}s, found {found!r}")
        await asyncio.sleep(0.02)


def texts_sent(api: FakeBotApi) -> Counter[str]:
    return Counter(message.text or "" for message in api.sent)


@pytest.fixture
async def limited_api() -> AsyncIterator[FakeBotApi]:
    async with running_fake_bot_api(rate_limits=RateLimits()) as server:
        yield server


def extbot(
    api: FakeBotApi, limiter: AIORateLimiter | None = None, *, read_timeout: float = 5.0
) -> ExtBot[None]:
    return ExtBot(
        api.token,
        base_url=api.base_url,
        base_file_url=api.base_file_url,
        rate_limiter=limiter,
        request=HTTPXRequest(read_timeout=read_timeout),
    )


# --- the fake's flood limits ----------------------------------------------------------------


async def test_the_fake_answers_429_beyond_the_flood_limits() -> None:
    limits = RateLimits(messages_per_second=3, group_messages_per_minute=2, jitter=0)
    async with (
        running_fake_bot_api(rate_limits=limits) as api,
        httpx.AsyncClient(base_url=api.base_url + api.token) as client,
    ):
        group = await api.add_group("Chi bộ 1")
        people = [await api.private_chat(await api.add_user(f"Người {n}")) for n in range(10)]

        async def send(chat: FakeChat) -> httpx.Response:
            return await client.post("/sendMessage", json={"chat_id": chat.id, "text": "x"})

        # 2 a minute in a group: 2 at once, then one every 30 s.
        in_group = [await send(group) for _ in range(4)]
        assert [answer.status_code for answer in in_group] == [200, 200, 429, 429]
        body = in_group[2].json()
        wait = body["parameters"]["retry_after"]
        assert 25 < wait <= 30
        assert body == {
            "ok": False,
            "error_code": 429,
            "description": f"Too Many Requests: retry after {wait}",
            "parameters": {"retry_after": wait},
        }
        # 3 a second overall, the group's two included: one more, then waiting.
        private = [await send(person) for person in people]
        codes = [answer.status_code for answer in private]
        assert codes[0] == 200 and 429 in codes
        assert {a.json()["parameters"]["retry_after"] for a in private if a.status_code == 429} == {
            1
        }
        assert len(api.rate_limited) == codes.count(429) + 2
        assert len(api.sent) == 2 + codes.count(200)


async def test_flood_limits_are_off_unless_asked_for() -> None:
    async with running_fake_bot_api() as api:
        group = await api.add_group("Chi bộ 1")
        async with Bot(api.token, base_url=api.base_url) as bot:
            for n in range(40):
                await bot.send_message(group.id, f"tin {n}")
        assert len(api.sent_in(group)) == 40 and api.rate_limited == []


# --- the Telegram sender --------------------------------------------------------------------


async def test_the_sender_renders_replies_like_the_adapter() -> None:
    async with running_fake_bot_api() as api:
        group = await api.add_group("Chi bộ 1")
        async with extbot(api) as bot:
            sender = TelegramSender(bot, texts=Texts("vi"))
            long_text = "\n\n".join(f"Đoạn {n}: " + "chữ " * 200 for n in range(11))
            await sender.send(
                "telegram",
                str(group.id),
                [
                    Reply(
                        long_text, choices=((Choice("Có mặt", "att:1"), Choice("Vắng", "abs:1")),)
                    ),
                    Reply("Báo vắng riêng", continue_privately="vang_1"),
                    Reply("", file=OutboundFile("bien-ban.txt", b"noi dung", "Biên bản")),
                ],
            )
            with pytest.raises(ValueError, match="zalo"):
                await sender.send("zalo", str(group.id), [Reply("x")])
        sent = api.sent_in(group)
        assert len(sent) == 5  # the long text in three parts, the link, the document
        parts, link, document = sent[:3], sent[3], sent[4]
        # Telegram trims each message, like the fake.
        assert [part.text for part in parts] == [p.strip() for p in split_text(long_text, 4096)]
        assert [part.buttons for part in parts] == [
            [],
            [],
            [("Có mặt", "att:1"), ("Vắng", "abs:1")],
        ]
        assert link.buttons == [
            (Texts("vi")("button.open_private"), "https://t.me/chibo_test_bot?start=vang_1")
        ]
        assert document.document is not None and document.text == "Biên bản"


async def test_the_sender_maps_telegram_errors() -> None:
    async with running_fake_bot_api() as api:
        kicked = await api.add_group("Đã rời", bot_status="kicked")
        stranger = await api.private_chat(await api.add_user("Chưa bấm start", started_bot=False))
        group = await api.add_group("Chi bộ 1")
        async with extbot(api) as bot:
            sender = TelegramSender(bot)
            for chat_id in (str(kicked.id), str(stranger.id), "-100999"):
                with pytest.raises(ChatUnavailable):
                    await sender.send("telegram", chat_id, [Reply("x")])
            api.fail_next("sendMessage", retry_after=7)
            with pytest.raises(RetryLater) as wait:
                await sender.send("telegram", str(group.id), [Reply("x")])
            assert wait.value.seconds == 7
            api.fail_next("sendMessage", 400, "Bad Request: can't parse entities")
            with pytest.raises(BadRequest):  # a problem with the message, not the chat
                await sender.send("telegram", str(group.id), [Reply("x")])
            for code in (500, 502):  # Telegram failing on its side
                api.fail_next("sendMessage", code)
                with pytest.raises(PlatformDown):
                    await sender.send("telegram", str(group.id), [Reply("x")])
        async with extbot(api, read_timeout=0.2) as bot:
            api.answer_late("sendMessage", 1.0)
            with pytest.raises(PlatformDown, match="TimedOut"):
                await TelegramSender(bot).send("telegram", str(group.id), [Reply("đã tới")])
        assert [m.text for m in api.sent_in(group)] == ["đã tới"]  # the answer was lost, not it


# --- RetryAfter reaches the outbox ----------------------------------------------------------


async def test_a_flood_wait_reschedules_the_row_instead_of_blocking(
    sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    """With AIORateLimiter(max_retries=0) Telegram's 429 reaches the outbox at once: one call,
    no sleeping in the limiter, the row moved by retry_after."""
    async with running_fake_bot_api() as api:
        group = await api.add_group("Chi bộ 1")
        await add(sqlite_engine, [row("a", group, START), row("b", group, START)], START)
        api.fail_next("sendMessage", retry_after=30)
        async with extbot(api, AIORateLimiter(max_retries=0)) as bot:
            worker = OutboxDispatcher(
                OutboxRepository(sqlite_engine), TelegramSender(bot), {}, clock, "w1"
            )
            assert await worker.tick() == TickResult(retried=1, left=1)
            assert len(api.calls("sendMessage")) == 1 and api.sent == []
            repo = OutboxRepository(sqlite_engine)
            a = await repo.get_by_key("a")
            assert a is not None and a.due_at == START + timedelta(seconds=30)
            clock.advance(timedelta(seconds=30))
            assert await worker.tick() == TickResult(sent=2)
        assert [m.text for m in api.sent_in(group)] == ["Nhắc việc b", "Nhắc việc a"]


async def test_the_group_limit_without_a_limiter_ends_in_a_reschedule(
    sqlite_engine: AsyncEngine, limited_api: FakeBotApi, clock: ManualClock
) -> None:
    """A bot without a rate limiter runs into the fake's 20/min group limit; the 429 travels
    through PTB as RetryAfter and comes back as a rescheduled row."""
    api = limited_api
    group = await api.add_group("Chi bộ 1")
    await add(sqlite_engine, [row(f"r{n:02}", group, START) for n in range(25)], START)
    async with extbot(api) as bot:
        worker = OutboxDispatcher(
            OutboxRepository(sqlite_engine), TelegramSender(bot), {}, clock, "w1"
        )
        assert await worker.tick() == TickResult(sent=20, retried=1, left=4)
    assert len(api.rate_limited) == 1
    counts = await OutboxRepository(sqlite_engine).counts_by_status()
    assert counts == {OutboxStatus.SENT: 20, OutboxStatus.PENDING: 5}


# --- Telegram down for hours -----------------------------------------------------------------


async def test_a_three_hour_outage_delays_reminders_and_loses_none_still_useful(
    sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    """The fake answers 500 to every send for three hours, then recovers. A reminder whose
    meeting starts after the outage is sent exactly once, before the meeting; one whose meeting
    started during the outage is expired, not sent late. Telegram is probed every 10 minutes
    at most, not hammered."""
    async with running_fake_bot_api() as api:
        group = await api.add_group("Chi bộ 1")
        early, late = START + timedelta(hours=1), START + timedelta(hours=5)
        reminders = [
            NewOutboxRow(
                "early:2h",
                "telegram",
                str(group.id),
                START,
                early,
                {"type": "text", "text": "Họp lúc 13 giờ"},
            ),
            NewOutboxRow(
                "late:5h",
                "telegram",
                str(group.id),
                START,
                late,
                {"type": "text", "text": "Họp lúc 17 giờ"},
            ),
            NewOutboxRow(
                "late:3h",
                "telegram",
                str(group.id),
                START + timedelta(hours=2),
                late,
                {"type": "text", "text": "Còn 3 giờ nữa họp"},
            ),
        ]
        await add(sqlite_engine, reminders, START)
        api.fail_next("sendMessage", 500, times=1_000_000)
        outage_ends = START + timedelta(hours=3)
        repo = OutboxRepository(sqlite_engine)
        async with extbot(api) as bot:
            worker = OutboxDispatcher(repo, TelegramSender(bot), {}, clock, "w1")
            while clock.now() < outage_ends:
                await worker.tick()
                clock.advance(timedelta(seconds=30))
            probes = len(api.calls("sendMessage"))
            assert api.sent == [] and 15 <= probes <= 30
            api.stop_failing("sendMessage")
            while len(api.sent) < 2 and clock.now() < late:
                await worker.tick()
                clock.advance(timedelta(seconds=30))
        assert texts_sent(api) == Counter({"Họp lúc 17 giờ": 1, "Còn 3 giờ nữa họp": 1})
        assert clock.now() <= outage_ends + timedelta(minutes=11)
        rows = {key: await repo.get_by_key(key) for key in ("early:2h", "late:5h", "late:3h")}
        assert {key: row.status for key, row in rows.items() if row} == {
            "early:2h": OutboxStatus.EXPIRED,
            "late:5h": OutboxStatus.SENT,
            "late:3h": OutboxStatus.SENT,
        }


async def test_a_send_whose_answer_is_lost_is_sent_again_and_no_other(
    sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    """The second of three sends in a batch reaches Telegram, but its answer comes after the
    client's read timeout. That one message goes out twice, and only that one: the first was
    marked sent right after its own send, the third had not been tried."""
    async with running_fake_bot_api() as api:
        group = await api.add_group("Chi bộ 1")
        await add(sqlite_engine, [row(key, group, START) for key in ("a", "b", "c")], START)
        api.answer_late("sendMessage", 1.0, after=1)
        async with extbot(api, read_timeout=0.2) as bot:
            worker = OutboxDispatcher(
                OutboxRepository(sqlite_engine), TelegramSender(bot), {}, clock, "w1"
            )
            assert await worker.tick() == TickResult(sent=1, retried=1, left=1)
            clock.advance(timedelta(seconds=30))
            assert await worker.tick() == TickResult(sent=2)
        assert texts_sent(api) == Counter({"Nhắc việc a": 1, "Nhắc việc b": 2, "Nhắc việc c": 1})
        counts = await OutboxRepository(sqlite_engine).counts_by_status()
        assert counts == {OutboxStatus.SENT: 3}


# --- (a) a thousand reminders in one minute -------------------------------------------------


async def test_a_thousand_reminders_reach_200_groups_without_a_single_429(
    sqlite_engine: AsyncEngine, limited_api: FakeBotApi
) -> None:
    """1,000 rows due in the same minute across 200 groups, drained through the app's kind of
    bot (ExtBot + AIORateLimiter, 30/s overall, 20/min per group) against a fake that enforces
    Telegram's limits. Takes about 35 s: that is the 30 messages a second."""
    api = limited_api
    groups = [await api.add_group(f"Chi bộ {n}") for n in range(200)]
    now = datetime.now(UTC)
    total = 1000
    # Due over the minute up to now: the morning's reminders, all at once.
    rows = [
        row(f"r{n:04}", groups[n % 200], now - timedelta(seconds=59 - (n * 59) // total))
        for n in range(total)
    ]
    await add(sqlite_engine, rows, now)
    repo = OutboxRepository(sqlite_engine)
    async with extbot(api, AIORateLimiter(max_retries=0)) as bot:
        worker = OutboxDispatcher(repo, TelegramSender(bot), {}, SystemClock(), "w1")
        runner = start_outbox(worker, interval_seconds=0.5)
        try:
            await wait_for(lambda: len(api.sent) >= total, timeout=180, what="all delivered")
            # The last mark may still be committing.
            await eventually(repo.counts_by_status, {OutboxStatus.SENT: total}, timeout=10)
        finally:
            await runner.stop()
    assert api.rate_limited == [], f"{len(api.rate_limited)} sends answered 429"
    copies = texts_sent(api)
    assert len(api.sent) == total and len(copies) == total and max(copies.values()) == 1
    for position, group in enumerate(groups):
        expected = {f"Nhắc việc r{n:04}" for n in range(position, total, 200)}
        assert {message.text for message in api.sent_in(group)} == expected


# --- (b) a worker killed mid-batch ----------------------------------------------------------


class Worker:
    """A tests/support/outbox_worker.py process."""

    def __init__(self, process: asyncio.subprocess.Process, worker_id: str) -> None:
        self.process = process
        self.worker_id = worker_id

    @classmethod
    async def start(cls, api: FakeBotApi, database: Path, worker_id: str) -> Worker:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHIBO_")}
        env.update(CHIBO_TELEGRAM_TOKEN=api.token, PYTHONPATH=str(ROOT))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.support.outbox_worker",
            "--database",
            f"sqlite+aiosqlite:///{database}",
            "--base-url",
            api.base_url,
            "--worker-id",
            worker_id,
            "--lease",
            "2",
            "--interval",
            "0.1",
            "--batch",
            "10",
            "--max-rate",
            "100",
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        return cls(process, worker_id)

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    async def output(self) -> str:
        out, _ = await asyncio.wait_for(self.process.communicate(), timeout=30)
        return out.decode()


def query(database: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    """A plain autocommit read. The app's engine begins every transaction IMMEDIATE, which a
    frozen worker holding SQLite's write lock would block; a WAL read needs no lock."""
    with contextlib.closing(sqlite3.connect(database, isolation_level=None)) as connection:
        return connection.execute(sql, params).fetchall()


def claimed_by(database: Path, worker_id: str) -> set[int]:
    found = query(
        database, "SELECT id FROM outbox WHERE status = 'claimed' AND claimed_by = ?", worker_id
    )
    return {int(row_id) for (row_id,) in found}  # type: ignore[call-overload]


def statuses(database: Path) -> dict[object, object]:
    return dict(query(database, "SELECT status, count(*) FROM outbox GROUP BY status"))


async def crash_mid_batch(api: FakeBotApi, database: Path, worker: Worker) -> set[int]:
    """Freeze the worker at a moment it holds claimed rows, then SIGKILL it; the rows it held."""
    for _ in range(200):
        worker.signal(signal.SIGSTOP)
        held = claimed_by(database, worker.worker_id)
        if held:
            worker.signal(signal.SIGKILL)
            await worker.process.wait()
            return held
        worker.signal(signal.SIGCONT)  # between two batches: let it claim the next
        count = len(api.sent)
        await wait_for(
            lambda count=count: len(api.sent) > count, timeout=10, what="worker progress"
        )
    raise AssertionError("never caught the worker holding rows")


async def test_a_killed_worker_loses_nothing_and_repeats_at_most_one_message(
    tmp_path: Path,
) -> None:
    database = tmp_path / "outbox.db"
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    await migrate(engine)
    total = 300
    async with running_fake_bot_api() as api:
        groups = [await api.add_group(f"Chi bộ {n}") for n in range(30)]
        now = datetime.now(UTC)
        await add(engine, [row(f"r{n:03}", groups[n % 30], now) for n in range(total)], now)
        await engine.dispose()

        held_at_crash: list[set[int]] = []
        outputs: list[str] = []
        for crash, share in enumerate((1 / 3, 2 / 3)):
            worker = await Worker.start(api, database, f"crashing-{crash}")
            await wait_for(
                lambda share=share: len(api.sent) >= total * share,
                timeout=60,
                what=f"worker {crash} progress",
            )
            held_at_crash.append(await crash_mid_batch(api, database, worker))
            outputs.append(await worker.output())
            assert len(texts_sent(api)) < total  # killed before it was done

        last = await Worker.start(api, database, "survivor")
        # The killed workers' rows come back once their 2 s leases lapse.
        await wait_for(
            lambda: statuses(database) == {"sent": total}, timeout=60, what="all rows sent"
        )
        last.signal(signal.SIGTERM)
        outputs.append(await last.output())
        assert last.process.returncode == 0, outputs[-1]

    copies = texts_sent(api)
    assert set(copies) == {f"Nhắc việc r{n:03}" for n in range(total)}  # none lost
    repeated = [text for text, count in copies.items() if count > 1]
    assert len(api.sent) - total <= 2 and all(copies[text] == 2 for text in repeated)
    assert all(held for held in held_at_crash)
    assert all(api.token not in output for output in outputs)
    # Every duplicate is a message that was in flight when its worker died.
    ids = dict(query(database, "SELECT dedupe_key, id FROM outbox"))
    in_flight = set().union(*held_at_crash)
    assert all(ids[text.removeprefix("Nhắc việc ")] in in_flight for text in repeated)
