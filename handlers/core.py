"""Platform-neutral message types: what an adapter hands to a handler and what it gets back.

Adapters (bot/telegram.py, later bot/zalo.py) translate platform updates into ``Inbound`` and render
``Reply`` objects; handlers never see a platform object.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Platform(StrEnum):
    TELEGRAM = "telegram"
    ZALO = "zalo"


class ChatKind(StrEnum):
    GROUP = "group"
    PRIVATE = "private"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file the user sent; its bytes are fetched on demand through the gateway."""

    file_id: str
    file_name: str
    mime_type: str | None
    size: int | None
    # A platform photo (compressed image) rather than a file: it is re-sent as a photo.
    is_photo: bool = False


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing a person did: a command, a text, a button tap or a file."""

    platform: Platform
    chat_id: str
    chat_kind: ChatKind
    user_id: str
    user_name: str
    text: str = ""
    command: str | None = None
    args: str = ""
    choice: str | None = None
    reply_to_bot: bool = False
    attachment: Attachment | None = None
    chat_title: str | None = None
    language: str | None = None

    @property
    def is_group(self) -> bool:
        return self.chat_kind is ChatKind.GROUP


class Tone(StrEnum):
    """What a button does, for platforms that colour buttons: the step forward, or one that
    deletes, cancels or refuses."""

    PLAIN = "plain"
    PRIMARY = "primary"
    DESTRUCTIVE = "destructive"


@dataclass(frozen=True, slots=True)
class Choice:
    """One option a person can pick: a button on Telegram, a numbered line on Zalo."""

    label: str
    data: str
    # A link to open instead of data to send back (an online meeting's room): a URL button on
    # Telegram, the link written out on Zalo.
    url: str | None = None
    tone: Tone = Tone.PLAIN

    def __post_init__(self) -> None:
        # Telegram caps callback data at 64 bytes; every adapter shares that budget.
        if len(self.data.encode()) > 64:
            raise ValueError(f"choice data longer than 64 bytes: {self.data!r}")
        if (self.url is None) == (not self.data):
            raise ValueError(f"a choice needs data or a url, not both: {self.label!r}")


@dataclass(frozen=True, slots=True)
class OutboundFile:
    file_name: str
    content: bytes
    caption: str = ""


@dataclass(frozen=True, slots=True)
class SharedFile:
    """A file the platform already holds, re-sent by its id (no new upload). Platforms that
    cannot send files give a signed link to ``document_id`` instead."""

    file_id: str
    is_photo: bool = False
    document_id: int | None = None
    file_name: str = ""


@dataclass(frozen=True, slots=True)
class Poll:
    """A quiz question for platforms with native quiz polls (Telegram). The chosen option's
    index is appended to ``data`` ("qa:3:7" → "qa:3:7:2") and reaches the dispatcher as an
    ordinary choice. Platforms without polls show the Reply's text and choices instead."""

    question: str
    options: tuple[str, ...]
    correct_option: int
    data: str


@dataclass(frozen=True, slots=True)
class Reply:
    """Something to say. ``chat_id`` None means the chat the inbound came from.

    ``continue_privately`` is a start payload: the adapter adds a button opening the private chat
    with the bot (a Telegram deep link), so personal matters leave the group.
    ``ask_text`` asks the person to answer with free text (Telegram shows a reply box).
    ``replace`` edits the message whose button was tapped instead of sending a new one.
    ``popup`` shows the text only to the person who tapped (a Telegram callback answer);
    platforms without that send it as an ordinary message.
    ``shared_file`` re-sends a file the platform holds, with ``text`` as its caption and the
    choices under it; ``protect_content`` asks the platform to forbid forwarding and saving.
    ``platform`` names the platform of ``chat_id`` when it may differ from the inbound's (a
    cell's group on the other platform); None means the inbound's own.
    ``poll`` is sent instead of the text and choices where the platform has quiz polls.
    ``edit_buttons`` replaces only the buttons of the message whose button was tapped (its text
    or caption stays); platforms that cannot edit messages drop the reply.
    ``keyboard`` is the menu of tasks kept under the input box (a Telegram reply keyboard): each
    label, tapped, comes back as that text. It replaces the message's choices, so a reply has
    one or the other; platforms without it show the menu as choices instead (handlers/menu.py).
    """

    text: str
    choices: tuple[tuple[Choice, ...], ...] = ()
    chat_id: str | None = None
    continue_privately: str | None = None
    ask_text: bool = False
    replace: bool = False
    popup: bool = False
    file: OutboundFile | None = None
    shared_file: SharedFile | None = None
    protect_content: bool = False
    platform: Platform | None = None
    poll: Poll | None = None
    keyboard: tuple[tuple[str, ...], ...] = ()
    edit_buttons: bool = False

    def __post_init__(self) -> None:
        if self.keyboard and (self.choices or self.continue_privately or self.ask_text):
            raise ValueError("a reply carries a menu keyboard or buttons, not both")


def private_reply(
    text: str, platform: str, account: str, choices: tuple[tuple[Choice, ...], ...] = ()
) -> Reply:
    """A message to one person's own chat on the platform that account lives on (a cell may
    meet on Telegram and Zalo, and its people use either)."""
    return Reply(text, choices=choices, chat_id=account, platform=Platform(platform))


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` characters, preferring paragraph breaks,
    then line breaks, then spaces; a single over-long word is cut hard."""
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), 0) or max(window.rfind("\n"), 0) or window.rfind(" ")
        if cut <= 0:
            cut = limit
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not chunks:
        chunks.append(rest)
    return chunks
