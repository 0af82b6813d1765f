"""One person, two platforms: one-time codes that link a member's second chat account (Zalo
and Telegram) to the same member record, so attendance, absences and reads count once."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, insert, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.audit import Actor, record
from storage.db import reading
from storage.errors import AlreadyRegistered, ChatAlreadyLinked, StorageConflict
from storage.models import MemberState, Role
from storage.schema import UTCDateTime, chats, identities, link_attempts, link_codes, members

CODE_DIGITS = 8  # 10^8 codes, alive for minutes: not guessable by typing in a chat
# Wrong codes allowed per account and per chat in a window that starts at the first of them:
# with the codes' short life this leaves a guesser odds of about one in a million a day.
WRONG_CODES_ALLOWED = 5
ATTEMPT_WINDOW = timedelta(hours=1)


class LinkCodeInvalid(StorageConflict):
    """No live code like this: mistyped, already used or expired."""


class LinkAttemptsExceeded(StorageConflict):
    """Too many wrong codes from this account or chat: no code is tried until ``until``."""

    def __init__(self, until: datetime) -> None:
        super().__init__(until)
        self.until = until


class PlatformAlreadyLinked(StorageConflict):
    """The member already has an account on this platform."""


class CellHasGroupThere(StorageConflict):
    """The cell already has a group chat on this platform."""


@dataclass(frozen=True, slots=True)
class Linked:
    member_id: int
    cell_id: int


def one_account_each(rows: Sequence[Any], prefer: str) -> list[tuple[str, str]]:
    """From (member id, platform, account) rows in order: one (platform, account) per member,
    on ``prefer`` when the member has an account there, else their first one; members keep
    the order of their first row."""
    chosen: dict[int, tuple[str, str]] = {}
    for member_id, platform, account in rows:
        if member_id not in chosen or (chosen[member_id][0] != prefer and platform == prefer):
            chosen[member_id] = (str(platform), str(account))
    return list(chosen.values())


# ASCII digits only: Unicode digits such as '²' are in no code we make.
_CODE = re.compile(f"[0-9]{{{CODE_DIGITS}}}")


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _subject(platform: str, external_id: str) -> str:
    subject = f"{platform}:{external_id}"
    # Longer than the column: kept as its digest, which is just as distinct.
    return subject if len(subject) <= 160 else f"{platform}:sha256:{_digest(external_id)}"


def normalize_code(raw: str) -> str | None:
    """The digits of a code as people type it ("1234 5678", "1234-5678"), or None."""
    digits = "".join(ch for ch in raw if not ch.isspace() and ch != "-")
    return digits if _CODE.fullmatch(digits) else None


class LinkRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def make_code(
        self, *, member_id: int, cell_id: int, actor: Actor, now: datetime, ttl: timedelta
    ) -> str:
        """A fresh code for ``member_id``; any earlier code of theirs stops working."""
        code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        async with self._engine.begin() as connection:
            await connection.execute(
                delete(link_codes).where(
                    (link_codes.c.member_id == member_id) | (link_codes.c.expires_at <= now)
                )
            )
            await connection.execute(
                insert(link_codes).values(
                    code_hash=_digest(code), member_id=member_id, expires_at=now + ttl
                )
            )
            await record(
                connection,
                at=now,
                actor=actor,
                action="member.link_code_made",
                org_unit_id=cell_id,
                target=f"member:{member_id}",
            )
        return code

    async def redeem(
        self, *, code: str, platform: str, user_id: str, chat_id: str, now: datetime
    ) -> Linked:
        """Link (platform, user_id) to the code's member and use the code up, all or nothing.
        Wrong codes are counted per account and per chat; past ``WRONG_CODES_ALLOWED`` in
        ``ATTEMPT_WINDOW`` every code, even the right one, is refused until the window ends."""
        subjects = (("account", _subject(platform, user_id)), ("chat", _subject(platform, chat_id)))
        async with self._engine.begin() as connection:
            # Counted first, as if wrong: the counter rows stay locked until this transaction
            # ends, so concurrent attempts (other replicas too) queue instead of all passing
            # the check. A blocked attempt rolls back; a right code takes its count back.
            until = await _count_wrong(connection, subjects, now)
            if until is not None:
                raise LinkAttemptsExceeded(until)
            row = (
                await connection.execute(
                    select(link_codes.c.member_id, link_codes.c.expires_at).where(
                        link_codes.c.code_hash == _digest(code)
                    )
                )
            ).first()
            linked = None
            if row is not None and row.expires_at > now:
                await _uncount(connection, subjects)
                linked = await _link(connection, int(row.member_id), platform, user_id, now)
        if linked is None:  # raised after the commit, so that the count stays
            raise LinkCodeInvalid
        return linked

    async def member_accounts(self, member_id: int, prefer: str) -> list[tuple[str, str]]:
        """(platform, account) to tell the member privately: one account, on ``prefer`` when
        they have one there."""
        query = (
            select(identities.c.member_id, identities.c.platform, identities.c.external_user_id)
            .where(identities.c.member_id == member_id)
            .order_by(identities.c.id)
        )
        async with reading(self._engine).connect() as connection:
            return one_account_each((await connection.execute(query)).all(), prefer)

    async def secretary_accounts(self, cell_id: int, prefer: str) -> list[tuple[str, str]]:
        """(platform, account) of the cell's secretary, one per person: on ``prefer`` when
        they use it there, else on their other platform."""
        return list(await self._accounts_of_roles(cell_id, (Role.SECRETARY,), prefer))

    async def leader_accounts(self, unit_id: int, prefer: str) -> dict[tuple[str, str], int]:
        """(platform, account) → member id of the unit's secretary and deputies (for a
        committee: its office staff), one account each, chosen as ``secretary_accounts``
        chooses."""
        return await self._accounts_of_roles(unit_id, (Role.SECRETARY, Role.DEPUTY), prefer)

    async def _accounts_of_roles(
        self, unit_id: int, roles: tuple[Role, ...], prefer: str
    ) -> dict[tuple[str, str], int]:
        query = (
            select(identities.c.member_id, identities.c.platform, identities.c.external_user_id)
            .join(members, members.c.id == identities.c.member_id)
            .where(
                members.c.org_unit_id == unit_id,
                members.c.role.in_(roles),
                members.c.state == MemberState.ACTIVE,
            )
            .order_by(members.c.role.desc(), identities.c.id)
        )
        async with reading(self._engine).connect() as connection:
            rows = (await connection.execute(query)).all()
        owners = {(str(p), str(a)): int(m) for m, p, a in rows}
        return {account: owners[account] for account in one_account_each(rows, prefer)}

    async def platforms_of(self, member_id: int) -> list[str]:
        async with reading(self._engine).connect() as connection:
            rows = await connection.execute(
                select(identities.c.platform)
                .where(identities.c.member_id == member_id)
                .order_by(identities.c.id)
            )
            return [str(platform) for platform in rows.scalars()]

    async def link_group(
        self,
        *,
        cell_id: int,
        platform: str,
        chat_id: str,
        title: str | None,
        actor: Actor,
        now: datetime,
    ) -> None:
        """Make a group on a second platform the cell's group there too."""
        async with self._engine.begin() as connection:
            linked = await connection.execute(
                select(chats.c.org_unit_id).where(
                    ((chats.c.platform == platform) & (chats.c.external_id == chat_id))
                    | ((chats.c.platform == platform) & (chats.c.org_unit_id == cell_id))
                )
            )
            owners = set(linked.scalars())
            if owners - {cell_id} or (platform, chat_id) in await _chats(connection, cell_id):
                raise ChatAlreadyLinked
            if owners:
                raise CellHasGroupThere
            try:
                await connection.execute(
                    insert(chats).values(
                        platform=platform,
                        external_id=chat_id,
                        org_unit_id=cell_id,
                        title=title,
                        linked_at=now,
                    )
                )
            except IntegrityError as exc:  # linked by a concurrent /batdau
                raise ChatAlreadyLinked from exc
            await record(
                connection,
                at=now,
                actor=actor,
                action="cell.group_linked",
                org_unit_id=cell_id,
                target=f"cell:{cell_id}",
                details={"chat": f"{platform}:{chat_id}"},
            )


async def _chats(connection: AsyncConnection, cell_id: int) -> set[tuple[str, str]]:
    rows = await connection.execute(
        select(chats.c.platform, chats.c.external_id).where(chats.c.org_unit_id == cell_id)
    )
    return {(str(platform), str(chat)) for platform, chat in rows}


async def _count_wrong(
    connection: AsyncConnection, subjects: Sequence[tuple[str, str]], now: datetime
) -> datetime | None:
    """Count one wrong code for each subject; when one of them is past the allowance, the end
    of its window (the latest one), else None."""
    cutoff = now - ATTEMPT_WINDOW
    stale = link_attempts.c.window_start <= cutoff
    # Counters whose window has passed are of no use: dropped here, where guessing happens.
    # Rows another attempt holds are skipped (PostgreSQL), so two prunes never deadlock.
    key = tuple_(link_attempts.c.scope, link_attempts.c.subject)
    held = select(link_attempts.c.scope, link_attempts.c.subject).where(stale)
    await connection.execute(
        delete(link_attempts).where(key.in_(held.with_for_update(skip_locked=True)))
    )
    blocked: list[datetime] = []
    for scope, subject in subjects:
        statement: Any = (
            postgresql_insert(link_attempts)
            if connection.dialect.name == "postgresql"
            else sqlite_insert(link_attempts)
        )
        counted = await connection.execute(
            statement.values(scope=scope, subject=subject, failures=1, window_start=now)
            .on_conflict_do_update(
                index_elements=[link_attempts.c.scope, link_attempts.c.subject],
                set_={
                    "failures": case((stale, 1), else_=link_attempts.c.failures + 1),
                    "window_start": case(
                        (stale, literal(now, UTCDateTime())), else_=link_attempts.c.window_start
                    ),
                },
            )
            .returning(link_attempts.c.failures, link_attempts.c.window_start)
        )
        failures, window_start = counted.one()
        if failures > WRONG_CODES_ALLOWED:
            blocked.append(window_start + ATTEMPT_WINDOW)
    return max(blocked, default=None)


async def _uncount(connection: AsyncConnection, subjects: Sequence[tuple[str, str]]) -> None:
    for scope, subject in subjects:
        await connection.execute(
            update(link_attempts)
            .where(link_attempts.c.scope == scope, link_attempts.c.subject == subject)
            .values(failures=link_attempts.c.failures - 1)
        )


async def _link(
    connection: AsyncConnection, member_id: int, platform: str, user_id: str, now: datetime
) -> Linked:
    taken = await connection.execute(
        select(identities.c.member_id).where(
            ((identities.c.platform == platform) & (identities.c.external_user_id == user_id))
            | ((identities.c.platform == platform) & (identities.c.member_id == member_id))
        )
    )
    owners = {int(owner) for owner in taken.scalars()}
    if owners - {member_id}:
        raise AlreadyRegistered
    if owners:
        raise PlatformAlreadyLinked
    cell_id = (
        await connection.execute(select(members.c.org_unit_id).where(members.c.id == member_id))
    ).scalar_one()
    try:
        await connection.execute(
            insert(identities).values(
                platform=platform,
                external_user_id=user_id,
                member_id=member_id,
                linked_at=now,
            )
        )
    except IntegrityError as exc:  # the same account linked by a concurrent message
        raise AlreadyRegistered from exc
    await connection.execute(delete(link_codes).where(link_codes.c.member_id == member_id))
    await record(
        connection,
        at=now,
        actor=Actor(f"{platform}:{user_id}", member_id),
        action="member.account_linked",
        org_unit_id=cell_id,
        target=f"member:{member_id}",
        details={"platform": platform},
    )
    return Linked(member_id=member_id, cell_id=cell_id)
