"""A thin async client of the Zalo Bot API (see docs/PLATFORMS.md): the PyPI packages for it are
unmaintained, and the API is small.

Every call is a JSON POST to ``{base}/bot{token}/{method}`` answering ``{ok, result,
description, error_code}``; ``ok: false`` may arrive inside an HTTP 200 and is an error all the
same. The token is part of every URL, so no exception raised here carries a URL, an httpx
error's text or a request: only the method name, the status and Zalo's own description.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

from handlers.core import split_text

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://bot-api.zaloplatforms.com"
MAX_TEXT = 2000  # sendMessage's text limit
POLL_TIMEOUT_SECONDS = 30
BAD_REQUEST = 400
POLL_EMPTY = 408
TOO_MANY = 429
DEFAULT_RETRY_SECONDS = 60.0


class ZaloError(Exception):
    """A Zalo Bot API call failed. ``code`` is Zalo's error code (or the HTTP status), 0 when
    the request never got an answer. The message never holds the token."""

    def __init__(self, method: str, code: int, description: str) -> None:
        super().__init__(f"zalo {method} failed: {code} {description}".strip())
        self.method = method
        self.code = code
        self.description = description


class ZaloRateLimited(ZaloError):
    """429: too many requests, or the plan's message quota is used up."""

    def __init__(self, method: str, description: str, retry_after: float) -> None:
        super().__init__(method, TOO_MANY, description)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class ZaloBotInfo:
    id: str
    account_name: str


class ZaloClient:
    """One bot token. ``sent`` counts messages Zalo accepted (for the monthly quota)."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        if not token:
            raise ValueError("a Zalo bot token is required")
        self._token = token
        self._base = base_url.rstrip("/")
        # Long polls hold the connection for POLL_TIMEOUT_SECONDS: the read timeout must outlast it.
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, read=POLL_TIMEOUT_SECONDS + 15)
        )
        self._owns_http = http is None

    def __repr__(self) -> str:
        return f"<ZaloClient {self._base}>"  # never the token

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def call(self, method: str, payload: dict[str, Any] | None = None) -> Any:
        """POST ``payload`` to ``method`` and return its ``result``; raise ZaloError otherwise."""
        url = f"{self._base}/bot{self._token}/{method}"
        try:
            response = await self._http.post(url, json=payload or {})
        except httpx.HTTPError as error:
            # httpx's own text may quote the URL, and with it the token: keep only the kind.
            raise ZaloError(method, 0, type(error).__name__) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ZaloError(method, response.status_code, "not a JSON object")
        description = str(body.get("description") or "")
        code = int(body.get("error_code") or response.status_code)
        if response.status_code == TOO_MANY or code == TOO_MANY:
            raise ZaloRateLimited(method, description, _retry_after(response, body))
        if response.status_code != httpx.codes.OK or body.get("ok") is not True:
            raise ZaloError(method, code if code != httpx.codes.OK else 0, description)
        return body.get("result")

    async def get_me(self) -> ZaloBotInfo:
        result = await self.call("getMe")
        return ZaloBotInfo(id=str(result["id"]), account_name=str(result.get("account_name", "")))

    async def get_updates(self, wait_seconds: int = POLL_TIMEOUT_SECONDS) -> dict[str, Any] | None:
        """One event (``{event_name, message}``), or None when the poll stayed empty."""
        try:
            result = await self.call("getUpdates", {"timeout": str(wait_seconds)})
        except ZaloError as error:
            if error.code == POLL_EMPTY:
                return None
            raise
        return result if isinstance(result, dict) else None

    async def set_webhook(self, url: str, secret_token: str) -> None:
        if not 8 <= len(secret_token) <= 256:
            raise ValueError("the webhook secret must be 8 to 256 characters")
        await self.call("setWebhook", {"url": url, "secret_token": secret_token})

    async def delete_webhook(self) -> None:
        await self.call("deleteWebhook")

    async def get_webhook_info(self) -> dict[str, Any]:
        result = await self.call("getWebhookInfo")
        return result if isinstance(result, dict) else {}

    async def send_message(
        self, chat_id: str, text: str, *, parse_mode: str | None = None
    ) -> list[str]:
        """Send ``text`` in parts of at most 2,000 characters, cut at paragraph breaks. With a
        ``parse_mode``, a part Zalo refuses (400) goes again as plain text. Returns the ids."""
        ids: list[str] = []
        for part in split_text(text, MAX_TEXT):
            if not part.strip():
                continue
            payload: dict[str, Any] = {"chat_id": chat_id, "text": part}
            if parse_mode is not None:
                payload["parse_mode"] = parse_mode
            try:
                result = await self.call("sendMessage", payload)
            except ZaloError as error:
                if parse_mode is None or error.code != BAD_REQUEST:
                    raise
                logger.info("zalo refused formatted text; sending it plain")
                result = await self.call("sendMessage", {"chat_id": chat_id, "text": part})
            ids.append(str((result or {}).get("message_id", "")))
        return ids

    async def send_photo(self, chat_id: str, photo_url: str, caption: str = "") -> None:
        payload = {"chat_id": chat_id, "photo": photo_url}
        if caption:
            payload["caption"] = caption[:MAX_TEXT]
        await self.call("sendPhoto", payload)

    async def send_chat_action(self, chat_id: str, action: str = "typing") -> None:
        await self.call("sendChatAction", {"chat_id": chat_id, "action": action})


def _retry_after(response: httpx.Response, body: dict[str, Any]) -> float:
    """Zalo documents no retry hint; honour one if it comes, else wait a minute."""
    parameters = body.get("parameters")
    hinted: object = parameters.get("retry_after") if isinstance(parameters, dict) else None
    hinted = hinted or response.headers.get("retry-after")
    try:
        return max(1.0, float(str(hinted)))
    except ValueError:
        return DEFAULT_RETRY_SECONDS
