"""A local fake of the Zalo Bot API (Starlette + uvicorn on 127.0.0.1) that behaves as
docs/PLATFORMS.md says: ``/bot<TOKEN>/<method>`` JSON POSTs answering ``{ok, result,
description, error_code}``; getUpdates hands out ONE event per call and answers 408 (as
``ok: false`` inside HTTP 200) when nothing came; sendMessage refuses texts over 2,000
characters; in groups only messages that mention the bot (with the "@BotName" prefix in the
text) or reply to it are delivered; with a webhook set, events are POSTed to it with the
``X-Bot-Api-Secret-Token`` header and getUpdates refuses to work.

Tests script people and groups, make them write, then wait for what the bot sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

DEFAULT_TOKEN = "1234567890:fake-zalo-secret"
MAX_TEXT = 2000
POLL_CAP_SECONDS = 1.0  # a real poll waits up to 30 s; tests need not


@dataclass(frozen=True)
class ZaloUser:
    id: str
    display_name: str


@dataclass(frozen=True)
class ZaloGroup:
    id: str
    name: str


@dataclass
class SentMessage:
    message_id: str
    chat_id: str
    text: str
    parse_mode: str | None = None


@dataclass
class Call:
    method: str
    payload: dict[str, Any]


@dataclass
class Mark:
    sent: int
    calls: int


@dataclass
class _Failure:
    method: str
    code: int
    description: str
    http_status: int


Predicate = Callable[[SentMessage], bool]


@dataclass
class FakeZaloApi:
    token: str = DEFAULT_TOKEN
    bot_id: str = "9000000001"
    bot_name: str = "Chi bộ số"
    sent: list[SentMessage] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    photos: list[dict[str, Any]] = field(default_factory=list)
    # Messages the bot may send before every send answers 429 (the plan's quota); None: no cap.
    quota: int | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_statuses: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._changed = asyncio.Event()
        self._failures: list[_Failure] = []
        self._groups: dict[str, ZaloGroup] = {}
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._port = 0
        self._http = httpx.AsyncClient(timeout=10)

    # ------------------------------------------------------------------ the server

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = int(sock.getsockname()[1])
        app = Starlette(routes=[Route("/bot{token}/{method}", self._endpoint, methods=["POST"])])
        config = uvicorn.Config(
            app, log_config=None, log_level="warning", access_log=False, lifespan="off", ws="none"
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="fake-zalo")
        deadline = time.monotonic() + 10
        while not self._server.started:
            if self._task.done():
                self._task.result()
            if time.monotonic() > deadline:
                raise RuntimeError("the fake Zalo API did not start in time")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.wait_for(self._task, timeout=10)
        await self._http.aclose()

    async def _endpoint(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized", http_status=401)
        method = str(request.path_params["method"])
        try:
            payload = await request.json()
        except ValueError:
            payload = {}
        payload = payload if isinstance(payload, dict) else {}
        self.calls.append(Call(method, payload))
        for failure in self._failures:
            if failure.method == method:
                self._failures.remove(failure)
                return _error(failure.code, failure.description, http_status=failure.http_status)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return _error(404, "Not Found", http_status=404)
        response: JSONResponse = await handler(payload)
        self._changed.set()
        return response

    # ------------------------------------------------------------------ the Bot API

    async def _api_getMe(self, _payload: dict[str, Any]) -> JSONResponse:  # noqa: N802
        return _ok(
            {
                "id": self.bot_id,
                "account_name": self.bot_name,
                "account_type": "BASIC",
                "can_join_groups": True,
            }
        )

    async def _api_getUpdates(self, payload: dict[str, Any]) -> JSONResponse:  # noqa: N802
        if self.webhook_url is not None:
            return _error(400, "Webhook is set; getUpdates is unavailable")
        wait = min(float(payload.get("timeout") or 0), POLL_CAP_SECONDS)
        try:
            event = await asyncio.wait_for(self._events.get(), timeout=wait)
        except TimeoutError:
            return _error(408, "Request timeout")  # inside HTTP 200, as Zalo does
        return _ok(event)

    async def _api_setWebhook(self, payload: dict[str, Any]) -> JSONResponse:  # noqa: N802
        secret = str(payload.get("secret_token") or "")
        if not payload.get("url") or not 8 <= len(secret) <= 256:
            return _error(400, "Bad Request")
        self.webhook_url, self.webhook_secret = str(payload["url"]), secret
        return _ok({"url": self.webhook_url})

    async def _api_deleteWebhook(self, _payload: dict[str, Any]) -> JSONResponse:  # noqa: N802
        self.webhook_url = self.webhook_secret = None
        return _ok({})

    async def _api_getWebhookInfo(self, _payload: dict[str, Any]) -> JSONResponse:  # noqa: N802
        return _ok({"url": self.webhook_url or ""})

    async def _api_sendMessage(self, payload: dict[str, Any]) -> JSONResponse:  # noqa: N802
        text = str(payload.get("text") or "")
        if not payload.get("chat_id") or not 1 <= len(text) <= MAX_TEXT:
            return _error(400, "Bad Request: text must be 1-2000 characters")
        mode = payload.get("parse_mode")
        if mode is not None and ("```" in text or "](" in text):
            return _error(400, "Bad Request: unsupported formatting")
        if self.quota is not None and len(self.sent) >= self.quota:
            return _error(429, "Quota exceeded", http_status=429)
        message = SentMessage(str(next(self._ids)), str(payload["chat_id"]), text, mode)
        self.sent.append(message)
        return _ok({"message_id": message.message_id, "date": int(time.time() * 1000)})

    async def _api_sendPhoto(self, payload: dict[str, Any]) -> JSONResponse:  # noqa: N802
        if not payload.get("chat_id") or not payload.get("photo"):
            return _error(400, "Bad Request")
        self.photos.append(payload)
        return _ok({"message_id": str(next(self._ids)), "date": int(time.time() * 1000)})

    async def _api_sendChatAction(self, payload: dict[str, Any]) -> JSONResponse:  # noqa: N802
        return _ok({}) if payload.get("chat_id") else _error(400, "Bad Request")

    # ------------------------------------------------------------------ scripting

    def fail_next(
        self, method: str, code: int, description: str = "Error", *, http_status: int = 200
    ) -> None:
        """The next call of ``method`` fails (by default ``ok: false`` inside HTTP 200)."""
        self._failures.append(_Failure(method, code, description, http_status))

    def add_user(self, display_name: str) -> ZaloUser:
        return ZaloUser(f"u{next(self._ids):06d}", display_name)

    def add_group(self, name: str) -> ZaloGroup:
        group = ZaloGroup(f"g{next(self._ids):06d}", name)
        self._groups[group.id] = group
        return group

    async def say(
        self,
        user: ZaloUser,
        text: str,
        *,
        group: ZaloGroup | None = None,
        mention: bool = True,
        reply_to: SentMessage | None = None,
    ) -> dict[str, Any] | None:
        """``user`` writes ``text`` privately or in ``group``. In a group Zalo delivers it only
        when it mentions the bot (then the text starts with "@BotName") or replies to it.
        Returns the event delivered, or None when Zalo would not deliver it."""
        if group is not None:
            if not mention and reply_to is None:
                return None
            if mention:
                text = f"@{self.bot_name} {text}"
        chat = {"id": group.id, "chat_type": "GROUP"} if group else {"id": user.id}
        if group is None:
            chat["chat_type"] = "PRIVATE"
        event = {
            "event_name": "message.text.received",
            "message": {
                "from": {"id": user.id, "display_name": user.display_name, "is_bot": False},
                "chat": chat,
                "text": text,
                "message_id": f"m{next(self._ids)}",
                "date": int(time.time() * 1000),
            },
        }
        await self.deliver(event)
        return event

    async def deliver(self, event: dict[str, Any]) -> None:
        """Hand ``event`` to the bot (again, for a redelivery): by webhook when one is set."""
        if self.webhook_url is None:
            await self._events.put(event)
            return
        status = await self.post_webhook(event, self.webhook_secret)
        self.webhook_statuses.append(status)

    async def post_webhook(self, event: dict[str, Any], secret: str | None) -> int:
        if self.webhook_url is None:
            raise RuntimeError("no webhook set")
        headers = {} if secret is None else {"X-Bot-Api-Secret-Token": secret}
        response = await self._http.post(
            self.webhook_url, json={"ok": True, "result": event}, headers=headers
        )
        return response.status_code

    # ------------------------------------------------------------------ observing

    def mark(self) -> Mark:
        return Mark(sent=len(self.sent), calls=len(self.calls))

    def sent_to(self, chat_id: str, after: Mark | None = None) -> list[SentMessage]:
        start = after.sent if after else 0
        return [message for message in self.sent[start:] if message.chat_id == chat_id]

    async def wait_for(
        self,
        chat_id: str,
        predicate: Predicate | None = None,
        *,
        after: Mark | None = None,
        within: float = 5.0,
    ) -> SentMessage:
        """The first message the bot sent to ``chat_id`` (after ``after``) matching."""
        deadline = time.monotonic() + within
        while True:
            for message in self.sent_to(chat_id, after):
                if predicate is None or predicate(message):
                    return message
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no matching message to {chat_id} within {within}s; "
                    f"sent there: {[m.text[:80] for m in self.sent_to(chat_id, after)]}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=0.05)

    async def idle(self, seconds: float = 0.3) -> None:
        """Let the bot work for a moment (to check that nothing more is sent)."""
        await asyncio.sleep(seconds)


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


def _error(code: int, description: str, *, http_status: int = 200) -> JSONResponse:
    return JSONResponse(
        {"ok": False, "error_code": code, "description": description}, status_code=http_status
    )


@contextlib.asynccontextmanager
async def running_fake_zalo_api(**options: Any) -> AsyncIterator[FakeZaloApi]:
    server = FakeZaloApi(**options)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
