"""Party fees: amounts against hand-computed cases, and /dangphi through the real dispatcher on a
real SQLite file (the ledger's storage also on PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.i18n import Texts
from scheduler.clock import ManualClock
from storage.audit import Actor
from storage.cells import CellRepository
from storage.crypto import FieldCipher
from storage.errors import MemberNotFound
from storage.fee_rules import (
    FeeBasis,
    FeeConfigError,
    FeeReduction,
    format_vnd,
    load_fee_config,
    parse_fee_config,
)
from storage.fees import FeeRepository
from storage.models import FeeBasisKind
from storage.schema import audit_log, fee_bases, fee_payments, members, outbox
from tests.conftest import START
from tests.support.harness import Harness, Person, buttons_of, texts_of
from tests.test_attendance import OTHER_GROUP, found_cell, join, member_id

vi = Texts("vi")
CONFIG = load_fee_config()
NOV = date(2026, 11, 1)
SALARY, PENSION, MIN_WAGE = FeeBasisKind.SALARY, FeeBasisKind.PENSION, FeeBasisKind.MIN_WAGE


@pytest.fixture
def harness(sqlite_engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock) -> Harness:
    return Harness(sqlite_engine, cipher, clock)


# --- amounts, by hand ------------------------------------------------------------------------


def due(basis: FeeBasis, month: date, *reductions: FeeReduction) -> int | None:
    return CONFIG.amount_due([basis], list(reductions), month)


def test_salary_is_one_percent() -> None:
    assert due(FeeBasis(SALARY, NOV, amount=10_000_000), NOV) == 100_000
    # 1% of 8.765.000 = 87.650 → rounded half up to the thousand.
    assert due(FeeBasis(SALARY, NOV, amount=8_765_000), NOV) == 88_000


def test_pension_is_half_a_percent() -> None:
    assert due(FeeBasis(PENSION, NOV, amount=6_000_000), NOV) == 30_000
    assert due(FeeBasis(PENSION, NOV, amount=6_500_000), NOV) == 33_000  # 32.500 rounds up


def test_minimum_wage_shares_by_region_and_age_and_the_2028_change() -> None:
    working = FeeBasis(MIN_WAGE, NOV, region=1, retirement_age=False)
    retired = FeeBasis(MIN_WAGE, NOV, region=1, retirement_age=True)
    region_four = FeeBasis(MIN_WAGE, NOV, region=4, retirement_age=True)
    # Region I 5.310.000: 0,3% = 15.930 → 16.000; 0,2% = 10.620 → 11.000.
    assert due(working, NOV) == 16_000
    assert due(retired, NOV) == 11_000
    # Region IV 3.700.000 × 0,2% = 7.400 → 7.000.
    assert due(region_four, NOV) == 7_000
    # From 2028: 0,5% = 26.550 → 27.000; 0,3% = 15.930 → 16.000.
    assert due(working, date(2028, 1, 1)) == 27_000
    assert due(retired, date(2028, 1, 1)) == 16_000
    assert due(retired, date(2027, 12, 1)) == 11_000


def test_reductions_and_exemption_apply_only_in_their_period() -> None:
    basis = FeeBasis(SALARY, NOV, amount=10_000_000)
    half = FeeReduction(50, NOV, date(2026, 12, 1))
    assert due(basis, NOV, half) == 50_000
    assert due(basis, date(2027, 1, 1), half) == 100_000
    assert due(basis, NOV, FeeReduction(30, NOV)) == 70_000
    assert due(basis, NOV, FeeReduction(70, NOV)) == 30_000
    assert due(basis, NOV, FeeReduction(100, NOV)) == 0


def test_the_newest_basis_applies_and_none_before_the_first() -> None:
    bases = [
        FeeBasis(SALARY, date(2026, 1, 1), amount=10_000_000),
        FeeBasis(PENSION, date(2026, 10, 1), amount=6_000_000),
    ]
    assert CONFIG.amount_due(bases, [], date(2026, 9, 1)) == 100_000
    assert CONFIG.amount_due(bases, [], NOV) == 30_000
    assert CONFIG.amount_due(bases, [], date(2025, 12, 1)) is None


def test_rates_come_from_configuration(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parent.parent / "storage" / "fee_rates.toml").read_text()
    changed = text.replace('salary = "0.01"', 'salary = "0.02"', 1)
    config = parse_fee_config(changed)
    assert config.amount_due([FeeBasis(SALARY, NOV, amount=10_000_000)], [], NOV) == 200_000
    with pytest.raises(FeeConfigError):
        parse_fee_config("round_to = 1000\n")
    with pytest.raises(FeeConfigError):
        parse_fee_config(text.replace('pension = "0.005"', 'pension = "five"', 1))


def test_amounts_are_written_the_vietnamese_way() -> None:
    assert format_vnd(100_000) == "100.000 đ"
    assert format_vnd(1_234_567) == "1.234.567 đ"
    assert format_vnd(0) == "0 đ"


# --- /dangphi ------------------------------------------------------------------------------


async def set_salary(harness: Harness, secretary: Person, member: int, amount: str) -> str:
    await harness.tap(secretary, f"fk:{member}:202611:salary")
    return texts_of(await harness.say(secretary, amount))


async def payments(engine: AsyncEngine) -> list[tuple[int, date, int]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(fee_payments.c.member_id, fee_payments.c.month, fee_payments.c.amount_paid)
        )
        return sorted((int(r[0]), r[1], int(r[2])) for r in rows)


async def test_secretary_sets_bases_and_records_payments(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, cell = await found_cell(harness)
    nam = await join(harness, secretary, "Lê Văn Nam")
    lan = await join(harness, secretary, "Ngô Thị Lan")
    nam_id, lan_id = await member_id(harness, nam), await member_id(harness, lan)
    sheet = await harness.say(secretary, "/dangphi")
    assert vi("fee.sheet.title", month="11/2026", cell=cell.name) in texts_of(sheet)
    assert vi("fee.sheet.no_basis", name="Lê Văn Nam") in texts_of(sheet)

    saved = await set_salary(harness, secretary, nam_id, "10.000.000 đ")
    assert vi("fee.basis.saved", month="11/2026", amount="100.000 đ") in saved
    await harness.tap(secretary, f"fk:{lan_id}:202611:min_wage")
    await harness.tap(secretary, f"fg:{lan_id}:202611:1:1")
    # The salary is kept only encrypted.
    async with sqlite_engine.connect() as connection:
        stored = [r[0] for r in await connection.execute(select(fee_bases.c.amount_enc))]
    assert all("10000000" not in (token or "") for token in stored)

    sheet = await harness.tap(secretary, "fa:202611")
    assert vi("fee.all_paid.done", count=2, month="11/2026", missing=1) in texts_of(sheet)
    assert (nam_id, NOV, 100_000) in await payments(sqlite_engine)
    assert (lan_id, NOV, 11_000) in await payments(sqlite_engine)
    # «everyone except Lan»: tapping her takes hers back.
    sheet = await harness.tap(secretary, f"fp:202611:{lan_id}")
    assert (lan_id, NOV, 11_000) not in await payments(sqlite_engine)
    assert vi("fee.sheet.unpaid", name="Ngô Thị Lan", amount="11.000 đ") in texts_of(sheet)
    assert vi("fee.sheet.totals", paid=1, paid_sum="100.000 đ", owed=1, owed_sum="11.000 đ") in (
        texts_of(sheet)
    )
    async with sqlite_engine.connect() as connection:
        actions = [
            (r[0], r[1])
            for r in await connection.execute(
                select(audit_log.c.action, audit_log.c.details).where(
                    audit_log.c.action.like("fee.%")
                )
            )
        ]
    assert ("fee.basis_set", {"kind": "salary", "from": "2026-11"}) in actions
    assert ("fee.payment_undone", {"month": "2026-11"}) in actions
    assert not any("10000000" in str(details) for _, details in actions)


async def test_members_see_only_their_own_status(harness: Harness) -> None:
    secretary, _ = await found_cell(harness)
    nam = await join(harness, secretary, "Lê Văn Nam")
    lan = await join(harness, secretary, "Ngô Thị Lan")
    nam_id, lan_id = await member_id(harness, nam), await member_id(harness, lan)
    await set_salary(harness, secretary, nam_id, "10000000")
    await set_salary(harness, secretary, lan_id, "12000000")
    await harness.tap(secretary, f"fp:202611:{nam_id}")

    mine = texts_of(await harness.say(nam, "/dangphi"))
    assert vi("fee.mine.paid", month="11/2026", amount="100.000 đ", date="22/11/2026") in mine
    assert "Ngô Thị Lan" not in mine and "120.000" not in mine
    # Leader buttons are refused to a member, and nothing changes.
    refused = await harness.tap(nam, f"fp:202611:{lan_id}")
    assert texts_of(refused) == vi("error.leader_only")
    refused = await harness.tap(nam, "fs:202611")
    assert texts_of(refused) == vi("error.leader_only")
    # In the group, /dangphi only points to the private chat.
    in_group = await harness.say(nam, "/dangphi", group="-100888")
    assert texts_of(in_group) == vi("error.private_only")


async def test_another_cells_secretary_cannot_touch_our_members(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, _ = await found_cell(harness)
    nam_id = await member_id(harness, await join(harness, secretary, "Lê Văn Nam"))
    await set_salary(harness, secretary, nam_id, "10000000")
    other, _ = await found_cell(harness, OTHER_GROUP, "Chi bộ Khu phố 6")
    refused = await harness.tap(other, f"fp:202611:{nam_id}")
    assert texts_of(refused) == vi("error.member_not_found")
    refused = await harness.tap(other, f"fk:{nam_id}:202611:salary")
    assert texts_of(refused) == vi("error.member_not_found")
    assert await payments(sqlite_engine) == []


async def test_bad_input_is_refused_and_nothing_is_stored(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, _ = await found_cell(harness)
    nam_id = await member_id(harness, await join(harness, secretary, "Lê Văn Nam"))
    assert await set_salary(harness, secretary, nam_id, "-5.000.000") == vi("fee.error.negative")
    assert await set_salary(harness, secretary, nam_id, "mười triệu") == vi("fee.error.amount")
    async with sqlite_engine.connect() as connection:
        assert (await connection.execute(select(fee_bases))).first() is None
    future = await harness.say(secretary, "/dangphi 12/2026")
    assert texts_of(future) == vi("fee.error.future", month="12/2026")
    assert texts_of(await harness.tap(secretary, f"fp:202612:{nam_id}")) == vi(
        "fee.error.future", month="12/2026"
    )
    assert texts_of(await harness.say(secretary, "/dangphi 13/2026")) == vi("fee.error.month")
    assert texts_of(await harness.tap(secretary, "fp:2026xx:1")) == vi("error.stale_button")
    # No basis yet: a single payment cannot be recorded.
    assert texts_of(await harness.tap(secretary, f"fp:202611:{nam_id}")) == vi("fee.error.no_basis")
    assert await payments(sqlite_engine) == []


async def test_reductions_through_the_card(harness: Harness, sqlite_engine: AsyncEngine) -> None:
    secretary, _ = await found_cell(harness)
    nam_id = await member_id(harness, await join(harness, secretary, "Lê Văn Nam"))
    await set_salary(harness, secretary, nam_id, "10000000")
    card = await harness.tap(secretary, f"fb:{nam_id}:202611")
    assert buttons_of(card)[vi("fee.button.reduce_50")] == f"fr:{nam_id}:202611:50"
    await harness.tap(secretary, f"fr:{nam_id}:202611:50")
    assert texts_of(await harness.say(secretary, "10/2026")) == vi(
        "fee.error.until_before", month="11/2026"
    )
    await harness.tap(secretary, f"fr:{nam_id}:202611:50")
    saved = await harness.say(secretary, "12/2026")
    assert vi("fee.reduction.saved", percent=50, start="11/2026", until="12/2026") in (
        texts_of(saved)
    )
    sheet = await harness.say(secretary, "/dangphi")
    assert vi("fee.sheet.unpaid", name="Lê Văn Nam", amount="50.000 đ") in texts_of(sheet)


async def test_reminders_go_privately_once_and_stop_when_paid(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, _ = await found_cell(harness)
    nam = await join(harness, secretary, "Lê Văn Nam")
    lan = await join(harness, secretary, "Ngô Thị Lan")
    nam_id, lan_id = await member_id(harness, nam), await member_id(harness, lan)
    await set_salary(harness, secretary, nam_id, "10000000")
    await set_salary(harness, secretary, lan_id, "10000000")
    done = await harness.tap(secretary, "fn:202611")
    assert texts_of(done) == vi("fee.remind.done", count=2, month="11/2026")
    again = await harness.tap(secretary, "fn:202611")
    assert texts_of(again) == vi("fee.remind.done", count=0, month="11/2026")
    await harness.tap(secretary, f"fp:202611:{nam_id}")
    async with sqlite_engine.connect() as connection:
        rows = {
            r.chat_id: (r.status, r.payload["text"])
            for r in await connection.execute(
                select(outbox).where(outbox.c.dedupe_key.not_like("%:planned"))
            )
        }
    assert rows[nam.user_id][0] == "cancelled"
    assert rows[lan.user_id] == (
        "pending",
        vi("fee.reminder", month="11/2026", amount="100.000 đ"),
    )


async def test_three_unpaid_months_are_flagged_to_the_secretary_only(
    harness: Harness, sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    secretary, cell = await found_cell(harness)
    nam = await join(harness, secretary, "Lê Văn Nam")
    nam_id = await member_id(harness, nam)
    async with sqlite_engine.begin() as connection:
        await connection.execute(
            update(members)
            .where(members.c.id == nam_id)
            .values(created_at=datetime(2026, 1, 5, tzinfo=UTC))
        )
    await harness.services.fees.set_basis(
        cell_id=cell.id,
        member_id=nam_id,
        basis=FeeBasis(SALARY, date(2026, 1, 1), amount=10_000_000),
        actor=Actor("test"),
        now=START,
    )
    for month in ("202608", "202609", "202610", "202611"):
        await harness.tap(secretary, f"fa:{month}")
    await harness.tap(secretary, "fp:202608:" + str(nam_id))
    await harness.tap(secretary, "fp:202609:" + str(nam_id))
    sheet = await harness.tap(secretary, "fs:202610")
    flag = vi(
        "fee.sheet.flag",
        name="Lê Văn Nam",
        months=9,
        months_list="1, 2, 3, 4, 5, 6, 7, 8, 9",
        year=2026,
    )
    assert flag in texts_of(sheet)
    assert "⚠️" not in texts_of(await harness.say(nam, "/dangphi"))


# --- storage, on both databases -------------------------------------------------------------


async def test_ledger_reads_and_records_on_every_backend(
    engine: AsyncEngine, cipher: FieldCipher
) -> None:
    cell, secretary = await CellRepository(engine).found_cell(
        platform="telegram",
        chat_id="-1",
        chat_title=None,
        cell_name="Chi bộ A",
        timezone="Asia/Ho_Chi_Minh",
        secretary_name="Trần Thị Hoa",
        secretary_user_id="1",
        now=START,
    )
    repo = FeeRepository(engine, cipher, CONFIG)
    actor = Actor("test", secretary.id)
    await repo.set_basis(
        cell_id=cell.id,
        member_id=secretary.id,
        basis=FeeBasis(PENSION, NOV, amount=6_500_000),
        actor=actor,
        now=START,
    )
    result = await repo.record_paid(
        cell_id=cell.id, month=NOV, member_ids=None, actor=actor, now=START
    )
    assert result.paid == [secretary.id]
    again = await repo.record_paid(
        cell_id=cell.id, month=NOV, member_ids=None, actor=actor, now=START
    )
    assert again.already == [secretary.id] and again.paid == []
    ledger = await repo.ledger([cell.id], date(2026, 1, 1), NOV)
    assert ledger.due(secretary.id, NOV) == 33_000
    payment = ledger.payment(secretary.id, NOV)
    assert payment is not None and payment.amount_paid == 33_000
    with pytest.raises(MemberNotFound):
        await repo.record_paid(
            cell_id=cell.id, month=NOV, member_ids=[secretary.id + 99], actor=actor, now=START
        )


async def test_a_committee_office_is_pointed_to_the_report(harness: Harness) -> None:
    cells = harness.services.cells
    committee = await cells.create_committee("Đảng ủy phường", "Asia/Ho_Chi_Minh", START)
    office = await harness.office_staff(committee.id)
    assert texts_of(await harness.say(office, "/dangphi")) == vi("fee.error.office")
    assert texts_of(await harness.tap(office, "fa:202611")) == vi("fee.error.office")


async def test_once_collection_starts_the_unpaid_are_reminded_on_the_25th(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, _ = await found_cell(harness)
    nam = await join(harness, secretary, "Lê Văn Nam")
    lan = await join(harness, secretary, "Ngô Thị Lan")
    nam_id, lan_id = await member_id(harness, nam), await member_id(harness, lan)
    await set_salary(harness, secretary, nam_id, "10000000")
    await set_salary(harness, secretary, lan_id, "10000000")
    # «Everyone paid», then Lan taken back: only Lan is reminded, on 25/11 at 9:00 in Hà Nội.
    await harness.tap(secretary, "fa:202611")
    await harness.tap(secretary, f"fp:202611:{lan_id}")
    async with sqlite_engine.connect() as connection:
        rows = [
            (r.chat_id, r.status, r.due_at)
            for r in await connection.execute(
                select(outbox).where(outbox.c.dedupe_key.like("fee:%:planned"))
            )
        ]
    assert rows == [(lan.user_id, "pending", datetime(2026, 11, 25, 2, 0, tzinfo=UTC))]
    # Paying before then cancels it.
    await harness.tap(secretary, f"fp:202611:{lan_id}")
    async with sqlite_engine.connect() as connection:
        status = (
            await connection.execute(
                select(outbox.c.status).where(outbox.c.dedupe_key.like("fee:%:planned"))
            )
        ).scalar()
    assert status == "cancelled"
    # An earlier month is past its reminder day: nothing is planned for it.
    await harness.tap(secretary, "fa:202610")
    async with sqlite_engine.connect() as connection:
        planned = (
            await connection.execute(
                select(outbox.c.dedupe_key).where(outbox.c.dedupe_key.like("fee:%2026-10%"))
            )
        ).all()
    assert planned == []
