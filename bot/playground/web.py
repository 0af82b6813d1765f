"""The playground's web chat: one HTML page and a small JSON API over the local Bot API server.

The page acts as the demo people: what it sends becomes an update the real bot polls for, what
the bot sends is read back from the server's state. Nothing here talks to the bot directly,
except the clock it moves forward.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from importlib.resources import files
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bot.playground.bot_api import (
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    FakeBotApi,
    FakeBotApiTimeout,
    FakeChat,
    FakeUser,
    StoredMessage,
)
from bot.playground.seed import DemoWorld
from handlers.i18n import Texts
from scheduler.clock import OffsetClock

# What the page may ask the clock to jump by: an hour or a day.
STEPS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
# The page shows the latest messages of a chat; older ones scroll away like in a chat app.
SHOWN_MESSAGES = 200
TAP_ANSWER_WAIT = 3.0
MAX_BODY_BYTES = 16 * 1024
# Files a person sends from the page: rosters and documents are far smaller than this.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_FILE_NAME = 255
# Labels of the page itself, from the catalogs like every other text people read.
LABELS = (
    "playground.title",
    "playground.reset",
    "playground.intro",
    "playground.who",
    "playground.role.secretary",
    "playground.role.member",
    "playground.chat.group",
    "playground.chat.private",
    "playground.input",
    "playground.send",
    "playground.attach",
    "playground.clock",
    "playground.forward.hour",
    "playground.forward.day",
    "playground.forwarded",
    "playground.download",
    "playground.poll.quiz",
    "playground.poll.votes",
    "playground.poll.closed",
    "playground.text.bigger",
    "playground.text.smaller",
    "playground.empty",
    "playground.hint",
    "playground.error",
)


class BadRequest(Exception):
    """The page (or someone posing as it) asked for something that does not exist."""


@dataclass(frozen=True)
class _Target:
    person: FakeUser
    chat: FakeChat


class Playground:
    """The web app; ``wake`` asks the outbox to look for due reminders at once."""

    def __init__(
        self,
        api: FakeBotApi,
        world: DemoWorld,
        clock: OffsetClock,
        texts: Texts,
        timezone: str,
        wake: Callable[[], None],
    ) -> None:
        self._api = api
        self._world = world
        self._clock = clock
        self._texts = texts
        self._zone = ZoneInfo(timezone)
        self._wake = wake
        # Where each person last acted in each chat, as a position in the bot's sent messages:
        # a question asked after that is theirs to answer.
        self._acted: dict[tuple[int, int], int] = {}
        # The chat history lives in memory: a page that saw another boot says it was reset.
        self._boot = secrets.token_hex(8)
        self.app = Starlette(
            routes=[
                Route("/", self._page),
                Route("/api/state", self._state),
                Route("/api/messages", self._messages),
                Route("/api/send", self._send, methods=["POST"]),
                Route("/api/upload", self._upload, methods=["POST"]),
                Route("/api/tap", self._tap, methods=["POST"]),
                Route("/api/vote", self._vote, methods=["POST"]),
                Route("/api/forward", self._forward, methods=["POST"]),
                Route("/api/file/{file_id}", self._file),
            ],
            exception_handlers={BadRequest: self._bad_request},
        )

    # --- pages ---------------------------------------------------------------------------

    async def _page(self, _request: Request) -> Response:
        page = files("bot.playground").joinpath("page.html").read_text(encoding="utf-8")
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    async def _state(self, _request: Request) -> Response:
        world = self._world
        people = [
            {
                "id": person.id,
                "name": person.full_name,
                "role": self._texts(
                    "playground.role.secretary"
                    if person is world.secretary
                    else "playground.role.member"
                ),
            }
            for person in world.people
        ]
        return JSONResponse(
            {
                "labels": {key.removeprefix("playground."): self._texts(key) for key in LABELS},
                "people": people,
                "group": {"id": world.group.id},
                "clock": self._clock_text(),
                "boot": self._boot,
            }
        )

    async def _messages(self, request: Request) -> Response:
        target = self._target(dict(request.query_params))
        shown = [
            message
            for (chat_id, _), message in self._api.messages.items()
            if chat_id == target.chat.id and not message.deleted
        ][-SHOWN_MESSAGES:]
        question = self._question_for(target)
        return JSONResponse(
            {
                "clock": self._clock_text(),
                "boot": self._boot,
                "messages": [
                    self._message_json(message, target.person, message is question)
                    for message in shown
                ],
                "keyboard": self._keyboard(target),
            }
        )

    def _keyboard(self, target: _Target) -> list[list[str]]:
        """The menu keys under the input box, as Telegram keeps them: those the newest message
        that set or removed a reply keyboard left (in a private chat, one person's)."""
        for message in reversed(self._api.sent_in(target.chat)):
            markup = message.reply_markup or {}
            if "remove_keyboard" in markup:
                return []
            if "keyboard" in markup:
                return [
                    [key if isinstance(key, str) else str(key.get("text", "")) for key in row]
                    for row in markup["keyboard"]
                ]
        return []

    # --- acting as a person ----------------------------------------------------------------

    async def _send(self, request: Request) -> Response:
        body = await _json_body(request)
        target = self._target(body)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT_LENGTH:
            raise BadRequest("text")
        text = text.strip()
        # Telegram opens a reply box under a question the bot asked this person (ForceReply);
        # the page answers it the same way, so flows work, in groups under privacy mode too.
        question = None if text.startswith("/") else self._question_for(target)
        self._acted[(target.chat.id, target.person.id)] = len(self._api.sent)
        update = await self._api.send_text(target.chat, target.person, text, question)
        # Under group privacy mode the bot never sees plain chatter; say so instead of silence.
        unseen = update.get("update_id") is None
        return JSONResponse(
            {"ok": True, "notice": self._texts("playground.not_seen") if unseen else None}
        )

    async def _upload(self, request: Request) -> Response:
        """A file the person sends (a roster to import, say): the raw bytes as the body, who,
        where and the file's name in the query, the text box as its caption."""
        query = dict(request.query_params)
        target = self._target(query)
        name = PurePosixPath(query.get("name", "").replace("\\", "/")).name.strip()
        if not name or len(name) > MAX_FILE_NAME:
            raise BadRequest("name")
        caption = query.get("caption", "").strip()
        if len(caption) > MAX_CAPTION_LENGTH:
            raise BadRequest("caption")
        content = bytearray()
        async for chunk in request.stream():
            content.extend(chunk)
            if len(content) > MAX_UPLOAD_BYTES:
                raise BadRequest("size")
        if not content:
            raise BadRequest("size")
        mime = request.headers.get("content-type") or "application/octet-stream"
        self._acted[(target.chat.id, target.person.id)] = len(self._api.sent)
        await self._api.send_document(
            target.chat, target.person, name, bytes(content), mime, caption=caption or None
        )
        return JSONResponse({"ok": True})

    async def _tap(self, request: Request) -> Response:
        body = await _json_body(request)
        target = self._target(body)
        message = self._message(target.chat, body.get("message_id"))
        data = body.get("data")
        if not isinstance(data, str) or data not in [d for _, d in message.buttons]:
            raise BadRequest("data")
        mark = self._api.mark()
        self._acted[(target.chat.id, target.person.id)] = mark.sent
        update = await self._api.tap(target.person, message, data)
        try:
            answer = await self._api.wait_for_callback_answer(
                update, timeout=TAP_ANSWER_WAIT, after=mark
            )
        except FakeBotApiTimeout:
            return JSONResponse({"ok": True, "notice": None})
        return JSONResponse({"ok": True, "notice": answer.text})

    async def _vote(self, request: Request) -> Response:
        body = await _json_body(request)
        target = self._target(body)
        message = self._message(target.chat, body.get("message_id"))
        option = body.get("option")
        poll = message.poll
        if (
            poll is None
            or poll.get("is_closed")
            or not isinstance(option, int)
            or not 0 <= option < len(poll.get("options", []))
        ):
            raise BadRequest("option")
        if poll.get("type") == "quiz" and self._api.votes_of(target.person, message):
            raise BadRequest("option")  # a quiz answer is final, as in Telegram
        await self._api.vote(target.person, message, [option])
        return JSONResponse({"ok": True})

    async def _forward(self, request: Request) -> Response:
        body = await _json_body(request)
        step = STEPS.get(str(body.get("step")))
        if step is None:
            raise BadRequest("step")
        self._clock.advance(step)
        self._wake()
        return JSONResponse({"ok": True, "clock": self._clock_text()})

    async def _file(self, request: Request) -> Response:
        target = self._target(dict(request.query_params))
        file_id = request.path_params["file_id"]
        # Only a file shown in a chat the person can see: the link is not a way around that.
        shown = any(
            (message.document or {}).get("file_id") == file_id
            for (chat_id, _), message in self._api.messages.items()
            if chat_id == target.chat.id and not message.deleted
        )
        if not shown:
            raise BadRequest("file")
        stored = self._api.file(file_id)
        return Response(
            stored.content,
            media_type=stored.mime_type,
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(stored.file_name)}"
            },
        )

    # --- helpers ---------------------------------------------------------------------------

    def _target(self, source: dict[str, Any]) -> _Target:
        """The person and the chat they look at: the group, or their own private chat."""
        person = next((p for p in self._world.people if str(p.id) == str(source.get("user"))), None)
        if person is None:
            raise BadRequest("user")
        chat_id = str(source.get("chat"))
        if chat_id == str(self._world.group.id):
            return _Target(person, self._world.group)
        if chat_id == str(person.id):
            return _Target(person, self._api.chat(person.id))
        raise BadRequest("chat")

    def _message(self, chat: FakeChat, message_id: object) -> StoredMessage:
        if not isinstance(message_id, int):
            raise BadRequest("message_id")
        message = self._api.messages.get((chat.id, message_id))
        if message is None or message.deleted:
            raise BadRequest("message_id")
        return message

    def _question_for(self, target: _Target) -> StoredMessage | None:
        """The latest ForceReply question in the chat since this person last acted there,
        unless it answers someone else (ForceReply is selective in groups)."""
        since = self._acted.get((target.chat.id, target.person.id))
        if since is None:
            return None
        for message in reversed(self._api.sent[since:]):
            if message.chat_id != target.chat.id or message.deleted:
                continue
            if message.is_force_reply:
                asked = message.data.get("reply_to_message", {}).get("from", {})
                if asked.get("is_bot", True) or asked.get("id") == target.person.id:
                    return message
        return None

    def _clock_text(self) -> str:
        return self._texts.datetime(self._clock.now().astimezone(self._zone))

    def _message_json(
        self, message: StoredMessage, viewer: FakeUser, asks_viewer: bool
    ) -> dict[str, Any]:
        sender = message.data.get("from", {})
        mine = not message.from_bot and sender.get("id") == viewer.id
        shown: dict[str, Any] = {
            "id": message.message_id,
            "from_bot": message.from_bot,
            "mine": mine,
            "sender": self._api.bot_first_name
            if message.from_bot
            else " ".join(filter(None, (sender.get("first_name"), sender.get("last_name")))),
            "text": message.text or "",
            "asks": asks_viewer,
            "buttons": [
                [
                    {
                        "text": button.get("text", ""),
                        "data": button.get("callback_data"),
                        "url": button.get("url"),
                    }
                    for button in row
                ]
                for row in message.data.get("reply_markup", {}).get("inline_keyboard", [])
            ],
        }
        document = message.document
        if document is not None:
            shown["document"] = {
                "file_id": document["file_id"],
                "name": document.get("file_name", ""),
                "size": document.get("file_size", 0),
            }
        poll = message.poll
        if poll is not None:
            shown["poll"] = self._poll_json(message, poll, viewer)
        return shown

    def _poll_json(
        self, message: StoredMessage, poll: dict[str, Any], viewer: FakeUser
    ) -> dict[str, Any]:
        chosen = self._api.votes_of(viewer, message)
        quiz = poll.get("type") == "quiz"
        # As in Telegram, a quiz shows its answer only to someone who has answered.
        revealed = quiz and (bool(chosen) or bool(poll.get("is_closed")))
        # Bot API 9.6 lists the right answers; older clients still send one id.
        single = poll.get("correct_option_id")
        correct = set(poll.get("correct_option_ids") or ([single] if single is not None else []))
        return {
            "question": poll.get("question", ""),
            "quiz": quiz,
            "closed": bool(poll.get("is_closed")),
            "answered": bool(chosen),
            "options": [
                {
                    "text": option.get("text", ""),
                    "votes": option.get("voter_count", 0),
                    "chosen": index in chosen,
                    "correct": index in correct if revealed else None,
                }
                for index, option in enumerate(poll.get("options", []))
            ],
        }

    async def _bad_request(self, _request: Request, error: Exception) -> Response:
        return JSONResponse(
            {"ok": False, "field": str(error), "error": self._texts("playground.error")},
            status_code=400,
        )


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest("body")
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("body") from None
    if not isinstance(body, dict):
        raise BadRequest("body")
    return body
