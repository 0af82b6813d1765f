"""A local Telegram-compatible Bot API server over real HTTP: the playground's stand-in for
``api.telegram.org`` and the end-to-end tests' fake (the class keeps its test-era name).

The real python-telegram-bot ``Application`` (polling with ``getUpdates``) talks to this
server exactly as it would talk to ``api.telegram.org``::

    async with running_fake_bot_api() as server:
        app = (
            ApplicationBuilder()
            .token(server.token)
            .base_url(server.base_url)
            .base_file_url(server.base_file_url)
            .build()
        )
        alice = await server.add_user("Alice", username="alice")
        cell = await server.add_group("Chi bộ 1", admins=[alice])
        async with app:
            await app.start()
            await app.updater.start_polling(poll_interval=0)
            mark = server.mark()
            await server.send_text(cell, alice, "/start")
            reply = await server.wait_for_message(cell, after=mark)
            ...
            await app.updater.stop()
            await app.stop()

Only the transport is faked: the server keeps chats, users, memberships, messages, files,
commands and the update queue in plain Python objects that tests can inspect and drive
("scripted users").  Errors mirror Telegram's (HTTP status + ``description``), e.g.
``400 Bad Request: chat not found`` or ``403 Forbidden: bot can't initiate conversation with
a user``.

Realism worth knowing about:

* Group privacy mode is on by default (``privacy_mode=True``): in groups where the bot is not
  an administrator it only receives commands (``/cmd`` or ``/cmd@<this bot>``), replies to its
  own messages and service messages.  Messages it would not receive are recorded in
  :attr:`FakeBotApi.undelivered` instead of being queued.
* ``parse_mode`` HTML and MarkdownV2 are parsed like Telegram does: the stored message text is
  the plain text plus ``entities``, and malformed markup (``<br>``, unescaped ``<`` or ``.``)
  yields ``400 Bad Request: can't parse entities: ...``.  The legacy ``Markdown`` mode is passed
  through unparsed.  The text as sent is kept in :attr:`StoredMessage.params`.
* Message text is trimmed of leading/trailing whitespace, limited to 4096 characters
  (captions: 1024); inline keyboards are validated (``callback_data`` 1-64 bytes).
* ``editMessageText`` without ``reply_markup`` removes the inline keyboard, and an edit that
  changes nothing fails with ``message is not modified``.
* A callback query can be answered only once.
* Flood limits are off unless asked for: ``FakeBotApi(rate_limits=RateLimits())`` answers
  message sends beyond 30/s overall or 20/min in one group with ``429 Too Many Requests: retry
  after N`` (``parameters.retry_after``), and records each such call in
  :attr:`FakeBotApi.rate_limited`.

The token is never logged or printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hmac
import html
import itertools
import json
import logging
import math
import re
import socket
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any, Final, Literal, TypeVar
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = [
    "DEFAULT_TOKEN",
    "ApiCall",
    "CallbackAnswer",
    "EmbeddedServer",
    "FakeBotApi",
    "FakeBotApiTimeout",
    "FakeChat",
    "FakeFile",
    "FakeUser",
    "Mark",
    "RateLimits",
    "StoredMessage",
    "UploadedFile",
    "buttons",
    "running_fake_bot_api",
]

logger = logging.getLogger(__name__)

JSONDict = dict[str, Any]
Params = dict[str, Any]
Predicate = Callable[["StoredMessage"], bool]
_Found = TypeVar("_Found")

# Not a secret: the only token this local server accepts, and it guards nothing beyond loopback.
DEFAULT_TOKEN: Final = "123456:TEST-TOKEN"  # noqa: S105
DEFAULT_BOT_ID: Final = 9_000_001

MAX_TEXT_LENGTH: Final = 4096
MAX_CAPTION_LENGTH: Final = 1024
MAX_CALLBACK_DATA_BYTES: Final = 64
MAX_CALLBACK_ANSWER_LENGTH: Final = 200
MAX_DOWNLOAD_SIZE: Final = 20 * 1024 * 1024  # getFile limit of the cloud Bot API
MAX_UPLOAD_SIZE: Final = 50 * 1024 * 1024
MAX_INLINE_BUTTONS: Final = 100

ChatType = Literal["private", "group", "supergroup"]
MemberStatus = Literal["creator", "administrator", "member", "left", "kicked"]
_PRESENT_STATUSES: Final = frozenset({"creator", "administrator", "member"})

# Parameters whose values are plain strings even when they look like JSON ("123", "true").
_STRING_PARAMS: Final = frozenset(
    {
        "action",
        "callback_query_id",
        "caption",
        "custom_title",
        "description",
        "document",
        "emoji",
        "explanation",
        "file_id",
        "inline_message_id",
        "language_code",
        "name",
        "parse_mode",
        "photo",
        "question",
        "secret_token",
        "short_description",
        "text",
        "thumbnail",
        "title",
        "url",
    }
)

_UPDATE_TYPES: Final = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "callback_query",
    "inline_query",
    "chosen_inline_result",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
)

_CHAT_ACTIONS: Final = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

_COMMAND_RE: Final = re.compile(r"^/([A-Za-z0-9_]{1,64})(?:@([A-Za-z0-9_]{1,64}))?")
_BOT_COMMAND_NAME_RE: Final = re.compile(r"^[a-z0-9_]{1,32}$")
_BUTTON_URL_RE: Final = re.compile(r"^(?:https?|tg)://\S+$", re.IGNORECASE)
_TEXT_MENTION_RE: Final = re.compile(r"^tg://user\?id=(\d+)$")
_TRIM_CHARS: Final = " \t\r\n\v\0"


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server inside a larger program: signals stay with that program (the
    playground stops its bot before this server, which must still answer meanwhile)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


_FILE_INDEX: Final = "files.json"
_FILE_FIELDS: Final = ("file_id", "file_unique_id", "file_name", "mime_type", "file_path")


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answered to the client as ``{"ok": false, "error_code", "description"}``."""

    def __init__(
        self, error_code: int, description: str, parameters: JSONDict | None = None
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters


def _bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


def _forbidden(detail: str) -> ApiError:
    return ApiError(403, f"Forbidden: {detail}")


class FakeBotApiTimeout(AssertionError):
    """Raised by the ``wait_for_*`` helpers when the awaited event did not happen in time."""


class _EntityParseError(Exception):
    """Malformed HTML / MarkdownV2 markup (becomes ``Bad Request: can't parse entities``)."""


# --------------------------------------------------------------------------------------------
# State objects
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class FakeUser:
    """A Telegram user that tests script.  ``started_bot=False`` means the user never opened a
    private chat with the bot (the bot then gets 403 when writing to them)."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "vi"
    started_bot: bool = True
    blocked_bot: bool = False

    @property
    def full_name(self) -> str:
        """First and last name joined by a space."""
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name

    def to_dict(self) -> JSONDict:
        """The Bot API ``User`` object."""
        data: JSONDict = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data


@dataclass(eq=False)
class FakeChat:
    """A chat.  ``members`` maps user ids to their status; users not in it have left.  The bot's
    own membership is ``bot_status``.  Private chats have ``user`` set and ``id == user.id``."""

    id: int
    type: ChatType
    title: str | None = None
    user: FakeUser | None = None
    username: str | None = None
    members: dict[int, MemberStatus] = field(default_factory=dict)
    bot_status: MemberStatus = "member"
    pinned_message_id: int | None = None
    next_message_id: int = 1

    @property
    def is_group(self) -> bool:
        """True for groups and supergroups."""
        return self.type in ("group", "supergroup")

    def status_of(self, user: FakeUser | int) -> MemberStatus:
        """The membership status of ``user`` in this chat."""
        user_id = user.id if isinstance(user, FakeUser) else user
        if self.user is not None:
            return "member" if user_id == self.user.id else "left"
        return self.members.get(user_id, "left")

    def to_dict(self) -> JSONDict:
        """The Bot API ``Chat`` object."""
        data: JSONDict = {"id": self.id, "type": self.type}
        if self.user is not None:
            data["first_name"] = self.user.first_name
            if self.user.last_name:
                data["last_name"] = self.user.last_name
            if self.user.username:
                data["username"] = self.user.username
        else:
            data["title"] = self.title or ""
            if self.username:
                data["username"] = self.username
        return data


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    filename: str
    content: bytes
    content_type: str


@dataclass(eq=False)
class FakeFile:
    """A file known to the server (uploaded by the bot or sent by a scripted user)."""

    file_id: str
    file_unique_id: str
    content: bytes
    file_name: str
    mime_type: str
    file_path: str
    # Sent as a photo: Telegram refuses its id in sendDocument and a document's in sendPhoto.
    is_photo: bool = False

    @property
    def file_size(self) -> int:
        """Size in bytes."""
        return len(self.content)

    def document_json(self) -> JSONDict:
        """The Bot API ``Document`` object."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_name": self.file_name,
            "mime_type": self.mime_type,
            "file_size": self.file_size,
        }

    def photo_json(self) -> list[JSONDict]:
        """The Bot API ``PhotoSize`` array (one size: the fake does not resize)."""
        return [
            {
                "file_id": self.file_id,
                "file_unique_id": self.file_unique_id,
                "width": 1280,
                "height": 960,
                "file_size": self.file_size,
            }
        ]

    def file_json(self) -> JSONDict:
        """The Bot API ``File`` object returned by ``getFile``."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.file_size,
            "file_path": self.file_path,
        }


@dataclass(eq=False)
class StoredMessage:
    """A message in some chat, sent by the bot or by a scripted user.

    ``data`` is the Bot API ``Message`` object, updated in place by edits.  For bot messages
    ``method``/``params`` are the API call that created it (``params["text"]`` is the text as
    sent, before HTML/MarkdownV2 parsing) and ``reply_markup`` is the markup as requested, of any
    kind (inline keyboard, ``force_reply``, reply keyboard) - ``data`` only carries inline
    keyboards, like Telegram.
    """

    data: JSONDict
    from_bot: bool
    method: str | None = None
    params: Params = field(default_factory=dict)
    reply_markup: JSONDict | None = None
    deleted: bool = False
    edits: list[Params] = field(default_factory=list)

    @property
    def chat_id(self) -> int:
        """Id of the chat the message is in."""
        return int(self.data["chat"]["id"])

    @property
    def message_id(self) -> int:
        """Message id (unique per chat)."""
        return int(self.data["message_id"])

    @property
    def text(self) -> str | None:
        """Plain text (or caption) as Telegram users see it."""
        value = self.data.get("text", self.data.get("caption"))
        return None if value is None else str(value)

    @property
    def document(self) -> JSONDict | None:
        """The ``Document`` object, if any."""
        doc = self.data.get("document")
        return doc if isinstance(doc, dict) else None

    @property
    def poll(self) -> JSONDict | None:
        """The ``Poll`` object, if any."""
        poll = self.data.get("poll")
        return poll if isinstance(poll, dict) else None

    @property
    def is_force_reply(self) -> bool:
        """Whether the message was sent with a ``ForceReply`` markup."""
        return bool(self.reply_markup and self.reply_markup.get("force_reply"))

    @property
    def buttons(self) -> list[tuple[str, str | None]]:
        """Inline keyboard buttons as ``(text, callback_data or url)``, row by row."""
        return buttons(self)

    def __repr__(self) -> str:
        who = "bot" if self.from_bot else f"user {self.data.get('from', {}).get('id')}"
        text = (self.text or "")[:60]
        deleted = " deleted" if self.deleted else ""
        return f"<StoredMessage chat={self.chat_id} id={self.message_id} {who}{deleted} {text!r}>"


@dataclass
class ApiCall:
    """One request received by the server (the request log).  ``status`` and ``result`` are
    filled in once the request has been answered."""

    method: str
    params: Params
    files: dict[str, UploadedFile] = field(default_factory=dict)
    status: int | None = None
    result: Any = None
    error: str | None = None

    @property
    def done(self) -> bool:
        """Whether the response has been produced."""
        return self.status is not None

    @property
    def ok(self) -> bool:
        """Whether the request succeeded."""
        return self.status == 200


@dataclass(frozen=True)
class CallbackAnswer:
    """A recorded ``answerCallbackQuery`` call (the toast/alert the user would see)."""

    callback_query_id: str
    user_id: int
    data: str | None
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None


@dataclass(frozen=True)
class Mark:
    """A cursor into the server's logs, from :meth:`FakeBotApi.mark`."""

    sent: int
    requests: int
    answers: int


@dataclass(frozen=True)
class RateLimits:
    """Telegram's flood limits for message sends (Bots FAQ: about 30 messages a second overall,
    20 a minute in one group), enforced when passed as ``FakeBotApi(rate_limits=...)``.

    Each limit is a rate with a burst of the same size (a generic cell rate algorithm, the
    model PTB's ``AIORateLimiter`` and its aiolimiter buckets follow): 30 at once are fine,
    then one every 1/30 s.  ``jitter`` forgives arrivals that bunch up by up to that many
    seconds on the way (HTTP, the event loop, a loaded test machine), as judging a client to
    the millisecond would be unlike any real server.  Even so, a client sending at 32/s is
    caught within a few hundred messages.
    """

    messages_per_second: int = 30
    group_messages_per_minute: int = 20
    jitter: float = 0.25


# Methods that post a message into a chat: the ones the flood limits count.
_RATE_LIMITED_METHODS: Final = frozenset(
    {"sendmessage", "senddocument", "sendpoll", "sendphoto", "copymessage", "forwardmessage"}
)


class _CellRateLimiter:
    """``rate`` per ``period`` with a burst of ``rate`` (plus ``jitter`` seconds of slack)."""

    def __init__(self, rate: int, period: float, jitter: float) -> None:
        self.interval = period / rate
        self.tolerance = (rate - 1) * self.interval + jitter
        self._next: dict[object, float] = {}  # theoretical arrival time per key

    def wait(self, key: object, now: float) -> float:
        """Seconds until a message for ``key`` is allowed (0: allowed now)."""
        due = max(self._next.get(key, now), now)
        return max(0.0, due - now - self.tolerance)

    def take(self, key: object, now: float) -> None:
        self._next[key] = max(self._next.get(key, now), now) + self.interval


@dataclass
class _InjectedError:
    error_code: int
    description: str
    parameters: JSONDict | None
    times: int


@dataclass
class _Poll:
    message: StoredMessage
    votes: dict[int, list[int]] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _u16len(text: str) -> int:
    """Length in UTF-16 code units (the unit of entity offsets)."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _decode_value(name: str, raw: str) -> Any:
    """Decode a form field the way PTB encodes it: non-strings are JSON dumped."""
    if name in _STRING_PARAMS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


_FORM_ESCAPE_RE: Final = re.compile(r"%(22|[01][0-9A-Fa-f])|\\\\")


def _unquote_form_param(value: str) -> str:
    """Undo httpx's HTML5 escaping of multipart ``name``/``filename`` parameters."""

    def repl(match: re.Match[str]) -> str:
        code = match.group(1)
        return chr(int(code, 16)) if code else "\\"

    return _FORM_ESCAPE_RE.sub(repl, value)


_DISPOSITION_PARAM_RE: Final = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_BOUNDARY_RE: Final = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)


def _parse_multipart(
    body: bytes, content_type: str
) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    """Parse a ``multipart/form-data`` body into text fields and files (stdlib only)."""
    match = _BOUNDARY_RE.search(content_type)
    if match is None:
        raise _bad_request("multipart boundary is missing")
    boundary = (match.group(1) or match.group(2)).encode("latin-1")
    fields: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    chunks = (b"\r\n" + body).split(b"\r\n--" + boundary)
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        _, _, part = chunk.partition(b"\r\n")  # rest of the boundary line
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = {
            key.lower(): _unquote_form_param(value)
            for key, value in _DISPOSITION_PARAM_RE.findall(headers.get("content-disposition", ""))
        }
        name = disposition.get("name")
        if name is None:
            continue
        if "filename" in disposition or "content-type" in headers:
            files[name] = UploadedFile(
                filename=disposition.get("filename") or name,
                content=content,
                content_type=headers.get("content-type", "application/octet-stream"),
            )
        else:
            fields[name] = content.decode("utf-8")
    return fields, files


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise _bad_request(f"invalid {name} specified")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value)
    raise _bad_request(f"invalid {name} specified")


def _opt_str(params: Params, name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _flag(params: Params, name: str, default: bool = False) -> bool:
    value = params.get(name, default)
    if isinstance(value, str):
        return value.lower() in ("true", "1")
    return bool(value)


def buttons(message: StoredMessage | Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """Flatten an inline keyboard into ``(text, callback_data or url or other action)``.

    Accepts a :class:`StoredMessage`, a Bot API ``Message`` dict or a ``reply_markup`` dict.
    """
    if isinstance(message, StoredMessage):
        markup: Any = message.reply_markup or message.data.get("reply_markup")
    elif "inline_keyboard" in message:
        markup = message
    else:
        markup = message.get("reply_markup")
    if not isinstance(markup, Mapping):
        return []
    result: list[tuple[str, str | None]] = []
    for row in markup.get("inline_keyboard") or []:
        for button in row:
            action = None
            for key in ("callback_data", "url", "switch_inline_query", "copy_text", "web_app"):
                if key in button:
                    value = button[key]
                    action = value if isinstance(value, str) else json.dumps(value)
                    break
            result.append((str(button.get("text", "")), action))
    return result


# --------------------------------------------------------------------------------------------
# Formatting: HTML and MarkdownV2 -> plain text + entities (the way Telegram does it)
# --------------------------------------------------------------------------------------------


class _TextBuilder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0  # UTF-16 code units
        self.entities: list[JSONDict] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.pos += _u16len(text)

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        if self.pos > start:
            self.entities.append(
                {"type": kind, "offset": start, "length": self.pos - start, **extra}
            )

    def result(self) -> tuple[str, list[JSONDict]]:
        entities = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), entities


_HTML_TAGS: Final = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "a": "text_link",
    "tg-emoji": "custom_emoji",
}
_HTML_ENTITY_RE: Final = re.compile(r"&(lt|gt|amp|quot|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});")
_HTML_NAMED: Final = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_TAG_NAME_RE: Final = re.compile(r"[A-Za-z0-9-]*")
_HTML_ATTR_RE: Final = re.compile(
    r"""\s*([A-Za-z_:][-A-Za-z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?"""
)


def _find_tag_end(text: str, start: int) -> int:
    quote: str | None = None
    for index in range(start, len(text)):
        char = text[index]
        if quote is not None:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == ">":
            return index
    return -1


@dataclass
class _OpenTag:
    name: str
    start: int
    byte_offset: int
    attrs: dict[str, str]


def parse_html(text: str) -> tuple[str, list[JSONDict]]:
    """Parse Telegram-flavoured HTML into ``(plain text, entities)``.

    Raises :class:`_EntityParseError` with Telegram's wording for malformed markup.
    """
    out = _TextBuilder()
    stack: list[_OpenTag] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "&":
            match = _HTML_ENTITY_RE.match(text, index)
            if match is None:
                out.add("&")
                index += 1
                continue
            name = match.group(1)
            if name in _HTML_NAMED:
                out.add(_HTML_NAMED[name])
            else:
                code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
                out.add(chr(code) if 0 < code <= 0x10FFFF else "")
            index = match.end()
            continue
        if char != "<":
            out.add(char)
            index += 1
            continue
        offset = _byte_offset(text, index)
        if text.startswith("</", index):
            end = text.find(">", index)
            if end < 0:
                raise _EntityParseError(f"Unclosed end tag at byte offset {offset}")
            name = text[index + 2 : end].strip().lower()
            if not stack:
                raise _EntityParseError(f"Unexpected end tag at byte offset {offset}")
            tag = stack.pop()
            if name != tag.name:
                raise _EntityParseError(
                    f'Unmatched end tag at byte offset {offset}, expected "</{tag.name}>", '
                    f'found "</{name}>"'
                )
            _close_html_tag(out, tag, stack)
            index = end + 1
            continue
        name_match = _HTML_TAG_NAME_RE.match(text, index + 1)
        name = name_match.group(0).lower() if name_match else ""
        if name not in _HTML_TAGS:
            raise _EntityParseError(f'Unsupported start tag "{name}" at byte offset {offset}')
        name_end = index + 1 + len(name)
        end = _find_tag_end(text, name_end)
        if end < 0:
            raise _EntityParseError(f"Unclosed start tag at byte offset {offset}")
        attrs: dict[str, str] = {}
        for attr in _HTML_ATTR_RE.finditer(text[name_end:end].rstrip("/")):
            value = attr.group(2) or attr.group(3) or attr.group(4) or ""
            attrs[attr.group(1).lower()] = html.unescape(value)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise _EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {offset}'
            )
        stack.append(_OpenTag(name, out.pos, offset, attrs))
        index = end + 1
    if stack:
        raise _EntityParseError(
            f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"'
        )
    return out.result()


def _close_html_tag(out: _TextBuilder, tag: _OpenTag, stack: list[_OpenTag]) -> None:
    kind = _HTML_TAGS[tag.name]
    if kind == "text_link":
        href = tag.attrs.get("href")
        if href:
            out.entity("text_link", tag.start, url=href)
    elif kind == "code" and stack and stack[-1].name == "pre":
        language = tag.attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1].attrs["language"] = language.removeprefix("language-")
    elif kind == "pre":
        pre_language = tag.attrs.get("language")
        if pre_language:
            out.entity("pre", tag.start, language=pre_language)
        else:
            out.entity("pre", tag.start)
    elif kind == "blockquote":
        out.entity(
            "expandable_blockquote" if "expandable" in tag.attrs else "blockquote", tag.start
        )
    elif kind == "custom_emoji":
        out.entity("custom_emoji", tag.start, custom_emoji_id=tag.attrs.get("emoji-id", ""))
    else:
        out.entity(kind, tag.start)


_MDV2_RESERVED: Final = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES: Final = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
}


@dataclass
class _OpenMarker:
    kind: str
    start: int
    byte_offset: int
    language: str | None = None


def parse_markdown_v2(text: str) -> tuple[str, list[JSONDict]]:
    """Parse MarkdownV2 into ``(plain text, entities)`` with Telegram's strictness about
    unescaped reserved characters.  Raises :class:`_EntityParseError`."""
    out = _TextBuilder()
    stack: list[_OpenMarker] = []
    quote_start: int | None = None
    at_line_start = True
    index = 0
    length = len(text)

    def toggle(kind: str) -> None:
        if stack and stack[-1].kind == kind:
            marker = stack.pop()
            out.entity(kind, marker.start)
        else:
            stack.append(_OpenMarker(kind, out.pos, _byte_offset(text, index)))

    while index < length:
        char = text[index]
        top = stack[-1] if stack else None
        if top is not None and top.kind in ("code", "pre"):
            if char == "\\" and index + 1 < length and text[index + 1] in "`\\":
                out.add(text[index + 1])
                index += 2
            elif top.kind == "pre" and text.startswith("```", index):
                stack.pop()
                if top.language:
                    out.entity("pre", top.start, language=top.language)
                else:
                    out.entity("pre", top.start)
                index += 3
            elif top.kind == "code" and char == "`":
                stack.pop()
                out.entity("code", top.start)
                index += 1
            else:
                out.add(char)
                index += 1
            at_line_start = char == "\n"
            continue
        if at_line_start:
            at_line_start = False
            if char == ">":
                if quote_start is None:
                    quote_start = out.pos
                index += 1
                continue
            if quote_start is not None:
                out.pos -= 1  # the blockquote ends before the line break
                out.entity("blockquote", quote_start)
                out.pos += 1
                quote_start = None
        if char == "\\" and index + 1 < length and 0 < ord(text[index + 1]) <= 126:
            out.add(text[index + 1])
            index += 2
            continue
        if char not in _MDV2_RESERVED:
            out.add(char)
            at_line_start = char == "\n"
            index += 1
            continue
        offset = _byte_offset(text, index)
        if char == "`":
            if text.startswith("```", index):
                index += 3
                language_end = index
                while language_end < length and text[language_end] not in " \t\r\n`":
                    language_end += 1
                language = None
                if language_end > index and language_end < length and text[language_end] != "`":
                    language = text[index:language_end]
                    index = language_end
                if index < length and text[index] == "\n":
                    index += 1
                stack.append(_OpenMarker("pre", out.pos, offset, language))
            else:
                stack.append(_OpenMarker("code", out.pos, offset))
                index += 1
        elif char == "*":
            toggle("bold")
            index += 1
        elif char == "~":
            toggle("strikethrough")
            index += 1
        elif char == "_":
            if text.startswith("__", index):
                toggle("underline")
                index += 2
            else:
                toggle("italic")
                index += 1
        elif char == "|" and text.startswith("||", index):
            toggle("spoiler")
            index += 2
        elif char == "[":
            stack.append(_OpenMarker("text_link", out.pos, offset))
            index += 1
        elif char == "]" and top is not None and top.kind == "text_link":
            stack.pop()
            index += 1
            if index < length and text[index] == "(":
                url_chars: list[str] = []
                index += 1
                while index < length and text[index] != ")":
                    if text[index] == "\\" and index + 1 < length:
                        index += 1
                    url_chars.append(text[index])
                    index += 1
                if index >= length:
                    raise _EntityParseError(f"Can't find end of a URL at byte offset {offset}")
                index += 1
                out.entity("text_link", top.start, url="".join(url_chars))
            else:
                label = "".join(out.parts)[-(out.pos - top.start) :] if out.pos > top.start else ""
                if re.match(r"^https?://", label):
                    out.entity("text_link", top.start, url=label)
        else:
            raise _EntityParseError(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
    if stack:
        marker = stack[-1]
        raise _EntityParseError(
            f"Can't find end of {_MDV2_NAMES[marker.kind]} entity at byte offset "
            f"{marker.byte_offset}"
        )
    if quote_start is not None:
        out.entity("blockquote", quote_start)
    return out.result()


def _trim(text: str, entities: list[JSONDict]) -> tuple[str, list[JSONDict]]:
    """Trim leading/trailing whitespace like Telegram, keeping entities consistent."""
    stripped = text.strip(_TRIM_CHARS)
    if stripped == text:
        return text, entities
    shift = _u16len(text[: len(text) - len(text.lstrip(_TRIM_CHARS))])
    limit = _u16len(stripped)
    result: list[JSONDict] = []
    for entity in entities:
        start = max(0, int(entity["offset"]) - shift)
        end = min(limit, int(entity["offset"]) + int(entity["length"]) - shift)
        if end > start:
            result.append({**entity, "offset": start, "length": end - start})
    return stripped, result


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------

Handler = Callable[[Params, dict[str, UploadedFile]], Awaitable[Any]]


class FakeBotApi:
    """A fake Telegram Bot API server for one bot.

    Start it with :meth:`start` / :meth:`stop`, ``async with FakeBotApi() as server`` or
    :func:`running_fake_bot_api`.  Point PTB at :attr:`base_url` and :attr:`base_file_url`.

    Inspectable state: :attr:`users`, :attr:`chats`, :attr:`sent` (every message the bot sent,
    in order), :attr:`messages` (all messages by ``(chat_id, message_id)``), :attr:`requests`
    (the request log), :attr:`callback_answers`, :attr:`commands`, :attr:`files`,
    :attr:`undelivered` and :attr:`internal_errors` (bugs in this fake; should stay empty).
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_id: int = DEFAULT_BOT_ID,
        bot_username: str = "chibo_test_bot",
        bot_first_name: str = "Chi bộ số",
        privacy_mode: bool = True,
        rate_limits: RateLimits | None = None,
        files_dir: Path | None = None,
        round_trip: float = 0.0,
    ) -> None:
        self._token = token
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.privacy_mode = privacy_mode

        self.users: dict[int, FakeUser] = {}
        self.chats: dict[int, FakeChat] = {}
        self.messages: dict[tuple[int, int], StoredMessage] = {}
        self.sent: list[StoredMessage] = []
        self.requests: list[ApiCall] = []
        self.callback_answers: list[CallbackAnswer] = []
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}
        self.files: dict[str, FakeFile] = {}
        self.undelivered: list[JSONDict] = []
        self.internal_errors: list[BaseException] = []
        self.webhook_url: str | None = None
        self.allowed_updates: list[str] | None = None
        self.descriptions: dict[tuple[str, str], str] = {}
        self.menu_buttons: dict[int | None, JSONDict] = {}
        self.rate_limits = rate_limits
        # Calls answered 429 by the flood limits (not by fail_next): tests assert it stays [].
        self.rate_limited: list[ApiCall] = []
        self._overall_limiter: _CellRateLimiter | None = None
        self._group_limiter: _CellRateLimiter | None = None
        if rate_limits is not None:
            self._overall_limiter = _CellRateLimiter(
                rate_limits.messages_per_second, 1.0, rate_limits.jitter
            )
            self._group_limiter = _CellRateLimiter(
                rate_limits.group_messages_per_minute, 60.0, rate_limits.jitter
            )

        self._updates: list[JSONDict] = []
        self._delivered_upto = 0
        self._update_ids = itertools.count(100_000_001)
        self._user_ids = itertools.count(6_000_000_001)
        self._supergroup_ids = itertools.count(1_002_000_000_001)
        self._group_ids = itertools.count(4_100_000_001)
        self._file_numbers = itertools.count(1)
        self._callback_ids = itertools.count(4_000_000_000_000_001)
        self._poll_ids = itertools.count(5_000_000_000_000_001)
        self._files_by_path: dict[str, FakeFile] = {}
        # Files kept on disk outlive the server, as Telegram's do: a file_id the bot stored
        # still works after a restart (the playground). Tests keep them in memory.
        self._files_dir = files_dir
        # Seconds every answer is held back: the network between a bot and Telegram's servers
        # (tens to hundreds of milliseconds), which a loopback server otherwise hides.
        self.round_trip = round_trip
        if files_dir is not None:
            self._load_files(files_dir)
        self._callback_queries: dict[str, tuple[int, str | None]] = {}
        self._answered: set[str] = set()
        self._polls: dict[str, _Poll] = {}
        self._injected: dict[str, list[_InjectedError]] = {}
        # method -> [seconds, times]: do the call, then hold the answer (a lost answer).
        self._late_answers: dict[str, list[float]] = {}

        self._changed = asyncio.Event()
        self._last_activity = time.monotonic()
        self._in_flight = 0
        self._poll_generation = 0
        self._closing = False

        self._methods: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, handler) for name, handler in self._handler_table().items()
        }
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._api_endpoint, methods=["GET", "POST"]),
                Route("/file/bot{token}/{file_path:path}", self._file_endpoint, methods=["GET"]),
            ]
        )
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None
        self._port: int | None = None

    # ---------------------------------------------------------------- lifecycle and URLs

    @property
    def token(self) -> str:
        """The bot token the server accepts."""
        return self._token

    @property
    def port(self) -> int:
        """The TCP port (after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("the fake Bot API server is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """Value for ``ApplicationBuilder().base_url()`` / ``Bot(base_url=...)``."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """Value for ``ApplicationBuilder().base_file_url()`` / ``Bot(base_file_url=...)``."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    def bot_user(self) -> JSONDict:
        """The bot's ``User`` object as it appears in messages."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def __repr__(self) -> str:
        where = f"127.0.0.1:{self._port}" if self._port else "not started"
        return f"<FakeBotApi @{self.bot_username} {where}>"

    async def start(self) -> None:
        """Bind a free port on 127.0.0.1 and serve in the current event loop."""
        if self._task is not None:
            raise RuntimeError("already started")
        # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets whose
        # proto says TCP, and without it every response waits ~40 ms (Nagle + delayed ACK).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._socket = sock
        self._port = int(sock.getsockname()[1])
        self._closing = False
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            timeout_keep_alive=60,
            timeout_graceful_shutdown=5,
        )
        self._server = EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="fake-bot-api")
        deadline = time.monotonic() + 10
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the fake Bot API server stopped during startup")
            if time.monotonic() > deadline:
                raise RuntimeError("the fake Bot API server did not start in time")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        """Wake pending long polls and shut the HTTP server down."""
        self._closing = True
        self._notify()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=10)
            except TimeoutError:
                self._server.force_exit = True
                await asyncio.wait_for(self._task, timeout=5)
        if self._socket is not None:
            self._socket.close()
        self._server = None
        self._task = None
        self._socket = None

    async def __aenter__(self) -> FakeBotApi:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ---------------------------------------------------------------- scripted world: setup

    async def add_user(
        self,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "vi",
        started_bot: bool = True,
        *,
        user_id: int | None = None,
    ) -> FakeUser:
        """Create a user with a unique id above 2**31 (to catch 32-bit id bugs), or with
        ``user_id`` when the same person must come back after a restart (the playground)."""
        if user_id is not None and user_id in self.users:
            raise ValueError(f"user {user_id} already exists")
        user = FakeUser(
            id=next(self._user_ids) if user_id is None else user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            started_bot=started_bot,
        )
        self.users[user.id] = user
        return user

    async def add_group(
        self,
        title: str,
        admins: Sequence[FakeUser] = (),
        members: Sequence[FakeUser] = (),
        *,
        creator: FakeUser | None = None,
        type: Literal["group", "supergroup"] = "supergroup",
        bot_status: MemberStatus = "member",
        username: str | None = None,
        chat_id: int | None = None,
    ) -> FakeChat:
        """Create a group (default: a supergroup with an id like ``-1002000000001``; a negative
        ``chat_id`` keeps one across restarts).

        ``bot_status`` is the bot's own membership ("member", "administrator", "left",
        "kicked"); use "left" plus :meth:`add_bot_to_group` to script the bot being added.
        """
        if chat_id is None:
            chat_id = (
                -next(self._supergroup_ids) if type == "supergroup" else -next(self._group_ids)
            )
        elif chat_id >= 0 or chat_id in self.chats:
            raise ValueError(f"a group needs a new negative id, not {chat_id}")
        chat = FakeChat(
            id=chat_id, type=type, title=title, username=username, bot_status=bot_status
        )
        for user in members:
            chat.members[user.id] = "member"
        for user in admins:
            chat.members[user.id] = "administrator"
        if creator is not None:
            chat.members[creator.id] = "creator"
        self.chats[chat.id] = chat
        return chat

    async def private_chat(self, user: FakeUser) -> FakeChat:
        """The private chat between ``user`` and the bot (``chat.id == user.id``)."""
        return self._private(user)

    async def set_member_status(self, chat: FakeChat, user: FakeUser, status: MemberStatus) -> None:
        """Change a user's membership silently (no update is sent)."""
        chat.members[user.id] = status
        self._notify()

    def user(self, user_id: int) -> FakeUser:
        """Look a user up by id."""
        return self.users[user_id]

    def chat(self, chat_id: int) -> FakeChat:
        """Look a chat up by id."""
        return self.chats[chat_id]

    def file(self, file_id: str) -> FakeFile:
        """Look a file up by ``file_id``."""
        return self.files[file_id]

    # ---------------------------------------------------------------- scripted users: actions

    async def send_text(
        self,
        chat: FakeChat | int,
        user: FakeUser,
        text: str,
        reply_to_message: StoredMessage | Mapping[str, Any] | int | None = None,
        *,
        entities: list[JSONDict] | None = None,
    ) -> JSONDict:
        """``user`` writes ``text`` in ``chat``; returns the ``message`` update.

        A leading ``/command`` (optionally ``@botname``) gets a ``bot_command`` entity.  Use
        ``reply_to_message`` (e.g. a bot message with ForceReply) to answer a message.  In groups
        under privacy mode the update may be recorded in :attr:`undelivered` instead of queued.
        """
        target = self._resolve_chat(chat)
        self._check_user_can_post(target, user)
        fields: JSONDict = {"text": text}
        ents = list(entities or [])
        command = _COMMAND_RE.match(text)
        if command:
            ents.insert(
                0, {"type": "bot_command", "offset": 0, "length": _u16len(command.group(0))}
            )
        if ents:
            fields["entities"] = ents
        stored = self._new_user_message(target, user, fields, reply_to_message)
        return self._deliver_message(target, stored)

    async def send_document(
        self,
        chat: FakeChat | int,
        user: FakeUser,
        file_name: str,
        content: bytes,
        mime_type: str = "application/octet-stream",
        *,
        caption: str | None = None,
        reply_to_message: StoredMessage | Mapping[str, Any] | int | None = None,
    ) -> JSONDict:
        """``user`` sends a file; it becomes downloadable by the bot via ``getFile``."""
        target = self._resolve_chat(chat)
        self._check_user_can_post(target, user)
        fake_file = self._register_file(content, file_name, mime_type)
        fields: JSONDict = {"document": fake_file.document_json()}
        if caption:
            fields["caption"] = caption
            command = _COMMAND_RE.match(caption)
            if command:
                fields["caption_entities"] = [
                    {"type": "bot_command", "offset": 0, "length": _u16len(command.group(0))}
                ]
        stored = self._new_user_message(target, user, fields, reply_to_message)
        return self._deliver_message(target, stored)

    async def send_photo(
        self,
        chat: FakeChat | int,
        user: FakeUser,
        content: bytes,
        *,
        caption: str | None = None,
        reply_to_message: StoredMessage | Mapping[str, Any] | int | None = None,
    ) -> JSONDict:
        """``user`` sends a picture (compressed, as a photo rather than a file)."""
        target = self._resolve_chat(chat)
        self._check_user_can_post(target, user)
        fake_file = self._register_file(content, "photo.jpg", "image/jpeg", is_photo=True)
        fields: JSONDict = {"photo": fake_file.photo_json()}
        if caption:
            fields["caption"] = caption
        stored = self._new_user_message(target, user, fields, reply_to_message)
        return self._deliver_message(target, stored)

    async def tap(
        self,
        user: FakeUser,
        message: StoredMessage,
        callback_data: str | None = None,
        *,
        button_text: str | None = None,
    ) -> JSONDict:
        """``user`` taps an inline button (chosen by ``callback_data`` or ``button_text``) of a
        bot message; returns the ``callback_query`` update."""
        if message.deleted:
            raise ValueError(f"cannot tap a deleted message: {message!r}")
        available = message.buttons
        if button_text is not None:
            matches = [data for text, data in available if text == button_text]
            if not matches:
                raise ValueError(f"no button {button_text!r} in {message!r}; buttons: {available}")
            callback_data = matches[0]
        if callback_data is None or callback_data not in [data for _, data in available]:
            raise ValueError(
                f"no button with callback_data {callback_data!r} in {message!r}; "
                f"buttons: {available}"
            )
        query_id = str(next(self._callback_ids))
        query: JSONDict = {
            "id": query_id,
            "from": user.to_dict(),
            "message": copy.deepcopy(message.data),
            "chat_instance": str(abs(message.chat_id) * 7 + 3),
            "data": callback_data,
        }
        return self.enqueue_update({"callback_query": query})

    async def add_bot_to_group(
        self, chat: FakeChat, by: FakeUser, status: MemberStatus = "member"
    ) -> list[JSONDict]:
        """``by`` adds the bot to ``chat``: enqueues ``my_chat_member`` and the service message
        with ``new_chat_members``."""
        updates = [await self.set_bot_status(chat, status, by=by)]
        stored = self._new_user_message(chat, by, {"new_chat_members": [self.bot_user()]}, None)
        updates.append(self._deliver_message(chat, stored))
        return updates

    async def set_bot_status(
        self, chat: FakeChat, status: MemberStatus, by: FakeUser | None = None
    ) -> JSONDict:
        """Change the bot's membership (promote, kick, ...) and enqueue ``my_chat_member``."""
        old = chat.bot_status
        chat.bot_status = status
        actor = by.to_dict() if by is not None else self.bot_user()
        return self.enqueue_update(
            {
                "my_chat_member": {
                    "chat": chat.to_dict(),
                    "from": actor,
                    "date": int(time.time()),
                    "old_chat_member": self._member_json(self.bot_user(), old, is_bot=True),
                    "new_chat_member": self._member_json(self.bot_user(), status, is_bot=True),
                }
            }
        )

    async def user_joins(self, chat: FakeChat, user: FakeUser) -> JSONDict:
        """``user`` joins ``chat`` (status "member"); enqueues the service message."""
        chat.members[user.id] = "member"
        stored = self._new_user_message(chat, user, {"new_chat_members": [user.to_dict()]}, None)
        return self._deliver_message(chat, stored)

    async def user_leaves(self, chat: FakeChat, user: FakeUser) -> JSONDict:
        """``user`` leaves ``chat`` (status "left"); enqueues the service message."""
        chat.members[user.id] = "left"
        stored = self._new_user_message(chat, user, {"left_chat_member": user.to_dict()}, None)
        return self._deliver_message(chat, stored)

    async def vote(
        self, user: FakeUser, message: StoredMessage, option_ids: Sequence[int]
    ) -> list[JSONDict]:
        """``user`` votes in a poll the bot sent; enqueues ``poll_answer`` (non-anonymous polls)
        and ``poll`` updates.  An empty ``option_ids`` retracts the vote."""
        poll_json = message.poll
        if poll_json is None:
            raise ValueError(f"not a poll: {message!r}")
        state = self._polls[str(poll_json["id"])]
        if poll_json["is_closed"]:
            raise ValueError("the poll is closed")
        options = poll_json["options"]
        if any(not 0 <= option < len(options) for option in option_ids):
            raise ValueError(f"invalid option ids {list(option_ids)}")
        state.votes[user.id] = list(option_ids)
        if not option_ids:
            del state.votes[user.id]
        for position, option in enumerate(options):
            option["voter_count"] = sum(position in chosen for chosen in state.votes.values())
        poll_json["total_voter_count"] = len(state.votes)
        self._notify()
        updates: list[JSONDict] = []
        if not poll_json["is_anonymous"]:
            updates.append(
                self.enqueue_update(
                    {
                        "poll_answer": {
                            "poll_id": poll_json["id"],
                            "user": user.to_dict(),
                            "option_ids": list(option_ids),
                            "option_persistent_ids": [
                                options[option]["persistent_id"] for option in option_ids
                            ],
                        }
                    }
                )
            )
        updates.append(self.enqueue_update({"poll": copy.deepcopy(poll_json)}))
        return updates

    def votes_of(self, user: FakeUser, message: StoredMessage) -> list[int]:
        """The options ``user`` chose in the poll of ``message`` (empty before voting)."""
        poll_json = message.poll
        if poll_json is None:
            raise ValueError(f"not a poll: {message!r}")
        return list(self._polls[str(poll_json["id"])].votes.get(user.id, []))

    def enqueue_update(self, update: Mapping[str, Any]) -> JSONDict:
        """Queue any update payload (``update_id`` is assigned); returns the full update."""
        full: JSONDict = {"update_id": next(self._update_ids), **update}
        query = full.get("callback_query")
        if isinstance(query, dict):  # so that answerCallbackQuery accepts its id
            self._callback_queries[str(query["id"])] = (int(query["from"]["id"]), query.get("data"))
        self._updates.append(full)
        self._notify()
        return full

    def fail_next(
        self,
        method: str,
        error_code: int = 500,
        description: str | None = None,
        *,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail (e.g. ``retry_after=3`` gives
        ``429 Too Many Requests`` which PTB raises as ``RetryAfter``)."""
        parameters = None
        if retry_after is not None:
            error_code = 429
            parameters = {"retry_after": retry_after}
            description = description or f"Too Many Requests: retry after {retry_after}"
        injected = _InjectedError(
            error_code, description or "Internal Server Error", parameters, times
        )
        self._injected.setdefault(method.lower(), []).append(injected)

    def stop_failing(self, method: str) -> None:
        """Drop the failures still queued for ``method`` (an outage is over)."""
        self._injected.pop(method.lower(), None)

    def answer_late(self, method: str, seconds: float, *, after: int = 0) -> None:
        """Answer the next ``after`` calls of ``method`` in time; carry out the one after them,
        then wait ``seconds`` before answering it: a client with a shorter read timeout gives up
        on a call that took effect."""
        self._late_answers[method.lower()] = [seconds, after]

    # ---------------------------------------------------------------- inspection and waiting

    def mark(self) -> Mark:
        """A cursor: pass it as ``after=`` to only consider what happens from now on."""
        return Mark(
            sent=len(self.sent), requests=len(self.requests), answers=len(self.callback_answers)
        )

    def sent_in(self, chat: FakeChat | int, after: Mark | None = None) -> list[StoredMessage]:
        """Messages the bot sent to ``chat`` (in order), optionally only after ``after``."""
        chat_id = chat.id if isinstance(chat, FakeChat) else chat
        start = after.sent if after else 0
        return [msg for msg in self.sent[start:] if msg.chat_id == chat_id]

    def messages_since(self, after: Mark) -> list[StoredMessage]:
        """All messages the bot sent, in any chat, after ``after``."""
        return self.sent[after.sent :]

    def calls(self, method: str, after: Mark | None = None) -> list[ApiCall]:
        """Logged calls of ``method`` (case-insensitive)."""
        start = after.requests if after else 0
        return [call for call in self.requests[start:] if call.method.lower() == method.lower()]

    def commands_for(
        self, scope: str | Mapping[str, Any] = "default", language_code: str = ""
    ) -> list[tuple[str, str]]:
        """The ``(command, description)`` list set with ``setMyCommands`` for a scope, given as a
        scope type (``"all_group_chats"``), a scope dict, or ``"chat:<id>"``-style key."""
        key = scope if isinstance(scope, str) else self._scope_key(scope)
        return [
            (c["command"], c["description"]) for c in self.commands.get((key, language_code), [])
        ]

    async def wait_for_message(
        self,
        chat: FakeChat | int,
        predicate: Predicate | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        after: Mark | None = None,
    ) -> StoredMessage:
        """The first bot message in ``chat`` (after ``after``) matching ``predicate``."""
        chat_id = chat.id if isinstance(chat, FakeChat) else chat

        def find() -> StoredMessage | None:
            for msg in self.sent_in(chat_id, after):
                if predicate is None or predicate(msg):
                    return msg
            return None

        found = await self._wait_for(find, timeout)
        if found is not None:
            return found
        raise FakeBotApiTimeout(
            f"no matching bot message in chat {chat_id} within {timeout}s; "
            f"bot messages there since the mark: {self.sent_in(chat_id, after)}; "
            f"recent calls: {self._recent_calls()}"
        )

    async def wait_for_request(
        self,
        method: str,
        predicate: Callable[[ApiCall], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        after: Mark | None = None,
        answered: bool = True,
    ) -> ApiCall:
        """The first call of ``method`` (after ``after``) matching ``predicate``; with
        ``answered=False`` also calls still in progress (e.g. a pending long poll)."""

        def find() -> ApiCall | None:
            for call in self.calls(method, after):
                if (call.done or not answered) and (predicate is None or predicate(call)):
                    return call
            return None

        found = await self._wait_for(find, timeout)
        if found is not None:
            return found
        raise FakeBotApiTimeout(
            f"no matching {method} call within {timeout}s; recent calls: {self._recent_calls()}"
        )

    async def wait_for_callback_answer(
        self,
        query: str | FakeUser | Mapping[str, Any],
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        after: Mark | None = None,
    ) -> CallbackAnswer:
        """The ``answerCallbackQuery`` for a callback query id, the update returned by
        :meth:`tap`, or the first answer to any query of a user."""
        start = after.answers if after else 0
        if isinstance(query, FakeUser):
            user_id = query.id

            def matches(answer: CallbackAnswer) -> bool:
                return answer.user_id == user_id

        else:
            query_id = query if isinstance(query, str) else str(query["callback_query"]["id"])

            def matches(answer: CallbackAnswer) -> bool:
                return answer.callback_query_id == query_id

        def find() -> CallbackAnswer | None:
            return next((a for a in self.callback_answers[start:] if matches(a)), None)

        found = await self._wait_for(find, timeout)
        if found is not None:
            return found
        raise FakeBotApiTimeout(
            f"callback query {query!r} was not answered within {timeout}s; "
            f"recent calls: {self._recent_calls()}"
        )

    async def wait_until_idle(
        self,
        quiet: float = 0.1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> None:
        """Wait until every queued update was fetched by ``getUpdates`` and no other request has
        been in flight for ``quiet`` seconds.  Use it before asserting that nothing happened."""
        deadline = time.monotonic() + timeout
        while True:
            event = self._changed
            now = time.monotonic()
            busy = self._in_flight > 0 or self._has_undelivered()
            if not busy and now - self._last_activity >= quiet:
                return
            if now >= deadline:
                raise FakeBotApiTimeout(
                    f"not idle after {timeout}s: {self._in_flight} request(s) in flight, "
                    f"{sum(u['update_id'] > self._delivered_upto for u in self._updates)} "
                    f"update(s) not fetched; recent calls: {self._recent_calls()}"
                )
            wait = deadline - now if busy else quiet - (now - self._last_activity)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=min(wait, deadline - now))

    # ---------------------------------------------------------------- internals: waiting

    def _notify(self) -> None:
        self._last_activity = time.monotonic()
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def _wait_until(
        self,
        condition: Callable[[], bool],
        timeout: float,  # noqa: ASYNC109
    ) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            event = self._changed
            if condition():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=remaining)

    async def _wait_for(
        self,
        find: Callable[[], _Found | None],
        timeout: float,  # noqa: ASYNC109
    ) -> _Found | None:
        if await self._wait_until(lambda: find() is not None, timeout):
            return find()
        return None

    def _has_undelivered(self) -> bool:
        return any(update["update_id"] > self._delivered_upto for update in self._updates)

    def _recent_calls(self, count: int = 8) -> list[str]:
        return [
            f"{call.method}->{call.status}{'' if call.ok else ' ' + str(call.error)}"
            for call in self.requests[-count:]
        ]

    # ---------------------------------------------------------------- internals: world

    def _private(self, user: FakeUser) -> FakeChat:
        chat = self.chats.get(user.id)
        if chat is None:
            chat = FakeChat(id=user.id, type="private", user=user)
            self.chats[user.id] = chat
        return chat

    def _resolve_chat(self, chat: FakeChat | int) -> FakeChat:
        if isinstance(chat, FakeChat):
            return chat
        if chat in self.chats:
            return self.chats[chat]
        if chat in self.users:
            return self._private(self.users[chat])
        raise KeyError(f"unknown chat {chat}")

    def _check_user_can_post(self, chat: FakeChat, user: FakeUser) -> None:
        if chat.user is not None:
            if chat.user.id != user.id:
                raise ValueError(f"{user.full_name} is not part of the private chat {chat.id}")
            user.started_bot = True  # writing to the bot (re)starts it
            user.blocked_bot = False
        elif chat.status_of(user) not in _PRESENT_STATUSES:
            raise ValueError(f"{user.full_name} is not a member of {chat.title!r}")

    def _new_message_json(self, chat: FakeChat, sender: JSONDict, fields: JSONDict) -> JSONDict:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        data: JSONDict = {
            "message_id": message_id,
            "from": sender,
            "chat": chat.to_dict(),
            "date": int(time.time()),
        }
        data.update(fields)
        return data

    def _store(self, stored: StoredMessage) -> StoredMessage:
        self.messages[(stored.chat_id, stored.message_id)] = stored
        if stored.from_bot:
            self.sent.append(stored)
        self._notify()
        return stored

    def _new_user_message(
        self,
        chat: FakeChat,
        user: FakeUser,
        fields: JSONDict,
        reply_to: StoredMessage | Mapping[str, Any] | int | None,
    ) -> StoredMessage:
        data = self._new_message_json(chat, user.to_dict(), fields)
        if reply_to is not None:
            reply_id = reply_to if isinstance(reply_to, int) else _message_id_of(reply_to)
            target = self.messages.get((chat.id, reply_id))
            if target is None or target.deleted:
                raise ValueError(f"message {reply_id} does not exist in chat {chat.id}")
            data["reply_to_message"] = _reply_copy(target.data)
        return self._store(StoredMessage(data=data, from_bot=False))

    def _deliver_message(self, chat: FakeChat, stored: StoredMessage) -> JSONDict:
        if self._bot_receives(chat, stored.data):
            return self.enqueue_update({"message": copy.deepcopy(stored.data)})
        update: JSONDict = {"update_id": None, "message": copy.deepcopy(stored.data)}
        self.undelivered.append(update)
        logger.debug("privacy mode: bot does not receive message %s", stored.message_id)
        return update

    def _bot_receives(self, chat: FakeChat, message: JSONDict) -> bool:
        if chat.user is not None:
            return True
        if chat.bot_status not in _PRESENT_STATUSES:
            return False
        if not self.privacy_mode or chat.bot_status in ("administrator", "creator"):
            return True
        if any(key in message for key in ("new_chat_members", "left_chat_member")):
            return True
        reply = message.get("reply_to_message")
        if isinstance(reply, dict) and reply.get("from", {}).get("id") == self.bot_id:
            return True
        command = _COMMAND_RE.match(str(message.get("text") or ""))
        if command:
            target = command.group(2)
            return target is None or target.lower() == self.bot_username.lower()
        return False

    def _register_file(
        self, content: bytes, file_name: str, mime_type: str, *, is_photo: bool = False
    ) -> FakeFile:
        number = next(self._file_numbers)
        suffix = re.sub(r"[^A-Za-z0-9.]", "", PurePosixPath(file_name).suffix)[:10]
        fake_file = FakeFile(
            file_id=f"BQACAgUAAxkBAAI{number:06d}fake{zlib.crc32(file_name.encode()):010d}",
            file_unique_id=f"AgAD{number:06d}",
            content=content,
            file_name=file_name,
            mime_type=mime_type,
            file_path=f"{'photos' if is_photo else 'documents'}/file_{number}{suffix}",
            is_photo=is_photo,
        )
        self._add_file(fake_file)
        if self._files_dir is not None:
            self._save_file(self._files_dir, fake_file)
        return fake_file

    def _add_file(self, fake_file: FakeFile) -> None:
        self.files[fake_file.file_id] = fake_file
        self._files_by_path[fake_file.file_path] = fake_file

    def _save_file(self, folder: Path, fake_file: FakeFile) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / fake_file.file_unique_id).write_bytes(fake_file.content)
        index = [
            {key: getattr(known, key) for key in _FILE_FIELDS} | {"is_photo": known.is_photo}
            for known in self.files.values()
        ]
        temporary = folder / f"{_FILE_INDEX}.tmp"
        temporary.write_text(json.dumps(index, ensure_ascii=False), encoding="utf-8")
        temporary.replace(folder / _FILE_INDEX)  # never a half-written index

    def _load_files(self, folder: Path) -> None:
        index = folder / _FILE_INDEX
        if not index.exists():
            return
        last = 0
        for entry in json.loads(index.read_text(encoding="utf-8")):
            fields = {key: str(entry[key]) for key in _FILE_FIELDS}
            content = (folder / fields["file_unique_id"]).read_bytes()
            photo = bool(entry.get("is_photo", False))
            self._add_file(FakeFile(content=content, is_photo=photo, **fields))
            last = max(last, int(fields["file_unique_id"].removeprefix("AgAD")))
        self._file_numbers = itertools.count(last + 1)

    def _member_json(
        self, user: JSONDict, status: MemberStatus, *, is_bot: bool = False
    ) -> JSONDict:
        if status == "creator":
            return {"status": "creator", "user": user, "is_anonymous": False}
        if status == "administrator":
            return {
                "status": "administrator",
                "user": user,
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": True,
                "can_restrict_members": True,
                "can_promote_members": not is_bot,
                "can_change_info": True,
                "can_invite_users": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
                "can_pin_messages": True,
            }
        if status == "kicked":
            return {"status": "kicked", "user": user, "until_date": 0}
        return {"status": status, "user": user}

    # ---------------------------------------------------------------- internals: HTTP

    async def _api_endpoint(self, request: Request) -> Response:
        if not hmac.compare_digest(str(request.path_params["token"]), self._token):
            return _error_response(ApiError(401, "Unauthorized"))
        requested = str(request.path_params["method"])
        name, handler = self._methods.get(requested.lower(), (requested, None))
        try:
            params, files = await _read_params(request)
        except ApiError as error:
            return _error_response(error)
        call = ApiCall(method=name, params=params, files=files)
        self.requests.append(call)
        counted = name != "getUpdates"
        if counted:
            self._in_flight += 1
        self._notify()
        try:
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            injected = self._take_injected(name)
            if injected is not None:
                raise ApiError(injected.error_code, injected.description, injected.parameters)
            limited = self._check_flood_limits(name, params)
            if limited is not None:
                self.rate_limited.append(call)
                raise limited
            if self.round_trip and counted:
                await asyncio.sleep(self.round_trip)
            result = await handler(params, files)
            await self._answer_late(name)
        except ApiError as error:
            call.status, call.error = error.error_code, error.description
            return _error_response(error)
        except Exception as exc:  # a bug in the fake: make it visible
            logger.exception("fake Bot API failed in %s", name)
            self.internal_errors.append(exc)
            bug = ApiError(500, f"Internal Server Error: fake Bot API bug: {exc!r}")
            call.status, call.error = 500, bug.description
            return _error_response(bug)
        finally:
            if counted:
                self._in_flight -= 1
            self._notify()
        call.status, call.result = 200, result
        return JSONResponse({"ok": True, "result": result})

    async def _file_endpoint(self, request: Request) -> Response:
        if not hmac.compare_digest(str(request.path_params["token"]), self._token):
            return _error_response(ApiError(401, "Unauthorized"))
        fake_file = self._files_by_path.get(str(request.path_params["file_path"]))
        if fake_file is None:
            return _error_response(ApiError(404, "Not Found"))
        return Response(content=fake_file.content, media_type=fake_file.mime_type)

    def _check_flood_limits(self, method: str, params: Params) -> ApiError | None:
        """The 429 to answer when a message send exceeds the flood limits, else None (and the
        send is counted)."""
        overall, per_group = self._overall_limiter, self._group_limiter
        if overall is None or per_group is None or method.lower() not in _RATE_LIMITED_METHODS:
            return None
        raw = params.get("chat_id")
        group: object = None  # groups and channels: negative ids or @usernames
        if isinstance(raw, str) and raw.startswith("@"):
            group = raw.lower()
        elif isinstance(raw, int | str):
            with contextlib.suppress(ValueError):
                chat_id = int(raw)
                group = chat_id if chat_id < 0 else None
        now = time.monotonic()
        wait = overall.wait(None, now)
        if group is not None:
            wait = max(wait, per_group.wait(group, now))
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            return ApiError(
                429,
                f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )
        overall.take(None, now)
        if group is not None:
            per_group.take(group, now)
        return None

    async def _answer_late(self, method: str) -> None:
        late = self._late_answers.get(method.lower())
        if late is None:
            return
        seconds, after = late
        if after > 0:
            late[1] = after - 1
            return
        del self._late_answers[method.lower()]
        await asyncio.sleep(seconds)

    def _take_injected(self, method: str) -> _InjectedError | None:
        queue = self._injected.get(method.lower())
        if not queue:
            return None
        injected = queue[0]
        injected.times -= 1
        if injected.times <= 0:
            queue.pop(0)
        return injected

    # ---------------------------------------------------------------- internals: params

    def _chat_param(self, params: Params, name: str = "chat_id") -> FakeChat:
        raw = params.get(name)
        if raw is None or raw == "":
            raise _bad_request(f"{name} is empty")
        if isinstance(raw, str) and raw.startswith("@"):
            wanted = raw[1:].lower()
            for chat in self.chats.values():
                if chat.username and chat.username.lower() == wanted:
                    return chat
            raise _bad_request("chat not found")
        try:
            chat_id = _as_int(raw, name)
        except ApiError:
            raise _bad_request("chat not found") from None
        if chat_id in self.chats:
            return self.chats[chat_id]
        if chat_id in self.users:
            return self._private(self.users[chat_id])
        raise _bad_request("chat not found")

    def _check_can_send(self, chat: FakeChat) -> None:
        if chat.user is not None:
            if chat.user.blocked_bot:
                raise _forbidden("bot was blocked by the user")
            if not chat.user.started_bot:
                raise _forbidden("bot can't initiate conversation with a user")
            return
        self._check_bot_in_chat(chat)

    def _check_bot_in_chat(self, chat: FakeChat) -> None:
        if chat.user is not None:
            return
        if chat.bot_status == "kicked":
            raise _forbidden(f"bot was kicked from the {chat.type} chat")
        if chat.bot_status == "left":
            raise _forbidden(f"bot is not a member of the {chat.type} chat")

    def _check_bot_admin(self, chat: FakeChat, detail: str) -> None:
        self._check_bot_in_chat(chat)
        if chat.user is None and chat.bot_status not in ("administrator", "creator"):
            raise _bad_request(detail)

    def _format(
        self, params: Params, text_key: str, *, caption: bool = False
    ) -> tuple[str, list[JSONDict]]:
        """Parse ``params[text_key]`` per parse_mode / entities; enforce length limits."""
        raw = params.get(text_key)
        text = "" if raw is None else raw if isinstance(raw, str) else str(raw)
        entities_key = "caption_entities" if caption else "entities"
        given = params.get(entities_key)
        mode = str(params.get("parse_mode") or "").lower()
        try:
            if isinstance(given, list):
                plain, entities = text, [dict(e) for e in given]
            elif mode == "html":
                plain, entities = parse_html(text)
            elif mode == "markdownv2":
                plain, entities = parse_markdown_v2(text)
            elif mode in ("", "markdown"):
                plain, entities = text, []
            else:
                raise _bad_request("unsupported parse_mode")
        except _EntityParseError as error:
            raise _bad_request(f"can't parse entities: {error}") from None
        plain, entities = _trim(plain, entities)
        if caption:
            if len(plain) > MAX_CAPTION_LENGTH:
                raise _bad_request("message caption is too long")
        elif not plain:
            raise _bad_request("message text is empty")
        elif len(plain) > MAX_TEXT_LENGTH:
            raise _bad_request("message is too long")
        return plain, [self._resolve_mention(entity) for entity in entities]

    def _resolve_mention(self, entity: JSONDict) -> JSONDict:
        match = _TEXT_MENTION_RE.match(str(entity.get("url", "")))
        if entity.get("type") != "text_link" or match is None:
            return entity
        user_id = int(match.group(1))
        user = self.users.get(user_id)
        user_json = user.to_dict() if user else {"id": user_id, "is_bot": False, "first_name": ""}
        return {
            "type": "text_mention",
            "offset": entity["offset"],
            "length": entity["length"],
            "user": user_json,
        }

    def _reply_markup(
        self, params: Params, *, inline_only: bool = False
    ) -> tuple[JSONDict | None, JSONDict | None]:
        """Validate ``reply_markup``; returns ``(as requested, inline part to echo)``."""
        markup = params.get("reply_markup")
        if markup is None:
            return None, None
        if isinstance(markup, str):
            try:
                markup = json.loads(markup)
            except ValueError:
                raise _bad_request("can't parse reply keyboard markup JSON object") from None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            _validate_inline_keyboard(markup["inline_keyboard"])
            return markup, {"inline_keyboard": copy.deepcopy(markup["inline_keyboard"])}
        if inline_only:
            raise _bad_request("inline keyboard expected")
        if "force_reply" in markup:
            placeholder = markup.get("input_field_placeholder")
            if placeholder is not None and not 1 <= len(str(placeholder)) <= 64:
                raise _bad_request("input field placeholder is invalid")
            return markup, None
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise _bad_request('field "keyboard" of the ReplyKeyboardMarkup must be an Array')
            return markup, None
        if "remove_keyboard" in markup:
            return markup, None
        raise _bad_request("can't parse reply keyboard markup JSON object")

    def _reply_to(self, chat: FakeChat, params: Params) -> JSONDict | None:
        reply = params.get("reply_parameters")
        if reply is None and params.get("reply_to_message_id") is not None:
            reply = {
                "message_id": params["reply_to_message_id"],
                "allow_sending_without_reply": params.get("allow_sending_without_reply", False),
            }
        if reply is None:
            return None
        if not isinstance(reply, dict):
            raise _bad_request("can't parse reply parameters JSON object")
        target_chat = chat if reply.get("chat_id") is None else self._chat_param(reply)
        message_id = _as_int(reply.get("message_id"), "message_id")
        target = self.messages.get((target_chat.id, message_id))
        if target is None or target.deleted:
            if _flag(reply, "allow_sending_without_reply"):
                return None
            raise _bad_request("message to be replied not found")
        return _reply_copy(target.data)

    def _new_bot_message(
        self, chat: FakeChat, params: Params, method: str, fields: JSONDict
    ) -> StoredMessage:
        reply = self._reply_to(chat, params)
        requested, inline = self._reply_markup(params)
        data = self._new_message_json(chat, self.bot_user(), fields)
        if reply is not None:
            data["reply_to_message"] = reply
        if inline is not None:
            data["reply_markup"] = inline
        if _flag(params, "protect_content"):
            data["has_protected_content"] = True
        stored = StoredMessage(
            data=data, from_bot=True, method=method, params=params, reply_markup=requested
        )
        return self._store(stored)

    def _message_param(self, params: Params, missing: str) -> StoredMessage:
        if params.get("inline_message_id"):
            raise _bad_request("inline messages are not supported by the fake Bot API")
        chat = self._chat_param(params)
        message_id = _as_int(params.get("message_id"), "message_id")
        stored = self.messages.get((chat.id, message_id))
        if stored is None or stored.deleted:
            raise _bad_request(missing)
        return stored

    def _editable(self, params: Params) -> StoredMessage:
        stored = self._message_param(params, "message to edit not found")
        if not stored.from_bot:
            raise _bad_request("message can't be edited")
        return stored

    @staticmethod
    def _scope_key(scope: Any) -> str:
        if not scope:
            return "default"
        if not isinstance(scope, dict) or "type" not in scope:
            raise _bad_request("can't parse BotCommandScope JSON object")
        parts = [str(scope["type"])]
        for key in ("chat_id", "user_id"):
            if scope.get(key) is not None:
                parts.append(str(scope[key]))
        return ":".join(parts)

    # ---------------------------------------------------------------- API methods

    def _handler_table(self) -> dict[str, Handler]:
        return {
            "getMe": self._get_me,
            "logOut": self._true,
            "close": self._true,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "deleteMessages": self._delete_messages,
            "answerCallbackQuery": self._answer_callback_query,
            "sendDocument": self._send_document,
            "sendPhoto": self._send_photo,
            "getFile": self._get_file,
            "sendChatAction": self._send_chat_action,
            "sendPoll": self._send_poll,
            "stopPoll": self._stop_poll,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "getChatMemberCount": self._get_chat_member_count,
            "leaveChat": self._leave_chat,
            "banChatMember": self._ban_chat_member,
            "unbanChatMember": self._unban_chat_member,
            "pinChatMessage": self._pin_chat_message,
            "unpinChatMessage": self._unpin_chat_message,
            "unpinAllChatMessages": self._unpin_all_chat_messages,
            "exportChatInviteLink": self._export_chat_invite_link,
            "createChatInviteLink": self._create_chat_invite_link,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setMyDescription": self._description_setter("description"),
            "getMyDescription": self._description_getter("description"),
            "setMyShortDescription": self._description_setter("short_description"),
            "getMyShortDescription": self._description_getter("short_description"),
            "setMyName": self._description_setter("name"),
            "getMyName": self._description_getter("name"),
            "setChatMenuButton": self._set_chat_menu_button,
            "getChatMenuButton": self._get_chat_menu_button,
        }

    async def _true(self, params: Params, files: dict[str, UploadedFile]) -> bool:
        return True

    async def _get_me(self, params: Params, files: dict[str, UploadedFile]) -> JSONDict:
        return {
            **self.bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: Params, files: dict[str, UploadedFile]) -> list[JSONDict]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset")
        limit = min(max(_as_int(params.get("limit", 100), "limit"), 1), 100)
        timeout = max(0.0, float(params.get("timeout") or 0))
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self.allowed_updates = [str(kind) for kind in allowed] or None
        if offset is not None:
            offset = _as_int(offset, "offset")
            if offset < 0:
                self._updates = self._updates[offset:]
            else:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()
        await self._wait_until(
            lambda: (
                bool(self._deliverable()) or self._closing or self._poll_generation != generation
            ),
            timeout,
        )
        if self._poll_generation != generation:
            raise ApiError(
                409,
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running",
            )
        batch = self._deliverable()[:limit]
        if batch:
            self._delivered_upto = max(self._delivered_upto, batch[-1]["update_id"])
        return copy.deepcopy(batch)

    def _deliverable(self) -> list[JSONDict]:
        if self.allowed_updates:
            allowed = set(self.allowed_updates)
            self._updates = [
                u
                for u in self._updates
                if next((k for k in _UPDATE_TYPES if k in u), None) in allowed
            ]
        return self._updates

    async def _set_webhook(self, params: Params, files: dict[str, UploadedFile]) -> bool:
        url = _opt_str(params, "url") or ""
        self.webhook_url = url or None
        if _flag(params, "drop_pending_updates"):
            self._updates.clear()
        return True

    async def _delete_webhook(self, params: Params, files: dict[str, UploadedFile]) -> bool:
        self.webhook_url = None
        if _flag(params, "drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, params: Params, files: dict[str, UploadedFile]) -> JSONDict:
        info: JSONDict = {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.allowed_updates:
            info["allowed_updates"] = list(self.allowed_updates)
        return info

    async def _send_message(self, params: Params, files: dict[str, UploadedFile]) -> JSONDict:
        chat = self._chat_param(params)
        self._check_can_send(chat)
        text, entities = self._format(params, "text")
        fields: JSONDict = {"text": text}
        if entities:
            fields["entities"] = entities
        return self._new_bot_message(chat, params, "sendMessage", fields).data

    async def _edit_message_text(self, params: Params, files: dict[str, UploadedFile]) -> JSONDict:
        stored = self._editable(params)
        if "text" not in stored.data:
            raise _bad_request("there is no text in the message to edit")
        text, entities = self._format(params, "text")
        requested, inline = self._reply_markup(params, inline_only=True)
        self._apply_edit(stored, params, {"text": text, "entities": entities}, requested, inline)
        return stored.data

    async def _edit_message_caption(
        self, params: Params, files: dict[str, UploadedFile]
    ) -> JSONDict:
        stored = self._editable(params)
        if "text" in stored.data:
            raise _bad_request("there is no caption in the message to edit")
        caption, entities = self._format(params, "caption", caption=True)
        requested, inline = self._reply_markup(params, inline_only=True)
        fields = {"caption": caption, "caption_entities": entities}
        self._apply_edit(stored, params, fields, requested, inline)
        return stored.data

    async def _edit_message_reply_markup(
        self, params: Params, files: dict[str, UploadedFile]
    ) -> JSONDict:
        stored = self._editable(params)
        requested, inline = self._reply_markup(params, inline_only=True)
        self._apply_edit(stored, params, {}, requested, inline)
        return stored.data

    def _apply_edit(
        self,
        stored: StoredMessage,
        params: Params,
        fields: JSONDict,
        requested: JSONDict | None,
        inline: JSONDict | None,
    ) -> None:
        data = stored.data
        unchanged = (
            all((data.get(key) or None) == (value or None) for key, value in fields.items())
            and data.get("reply_markup") == inline
        )
        if unchanged:
            raise _bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        for key, value in fields.items():
            if value:
                data[key] = value
            else:
                data.pop(key, None)
        if inline is None:
            data.pop("reply_markup", None)
        else:
            data["reply_markup"] = inline
        data["edit_date"] = int(time.time())
        stored.reply_markup = requested
        stored.edits.append(params)
        self._notify()

    async def _delete_message(self, params: Params, files: dict[str, UploadedFile]) -> bool:
        stored = self._message_param(params, "message to delete not found")
        chat = self.chats[stored.chat_id]
        if not stored.from_bot and chat.is_group:
            self._check_bot_admin(chat, "message can't be deleted")
        stored.deleted = True
        self._notify()
        return True

    async def _delete_messages(self, params: Params, files: dict[str, UploadedFile]) -> bool:
        ids = params.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise _bad_request("message_ids are invalid")
        for message_id in ids:
            with contextlib.suppress(ApiError):
                await self._delete_message({**params, "message_id": message_id}, files)
        return True

    async def _answer_callback_query(self, params: Params, files: dict[str, UploadedFile]) -> bool:
        query_id = _opt_str(params, "callback_query_id") or ""
        if query_id not in self._callback_queries or query_id in self._answered:
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        text = _opt_str(params, "text")
        if text is not None and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _bad_request("MESSAGE_TOO_LONG")
        self._answered.add(query_id)
        user_id, data = self._callback_queries[query_id]
        cache_time = params.get("cache_time")
        self.callback_answers.append(
            CallbackAnswer(
                callback_query_id=query_id,
                user_id=user_id,
                data=data,
                text=text,
                show_alert=_flag(params, "show_alert"),
                url=_opt_str(params, "url"),
                cache_time=None if cache_time is None else _as_int(cache_time, "cache_time"),
            )
        )
        self._notify()
        return True

    async def _send_document(self, params: Params, files: dict[str, UploadedFile]) -> JSONDict:
        chat = self._chat_param(params)
        self._check_can_send(chat)
        upload = files.get("document")
        reference = params.get("document")
        if upload is None and isinstance(reference, str) and reference.startswith("attach://"):
            upload = files.get(reference.removeprefix("attach://"))
        if upload is not None:
            if len(upload.content) > MAX_UPLOAD_SIZE:
                raise ApiError(413, "Request Entity Too Large")
            fake_file = self._register_file(upload.content, upload.filename, upload.content_type)
        elif isinstance(reference, str) and reference in self.files:
            fake_file = self.files[reference]
            if fake_file.is_photo:
                raise _bad_request("type of file mismatch")
        elif reference:
            raise _bad_request("wrong file identifier/HTTP URL specified")
        else:
            raise _bad_request("there is no document in the request")
        caption, entities = self._format(params, "caption", caption=True)
        fields: JSONDict = {"document": fake_file.document_json()}
        if caption:
            fields["caption"] = caption
        if entities:
            fields["caption_entities"] = entities
        return self._new_bot_message(chat, params, "sendDocument", fields).data

    async def _send_photo(self, params: Params, files: dict[str, UploadedFile]) -> JSONDict:
        """By ``file_id`` only: the bot re-sends photos people sent, it never uploads them."""
        chat = self._chat_param(params)
        self._check_can_send(chat)
        reference = params.get("photo")
        if not isinstance(reference, str) or not reference:
            raise _bad_request("there is no photo in the request")
        fake_file = self.files.get(reference)
        if fake_file is None:
            raise _bad_request("wrong file identifier/HTTP URL specified")
        if not fake_file.is_photo:
            raise _bad_request("type of file mismatch")
        caption, entities = self._format(params, "caption", caption=True)
        fields: JSONDict = {"photo": fake_file.photo_json()}
        if caption:
            fields["caption"] = caption
        if entities:
            fields["caption_entities"] = entities
        return self._new_bot_message(chat, params, "sendPhoto", fields).data

    async def _get_file(self, params: Params, files: dict[str, UploadedFile]) -> JSONDict:
        fake_file = self.files.get(_opt_str(params, "file_id") or "")
        if fake_file is None:
            raise _bad_request("invalid file_id")
        if fake_file.file_size > MAX_DOWNLOAD_SIZE:
            raise _bad_request("file is too big")
        return fake_file.file_json()

    async def _send_chat_action(self, params: Params, files: dict[str, UploadedFile]) -> bool:
        chat = self._chat_param(params)
        self._check_can_send(chat)
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        return True

    async def _send_poll(self, params: Params, files: dict[str, UploadedFile]) -> JSONDict:
        chat = self._chat_param(params)
        self._check_can_send(chat)
        question = _opt_str(params, "question") or ""
        if not question.strip():
            raise _bad_request("poll question must be non-empty")
        if len(question) > 300:
            raise _bad_request("poll question length must not exceed 300")
        raw_options = params.get("options")
        if not isinstance(raw_options, list):
            raise _bad_request("poll options must be an Array")
        texts = [str(o.get("text", "")) if isinstance(o, dict) else str(o) for o in raw_options]
        if len(texts) < 2:
            raise _bad_request("poll must have at least 2 option")
        if len(texts) > 12:
            raise _bad_request("poll can't have more than 12 options")
        if any(not 1 <= len(text) <= 100 for text in texts):
            raise _bad_request("poll options length must not exceed 100")
        poll_type = str(params.get("type") or "regular")
        poll: JSONDict = {
            "id": str(next(self._poll_ids)),
            "question": question,
            "options": [
                {"text": text, "voter_count": 0, "persistent_id": str(index)}
                for index, text in enumerate(texts)
            ],
            "total_voter_count": 0,
            "is_closed": _flag(params, "is_closed"),
            "is_anonymous": _flag(params, "is_anonymous", default=True),
            "type": poll_type,
            "allows_multiple_answers": _flag(params, "allows_multiple_answers"),
            "allows_revoting": _flag(params, "allows_revoting", default=poll_type != "quiz"),
            "members_only": False,
        }
        for key in ("correct_option_id", "correct_option_ids", "explanation", "open_period"):
            if params.get(key) is not None:
                poll[key] = params[key]
        stored = self._new_bot_message(chat, params, "sendPoll", {"poll": poll})
        self._polls[poll["id"]] = _Poll(stored)
        return stored.data

    async def _stop_poll(self, params: Params, files: dict[str, UploadedFile]) -> JSONDict:
        stored = self._editable(params)
        poll = stored.poll
        if poll is None:
            raise _bad_request("message with poll to stop not found")
        if poll["is_closed"]:
            raise _bad_request("poll has already been closed")
        poll["is_closed"] = True
        requested, inline = self._reply_markup(params, inline_only=True)
        if params.get("reply_markup") is not None:
            stored.reply_markup = requested
            stored.data["reply_markup"] = inline
        self._notify()
        return dict(poll)

    async def _get_chat(self, params: Params, files: dict[str, UploadedFile]) -> JSONDict:
        chat = self._chat_param(params)
        self._check_bot_in_chat(chat)
        info: JSONDict = {
            **chat.to_dict(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
        if chat.pinned_message_id is not None:
            pinned = self.messages.get((chat.id, chat.pinned_message_id))
            if pinned is not None and not pinned.deleted:
                info["pinned_message"] = copy.deepcopy(pinned.data)
        return info

    async def _get_chat_member(self, params: Params, files: dict[str, UploadedFile]) -> JSONDict:
        chat = self._chat_param(params)
        self._check_bot_in_chat(chat)
        user_id = _as_int(params.get("user_id"), "user_id")
        if user_id == self.bot_id:
            status: MemberStatus = "member" if chat.user is not None else chat.bot_status
            return self._member_json(self.bot_user(), status, is_bot=True)
        user = self.users.get(user_id)
        if user is None:
            raise _bad_request("user not found")
        if chat.user is not None and chat.user.id != user_id:
            raise _bad_request("user not found")
        return self._member_json(user.to_dict(), chat.status_of(user_id))

    async def _get_chat_administrators(
        self, params: Params, files: dict[str, UploadedFile]
    ) -> list[JSONDict]:
        chat = self._chat_param(params)
        if chat.user is not None:
            raise _bad_request("there are no administrators in the private chat")
        self._check_bot_in_chat(chat)
        admins = [
            self._member_json(self.users[user_id].to_dict(), status)
            for user_id, status in chat.members.items()
            if status in ("creator", "administrator") and user_id in self.users
        ]
        if chat.bot_status == "administrator":
            admins.append(self._member_json(self.bot_user(), "administrator", is_bot=True))
        return admins

    async def _get_chat_member_count(self, params: Params, files: dict[str, UploadedFile]) -> int:
        chat = self._chat_param(params)
        self._check_bot_in_chat(chat)
        if chat.user is not None:
            return 2
        humans = sum(status in _PRESENT_STATUSES for status in chat.members.values())
        return humans + (chat.bot_status in _PRESENT_STATUSES)

    async def _leave_chat(self, params: Params, files: dict[str, UploadedFile]) -> bool:
        chat = self._chat_param(params)
        self._check_bot_in_chat(chat)
        if chat.user is not None:
            raise _bad_request("chat member status can't be changed in private chats")
        chat.bot_status = "left"
        return True

    async def _ban_chat_member(self, params: Params, files: dict[str, UploadedFile]) -> bool:
        chat = self._chat_param(params)
        if chat.user is not None:
            raise _bad_request("can't ban members in private chats")
        self._check_bot_admin(chat, "not enough rights to restrict/ban chat member")
        user_id = _as_int(params.get("user_id"), "user_id")
        if user_id not in self.users:
            raise _bad_request("user not found")
        if chat.status_of(user_id) in ("creator", "administrator"):
            raise _bad_request("user is an administrator of the chat")
        chat.members[user_id] = "kicked"
        return True

    async def _unban_chat_member(self, params: Params, files: dict[str, UploadedFile]) -> bool:
        chat = self._chat_param(params)
        if chat.user is not None:
            raise _bad_request("can't unban members in private chats")
        self._check_bot_admin(chat, "not enough rights to restrict/ban chat member")
        user_id = _as_int(params.get("user_id"), "user_id")
        if user_id not in self.users:
            raise _bad_request("user not found")
        status = chat.status_of(user_id)
        if status == "kicked" or (
            status == "member" and not _flag(params, "only_if_banned")
        ):  # like Telegram, unbanning a present member without only_if_banned removes them
            chat.members[user_id] = "left"
        return True

    async def _pin_chat_message(self, params: Params, files: dict[str, UploadedFile]) -> bool:
        stored = self._message_param(params, "message to pin not found")
        chat = self.chats[stored.chat_id]
        self._check_bot_admin(chat, "not enough rights to manage pinned messages in the chat")
        chat.pinned_message_id = stored.message_id
        return True

    async def _unpin_chat_message(self, params: Params, files: dict[str, UploadedFile]) -> bool:
        chat = self._chat_param(params)
        self._check_bot_admin(chat, "not enough rights to manage pinned messages in the chat")
        message_id = params.get("message_id")
        if message_id is None or _as_int(message_id, "message_id") == chat.pinned_message_id:
            chat.pinned_message_id = None
        return True

    async def _unpin_all_chat_messages(
        self, params: Params, files: dict[str, UploadedFile]
    ) -> bool:
        chat = self._chat_param(params)
        self._check_bot_admin(chat, "not enough rights to manage pinned messages in the chat")
        chat.pinned_message_id = None
        return True

    async def _export_chat_invite_link(self, params: Params, files: dict[str, UploadedFile]) -> str:
        chat = self._chat_param(params)
        self._check_bot_admin(chat, "not enough rights to manage chat invite link")
        return f"https://t.me/+fake{abs(chat.id)}"

    async def _create_chat_invite_link(
        self, params: Params, files: dict[str, UploadedFile]
    ) -> JSONDict:
        chat = self._chat_param(params)
        self._check_bot_admin(chat, "not enough rights to manage chat invite link")
        link: JSONDict = {
            "invite_link": f"https://t.me/+fake{abs(chat.id)}x{len(self.requests)}",
            "creator": self.bot_user(),
            "creates_join_request": _flag(params, "creates_join_request"),
            "is_primary": False,
            "is_revoked": False,
        }
        for key in ("name", "expire_date", "member_limit"):
            if params.get(key) is not None:
                link[key] = params[key]
        return link

    async def _set_my_commands(self, params: Params, files: dict[str, UploadedFile]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad_request("too many commands specified")
        cleaned: list[JSONDict] = []
        for command in commands:
            if not isinstance(command, dict):
                raise _bad_request("can't parse BotCommand JSON object")
            name = str(command.get("command", "")).removeprefix("/")
            description = str(command.get("description", ""))
            if not _BOT_COMMAND_NAME_RE.match(name):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description.strip()) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        key = self._commands_key(params)
        if cleaned:
            self.commands[key] = cleaned
        else:
            self.commands.pop(key, None)
        return True

    async def _get_my_commands(
        self, params: Params, files: dict[str, UploadedFile]
    ) -> list[JSONDict]:
        return copy.deepcopy(self.commands.get(self._commands_key(params), []))

    async def _delete_my_commands(self, params: Params, files: dict[str, UploadedFile]) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _commands_key(self, params: Params) -> tuple[str, str]:
        scope = params.get("scope")
        if isinstance(scope, dict) and scope.get("chat_id") is not None:
            self._chat_param(scope)  # "chat not found" for unknown chats
        language = _opt_str(params, "language_code") or ""
        if language and not re.match(r"^[a-z]{2}$", language):
            raise _bad_request("LANG_CODE_INVALID")
        return self._scope_key(scope), language

    def _description_setter(self, kind: str) -> Handler:
        async def handler(params: Params, files: dict[str, UploadedFile]) -> bool:
            value = _opt_str(params, kind) or ""
            key = (kind, _opt_str(params, "language_code") or "")
            if value:
                self.descriptions[key] = value
            else:
                self.descriptions.pop(key, None)
            return True

        return handler

    def _description_getter(self, kind: str) -> Handler:
        async def handler(params: Params, files: dict[str, UploadedFile]) -> JSONDict:
            language = _opt_str(params, "language_code") or ""
            value = self.descriptions.get((kind, language), self.descriptions.get((kind, ""), ""))
            if kind == "name" and not value:
                value = self.bot_first_name
            return {kind: value}

        return handler

    async def _set_chat_menu_button(self, params: Params, files: dict[str, UploadedFile]) -> bool:
        chat_id = params.get("chat_id")
        key = None if chat_id is None else self._chat_param(params).id
        button = params.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or "type" not in button:
            raise _bad_request("can't parse menu button JSON object")
        self.menu_buttons[key] = button
        return True

    async def _get_chat_menu_button(
        self, params: Params, files: dict[str, UploadedFile]
    ) -> JSONDict:
        chat_id = params.get("chat_id")
        key = None if chat_id is None else self._chat_param(params).id
        return self.menu_buttons.get(key, self.menu_buttons.get(None, {"type": "default"}))


# --------------------------------------------------------------------------------------------
# Module-level helpers used by the server
# --------------------------------------------------------------------------------------------


def _message_id_of(message: StoredMessage | Mapping[str, Any]) -> int:
    if isinstance(message, StoredMessage):
        return message.message_id
    return int(message["message_id"])


def _reply_copy(data: JSONDict) -> JSONDict:
    reply = copy.deepcopy(data)
    reply.pop("reply_to_message", None)
    return reply


def _validate_inline_keyboard(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
    actions = (
        "callback_data",
        "url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "web_app",
        "login_url",
        "callback_game",
        "pay",
        "copy_text",
    )
    count = 0
    for row in rows:
        for button in row:
            count += 1
            if not isinstance(button, dict):
                raise _bad_request(
                    'can\'t parse inline keyboard button: Field "text" must be of type String'
                )
            if not isinstance(button.get("text"), str):
                raise _bad_request(
                    'can\'t parse inline keyboard button: Field "text" must be of type String'
                )
            if not any(key in button for key in actions):
                raise _bad_request("text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not (
                isinstance(data, str) and 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES
            ):
                raise _bad_request("BUTTON_DATA_INVALID")
            url = button.get("url")
            if url is not None and not (isinstance(url, str) and _BUTTON_URL_RE.match(url)):
                raise _bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")
    if count > MAX_INLINE_BUTTONS:
        raise _bad_request("reply markup is too long")


async def _read_params(request: Request) -> tuple[Params, dict[str, UploadedFile]]:
    """Decode query string plus urlencoded / multipart / JSON body into typed params."""
    params: Params = {}
    files: dict[str, UploadedFile] = {}
    for key, value in request.query_params.multi_items():
        params[key] = _decode_value(key, value)
    body = await request.body()
    if not body:
        return params, files
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json":
        try:
            decoded = json.loads(body)
        except ValueError:
            raise _bad_request("can't parse JSON body") from None
        if not isinstance(decoded, dict):
            raise _bad_request("JSON body must be an object")
        params.update(decoded)
    elif media_type == "multipart/form-data":
        fields, files = _parse_multipart(body, content_type)
        for key, value in fields.items():
            params[key] = _decode_value(key, value)
    else:
        for key, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
            params[key] = _decode_value(key, value)
    return params, files


def _error_response(error: ApiError) -> JSONResponse:
    payload: JSONDict = {
        "ok": False,
        "error_code": error.error_code,
        "description": error.description,
    }
    if error.parameters:
        payload["parameters"] = error.parameters
    return JSONResponse(payload, status_code=error.error_code)


@contextlib.asynccontextmanager
async def running_fake_bot_api(
    token: str = DEFAULT_TOKEN,
    *,
    bot_id: int = DEFAULT_BOT_ID,
    bot_username: str = "chibo_test_bot",
    bot_first_name: str = "Chi bộ số",
    privacy_mode: bool = True,
    rate_limits: RateLimits | None = None,
    files_dir: Path | None = None,
) -> AsyncIterator[FakeBotApi]:
    """Start a :class:`FakeBotApi` in the running loop for the duration of the block."""
    server = FakeBotApi(
        token,
        bot_id=bot_id,
        bot_username=bot_username,
        bot_first_name=bot_first_name,
        privacy_mode=privacy_mode,
        rate_limits=rate_limits,
        files_dir=files_dir,
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
