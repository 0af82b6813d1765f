"""Org units (committees and their cells) and the chats linked to them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.audit import Actor, record
from storage.db import reading
from storage.errors import AlreadyRegistered, ChatAlreadyLinked, OrgUnitNotFound
from storage.models import (
    LinkedChat,
    Member,
    MemberState,
    MemberStatus,
    OrgKind,
    OrgUnit,
    Role,
)
from storage.schema import chats, identities, members, org_units


def org_unit_from_row(row: Any) -> OrgUnit:
    return OrgUnit(
        id=row["id"],
        kind=OrgKind(row["kind"]),
        parent_id=row["parent_id"],
        name=row["name"],
        timezone=row["timezone"],
        auto_accept=bool(row["auto_accept"]),
        absentees_in_group=bool(row["absentees_in_group"]),
    )


def cell_ids(unit: OrgUnit) -> Select[tuple[int]]:
    """The cells ``unit`` stands for — itself, or a committee's cells — as a subquery, so
    reading for a province-sized committee never sends thousands of ids."""
    if unit.kind is OrgKind.CELL:
        return select(org_units.c.id).where(org_units.c.id == unit.id)
    return select(org_units.c.id).where(
        org_units.c.parent_id == unit.id, org_units.c.kind == OrgKind.CELL
    )


async def _insert_secretary(
    connection: AsyncConnection,
    unit_id: int,
    full_name: str,
    platform: str,
    user_id: str,
    now: datetime,
) -> Member:
    """A secretary-role record with its chat account: a cell's founder, or office staff."""
    member_id = (
        await connection.execute(
            insert(members)
            .values(
                org_unit_id=unit_id,
                full_name=full_name,
                role=Role.SECRETARY,
                status=MemberStatus.OFFICIAL,
                state=MemberState.ACTIVE,
                created_at=now,
                updated_at=now,
            )
            .returning(members.c.id)
        )
    ).scalar_one()
    await connection.execute(
        insert(identities).values(
            platform=platform, external_user_id=user_id, member_id=member_id, linked_at=now
        )
    )
    return Member(
        id=int(member_id),
        cell_id=unit_id,
        full_name=full_name,
        role=Role.SECRETARY,
        status=MemberStatus.OFFICIAL,
        state=MemberState.ACTIVE,
        gender=None,
        birth_date=None,
        admitted_on=None,
        official_on=None,
        linked=True,
    )


class CellRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create_committee(self, name: str, timezone: str, now: datetime) -> OrgUnit:
        async with self._engine.begin() as connection:
            new_id = (
                await connection.execute(
                    insert(org_units)
                    .values(
                        kind=OrgKind.COMMITTEE,
                        parent_id=None,
                        name=name,
                        timezone=timezone,
                        auto_accept=False,
                        created_at=now,
                    )
                    .returning(org_units.c.id)
                )
            ).scalar_one()
        return OrgUnit(new_id, OrgKind.COMMITTEE, None, name, timezone, auto_accept=False)

    async def found_cell(
        self,
        *,
        platform: str,
        chat_id: str,
        chat_title: str | None,
        cell_name: str,
        timezone: str,
        secretary_name: str,
        secretary_user_id: str,
        now: datetime,
        committee_id: int | None = None,
    ) -> tuple[OrgUnit, Member]:
        """Create a cell for a group chat with its founder as secretary, all or nothing."""
        async with self._engine.begin() as connection:
            linked = await connection.execute(
                select(chats.c.id).where(
                    chats.c.platform == platform, chats.c.external_id == chat_id
                )
            )
            if linked.first() is not None:
                raise ChatAlreadyLinked
            known = await connection.execute(
                select(identities.c.id).where(
                    identities.c.platform == platform,
                    identities.c.external_user_id == secretary_user_id,
                )
            )
            if known.first() is not None:
                raise AlreadyRegistered
            cell_id = (
                await connection.execute(
                    insert(org_units)
                    .values(
                        kind=OrgKind.CELL,
                        parent_id=committee_id,
                        name=cell_name,
                        timezone=timezone,
                        auto_accept=False,
                        created_at=now,
                    )
                    .returning(org_units.c.id)
                )
            ).scalar_one()
            try:
                await connection.execute(
                    insert(chats).values(
                        platform=platform,
                        external_id=chat_id,
                        org_unit_id=cell_id,
                        title=chat_title,
                        linked_at=now,
                    )
                )
            except IntegrityError as exc:  # a concurrent /setup in the same group won the race
                raise ChatAlreadyLinked from exc
            secretary = await _insert_secretary(
                connection, cell_id, secretary_name, platform, secretary_user_id, now
            )
            await record(
                connection,
                at=now,
                actor=Actor(f"{platform}:{secretary_user_id}", secretary.id),
                action="cell.founded",
                org_unit_id=cell_id,
                target=f"cell:{cell_id}",
                details={"chat": f"{platform}:{chat_id}"},
            )
        cell = OrgUnit(cell_id, OrgKind.CELL, committee_id, cell_name, timezone, auto_accept=False)
        return cell, secretary

    async def cell_for_chat(self, platform: str, chat_id: str) -> OrgUnit | None:
        query = (
            select(org_units)
            .join(chats, chats.c.org_unit_id == org_units.c.id)
            .where(chats.c.platform == platform, chats.c.external_id == chat_id)
        )
        async with reading(self._engine).connect() as connection:
            row = (await connection.execute(query)).mappings().first()
        return org_unit_from_row(row) if row else None

    async def get(self, org_unit_id: int) -> OrgUnit | None:
        async with reading(self._engine).connect() as connection:
            row = (
                (await connection.execute(select(org_units).where(org_units.c.id == org_unit_id)))
                .mappings()
                .first()
            )
        return org_unit_from_row(row) if row else None

    async def chats_of(self, org_unit_id: int) -> list[LinkedChat]:
        query = select(chats).where(chats.c.org_unit_id == org_unit_id).order_by(chats.c.id)
        async with reading(self._engine).connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [
            LinkedChat(row["platform"], row["external_id"], row["org_unit_id"], row["title"])
            for row in rows
        ]

    async def platforms_of(self, org_unit_ids: Sequence[int]) -> set[str]:
        """The platforms these units have a group chat on, in one query."""
        if not org_unit_ids:
            return set()
        query = select(chats.c.platform).where(chats.c.org_unit_id.in_(org_unit_ids)).distinct()
        async with reading(self._engine).connect() as connection:
            return {str(platform) for platform in (await connection.execute(query)).scalars()}

    async def cells_of(self, committee_id: int) -> list[OrgUnit]:
        query = (
            select(org_units)
            .where(org_units.c.parent_id == committee_id, org_units.c.kind == OrgKind.CELL)
            .order_by(org_units.c.id)
        )
        async with reading(self._engine).connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [org_unit_from_row(row) for row in rows]

    async def set_auto_accept(
        self, cell_id: int, enabled: bool, actor: Actor, now: datetime
    ) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                update(org_units).where(org_units.c.id == cell_id).values(auto_accept=enabled)
            )
            await record(
                connection,
                at=now,
                actor=actor,
                action="cell.auto_accept",
                org_unit_id=cell_id,
                target=f"cell:{cell_id}",
                details={"enabled": enabled},
            )

    async def set_absentees_in_group(
        self, cell_id: int, enabled: bool, actor: Actor, now: datetime
    ) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                update(org_units)
                .where(org_units.c.id == cell_id)
                .values(absentees_in_group=enabled)
            )
            await record(
                connection,
                at=now,
                actor=actor,
                action="cell.absentees_in_group",
                org_unit_id=cell_id,
                target=f"cell:{cell_id}",
                details={"enabled": enabled},
            )

    # --- committees (đảng ủy phường/xã) and their offices ----------------------------------

    async def attach_to_committee(
        self, *, cell_id: int, committee_id: int, actor: Actor, now: datetime
    ) -> None:
        """Put a cell under a committee, whose office may then send it documents and see its
        forwarded feedback."""
        async with self._engine.begin() as connection:
            kinds = dict(
                (
                    await connection.execute(
                        select(org_units.c.id, org_units.c.kind).where(
                            org_units.c.id.in_((cell_id, committee_id))
                        )
                    )
                ).all()
            )
            if kinds.get(cell_id) != OrgKind.CELL or kinds.get(committee_id) != OrgKind.COMMITTEE:
                raise OrgUnitNotFound
            await connection.execute(
                update(org_units).where(org_units.c.id == cell_id).values(parent_id=committee_id)
            )
            await record(
                connection,
                at=now,
                actor=actor,
                action="cell.attached",
                org_unit_id=cell_id,
                target=f"committee:{committee_id}",
            )

    async def add_office_staff(
        self, *, committee_id: int, platform: str, user_id: str, full_name: str, now: datetime
    ) -> Member:
        """Register a committee office worker: a secretary-role record in the committee's own
        unit, so in a private chat their "cell" is the committee and they act for it."""
        async with self._engine.begin() as connection:
            kind = (
                await connection.execute(
                    select(org_units.c.kind).where(org_units.c.id == committee_id)
                )
            ).scalar_one_or_none()
            if kind != OrgKind.COMMITTEE:
                raise OrgUnitNotFound
            known = await connection.execute(
                select(identities.c.id).where(
                    identities.c.platform == platform, identities.c.external_user_id == user_id
                )
            )
            if known.first() is not None:
                raise AlreadyRegistered
            staff = await _insert_secretary(
                connection, committee_id, full_name, platform, user_id, now
            )
            await record(
                connection,
                at=now,
                actor=Actor("cli", None),
                action="committee.staff_added",
                org_unit_id=committee_id,
                target=f"member:{staff.id}",
            )
        return staff

    async def all_units(self) -> list[OrgUnit]:
        """Every committee and cell, for the operator's command line."""
        async with reading(self._engine).connect() as connection:
            rows = (
                (await connection.execute(select(org_units).order_by(org_units.c.id)))
                .mappings()
                .all()
            )
        return [org_unit_from_row(row) for row in rows]
