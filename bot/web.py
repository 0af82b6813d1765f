"""Our small web endpoint (Starlette, served by uvicorn): the Zalo webhook and the signed
file links. Nothing here knows about handlers; it is handed what to call."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.links import DOCUMENT, DocumentSource, LinkExpired, LinkSigner, ServedFile, TemporaryFiles
from handlers.i18n import Texts
from handlers.numbers import is_ascii_digits
from scheduler.clock import Clock

logger = logging.getLogger(__name__)

ZALO_WEBHOOK_PATH = "/zalo/webhook"
SECRET_HEADER = "X-Bot-Api-Secret-Token"  # noqa: S105 - a header name
MAX_WEBHOOK_BYTES = 64 * 1024

EventHandler = Callable[[dict[str, Any]], Awaitable[None]]


async def _body_within(request: Request, limit: int) -> bytes | None:
    """The request body, or None once it passes ``limit``: reading stops there, so an
    oversized body costs at most ``limit`` bytes of memory, however long it is announced
    or sent."""
    declared = request.headers.get("content-length", "")
    if is_ascii_digits(declared) and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


class WebEndpoint:
    """Builds the Starlette app. ``on_zalo_event`` and ``zalo_secret`` enable the webhook;
    ``documents`` is wired by the documents capability."""

    def __init__(
        self,
        *,
        texts: Texts,
        clock: Clock,
        signer: LinkSigner,
        files: TemporaryFiles,
        documents: DocumentSource | None = None,
        on_zalo_event: EventHandler | None = None,
        zalo_secret: str | None = None,
    ) -> None:
        self._texts = texts
        self._clock = clock
        self._signer = signer
        self._files = files
        self.documents = documents
        self._on_zalo_event = on_zalo_event
        self._secret = zalo_secret.encode() if zalo_secret else None

    def app(self) -> Starlette:
        routes = [Route("/d/{token}", self._download, methods=["GET"])]
        if self._on_zalo_event is not None and self._secret is not None:
            routes.append(Route(ZALO_WEBHOOK_PATH, self._zalo_webhook, methods=["POST"]))
        return Starlette(routes=routes)

    async def _zalo_webhook(self, request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        # Constant time, so the secret cannot be guessed a character at a time.
        if self._secret is None or not hmac.compare_digest(given, self._secret):
            return PlainTextResponse("forbidden", status_code=403)
        body = await _body_within(request, MAX_WEBHOOK_BYTES)
        if body is None:
            return PlainTextResponse("too large", status_code=413)
        try:
            update = json.loads(body)
        except ValueError:
            return PlainTextResponse("bad request", status_code=400)
        event = update.get("result") if isinstance(update, dict) else None
        if not isinstance(event, dict) or self._on_zalo_event is None:
            return PlainTextResponse("bad request", status_code=400)
        try:
            await self._on_zalo_event(event)
        except Exception:
            # Answer 200 anyway: a redelivery would fail the same way.
            logger.exception("error while handling a zalo event")
        return JSONResponse({"ok": True})

    async def _download(self, request: Request) -> Response:
        token = str(request.path_params["token"])
        try:
            target = self._signer.verify(token, self._clock.now())
        except LinkExpired:
            return self._page("link.expired", 410)
        if target is None:
            return self._page("link.invalid", 404)
        file: ServedFile | None
        if target.kind == DOCUMENT:
            file = (
                await self.documents.open_document(target.item_id, target.member_id)
                if self.documents is not None
                else None
            )
        else:
            file = self._files.get(target.item_id)
        if file is None:
            return self._page("link.gone", 404)
        disposition = f"attachment; filename*=UTF-8''{quote(file.file_name)}"
        return Response(
            file.content,
            media_type=file.mime_type,
            headers={"Content-Disposition": disposition, "Cache-Control": "private, no-store"},
        )

    def _page(self, key: str, status: int) -> Response:
        return PlainTextResponse(self._texts(key), status_code=status)
