"""Zalo in the running process: the client, the adapter, how events arrive (long polling, or
the webhook on our web endpoint) and the web endpoint itself, which also serves file links.

Started after the runtime opens storage and stopped before it closes; ``Runtime`` does both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from datetime import timedelta

import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.links import DocumentSource, LinkSigner, TemporaryFiles, signing_keys
from bot.relay import PlatformSenders
from bot.settings import Settings
from bot.web import ZALO_WEBHOOK_PATH, WebEndpoint
from bot.zalo import ZaloAdapter, ZaloOutput, ZaloPoller, ZaloSender
from bot.zalo_client import ZaloClient
from handlers.cards import NumberedCards
from handlers.core import Platform
from handlers.dispatch import Dispatcher
from handlers.i18n import Texts
from scheduler.clock import Clock
from storage.cells import CellRepository
from storage.choices import CardRepository
from storage.seen_messages import SeenMessages
from storage.usage import UsageRepository

logger = logging.getLogger(__name__)


class ZaloService:
    def __init__(
        self,
        settings: Settings,
        texts: Texts,
        clock: Clock,
        *,
        documents: DocumentSource | None = None,
    ) -> None:
        if settings.zalo_token is None:
            raise ValueError("ZaloService needs CHIBO_ZALO_TOKEN")
        self._settings = settings
        self._texts = texts
        self._clock = clock
        self.documents = documents
        self.client = ZaloClient(
            settings.zalo_token.get_secret_value(), base_url=settings.zalo_base_url
        )
        self.adapter: ZaloAdapter | None = None
        # Set once started: where file links point, what signs them, and the endpoint (whose
        # ``documents`` the documents capability may set at any time).
        self.web_url = ""
        self.signer: LinkSigner | None = None
        self.web: WebEndpoint | None = None
        self._server: uvicorn.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def webhook_mode(self) -> bool:
        return bool(self._settings.zalo_webhook_secret and self._settings.public_url)

    async def start(
        self, engine: AsyncEngine, dispatcher: Dispatcher, relay: PlatformSenders
    ) -> None:
        settings = self._settings
        me = await self.client.get_me()  # fails fast on a wrong token
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((settings.web_listen, settings.web_port))
        host, port = sock.getsockname()[:2]
        self.web_url = (settings.public_url or f"http://{host}:{port}").rstrip("/")
        link_key = settings.link_key.get_secret_value() if settings.link_key else None
        data_keys = [key.get_secret_value() for key in settings.data_keys]
        key, *older = signing_keys(link_key=link_key, data_keys=data_keys)
        signer = LinkSigner(key, self.web_url, older_keys=older)
        self.signer = signer
        files = TemporaryFiles(timedelta(hours=settings.link_ttl_hours))
        cards = NumberedCards(
            dispatcher.registry, dispatcher.services, CardRepository(engine), Platform.ZALO
        )
        output = ZaloOutput(
            self.client,
            self._texts,
            self._clock,
            cards,
            UsageRepository(engine),
            CellRepository(engine),
            bot_name=me.account_name,
            monthly_quota=settings.zalo_monthly_quota,
            warn_percent=settings.zalo_quota_warn_percent,
            signer=signer,
            files=files,
        )
        adapter = ZaloAdapter(output, cards, SeenMessages(engine), self._clock)
        adapter.attach(dispatcher, relay)
        relay.register(Platform.ZALO, ZaloSender(output))
        self.adapter = adapter
        secret = settings.zalo_webhook_secret
        web = WebEndpoint(
            texts=self._texts,
            clock=self._clock,
            signer=signer,
            files=files,
            documents=self.documents,
            on_zalo_event=adapter.on_event if self.webhook_mode else None,
            zalo_secret=secret.get_secret_value() if secret and self.webhook_mode else None,
        )
        self.web = web
        await self._serve(web, sock)
        if self.webhook_mode and secret is not None:
            await self.client.set_webhook(
                self.web_url + ZALO_WEBHOOK_PATH, secret.get_secret_value()
            )
            logger.info("zalo: receiving by webhook")
        else:
            poller = ZaloPoller(self.client, adapter)
            self._tasks.append(asyncio.create_task(poller.run(), name="zalo-poller"))
            logger.info("zalo: receiving by long polling")

    async def _serve(self, web: WebEndpoint, sock: socket.socket) -> None:
        config = uvicorn.Config(
            web.app(),
            log_config=None,
            log_level="warning",
            access_log=False,  # a file link's path is a bearer token
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        task = asyncio.create_task(self._server.serve(sockets=[sock]), name="chibo-web")
        self._tasks.append(task)
        while not self._server.started:
            if task.done():
                task.result()
                raise RuntimeError("the web endpoint stopped during start-up")
            await asyncio.sleep(0.01)

    async def stop_receiving(self) -> None:
        """Stop polling and the web endpoint; sending still works until ``close``."""
        if self._server is not None:
            self._server.should_exit = True
        for task in self._tasks:
            if task.get_name() == "zalo-poller":
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._server = None

    async def close(self) -> None:
        await self.stop_receiving()
        await self.client.aclose()
