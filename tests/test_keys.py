"""Encrypted columns and key rotation on a real database: the registry is checked against the
tokens actually stored, and rotating then dropping the old key loses nothing."""

from __future__ import annotations

import re

from cryptography.fernet import Fernet
from sqlalchemy import MetaData, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.crypto import FieldCipher
from storage.keys import UnreadableColumn, rotate_keys, unreadable_columns
from storage.schema import ENCRYPTED_COLUMNS, members
from tests.support.personal import (
    EXPECTED_AMOUNTS,
    EXPECTED_PERSONAL,
    read_back,
    seed_personal_data,
)

# A Fernet token: version byte 0x80 and a 64-bit timestamp, base64url ("gAAAAA…").
FERNET_TOKEN = re.compile(r"gAAAAA[0-9A-Za-z_\-]{40,}={0,2}")
REGISTRY = {(column.table.name, column.name) for column in ENCRYPTED_COLUMNS}


def _columns_holding_tokens(connection: Connection) -> set[tuple[str, str]]:
    """Every (table, column) of the live database with a Fernet token in it: the tables are
    read from the database itself, and every value is looked at as text."""
    live = MetaData()
    live.reflect(connection)
    found = set()
    for table in live.sorted_tables:
        for row in connection.execute(select(table)).mappings():
            for name, value in row.items():
                if value is not None and FERNET_TOKEN.search(str(value)):
                    found.add((table.name, name))
    return found


async def test_every_encrypted_column_found_in_the_data_is_in_the_registry(
    engine: AsyncEngine, cipher: FieldCipher
) -> None:
    await seed_personal_data(engine, cipher)
    async with engine.connect() as connection:
        found = await connection.run_sync(_columns_holding_tokens)
    assert found - REGISTRY == set(), "encrypted columns missing from ENCRYPTED_COLUMNS"
    # And the seed reaches every registered column, so the check above sees them all.
    assert found == REGISTRY


async def test_rotation_then_dropping_the_old_key_keeps_every_field_and_fee(
    engine: AsyncEngine, data_key: str
) -> None:
    old = FieldCipher([data_key])
    seeded = await seed_personal_data(engine, old)
    new_key = Fernet.generate_key().decode()
    both = FieldCipher([new_key, data_key])

    report = await rotate_keys(engine, both)
    counts = {column.name: (column.rotated, column.current, column.unreadable) for column in report}
    assert counts == {
        "members.citizen_id_enc": (3, 0, 0),
        "members.card_number_enc": (3, 0, 0),
        "members.phone_enc": (3, 0, 0),
        "fee_bases.amount_enc": (2, 0, 0),
    }
    again = await rotate_keys(engine, both)
    assert [(c.rotated, c.current) for c in again] == [(0, 3), (0, 3), (0, 3), (0, 2)]

    only_new = FieldCipher([new_key])
    assert await unreadable_columns(engine, only_new) == []
    personal, amounts = await read_back(engine, only_new, seeded)
    assert set(personal) == EXPECTED_PERSONAL
    assert {amount for each in amounts.values() for amount in each} == EXPECTED_AMOUNTS


async def test_values_no_key_reads_are_counted_and_left_alone(
    engine: AsyncEngine, data_key: str
) -> None:
    await seed_personal_data(engine, FieldCipher([data_key]))
    stranger = Fernet(Fernet.generate_key()).encrypt(b"0900000000").decode()
    async with engine.begin() as connection:
        last = (await connection.execute(select(members.c.id).order_by(members.c.id))).all()[0][0]
        await connection.execute(
            members.update().where(members.c.id == last).values(phone_enc=stranger)
        )
    new_key = Fernet.generate_key().decode()
    report = {c.name: c for c in await rotate_keys(engine, FieldCipher([new_key, data_key]))}
    assert (report["members.phone_enc"].rotated, report["members.phone_enc"].unreadable) == (2, 1)
    async with engine.connect() as connection:
        kept = (
            await connection.execute(select(members.c.phone_enc).where(members.c.id == last))
        ).scalar_one()
    assert kept == stranger


async def test_the_start_up_check_names_columns_the_keys_cannot_read(
    engine: AsyncEngine, data_key: str
) -> None:
    assert await unreadable_columns(engine, FieldCipher([])) == []  # nothing stored yet
    await seed_personal_data(engine, FieldCipher([data_key]))
    wrong = FieldCipher([Fernet.generate_key().decode()])
    every = {UnreadableColumn(table, column) for table, column in REGISTRY}
    assert set(await unreadable_columns(engine, wrong)) == every
    assert set(await unreadable_columns(engine, FieldCipher([]))) == every
    assert await unreadable_columns(engine, FieldCipher([data_key])) == []
