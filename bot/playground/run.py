"""Runs the playground: the local Bot API server, the real bot against it, and the web page.

The bot is built exactly as in production (``build_bot``: the same PTB Application, handlers,
storage and outbox); only its Bot API address, its database and its clock differ.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import uvicorn
from cryptography.fernet import Fernet
from pydantic import SecretStr

from bot.app import ChiboBot, build_bot, running
from bot.playground.bot_api import EmbeddedServer, FakeBotApi, running_fake_bot_api
from bot.playground.seed import DemoWorld, populate, seed, send_demo_document
from bot.playground.web import Playground
from bot.settings import SQLITE_PREFIX, Settings
from scheduler.clock import OffsetClock

BOT_USERNAME = "chibo_demo_bot"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class RunningPlayground:
    """What a started playground exposes to whoever started it (the CLI, the tests)."""

    url: str
    api: FakeBotApi
    world: DemoWorld
    clock: OffsetClock
    chibo: ChiboBot
    seeded: bool


def _beside_database(settings: Settings, suffix: str) -> Path | None:
    """A path next to the playground's SQLite file, or None for other databases."""
    url = settings.playground_database_url
    if not url.startswith(SQLITE_PREFIX) or url.endswith(":memory:"):
        return None
    return Path(url.removeprefix(SQLITE_PREFIX)).with_suffix(suffix)


def playground_keys(settings: Settings) -> tuple[SecretStr, ...]:
    """Keys for personal data typed into the demo: the configured ones, else one kept beside
    the playground's database so a restart can still read what was saved."""
    if settings.data_keys:
        return settings.data_keys
    path = _beside_database(settings, ".key")
    if path is None:
        return (SecretStr(Fernet.generate_key().decode()),)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)  # private before the key is in it
        path.write_text(Fernet.generate_key().decode(), encoding="ascii")
    return (SecretStr(path.read_text(encoding="ascii").strip()),)


def bot_settings(settings: Settings, api: FakeBotApi) -> Settings:
    """The production settings pointed at the local server and the playground's database."""
    return settings.model_copy(
        update={
            "telegram_token": SecretStr(api.token),
            "telegram_base_url": api.base_url,
            "telegram_base_file_url": api.base_file_url,
            "database_url": settings.playground_database_url,
            "data_keys": playground_keys(settings),
            "webhook_url": None,
            # Nobody else shares this server: Telegram's overall limit has nothing to protect.
            "telegram_max_rate": 0.0,
        }
    )


class PortUnavailable(Exception):
    """The page's port cannot be listened on (taken by another program, most likely)."""

    def __init__(self, port: int, reason: str) -> None:
        super().__init__(f"{port}: {reason}")
        self.port = port
        self.reason = reason


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as error:
        sock.close()
        raise PortUnavailable(port, error.strerror or str(error)) from None
    return sock


@contextlib.asynccontextmanager
async def playground(
    settings: Settings, *, start: datetime | None = None
) -> AsyncIterator[RunningPlayground]:
    """Start everything in the running loop; the page answers until the block ends.

    ``settings.playground_port`` 0 picks a free port (tests); ``start`` pins the clock."""
    # The page's port first: a taken port fails before anything else has started.
    with contextlib.closing(_bind(settings.playground_port)) as sock:
        clock = OffsetClock(start)
        # Files the bot keeps a file_id of must still download after a restart.
        files = _beside_database(settings, ".files")
        async with running_fake_bot_api(bot_username=BOT_USERNAME, files_dir=files) as api:
            chibo = build_bot(bot_settings(settings, api), clock=clock)
            world = await populate(api, chibo.runtime.texts("playground.demo.group"))
            async with running(chibo.application):
                services = chibo.runtime.services
                if services is None:
                    raise RuntimeError("the bot's runtime did not open")
                seeded = await seed(services, world, clock.now())
                if seeded:
                    await send_demo_document(api, world, services.texts)
                page = Playground(
                    api, world, clock, services.texts, settings.timezone, _waker(chibo)
                )
                async with _serving(page, sock) as url:
                    yield RunningPlayground(url, api, world, clock, chibo, seeded)


@contextlib.asynccontextmanager
async def _serving(page: Playground, sock: socket.socket) -> AsyncIterator[str]:
    server = EmbeddedServer(
        uvicorn.Config(
            page.app, log_config=None, log_level="warning", access_log=False, lifespan="off"
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]), name="playground-web")
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the playground page did not start")
            await asyncio.sleep(0.01)
        yield f"http://{HOST}:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        await task


def _waker(chibo: ChiboBot) -> Callable[[], None]:
    def wake() -> None:
        # After a fast-forward the due reminders go out now, not at the next interval tick.
        if chibo.runtime.outbox is not None:
            chibo.runtime.outbox.wake()

    return wake


async def serve_forever(settings: Settings, announce: Callable[[str], None]) -> None:
    """The CLI's playground: run until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with playground(settings) as running_playground:
        announce(running_playground.url)
        await stop.wait()
