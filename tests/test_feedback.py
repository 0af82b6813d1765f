"""Feedback tracked to an answer (/gopy): members write, leaders and committee offices answer,
named members are told of each step, anonymous ones leave no trail. Through the real
dispatcher on a real SQLite file; the repository also on PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers import feedback as handler
from handlers.core import Reply
from handlers.dispatch import MAX_INBOUND_CHARS
from handlers.i18n import Texts
from scheduler.clock import ManualClock
from storage.audit import Actor
from storage.crypto import FieldCipher
from storage.feedback import (
    MAX_NOTE,
    MAX_TEXT,
    TRANSITIONS,
    FeedbackNotFound,
    FeedbackRepository,
    LeaderScope,
    TransitionNotAllowed,
)
from storage.models import FeedbackKind, FeedbackStatus, OrgUnit, Role
from storage.schema import audit_log, feedback, feedback_events, meetings, org_units, pending_inputs
from tests.conftest import START
from tests.support.harness import Harness, Person, buttons_of, texts_of

GROUP = "-100111"
OTHER_GROUP = "-100222"
THIRD_GROUP = "-100333"
vi = Texts("vi")
PROPOSAL = "Đề nghị chi bộ lắp thêm đèn đường ở ngõ 12 vì buổi tối rất tối."


@pytest.fixture
def harness(sqlite_engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock) -> Harness:
    return Harness(sqlite_engine, cipher, clock)


# --- helpers ---------------------------------------------------------------------------------


async def found_cell(harness: Harness, group: str, name: str, secretary: str) -> Person:
    person = harness.person(secretary)
    harness.platform.admins[group] = {person.user_id}
    await harness.say(person, f"/batdau {name}", group=group)
    return person


async def cell_of(harness: Harness, group: str) -> OrgUnit:
    cell = await harness.services.cells.cell_for_chat("telegram", group)
    assert cell is not None
    return cell


async def join(harness: Harness, secretary: Person, name: str, group: str = GROUP) -> Person:
    person = harness.person(name)
    request = await harness.say(person, "/thamgia", group=group)
    await harness.tap(secretary, buttons_of(request)[vi("join.button.approve")], group=group)
    return person


async def member_id(harness: Harness, person: Person) -> int:
    member = await harness.services.members.by_identity("telegram", person.user_id)
    assert member is not None
    return member.id


async def write(harness: Harness, who: Person, kind: str, text: str, how: str) -> list[Reply]:
    """The whole member flow: pick a kind, choose how to send, write."""
    await harness.tap(who, f"gk:{kind}")
    await harness.tap(who, f"gs:{how}")
    return await harness.say(who, text)


async def step(harness: Harness, leader: Person, item_id: int, to: str, note: str) -> list[Reply]:
    asked = await harness.tap(leader, f"ga:{item_id}:{to}")
    assert asked[0].ask_text, texts_of(asked)
    return await harness.say(leader, note)


async def rows(engine: AsyncEngine, table, *conditions) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    async with engine.connect() as connection:
        result = await connection.execute(select(table).where(*conditions).order_by(table.c.id))
        return [dict(row) for row in result.mappings()]


async def rows_of(engine: AsyncEngine, table) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    """Every row of a table without an id column (``rows`` orders by id)."""
    async with engine.connect() as connection:
        return [dict(row) for row in (await connection.execute(select(table))).mappings()]


async def count(engine: AsyncEngine, table) -> int:  # type: ignore[no-untyped-def]
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())


async def feedback_audit(engine: AsyncEngine) -> list[dict[str, object]]:
    return await rows(engine, audit_log, audit_log.c.action.like("feedback.%"))


def to_chat(replies: list[Reply], chat_id: str) -> list[Reply]:
    return [reply for reply in replies if reply.chat_id == chat_id]


async def committee_with_office(harness: Harness, name: str, user_id: str) -> tuple[int, Person]:
    cells = harness.services.cells
    committee = await cells.create_committee(name, "Asia/Ho_Chi_Minh", START)
    office = Person(user_id, f"Văn phòng {name}")
    await cells.add_office_staff(
        committee_id=committee.id,
        platform="telegram",
        user_id=user_id,
        full_name=office.name,
        now=START,
    )
    return committee.id, office


async def attach(harness: Harness, group: str, committee_id: int) -> None:
    cell = await cell_of(harness, group)
    await harness.services.cells.attach_to_committee(
        cell_id=cell.id, committee_id=committee_id, actor=Actor("cli"), now=START
    )


# --- a named item, from the member's first tap to closed ---------------------------------------


async def test_named_item_is_tracked_to_an_answer_and_the_member_told_at_every_step(
    harness: Harness, sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    secretary = await found_cell(harness, GROUP, "Chi bộ Khu phố 5", "Trần Thị Hoa")
    deputy = await join(harness, secretary, "Ngô Văn Phó")
    cell = await cell_of(harness, GROUP)
    await harness.services.members.set_role(
        cell_id=cell.id,
        member_id=await member_id(harness, deputy),
        role=Role.DEPUTY,
        actor=Actor("test"),
        now=START,
    )
    nam = await join(harness, secretary, "Lê Văn Nam")

    menu = await harness.say(nam, "/gopy")
    assert texts_of(menu) == vi("feedback.menu")
    assert buttons_of(menu) == {
        vi("feedback.button.kind.comment"): "gk:comment",
        vi("feedback.button.kind.report"): "gk:report",
        vi("feedback.button.kind.petition"): "gk:petition",
        vi("feedback.button.kind.proposal"): "gk:proposal",
        vi("feedback.button.mine"): "gm",
    }
    how = await harness.tap(nam, "gk:proposal")
    assert texts_of(how) == vi("feedback.choose_how", kind="đề xuất")
    assert "không lưu ai là người gửi" in texts_of(how)
    assert buttons_of(how) == {
        vi("feedback.button.named"): "gs:named",
        vi("feedback.button.anonymous"): "gs:anon",
        vi("feedback.button.drop"): "gs:drop",
    }
    chosen, asked = await harness.tap(nam, "gs:named")
    assert chosen.replace and chosen.text == vi("feedback.chosen", how="✅ Gửi kèm tên")
    assert asked.ask_text
    assert asked.text == vi("feedback.ask_text", kind="đề xuất", limit="3.000")
    assert await count(sqlite_engine, feedback) == 0, "nothing is stored before the text"

    sent = await harness.say(nam, f"  {PROPOSAL}  ")
    [item] = await rows(sqlite_engine, feedback)
    item_id = int(str(item["id"]))
    assert item["member_id"] == await member_id(harness, nam)
    assert (item["kind"], item["status"], item["text"]) == ("proposal", "new", PROPOSAL)
    assert sent[0].text == vi("feedback.sent_named", kind="đề xuất", id=item_id)
    # The secretary and the deputy hear of it privately, with the author and the text.
    notice = vi(
        "feedback.notify_leaders", kind="đề xuất", id=item_id, author="Lê Văn Nam", text=PROPOSAL
    )
    for leader in (secretary, deputy):
        [told] = to_chat(sent, leader.user_id)
        assert told.text == notice and buttons_of([told]) == {
            vi("feedback.button.open"): f"gi:{item_id}"
        }
    assert len(sent) == 3 and await count(sqlite_engine, pending_inputs) == 0

    listing = await harness.say(secretary, "/gopy")
    assert texts_of(listing) == vi("feedback.list_header", count=1, page=1, pages=1)
    label = vi("feedback.list_item", id=item_id, kind="đề xuất", date="22/11/2026", status="Mới")
    assert buttons_of(listing)[label] == f"gi:{item_id}"
    card = await harness.tap(secretary, f"gi:{item_id}")
    assert "Người gửi: Lê Văn Nam" in card[0].text and PROPOSAL in card[0].text
    assert set(buttons_of(card).values()) == {
        f"ga:{item_id}:in_progress",
        f"ga:{item_id}:answered",
        f"ga:{item_id}:closed",
        "gl:0",
    }, "no committee above the cell: no forward button"

    clock.advance(timedelta(hours=1))
    handled = await step(harness, secretary, item_id, "in_progress", "Đã báo tổ dân phố.")
    assert handled[0].text.startswith(vi("feedback.moved", id=item_id, status="Đang xử lý"))
    assert "Đã báo tổ dân phố." in handled[0].text  # the card shows its history
    [told] = to_chat(handled, nam.user_id)
    assert told.text == vi(
        "feedback.notify_member.in_progress", kind="đề xuất", id=item_id, note="Đã báo tổ dân phố."
    )
    # The deputy answers.
    answered = await step(harness, deputy, item_id, "answered", "Phường sẽ lắp vào tháng 12.")
    [told] = to_chat(answered, nam.user_id)
    assert "Phường sẽ lắp vào tháng 12." in told.text
    closed = await step(harness, secretary, item_id, "closed", "Đèn đã lắp xong.")
    assert to_chat(closed, nam.user_id)

    events = await rows(sqlite_engine, feedback_events)
    assert [(e["status"], e["note"]) for e in events] == [
        ("in_progress", "Đã báo tổ dân phố."),
        ("answered", "Phường sẽ lắp vào tháng 12."),
        ("closed", "Đèn đã lắp xong."),
    ]
    audit = await feedback_audit(sqlite_engine)
    assert [(a["action"], a["details"]) for a in audit] == [
        ("feedback.submitted", {"kind": "proposal", "anonymous": False}),
        ("feedback.status", {"from": "new", "to": "in_progress"}),
        ("feedback.status", {"from": "in_progress", "to": "answered"}),
        ("feedback.status", {"from": "answered", "to": "closed"}),
    ]
    assert all(a["target"] == f"feedback:{item_id}" for a in audit)
    assert audit[0]["actor_member_id"] == await member_id(harness, nam)
    assert audit[2]["actor_member_id"] == await member_id(harness, deputy)

    # The member sees their item and its last step; the list of open items is empty.
    mine = await harness.tap(nam, "gm")
    assert vi("feedback.mine_note", note="Đèn đã lắp xong.") in texts_of(mine)
    assert f"Số {item_id}, đề xuất, gửi ngày 22/11/2026: Đã đóng" in texts_of(mine)
    assert texts_of(await harness.say(secretary, "/gopy")) == vi("feedback.list_none")
    # Nothing leaves "closed": a stale step button is refused and nothing changes.
    stale = await harness.tap(secretary, f"ga:{item_id}:answered")
    assert stale[0].text == vi("feedback.error.transition", status="Đã đóng")
    assert len(await rows(sqlite_engine, feedback_events)) == 3


async def test_anonymous_item_keeps_no_link_to_the_member(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary = await found_cell(harness, GROUP, "Chi bộ Khu phố 5", "Trần Thị Hoa")
    lan = await join(harness, secretary, "Phạm Thị Lan")
    sent = await write(harness, lan, "report", "Ngõ 7 hay bị ngập khi mưa.", "anon")
    [item] = await rows(sqlite_engine, feedback)
    item_id = int(str(item["id"]))
    assert item["member_id"] is None
    assert sent[0].text == vi("feedback.sent_anonymous", kind="phản ánh", id=item_id)
    [told] = to_chat(sent, secretary.user_id)
    assert "người gửi: ẩn danh" in told.text and "Phạm Thị Lan" not in told.text

    [audit] = await feedback_audit(sqlite_engine)
    assert audit["actor"] == "anonymous" and audit["actor_member_id"] is None
    assert audit["details"] == {"kind": "report", "anonymous": True}
    assert lan.user_id not in str(audit) and await count(sqlite_engine, pending_inputs) == 0

    card = await harness.tap(secretary, f"gi:{item_id}")
    assert "Người gửi: ẩn danh" in card[0].text
    asked = await harness.tap(secretary, f"ga:{item_id}:answered")
    step_label = vi("feedback.button.to.answered")
    assert asked[0].text == vi(
        "feedback.ask_note_anonymous", id=item_id, step=step_label, limit="1.000"
    )
    answered = await harness.say(secretary, "Đã báo phường nạo vét cống.")
    assert all(reply.chat_id is None for reply in answered), "nobody to tell"
    assert texts_of(await harness.tap(lan, "gm")) == vi("feedback.mine_none")


def pages(path: Path) -> list[bytes]:
    """The database pages in a SQLite file, or in the frames of its write-ahead log: a row
    lives in one page, so a page holding the text and the account would link them."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    if path.name.endswith("-wal"):
        size = int.from_bytes(raw[8:12], "big")
        return [raw[at + 24 : at + 24 + size] for at in range(32, len(raw), 24 + size)]
    size = int.from_bytes(raw[16:18], "big")
    return [raw[at : at + size] for at in range(0, len(raw), size)]


async def test_an_anonymous_text_is_never_stored_beside_its_authors_account(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    """Not in the open question while the author decides, not in the item, not in a deleted
    row's leftovers: no page of the database file or its write-ahead log holds both the text
    and the author's account."""
    secretary = await found_cell(harness, GROUP, "Chi bộ Khu phố 5", "Trần Thị Hoa")
    lan = Person("7305519042", "Phạm Thị Lan")
    request = await harness.say(lan, "/thamgia", group=GROUP)
    await harness.tap(secretary, buttons_of(request)[vi("join.button.approve")], group=GROUP)
    secret = "Tổ trưởng tổ 3 thu tiền vệ sinh hai lần trong tháng 10."

    await harness.tap(lan, "gk:report")
    await harness.tap(lan, "gs:anon")
    [question] = await rows_of(sqlite_engine, pending_inputs)
    assert question["user_id"] == lan.user_id
    assert question["data"] == {"kind": "report", "anonymous": True}
    refused = await harness.say(lan, secret + "\n" + "x" * MAX_TEXT)  # too long: asked again
    assert refused[0].text.startswith("Nội dung dài")
    [question] = await rows_of(sqlite_engine, pending_inputs)
    assert question["data"] == {"kind": "report", "anonymous": True}
    sent = await harness.say(lan, secret)

    [item] = await rows(sqlite_engine, feedback)
    assert item["member_id"] is None and item["text"] == secret
    assert sent[0].text == vi("feedback.sent_anonymous", kind="phản ánh", id=item["id"])
    assert await count(sqlite_engine, pending_inputs) == 0
    database = Path(str(sqlite_engine.url.database))
    # As UTF-8 in a text column, or escaped inside a JSON one (the open question's data).
    forms = (secret.encode(), json.dumps(secret).encode())
    account = lan.user_id.encode()
    found = [
        page
        for file in (database, database.with_name(database.name + "-wal"))
        for page in pages(file)
        if any(form in page for form in forms)
    ]
    assert found, "the text is in the file: the search looks in the right place"
    assert [page for page in found if account in page] == []


async def test_a_text_before_the_choice_is_not_kept_and_the_member_may_drop(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary = await found_cell(harness, GROUP, "Chi bộ Khu phố 5", "Trần Thị Hoa")
    nam = await join(harness, secretary, "Lê Văn Nam")
    await harness.tap(nam, "gk:comment")
    early = "Nên họp sớm hơn nửa tiếng."
    typed = await harness.say(nam, early)  # a text where a tap was expected
    assert typed[0].text == vi("feedback.choose_first")
    assert set(buttons_of(typed).values()) == {"gs:named", "gs:anon", "gs:drop"}
    # Whether it may carry the name is not decided yet: the text is kept nowhere.
    [question] = await rows_of(sqlite_engine, pending_inputs)
    assert question["data"] == {"kind": "comment"} and early not in str(question)
    assert await count(sqlite_engine, feedback) == 0
    dropped = await harness.tap(nam, "gs:drop")
    assert dropped[0].text == vi("feedback.dropped") and dropped[0].replace
    assert await count(sqlite_engine, pending_inputs) == 0
    again = await harness.tap(nam, "gs:named")  # the old card, tapped later
    assert again[0].text == vi("error.stale_button") and await count(sqlite_engine, feedback) == 0


# --- bad input -------------------------------------------------------------------------------


async def test_empty_and_oversized_texts_are_refused_and_the_question_stays_open(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary = await found_cell(harness, GROUP, "Chi bộ Khu phố 5", "Trần Thị Hoa")
    nam = await join(harness, secretary, "Lê Văn Nam")
    await harness.tap(nam, "gk:petition")
    await harness.tap(nam, "gs:named")

    empty = await harness.say(nam, "   \n ")
    assert empty[0].text == vi("feedback.error.empty") and empty[0].ask_text
    over_ours = "a" * (MAX_TEXT + 1)
    refused = await harness.say(nam, over_ours)
    assert refused[0].text == vi("feedback.error.too_long", limit="3.000", length="3.001")
    over_platform = "b" * 5000  # longer than any message the bot accepts
    assert MAX_INBOUND_CHARS < 5000
    too_long = await harness.say(nam, over_platform)
    assert too_long[0].text == vi("error.too_long", limit="4.096")
    assert await count(sqlite_engine, feedback) == 0

    exactly = "c" * MAX_TEXT  # the limit itself is fine, and the kind was not forgotten
    await harness.say(nam, exactly)
    [item] = await rows(sqlite_engine, feedback)
    assert item["text"] == exactly and item["kind"] == "petition"
    assert item["member_id"] == await member_id(harness, nam)


async def test_unknown_ids_stale_and_forged_buttons_change_nothing(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary = await found_cell(harness, GROUP, "Chi bộ Khu phố 5", "Trần Thị Hoa")
    nam = await join(harness, secretary, "Lê Văn Nam")
    await write(harness, nam, "comment", "Góp ý về giờ họp.", "named")
    [item] = await rows(sqlite_engine, feedback)
    item_id = int(str(item["id"]))

    unknown = await harness.say(secretary, "/gopy 999")
    assert texts_of(unknown) == vi("feedback.not_found", id=999)
    assert texts_of(await harness.say(secretary, "/gopy abc")) == vi("feedback.bad_number")
    assert texts_of(await harness.say(secretary, f"/feedback #{item_id}")).startswith("📮")
    for forged in (
        "gi:999",
        "gi:abc",
        "gi:" + "9" * 30,
        "ga:999:answered",
        f"ga:{item_id}:bogus",
        f"ga:{item_id}",
        f"ga:{item_id}:new",
        "gl:x",
        "gk:bogus",
        "gs:bogus",
    ):
        replies = await harness.tap(secretary, forged)
        # Refused in a popup, or (a card whose item is gone) the card edited to say so.
        assert (replies[0].popup or replies[0].replace) and replies[0].text in {
            vi("error.stale_button"),
            vi("feedback.not_found", id=999),
            vi("feedback.error.transition", status="Mới"),
        }, forged
    # A leader's empty or over-long answer keeps the question open; then it lands.
    await harness.tap(secretary, f"ga:{item_id}:answered")
    empty = await harness.say(secretary, "  ")
    assert empty[0].text.startswith("Tin nhắn chưa có chữ")
    long = await harness.say(secretary, "x" * (MAX_NOTE + 1))
    assert long[0].text == vi("feedback.error.note_too_long", limit="1.000", length="1.001")
    assert await count(sqlite_engine, feedback_events) == 0
    done = await harness.say(secretary, "Sẽ bàn ở buổi họp tới.")
    assert vi("feedback.moved", id=item_id, status="Đã trả lời") in done[0].text
    assert await count(sqlite_engine, feedback_events) == 1
    # The item was answered by someone else while this leader was writing: refused, kept.
    await harness.tap(secretary, f"ga:{item_id}:closed")
    async with sqlite_engine.begin() as connection:
        await connection.execute(feedback.update().values(status="closed"))
    late = await harness.say(secretary, "Đóng lại.")
    assert late[0].text == vi("feedback.error.transition", status="Đã đóng")
    assert await count(sqlite_engine, feedback_events) == 1


# --- who sees what ---------------------------------------------------------------------------


async def test_members_and_other_cells_see_and_touch_nothing_that_is_not_theirs(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    hoa = await found_cell(harness, GROUP, "Chi bộ Khu phố 5", "Trần Thị Hoa")
    binh = await found_cell(harness, OTHER_GROUP, "Chi bộ Khu phố 6", "Đỗ Văn Bình")
    nam = await join(harness, hoa, "Lê Văn Nam")
    lan = await join(harness, hoa, "Phạm Thị Lan")
    await write(harness, nam, "comment", "Góp ý của Nam.", "named")
    [item] = await rows(sqlite_engine, feedback)
    item_id = int(str(item["id"]))

    # Another member of the same cell: no list, no card, no step, and not in "mine".
    for data in (f"gi:{item_id}", "gl:0", f"ga:{item_id}:closed"):
        denied = await harness.tap(lan, data)
        assert denied[0].text == vi("error.leader_only"), data
    assert texts_of(await harness.tap(lan, "gm")) == vi("feedback.mine_none")
    assert "Góp ý của Nam" not in texts_of(await harness.say(lan, "/gopy"))

    # The secretary of another cell: the item does not exist for them.
    assert texts_of(await harness.say(binh, "/gopy")) == vi("feedback.list_none")
    assert texts_of(await harness.tap(binh, f"gi:{item_id}")) == vi(
        "feedback.not_found", id=item_id
    )
    assert texts_of(await harness.tap(binh, f"ga:{item_id}:closed")) == vi(
        "feedback.not_found", id=item_id
    )
    assert texts_of(await harness.say(binh, f"/gopy {item_id}")) == vi(
        "feedback.not_found", id=item_id
    )
    assert (await rows(sqlite_engine, feedback))[0]["status"] == "new"
    assert await count(sqlite_engine, feedback_events) == 0

    # In a group, /gopy only points to the private chat: feedback is never written there.
    in_group = await harness.say(nam, "/gopy", group=GROUP)
    assert in_group[0].text == vi("error.private_only") and in_group[0].continue_privately
    tapped = await harness.tap(nam, "gk:comment", group=GROUP)
    assert tapped[0].text == vi("error.private_only")
    stranger = harness.person("Người lạ")
    assert texts_of(await harness.say(stranger, "/gopy")) == vi("error.not_member")


async def test_forwarded_items_reach_only_their_own_committee_office(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    hoa = await found_cell(harness, GROUP, "Chi bộ Khu phố 5", "Trần Thị Hoa")
    binh = await found_cell(harness, OTHER_GROUP, "Chi bộ Khu phố 6", "Đỗ Văn Bình")
    chi = await found_cell(harness, THIRD_GROUP, "Chi bộ Xóm Bãi", "Vũ Thị Chi")
    ward, office = await committee_with_office(harness, "Đảng ủy phường 1", "9001")
    commune, other_office = await committee_with_office(harness, "Đảng ủy xã 2", "9002")
    await attach(harness, GROUP, ward)
    await attach(harness, OTHER_GROUP, ward)
    await attach(harness, THIRD_GROUP, commune)
    nam = await join(harness, hoa, "Lê Văn Nam")
    tuan = await join(harness, binh, "Hồ Văn Tuấn", group=OTHER_GROUP)
    await join(harness, chi, "Mai Văn Xóm", group=THIRD_GROUP)

    await write(harness, nam, "petition", "Kiến nghị sửa đường.", "named")
    await write(harness, tuan, "proposal", "Đề xuất mở lớp học.", "named")
    await write(harness, chi, "comment", "Góp ý của xóm.", "named")
    ids = [int(str(r["id"])) for r in await rows(sqlite_engine, feedback)]
    nam_item, tuan_item, xom_item = ids

    # Nothing forwarded yet: the office sees nothing, not even its cells' new items.
    assert texts_of(await harness.say(office, "/gopy")) == vi("feedback.office_none")
    assert texts_of(await harness.tap(office, f"gi:{nam_item}")) == vi(
        "feedback.not_found", id=nam_item
    )
    card = await harness.tap(hoa, f"gi:{nam_item}")
    assert f"ga:{nam_item}:forwarded" in buttons_of(card).values()

    forwarded = await step(harness, hoa, nam_item, "forwarded", "Việc của phường, xin chuyển.")
    [to_office] = to_chat(forwarded, office.user_id)
    assert "Chi bộ Khu phố 5 chuyển lên kiến nghị số" in to_office.text
    assert to_chat(forwarded, nam.user_id), "the member hears it went up"
    assert not to_chat(forwarded, other_office.user_id)
    await step(harness, chi, xom_item, "forwarded", "Chuyển xã.")
    # Still waiting for the cell too, until the office answers.
    assert "Đã chuyển đảng ủy" in str(buttons_of(await harness.say(hoa, "/gopy")))

    listing = await harness.say(office, "/gopy")
    assert texts_of(listing) == vi("feedback.office_header", count=1, page=1, pages=1)
    assert list(buttons_of(listing).values()) == [f"gi:{nam_item}"]
    assert "Chi bộ Khu phố 5" in next(iter(buttons_of(listing)))
    card = await harness.tap(office, f"gi:{nam_item}")
    assert "Chi bộ: Chi bộ Khu phố 5" in card[0].text and "Việc của phường" in card[0].text
    assert set(buttons_of(card).values()) == {
        f"ga:{nam_item}:answered",
        f"ga:{nam_item}:closed",
        "gl:0",
    }
    # Not another committee's item, not an unforwarded one of its own cells.
    for other in (xom_item, tuan_item):
        assert texts_of(await harness.tap(office, f"gi:{other}")) == vi(
            "feedback.not_found", id=other
        )
        assert texts_of(await harness.tap(office, f"ga:{other}:closed")) == vi(
            "feedback.not_found", id=other
        )
    # An office does not write feedback, and cannot put an item "in progress".
    assert texts_of(await harness.tap(office, "gn")) == vi("feedback.office_cannot_write")
    assert texts_of(await harness.tap(office, "gk:comment")) == vi("feedback.office_cannot_write")
    refused = await harness.tap(office, f"ga:{nam_item}:in_progress")
    assert refused[0].text == vi("feedback.error.transition", status="Đã chuyển đảng ủy")

    answered = await step(harness, office, nam_item, "answered", "Phường sửa đường trong quý 1.")
    assert answered[0].text == vi("feedback.moved", id=nam_item, status="Đã trả lời")
    assert "Phường sửa đường trong quý 1." in to_chat(answered, nam.user_id)[0].text
    assert "Phường sửa đường trong quý 1." in to_chat(answered, hoa.user_id)[0].text
    assert texts_of(await harness.say(office, "/gopy")) == vi("feedback.office_none")
    audit = await feedback_audit(sqlite_engine)
    by_office = [a for a in audit if a["actor"] == "telegram:9001"]
    assert [a["details"] for a in by_office] == [{"from": "forwarded", "to": "answered"}]
    hoa_cell = await cell_of(harness, GROUP)
    assert by_office[0]["org_unit_id"] == hoa_cell.id, "the cell's audit trail shows it"


async def test_a_leaders_list_is_oldest_first_and_paged(
    harness: Harness, sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    hoa = await found_cell(harness, GROUP, "Chi bộ Khu phố 5", "Trần Thị Hoa")
    nam = await join(harness, hoa, "Lê Văn Nam")
    for n in range(handler.PAGE_SIZE + 2):
        await write(harness, nam, "comment", f"Góp ý {n}", "named")
        clock.advance(timedelta(minutes=1))
    ids = [int(str(r["id"])) for r in await rows(sqlite_engine, feedback)]
    await step(harness, hoa, ids[0], "answered", "Đã trả lời.")  # no longer open

    first = await harness.say(hoa, "/gopy")
    assert texts_of(first) == vi("feedback.list_header", count=9, page=1, pages=2)
    items = [v for v in buttons_of(first).values() if v.startswith("gi:")]
    assert items == [f"gi:{i}" for i in ids[1:9]]
    assert buttons_of(first)[vi("feedback.button.next")] == "gl:1"
    beyond = await harness.tap(hoa, "gl:" + "9" * 9)  # a page that no longer exists: the last one
    assert texts_of(beyond) == vi("feedback.list_header", count=9, page=2, pages=2)
    second = await harness.tap(hoa, "gl:1")
    assert second[0].replace
    assert [v for v in buttons_of(second).values() if v.startswith("gi:")] == [f"gi:{ids[9]}"]
    assert buttons_of(second)[vi("feedback.button.previous")] == "gl:0"
    assert buttons_of(second)[vi("feedback.button.write")] == "gn"
    # A leader writes one of their own from the list.
    assert texts_of(await harness.tap(hoa, "gn")) == vi("feedback.menu")


# --- the minutes -----------------------------------------------------------------------------


async def _meeting(engine: AsyncEngine, cell_id: int, starts_at: datetime) -> int:
    async with engine.begin() as connection:
        inserted = await connection.execute(
            insert(meetings)
            .values(
                org_unit_id=cell_id,
                kind="regular",
                title="Sinh hoạt chi bộ",
                starts_at=starts_at,
                place="Hội trường",
                agenda="",
                status="scheduled",
                created_at=START,
                updated_at=START,
            )
            .returning(meetings.c.id)
        )
        return int(inserted.scalar_one())


async def _hold_meeting(harness: Harness, engine: AsyncEngine, secretary: Person) -> str:
    cell = await cell_of(harness, GROUP)
    now = harness.services.clock.now()
    meeting = await _meeting(engine, cell.id, now + timedelta(minutes=30))
    await harness.say(secretary, "/diemdanh", group=GROUP)
    await harness.tap(secretary, f"cc:{meeting}", group=GROUP)
    closed = await harness.tap(secretary, f"cy:{meeting}:1")
    [draft] = [r for r in closed if r.chat_id == secretary.user_id and r.choices]
    return draft.text


async def test_minutes_summarise_feedback_since_the_previous_meeting(
    harness: Harness, sqlite_engine: AsyncEngine, clock: ManualClock
) -> None:
    hoa = await found_cell(harness, GROUP, "Chi bộ Khu phố 5", "Trần Thị Hoa")
    nam = await join(harness, hoa, "Lê Văn Nam")
    await write(harness, nam, "comment", "Một.", "named")
    await write(harness, nam, "proposal", "Hai.", "anon")
    await write(harness, nam, "proposal", "Ba.", "named")
    first, second, _ = [int(str(r["id"])) for r in await rows(sqlite_engine, feedback)]
    await step(harness, hoa, first, "answered", "Đã trả lời một.")

    draft = await _hold_meeting(harness, sqlite_engine, hoa)
    assert (
        "Góp ý, kiến nghị từ trước đến nay: nhận 3 (góp ý 1, đề xuất 2), đã trả lời 1, "
        "chuyển đảng ủy 0; hiện còn 2 đang chờ xử lý."
    ) in draft
    assert "Một." not in draft and "Lê Văn Nam" not in draft.split("Góp ý, kiến nghị")[1]

    clock.advance(timedelta(days=30))
    await write(harness, nam, "report", "Bốn.", "named")
    await step(harness, hoa, second, "answered", "Đã trả lời hai.")
    await step(harness, hoa, first, "closed", "Xong.")
    draft = await _hold_meeting(harness, sqlite_engine, hoa)
    assert (
        "Góp ý, kiến nghị từ lần họp trước (từ ngày 22/11/2026): nhận 1 (phản ánh 1), "
        "đã trả lời 1, chuyển đảng ủy 0; hiện còn 2 đang chờ xử lý."
    ) in draft


# --- the repository on every backend ---------------------------------------------------------


async def _cell(engine: AsyncEngine, name: str, parent_id: int | None = None) -> int:
    async with engine.begin() as connection:
        inserted = await connection.execute(
            insert(org_units)
            .values(
                kind="cell" if name.startswith("Chi") else "committee",
                parent_id=parent_id,
                name=name,
                timezone="Asia/Ho_Chi_Minh",
                auto_accept=False,
                created_at=START,
            )
            .returning(org_units.c.id)
        )
        return int(inserted.scalar_one())


async def test_repository_transitions_scopes_and_summary(engine: AsyncEngine) -> None:
    repo = FeedbackRepository(engine)
    committee = await _cell(engine, "Đảng ủy")
    cell = await _cell(engine, "Chi bộ A", committee)
    other = await _cell(engine, "Chi bộ B")
    actor = Actor("telegram:1")
    own, office = LeaderScope(cell, False), LeaderScope(committee, True)

    def at(minutes: int) -> datetime:
        return START + timedelta(minutes=minutes)

    first = await repo.submit(
        cell_id=cell, member_id=None, kind=FeedbackKind.COMMENT, text="a", actor=actor, now=at(0)
    )
    second = await repo.submit(
        cell_id=cell, member_id=None, kind=FeedbackKind.REPORT, text="b", actor=actor, now=at(1)
    )
    elsewhere = await repo.submit(
        cell_id=other, member_id=None, kind=FeedbackKind.REPORT, text="c", actor=actor, now=at(2)
    )
    with pytest.raises(ValueError):
        await repo.submit(
            cell_id=cell,
            member_id=None,
            kind=FeedbackKind.REPORT,
            text="x" * (MAX_TEXT + 1),
            actor=actor,
            now=at(3),
        )
    page = await repo.open_items(own, offset=0, limit=1)
    assert page.total == 2 and [i.id for i in page.items] == [first.id]
    assert (await repo.open_items(office, offset=0, limit=10)).total == 0
    with pytest.raises(FeedbackNotFound):
        await repo.visible(own, elsewhere.id)

    # Every pair of statuses: allowed ones move, the rest raise and change nothing.
    for source in FeedbackStatus:
        for target in FeedbackStatus:
            item = await repo.submit(
                cell_id=cell,
                member_id=None,
                kind=FeedbackKind.PROPOSAL,
                text="t",
                actor=actor,
                now=at(5),
            )
            path = {
                FeedbackStatus.NEW: [],
                FeedbackStatus.IN_PROGRESS: [FeedbackStatus.IN_PROGRESS],
                FeedbackStatus.FORWARDED: [FeedbackStatus.FORWARDED],
                FeedbackStatus.ANSWERED: [FeedbackStatus.ANSWERED],
                FeedbackStatus.CLOSED: [FeedbackStatus.CLOSED],
            }[source]
            for status in path:
                await repo.move(
                    scope=own, item_id=item.id, to=status, note="n", actor=actor, now=at(6)
                )
            steps_before = len(await repo.history(item.id))
            if target in TRANSITIONS[source]:
                previous, moved = await repo.move(
                    scope=own, item_id=item.id, to=target, note="n", actor=actor, now=at(7)
                )
                assert previous is source and moved.status is target
            else:
                with pytest.raises(TransitionNotAllowed):
                    await repo.move(
                        scope=own, item_id=item.id, to=target, note="n", actor=actor, now=at(7)
                    )
                assert (await repo.visible(own, item.id)).status is source
                assert len(await repo.history(item.id)) == steps_before

    # The office acts only on forwarded items of its own cells.
    await repo.move(
        scope=own, item_id=second.id, to=FeedbackStatus.FORWARDED, note="up", actor=actor, now=at(8)
    )
    waiting = (await repo.open_items(office, offset=0, limit=50)).items
    assert second.id in [i.id for i in waiting]
    assert {(i.cell_id, i.status) for i in waiting} == {(cell, FeedbackStatus.FORWARDED)}
    with pytest.raises(FeedbackNotFound):
        await repo.move(
            scope=office,
            item_id=first.id,
            to=FeedbackStatus.CLOSED,
            note="n",
            actor=actor,
            now=at(9),
        )
    with pytest.raises(FeedbackNotFound):
        await repo.move(
            scope=LeaderScope(committee, True),
            item_id=elsewhere.id,
            to=FeedbackStatus.CLOSED,
            note="n",
            actor=actor,
            now=at(9),
        )
    await repo.move(
        scope=office,
        item_id=second.id,
        to=FeedbackStatus.ANSWERED,
        note="ok",
        actor=actor,
        now=at(9),
    )
    with pytest.raises(ValueError):
        await repo.move(
            scope=own, item_id=first.id, to=FeedbackStatus.CLOSED, note=" ", actor=actor, now=at(9)
        )

    meeting = await _meeting(engine, cell, at(10))
    summary = await repo.summary_before(cell_id=cell, meeting_id=meeting)
    assert summary.since is None and summary.by_kind[FeedbackKind.COMMENT] == 1
    assert summary.received == 2 + 25 and summary.forwarded >= 1 and summary.answered >= 1
    async with engine.begin() as connection:
        await connection.execute(
            meetings.update().where(meetings.c.id == meeting).values(checkin_closed_at=at(8))
        )
    later = await _meeting(engine, cell, at(60))
    since = await repo.summary_before(cell_id=cell, meeting_id=later)
    assert since.since == at(8) and since.received == 0
    assert (since.answered, since.forwarded) == (1, 0)  # the office's answer at 9 minutes
