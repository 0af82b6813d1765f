"""The audit log: who did what, when. Writers call ``record`` inside their own transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.db import reading
from storage.models import AuditEntry
from storage.schema import audit_log


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: a member when we know one, always the platform account."""

    label: str
    member_id: int | None = None


# Built once: every write in the bot records an entry, and building the statement each time
# cost more than sending it.
_INSERT_ENTRY = insert(audit_log)


async def record(
    connection: AsyncConnection,
    *,
    at: datetime,
    actor: Actor,
    action: str,
    org_unit_id: int | None,
    target: str | None = None,
    details: Mapping[str, object] | None = None,
) -> None:
    await connection.execute(
        _INSERT_ENTRY,
        {
            "at": at,
            "org_unit_id": org_unit_id,
            "actor_member_id": actor.member_id,
            "actor": actor.label,
            "action": action,
            "target": target,
            "details": dict(details or {}),
        },
    )


class AuditRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def for_unit(self, org_unit_id: int, limit: int = 100) -> list[AuditEntry]:
        query = (
            select(audit_log)
            .where(audit_log.c.org_unit_id == org_unit_id)
            .order_by(audit_log.c.id.desc())
            .limit(limit)
        )
        async with reading(self._engine).connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [
            AuditEntry(
                at=row["at"],
                org_unit_id=row["org_unit_id"],
                actor_member_id=row["actor_member_id"],
                actor=row["actor"],
                action=row["action"],
                target=row["target"],
                details=dict(row["details"]),
            )
            for row in rows
        ]
