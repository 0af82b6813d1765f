"""Members of a cell, their platform identities and their (encrypted) personal data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, delete, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.audit import Actor, record
from storage.cells import org_unit_from_row
from storage.crypto import FieldCipher
from storage.db import reading
from storage.errors import AlreadyRegistered, AlreadySecretary, MemberNotFound, NotPending
from storage.models import (
    Gender,
    Member,
    MemberState,
    MemberStatus,
    OrgUnit,
    PersonalData,
    PersonalField,
    Role,
    RosterRow,
)
from storage.schema import chats, identities, members, org_units

_ROLE_ORDER = {Role.SECRETARY: 0, Role.DEPUTY: 1, Role.COMMITTEE: 2, Role.MEMBER: 3}
_PERSONAL_COLUMNS = {
    PersonalField.CITIZEN_ID: "citizen_id_enc",
    PersonalField.CARD_NUMBER: "card_number_enc",
    PersonalField.PHONE: "phone_enc",
}
# Plain columns a secretary may edit; personal fields go through the cipher.
EDITABLE_COLUMNS = frozenset(
    {"full_name", "gender", "birth_date", "admitted_on", "official_on", "status"}
)


def _member_query() -> Select[Any]:
    linked = exists().where(identities.c.member_id == members.c.id).label("linked")
    return select(members, linked)


# Every update starts with these two look-ups, so they are built once: SQLAlchemy then skips
# constructing the statement and computing its cache key on each call.
_ACTOR_BY_IDENTITY = _member_query().where(
    members.c.id
    == select(identities.c.member_id)
    .where(
        identities.c.platform == bindparam("platform"),
        identities.c.external_user_id == bindparam("user_id"),
    )
    .scalar_subquery()
)
_UNIT_BY_CHAT = (
    select(org_units)
    .join(chats, chats.c.org_unit_id == org_units.c.id)
    .where(chats.c.platform == bindparam("platform"), chats.c.external_id == bindparam("chat_id"))
)
_UNIT_BY_ID = select(org_units).where(org_units.c.id == bindparam("unit_id"))


def _member_from_row(row: Any) -> Member:
    return Member(
        id=row["id"],
        cell_id=row["org_unit_id"],
        full_name=row["full_name"],
        role=Role(row["role"]),
        status=MemberStatus(row["status"]),
        state=MemberState(row["state"]),
        gender=Gender(row["gender"]) if row["gender"] else None,
        birth_date=row["birth_date"],
        admitted_on=row["admitted_on"],
        official_on=row["official_on"],
        linked=bool(row["linked"]),
    )


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


class MemberRepository:
    def __init__(self, engine: AsyncEngine, cipher: FieldCipher) -> None:
        self._engine = engine
        self._cipher = cipher

    # --- reading -------------------------------------------------------------------------

    async def by_identity(self, platform: str, user_id: str) -> Member | None:
        params = {"platform": platform, "user_id": user_id}
        async with reading(self._engine).connect() as connection:
            row = (await connection.execute(_ACTOR_BY_IDENTITY, params)).mappings().first()
        return _member_from_row(row) if row else None

    async def whereabouts(
        self, platform: str, user_id: str, group_chat_id: str | None
    ) -> tuple[Member | None, OrgUnit | None]:
        """Who is acting and for which unit, in one visit to the database: the group's cell
        (and the member only if it is theirs), or in a private chat the member's own unit."""
        async with reading(self._engine).connect() as connection:
            row = (
                (
                    await connection.execute(
                        _ACTOR_BY_IDENTITY, {"platform": platform, "user_id": user_id}
                    )
                )
                .mappings()
                .first()
            )
            actor = _member_from_row(row) if row else None
            if group_chat_id is not None:
                unit_row = (
                    (
                        await connection.execute(
                            _UNIT_BY_CHAT, {"platform": platform, "chat_id": group_chat_id}
                        )
                    )
                    .mappings()
                    .first()
                )
            elif actor is not None:
                unit_row = (
                    (await connection.execute(_UNIT_BY_ID, {"unit_id": actor.cell_id}))
                    .mappings()
                    .first()
                )
            else:
                unit_row = None
        unit = org_unit_from_row(unit_row) if unit_row else None
        if (
            group_chat_id is not None
            and actor is not None
            and (unit is None or actor.cell_id != unit.id)
        ):
            # Membership counts only in one's own cell's group: a member of cell A is a
            # stranger in cell B's group and sees nothing of either there.
            actor = None
        return actor, unit

    async def get(self, member_id: int) -> Member | None:
        async with reading(self._engine).connect() as connection:
            return await self._get(connection, member_id)

    async def _get(self, connection: AsyncConnection, member_id: int) -> Member | None:
        query = _member_query().where(members.c.id == member_id)
        row = (await connection.execute(query)).mappings().first()
        return _member_from_row(row) if row else None

    async def in_cell(self, cell_id: int, member_id: int) -> Member:
        """The member if they belong to ``cell_id``; otherwise MemberNotFound (no leaking)."""
        member = await self.get(member_id)
        if member is None or member.cell_id != cell_id:
            raise MemberNotFound
        return member

    async def roster(self, cell_id: int, *, include_pending: bool = False) -> list[Member]:
        query = _member_query().where(members.c.org_unit_id == cell_id)
        if not include_pending:
            query = query.where(members.c.state == MemberState.ACTIVE)
        async with reading(self._engine).connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        found = [_member_from_row(row) for row in rows]
        return sorted(
            found,
            key=lambda m: (
                m.state != MemberState.ACTIVE,
                _ROLE_ORDER[m.role],
                m.full_name.casefold(),
                m.id,
            ),
        )

    async def unlinked_namesakes(self, cell_id: int, name: str) -> list[Member]:
        """Roster entries without an account whose name matches: candidates for a join."""
        return [
            member
            for member in await self.roster(cell_id)
            if not member.linked and _same_name(member.full_name, name)
        ]

    async def personal_data(self, member_id: int) -> PersonalData:
        query = select(members.c.citizen_id_enc, members.c.card_number_enc, members.c.phone_enc)
        async with reading(self._engine).connect() as connection:
            row = (await connection.execute(query.where(members.c.id == member_id))).first()
        if row is None:
            raise MemberNotFound
        citizen, card, phone = (self._cipher.decrypt(v) if v else None for v in row)
        return PersonalData(citizen_id=citizen, card_number=card, phone=phone)

    # --- joining -------------------------------------------------------------------------

    async def request_join(
        self,
        *,
        cell_id: int,
        platform: str,
        user_id: str,
        full_name: str,
        accept_at_once: bool,
        now: datetime,
    ) -> Member:
        state = MemberState.ACTIVE if accept_at_once else MemberState.PENDING
        async with self._engine.begin() as connection:
            await self._ensure_unregistered(connection, platform, user_id)
            member_id = await self._insert_member(
                connection, cell_id, full_name, MemberStatus.OFFICIAL, state, now
            )
            await connection.execute(
                insert(identities).values(
                    platform=platform, external_user_id=user_id, member_id=member_id, linked_at=now
                )
            )
            await record(
                connection,
                at=now,
                actor=Actor(f"{platform}:{user_id}", member_id),
                action="member.joined" if accept_at_once else "member.join_requested",
                org_unit_id=cell_id,
                target=f"member:{member_id}",
            )
            member = await self._get(connection, member_id)
        if member is None:  # pragma: no cover - inserted in this very transaction
            raise MemberNotFound
        return member

    async def decide_join(
        self,
        *,
        cell_id: int,
        pending_id: int,
        approve: bool,
        merge_into: int | None,
        actor: Actor,
        now: datetime,
    ) -> Member | None:
        """Accept or refuse a join request. Merging moves the account onto an existing roster
        entry (one imported earlier) and drops the request. Returns the resulting member."""
        async with self._engine.begin() as connection:
            pending = await self._get(connection, pending_id)
            if pending is None or pending.cell_id != cell_id:
                raise MemberNotFound
            if pending.state is not MemberState.PENDING:
                raise NotPending
            if not approve:
                await connection.execute(delete(members).where(members.c.id == pending_id))
                result_id = None
            elif merge_into is not None:
                target = await self._get(connection, merge_into)
                if target is None or target.cell_id != cell_id or target.linked:
                    raise MemberNotFound
                await connection.execute(
                    update(identities)
                    .where(identities.c.member_id == pending_id)
                    .values(member_id=merge_into)
                )
                await connection.execute(delete(members).where(members.c.id == pending_id))
                result_id = merge_into
            else:
                await connection.execute(
                    update(members)
                    .where(members.c.id == pending_id)
                    .values(state=MemberState.ACTIVE, updated_at=now)
                )
                result_id = pending_id
            await record(
                connection,
                at=now,
                actor=actor,
                action="member.join_approved" if approve else "member.join_declined",
                org_unit_id=cell_id,
                target=f"member:{result_id or pending_id}",
                details={"merged_from": pending_id} if merge_into is not None else {},
            )
            return await self._get(connection, result_id) if result_id else None

    # --- changing ------------------------------------------------------------------------

    async def set_role(
        self, *, cell_id: int, member_id: int, role: Role, actor: Actor, now: datetime
    ) -> Member:
        if role is Role.SECRETARY:
            raise ValueError("use hand_over_secretary to change the secretary")
        async with self._engine.begin() as connection:
            member = await self._active_in_cell(connection, cell_id, member_id)
            if member.role is Role.SECRETARY:
                raise ValueError("the secretary's role changes only by handing it over")
            await connection.execute(
                update(members).where(members.c.id == member_id).values(role=role, updated_at=now)
            )
            await record(
                connection,
                at=now,
                actor=actor,
                action="member.role",
                org_unit_id=cell_id,
                target=f"member:{member_id}",
                details={"from": member.role, "to": role},
            )
            return await self._reload(connection, member_id)

    async def hand_over_secretary(
        self, *, cell_id: int, new_secretary_id: int, actor: Actor, now: datetime
    ) -> Member:
        """Make another active, linked member the secretary; the old one becomes a member."""
        async with self._engine.begin() as connection:
            successor = await self._active_in_cell(connection, cell_id, new_secretary_id)
            if not successor.linked:
                raise MemberNotFound
            if successor.role is Role.SECRETARY:
                raise AlreadySecretary
            await connection.execute(
                update(members)
                .where(members.c.org_unit_id == cell_id, members.c.role == Role.SECRETARY)
                .values(role=Role.MEMBER, updated_at=now)
            )
            await connection.execute(
                update(members)
                .where(members.c.id == new_secretary_id)
                .values(role=Role.SECRETARY, updated_at=now)
            )
            await record(
                connection,
                at=now,
                actor=actor,
                action="cell.secretary_handed_over",
                org_unit_id=cell_id,
                target=f"member:{new_secretary_id}",
            )
            return await self._reload(connection, new_secretary_id)

    async def update_fields(
        self,
        *,
        cell_id: int,
        member_id: int,
        changes: Mapping[str, object],
        actor: Actor,
        now: datetime,
    ) -> Member:
        """Change plain columns and personal fields; personal values are encrypted first and
        only the names of changed fields reach the audit log."""
        values: dict[str, object] = {}
        for name, value in changes.items():
            if name in _PERSONAL_COLUMNS:
                column = _PERSONAL_COLUMNS[PersonalField(name)]
                values[column] = self._cipher.encrypt(str(value)) if value else None
            elif name in EDITABLE_COLUMNS:
                values[name] = value
            else:
                raise ValueError(f"field {name!r} cannot be edited")
        async with self._engine.begin() as connection:
            await self._active_in_cell(connection, cell_id, member_id)
            await connection.execute(
                update(members).where(members.c.id == member_id).values(**values, updated_at=now)
            )
            await record(
                connection,
                at=now,
                actor=actor,
                action="member.updated",
                org_unit_id=cell_id,
                target=f"member:{member_id}",
                details={"fields": sorted(changes)},
            )
            return await self._reload(connection, member_id)

    async def import_roster(
        self, *, cell_id: int, rows: Sequence[RosterRow], actor: Actor, now: datetime
    ) -> int:
        """Add every row to the roster in one transaction; nothing is written if one fails."""
        has_personal = any(r.citizen_id or r.card_number or r.phone for r in rows)
        if has_personal and not self._cipher.ready:
            self._cipher.encrypt("")  # raises PersonalDataKeyMissing before anything is written
        async with self._engine.begin() as connection:
            for row in rows:
                await connection.execute(
                    insert(members).values(
                        org_unit_id=cell_id,
                        full_name=row.full_name,
                        role=Role.MEMBER,
                        status=row.status,
                        state=MemberState.ACTIVE,
                        gender=row.gender,
                        birth_date=row.birth_date,
                        admitted_on=row.admitted_on,
                        official_on=row.official_on,
                        citizen_id_enc=self._seal(row.citizen_id),
                        card_number_enc=self._seal(row.card_number),
                        phone_enc=self._seal(row.phone),
                        created_at=now,
                        updated_at=now,
                    )
                )
            await record(
                connection,
                at=now,
                actor=actor,
                action="roster.imported",
                org_unit_id=cell_id,
                target=f"cell:{cell_id}",
                details={"rows": len(rows)},
            )
        return len(rows)

    async def count_active(self, cell_id: int) -> int:
        query = select(func.count()).where(
            members.c.org_unit_id == cell_id, members.c.state == MemberState.ACTIVE
        )
        async with reading(self._engine).connect() as connection:
            return int((await connection.execute(query)).scalar_one())

    # --- helpers -------------------------------------------------------------------------

    def _seal(self, value: str | None) -> str | None:
        return self._cipher.encrypt(value) if value else None

    async def _ensure_unregistered(
        self, connection: AsyncConnection, platform: str, user_id: str
    ) -> None:
        known = await connection.execute(
            select(identities.c.id).where(
                identities.c.platform == platform, identities.c.external_user_id == user_id
            )
        )
        if known.first() is not None:
            raise AlreadyRegistered

    async def _insert_member(
        self,
        connection: AsyncConnection,
        cell_id: int,
        full_name: str,
        status: MemberStatus,
        state: MemberState,
        now: datetime,
    ) -> int:
        return int(
            (
                await connection.execute(
                    insert(members)
                    .values(
                        org_unit_id=cell_id,
                        full_name=full_name,
                        role=Role.MEMBER,
                        status=status,
                        state=state,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(members.c.id)
                )
            ).scalar_one()
        )

    async def _active_in_cell(
        self, connection: AsyncConnection, cell_id: int, member_id: int
    ) -> Member:
        member = await self._get(connection, member_id)
        if member is None or member.cell_id != cell_id or member.state is not MemberState.ACTIVE:
            raise MemberNotFound
        return member

    async def _reload(self, connection: AsyncConnection, member_id: int) -> Member:
        member = await self._get(connection, member_id)
        if member is None:
            raise MemberNotFound
        return member
