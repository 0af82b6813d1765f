"""The party-fee ledger (đảng phí): each member's fee basis and reductions, and one row per
member and month paid. Amounts due come from ``storage.fee_rules`` (configuration, not code).

Reads are batched — one query per table for all the cells and months asked — so a committee's
report over its cells costs the same handful of queries as one cell's sheet. Salaries and
pensions are stored only as Fernet tokens and decrypted here for the member or the secretary.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.audit import Actor, record
from storage.cells import cell_ids
from storage.crypto import FieldCipher
from storage.db import reading
from storage.errors import MemberNotFound
from storage.fee_rules import FeeBasis, FeeConfig, FeeReduction, month_start
from storage.models import FeeBasisKind, MemberState, OrgUnit, OutboxStatus
from storage.outbox import NewOutboxRow, enqueue
from storage.schema import fee_bases, fee_payments, fee_reductions, identities, members, outbox


def month_key(month: date) -> str:
    return f"{month:%Y-%m}"


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def reminder_key(member_id: int, month: date, *, planned: bool = False) -> str:
    """One reminder per member and month from the secretary's button, and one planned
    automatically once the month's collection has started."""
    return f"fee:{member_id}:{month_key(month)}" + (":planned" if planned else "")


@dataclass(frozen=True, slots=True)
class FeeMember:
    id: int
    cell_id: int
    full_name: str
    joined: date  # the month they joined the roster: months before are not owed here


@dataclass(frozen=True, slots=True)
class Payment:
    member_id: int
    month: date
    amount_due: int
    amount_paid: int
    paid_at: datetime


@dataclass(frozen=True, slots=True)
class FeeLedger:
    """Everything needed to say who owes what for some months, read in one go."""

    config: FeeConfig
    members: list[FeeMember]
    bases: dict[int, list[FeeBasis]] = field(default_factory=dict)
    reductions: dict[int, list[FeeReduction]] = field(default_factory=dict)
    payments: dict[tuple[int, date], Payment] = field(default_factory=dict)

    def due(self, member_id: int, month: date) -> int | None:
        return self.config.amount_due(
            self.bases.get(member_id, []), self.reductions.get(member_id, []), month
        )

    def payment(self, member_id: int, month: date) -> Payment | None:
        return self.payments.get((member_id, month_start(month)))

    def owes(self, member: FeeMember, month: date) -> bool:
        """Unpaid with a known, non-zero amount, in a month they were on the roster."""
        month = month_start(month)
        if month < member.joined or self.payment(member.id, month) is not None:
            return False
        due = self.due(member.id, month)
        return due is not None and due > 0

    def outstanding(self, member: FeeMember, month: date) -> int:
        return (self.due(member.id, month) or 0) if self.owes(member, month) else 0

    def basis(self, member_id: int, month: date) -> FeeBasis | None:
        fitting = [b for b in self.bases.get(member_id, []) if b.valid_from <= month_start(month)]
        return max(fitting, key=lambda b: b.valid_from) if fitting else None


@dataclass(slots=True)
class FeeTotals:
    """A cell's fees for one month."""

    paid: int = 0  # members who paid it
    collected: int = 0
    owed: int = 0  # members who owe it (``FeeLedger.owes``)
    outstanding: int = 0


@dataclass(frozen=True, slots=True)
class _Unpaid:
    """An unpaid member's basis in force, its amount still encrypted."""

    cell_id: int
    kind: FeeBasisKind
    valid_from: date
    amount_enc: str | None
    region: int | None
    retirement_age: bool


@dataclass(frozen=True, slots=True)
class PaidResult:
    paid: list[int]
    already: list[int]
    no_basis: list[int]


class FeeRepository:
    def __init__(self, engine: AsyncEngine, cipher: FieldCipher, config: FeeConfig) -> None:
        self._engine = engine
        self._cipher = cipher
        self.config = config

    # --- reading -------------------------------------------------------------------------

    async def ledger(
        self,
        cell_ids: Collection[int],
        first: date,
        last: date,
        *,
        member_id: int | None = None,
    ) -> FeeLedger:
        """The active members of ``cell_ids`` (or just ``member_id``), their bases and
        reductions, and their payments for the months ``first`` to ``last``."""
        async with reading(self._engine).connect() as connection:
            return await self._ledger(connection, cell_ids, first, last, member_id)

    async def month_totals(self, unit: OrgUnit, month: date) -> dict[int, FeeTotals]:
        """Per cell of ``unit`` (itself, or a committee's cells): who paid ``month`` and what
        came in, from the ledger's stored amounts; who owes it and how much, as
        ``FeeLedger.owes`` and ``outstanding`` say. What is owed needs the basis in force, so
        a salary or pension is decrypted for unpaid members only, once each, in a worker
        thread (a province has hundreds of thousands of members)."""
        month = month_start(month)
        roster = and_(
            members.c.org_unit_id.in_(cell_ids(unit)), members.c.state == MemberState.ACTIVE
        )
        paid = and_(fee_payments.c.member_id == members.c.id, fee_payments.c.month == month)
        # On the roster by the month: joined (the UTC date of ``created_at``) by its last day.
        next_month = datetime.combine(_next_month(month), time(), UTC)
        unpaid = select(members.c.id).where(
            roster, members.c.created_at < next_month, ~exists().where(paid)
        )
        totals: dict[int, FeeTotals] = defaultdict(FeeTotals)
        bases: dict[int, _Unpaid] = {}
        reductions: dict[int, list[FeeReduction]] = defaultdict(list)
        async with reading(self._engine).connect() as connection:
            for cell_id, count, collected in await connection.execute(
                select(members.c.org_unit_id, func.count(), func.sum(fee_payments.c.amount_paid))
                .select_from(members)
                .join(fee_payments, paid)
                .where(roster)
                .group_by(members.c.org_unit_id)
            ):
                totals[cell_id].paid, totals[cell_id].collected = count, collected
            for row in await connection.execute(
                select(fee_bases, members.c.org_unit_id.label("cell_id"))
                .join(members, members.c.id == fee_bases.c.member_id)
                .where(fee_bases.c.member_id.in_(unpaid), fee_bases.c.valid_from <= month)
            ):
                known = bases.get(row.member_id)
                if known is None or known.valid_from < row.valid_from:
                    bases[row.member_id] = _Unpaid(
                        row.cell_id,
                        FeeBasisKind(row.kind),
                        row.valid_from,
                        row.amount_enc,
                        row.region,
                        bool(row.retirement_age),
                    )
            for row in await connection.execute(
                select(fee_reductions).where(
                    fee_reductions.c.member_id.in_(unpaid),
                    fee_reductions.c.from_month <= month,
                    or_(fee_reductions.c.to_month.is_(None), fee_reductions.c.to_month >= month),
                )
            ):
                reductions[row.member_id].append(
                    FeeReduction(row.percent, row.from_month, row.to_month)
                )
        for cell_id, due in await asyncio.to_thread(self._dues, bases, reductions, month):
            if due > 0:
                totals[cell_id].owed += 1
                totals[cell_id].outstanding += due
        return totals

    def _dues(
        self,
        bases: dict[int, _Unpaid],
        reductions: dict[int, list[FeeReduction]],
        month: date,
    ) -> list[tuple[int, int]]:
        """(cell, amount due) of each unpaid member with a basis: CPU work, for a thread."""
        dues = []
        for member_id, basis in bases.items():
            amount = int(self._cipher.decrypt(basis.amount_enc)) if basis.amount_enc else None
            in_force = FeeBasis(
                basis.kind,
                basis.valid_from,
                amount=amount,
                region=basis.region,
                retirement_age=basis.retirement_age,
            )
            due = self.config.amount_due([in_force], reductions.get(member_id, []), month)
            dues.append((basis.cell_id, due or 0))
        return dues

    async def accounts(self, member_ids: Collection[int], platform: str) -> dict[int, list[str]]:
        """Each member's user ids on ``platform`` (their private chats)."""
        found: dict[int, list[str]] = defaultdict(list)
        if not member_ids:
            return found
        query = (
            select(identities.c.member_id, identities.c.external_user_id)
            .where(identities.c.member_id.in_(list(member_ids)), identities.c.platform == platform)
            .order_by(identities.c.id)
        )
        async with reading(self._engine).connect() as connection:
            for row in await connection.execute(query):
                found[int(row[0])].append(str(row[1]))
        return found

    # --- changing ------------------------------------------------------------------------

    async def set_basis(
        self, *, cell_id: int, member_id: int, basis: FeeBasis, actor: Actor, now: datetime
    ) -> None:
        """Record what the member's fee is worked out from, from ``basis.valid_from`` on; a
        basis already set for that same month is replaced."""
        amount_enc = self._cipher.encrypt(str(basis.amount)) if basis.amount is not None else None
        async with self._engine.begin() as connection:
            await self._require_member(connection, cell_id, member_id)
            start = month_start(basis.valid_from)
            await connection.execute(
                delete(fee_bases).where(
                    fee_bases.c.member_id == member_id, fee_bases.c.valid_from == start
                )
            )
            await connection.execute(
                insert(fee_bases).values(
                    member_id=member_id,
                    org_unit_id=cell_id,
                    kind=basis.kind,
                    amount_enc=amount_enc,
                    region=basis.region,
                    retirement_age=basis.retirement_age,
                    valid_from=start,
                    created_by=actor.member_id,
                    created_at=now,
                )
            )
            await record(
                connection,
                at=now,
                actor=actor,
                action="fee.basis_set",
                org_unit_id=cell_id,
                target=f"member:{member_id}",
                details={"kind": basis.kind.value, "from": month_key(start)},
            )

    async def add_reduction(
        self,
        *,
        cell_id: int,
        member_id: int,
        reduction: FeeReduction,
        actor: Actor,
        now: datetime,
    ) -> None:
        async with self._engine.begin() as connection:
            await self._require_member(connection, cell_id, member_id)
            to_month = month_start(reduction.to_month) if reduction.to_month else None
            await connection.execute(
                insert(fee_reductions).values(
                    member_id=member_id,
                    org_unit_id=cell_id,
                    percent=reduction.percent,
                    from_month=month_start(reduction.from_month),
                    to_month=to_month,
                    created_by=actor.member_id,
                    created_at=now,
                )
            )
            await record(
                connection,
                at=now,
                actor=actor,
                action="fee.reduction_added",
                org_unit_id=cell_id,
                target=f"member:{member_id}",
                details={
                    "from": month_key(reduction.from_month),
                    "to": month_key(to_month) if to_month else None,
                },
            )

    async def record_paid(
        self,
        *,
        cell_id: int,
        month: date,
        member_ids: Sequence[int] | None,
        actor: Actor,
        now: datetime,
    ) -> PaidResult:
        """Mark ``member_ids`` (None: every active member who has not paid) as having paid
        ``month`` in full, cancelling their pending reminders. Members with no fee basis for
        the month cannot be recorded and are returned as such."""
        month = month_start(month)
        async with self._engine.begin() as connection:
            ledger = await self._ledger(connection, [cell_id], month, month, None)
            in_cell = {member.id for member in ledger.members}
            if member_ids is not None and not set(member_ids) <= in_cell:
                raise MemberNotFound
            targets = list(member_ids) if member_ids is not None else sorted(in_cell)
            result = PaidResult([], [], [])
            for member_id in targets:
                due = ledger.due(member_id, month)
                if ledger.payment(member_id, month) is not None:
                    result.already.append(member_id)
                elif due is None:
                    result.no_basis.append(member_id)
                else:
                    await self._insert_payment(
                        connection, cell_id, member_id, month, due, actor, now
                    )
                    result.paid.append(member_id)
            if result.paid:
                keys = [
                    reminder_key(member_id, month, planned=planned)
                    for member_id in result.paid
                    for planned in (False, True)
                ]
                await connection.execute(
                    update(outbox)
                    .where(
                        outbox.c.dedupe_key.in_(keys),
                        outbox.c.status == OutboxStatus.PENDING,
                    )
                    .values(status=OutboxStatus.CANCELLED)
                )
            return result

    async def undo_paid(
        self, *, cell_id: int, member_id: int, month: date, actor: Actor, now: datetime
    ) -> bool:
        """Take back a payment recorded by mistake. Returns whether there was one."""
        month = month_start(month)
        async with self._engine.begin() as connection:
            removed = await connection.execute(
                delete(fee_payments).where(
                    fee_payments.c.member_id == member_id,
                    fee_payments.c.month == month,
                    fee_payments.c.org_unit_id == cell_id,
                )
            )
            if not removed.rowcount:
                return False
            await record(
                connection,
                at=now,
                actor=actor,
                action="fee.payment_undone",
                org_unit_id=cell_id,
                target=f"member:{member_id}",
                details={"month": month_key(month)},
            )
            return True

    async def remind(
        self,
        *,
        cell_id: int,
        month: date,
        rows: Sequence[NewOutboxRow],
        actor: Actor,
        now: datetime,
    ) -> int:
        """Queue private reminders (each key once, ever). Returns how many are new."""
        async with self._engine.begin() as connection:
            written = await enqueue(connection, rows, now)
            if not written:
                return 0
            await record(
                connection,
                at=now,
                actor=actor,
                action="fee.reminded",
                org_unit_id=cell_id,
                target=f"month:{month_key(month_start(month))}",
                details={"count": written},
            )
            return written

    # --- helpers -------------------------------------------------------------------------

    async def _insert_payment(
        self,
        connection: AsyncConnection,
        cell_id: int,
        member_id: int,
        month: date,
        due: int,
        actor: Actor,
        now: datetime,
    ) -> None:
        await connection.execute(
            insert(fee_payments).values(
                member_id=member_id,
                month=month,
                org_unit_id=cell_id,
                amount_due=due,
                amount_paid=due,
                recorded_by=actor.member_id,
                paid_at=now,
            )
        )
        await record(
            connection,
            at=now,
            actor=actor,
            action="fee.paid",
            org_unit_id=cell_id,
            target=f"member:{member_id}",
            details={"month": month_key(month)},
        )

    async def _require_member(
        self, connection: AsyncConnection, cell_id: int, member_id: int
    ) -> None:
        found = await connection.execute(
            select(members.c.id).where(
                members.c.id == member_id,
                members.c.org_unit_id == cell_id,
                members.c.state == MemberState.ACTIVE,
            )
        )
        if found.first() is None:
            raise MemberNotFound

    async def _ledger(
        self,
        connection: AsyncConnection,
        cell_ids: Collection[int],
        first: date,
        last: date,
        member_id: int | None,
    ) -> FeeLedger:
        cells = list(cell_ids)
        roster = select(
            members.c.id, members.c.org_unit_id, members.c.full_name, members.c.created_at
        ).where(members.c.org_unit_id.in_(cells), members.c.state == MemberState.ACTIVE)
        if member_id is not None:
            roster = roster.where(members.c.id == member_id)
        found = [
            FeeMember(row.id, row.org_unit_id, row.full_name, month_start(row.created_at.date()))
            for row in await connection.execute(roster.order_by(members.c.full_name, members.c.id))
        ]
        ledger = FeeLedger(self.config, found)
        if not found:
            return ledger
        # A subquery rather than a list of ids: a committee's cells may hold thousands.
        ids = roster.with_only_columns(members.c.id).scalar_subquery()
        for row in await connection.execute(
            select(fee_bases).where(fee_bases.c.member_id.in_(ids))
        ):
            amount = int(self._cipher.decrypt(row.amount_enc)) if row.amount_enc else None
            ledger.bases.setdefault(row.member_id, []).append(
                FeeBasis(
                    FeeBasisKind(row.kind),
                    row.valid_from,
                    amount=amount,
                    region=row.region,
                    retirement_age=bool(row.retirement_age),
                )
            )
        for row in await connection.execute(
            select(fee_reductions).where(fee_reductions.c.member_id.in_(ids))
        ):
            ledger.reductions.setdefault(row.member_id, []).append(
                FeeReduction(row.percent, row.from_month, row.to_month)
            )
        for row in await connection.execute(
            select(fee_payments).where(
                fee_payments.c.member_id.in_(ids),
                fee_payments.c.month >= month_start(first),
                fee_payments.c.month <= month_start(last),
            )
        ):
            ledger.payments[(row.member_id, row.month)] = Payment(
                row.member_id, row.month, row.amount_due, row.amount_paid, row.paid_at
            )
        return ledger
