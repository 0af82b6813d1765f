"""The web endpoint on its own (httpx's ASGI transport): the Zalo webhook's checks and the
signed links' answers to forged, malformed and expired tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from bot.links import (
    DOCUMENT,
    TEMPORARY,
    LinkExpired,
    LinkSigner,
    ServedFile,
    TemporaryFiles,
    signing_keys,
)
from bot.web import MAX_WEBHOOK_BYTES, SECRET_HEADER, ZALO_WEBHOOK_PATH, WebEndpoint
from handlers.i18n import Texts
from scheduler.clock import ManualClock

vi = Texts("vi")
SECRET = "webhook-secret-1"


def _endpoint(clock: ManualClock, events: list[dict[str, Any]]) -> tuple[WebEndpoint, LinkSigner]:
    async def on_event(event: dict[str, Any]) -> None:
        if event.get("boom"):
            raise RuntimeError("handler failed")
        events.append(event)

    [key] = signing_keys(link_key=None, data_keys=["k" * 44])
    signer = LinkSigner(key, "http://test")
    web = WebEndpoint(
        texts=vi,
        clock=clock,
        signer=signer,
        files=TemporaryFiles(timedelta(hours=1)),
        on_zalo_event=on_event,
        zalo_secret=SECRET,
    )
    return web, signer


async def test_webhook_refuses_what_is_not_a_zalo_update(clock: ManualClock) -> None:
    events: list[dict[str, Any]] = []
    web, _ = _endpoint(clock, events)
    transport = httpx.ASGITransport(app=web.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        headers = {SECRET_HEADER: SECRET}
        assert (
            await http.post(ZALO_WEBHOOK_PATH, content=b"{", headers=headers)
        ).status_code == 400
        bad = await http.post(ZALO_WEBHOOK_PATH, json={"ok": True, "result": []}, headers=headers)
        assert bad.status_code == 400
        big = await http.post(
            ZALO_WEBHOOK_PATH, content=b" " * (MAX_WEBHOOK_BYTES + 1), headers=headers
        )
        assert big.status_code == 413
        wrong = await http.post(
            ZALO_WEBHOOK_PATH, json={"result": {}}, headers={SECRET_HEADER: SECRET + "x"}
        )
        assert wrong.status_code == 403
        # A failing handler still answers 200: a redelivery would fail the same way.
        failing = await http.post(
            ZALO_WEBHOOK_PATH, json={"ok": True, "result": {"boom": 1}}, headers=headers
        )
        assert failing.status_code == 200
        fine = await http.post(
            ZALO_WEBHOOK_PATH, json={"ok": True, "result": {"event_name": "x"}}, headers=headers
        )
        assert fine.status_code == 200
    assert events == [{"event_name": "x"}]


async def test_links_refuse_forged_malformed_and_missing_files(clock: ManualClock) -> None:
    web, signer = _endpoint(clock, [])
    later = clock.now() + timedelta(minutes=5)
    transport = httpx.ASGITransport(app=web.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        for token in ("abc", "doc.1.0.1.", "...", "doc.1.0.99999999999.AAAA"):
            response = await http.get(f"/d/{token}")
            assert response.status_code == 404 and response.text == vi("link.invalid")
        no_source = signer.url(DOCUMENT, 1, None, later).removeprefix("http://test")
        gone = await http.get(no_source)
        assert gone.status_code == 404 and gone.text == vi("link.gone")
        unknown_file = signer.url(TEMPORARY, 123, None, later).removeprefix("http://test")
        assert (await http.get(unknown_file)).status_code == 404
    other = LinkSigner(b"another key of 32 bytes!!!!!!!!!", "http://test")
    assert signer.verify(other.url(DOCUMENT, 1, None, later).rsplit("/", 1)[1], clock.now()) is None


def test_keys_derive_from_the_data_key_or_the_link_key() -> None:
    assert signing_keys(link_key=None, data_keys=["a" * 44]) == signing_keys(
        link_key=None, data_keys=["a" * 44]
    )
    assert signing_keys(link_key="x" * 16, data_keys=["a" * 44])[0] == b"x" * 16
    assert signing_keys(link_key=None, data_keys=[]) != signing_keys(link_key=None, data_keys=[])
    files = TemporaryFiles(timedelta(hours=1))
    file_id, _ = files.keep(ServedFile("a.txt", b"a"))
    assert files.get(file_id) == ServedFile("a.txt", b"a") and files.get(file_id + 1) is None


async def _post_raw(
    app: Any, chunks: int, chunk: bytes, *, declared: int | None = None
) -> tuple[int, int]:
    """POST ``chunks`` pieces of ``chunk`` to the webhook straight over ASGI (the transport is
    the fake here): the status answered and how many body bytes the endpoint pulled."""
    pulled = 0
    given = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled, given
        if given < chunks:
            given += 1
            pulled += len(chunk)
            return {"type": "http.request", "body": chunk, "more_body": True}
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(SECRET_HEADER.lower().encode(), SECRET.encode())]
    if declared is not None:
        headers.append((b"content-length", str(declared).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": ZALO_WEBHOOK_PATH,
        "raw_path": ZALO_WEBHOOK_PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    return int(sent[0]["status"]), pulled


async def test_an_oversized_webhook_body_is_refused_while_it_is_read(clock: ManualClock) -> None:
    events: list[dict[str, Any]] = []
    web, _ = _endpoint(clock, events)
    app = web.app()
    chunk = b" " * 4096
    # 4 MB sent without a length (chunked): reading stops one chunk past the limit.
    status, pulled = await _post_raw(app, 1024, chunk)
    assert status == 413
    assert pulled <= MAX_WEBHOOK_BYTES + len(chunk)
    # A length announced over the limit is refused before any of the body is read.
    status, pulled = await _post_raw(app, 1024, chunk, declared=1024 * len(chunk))
    assert (status, pulled) == (413, 0)
    # Within the limit, in pieces: read whole and handled.
    body = b'{"ok": true, "result": {"event_name": "x"}}'
    status, _ = await _post_raw(app, 1, body)
    assert status == 200 and events == [{"event_name": "x"}]


def _signer(link_key: str | None, data_keys: list[str]) -> LinkSigner:
    """Built from settings the way the Zalo service builds it."""
    key, *older = signing_keys(link_key=link_key, data_keys=data_keys)
    return LinkSigner(key, "http://test", older_keys=older)


def test_links_sent_before_a_key_rotation_still_open(clock: ManualClock) -> None:
    old, new = "o" * 44, "n" * 44
    later = clock.now() + timedelta(hours=1)
    before = _signer(None, [old]).url(DOCUMENT, 5, 9, later).rsplit("/", 1)[1]
    expected = (DOCUMENT, 5, 9)
    # The new key first, the old one after it (the rotation procedure); or a link key set.
    for after in (_signer(None, [new, old]), _signer("l" * 16, [new, old])):
        target = after.verify(before, clock.now())
        assert target is not None and (target.kind, target.item_id, target.member_id) == expected
    # New links are signed with the new key: they open once the old key is gone.
    fresh = _signer(None, [new, old]).url(DOCUMENT, 5, 9, later).rsplit("/", 1)[1]
    assert _signer(None, [new]).verify(fresh, clock.now()) is not None
    # Dropping the old key is what ends the old links (rotate-keys says until when).
    assert _signer(None, [new]).verify(before, clock.now()) is None
    with pytest.raises(LinkExpired):
        _signer(None, [new, old]).verify(before, later + timedelta(seconds=1))
