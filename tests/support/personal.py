"""Every kind of personal data chibo stores, written through the repositories, and read back
through them: the seed of the key-rotation, start-up and backup tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncEngine

from storage.audit import Actor
from storage.cells import CellRepository
from storage.crypto import FieldCipher
from storage.fee_rules import FeeBasis, load_fee_config
from storage.fees import FeeRepository
from storage.members import MemberRepository
from storage.models import FeeBasisKind, Gender, MemberStatus, RosterRow
from tests.conftest import START

MONTH = date(2026, 11, 1)


@dataclass(frozen=True, slots=True)
class Seeded:
    cell_id: int
    member_ids: tuple[int, ...]


async def seed_personal_data(engine: AsyncEngine, cipher: FieldCipher) -> Seeded:
    """A cell whose secretary edits her own record, two imported members with every personal
    field, a salary and a pension as fee bases."""
    cell, secretary = await CellRepository(engine).found_cell(
        platform="telegram",
        chat_id="-100",
        chat_title="Chi bộ KP5",
        cell_name="Chi bộ Khu phố 5",
        timezone="Asia/Ho_Chi_Minh",
        secretary_name="Trần Thị Hoa",
        secretary_user_id="1",
        now=START,
    )
    actor = Actor("test", secretary.id)
    repo = MemberRepository(engine, cipher)
    await repo.update_fields(
        cell_id=cell.id,
        member_id=secretary.id,
        changes={"phone": "0987654321", "citizen_id": "001234567890", "card_number": "12345678"},
        actor=actor,
        now=START,
    )
    rows = [
        RosterRow(
            full_name=name,
            birth_date=date(1950, 1, 2),
            gender=Gender.MALE,
            admitted_on=date(1975, 5, 19),
            official_on=date(1976, 5, 19),
            card_number=card,
            citizen_id=citizen,
            phone=phone,
            status=MemberStatus.OFFICIAL,
        )
        for name, card, citizen, phone in (
            ("Lê Văn Nam", "22334455", "079123456789", "0912345678"),
            ("Phạm Thị Ba", "33445566", "079987654321", "0934567890"),
        )
    ]
    await repo.import_roster(cell_id=cell.id, rows=rows, actor=actor, now=START)
    member_ids = tuple(member.id for member in await repo.roster(cell.id))
    fees = FeeRepository(engine, cipher, load_fee_config())
    for member_id, basis in zip(
        member_ids[1:],
        (
            FeeBasis(FeeBasisKind.SALARY, MONTH, amount=10_000_000),
            FeeBasis(FeeBasisKind.PENSION, MONTH, amount=6_500_000),
        ),
        strict=True,
    ):
        await fees.set_basis(
            cell_id=cell.id, member_id=member_id, basis=basis, actor=actor, now=START
        )
    return Seeded(cell.id, member_ids)


async def read_back(
    engine: AsyncEngine, cipher: FieldCipher, seeded: Seeded
) -> tuple[list[tuple[str | None, ...]], dict[int, list[int | None]]]:
    """Each member's decrypted personal data, and each fee basis's decrypted amount."""
    repo = MemberRepository(engine, cipher)
    personal = []
    for member_id in seeded.member_ids:
        data = await repo.personal_data(member_id)
        personal.append((data.citizen_id, data.card_number, data.phone))
    fees = FeeRepository(engine, cipher, load_fee_config())
    ledger = await fees.ledger([seeded.cell_id], MONTH, MONTH)
    amounts = {
        member_id: [basis.amount for basis in bases] for member_id, bases in ledger.bases.items()
    }
    return personal, amounts


EXPECTED_PERSONAL = {
    ("001234567890", "12345678", "0987654321"),
    ("079123456789", "22334455", "0912345678"),
    ("079987654321", "33445566", "0934567890"),
}
EXPECTED_AMOUNTS = {10_000_000, 6_500_000}
