"""Builds the running bot: the PTB Application, storage, services and the dispatcher.

Resources open in ``post_init`` and close in ``post_shutdown``; ``running`` does the same for
code that drives the application inside its own event loop (tests, the playground).
"""

from __future__ import annotations

import asyncio
import gc
import html
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    Update,
)
from telegram.error import RetryAfter
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ContextTypes,
    ExtBot,
    JobQueue,
    TypeHandler,
)

from bot.document_files import TelegramHeldDocuments
from bot.operator_alerts import OperatorAlerts
from bot.relay import PlatformSenders
from bot.settings import Settings
from bot.telegram import TelegramAdapter
from bot.telegram_sender import TelegramSender
from bot.update_order import PerPersonUpdateProcessor
from handlers.cards import NumberedCards
from handlers.catalog import build_registry
from handlers.context import Services
from handlers.core import Platform, Reply
from handlers.dispatch import Dispatcher
from handlers.documents import render_nudge
from handlers.i18n import LANGUAGES, Texts, texts_for
from handlers.meetings import render_reminder
from handlers.registry import Registry, Scope
from handlers.reports import warm_up_files
from scheduler.clock import Clock, SystemClock
from scheduler.dispatcher import OutboxDispatcher, default_worker_id
from scheduler.runner import OutboxRunner, start_outbox
from storage.choices import CardRepository
from storage.crypto import FieldCipher
from storage.db import create_engine, migrate
from storage.documents import NUDGE_PAYLOAD
from storage.fee_rules import load_fee_config
from storage.meetings import REMINDER_PAYLOAD
from storage.outbox import NewOutboxRow, OutboxRepository, OutboxRow, enqueue

if TYPE_CHECKING:
    from bot.zalo_app import ZaloService

logger = logging.getLogger(__name__)

# The concrete type ApplicationBuilder().build() returns with default context types.
TelegramApp = Application[
    ExtBot[int],  # AIORateLimiter's retry argument type
    ContextTypes.DEFAULT_TYPE,
    dict[Any, Any],
    dict[Any, Any],
    dict[Any, Any],
    JobQueue[ContextTypes.DEFAULT_TYPE],
]


@dataclass
class Runtime:
    """What the process holds open while it runs."""

    settings: Settings
    clock: Clock
    texts: Texts
    registry: Registry
    adapter: TelegramAdapter | None
    engine: AsyncEngine | None = None
    services: Services | None = None
    outbox: OutboxRunner | None = None
    zalo: ZaloService | None = None
    # Every platform's sender: the outbox sends each row through its own platform, and a
    # reply for a cell's group on the other platform is relayed through it.
    senders: PlatformSenders = field(default_factory=PlatformSenders)
    dispatcher: Dispatcher | None = None
    # The Telegram chats' numbered cards (digits typed instead of taps), once opened.
    telegram_cards: NumberedCards | None = None
    operator_alerts: OperatorAlerts = field(init=False)

    def __post_init__(self) -> None:
        self.operator_alerts = OperatorAlerts(self.clock.now)

    async def open(self) -> Services:
        # One connection per update handled at once, and a few for the outbox and the jobs.
        engine = create_engine(
            self.settings.database_url, connections=self.settings.concurrent_updates + 4
        )
        await migrate(engine)
        cipher = FieldCipher([key.get_secret_value() for key in self.settings.data_keys])
        services = Services.over(
            engine,
            cipher,
            load_fee_config(self.settings.fee_rates_path),
            clock=self.clock,
            texts=self.texts,
            default_timezone=self.settings.timezone,
            operator_ids=frozenset(str(user_id) for user_id in self.settings.admin_ids),
        )
        self.engine, self.services = engine, services
        self.dispatcher = Dispatcher(self.registry, services)
        if self.adapter is not None:
            cards = CardRepository(engine)
            self.telegram_cards = NumberedCards(self.registry, services, cards, Platform.TELEGRAM)
            self.adapter.attach(self.dispatcher, self.senders, self.telegram_cards)
        return services

    async def start_zalo(self) -> None:
        """Start receiving from and sending to Zalo, when it has a token."""
        if self.zalo is None:
            return
        if self.engine is None or self.dispatcher is None:
            raise RuntimeError("open the runtime before starting Zalo")
        await self.zalo.start(self.engine, self.dispatcher, self.senders)

    async def start_outbox(self, bot: Bot | None) -> None:
        """Re-derive reminder rows, then drain the outbox on an APScheduler interval.
        ``bot`` is the Telegram bot, None when the process serves Zalo alone."""
        if self.engine is None or self.services is None:
            raise RuntimeError("open the runtime before starting the outbox")
        services, engine = self.services, self.engine
        if bot is not None:
            self.senders.register(
                Platform.TELEGRAM,
                TelegramSender(bot, texts=self.texts, cards=self.telegram_cards),
            )
        await services.meetings.reconcile(self.clock.now())

        async def reminder(row: OutboxRow) -> list[Reply]:
            return await render_reminder(
                services.meetings,
                services.cells,
                services.documents,
                self.texts,
                row.payload,
                self.clock.now(),
            )

        async def nudge(row: OutboxRow) -> list[Reply]:
            return await render_nudge(
                services.documents,
                services.meetings,
                services.cells,
                self.texts,
                row.payload,
                self.clock.now(),
            )

        async def tell_secretary(row: OutboxRow) -> None:
            # Once a day per lost chat; the notice itself goes through the outbox.
            if row.org_unit_id is None:
                return
            now = self.clock.now()
            # The secretary may use the other platform only (a cell on Telegram and Zalo).
            accounts = await services.links.secretary_accounts(row.org_unit_id, row.platform)
            notices = [
                NewOutboxRow(
                    dedupe_key=f"chat-unavailable:{row.platform}:{row.chat_id}:{now:%Y%m%d}",
                    platform=platform,
                    chat_id=account,
                    due_at=now,
                    expires_at=None,
                    payload={"type": "text", "text": self.texts("reminders.chat_gone")},
                    org_unit_id=row.org_unit_id,
                )
                for platform, account in accounts[:1]
                if (platform, account) != (row.platform, row.chat_id)
            ]
            async with engine.begin() as connection:
                await enqueue(connection, notices, now)

        dispatcher = OutboxDispatcher(
            OutboxRepository(engine),
            self.senders,
            {REMINDER_PAYLOAD: reminder, NUDGE_PAYLOAD: nudge},
            self.clock,
            default_worker_id(),
            lease=timedelta(seconds=self.settings.outbox_lease_seconds),
            on_chat_unavailable=tell_secretary,
        )
        self.outbox = start_outbox(dispatcher, self.settings.outbox_interval_seconds)

    async def stop_outbox(self) -> None:
        if self.outbox is not None:
            await self.outbox.stop()
            self.outbox = None

    async def close(self) -> None:
        await self.stop_outbox()
        if self.zalo is not None:
            await self.zalo.close()
        if self.engine is not None:
            await self.engine.dispose()
            self.engine = None


@dataclass(frozen=True)
class ChiboBot:
    application: TelegramApp
    runtime: Runtime


def build_runtime(settings: Settings, *, clock: Clock | None = None) -> Runtime:
    """The runtime for the platforms that have a token."""
    texts = texts_for(settings.language)
    clock = clock or SystemClock()
    zalo = None
    if settings.zalo_token:
        # Only then: Zalo brings a web server (Starlette) that a Telegram-only bot never uses.
        from bot.zalo_app import ZaloService

        zalo = ZaloService(settings, texts, clock)
    return Runtime(
        settings=settings,
        clock=clock,
        texts=texts,
        registry=build_registry(),
        adapter=TelegramAdapter(texts) if settings.telegram_token else None,
        zalo=zalo,
    )


def settle_heap() -> None:
    """Take what start-up built (modules, handlers, compiled statements), which lives as long
    as the bot, out of the garbage collector's sight. Each full collection traversed it all
    again, and on a busy province bot those pauses were the slowest replies (bench.province)."""
    gc.collect()
    gc.freeze()


def after_start(*, own_process: bool) -> None:
    """What every kind of bot does once it serves: settle the heap when the process is its
    own, then warm up the report files (last: a background thread, off the start-up path)."""
    if own_process:
        settle_heap()
    warm_up_files()


def build_bot(
    settings: Settings, *, clock: Clock | None = None, own_process: bool = False
) -> ChiboBot:
    """Telegram (and Zalo alongside it, when it has a token) in PTB's application.
    ``own_process``: the process is the bot's alone (``chibo run``), so once started its heap
    may be settled (``settle_heap``); tests and benchmarks share theirs."""
    if settings.telegram_token is None:
        raise ValueError("build_application needs a Telegram token")
    runtime = build_runtime(settings, clock=clock)

    async def post_init(application: TelegramApp) -> None:
        await runtime.open()
        await publish_commands(application, runtime.registry)
        await runtime.start_zalo()
        if runtime.zalo is not None and runtime.zalo.web is not None and runtime.services:
            # Documents posted to a cell's Zalo group are links served from Telegram's copy.
            runtime.zalo.web.documents = TelegramHeldDocuments(
                runtime.services.documents, application.bot
            )
        await runtime.start_outbox(application.bot)
        after_start(own_process=own_process)

    async def post_stop(_application: TelegramApp) -> None:
        # Before shutdown closes the bot's HTTP client: the send in flight must finish.
        if runtime.zalo is not None:
            await runtime.zalo.stop_receiving()
        await runtime.stop_outbox()

    async def post_shutdown(_application: TelegramApp) -> None:
        await runtime.close()

    application = (
        ApplicationBuilder()
        .token(settings.telegram_token.get_secret_value())
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_file_url)
        # Holds Telegram's per-group (20/min) and overall (30/s) limits. No retries: a 429
        # must reach the outbox, which reschedules the row instead of sleeping in the sender.
        # The per-group limit stays whatever the overall rate: it is Telegram's own.
        .rate_limiter(AIORateLimiter(overall_max_rate=settings.telegram_max_rate, max_retries=0))
        .concurrent_updates(PerPersonUpdateProcessor(settings.concurrent_updates))
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
        .build()
    )
    # One handler sees every update; the neutral dispatcher does the routing.
    if runtime.adapter is None:
        raise RuntimeError("a Telegram runtime without its adapter")
    application.add_handler(TypeHandler(Update, runtime.adapter.on_update))
    application.add_error_handler(_error_handler(runtime))
    return ChiboBot(application, runtime)


async def publish_commands(application: TelegramApp, registry: Registry) -> None:
    """The command menu: Vietnamese by default, English for English-language clients, and a
    different list in groups and in private chats. The four lists are sent at once: each is a
    round trip to Telegram that start-up would otherwise wait for in turn."""
    menus = []
    for language in LANGUAGES:
        texts = Texts(language)
        for scope, telegram_scope in (
            (Scope.GROUP, BotCommandScopeAllGroupChats()),
            (Scope.PRIVATE, BotCommandScopeAllPrivateChats()),
        ):
            commands = [
                BotCommand(command.vi, texts(command.description))
                for command in registry.commands()
                if command.in_menu and command.scope in (scope, Scope.ANY)
            ]
            menus.append(
                application.bot.set_my_commands(
                    commands,
                    scope=telegram_scope,
                    language_code=None if language == "vi" else language,
                )
            )
    await asyncio.gather(*menus)


ErrorCallback = Callable[[object, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


def _error_handler(runtime: Runtime) -> ErrorCallback:
    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        # Context for the log, never message text: it may carry personal data.
        where = "no update"
        if isinstance(update, Update):
            chat = update.effective_chat
            where = f"update {update.update_id} chat {chat.id if chat else '-'}"
        if isinstance(context.error, RetryAfter):
            # Over Telegram's limit: telling the chat would only hit the same limit.
            logger.warning("rate limited while handling %s", where)
            return
        logger.error("error while handling %s", where, exc_info=context.error)
        if isinstance(update, Update) and update.effective_chat is not None:
            try:
                await context.bot.send_message(
                    update.effective_chat.id, runtime.texts("error.internal")
                )
            except Exception:  # the error may be that we cannot send at all
                logger.warning("could not tell the chat about the error", exc_info=True)
        kind = type(context.error).__name__
        count = runtime.operator_alerts.admit(kind)
        if count is None:
            return  # the operators heard of this kind of error a moment ago
        notice = runtime.texts(
            "error.operator",
            kind=html.escape(kind),
            count=count,
            minutes=int(runtime.operator_alerts.window.total_seconds() // 60),
        )
        for operator in runtime.settings.admin_ids:
            try:
                await context.bot.send_message(operator, notice)
            except Exception:
                logger.warning("could not notify operator", exc_info=True)

    return on_error


@asynccontextmanager
async def running(application: TelegramApp) -> AsyncIterator[TelegramApp]:
    """Run the bot with long polling inside the caller's event loop, as run_polling would."""
    await application.initialize()
    if application.post_init is not None:
        await application.post_init(application)
    try:
        if application.updater is None:
            raise RuntimeError("the application has no updater")
        await application.updater.start_polling(poll_interval=0.0, timeout=1)
        await application.start()
        try:
            yield application
        finally:
            await application.updater.stop()
            await application.stop()
            if application.post_stop is not None:
                await application.post_stop(application)
    finally:
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)


@asynccontextmanager
async def running_zalo(
    settings: Settings, *, clock: Clock | None = None, own_process: bool = False
) -> AsyncIterator[Runtime]:
    """Serve Zalo alone (no Telegram token) inside the caller's event loop; ``own_process`` as
    for ``build_bot``."""
    if settings.zalo_token is None:
        raise ValueError("running_zalo needs a Zalo token")
    runtime = build_runtime(settings, clock=clock)
    try:
        await runtime.open()
        await runtime.start_zalo()
        await runtime.start_outbox(None)
        after_start(own_process=own_process)
        yield runtime
    finally:
        if runtime.zalo is not None:
            await runtime.zalo.stop_receiving()
        await runtime.close()
