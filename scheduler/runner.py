"""Runs the outbox dispatcher on a clock: an APScheduler interval job in the running event loop.

APScheduler is only a clock here. Nothing is stored in its job store: what must go out is in the
outbox table, so a restart or a second process changes nothing about what gets sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler.dispatcher import OutboxDispatcher, TickResult, error_location

logger = logging.getLogger(__name__)

JOB_ID = "outbox"
# "Skipped: maximum number of running instances reached" is the expected outcome whenever a
# batch outlasts the interval; keep APScheduler's scheduler chatter out of the log.
_scheduler_log = logging.getLogger(f"{__name__}.apscheduler")
_scheduler_log.setLevel(logging.ERROR)


class OutboxRunner:
    """The handle ``start_outbox`` returns: ``wake`` to tick soon, ``stop`` to end cleanly."""

    def __init__(self, dispatcher: OutboxDispatcher, interval_seconds: float) -> None:
        if interval_seconds <= 0:
            raise ValueError("the outbox interval must be positive")
        self._dispatcher = dispatcher
        self._interval = interval_seconds
        self._scheduler = AsyncIOScheduler(timezone=UTC, logger=_scheduler_log)
        self._idle = asyncio.Event()
        self._idle.set()
        self.ticks = 0
        self.last_result: TickResult | None = None

    def _start(self) -> None:
        self._scheduler.add_executor(AsyncIOExecutor(), alias="outbox")
        self._scheduler.add_job(
            self._run,
            "interval",
            seconds=self._interval,
            id=JOB_ID,
            executor="outbox",
            max_instances=1,  # a batch is never run twice at once by one process
            coalesce=True,  # runs missed while a batch ran collapse into one
            misfire_grace_time=None,  # a late tick is still a tick
            next_run_time=datetime.now(UTC),  # drain what fell due while we were down
        )
        self._scheduler.start()

    async def _run(self) -> None:
        self._idle.clear()
        try:
            # A full batch means a backlog (a fan-out): drain it at the rate limiter's pace
            # instead of waiting an interval between batches.
            self.last_result = await self._dispatcher.tick()
            while self.last_result.more:
                self.last_result = await self._dispatcher.tick()
        except Exception as error:
            # Storage trouble (database locked or unreachable): the next tick tries again.
            # The message is left out: it may quote SQL parameters.
            logger.error(
                "outbox tick failed: %s at %s", type(error).__name__, error_location(error)
            )
        finally:
            self.ticks += 1
            self._idle.set()

    def wake(self) -> None:
        """Tick as soon as possible (e.g. right after enqueueing something due now)."""
        job = self._scheduler.get_job(JOB_ID)
        if job is not None:
            job.modify(next_run_time=datetime.now(UTC))

    async def stop(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Start no new tick, let the send in flight finish (the rest of its batch is handed
        back), then shut the scheduler down. Call before disposing of the database engine."""
        if not self._scheduler.running:
            return
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(JOB_ID)
        self._dispatcher.stop()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            logger.warning("the outbox batch did not stop within %s s; cancelling it", timeout)
        # Cancels a batch still running after the timeout: its rows come back once their
        # lease lapses.
        self._scheduler.shutdown(wait=False)
        # AsyncIOScheduler shuts down in a callback on the loop's next turn.
        for _ in range(100):
            if not self._scheduler.running:
                break
            await asyncio.sleep(0)

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)


def start_outbox(dispatcher: OutboxDispatcher, interval_seconds: float) -> OutboxRunner:
    """Tick ``dispatcher`` every ``interval_seconds`` (and at once) in the running loop."""
    runner = OutboxRunner(dispatcher, interval_seconds)
    runner._start()
    return runner
