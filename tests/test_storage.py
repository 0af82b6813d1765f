"""Repositories against a real database: SQLite always, PostgreSQL when configured."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import event, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduler.clock import ManualClock
from storage.audit import Actor, AuditRepository
from storage.cells import CellRepository
from storage.crypto import FieldCipher, PersonalDataKeyMissing, PersonalDataUnreadable
from storage.db import create_engine, reading
from storage.errors import (
    AlreadyRegistered,
    ChatAlreadyLinked,
    MemberNotFound,
    NotPending,
    OrgUnitNotFound,
)
from storage.keys import rotate_keys
from storage.members import MemberRepository
from storage.models import Gender, MemberState, MemberStatus, OrgKind, Role, RosterRow
from storage.pending import PendingInputRepository
from storage.schema import members

TG = "telegram"
SECRETARY_ACTOR = Actor("telegram:1", None)


async def _found(cells: CellRepository, clock: ManualClock, chat: str = "-1001", user: str = "1"):
    return await cells.found_cell(
        platform=TG,
        chat_id=chat,
        chat_title="Nhóm KP5",
        cell_name="Chi bộ Khu phố 5",
        timezone="Asia/Ho_Chi_Minh",
        secretary_name="Trần Thị Bí Thư",
        secretary_user_id=user,
        now=clock.now(),
    )


def _row(name: str, **extra: object) -> RosterRow:
    values: dict[str, object] = {
        "full_name": name,
        "birth_date": date(1950, 1, 2),
        "gender": Gender.MALE,
        "admitted_on": date(1975, 5, 19),
        "official_on": date(1976, 5, 19),
        "card_number": None,
        "citizen_id": None,
        "phone": None,
        "status": MemberStatus.OFFICIAL,
    }
    values.update(extra)
    return RosterRow(**values)  # type: ignore[arg-type]


async def test_schema_uses_wal_and_foreign_keys_on_sqlite(sqlite_engine: AsyncEngine) -> None:
    async with sqlite_engine.connect() as connection:
        mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar_one()
        keys = (await connection.execute(text("PRAGMA foreign_keys"))).scalar_one()
    assert (mode, keys) == ("wal", 1)


async def test_every_sqlite_connection_overwrites_what_it_deletes(tmp_path: Path) -> None:
    """secure_delete is a per-connection setting whose default is a compile-time choice (on in
    Debian's SQLite, off in SQLite's own default build): each connection of the pool, the
    readers' and the writers', must have it whatever the library's default."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'erase.db'}")
    # Stand in for a library built with it off: runs before the engine's own pragmas.
    event.listen(
        engine.sync_engine,
        "connect",
        lambda connection, _record: connection.execute("PRAGMA secure_delete=OFF"),
        insert=True,
    )
    try:
        async with (
            engine.begin() as writer,
            reading(engine).connect() as reader,
            reading(engine).connect() as other,
        ):
            found = [
                (await connection.execute(text("PRAGMA secure_delete"))).scalar_one()
                for connection in (writer, reader, other)
            ]
    finally:
        await engine.dispose()
    assert found == [1, 1, 1]


async def test_writers_of_one_process_take_turns_without_sqlite_busy_waits(
    tmp_path: Path,
) -> None:
    # With SQLite's own busy wait switched off, a second writer that reached SQLite while
    # another held the lock would fail at once ("database is locked"): none may.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}")
    event.listen(
        engine.sync_engine,
        "connect",
        lambda connection, _record: connection.execute("PRAGMA busy_timeout=0"),
    )
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE marks (n INTEGER)"))

        async def write(n: int) -> None:
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO marks VALUES (:n)"), {"n": n})
                await asyncio.sleep(0)  # let the other writers try their luck meanwhile

        await asyncio.gather(*(write(n) for n in range(40)))
        async with engine.connect() as connection:
            count = (await connection.execute(text("SELECT count(*) FROM marks"))).scalar_one()
        assert count == 40
    finally:
        await engine.dispose()


async def test_found_cell_links_chat_and_makes_founder_secretary(
    engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock
) -> None:
    cells = CellRepository(engine)
    cell, secretary = await _found(cells, clock)
    assert (await cells.cell_for_chat(TG, "-1001")) == cell
    found = await MemberRepository(engine, cipher).by_identity(TG, "1")
    assert found == secretary
    assert found.role is Role.SECRETARY and found.state is MemberState.ACTIVE and found.linked
    audit = await AuditRepository(engine).for_unit(cell.id)
    assert [entry.action for entry in audit] == ["cell.founded"]


async def test_a_chat_is_linked_once_and_nothing_half_written(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    cells = CellRepository(engine)
    await _found(cells, clock)
    with pytest.raises(ChatAlreadyLinked):
        await _found(cells, clock, user="2")
    async with engine.connect() as connection:
        count = (await connection.execute(text("SELECT count(*) FROM org_units"))).scalar_one()
    assert count == 1


async def test_big_platform_ids_round_trip(engine: AsyncEngine, clock: ManualClock) -> None:
    cells = CellRepository(engine)
    big_chat, big_user = str(-1009876543210987), str(2**40 + 7)
    cell, _ = await _found(cells, clock, chat=big_chat, user=big_user)
    assert (await cells.cell_for_chat(TG, big_chat)) == cell


async def test_join_request_then_approval_and_decline(
    engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock
) -> None:
    cells, repo = CellRepository(engine), MemberRepository(engine, cipher)
    cell, _ = await _found(cells, clock)
    first = await repo.request_join(
        cell_id=cell.id,
        platform=TG,
        user_id="10",
        full_name="Lê Văn Một",
        accept_at_once=False,
        now=clock.now(),
    )
    second = await repo.request_join(
        cell_id=cell.id,
        platform=TG,
        user_id="11",
        full_name="Lê Văn Hai",
        accept_at_once=False,
        now=clock.now(),
    )
    assert first.state is MemberState.PENDING
    with pytest.raises(AlreadyRegistered):
        await repo.request_join(
            cell_id=cell.id,
            platform=TG,
            user_id="10",
            full_name="x",
            accept_at_once=False,
            now=clock.now(),
        )
    approved = await repo.decide_join(
        cell_id=cell.id,
        pending_id=first.id,
        approve=True,
        merge_into=None,
        actor=SECRETARY_ACTOR,
        now=clock.now(),
    )
    assert approved is not None and approved.state is MemberState.ACTIVE
    with pytest.raises(NotPending):
        await repo.decide_join(
            cell_id=cell.id,
            pending_id=first.id,
            approve=False,
            merge_into=None,
            actor=SECRETARY_ACTOR,
            now=clock.now(),
        )
    declined = await repo.decide_join(
        cell_id=cell.id,
        pending_id=second.id,
        approve=False,
        merge_into=None,
        actor=SECRETARY_ACTOR,
        now=clock.now(),
    )
    assert declined is None
    assert await repo.by_identity(TG, "11") is None
    names = [m.full_name for m in await repo.roster(cell.id, include_pending=True)]
    assert names == ["Trần Thị Bí Thư", "Lê Văn Một"]


async def test_join_merges_onto_imported_entry(
    engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock
) -> None:
    cells, repo = CellRepository(engine), MemberRepository(engine, cipher)
    cell, _ = await _found(cells, clock)
    await repo.import_roster(
        cell_id=cell.id,
        rows=[_row("Phạm Thị Ba", phone="0912345678")],
        actor=SECRETARY_ACTOR,
        now=clock.now(),
    )
    pending = await repo.request_join(
        cell_id=cell.id,
        platform=TG,
        user_id="12",
        full_name="phạm  thị ba",
        accept_at_once=False,
        now=clock.now(),
    )
    [namesake] = await repo.unlinked_namesakes(cell.id, pending.full_name)
    merged = await repo.decide_join(
        cell_id=cell.id,
        pending_id=pending.id,
        approve=True,
        merge_into=namesake.id,
        actor=SECRETARY_ACTOR,
        now=clock.now(),
    )
    assert merged is not None and merged.id == namesake.id and merged.linked
    assert (await repo.by_identity(TG, "12")) == merged
    assert (await repo.personal_data(merged.id)).phone == "0912345678"
    assert await repo.count_active(cell.id) == 2


async def test_cell_boundaries_hold(
    engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock
) -> None:
    cells, repo = CellRepository(engine), MemberRepository(engine, cipher)
    cell_a, _ = await _found(cells, clock, chat="-1", user="1")
    cell_b, secretary_b = await _found(cells, clock, chat="-2", user="2")
    with pytest.raises(MemberNotFound):
        await repo.in_cell(cell_a.id, secretary_b.id)
    with pytest.raises(MemberNotFound):
        await repo.update_fields(
            cell_id=cell_a.id,
            member_id=secretary_b.id,
            changes={"full_name": "X"},
            actor=SECRETARY_ACTOR,
            now=clock.now(),
        )
    assert (await repo.get(secretary_b.id)).full_name == "Trần Thị Bí Thư"  # type: ignore[union-attr]
    assert [m.id for m in await repo.roster(cell_b.id)] == [secretary_b.id]


async def test_roles_and_hand_over(
    engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock
) -> None:
    cells, repo = CellRepository(engine), MemberRepository(engine, cipher)
    cell, secretary = await _found(cells, clock)
    member = await repo.request_join(
        cell_id=cell.id,
        platform=TG,
        user_id="20",
        full_name="Đỗ Văn Phó",
        accept_at_once=True,
        now=clock.now(),
    )
    deputy = await repo.set_role(
        cell_id=cell.id,
        member_id=member.id,
        role=Role.DEPUTY,
        actor=SECRETARY_ACTOR,
        now=clock.now(),
    )
    assert deputy.role is Role.DEPUTY and deputy.leads
    with pytest.raises(ValueError):
        await repo.set_role(
            cell_id=cell.id,
            member_id=secretary.id,
            role=Role.MEMBER,
            actor=SECRETARY_ACTOR,
            now=clock.now(),
        )
    await repo.hand_over_secretary(
        cell_id=cell.id, new_secretary_id=member.id, actor=SECRETARY_ACTOR, now=clock.now()
    )
    roles = {m.id: m.role for m in await repo.roster(cell.id)}
    assert roles == {member.id: Role.SECRETARY, secretary.id: Role.MEMBER}


async def test_personal_data_is_encrypted_at_rest(
    engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock
) -> None:
    cells, repo = CellRepository(engine), MemberRepository(engine, cipher)
    cell, secretary = await _found(cells, clock)
    await repo.update_fields(
        cell_id=cell.id,
        member_id=secretary.id,
        changes={"phone": "0987654321", "citizen_id": "001234567890", "card_number": "12345678"},
        actor=SECRETARY_ACTOR,
        now=clock.now(),
    )
    async with engine.connect() as connection:
        raw = (await connection.execute(select(members).where(members.c.id == secretary.id))).one()
    stored = " ".join(str(value) for value in raw)
    for secret in ("0987654321", "001234567890", "12345678"):
        assert secret not in stored
    data = await repo.personal_data(secretary.id)
    assert (data.phone, data.citizen_id, data.card_number) == (
        "0987654321",
        "001234567890",
        "12345678",
    )
    audit = await AuditRepository(engine).for_unit(cell.id)
    assert audit[0].details == {"fields": ["card_number", "citizen_id", "phone"]}
    assert "0987654321" not in repr(audit)


async def test_key_rotation(engine: AsyncEngine, data_key: str, clock: ManualClock) -> None:
    old = FieldCipher([data_key])
    cells = CellRepository(engine)
    cell, secretary = await _found(cells, clock)
    await MemberRepository(engine, old).update_fields(
        cell_id=cell.id,
        member_id=secretary.id,
        changes={"phone": "0911111111"},
        actor=SECRETARY_ACTOR,
        now=clock.now(),
    )
    new_key = Fernet.generate_key().decode()
    both = MemberRepository(engine, FieldCipher([new_key, data_key]))
    assert (await both.personal_data(secretary.id)).phone == "0911111111"
    report = await rotate_keys(engine, FieldCipher([new_key, data_key]))
    assert [(c.name, c.rotated) for c in report if c.rotated] == [("members.phone_enc", 1)]
    only_new = MemberRepository(engine, FieldCipher([new_key]))
    assert (await only_new.personal_data(secretary.id)).phone == "0911111111"
    with pytest.raises(PersonalDataUnreadable):
        await MemberRepository(engine, old).personal_data(secretary.id)


async def test_without_a_key_personal_data_is_refused_and_nothing_written(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    cells, repo = CellRepository(engine), MemberRepository(engine, FieldCipher([]))
    cell, secretary = await _found(cells, clock)
    with pytest.raises(PersonalDataKeyMissing):
        await repo.update_fields(
            cell_id=cell.id,
            member_id=secretary.id,
            changes={"phone": "0911111111"},
            actor=SECRETARY_ACTOR,
            now=clock.now(),
        )
    with pytest.raises(PersonalDataKeyMissing):
        await repo.import_roster(
            cell_id=cell.id,
            rows=[_row("A Một"), _row("B Hai", phone="0912345678")],
            actor=SECRETARY_ACTOR,
            now=clock.now(),
        )
    assert await repo.count_active(cell.id) == 1
    # Plain fields still work without a key.
    renamed = await repo.update_fields(
        cell_id=cell.id,
        member_id=secretary.id,
        changes={"full_name": "Trần Thị B"},
        actor=SECRETARY_ACTOR,
        now=clock.now(),
    )
    assert renamed.full_name == "Trần Thị B"


async def test_import_is_all_or_nothing(
    engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock
) -> None:
    cells, repo = CellRepository(engine), MemberRepository(engine, cipher)
    cell, _ = await _found(cells, clock)
    rows = [_row("Nguyễn Văn An"), _row("Nguyễn Văn Bình", status="not-a-status")]
    with pytest.raises(IntegrityError):  # the bad row is refused; the good one goes too
        await repo.import_roster(cell_id=cell.id, rows=rows, actor=SECRETARY_ACTOR, now=clock.now())
    assert await repo.count_active(cell.id) == 1
    assert (
        await repo.import_roster(
            cell_id=cell.id, rows=rows[:1], actor=SECRETARY_ACTOR, now=clock.now()
        )
        == 1
    )
    assert await repo.count_active(cell.id) == 2


async def test_pending_inputs_expire(engine: AsyncEngine, clock: ManualClock) -> None:
    pending = PendingInputRepository(engine)
    key = {"platform": TG, "chat_id": "-1", "user_id": "5"}
    await pending.expect(
        **key, flow="f", data={"a": 1}, expires_at=clock.now() + timedelta(minutes=5)
    )
    taken = await pending.take(**key, now=clock.now())
    assert taken is not None and (taken.flow, taken.data) == ("f", {"a": 1})
    assert await pending.take(**key, now=clock.now()) is None
    await pending.expect(**key, flow="f", data={}, expires_at=clock.now() + timedelta(minutes=5))
    clock.advance(timedelta(minutes=6))
    assert await pending.take(**key, now=clock.now()) is None


async def test_office_staff_act_for_their_committee_and_cells_attach_to_it(
    engine: AsyncEngine,
) -> None:
    now = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    cells = CellRepository(engine)
    committee = await cells.create_committee("Đảng ủy phường 1", "Asia/Ho_Chi_Minh", now)
    cell, _ = await cells.found_cell(
        platform="telegram",
        chat_id="-1001",
        chat_title=None,
        cell_name="Chi bộ KP1",
        timezone="Asia/Ho_Chi_Minh",
        secretary_name="Bí thư",
        secretary_user_id="1",
        now=now,
    )
    await cells.attach_to_committee(
        cell_id=cell.id, committee_id=committee.id, actor=Actor("cli"), now=now
    )
    assert [unit.id for unit in await cells.cells_of(committee.id)] == [cell.id]
    with pytest.raises(OrgUnitNotFound):  # a cell cannot be put under a cell
        await cells.attach_to_committee(
            cell_id=cell.id, committee_id=cell.id, actor=Actor("cli"), now=now
        )

    staff = await cells.add_office_staff(
        committee_id=committee.id, platform="telegram", user_id="77", full_name="Văn phòng", now=now
    )
    assert staff.cell_id == committee.id and staff.role is Role.SECRETARY
    unit = await cells.get(staff.cell_id)
    assert unit is not None and unit.kind is OrgKind.COMMITTEE
    with pytest.raises(AlreadyRegistered):
        await cells.add_office_staff(
            committee_id=committee.id, platform="telegram", user_id="77", full_name="X", now=now
        )
    with pytest.raises(OrgUnitNotFound):
        await cells.add_office_staff(
            committee_id=cell.id, platform="telegram", user_id="78", full_name="X", now=now
        )
