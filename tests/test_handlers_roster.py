"""Cells and roster flows through the real dispatcher with neutral Inbound messages."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.i18n import Texts
from scheduler.clock import ManualClock
from storage.crypto import FieldCipher
from storage.models import MemberState, MemberStatus, Role
from storage.schema import audit_log, members, org_units
from tests.support.harness import Harness, Person, buttons_of, texts_of, told

GROUP = "-100555"
vi = Texts("vi")


@pytest.fixture
def harness(sqlite_engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock) -> Harness:
    return Harness(sqlite_engine, cipher, clock)


async def _count(engine: AsyncEngine, table) -> int:  # type: ignore[no-untyped-def]
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())


async def _cell_with_secretary(harness: Harness) -> Person:
    secretary = harness.person("Trần Thị Hoa")
    harness.platform.admins[GROUP] = {secretary.user_id}
    replies = await harness.say(secretary, "/batdau Chi bộ Khu phố 5", group=GROUP)
    assert "Đã lập chi bộ «Chi bộ Khu phố 5»" in texts_of(replies)
    return secretary


async def _member(harness: Harness, secretary: Person, name: str) -> Person:
    person = harness.person(name)
    request = await harness.say(person, "/thamgia", group=GROUP)
    approve = buttons_of(request)[vi("join.button.approve")]
    decided = await harness.tap(secretary, approve, group=GROUP)
    assert "đã vào danh sách" in texts_of(decided)
    return person


async def test_setup_by_non_admin_is_refused_and_stores_nothing(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    stranger = harness.person("Người Lạ")
    replies = await harness.say(stranger, "/batdau Chi bộ X", group=GROUP)
    assert texts_of(replies) == vi("setup.not_admin")
    assert await _count(sqlite_engine, org_units) == 0


async def test_setup_asks_for_the_name_then_links_once(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    admin = harness.person("Trần Thị Hoa")
    harness.platform.admins[GROUP] = {admin.user_id}
    asked = await harness.say(admin, "/setup", group=GROUP)
    assert asked[0].ask_text and asked[0].text == vi("setup.ask_name")
    done = await harness.say(admin, "Chi bộ Khu phố 7", group=GROUP, reply_to_bot=True)
    assert "«Chi bộ Khu phố 7»" in texts_of(done) and "Trần Thị Hoa" in texts_of(done)
    again = await harness.say(admin, "/batdau Chi bộ khác", group=GROUP)
    assert texts_of(again) == vi("setup.already_linked_named", cell="Chi bộ Khu phố 7")
    assert await _count(sqlite_engine, org_units) == 1


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("   ", "setup.name.empty"),
        ("🎉🎉🎉", "setup.name.invalid"),
        ("x" * 201, "setup.name.too_long"),
    ],
)
async def test_setup_rejects_bad_names(
    harness: Harness, sqlite_engine: AsyncEngine, name: str, key: str
) -> None:
    admin = harness.person("Admin")
    harness.platform.admins[GROUP] = {admin.user_id}
    await harness.say(admin, "/batdau", group=GROUP)
    replies = await harness.say(admin, name, group=GROUP)
    assert texts_of(replies) == vi(key, limit=200)
    assert await _count(sqlite_engine, org_units) == 0


async def test_join_waits_for_a_leader_and_members_cannot_decide(harness: Harness) -> None:
    secretary = await _cell_with_secretary(harness)
    member = await _member(harness, secretary, "Lê Văn Nam")
    newcomer = harness.person("Phạm Văn Mới")
    request = await harness.say(newcomer, "/thamgia", group=GROUP)
    assert "Phạm Văn Mới xin vào danh sách" in texts_of(request)
    approve = buttons_of(request)[vi("join.button.approve")]
    refused = await harness.tap(member, approve, group=GROUP)
    assert refused[0].popup and refused[0].text == vi("error.leader_only")
    again = await harness.say(newcomer, "/thamgia", group=GROUP)
    assert texts_of(again) == vi("join.pending", cell="Chi bộ Khu phố 5")
    accepted = await harness.tap(secretary, approve, group=GROUP)
    assert accepted[0].replace
    stored = await harness.services.members.by_identity("telegram", newcomer.user_id)
    assert stored is not None and stored.state is MemberState.ACTIVE


async def test_join_outside_a_linked_group_explains(harness: Harness) -> None:
    someone = harness.person("Ai Đó")
    replies = await harness.say(someone, "/thamgia", group="-999")
    assert texts_of(replies) == vi("error.no_cell_here")
    private = await harness.say(someone, "/thamgia")
    assert texts_of(private) == vi("error.group_only")


async def test_join_name_can_be_given_and_rtl_is_fine_but_emoji_only_is_not(
    harness: Harness,
) -> None:
    await _cell_with_secretary(harness)
    emoji = harness.person("🙂🙂")
    refused = await harness.say(emoji, "/thamgia", group=GROUP)
    assert texts_of(refused) == vi("join.name.invalid")
    rtl = harness.person("محمد")
    accepted = await harness.say(rtl, "/thamgia محمد Nguyễn", group=GROUP)
    assert "محمد Nguyễn" in texts_of(accepted)


async def test_members_in_group_show_names_and_roles_only(harness: Harness) -> None:
    secretary = await _cell_with_secretary(harness)
    member = await _member(harness, secretary, "Lê Văn Nam")
    in_group = texts_of(await harness.say(member, "/dangvien", group=GROUP))
    assert "Trần Thị Hoa — Bí thư" in in_group and "Lê Văn Nam — Đảng viên" in in_group
    assert vi("status.official") not in in_group
    private_secretary = await harness.say(secretary, "/members")
    text = texts_of(private_secretary)
    assert "Lê Văn Nam — Đảng viên, Chính thức" in text
    assert "Lê Văn Nam" in buttons_of(private_secretary)


async def test_profile_is_private_and_member_edits_own_phone(harness: Harness) -> None:
    secretary = await _cell_with_secretary(harness)
    member = await _member(harness, secretary, "Lê Văn Nam")
    in_group = await harness.say(member, "/hoso", group=GROUP)
    assert in_group[0].text == vi("error.private_only") and in_group[0].continue_privately
    card = await harness.say(member, "/start hoso")
    assert "Hồ sơ đảng viên" in texts_of(card)
    edit = buttons_of(card)[vi("profile.button.phone")]
    asked = await harness.tap(member, edit)
    assert asked[0].ask_text
    wrong = await harness.say(member, "12345")
    assert "số điện thoại chưa đúng" in texts_of(wrong)
    saved = await harness.say(member, "+84 912 345 678")
    assert "0912345678" in texts_of(saved)
    stored = await harness.services.members.by_identity("telegram", member.user_id)
    assert stored is not None
    assert (await harness.services.members.personal_data(stored.id)).phone == "0912345678"


async def test_member_cannot_edit_others_or_restricted_fields(harness: Harness) -> None:
    secretary = await _cell_with_secretary(harness)
    member = await _member(harness, secretary, "Lê Văn Nam")
    boss = await harness.services.members.by_identity("telegram", secretary.user_id)
    me = await harness.services.members.by_identity("telegram", member.user_id)
    assert boss is not None and me is not None
    other = await harness.tap(member, f"ef:{boss.id}:phone")
    assert texts_of(other) == vi("profile.not_allowed")
    own_id = await harness.tap(member, f"ef:{me.id}:citizen_id")
    assert texts_of(own_id) == vi("profile.not_allowed")
    role = await harness.tap(member, f"rs:{me.id}:deputy")
    assert texts_of(role) == vi("error.secretary_only")
    assert (await harness.services.members.get(me.id)).role is Role.MEMBER  # type: ignore[union-attr]


async def test_secretary_changes_role_status_and_citizen_id(harness: Harness) -> None:
    secretary = await _cell_with_secretary(harness)
    member = await _member(harness, secretary, "Lê Văn Nam")
    me = await harness.services.members.by_identity("telegram", member.user_id)
    assert me is not None
    card = await harness.tap(secretary, f"mb:{me.id}")
    assert "Lê Văn Nam" in texts_of(card)
    roles = await harness.tap(secretary, buttons_of(card)[vi("card.button.role")])
    deputy = buttons_of(roles)[vi("role.deputy")]
    await harness.tap(secretary, deputy)
    statuses = await harness.tap(secretary, f"st:{me.id}")
    await harness.tap(secretary, buttons_of(statuses)[vi("status.probationary")])
    await harness.tap(secretary, f"ef:{me.id}:citizen_id")
    bad = await harness.say(secretary, "123")
    assert "12 chữ số" in texts_of(bad)
    await harness.say(secretary, "001 234 567 890")
    updated = await harness.services.members.get(me.id)
    assert updated is not None
    assert (updated.role, updated.status) == (Role.DEPUTY, MemberStatus.PROBATIONARY)
    data = await harness.services.members.personal_data(me.id)
    assert data.citizen_id == "001234567890"


async def test_secretary_of_one_cell_cannot_touch_another(harness: Harness) -> None:
    secretary_a = await _cell_with_secretary(harness)
    secretary_b = harness.person("Bí Thư B")
    harness.platform.admins["-200"] = {secretary_b.user_id}
    await harness.say(secretary_b, "/batdau Chi bộ B", group="-200")
    b = await harness.services.members.by_identity("telegram", secretary_b.user_id)
    assert b is not None
    for data in (f"mb:{b.id}", f"rs:{b.id}:deputy", f"ef:{b.id}:phone", f"ho:{b.id}"):
        replies = await harness.tap(secretary_a, data)
        assert texts_of(replies) == vi("error.member_not_found"), data
    # In cell B's group, A's secretary is a stranger.
    seen = await harness.say(secretary_a, "/dangvien", group="-200")
    assert texts_of(seen) == vi("error.not_member")


async def test_hand_over_needs_confirmation(harness: Harness) -> None:
    secretary = await _cell_with_secretary(harness)
    member = await _member(harness, secretary, "Lê Văn Nam")
    me = await harness.services.members.by_identity("telegram", member.user_id)
    assert me is not None
    ask = await harness.tap(secretary, f"ho:{me.id}")
    assert "Trao quyền bí thư" in texts_of(ask)
    assert (await harness.services.members.get(me.id)).role is Role.MEMBER  # type: ignore[union-attr]
    done = await harness.tap(secretary, buttons_of(ask)[vi("card.button.confirm_hand_over")])
    announcements = [reply for reply in done if reply.chat_id == GROUP]
    assert len(announcements) == 1 and "Lê Văn Nam là bí thư" in announcements[0].text
    assert (await harness.services.members.get(me.id)).role is Role.SECRETARY  # type: ignore[union-attr]


async def test_handing_the_role_to_its_holder_changes_and_announces_nothing(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary = await _cell_with_secretary(harness)
    me = await harness.services.members.by_identity("telegram", secretary.user_id)
    assert me is not None
    audit_before = await _count(sqlite_engine, audit_log)

    ask = await harness.tap(secretary, f"ho:{me.id}")
    done = await harness.tap(secretary, f"hy:{me.id}")  # the confirmation, pressed anyway

    assert texts_of(ask) == vi("card.hand_over_already", name="Trần Thị Hoa")
    assert texts_of(done) == vi("card.hand_over_already_done")
    assert all(reply.chat_id is None for reply in ask + done)  # nothing reaches the group
    assert await _count(sqlite_engine, audit_log) == audit_before
    card = await harness.tap(secretary, f"mb:{me.id}")
    assert vi("card.button.hand_over") not in buttons_of(card)


async def test_auto_accept_lets_people_join_at_once(harness: Harness) -> None:
    secretary = await _cell_with_secretary(harness)
    listing = await harness.say(secretary, "/dangvien")
    toggled = await harness.tap(secretary, buttons_of(listing)[vi("members.auto_off")])
    assert toggled[0].text == vi("members.auto_enabled")
    newcomer = harness.person("Vũ Văn Nhanh")
    replies = await harness.say(newcomer, "/thamgia", group=GROUP)
    assert "Chào mừng đồng chí Vũ Văn Nhanh" in texts_of(replies)


async def test_without_a_key_personal_data_is_refused(
    sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    harness = Harness(sqlite_engine, FieldCipher([]), clock)
    secretary = await _cell_with_secretary(harness)
    me = await harness.services.members.by_identity("telegram", secretary.user_id)
    assert me is not None
    await harness.tap(secretary, f"ef:{me.id}:phone")
    replies = await harness.say(secretary, "0912345678")
    assert texts_of(replies) == vi("error.no_data_key")
    card = await harness.say(secretary, "/hoso")
    assert vi("profile.blank") in texts_of(card)


async def test_bad_input_gets_a_message_and_changes_nothing(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary = await _cell_with_secretary(harness)
    before = await _count(sqlite_engine, audit_log), await _count(sqlite_engine, members)
    huge = "a" * (10 * 1024 * 1024)
    assert "quá dài" in texts_of(await harness.say(secretary, huge, group=GROUP))
    assert "quá dài" in texts_of(await harness.say(secretary, "/thamgia " + huge, group=GROUP))
    assert texts_of(await harness.say(secretary, "/khonglenhnay")) == vi(
        "error.unknown_command", command="khonglenhnay"
    )
    for data in ("rs:abc:deputy", "rs:1:president", "zz:1", "mb:", "jn:1", "ss:1:nope"):
        replies = await harness.tap(secretary, data)
        assert told(replies) == [vi("error.stale_button")] and len(replies) == 1, data
    # Words we cannot read are never a dead end: the menu of tasks comes with the apology.
    [unread] = await harness.say(secretary, "xin chào")
    assert unread.text == vi("menu.not_understood") and vi("menu.meetings") in unread.keyboard[0]
    assert await harness.say(secretary, "chuyện phiếm", group=GROUP) == []
    after = await _count(sqlite_engine, audit_log), await _count(sqlite_engine, members)
    assert after == before


async def test_help_fits_the_person_and_place(harness: Harness) -> None:
    stranger = harness.person("Người Mới")
    assert texts_of(await harness.say(stranger, "/trogiup", group=GROUP)) == vi(
        "help.group_unlinked"
    )
    secretary = await _cell_with_secretary(harness)
    group_help = await harness.say(stranger, "/help", group=GROUP)
    assert vi("help.button.join") in buttons_of(group_help)
    private = await harness.say(secretary, "/start")
    assert vi("help.button.import") in buttons_of(private)
    member = await _member(harness, secretary, "Lê Văn Nam")
    member_menu = buttons_of(await harness.say(member, "/start"))
    assert vi("help.button.profile") in member_menu and vi("help.button.import") not in member_menu
