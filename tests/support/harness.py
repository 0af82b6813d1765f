"""Handler-level test harness: the real dispatcher, registry, repositories and catalogs on a
real SQLite file; only the platform is stood in for (admins and file bytes)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.catalog import build_registry
from handlers.context import Services
from handlers.core import Attachment, ChatKind, Inbound, Platform, Reply
from handlers.dispatch import Dispatcher
from handlers.i18n import Texts
from scheduler.clock import ManualClock
from storage.crypto import FieldCipher
from storage.fee_rules import load_fee_config


@dataclass
class StubPlatform:
    """Answers the two questions handlers ask a platform, from test-controlled data."""

    admins: dict[str, set[str]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    platform: Platform = Platform.TELEGRAM

    async def is_chat_admin(self, chat_id: str, user_id: str) -> bool:
        return user_id in self.admins.get(chat_id, set())

    async def download(self, file_id: str) -> bytes:
        return self.files[file_id]


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str


class Harness:
    def __init__(self, engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock) -> None:
        self.services = Services.over(
            engine,
            cipher,
            load_fee_config(),
            clock=clock,
            texts=Texts("vi"),
            default_timezone="Asia/Ho_Chi_Minh",
        )
        self.dispatcher = Dispatcher(build_registry(), self.services)
        self.platform = StubPlatform()
        self._ids = itertools.count(1000)

    def person(self, name: str) -> Person:
        return Person(str(next(self._ids)), name)

    async def say(
        self, who: Person, text: str, *, group: str | None = None, **extra: object
    ) -> list[Reply]:
        """``who`` sends ``text`` in ``group`` (a chat id) or privately to the bot."""
        command, args = None, ""
        if text.startswith("/"):
            head, _, args = text[1:].partition(" ")
            command = head.lower()
        inbound = Inbound(
            platform=Platform.TELEGRAM,
            chat_id=group or who.user_id,
            chat_kind=ChatKind.GROUP if group else ChatKind.PRIVATE,
            user_id=who.user_id,
            user_name=who.name,
            text=text,
            command=command,
            args=args.strip(),
            chat_title="Nhóm chi bộ" if group else None,
            **extra,  # type: ignore[arg-type]
        )
        return await self.dispatcher.handle(inbound, self.platform)

    async def tap(self, who: Person, data: str, *, group: str | None = None) -> list[Reply]:
        inbound = Inbound(
            platform=Platform.TELEGRAM,
            chat_id=group or who.user_id,
            chat_kind=ChatKind.GROUP if group else ChatKind.PRIVATE,
            user_id=who.user_id,
            user_name=who.name,
            choice=data,
        )
        return await self.dispatcher.handle(inbound, self.platform)

    async def office_staff(self, committee_id: int, name: str = "Văn phòng") -> Person:
        """A worker of the committee's office (set up from the CLI in real life)."""
        office = self.person(name)
        await self.services.cells.add_office_staff(
            committee_id=committee_id,
            platform="telegram",
            user_id=office.user_id,
            full_name=office.name,
            now=self.services.clock.now(),
        )
        return office

    async def send_file(self, who: Person, name: str, content: bytes) -> list[Reply]:
        file_id = f"file-{next(self._ids)}"
        self.platform.files[file_id] = content
        attachment = Attachment(file_id, name, None, len(content))
        return await self.say(who, "", attachment=attachment)


def texts_of(replies: list[Reply]) -> str:
    return "\n".join(reply.text for reply in replies)


def buttons_of(replies: list[Reply]) -> dict[str, str]:
    """label → choice data, over every reply."""
    return {
        choice.label: choice.data for reply in replies for row in reply.choices for choice in row
    }


def told(replies: list[Reply]) -> list[str]:
    """What the person who tapped is told about the tap itself: a popup, or the tapped card
    edited to say it (a card whose work is gone loses its buttons)."""
    return [reply.text for reply in replies if reply.popup or (reply.replace and not reply.choices)]
