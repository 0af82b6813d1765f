"""The outbox on real databases (SQLite file and PostgreSQL): claims and leases, the row life
cycle, and the dispatcher with a recording sender standing in for the platform."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.core import Choice, Reply
from scheduler.clock import ManualClock
from scheduler.dispatcher import (
    OUTAGE_BACKOFF_MAX,
    ChatUnavailable,
    Obsolete,
    OutboxDispatcher,
    PlatformDown,
    Renderer,
    RetryLater,
    TickResult,
    backoff,
)
from scheduler.runner import start_outbox
from storage.models import OutboxStatus
from storage.outbox import (
    NewOutboxRow,
    OutboxRepository,
    OutboxRow,
    cancel_pending,
    enqueue,
    move_pending,
)
from storage.schema import meetings, org_units
from tests.conftest import START

LEASE = timedelta(seconds=60)
SECRET = "Nguyễn Văn An 0912345678"  # stands for personal data that must never reach a log


def text_row(
    key: str,
    due: datetime,
    *,
    chat: str = "-1001",
    text: str | None = None,
    expires: datetime | None = None,
    meeting_id: int | None = None,
    platform: str = "telegram",
) -> NewOutboxRow:
    return NewOutboxRow(
        dedupe_key=key,
        platform=platform,
        chat_id=chat,
        due_at=due,
        expires_at=expires,
        payload={"type": "text", "text": text or f"message {key}"},
        meeting_id=meeting_id,
    )


async def add(engine: AsyncEngine, rows: list[NewOutboxRow], now: datetime = START) -> int:
    async with engine.begin() as connection:
        return await enqueue(connection, rows, now)


@dataclass
class RecordingSender:
    """The transport, faked: remembers what it was asked to send; per-chat scripted errors."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)
    errors: dict[str, list[Exception]] = field(default_factory=dict)
    during_send: Callable[[], None] | None = None
    down: set[str] = field(default_factory=set)  # platforms answering 5xx to everything

    async def send(self, platform: str, chat_id: str, replies: list[Reply]) -> None:
        await asyncio.sleep(0)  # let concurrent dispatchers interleave
        if self.during_send is not None:
            self.during_send()
        if platform in self.down:
            raise PlatformDown("NetworkError")
        queued = self.errors.get(chat_id)
        if queued:
            raise queued.pop(0)
        for reply in replies:
            self.sent.append((platform, chat_id, reply.text))

    def texts(self) -> list[str]:
        return [text for _, _, text in self.sent]


def dispatcher(
    engine: AsyncEngine,
    sender: RecordingSender,
    clock: ManualClock,
    worker: str = "w1",
    *,
    renderers: dict[str, Renderer] | None = None,
    batch: int = 50,
    **options: object,
) -> OutboxDispatcher:
    return OutboxDispatcher(
        OutboxRepository(engine),
        sender,
        renderers or {},
        clock,
        worker,
        LEASE,
        batch,
        **options,  # type: ignore[arg-type]
    )


async def make_meeting(engine: AsyncEngine, starts_at: datetime) -> int:
    async with engine.begin() as connection:
        cell = (
            await connection.execute(
                insert(org_units)
                .values(
                    kind="cell",
                    name="Chi bộ 1",
                    timezone="Asia/Ho_Chi_Minh",
                    auto_accept=False,
                    created_at=START,
                )
                .returning(org_units.c.id)
            )
        ).scalar_one()
        return int(
            (
                await connection.execute(
                    insert(meetings)
                    .values(
                        org_unit_id=cell,
                        kind="regular",
                        title="Sinh hoạt chi bộ",
                        starts_at=starts_at,
                        place="Nhà văn hoá",
                        agenda="",
                        status="scheduled",
                        created_at=START,
                        updated_at=START,
                    )
                    .returning(meetings.c.id)
                )
            ).scalar_one()
        )


# --- storage --------------------------------------------------------------------------------


async def test_enqueue_is_idempotent_and_joins_the_callers_transaction(
    engine: AsyncEngine,
) -> None:
    repo = OutboxRepository(engine)
    assert await add(engine, [text_row(f"k{i}", START) for i in range(3)]) == 3
    again = [text_row("k1", START, text="changed"), text_row("k2", START), text_row("k3", START)]
    assert await add(engine, again) == 1
    assert await add(engine, []) == 0
    k1 = await repo.get_by_key("k1")
    assert k1 is not None and k1.payload["text"] == "message k1"  # the first write wins
    assert k1.status is OutboxStatus.PENDING and k1.attempts == 0

    # Rows live and die with the transaction of what they come from.
    with pytest.raises(RuntimeError):
        async with engine.begin() as connection:
            await enqueue(connection, [text_row("rolled-back", START)], START)
            raise RuntimeError("the meeting could not be saved")
    assert await repo.get_by_key("rolled-back") is None
    assert await repo.counts_by_status() == {OutboxStatus.PENDING: 4}


def test_new_rows_are_checked_the_same_on_every_backend() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        text_row("naive", START.replace(tzinfo=None))
    with pytest.raises(ValueError, match="chat_id"):
        text_row("long", START, chat="1" * 65)
    with pytest.raises(ValueError, match="type"):
        NewOutboxRow("k", "telegram", "1", START, None, {"text": "no type"})


async def test_claim_takes_due_rows_in_order_with_a_lease(engine: AsyncEngine) -> None:
    repo = OutboxRepository(engine)
    await add(
        engine,
        [
            text_row("later", START + timedelta(minutes=5)),
            text_row("second", START - timedelta(minutes=1)),
            text_row("first", START - timedelta(minutes=2)),
            text_row("third", START),
        ],
    )
    claimed = await repo.claim("w1", START, LEASE, limit=2)
    assert [row.dedupe_key for row in claimed] == ["first", "second"]
    assert all(
        row.status is OutboxStatus.CLAIMED
        and row.claimed_by == "w1"
        and row.lease_until == START + LEASE
        and row.attempts == 1
        for row in claimed
    )
    rest = await repo.claim("w2", START, LEASE, limit=10)
    assert [row.dedupe_key for row in rest] == ["third"]  # "later" is not due, w1's are leased
    assert await repo.claim("w3", START, LEASE, limit=10) == []
    assert await repo.claim("w3", START, LEASE, limit=0) == []


async def test_an_expired_lease_is_claimed_again_and_the_old_owner_is_locked_out(
    engine: AsyncEngine,
) -> None:
    repo = OutboxRepository(engine)
    await add(engine, [text_row("a", START), text_row("b", START)])
    crashed = await repo.claim("crashed", START, LEASE, limit=10)
    assert len(crashed) == 2
    # Still leased: nothing to take.
    assert await repo.claim("w2", START + LEASE, LEASE, limit=10) == []
    later = START + LEASE + timedelta(seconds=1)
    taken = await repo.claim("w2", later, LEASE, limit=10)
    assert [(row.dedupe_key, row.attempts, row.claimed_by) for row in taken] == [
        ("a", 2, "w2"),
        ("b", 2, "w2"),
    ]
    a, b = taken
    # The crashed worker wakes up: it can no longer settle rows that are not its own.
    assert not await repo.mark_sent(a.id, "crashed", later)
    assert not await repo.mark_failed(b.id, "crashed", "x")
    assert not await repo.retry_at(b.id, "crashed", later, "x")
    assert await repo.mark_sent(a.id, "w2", later)
    assert not await repo.mark_sent(a.id, "w2", later)  # only once
    sent = await repo.get(a.id)
    assert sent is not None and sent.status is OutboxStatus.SENT and sent.sent_at == later
    assert sent.lease_until is None


async def test_retry_fail_expire_and_release(engine: AsyncEngine) -> None:
    repo = OutboxRepository(engine)
    await add(engine, [text_row(key, START) for key in ("retry", "wait", "fail", "back")])
    rows = {row.dedupe_key: row for row in await repo.claim("w1", START, LEASE, limit=10)}
    soon = START + timedelta(minutes=1)
    assert await repo.retry_at(rows["retry"].id, "w1", soon, "TimedOut")
    assert await repo.retry_at(rows["wait"].id, "w1", soon, "flood", count_attempt=False)
    assert await repo.mark_failed(rows["fail"].id, "w1", "x" * 500)
    assert await repo.release([rows["back"].id], "w1") == 1

    retry = await repo.get(rows["retry"].id)
    assert retry is not None
    assert (retry.status, retry.due_at, retry.attempts, retry.claimed_by, retry.last_error) == (
        OutboxStatus.PENDING,
        soon,
        1,
        None,
        "TimedOut",
    )
    wait = await repo.get(rows["wait"].id)
    assert wait is not None and wait.attempts == 0  # a flood wait costs no attempt
    failed = await repo.get(rows["fail"].id)
    assert failed is not None and failed.status is OutboxStatus.FAILED
    assert failed.last_error == "x" * 200
    back = await repo.get(rows["back"].id)
    assert back is not None and (back.status, back.attempts) == (OutboxStatus.PENDING, 0)
    # Not due before its new time.
    assert [row.dedupe_key for row in await repo.claim("w1", START, LEASE, limit=10)] == ["back"]
    due = await repo.claim("w1", soon, LEASE, limit=10)
    assert sorted(row.dedupe_key for row in due) == ["retry", "wait"]


async def test_expire_due(engine: AsyncEngine) -> None:
    repo = OutboxRepository(engine)
    starts = START + timedelta(hours=1)
    await add(
        engine,
        [
            text_row("pending", START, expires=starts),
            text_row("claimed-lapsed", START, expires=starts),
            text_row("sent", START, expires=starts),
            text_row("no-expiry", START),
            text_row("later", START, expires=starts + timedelta(days=1)),
        ],
    )
    claimed = {r.dedupe_key: r for r in await repo.claim("w1", START, LEASE, limit=10)}
    for key in ("pending", "later", "no-expiry"):
        await repo.release([claimed[key].id], "w1")
    await repo.mark_sent(claimed["sent"].id, "w1", START)
    # The live lease is past too at this point in time: a crashed worker's row expires.
    assert await repo.expire_due(starts) == 2
    statuses = {
        key: (await repo.get(row.id)).status  # type: ignore[union-attr]
        for key, row in claimed.items()
    }
    assert statuses == {
        "pending": OutboxStatus.EXPIRED,
        "claimed-lapsed": OutboxStatus.EXPIRED,
        "sent": OutboxStatus.SENT,
        "no-expiry": OutboxStatus.PENDING,
        "later": OutboxStatus.PENDING,
    }
    # An expired row is never claimed, even before expire_due has run.
    await add(engine, [text_row("stale", START, expires=START + timedelta(minutes=1))])
    assert [r.dedupe_key for r in await repo.claim("w1", starts, LEASE, limit=10)] == [
        "no-expiry",
        "later",
    ]


async def test_a_live_lease_is_not_expired(engine: AsyncEngine) -> None:
    repo = OutboxRepository(engine)
    await add(engine, [text_row("a", START, expires=START + timedelta(seconds=30))])
    [row] = await repo.claim("w1", START, LEASE, limit=1)
    assert await repo.expire_due(START + timedelta(seconds=31)) == 0  # w1 is sending it
    assert (await repo.get(row.id)).status is OutboxStatus.CLAIMED  # type: ignore[union-attr]


async def test_cancel_and_move_a_meetings_rows(engine: AsyncEngine) -> None:
    repo = OutboxRepository(engine)
    starts = START + timedelta(days=3)
    meeting = await make_meeting(engine, starts)
    other = await make_meeting(engine, starts)
    rows = [
        text_row(f"m:{n}", starts - timedelta(days=n), expires=starts, meeting_id=meeting)
        for n in (3, 2, 1)
    ] + [text_row("other", starts - timedelta(days=1), expires=starts, meeting_id=other)]
    await add(engine, rows)
    # The 3-days-before reminder went out; the 2-days one is with a live worker right now.
    [sent] = await repo.claim("w1", START, LEASE, limit=1)
    await repo.mark_sent(sent.id, "w1", START)
    [live] = await repo.claim("w1", START + timedelta(days=1), LEASE, limit=1)
    assert live.dedupe_key == "m:2"

    delta = timedelta(hours=2)
    async with engine.begin() as connection:
        assert await move_pending(connection, meeting_id=meeting, now=START, delta=delta) == 1
    moved = await repo.get_by_key("m:1")
    assert moved is not None
    assert (moved.due_at, moved.expires_at) == (starts - timedelta(days=1) + delta, starts + delta)
    assert (await repo.get(sent.id)).due_at == sent.due_at  # type: ignore[union-attr]
    assert (await repo.get(live.id)).status is OutboxStatus.CLAIMED  # type: ignore[union-attr]

    async with engine.begin() as connection:
        assert await cancel_pending(connection, meeting_id=meeting, now=START) == 1
    assert (await repo.get_by_key("m:1")).status is OutboxStatus.CANCELLED  # type: ignore[union-attr]
    assert (await repo.get(sent.id)).status is OutboxStatus.SENT  # type: ignore[union-attr]
    assert (await repo.get_by_key("other")).status is OutboxStatus.PENDING  # type: ignore[union-attr]

    # Once the live worker's lease has lapsed, its row counts as not sent and is cancelled too;
    # ``keep`` spares the rows a re-plan wants to keep.
    await add(engine, [text_row("m:new", starts, expires=starts, meeting_id=meeting)])
    async with engine.begin() as connection:
        lapsed = START + timedelta(days=2)
        assert await cancel_pending(connection, meeting_id=meeting, now=lapsed, keep=["m:new"]) == 1
    assert (await repo.get(live.id)).status is OutboxStatus.CANCELLED  # type: ignore[union-attr]
    assert (await repo.get_by_key("m:new")).status is OutboxStatus.PENDING  # type: ignore[union-attr]
    assert not await repo.mark_sent(live.id, "w1", lapsed)


# --- the dispatcher -------------------------------------------------------------------------


async def test_tick_sends_due_rows_in_order_and_marks_them(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    sender = RecordingSender()
    await add(
        engine,
        [
            text_row("b", START - timedelta(minutes=1), chat="-2"),
            text_row("a", START - timedelta(minutes=2), chat="-1"),
            text_row("future", START + timedelta(minutes=1)),
        ],
    )
    result = await dispatcher(engine, sender, clock).tick()
    assert result == TickResult(sent=2)
    assert sender.sent == [("telegram", "-1", "message a"), ("telegram", "-2", "message b")]
    counts = await OutboxRepository(engine).counts_by_status()
    assert counts == {OutboxStatus.SENT: 2, OutboxStatus.PENDING: 1}
    assert await dispatcher(engine, sender, clock).tick() == TickResult()


async def test_two_dispatchers_never_send_a_row_twice(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    """Two workers on one database, ticking concurrently over 300 rows, plus the rows of a
    third worker that claimed and died: every row goes out exactly once."""
    total = 300
    await add(
        engine,
        [
            text_row(f"r{i:03}", START + timedelta(seconds=i), chat=f"-{i % 40 + 1}")
            for i in range(total)
        ],
    )
    repo = OutboxRepository(engine)
    dead = await repo.claim("dead", START + timedelta(seconds=299), LEASE, limit=25)
    assert len(dead) == 25
    sender = RecordingSender()
    one = dispatcher(engine, sender, clock, "w1", batch=7)
    two = dispatcher(engine, sender, clock, "w2", batch=7)
    by_worker: Counter[str] = Counter()
    for _ in range(200):
        first, second = await asyncio.gather(one.tick(), two.tick())
        by_worker["w1"] += first.sent
        by_worker["w2"] += second.sent
        if len(sender.sent) == total:
            break
        clock.advance(timedelta(seconds=10))
    copies = Counter(sender.texts())
    assert [text for text, n in copies.items() if n > 1] == []
    assert len(copies) == total
    assert by_worker["w1"] > 0 and by_worker["w2"] > 0
    assert await repo.counts_by_status() == {OutboxStatus.SENT: total}


async def test_retry_later_reschedules_without_waiting(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    sender = RecordingSender(errors={"-1": [RetryLater(42)]})
    await add(engine, [text_row(k, START, chat=c) for k, c in (("a", "-1"), ("b", "-2"))])
    worker = dispatcher(engine, sender, clock)
    # The flood wait stops the batch: "b" is handed back untried, nothing is sent meanwhile.
    assert await worker.tick() == TickResult(retried=1, left=1)
    repo = OutboxRepository(engine)
    a = await repo.get_by_key("a")
    assert a is not None and a.status is OutboxStatus.PENDING
    assert a.due_at == START + timedelta(seconds=42) and a.attempts == 0
    clock.advance(timedelta(seconds=41))
    assert await worker.tick() == TickResult()  # still holding off
    assert sender.sent == []
    clock.advance(timedelta(seconds=1))
    assert await worker.tick() == TickResult(sent=2)
    assert [chat for _, chat, _ in sender.sent] == ["-2", "-1"]


async def test_chat_unavailable_fails_the_row_and_tells_the_hook(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    told: list[OutboxRow] = []

    async def hook(row: OutboxRow) -> None:
        told.append(row)
        raise RuntimeError("the hook itself broke")  # must not break the batch

    sender = RecordingSender(errors={"-1": [ChatUnavailable("Forbidden: bot was kicked")]})
    await add(engine, [text_row("gone", START, chat="-1"), text_row("ok", START, chat="-2")])
    result = await dispatcher(engine, sender, clock, on_chat_unavailable=hook).tick()
    assert result == TickResult(sent=1, failed=1)
    assert [row.dedupe_key for row in told] == ["gone"]
    gone = await OutboxRepository(engine).get_by_key("gone")
    assert gone is not None and gone.status is OutboxStatus.FAILED
    assert gone.last_error == "chat unavailable: Forbidden: bot was kicked"


async def test_an_outage_holds_the_platform_back_and_never_fails_the_row(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    """Telegram answering 5xx for hours: one row at a time probes it, at 30 s, 1, 2, 4, 8,
    then every 10 minutes; a probe is not counted against its row, the row behind it is handed
    back untried, and Zalo's rows keep going out."""
    sender = RecordingSender(down={"telegram"})
    starts = START + timedelta(days=1)
    await add(
        engine,
        [
            text_row("first", START, chat="-1", expires=starts),
            text_row("second", START + timedelta(seconds=1), chat="-2", expires=starts),
            text_row("zalo", START + timedelta(seconds=2), chat="z1", platform="zalo"),
        ],
    )
    worker = dispatcher(engine, sender, clock)
    repo = OutboxRepository(engine)
    clock.advance(timedelta(seconds=2))
    assert await worker.tick() == TickResult(sent=1, retried=1, left=1)
    assert sender.sent == [("zalo", "z1", "message zalo")]
    waits = []
    for _ in range(30):
        waiting = [await repo.get_by_key(key) for key in ("first", "second")]
        for row in waiting:
            assert row is not None and row.status is OutboxStatus.PENDING and row.attempts == 0
        resume = max(row.due_at for row in waiting if row is not None)
        waits.append(resume - clock.now())
        clock.advance(waits[-1] - timedelta(seconds=1))
        assert await worker.tick() == TickResult()  # held back: not even claimed
        clock.advance(timedelta(seconds=1))
        assert await worker.tick() == TickResult(retried=1, left=1)  # one probe
    assert [wait.total_seconds() / 60 for wait in waits[:7]] == [0.5, 1, 2, 4, 8, 10, 10]
    assert max(waits) == OUTAGE_BACKOFF_MAX
    row = await repo.get_by_key("first")
    assert row is not None and row.last_error == "platform down: NetworkError"
    # Recovered: the next probe goes through and the row behind it follows.
    sender.down.clear()
    clock.advance(OUTAGE_BACKOFF_MAX)
    assert await worker.tick() == TickResult(sent=2)
    assert await repo.counts_by_status() == {OutboxStatus.SENT: 3}
    # The outage is over for good: a new failure starts again at 30 s.
    await add(engine, [text_row("later", clock.now(), chat="-3")], clock.now())
    sender.down.add("telegram")
    assert await worker.tick() == TickResult(retried=1)
    later = await repo.get_by_key("later")
    assert later is not None and later.due_at == clock.now() + timedelta(seconds=30)


async def test_an_outage_past_the_rows_expiry_expires_it_instead_of_sending_late(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    starts = START + timedelta(hours=1)
    sender = RecordingSender(down={"telegram"})
    await add(engine, [text_row("2h", START, chat="-1", expires=starts)])
    worker = dispatcher(engine, sender, clock)
    while clock.now() < starts + timedelta(minutes=30):
        await worker.tick()
        clock.advance(timedelta(seconds=30))
    sender.down.clear()
    await worker.tick()
    row = await OutboxRepository(engine).get_by_key("2h")
    assert row is not None and row.status is OutboxStatus.EXPIRED and sender.sent == []


async def test_other_errors_back_off_then_fail_and_log_nothing_personal(
    engine: AsyncEngine, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    failures: list[Exception] = [OSError(f"boom for {SECRET}") for _ in range(5)]
    sender = RecordingSender(errors={"-1": failures})
    await add(engine, [text_row("flaky", START, chat="-1", text=SECRET)])
    worker = dispatcher(engine, sender, clock)
    repo = OutboxRepository(engine)
    for attempt in range(1, 5):
        assert await worker.tick() == TickResult(retried=1)
        row = await repo.get_by_key("flaky")
        assert row is not None and row.attempts == attempt and row.last_error == "OSError"
        assert row.due_at == clock.now() + backoff(attempt)
        clock.advance(backoff(attempt))
    assert await worker.tick() == TickResult(failed=1)
    row = await repo.get_by_key("flaky")
    assert row is not None and row.status is OutboxStatus.FAILED and row.attempts == 5
    assert sender.sent == []
    assert "OSError" in caplog.text and "test_outbox.py" in caplog.text
    assert SECRET not in caplog.text and "Nguyễn" not in caplog.text


async def test_renderers_empty_obsolete_and_unknown(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    async def reminder(row: OutboxRow) -> list[Reply]:
        if row.payload["meeting"] == "cancelled":
            return []
        if row.payload["meeting"] == "gone":
            raise Obsolete
        return [Reply("Nhắc họp", choices=((Choice("Vắng", "absent:1"),),))]

    def row(key: str, payload: dict[str, object]) -> NewOutboxRow:
        return NewOutboxRow(key, "telegram", "-1", START, None, payload)

    await add(
        engine,
        [
            row("ok", {"type": "meeting.reminder", "meeting": "ok"}),
            row("nothing", {"type": "meeting.reminder", "meeting": "cancelled"}),
            row("gone", {"type": "meeting.reminder", "meeting": "gone"}),
            row("mystery", {"type": "from.the.future"}),
        ],
    )
    sender = RecordingSender()
    result = await dispatcher(
        engine, sender, clock, renderers={"meeting.reminder": reminder}
    ).tick()
    assert result == TickResult(sent=2, retried=1, expired=1)
    assert sender.texts() == ["Nhắc họp"]
    repo = OutboxRepository(engine)
    status = {k: (await repo.get_by_key(k)).status for k in ("nothing", "gone", "mystery")}  # type: ignore[union-attr]
    assert status == {
        "nothing": OutboxStatus.SENT,
        "gone": OutboxStatus.EXPIRED,
        "mystery": OutboxStatus.PENDING,
    }


async def test_a_row_that_fell_due_while_down_is_sent_unless_expired(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    starts = START + timedelta(hours=2)
    await add(
        engine,
        [
            # 2 h and 1 h before the meeting, and a row whose meeting has started since.
            text_row("2h", START, expires=starts),
            text_row("1h", START + timedelta(hours=1), expires=starts),
            text_row("old", START - timedelta(hours=3), expires=START - timedelta(hours=1)),
        ],
    )
    clock.advance(timedelta(hours=1, minutes=30))  # the bot was down until now
    sender = RecordingSender()
    assert await dispatcher(engine, sender, clock).tick() == TickResult(sent=2, expired=1)
    assert sender.texts() == ["message 2h", "message 1h"]
    old = await OutboxRepository(engine).get_by_key("old")
    assert old is not None and old.status is OutboxStatus.EXPIRED


async def test_a_batch_that_outlasts_its_lease_stops_and_hands_back_the_rest(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    # Each send takes 20 s of (manual) time; the lease is 60 s with a 15 s margin.
    sender = RecordingSender(during_send=lambda: clock.advance(timedelta(seconds=20)))
    await add(engine, [text_row(f"r{i}", START, chat=f"-{i}") for i in range(6)])
    worker = dispatcher(engine, sender, clock)
    result = await worker.tick()
    assert result == TickResult(sent=3, left=3)
    repo = OutboxRepository(engine)
    assert await repo.counts_by_status() == {OutboxStatus.SENT: 3, OutboxStatus.PENDING: 3}
    rest = await repo.get_by_key("r5")
    assert rest is not None and rest.attempts == 0 and rest.claimed_by is None
    assert (await worker.tick()).sent == 3


async def test_a_stopped_dispatcher_starts_nothing(engine: AsyncEngine, clock: ManualClock) -> None:
    await add(engine, [text_row("a", START)])
    worker = dispatcher(engine, RecordingSender(), clock)
    worker.stop()
    assert await worker.tick() == TickResult()
    assert await OutboxRepository(engine).counts_by_status() == {OutboxStatus.PENDING: 1}


async def test_the_runner_ticks_on_a_clock_until_stopped(
    sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    sender = RecordingSender()
    worker = dispatcher(sqlite_engine, sender, clock)
    runner = start_outbox(worker, interval_seconds=0.05)
    try:
        await add(sqlite_engine, [text_row(f"r{i}", START) for i in range(5)])
        runner.wake()
        await wait_for(lambda: len(sender.sent) == 5)
        ticks = runner.ticks
        await wait_for(lambda: runner.ticks >= ticks + 2)  # it keeps ticking
    finally:
        await runner.stop()
    assert not runner.running
    await runner.stop()  # twice is harmless


async def test_stopping_the_runner_finishes_the_send_in_flight_and_hands_back_the_rest(
    sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    class SlowSender(RecordingSender):
        async def send(self, platform: str, chat_id: str, replies: list[Reply]) -> None:
            entered.set()
            await release.wait()
            await super().send(platform, chat_id, replies)

    sender = SlowSender()
    await add(sqlite_engine, [text_row(f"r{i}", START) for i in range(5)])
    runner = start_outbox(dispatcher(sqlite_engine, sender, clock), interval_seconds=0.05)
    await asyncio.wait_for(entered.wait(), timeout=10)
    stopping = asyncio.create_task(runner.stop())
    await asyncio.sleep(0)
    assert not stopping.done()  # waits for the send in flight
    release.set()
    await asyncio.wait_for(stopping, timeout=10)
    assert sender.texts() == ["message r0"]
    repo = OutboxRepository(sqlite_engine)
    assert await repo.counts_by_status() == {OutboxStatus.SENT: 1, OutboxStatus.PENDING: 4}
    assert (await repo.get_by_key("r4")).attempts == 0  # type: ignore[union-attr]


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_a_backlog_drains_batch_after_batch_without_waiting_an_interval(
    sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    sender = RecordingSender()
    await add(sqlite_engine, [text_row(f"r{i:02}", START) for i in range(25)])
    # An hour between ticks: only the first tick (at start) can run within the test.
    runner = start_outbox(dispatcher(sqlite_engine, sender, clock, batch=10), 3600)
    try:
        await wait_for(lambda: len(sender.sent) == 25)
    finally:
        await runner.stop()
    assert runner.ticks == 1
    assert runner.last_result is not None and not runner.last_result.more
    assert sender.texts() == [f"message r{i:02}" for i in range(25)]
