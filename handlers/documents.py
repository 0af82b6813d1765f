"""Documents with read receipts: leaders (or a committee office, for its cells) send a file or a
link, confirm it on a card, and it is posted to the cell groups with a «✅ Đã đọc» button; leaders
see who has read it; members who have not get one private nudge before the linked meeting.
/tailieu also lists recent documents and finds them by title words."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import replace
from datetime import datetime
from typing import NotRequired
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from typing_extensions import TypedDict

from handlers import roster_import
from handlers.context import Context, QuestionGone, UserError, button_id
from handlers.core import Attachment, Choice, Platform, Reply, SharedFile, Tone
from handlers.i18n import Texts
from handlers.numbers import parse_row_id
from storage.cells import CellRepository
from storage.documents import (
    Document,
    DocumentDuplicate,
    DocumentNotFound,
    DocumentRepository,
    NewDocument,
)
from storage.meetings import Meeting, MeetingRepository
from storage.models import DocumentKind, MeetingStatus, OrgUnit

FILE_FLOW = "document_file"
TITLE_FLOW = "document_title"
CONFIRM_FLOW = "document_confirm"


class DocumentDraft(TypedDict):
    """What the card will send; the title is asked for when the caption gave none."""

    kind: DocumentKind
    title: str
    file_id: str | None
    file_name: str | None
    mime_type: str | None
    size: int | None
    sha256: str
    url: str | None
    meeting_id: NotRequired[int | None]
    protect: NotRequired[bool]
    targets: NotRequired[list[int]]


MAX_TITLE, MAX_URL = 200, 500
# The bytes are needed for the hash, and Telegram's getFile stops at 20 MB: refuse bigger files
# before downloading anything.
MAX_FILE_BYTES = 20 * 1024 * 1024
ACCEPTED_SUFFIXES = (
    ".pdf",
    ".doc",
    ".docx",
    ".xls",
    ".xlsx",
    ".ppt",
    ".pptx",
    ".odt",
    ".ods",
    ".jpg",
    ".jpeg",
    ".png",
)
LIST_LIMIT = 8
MEETING_CHOICES = 3
# Classification marks, whole words with their diacritics ("mặt" is another word). "mật" also
# starts everyday words that are no mark: password, density, close, honey.
_CLASSIFIED = re.compile(r"(?<!\w)(tuyệt mật|tối mật|mật)(?!\w)(?!\s+(?:khẩu|độ|thiết|ong)\b)")


# --- checking what people send ---------------------------------------------------------------


def classified_mark(*texts: str) -> str | None:
    """The classification mark found in any of ``texts`` ("tuyệt mật", "tối mật", "mật")."""
    for text in texts:
        plain = re.sub(r"[_.\-]+", " ", unicodedata.normalize("NFC", text).casefold())
        found = _CLASSIFIED.search(plain)
        if found:
            return found.group(1)
    return None


def _refuse_classified(*texts: str) -> None:
    mark = classified_mark(*texts)
    if mark is not None:
        raise QuestionGone("document.error.classified", mark=mark.upper())  # never retried


def _is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def _check_url(raw: str) -> str:
    parsed = urlparse(raw)
    if parsed.scheme not in ("http", "https") or "." not in parsed.netloc or len(raw) > MAX_URL:
        raise UserError("document.error.bad_link")
    return raw


def _check_title(title: str) -> str:
    if len(title) > MAX_TITLE:
        raise UserError("document.error.title_too_long", limit=MAX_TITLE)
    _refuse_classified(title)
    return title


def _require_sender(context: Context) -> OrgUnit:
    """Only a cell's leaders, or a committee office, send documents."""
    cell = context.require_cell()
    if not context.require_actor().leads:
        raise UserError("document.error.leader_only")
    return cell


def _size_text(size: int | None) -> str:
    if size is None:
        return "?"
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / (1024 * 1024):.1f} MB".replace(".", ",")


def _document_id(args: list[str]) -> int:
    if len(args) != 1:
        raise QuestionGone("error.stale_button")
    return button_id(args)


async def _visible(context: Context, unit: OrgUnit, args: list[str]) -> Document:
    try:
        return await context.services.documents.visible(unit.id, _document_id(args))
    except DocumentNotFound:
        raise UserError("document.error.not_found") from None


# --- drafts: what the leader is about to send -------------------------------------------------


async def _draft(context: Context) -> dict[str, object]:
    """The draft behind a card button; it stays open whatever the tap turns out to be."""
    pending = await context.take_question()
    if pending is None or pending.flow != CONFIRM_FLOW:
        raise QuestionGone("document.error.draft_gone")
    await context.expect_answer(CONFIRM_FLOW, pending.data)
    return pending.data


async def _targets(context: Context, unit: OrgUnit) -> list[OrgUnit]:
    """Where this unit may send: a cell to itself, an office to each of its cells."""
    if not context.is_office:
        return [unit]
    return await context.services.cells.cells_of(unit.id)


async def _refuse_duplicate(context: Context, unit: OrgUnit, sha256: str) -> None:
    earlier = await context.services.documents.by_hash(unit.id, sha256)
    if earlier is not None:
        raise _duplicate(context, unit, earlier)


def _duplicate(context: Context, unit: OrgUnit, earlier: Document) -> UserError:
    when = context.services.texts.date(
        earlier.created_at.astimezone(ZoneInfo(unit.timezone)).date()
    )
    return UserError("document.error.duplicate", title=earlier.title, date=when)


async def _file_draft(
    context: Context, unit: OrgUnit, attachment: Attachment, title: str
) -> dict[str, object]:
    if attachment.size is not None and attachment.size > MAX_FILE_BYTES:
        raise UserError("document.error.too_big", limit="20 MB")
    if not attachment.is_photo and not attachment.file_name.lower().endswith(ACCEPTED_SUFFIXES):
        raise UserError("document.error.file_type")
    _refuse_classified(title, attachment.file_name)
    content = await context.gateway.download(attachment.file_id)
    if len(content) > MAX_FILE_BYTES:
        raise UserError("document.error.too_big", limit="20 MB")
    sha256 = hashlib.sha256(content).hexdigest()
    await _refuse_duplicate(context, unit, sha256)
    return {
        "kind": (DocumentKind.PHOTO if attachment.is_photo else DocumentKind.FILE).value,
        "title": title,
        "file_id": attachment.file_id,
        # The columns' sizes: PostgreSQL refuses what SQLite would silently keep.
        "file_name": attachment.file_name[:255],
        "mime_type": (attachment.mime_type or "")[:100] or None,
        "size": len(content),
        "sha256": sha256,
        "url": None,
    }


async def _link_draft(context: Context, unit: OrgUnit, url: str, title: str) -> dict[str, object]:
    _check_url(url)
    _refuse_classified(title, url)
    sha256 = hashlib.sha256(url.encode()).hexdigest()
    await _refuse_duplicate(context, unit, sha256)
    return {
        "kind": DocumentKind.LINK.value,
        "title": title,
        "file_id": None,
        "file_name": None,
        "mime_type": None,
        "size": None,
        "sha256": sha256,
        "url": url,
    }


async def _title_or_card(context: Context, unit: OrgUnit, draft: dict[str, object]) -> list[Reply]:
    targets = await _targets(context, unit)
    if not targets:
        raise UserError("document.error.no_cells")
    draft = {**draft, "meeting_id": None, "protect": False, "targets": [c.id for c in targets]}
    title = str(draft["title"] or "")
    if not title:
        await context.expect_answer(TITLE_FLOW, draft)
        return [Reply(context.t("document.ask_title"), ask_text=True)]
    _check_title(title)
    return await _card(context, unit, draft)


async def _card(
    context: Context, unit: OrgUnit, draft: dict[str, object], *, replace: bool = False
) -> list[Reply]:
    """What is about to go out; nothing reaches a group before «Gửi»."""
    await context.expect_answer(CONFIRM_FLOW, draft)
    all_cells = await _targets(context, unit)
    chosen = set(_int_list(draft.get("targets")))
    names = ", ".join(cell.name for cell in all_cells if cell.id in chosen)
    meeting = await _draft_meeting(context, unit, draft)
    texts = context.services.texts
    zone = ZoneInfo(unit.timezone)
    lines = [
        context.t("document.card.header"),
        context.t("document.card.title", title=draft["title"]),
        _what_line(context, draft),
        context.t("document.card.targets", cells=names or "—"),
    ]
    if not context.is_office:
        meeting_text = (
            context.t(
                "document.card.meeting_named",
                title=meeting.title,
                when=texts.datetime(meeting.starts_at.astimezone(zone)),
            )
            if meeting
            else context.t("document.card.no_meeting")
        )
        lines.append(meeting_text)
    protect = bool(draft.get("protect"))
    lines.append(context.t("document.card.protect_on" if protect else "document.card.protect_off"))
    if protect and Platform.ZALO in await context.services.cells.platforms_of(sorted(chosen)):
        # Zalo gets a signed link, which anyone may forward until it expires: say so now,
        # not after the document is out.
        lines.append(context.t("document.card.protect_not_on_zalo"))
    lines.append(context.t("document.card.how"))
    rows: list[tuple[Choice, ...]] = [
        (Choice(context.t("document.button.send"), "dk:send", tone=Tone.PRIMARY),)
    ]
    if not context.is_office:
        rows.append((Choice(context.t("document.button.meeting"), "dm"),))
    protect_key = "document.button.protect_off" if protect else "document.button.protect_on"
    rows.append((Choice(context.t(protect_key), "dp"),))
    if context.is_office:
        for cell in all_cells:
            mark = "✅" if cell.id in chosen else "⬜"
            rows.append((Choice(f"{mark} {cell.name}", f"dt:{cell.id}"),))
        rows.append((Choice(context.t("document.button.all_cells"), "dt:all"),))
    rows.append((Choice(context.t("document.button.discard"), "dk:no", tone=Tone.DESTRUCTIVE),))
    return [Reply("\n".join(lines), choices=tuple(rows), replace=replace)]


def _what_line(context: Context, draft: dict[str, object]) -> str:
    if draft["kind"] == DocumentKind.LINK:
        return context.t("document.card.link", url=draft["url"])
    size = draft.get("size")
    return context.t(
        "document.card.file",
        name=draft["file_name"],
        size=_size_text(size if isinstance(size, int) else None),
    )


def _int_list(value: object) -> list[int]:
    return [item for item in value if isinstance(item, int)] if isinstance(value, list) else []


async def _draft_meeting(
    context: Context, unit: OrgUnit, draft: dict[str, object]
) -> Meeting | None:
    meeting_id = draft.get("meeting_id")
    if not isinstance(meeting_id, int):
        return None
    meeting = await context.services.meetings.get(meeting_id)
    if (
        meeting is None
        or meeting.cell_id != unit.id
        or meeting.status is MeetingStatus.CANCELLED
        or meeting.starts_at <= context.now
    ):
        return None
    return meeting


# --- /tailieu ----------------------------------------------------------------------------------


async def documents_command(context: Context) -> list[Reply]:
    """/tailieu: with a file (replied to, or as its caption) or a link, leaders send it; without,
    leaders in private are asked for one; words search titles; nothing lists recent ones."""
    unit = context.require_cell()
    actor = context.require_actor()
    inbound = context.inbound
    args = " ".join(inbound.args.split())
    if inbound.attachment is not None:
        _require_sender(context)
        draft = await _file_draft(context, unit, inbound.attachment, args)
        return await _title_or_card(context, unit, draft)
    if _is_url(args):
        _require_sender(context)
        url, _, title = args.partition(" ")
        return await _title_or_card(context, unit, await _link_draft(context, unit, url, title))
    if not args and actor.leads and not inbound.is_group:
        await context.expect_answer(FILE_FLOW, {})
        return [Reply(context.t("document.ask_file")), *await _listing(context, unit, "", True)]
    return await _listing(context, unit, args, False)


async def _listing(context: Context, unit: OrgUnit, words: str, quiet: bool) -> list[Reply]:
    """Recent documents, or those whose titles hold ``words``. ``quiet``: say nothing when
    there are none (the leader was just asked for a file)."""
    found = await context.services.documents.recent(unit.id, words, LIST_LIMIT)
    if not found:
        if quiet:
            return []
        key = "document.list.not_found" if words else "document.list.none"
        return [Reply(context.t(key, words=words))]
    zone = ZoneInfo(unit.timezone)
    texts = context.services.texts
    header = (
        context.t("document.list.found", words=words, count=len(found))
        if words
        else context.t("document.list.header")
    )
    lines = [header]
    for number, document in enumerate(found, start=1):
        lines.append(
            context.t(
                "document.list.line",
                number=number,
                date=texts.date(document.created_at.astimezone(zone).date()),
                title=document.title,
            )
        )
        if document.url:
            lines.append(document.url)
    leads = context.actor is not None and context.actor.leads
    if context.inbound.is_group:
        if leads:
            lines.append(context.t("document.list.status_privately"))
            return [Reply("\n".join(lines), continue_privately="tailieu")]
        return [Reply("\n".join(lines))]
    lines.append(context.t("document.list.tap_status" if leads else "document.list.tap_get"))
    prefix = "dv" if leads else "dg"
    rows = tuple(
        (Choice(f"{number}. {document.title[:48]}", f"{prefix}:{document.id}"),)
        for number, document in enumerate(found, start=1)
    )
    return [Reply("\n".join(lines), choices=rows)]


# --- answers to the questions of the private flow ---------------------------------------------


async def file_answer(context: Context, data: dict[str, object]) -> list[Reply]:
    """The file or link a leader sends after a bare /tailieu (a caption becomes the title)."""
    unit = _require_sender(context)
    inbound = context.inbound
    text = " ".join(inbound.text.split())
    if inbound.attachment is not None:
        draft = await _file_draft(context, unit, inbound.attachment, text)
        return await _title_or_card(context, unit, draft)
    if _is_url(text):
        url, _, title = text.partition(" ")
        return await _title_or_card(context, unit, await _link_draft(context, unit, url, title))
    await context.expect_answer(FILE_FLOW, data)
    return [Reply(context.t("document.error.send_file_or_link"))]


async def private_file(context: Context, data: dict[str, object]) -> list[Reply]:
    """A file sent privately with no question open: a CSV or XLSX is a roster to import, as
    before; any other file or a photo is a document to send, as if after /tailieu."""
    attachment = context.inbound.attachment
    if attachment is None or attachment.file_name.lower().endswith(
        roster_import.SUPPORTED_SUFFIXES
    ):
        return await roster_import.receive_document(context, data)
    return await file_answer(context, data)


async def title_answer(context: Context, data: dict[str, object]) -> list[Reply]:
    unit = _require_sender(context)
    title = " ".join(context.inbound.text.split())
    if not title:
        await context.expect_answer(TITLE_FLOW, data)
        return [Reply(context.t("document.ask_title"), ask_text=True)]
    _check_title(title)
    return await _card(context, unit, {**data, "title": title})


async def confirm_answer(context: Context, data: dict[str, object]) -> list[Reply]:
    """Text instead of a tap while the card waits: keep the draft and say what to do. Another
    file replaces the draft: the sender changed their mind about which one."""
    if context.inbound.attachment is not None:
        return await file_answer(context, {})
    await context.expect_answer(CONFIRM_FLOW, data)
    return [Reply(context.t("document.tap_to_confirm"))]


# --- the card's buttons -----------------------------------------------------------------------


async def pick_meeting(context: Context, args: list[str]) -> list[Reply]:
    """«Gắn cuộc họp»: the next few meetings, or none; a pick goes back to the card."""
    unit = context.require_cell()
    draft = await _draft(context)
    if context.is_office:
        raise QuestionGone("error.stale_button")
    if not args:
        coming = await context.services.meetings.upcoming(unit.id, context.now, MEETING_CHOICES)
        texts = context.services.texts
        zone = ZoneInfo(unit.timezone)
        rows = [
            (
                Choice(
                    f"{texts.date(m.starts_at.astimezone(zone).date())} — {m.title[:40]}",
                    f"dm:{m.id}",
                ),
            )
            for m in coming
        ]
        rows.append((Choice(context.t("document.button.no_meeting"), "dm:0"),))
        key = "document.pick_meeting" if coming else "document.pick_meeting_none"
        return [Reply(context.t(key), choices=tuple(rows), replace=True)]
    chosen = _document_id(args)
    updated = {**draft, "meeting_id": chosen or None}
    if chosen and await _draft_meeting(context, unit, updated) is None:
        raise QuestionGone("meeting.error.not_found")
    return await _card(context, unit, updated, replace=True)


async def toggle_protect(context: Context, _args: list[str]) -> list[Reply]:
    unit = context.require_cell()
    draft = await _draft(context)
    return await _card(context, unit, {**draft, "protect": not draft.get("protect")}, replace=True)


async def toggle_target(context: Context, args: list[str]) -> list[Reply]:
    """An office picks which of its cells get the document: all, or toggle one."""
    unit = context.require_cell()
    draft = await _draft(context)
    if not context.is_office or len(args) != 1:
        raise QuestionGone("error.stale_button")
    cells = [cell.id for cell in await _targets(context, unit)]
    chosen = set(_int_list(draft.get("targets")))
    if args[0] == "all":
        chosen = set(cells)
    elif (target := parse_row_id(args[0])) is not None and target in cells:
        chosen ^= {target}
    else:
        raise QuestionGone("error.stale_button")
    if not chosen:
        raise UserError("document.error.no_target")
    updated = {**draft, "targets": [cell for cell in cells if cell in chosen]}
    return await _card(context, unit, updated, replace=True)


async def decide(context: Context, args: list[str]) -> list[Reply]:
    """«Gửi» stores the document and posts it to every target group; «Hủy» drops it."""
    unit = context.require_cell()
    draft = await _draft(context)
    if args == ["no"]:
        await context.services.pending.forget(
            platform=context.inbound.platform,
            chat_id=context.inbound.chat_id,
            user_id=context.inbound.user_id,
        )
        return [Reply(context.t("document.discarded"), replace=True)]
    if args != ["send"]:
        raise QuestionGone("error.stale_button")
    allowed = {cell.id: cell for cell in await _targets(context, unit)}
    targets = [
        allowed[cell_id] for cell_id in _int_list(draft.get("targets")) if cell_id in allowed
    ]
    if not targets:
        raise UserError("document.error.no_target")
    meeting = await _draft_meeting(context, unit, draft)
    if draft.get("meeting_id") is not None and meeting is None:
        raise QuestionGone("document.error.meeting_gone")
    document = await _store(context, unit, draft, targets, meeting)
    await context.services.pending.forget(
        platform=context.inbound.platform,
        chat_id=context.inbound.chat_id,
        user_id=context.inbound.user_id,
    )
    return await _post(context, unit, document, targets, meeting)


async def _store(
    context: Context,
    unit: OrgUnit,
    draft: dict[str, object],
    targets: list[OrgUnit],
    meeting: Meeting | None,
) -> Document:
    def text_or_none(name: str) -> str | None:
        value = draft.get(name)
        return str(value) if value is not None else None

    size = draft.get("size")
    new = NewDocument(
        kind=DocumentKind(str(draft["kind"])),
        title=str(draft["title"]),
        sha256=str(draft["sha256"]),
        platform=context.inbound.platform.value,
        file_name=text_or_none("file_name"),
        mime_type=text_or_none("mime_type"),
        size=size if isinstance(size, int) else None,
        platform_file_id=text_or_none("file_id"),
        url=text_or_none("url"),
        meeting_id=meeting.id if meeting else None,
        protect_content=bool(draft.get("protect")),
    )
    try:
        return await context.services.documents.create(
            unit_id=unit.id,
            new=new,
            target_cell_ids=[cell.id for cell in targets],
            sender_member_id=context.require_actor().id,
            actor=context.audit_actor,
            now=context.now,
        )
    except DocumentDuplicate as duplicate:
        raise _duplicate(context, unit, duplicate.earlier) from None
    except DocumentNotFound:
        raise QuestionGone("document.error.meeting_gone") from None


def document_reply(
    texts: Texts,
    document: Document,
    header: str,
    *,
    sender: str | None = None,
    meeting_line: str | None = None,
    chat_id: str | None = None,
    read_button: bool = True,
) -> Reply:
    """The document as members receive it: the file itself (or the link) with the
    «✅ Đã đọc» button under it."""
    lines = [header]
    if document.url:
        lines.append(document.url)
    if sender:
        lines.append(texts("document.post.from", unit=sender))
    if meeting_line:
        lines.append(meeting_line)
    if read_button:
        lines.append(texts("document.post.how"))
    shared = (
        SharedFile(
            document.platform_file_id,
            document.kind is DocumentKind.PHOTO,
            document_id=document.id,
            file_name=document.file_name or document.title,
        )
        if document.platform_file_id
        else None
    )
    choices = (
        ((Choice(texts("document.button.read"), f"dr:{document.id}"),),) if read_button else ()
    )
    return Reply(
        "\n".join(lines),
        choices=choices,
        chat_id=chat_id,
        shared_file=shared,
        protect_content=document.protect_content,
    )


def _meeting_line(texts: Texts, meeting: Meeting | None, zone: ZoneInfo) -> str | None:
    if meeting is None:
        return None
    when = texts.datetime(meeting.starts_at.astimezone(zone))
    return texts("document.post.meeting", title=meeting.title, when=when)


async def _post(
    context: Context,
    unit: OrgUnit,
    document: Document,
    targets: list[OrgUnit],
    meeting: Meeting | None,
) -> list[Reply]:
    texts = context.services.texts
    header = texts("document.post.title", title=document.title)
    posts: list[Reply] = []
    no_group: list[str] = []
    for cell in targets:
        # Every group of the cell, on each platform: a cell may meet on Telegram and Zalo.
        groups = [
            (Platform(chat.platform), chat.external_id)
            for chat in await context.services.cells.chats_of(cell.id)
        ]
        if not groups:
            no_group.append(cell.name)
        meeting_line = _meeting_line(texts, meeting, ZoneInfo(cell.timezone))
        sender = unit.name if context.is_office else None
        # Each group hears the post in its own platform's words (numbers on Zalo, taps here).
        posts += [
            replace(
                document_reply(
                    texts.on(platform),
                    document,
                    header,
                    sender=sender,
                    meeting_line=meeting_line,
                    chat_id=chat_id,
                ),
                platform=platform,
            )
            for platform, chat_id in groups
        ]
    lines = [context.t("document.sent", title=document.title, groups=len(posts))]
    if no_group:
        lines.append(context.t("document.sent_no_group", cells=", ".join(no_group)))
    if meeting is not None:
        lines.append(context.t("document.sent_nudges"))
    return [Reply("\n".join(lines), replace=True), *posts]


# --- reading ------------------------------------------------------------------------------------


async def mark_read(context: Context, args: list[str]) -> list[Reply]:
    """«✅ Đã đọc»: counted once per member of a target cell; a popup says so."""
    cell = context.require_cell()
    actor = context.require_actor()
    document = await _visible(context, cell, args)
    try:
        read_at, recorded = await context.services.documents.mark_read(
            document_id=document.id,
            member_id=actor.id,
            cell_id=cell.id,
            actor=context.audit_actor,
            now=context.now,
        )
    except DocumentNotFound:
        raise UserError("document.error.not_for_you") from None
    if not recorded:
        when = context.services.texts.datetime(read_at.astimezone(ZoneInfo(cell.timezone)))
        return [Reply(context.t("document.read_already", when=when), popup=True)]
    told = Reply(context.t("document.read_recorded", title=document.title), popup=True)
    if not context.inbound.is_group:
        return [told]
    # The group's post shows how many have read it so far, on its button.
    reads = await context.services.documents.read_status(document.id, cell.id)
    read = sum(len(c.read) for c in reads)
    total = read + sum(len(c.unread) for c in reads)
    label = context.t("document.button.read_count", read=read, total=total)
    counted = ((Choice(label, f"dr:{document.id}"),),)
    return [told, Reply("", choices=counted, edit_buttons=True)]


async def read_status(context: Context, args: list[str]) -> list[Reply]:
    """Who has read and who has not, per cell: for leaders, privately. From the list it comes
    as a new message; its own «Xem lại» (``dv:<id>:r``) refreshes it in place."""
    unit = context.require_cell()
    refresh = args[1:] == ["r"]
    document = await _visible(context, unit, args[:1] if refresh else args)
    try:
        cells = await context.services.documents.read_status(document.id, unit.id)
    except DocumentNotFound:
        raise UserError("document.error.not_found") from None
    texts = context.services.texts
    zone = ZoneInfo(unit.timezone)
    lines = [context.t("document.status.header", title=document.title)]
    for cell in cells:
        lines.append(
            context.t(
                "document.status.cell",
                cell=cell.cell_name,
                read=len(cell.read),
                unread=len(cell.unread),
            )
        )
        lines += [
            context.t(
                "document.status.read_line",
                name=reader.full_name,
                when=texts.datetime(reader.read_at.astimezone(zone)),
            )
            for reader in cell.read
            if reader.read_at is not None
        ]
        if cell.unread:
            names = ", ".join(reader.full_name for reader in cell.unread)
            lines.append(context.t("document.status.unread_line", names=names))
    again = ((Choice(context.t("document.button.refresh"), f"dv:{document.id}:r"),),)
    return [Reply("\n".join(lines), choices=again, replace=refresh)]


async def get_document(context: Context, args: list[str]) -> list[Reply]:
    """A member asks for a document again, privately: the file or link with its button."""
    unit = context.require_cell()
    document = await _visible(context, unit, args)
    targeted = unit.id in await context.services.documents.target_cells(document.id)
    texts = context.services.texts
    header = texts("document.post.title", title=document.title)
    return [document_reply(texts, document, header, read_button=targeted)]


# --- the nudge before the meeting -------------------------------------------------------------


async def render_nudge(
    documents: DocumentRepository,
    meetings: MeetingRepository,
    cells: CellRepository,
    texts: Texts,
    payload: dict[str, object],
    now: datetime,
) -> list[Reply]:
    """The nudge as it should read now; nothing once the member has read the document, or the
    meeting is cancelled or has started."""
    document_id, member_id = payload.get("document_id"), payload.get("member_id")
    if not isinstance(document_id, int) or not isinstance(member_id, int):
        return []
    if await documents.has_read(document_id, member_id):
        return []
    document = await documents.get(document_id)
    if document is None or document.meeting_id is None:
        return []
    meeting = await meetings.get(document.meeting_id)
    if meeting is None or meeting.status is MeetingStatus.CANCELLED or meeting.starts_at <= now:
        return []
    cell = await cells.get(meeting.cell_id)
    zone = ZoneInfo(cell.timezone) if cell else ZoneInfo("Asia/Ho_Chi_Minh")
    header = texts(
        "document.nudge",
        title=document.title,
        meeting=meeting.title,
        when=texts.datetime(meeting.starts_at.astimezone(zone)),
    )
    reply = document_reply(texts, document, header)
    if document.url:
        # A link to read: «Đọc ngay» opens it at once, beside «Đã đọc» for afterwards.
        now_read = Choice(texts("document.button.read_now"), "", url=document.url)
        reply = replace(reply, choices=((now_read,), *reply.choices))
    return [reply]
