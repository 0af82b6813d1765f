"""Documents sent to cells, who has read them, and the private nudge to those who have not.

A document belongs to the unit that sent it (a cell, or a committee office sending to several of
its cells at once) and reaches the cells in ``document_targets``. The same file (or link) sent
twice by one unit is recognised by its SHA-256 and refused with the earlier document, so it is
never stored or posted twice.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, insert, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.audit import Actor, record
from storage.db import reading
from storage.errors import StorageConflict
from storage.models import DocumentKind, MeetingStatus, MemberState
from storage.outbox import NewOutboxRow, enqueue
from storage.schema import (
    document_reads,
    document_targets,
    documents,
    identities,
    meetings,
    members,
    org_units,
)

NUDGE_PAYLOAD = "document.nudge"
# Members who have not read a meeting's document hear about it this long before the meeting.
NUDGE_LEAD = timedelta(days=1)


def fold_title(text: str) -> str:
    """Lower-case, accent-free, single-spaced: the form titles are searched in.
    The same rule as handlers.fields.fold, kept here because storage never imports handlers."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.casefold().split())


class DocumentNotFound(StorageConflict):
    """No such document, or not one this cell may see."""


class DocumentDuplicate(StorageConflict):
    """This unit already has a document with the same content; ``earlier`` is that one."""

    def __init__(self, earlier: Document) -> None:
        super().__init__(f"document:{earlier.id}")
        self.earlier = earlier


@dataclass(frozen=True, slots=True)
class NewDocument:
    kind: DocumentKind
    title: str
    sha256: str
    platform: str
    file_name: str | None = None
    mime_type: str | None = None
    size: int | None = None
    platform_file_id: str | None = None
    url: str | None = None
    meeting_id: int | None = None
    protect_content: bool = False


@dataclass(frozen=True, slots=True)
class Document:
    id: int
    org_unit_id: int
    kind: DocumentKind
    title: str
    file_name: str | None
    mime_type: str | None
    size: int | None
    sha256: str | None
    platform: str | None
    platform_file_id: str | None
    url: str | None
    meeting_id: int | None
    protect_content: bool
    sender_member_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Reader:
    member_id: int
    full_name: str
    read_at: datetime | None


@dataclass(frozen=True, slots=True)
class CellReads:
    """One target cell's active members, those who have read first (by time), then the rest."""

    cell_id: int
    cell_name: str
    readers: tuple[Reader, ...]

    @property
    def read(self) -> tuple[Reader, ...]:
        return tuple(reader for reader in self.readers if reader.read_at is not None)

    @property
    def unread(self) -> tuple[Reader, ...]:
        return tuple(reader for reader in self.readers if reader.read_at is None)


def _document(row: Any) -> Document:
    return Document(
        id=row["id"],
        org_unit_id=row["org_unit_id"],
        kind=DocumentKind(row["kind"]),
        title=row["title"],
        file_name=row["file_name"],
        mime_type=row["mime_type"],
        size=row["size"],
        sha256=row["sha256"],
        platform=row["platform"],
        platform_file_id=row["platform_file_id"],
        url=row["url"],
        meeting_id=row["meeting_id"],
        protect_content=bool(row["protect_content"]),
        sender_member_id=row["sender_member_id"],
        created_at=row["created_at"],
    )


def _visible_to(unit_id: int) -> ColumnElement[bool]:
    """Documents the unit sent, or that were sent to it."""
    targeted = exists().where(
        document_targets.c.document_id == documents.c.id,
        document_targets.c.cell_id == unit_id,
    )
    return or_(documents.c.org_unit_id == unit_id, targeted)


def _like_escaped(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class DocumentRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # --- reading -------------------------------------------------------------------------

    async def get(self, document_id: int) -> Document | None:
        async with reading(self._engine).connect() as connection:
            row = (
                (await connection.execute(select(documents).where(documents.c.id == document_id)))
                .mappings()
                .first()
            )
        return _document(row) if row else None

    async def visible(self, unit_id: int, document_id: int) -> Document:
        """The document, if ``unit_id`` sent it or received it; else DocumentNotFound."""
        query = select(documents).where(documents.c.id == document_id, _visible_to(unit_id))
        async with reading(self._engine).connect() as connection:
            row = (await connection.execute(query)).mappings().first()
        if row is None:
            raise DocumentNotFound
        return _document(row)

    async def by_hash(self, unit_id: int, sha256: str) -> Document | None:
        async with reading(self._engine).connect() as connection:
            return await self._by_hash(connection, unit_id, sha256)

    async def recent(self, unit_id: int, words: str = "", limit: int = 8) -> list[Document]:
        """Newest first; with ``words``, only titles holding every word, diacritics ignored."""
        conditions = [_visible_to(unit_id)]
        for word in fold_title(words).split():
            conditions.append(
                documents.c.title_folded.like(f"%{_like_escaped(word)}%", escape="\\")
            )
        query = (
            select(documents)
            .where(*conditions)
            .order_by(documents.c.created_at.desc(), documents.c.id.desc())
            .limit(limit)
        )
        async with reading(self._engine).connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_document(row) for row in rows]

    async def titles_for_meeting(self, meeting_id: int) -> list[str]:
        return (await self.titles_for_meetings([meeting_id]))[meeting_id]

    async def titles_for_meetings(self, meeting_ids: Sequence[int]) -> dict[int, list[str]]:
        """The titles of the documents linked to each meeting, in one query."""
        query = (
            select(documents.c.meeting_id, documents.c.title)
            .where(documents.c.meeting_id.in_(list(meeting_ids)))
            .order_by(documents.c.created_at, documents.c.id)
        )
        titles: dict[int, list[str]] = {meeting_id: [] for meeting_id in meeting_ids}
        async with reading(self._engine).connect() as connection:
            for meeting_id, title in await connection.execute(query):
                titles[int(meeting_id)].append(str(title))
        return titles

    async def target_cells(self, document_id: int) -> list[int]:
        query = (
            select(document_targets.c.cell_id)
            .where(document_targets.c.document_id == document_id)
            .order_by(document_targets.c.cell_id)
        )
        async with reading(self._engine).connect() as connection:
            return [int(cell_id) for cell_id in (await connection.execute(query)).scalars()]

    async def has_read(self, document_id: int, member_id: int) -> bool:
        query = select(document_reads.c.read_at).where(
            document_reads.c.document_id == document_id, document_reads.c.member_id == member_id
        )
        async with reading(self._engine).connect() as connection:
            return (await connection.execute(query)).first() is not None

    async def read_status(self, document_id: int, viewer_unit_id: int) -> list[CellReads]:
        """Who has and has not read, per target cell. The sender sees every target cell; a
        target cell sees only itself."""
        async with reading(self._engine).connect() as connection:
            owner = (
                await connection.execute(
                    select(documents.c.org_unit_id).where(documents.c.id == document_id)
                )
            ).scalar_one_or_none()
            if owner is None:
                raise DocumentNotFound
            cells_query = (
                select(org_units.c.id, org_units.c.name)
                .join(document_targets, document_targets.c.cell_id == org_units.c.id)
                .where(document_targets.c.document_id == document_id)
                .order_by(org_units.c.name, org_units.c.id)
            )
            if owner != viewer_unit_id:
                cells_query = cells_query.where(org_units.c.id == viewer_unit_id)
            cells = (await connection.execute(cells_query)).all()
            if not cells:
                raise DocumentNotFound
            return [
                CellReads(
                    cell_id,
                    name,
                    await self._readers(connection, document_id, cell_id),
                )
                for cell_id, name in cells
            ]

    # --- changing ------------------------------------------------------------------------

    async def create(
        self,
        *,
        unit_id: int,
        new: NewDocument,
        target_cell_ids: Sequence[int],
        sender_member_id: int | None,
        actor: Actor,
        now: datetime,
    ) -> Document:
        """Store the document with its targets and, when it is for a meeting, a private nudge
        per member who will need it — all or nothing. Raises DocumentDuplicate when this unit
        already has the same content."""
        if not target_cell_ids:
            raise ValueError("a document needs at least one target cell")
        try:
            async with self._engine.begin() as connection:
                earlier = await self._by_hash(connection, unit_id, new.sha256)
                if earlier is not None:
                    raise DocumentDuplicate(earlier)
                document_id = await self._insert(connection, unit_id, new, sender_member_id, now)
                await connection.execute(
                    insert(document_targets),
                    [
                        {"document_id": document_id, "cell_id": cell_id, "posted_at": now}
                        for cell_id in sorted(set(target_cell_ids))
                    ],
                )
                if new.meeting_id is not None:
                    await self._plan_nudges(connection, document_id, new, target_cell_ids, now)
                await record(
                    connection,
                    at=now,
                    actor=actor,
                    action="document.created",
                    org_unit_id=unit_id,
                    target=f"document:{document_id}",
                    details={
                        "kind": new.kind.value,
                        "cells": sorted(set(target_cell_ids)),
                        "meeting_id": new.meeting_id,
                        "protect_content": new.protect_content,
                    },
                )
                return await self._get(connection, document_id)
        except IntegrityError:
            # Another send of the same content won the race between our check and our insert.
            earlier = await self.by_hash(unit_id, new.sha256)
            if earlier is None:
                raise
            raise DocumentDuplicate(earlier) from None

    async def mark_read(
        self, *, document_id: int, member_id: int, cell_id: int, actor: Actor, now: datetime
    ) -> tuple[datetime, bool]:
        """Record that a member of ``cell_id`` has read the document; once only. Returns when
        they read it and whether this call recorded it."""
        async with self._engine.begin() as connection:
            targeted = (
                await connection.execute(
                    select(document_targets.c.cell_id).where(
                        document_targets.c.document_id == document_id,
                        document_targets.c.cell_id == cell_id,
                    )
                )
            ).first()
            if targeted is None:
                raise DocumentNotFound
            dialect = connection.dialect.name
            statement: Any = (
                postgresql_insert(document_reads)
                if dialect == "postgresql"
                else sqlite_insert(document_reads)
            )
            inserted = (
                await connection.execute(
                    statement.values(document_id=document_id, member_id=member_id, read_at=now)
                    .on_conflict_do_nothing(
                        index_elements=[document_reads.c.document_id, document_reads.c.member_id]
                    )
                    .returning(document_reads.c.read_at)
                )
            ).first()
            if inserted is not None:
                await record(
                    connection,
                    at=now,
                    actor=actor,
                    action="document.read",
                    org_unit_id=cell_id,
                    target=f"document:{document_id}",
                    details={"member_id": member_id},
                )
                return now, True
            read_at = (
                await connection.execute(
                    select(document_reads.c.read_at).where(
                        document_reads.c.document_id == document_id,
                        document_reads.c.member_id == member_id,
                    )
                )
            ).scalar_one()
            return read_at, False

    # --- inside a transaction ------------------------------------------------------------

    async def _by_hash(
        self, connection: AsyncConnection, unit_id: int, sha256: str
    ) -> Document | None:
        row = (
            (
                await connection.execute(
                    select(documents).where(
                        documents.c.org_unit_id == unit_id, documents.c.sha256 == sha256
                    )
                )
            )
            .mappings()
            .first()
        )
        return _document(row) if row else None

    async def _get(self, connection: AsyncConnection, document_id: int) -> Document:
        row = (
            (await connection.execute(select(documents).where(documents.c.id == document_id)))
            .mappings()
            .one()
        )
        return _document(row)

    async def _insert(
        self,
        connection: AsyncConnection,
        unit_id: int,
        new: NewDocument,
        sender_member_id: int | None,
        now: datetime,
    ) -> int:
        return int(
            (
                await connection.execute(
                    insert(documents)
                    .values(
                        org_unit_id=unit_id,
                        kind=new.kind,
                        title=new.title,
                        title_folded=fold_title(new.title)[:200],
                        file_name=new.file_name,
                        mime_type=new.mime_type,
                        size=new.size,
                        sha256=new.sha256,
                        platform=new.platform,
                        platform_file_id=new.platform_file_id,
                        url=new.url,
                        meeting_id=new.meeting_id,
                        protect_content=new.protect_content,
                        sender_member_id=sender_member_id,
                        created_at=now,
                    )
                    .returning(documents.c.id)
                )
            ).scalar_one()
        )

    async def _plan_nudges(
        self,
        connection: AsyncConnection,
        document_id: int,
        new: NewDocument,
        target_cell_ids: Sequence[int],
        now: datetime,
    ) -> None:
        """One private row per member account of the meeting's cell, due a day before it (or
        now when that has passed), rendered at send time so a reader is skipped. The rows carry
        no meeting id: rescheduling a meeting cancels its reminder rows, not these."""
        meeting = (
            await connection.execute(
                select(meetings.c.org_unit_id, meetings.c.starts_at).where(
                    meetings.c.id == new.meeting_id,
                    meetings.c.status == MeetingStatus.SCHEDULED,
                )
            )
        ).first()
        if meeting is None or meeting.org_unit_id not in target_cell_ids:
            raise DocumentNotFound
        starts_at: datetime = meeting.starts_at
        if starts_at <= now:
            return
        accounts = (
            await connection.execute(
                select(members.c.id, identities.c.platform, identities.c.external_user_id)
                .join(identities, identities.c.member_id == members.c.id)
                .where(
                    members.c.org_unit_id == meeting.org_unit_id,
                    members.c.state == MemberState.ACTIVE,
                )
                .order_by(members.c.id, identities.c.id)
            )
        ).all()
        rows = [
            NewOutboxRow(
                dedupe_key=f"document:{document_id}:nudge:{member_id}:{platform}",
                platform=str(platform),
                chat_id=str(account),
                due_at=max(now, starts_at - NUDGE_LEAD),
                expires_at=starts_at,
                payload={
                    "type": NUDGE_PAYLOAD,
                    "document_id": document_id,
                    "member_id": member_id,
                },
                org_unit_id=meeting.org_unit_id,
            )
            for member_id, platform, account in accounts
        ]
        await enqueue(connection, rows, now)

    async def _readers(
        self, connection: AsyncConnection, document_id: int, cell_id: int
    ) -> tuple[Reader, ...]:
        rows = (
            await connection.execute(
                select(members.c.id, members.c.full_name, document_reads.c.read_at)
                .outerjoin(
                    document_reads,
                    and_(
                        document_reads.c.member_id == members.c.id,
                        document_reads.c.document_id == document_id,
                    ),
                )
                .where(members.c.org_unit_id == cell_id, members.c.state == MemberState.ACTIVE)
                .order_by(members.c.full_name, members.c.id)
            )
        ).all()
        readers = [Reader(member_id, name, read_at) for member_id, name, read_at in rows]
        readers.sort(key=lambda reader: (reader.read_at is None, reader.read_at or 0))
        return tuple(readers)
