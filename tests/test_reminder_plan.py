"""Reminder rows are derived in the database (one statement for a province's thousands of
meetings at start-up); they must be exactly what ``reminder_rows`` says, key for key, on both
backends: a key that changed format would send a reminder that already went out again."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.audit import Actor
from storage.meetings import (
    DEFAULT_OFFSETS_MINUTES,
    REMINDER_PAYLOAD,
    MeetingRepository,
    reminder_rows,
)
from storage.models import MeetingStatus, MemberState, MemberStatus, OrgKind, OutboxStatus, Role
from storage.outbox import NewOutboxRow
from storage.schema import chats, identities, meetings, members, org_units, outbox

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
# Cell 1: default offsets (never chosen), a Telegram and a Zalo group, private reminders.
# Cell 2: its own offsets. Cell 3: offsets stored as JSON null.
STARTS = {
    10: (1, datetime(2026, 12, 15, 12, 30, tzinfo=UTC)),
    11: (1, NOW + timedelta(days=2, minutes=7)),  # the 3-day reminder is already past
    12: (1, NOW - timedelta(days=1)),  # over
    20: (2, datetime(2026, 12, 1, 1, 5, 30, 123456, tzinfo=UTC)),  # seconds and microseconds
    21: (2, datetime(2026, 12, 20, 12, 0, tzinfo=UTC)),  # cancelled
    30: (3, datetime(2027, 1, 3, 23, 59, tzinfo=UTC)),
}
CELL_2_OFFSETS = (1440, 30)
TARGETS = {
    # Groups in link order, then one private chat per member: the account linked first.
    1: [("telegram", "-100777"), ("zalo", "g-55"), ("zalo", "z-1")],
    2: [("telegram", "-100888")],
    3: [("telegram", "-100999")],
}


def _member(member_id: int, state: MemberState, *, private_reminders: bool) -> dict[str, Any]:
    return {
        "id": member_id,
        "org_unit_id": 1,
        "full_name": f"Đảng viên {member_id}",
        "role": Role.MEMBER,
        "status": MemberStatus.OFFICIAL,
        "state": state,
        "private_reminders": private_reminders,
        "created_at": NOW,
        "updated_at": NOW,
    }


async def _seed(engine: AsyncEngine) -> None:
    unit = {"kind": OrgKind.CELL, "timezone": "Asia/Ho_Chi_Minh", "auto_accept": False}
    async with engine.begin() as connection:
        await connection.execute(
            insert(org_units),
            [
                {"id": 1, "name": "Một", "created_at": NOW, **unit},
                {"id": 2, "name": "Hai", "created_at": NOW, **unit},
            ],
        )
        await connection.execute(
            insert(org_units).values(id=3, name="Ba", created_at=NOW, reminder_offsets=None, **unit)
        )
        await connection.execute(
            org_units.update().where(org_units.c.id == 2).values(reminder_offsets=CELL_2_OFFSETS)
        )
        await connection.execute(
            insert(chats),
            [
                {"platform": p, "external_id": c, "org_unit_id": cell, "linked_at": NOW}
                for cell, targets in TARGETS.items()
                for p, c in targets
                if c.startswith(("-", "g-"))
            ],
        )
        await connection.execute(
            insert(members),
            [
                # Wants private reminders; linked Zalo first, then Telegram.
                _member(1, MemberState.ACTIVE, private_reminders=True),
                _member(2, MemberState.ACTIVE, private_reminders=False),
                # Wants them but is not on the roster yet.
                _member(3, MemberState.PENDING, private_reminders=True),
            ],
        )
        await connection.execute(
            insert(identities),
            [
                {
                    "platform": platform,
                    "external_user_id": user,
                    "member_id": member,
                    "linked_at": NOW,
                }
                for platform, user, member in (
                    ("zalo", "z-1", 1),
                    ("telegram", "501", 1),
                    ("telegram", "502", 2),
                    ("telegram", "503", 3),
                )
            ],
        )
        await connection.execute(
            insert(meetings),
            [
                {
                    "id": meeting_id,
                    "org_unit_id": cell,
                    "kind": "regular",
                    "title": "Sinh hoạt",
                    "starts_at": starts_at,
                    "place": "Hội trường",
                    "agenda": "",
                    "status": MeetingStatus.CANCELLED if meeting_id == 21 else "scheduled",
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for meeting_id, (cell, starts_at) in STARTS.items()
            ],
        )


def _fields(r: NewOutboxRow) -> tuple[Any, ...]:
    return (
        r.dedupe_key,
        r.platform,
        r.chat_id,
        r.due_at,
        r.expires_at,
        r.meeting_id,
        r.org_unit_id,
    )


def _expected(offsets: dict[int, tuple[int, ...]], now: datetime) -> set[tuple[Any, ...]]:
    return {
        (*_fields(r), r.payload["type"], r.payload["meeting_id"], r.payload["offset"])
        for meeting_id, (cell, starts_at) in STARTS.items()
        if meeting_id != 21 and starts_at > now
        for r in reminder_rows(meeting_id, cell, starts_at, offsets[cell], TARGETS[cell], now)
    }


async def _pending(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        result = await connection.execute(
            select(outbox).where(outbox.c.status == OutboxStatus.PENDING).order_by(outbox.c.id)
        )
        return [dict(row) for row in result.mappings()]


def _planned(rows: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    return {
        (
            r["dedupe_key"],
            r["platform"],
            r["chat_id"],
            r["due_at"],
            r["expires_at"],
            r["meeting_id"],
            r["org_unit_id"],
            r["payload"]["type"],
            r["payload"]["meeting_id"],
            r["payload"]["offset"],
        )
        for r in rows
    }


async def test_start_up_plans_what_reminder_rows_says(engine: AsyncEngine) -> None:
    await _seed(engine)
    repo = MeetingRepository(engine)
    await repo.reconcile(NOW)
    rows = await _pending(engine)
    offsets = {1: DEFAULT_OFFSETS_MINUTES, 2: CELL_2_OFFSETS, 3: DEFAULT_OFFSETS_MINUTES}
    assert _planned(rows) == _expected(offsets, NOW)
    # The format earlier versions stored: re-planning must find these rows, not add twins.
    assert {r["dedupe_key"] for r in rows if r["meeting_id"] == 20} == {
        "meeting:20:20261201T0105:1440:telegram:-100888",
        "meeting:20:20261201T0105:30:telegram:-100888",
    }
    # Sent in (due, id) order: at the same moment the groups before the private chat.
    in_order = sorted(
        (r for r in rows if r["meeting_id"] == 10), key=lambda r: (r["due_at"], r["id"])
    )
    assert [r["chat_id"] for r in in_order] == ["-100777", "g-55", "z-1"] * 3

    await repo.reconcile(NOW + timedelta(minutes=1))
    assert [r["id"] for r in await _pending(engine)] == [r["id"] for r in rows]


async def test_new_offsets_cancel_the_rows_no_longer_wanted(engine: AsyncEngine) -> None:
    await _seed(engine)
    repo = MeetingRepository(engine)
    await repo.reconcile(NOW)
    later = NOW + timedelta(hours=1)
    await repo.set_offsets(cell_id=1, offsets_minutes=[60, 1440], actor=Actor("cli"), now=later)
    offsets = {1: (1440, 60), 2: CELL_2_OFFSETS, 3: DEFAULT_OFFSETS_MINUTES}
    wanted = {row for row in _expected(offsets, later) if row[6] == 1}
    assert {row for row in _planned(await _pending(engine)) if row[6] == 1} == wanted


async def test_a_moved_meeting_gets_the_rows_of_its_new_time(engine: AsyncEngine) -> None:
    await _seed(engine)
    repo = MeetingRepository(engine)
    await repo.reconcile(NOW)
    meeting = await repo.in_cell(1, 10)
    moved = datetime(2026, 12, 16, 13, 0, tzinfo=UTC)
    details = replace(meeting.details, starts_at=moved)
    await repo.update(cell_id=1, meeting_id=10, details=details, actor=Actor("cli"), now=NOW)
    rows = [r for r in await _pending(engine) if r["meeting_id"] == 10]
    assert _planned(rows) == {
        (*_fields(r), REMINDER_PAYLOAD, 10, r.payload["offset"])
        for r in reminder_rows(10, 1, moved, DEFAULT_OFFSETS_MINUTES, TARGETS[1], NOW)
    }
