"""Signed, expiring links to files served by our web endpoint: Zalo cannot send files, so a
document (or any file a reply carries) travels as a link.

A link is ``{base}/d/{kind}.{id}.{member}.{expires}.{signature}``: an HMAC-SHA256 over the rest
with a key from settings (or derived from the first data key), so nobody can forge a link or
stretch its life, and the member it was made for is known when it is opened (a read counts
for that person). ``kind`` says where the file comes from: ``doc`` for a ``DocumentSource``,
``tmp`` for a file a reply carried, kept in memory for a while.

A link signed with any configured key is accepted: putting a new data key first (key
rotation) or setting a link key later leaves the links already sent working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

DOCUMENT = "doc"
TEMPORARY = "tmp"
KINDS = (DOCUMENT, TEMPORARY)
SIGNATURE_CHARS = 32
MAX_TEMPORARY_FILES = 256


@dataclass(frozen=True, slots=True)
class ServedFile:
    file_name: str
    content: bytes
    mime_type: str = "application/octet-stream"


class DocumentSource(Protocol):
    """Where the web endpoint gets a document's bytes; the documents capability implements it
    (and may record that ``member_id`` read it)."""

    async def open_document(self, document_id: int, member_id: int | None) -> ServedFile | None:
        """The file, or None when it no longer exists or ``member_id`` may not see it."""
        ...


@dataclass(frozen=True, slots=True)
class LinkTarget:
    kind: str
    item_id: int
    member_id: int | None


class LinkExpired(Exception):
    """A genuine link past its time."""


def derive_key(data_key: str) -> bytes:
    """The link key made from a data key, so links survive a restart without a link key."""
    return hmac.new(data_key.encode(), b"chibo signed links v1", hashlib.sha256).digest()


def signing_keys(*, link_key: str | None, data_keys: Sequence[str]) -> tuple[bytes, ...]:
    """Keys links are checked with, the one that signs first: the configured link key, else
    the one derived from the newest data key, else a random one for this process only. The
    keys derived from every data key follow, so links made before a rotation still open."""
    derived = tuple(derive_key(key) for key in data_keys)
    if link_key:
        return (link_key.encode(), *derived)
    return derived or (secrets.token_bytes(32),)


class LinkSigner:
    def __init__(self, key: bytes, base_url: str, *, older_keys: Sequence[bytes] = ()) -> None:
        if any(len(each) < 16 for each in (key, *older_keys)):
            raise ValueError("the link key must be at least 16 bytes")
        self._key = key
        self._keys = (key, *older_keys)
        self._base = base_url.rstrip("/")

    def url(self, kind: str, item_id: int, member_id: int | None, expires_at: datetime) -> str:
        if kind not in KINDS:
            raise ValueError(f"unknown link kind {kind!r}")
        body = f"{kind}.{item_id}.{member_id or 0}.{int(expires_at.timestamp())}"
        return f"{self._base}/d/{body}.{self._sign(body)}"

    def verify(self, token: str, now: datetime) -> LinkTarget | None:
        """What a link points at; None for anything forged or malformed; LinkExpired when
        genuine but too old."""
        body, _, signature = token.rpartition(".")
        genuine = [
            hmac.compare_digest(signature.encode(), _signature(key, body).encode())
            for key in self._keys
        ]
        if not any(genuine):
            return None
        kind, item, member, expires = body.split(".")
        if int(expires) <= now.timestamp():
            raise LinkExpired
        return LinkTarget(kind, int(item), int(member) or None)

    def _sign(self, body: str) -> str:
        return _signature(self._key, body)


def _signature(key: bytes, body: str) -> str:
    digest = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:SIGNATURE_CHARS]


class TemporaryFiles:
    """Files replies carried (a calendar, a roster export), kept in this process's memory for
    ``ttl``, the newest ``MAX_TEMPORARY_FILES`` at most."""

    def __init__(self, ttl: timedelta) -> None:
        self._ttl = ttl
        self._files: OrderedDict[int, tuple[float, ServedFile]] = OrderedDict()
        self._next = secrets.randbelow(1 << 30)

    @property
    def ttl(self) -> timedelta:
        return self._ttl

    def keep(self, file: ServedFile) -> tuple[int, datetime]:
        self._next += 1
        expires = time.time() + self._ttl.total_seconds()
        self._files[self._next] = (expires, file)
        while len(self._files) > MAX_TEMPORARY_FILES:
            self._files.popitem(last=False)
        return self._next, datetime.fromtimestamp(expires, UTC)

    def get(self, file_id: int) -> ServedFile | None:
        entry = self._files.get(file_id)
        if entry is None or entry[0] <= time.time():
            return None
        return entry[1]
