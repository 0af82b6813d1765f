"""Key rotation over every encrypted column, and the check that the configured keys read what
is stored.

Rotation goes column by column in batches, each batch its own transaction, and writes a value
only if it is still the one read: the bot may keep running meanwhile, and an interrupted or
repeated run simply carries on (values the newest key already reads are left alone). A value
no configured key reads is left untouched and counted, never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Table, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.crypto import FieldCipher, PersonalDataUnreadable
from storage.db import reading
from storage.schema import ENCRYPTED_COLUMNS

BATCH = 500


@dataclass(frozen=True, slots=True)
class ColumnRotation:
    """What rotation did to one column."""

    table: str
    column: str
    rotated: int
    current: int
    unreadable: int

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"


@dataclass(frozen=True, slots=True)
class UnreadableColumn:
    """A column holding values that no configured key decrypts (the sample that failed)."""

    table: str
    column: str


def _table_of(column: Column[Any]) -> Table:
    table = column.table
    if not isinstance(table, Table):
        raise TypeError(f"{column} is not a table's column")
    return table


def _key_of(table: Table) -> Column[Any]:
    [key] = table.primary_key.columns
    return key


async def rotate_keys(engine: AsyncEngine, cipher: FieldCipher) -> list[ColumnRotation]:
    """Re-encrypt every stored token the newest key does not read yet; one report per column."""
    return [await _rotate_column(engine, cipher, column) for column in ENCRYPTED_COLUMNS]


async def _rotate_column(
    engine: AsyncEngine, cipher: FieldCipher, column: Column[Any]
) -> ColumnRotation:
    table = _table_of(column)
    key = _key_of(table)
    rotated = current = unreadable = 0
    after: Any = None
    while True:
        query = select(key, column).where(column.is_not(None)).order_by(key).limit(BATCH)
        if after is not None:
            query = query.where(key > after)
        async with reading(engine).connect() as connection:
            rows = (await connection.execute(query)).all()
        if not rows:
            break
        after = rows[-1][0]
        fresh: list[tuple[Any, str, str]] = []
        for row_key, token in rows:
            if not token or cipher.is_current(token):
                current += 1
                continue
            try:
                fresh.append((row_key, token, cipher.rotate(token)))
            except PersonalDataUnreadable:
                unreadable += 1
        if fresh:
            async with engine.begin() as connection:
                for row_key, old, new in fresh:
                    # Only if nobody changed it since it was read: a newer value stays.
                    result = await connection.execute(
                        update(table).where(key == row_key, column == old).values({column: new})
                    )
                    rotated += result.rowcount
    return ColumnRotation(table.name, column.name, rotated, current, unreadable)


async def unreadable_columns(engine: AsyncEngine, cipher: FieldCipher) -> list[UnreadableColumn]:
    """Columns whose newest value the configured keys cannot decrypt (or any value at all when
    no key is configured): a wrong or missing CHIBO_DATA_KEYS, caught at start-up instead of
    on a member's screen. One value per column is read, so the check costs four queries."""
    found: list[UnreadableColumn] = []
    async with reading(engine).connect() as connection:
        for column in ENCRYPTED_COLUMNS:
            table = _table_of(column)
            query = (
                select(column)
                .where(column.is_not(None), column != "")
                .order_by(_key_of(table).desc())
                .limit(1)
            )
            token = (await connection.execute(query)).scalar()
            if token is None:
                continue
            if not cipher.ready or not _readable(cipher, token):
                found.append(UnreadableColumn(table.name, column.name))
    return found


def _readable(cipher: FieldCipher, token: str) -> bool:
    try:
        cipher.decrypt(token)
    except PersonalDataUnreadable:
        return False
    return True
