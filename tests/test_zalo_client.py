"""The thin Zalo Bot API client against httpx's MockTransport: errors inside HTTP 200, the
poll that comes back empty, rate limits, long texts, formatting refused, and the token kept
out of every error and log line."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from bot.zalo_client import MAX_TEXT, ZaloClient, ZaloError, ZaloRateLimited

TOKEN = "4242:very-secret-token"


def _client(handler: Any) -> tuple[ZaloClient, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def record(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        seen.append({"path": request.url.path, **body})
        result: httpx.Response = handler(request, body)
        return result

    http = httpx.AsyncClient(transport=httpx.MockTransport(record))
    return ZaloClient(TOKEN, base_url="https://zalo.test", http=http), seen


def _ok(result: Any) -> httpx.Response:
    return httpx.Response(200, json={"ok": True, "result": result})


async def test_get_me_posts_to_the_token_url() -> None:
    client, seen = _client(lambda _r, _b: _ok({"id": "77", "account_name": "Chi bộ số"}))
    me = await client.get_me()
    assert (me.id, me.account_name) == ("77", "Chi bộ số")
    assert seen[0]["path"] == f"/bot{TOKEN}/getMe"


async def test_ok_false_inside_http_200_is_an_error_without_the_token() -> None:
    client, _ = _client(
        lambda _r, _b: httpx.Response(
            200, json={"ok": False, "error_code": 403, "description": "Forbidden"}
        )
    )
    with pytest.raises(ZaloError) as raised:
        await client.send_message("c1", "Xin chào")
    assert raised.value.code == 403
    assert TOKEN not in str(raised.value) and "very-secret" not in repr(raised.value)
    assert "very-secret" not in repr(client)


async def test_an_empty_poll_408_means_nothing_yet() -> None:
    client, seen = _client(
        lambda _r, _b: httpx.Response(
            200, json={"ok": False, "error_code": 408, "description": "Request timeout"}
        )
    )
    assert await client.get_updates() is None
    assert seen[0]["timeout"] == "30"


async def test_one_event_per_poll() -> None:
    event = {"event_name": "message.text.received", "message": {"text": "hi"}}
    client, _ = _client(lambda _r, _b: _ok(event))
    assert await client.get_updates() == event


async def test_429_asks_to_back_off() -> None:
    client, _ = _client(
        lambda _r, _b: httpx.Response(
            429, json={"ok": False, "error_code": 429, "description": "Quota exceeded"}
        )
    )
    with pytest.raises(ZaloRateLimited) as raised:
        await client.send_message("c1", "Xin chào")
    assert raised.value.retry_after >= 1


async def test_long_text_goes_in_parts_cut_at_paragraphs() -> None:
    client, seen = _client(lambda _r, _b: _ok({"message_id": "m", "date": 1}))
    paragraphs = [f"Đoạn {n}: " + "chữ " * 120 for n in range(10)]
    ids = await client.send_message("c1", "\n\n".join(paragraphs))
    texts = [call["text"] for call in seen]
    assert len(ids) == len(texts) > 1
    assert all(1 <= len(text) <= MAX_TEXT for text in texts)
    assert all(text.startswith("Đoạn ") for text in texts)  # every part begins a paragraph
    assert " ".join(" ".join(texts).split()) == " ".join(" ".join(paragraphs).split())


async def test_formatted_text_refused_with_400_is_resent_plain() -> None:
    def handler(_request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        if "parse_mode" in body:
            return httpx.Response(
                200, json={"ok": False, "error_code": 400, "description": "Bad Request"}
            )
        return _ok({"message_id": "m2", "date": 1})

    client, seen = _client(handler)
    assert await client.send_message("c1", "**Họp** chi bộ", parse_mode="markdown") == ["m2"]
    assert ["parse_mode" in call for call in seen] == [True, False]


async def test_a_network_failure_never_shows_the_url(caplog: pytest.LogCaptureFixture) -> None:
    def handler(request: httpx.Request, _body: dict[str, Any]) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    client, _ = _client(handler)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ZaloError) as raised:
        await client.get_me()
    assert raised.value.code == 0
    assert "very-secret" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert "very-secret" not in caplog.text


async def test_webhook_secret_length_is_checked_before_calling() -> None:
    client, seen = _client(lambda _r, _b: _ok(True))
    with pytest.raises(ValueError, match="8 to 256"):
        await client.set_webhook("https://bot.example/zalo/webhook", "short")
    await client.set_webhook("https://bot.example/zalo/webhook", "long-enough-secret")
    await client.delete_webhook()
    assert [call["path"].rsplit("/", 1)[1] for call in seen] == ["setWebhook", "deleteWebhook"]
