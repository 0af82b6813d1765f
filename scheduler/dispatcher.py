"""Drains the outbox: claim due rows, render each, send it, record the outcome. Platform-neutral:
a ``Sender`` per process does the talking and maps its platform's errors onto the exceptions
below.

Delivery is at least once, with the window for a duplicate kept to one message: rows go out one
at a time and each is marked sent right after its send, so a crash, or a send whose answer was
lost (a timeout after the platform delivered), can repeat only the message that was in flight.

Failures come in three kinds. The chat refusing the bot fails the row at once. The platform
being down (HTTP 5xx, a network error, a timeout) says nothing about the message: the row is
retried, with capped backoff, until it expires (a reminder at its meeting's start), however long
the outage lasts. Anything else is the message's or our own fault and gives up after a few tries.

Nothing here sleeps: a flood wait or an outage holds that platform's rows back (the others still
go out), moves the row's due time forward, and a later tick picks it up.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol

from handlers.core import Reply
from scheduler.clock import Clock
from storage.outbox import OutboxRepository, OutboxRow

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(minutes=15)
# While a platform is down one row probes it; ten minutes at most between probes keeps a
# recovered platform from waiting long, and an outage from costing more than a call a few minutes.
OUTAGE_BACKOFF_MAX = timedelta(minutes=10)


class RetryLater(Exception):
    """The platform asked us to slow down (Telegram's 429 ``retry_after``)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds:g} s")
        self.seconds = max(0.0, float(seconds))


class ChatUnavailable(Exception):
    """The chat cannot receive from the bot: removed from the group, blocked, chat gone.
    ``reason`` is the platform's own fixed wording, never message text."""

    def __init__(self, reason: str = "chat unavailable") -> None:
        super().__init__(reason)
        self.reason = reason


class PlatformDown(Exception):
    """The platform failed on its side or could not be reached: HTTP 5xx, a network error, a
    timeout. Nothing says the message is at fault, so it is tried again until it expires.
    ``reason`` names the kind of failure, never message text or a URL (it may hold the token)."""

    def __init__(self, reason: str = "platform down") -> None:
        super().__init__(reason)
        self.reason = reason


class Obsolete(Exception):
    """Raised by a renderer: the row no longer makes sense (its meeting is gone, cancelled or
    has started). The row is expired instead of sent."""


class Sender(Protocol):
    async def send(self, platform: str, chat_id: str, replies: list[Reply]) -> None:
        """Deliver ``replies`` to ``chat_id``; raise RetryLater, ChatUnavailable or
        PlatformDown as they apply, anything else for a failure worth a few more tries."""
        ...


# payload["type"] -> turns a row into what to say. [] means there is nothing to say any more:
# the row counts as done. Raise Obsolete to expire it instead.
Renderer = Callable[[OutboxRow], Awaitable[list[Reply]]]
ChatUnavailableHook = Callable[[OutboxRow], Awaitable[None]]


async def render_text(row: OutboxRow) -> list[Reply]:
    """``{"type": "text", "text": "..."}``: the text as it is."""
    text = row.payload["text"]
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a text payload needs non-empty text")
    return [Reply(text)]


BUILTIN_RENDERERS: Mapping[str, Renderer] = {"text": render_text}


class UnknownPayload(Exception):
    """No renderer for this payload type (e.g. rows written by a newer version)."""


@dataclass(frozen=True, slots=True)
class TickResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    expired: int = 0
    # Claimed but handed back untried: the lease ran short, a flood wait, or a stop.
    left: int = 0
    # The batch was full, so more rows are probably due: tick again without waiting.
    more: bool = False


Outcome = Literal["sent", "retried", "failed", "expired"]


def default_worker_id() -> str:
    """Unique per process and start: host, pid and a random part (a restarted process on the
    same pid must not pass for its predecessor)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


def backoff(attempts: int, cap: timedelta = BACKOFF_MAX) -> timedelta:
    """Wait before the next try after ``attempts`` failed ones: 30 s, 1, 2, 4 min … ≤ ``cap``."""
    delay = BACKOFF_BASE * (1 << min(max(attempts - 1, 0), 10))
    return min(delay, cap)


def error_location(error: BaseException) -> str:
    """Where an error was raised, as file:line, without its message (which may quote personal
    data or, for HTTP errors, a URL holding the bot token)."""
    frames = traceback.extract_tb(error.__traceback__)[-3:]
    return " < ".join(f"{Path(frame.filename).name}:{frame.lineno}" for frame in reversed(frames))


class OutboxDispatcher:
    def __init__(
        self,
        repo: OutboxRepository,
        sender: Sender,
        renderers: Mapping[str, Renderer],
        clock: Clock,
        worker_id: str | None = None,
        lease: timedelta = timedelta(seconds=60),
        batch: int = 50,
        *,
        on_chat_unavailable: ChatUnavailableHook | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        lease_margin: timedelta | None = None,
    ) -> None:
        if lease <= timedelta(0) or batch <= 0:
            raise ValueError("lease and batch must be positive")
        self._repo = repo
        self._sender = sender
        self._renderers = {**BUILTIN_RENDERERS, **renderers}
        self._clock = clock
        self.worker_id = worker_id or default_worker_id()
        self._lease = lease
        self._batch = batch
        self._on_chat_unavailable = on_chat_unavailable
        self._max_attempts = max_attempts
        # Stop starting sends this long before the lease ends: a send may wait in the rate
        # limiter and on the network, and must finish while the rows are still ours.
        self._margin = lease / 4 if lease_margin is None else lease_margin
        # Per platform, in memory only (a restart merely probes a little sooner): until when
        # its rows are held back (a flood wait, an outage), and how many probes in a row found
        # it down.
        self._paused: dict[str, datetime] = {}
        self._outages: dict[str, int] = {}
        self._stopping = False
        self._lock = asyncio.Lock()

    def stop(self) -> None:
        """Finish the send in flight, hand back the rest of the batch, start no more."""
        self._stopping = True

    async def tick(self) -> TickResult:
        async with self._lock:  # one batch at a time per worker id
            return await self._tick()

    def _held_back(self, now: datetime) -> set[str]:
        """The platforms whose rows wait at ``now``; pauses that are over are forgotten."""
        for platform, until in list(self._paused.items()):
            if until <= now:
                del self._paused[platform]
        return set(self._paused)

    async def _tick(self) -> TickResult:
        now = self._clock.now()
        expired = await self._repo.expire_due(now)
        if self._stopping:
            return TickResult(expired=expired)
        rows = await self._repo.claim(
            self.worker_id, now, self._lease, self._batch, skip_platforms=self._held_back(now)
        )
        deadline = now + self._lease - self._margin
        sent = retried = failed = 0
        # Rows of a platform that was paused during this batch: handed back untried.
        held: list[int] = []
        for position, row in enumerate(rows):
            current = self._clock.now()
            if self._stopping or current >= deadline:
                # The rest may already belong to another worker (our lease is running out):
                # release is guarded by claimed_by, so it only hands back what is still ours.
                rest = held + [later.id for later in rows[position:]]
                await self._repo.release(rest, self.worker_id)
                return TickResult(sent, retried, failed, expired, left=len(rest))
            if row.platform in self._held_back(current):
                held.append(row.id)
                continue
            outcome = await self._deliver(row, current)
            if outcome == "sent":
                sent += 1
            elif outcome == "retried":
                retried += 1
            elif outcome == "failed":
                failed += 1
            else:
                expired += 1
        if held:
            await self._repo.release(held, self.worker_id)
        more = len(rows) == self._batch
        return TickResult(sent, retried, failed, expired, left=len(held), more=more)

    async def _deliver(self, row: OutboxRow, now: datetime) -> Outcome:
        if row.expires_at is not None and row.expires_at <= now:
            await self._repo.mark_expired(row.id, self.worker_id, "expired before sending")
            return "expired"
        if row.attempts > self._max_attempts:
            # Claimed again and again without an outcome: it keeps killing its worker.
            await self._repo.mark_failed(row.id, self.worker_id, "gave up: no outcome")
            return "failed"
        try:
            renderer = self._renderers.get(row.payload_type)
            if renderer is None:
                raise UnknownPayload(row.payload_type)
            replies = await renderer(row)
            for reply in replies:
                if reply.chat_id not in (None, row.chat_id):
                    raise ValueError("an outbox row speaks only to its own chat")
            if replies:
                await self._sender.send(row.platform, row.chat_id, replies)
        except Obsolete:
            await self._repo.mark_expired(row.id, self.worker_id, "obsolete")
            return "expired"
        except RetryLater as wait:
            # A flood wait is for the whole bot token: hold this platform until it is over.
            resume = self._clock.now() + timedelta(seconds=wait.seconds)
            self._paused[row.platform] = resume
            await self._repo.retry_at(
                row.id,
                self.worker_id,
                resume,
                f"retry after {wait.seconds:g} s",
                count_attempt=False,
            )
            logger.info("outbox row %d: flood wait of %g s", row.id, wait.seconds)
            return "retried"
        except PlatformDown as down:
            return await self._platform_down(row, down)
        except ChatUnavailable as gone:
            await self._repo.mark_failed(row.id, self.worker_id, f"chat unavailable: {gone.reason}")
            logger.info("outbox row %d: the chat no longer accepts the bot", row.id)
            await self._tell_chat_unavailable(row)
            return "failed"
        except Exception as error:
            return await self._failed_attempt(row, error)
        self._outages.pop(row.platform, None)
        done = self._clock.now()
        if not await self._repo.mark_sent(row.id, self.worker_id, done):
            logger.warning(
                "outbox row %d was taken over before it was marked sent; it may go out twice",
                row.id,
            )
        return "sent"

    async def _platform_down(self, row: OutboxRow, down: PlatformDown) -> Outcome:
        """Hold the platform back for a growing while; this row probes it again then. The try
        is not counted against the row: however long the outage, the row waits until it
        expires (``expire_due`` ends it then), and is never failed for it."""
        probes = self._outages.get(row.platform, 0) + 1
        self._outages[row.platform] = probes
        resume = self._clock.now() + backoff(probes, OUTAGE_BACKOFF_MAX)
        self._paused[row.platform] = resume
        await self._repo.retry_at(
            row.id, self.worker_id, resume, f"platform down: {down.reason}", count_attempt=False
        )
        logger.warning(
            "outbox: %s is down (%s, %d in a row); row %d and the rest wait until %s",
            row.platform,
            down.reason,
            probes,
            row.id,
            resume.isoformat(timespec="seconds"),
        )
        return "retried"

    async def _failed_attempt(self, row: OutboxRow, error: Exception) -> Outcome:
        kind = type(error).__name__
        if row.attempts >= self._max_attempts:
            await self._repo.mark_failed(row.id, self.worker_id, kind)
            logger.error(
                "outbox row %d (%s) failed for good after %d attempts: %s at %s",
                row.id,
                row.payload_type,
                row.attempts,
                kind,
                error_location(error),
            )
            return "failed"
        retry = self._clock.now() + backoff(row.attempts)
        await self._repo.retry_at(row.id, self.worker_id, retry, kind)
        logger.warning(
            "outbox row %d (%s) attempt %d of %d failed: %s at %s; retrying at %s",
            row.id,
            row.payload_type,
            row.attempts,
            self._max_attempts,
            kind,
            error_location(error),
            retry.isoformat(timespec="seconds"),
        )
        return "retried"

    async def _tell_chat_unavailable(self, row: OutboxRow) -> None:
        if self._on_chat_unavailable is None:
            return
        try:
            await self._on_chat_unavailable(row)
        except Exception as error:
            logger.error(
                "the chat-unavailable hook failed for outbox row %d: %s at %s",
                row.id,
                type(error).__name__,
                error_location(error),
            )
