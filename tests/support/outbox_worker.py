"""A stand-alone outbox worker process for the crash test: the real engine, repository,
dispatcher, runner and Telegram sender (a PTB ``ExtBot`` with ``AIORateLimiter``), pointed at a
fake Bot API.

    CHIBO_TELEGRAM_TOKEN=... python -m tests.support.outbox_worker \\
        --database sqlite+aiosqlite:///x.db --base-url http://127.0.0.1:PORT/bot \\
        --worker-id w1 --lease 2 --interval 0.1 --batch 10 --max-rate 100

The token comes from the environment, not argv (argv is visible to every user of the machine).
SIGTERM or SIGINT stop it cleanly (exit 0); the test kills it with SIGKILL to play a crash.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from datetime import timedelta

from telegram.ext import AIORateLimiter, ExtBot

from bot.telegram_sender import TelegramSender
from scheduler.clock import SystemClock
from scheduler.dispatcher import OutboxDispatcher
from scheduler.runner import start_outbox
from storage.db import create_engine
from storage.outbox import OutboxRepository


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--worker-id", required=True)
    parser.add_argument("--lease", type=float, default=60.0, help="seconds")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between ticks")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--max-rate", type=float, default=30.0, help="messages/s; 0: no limiter")
    return parser.parse_args(argv)


async def run(arguments: argparse.Namespace) -> None:
    token = os.environ["CHIBO_TELEGRAM_TOKEN"]
    limiter = (
        AIORateLimiter(overall_max_rate=arguments.max_rate, max_retries=0)
        if arguments.max_rate
        else None
    )
    bot: ExtBot[None] = ExtBot(token, base_url=arguments.base_url, rate_limiter=limiter)
    engine = create_engine(arguments.database)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with bot:
            dispatcher = OutboxDispatcher(
                OutboxRepository(engine),
                TelegramSender(bot),
                {},
                SystemClock(),
                arguments.worker_id,
                lease=timedelta(seconds=arguments.lease),
                batch=arguments.batch,
            )
            runner = start_outbox(dispatcher, arguments.interval)
            print("ready", flush=True)
            await stop.wait()
            await runner.stop()
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(run(_arguments(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    main()
