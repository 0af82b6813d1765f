"""Documents with read receipts through the real dispatcher and registry on a real SQLite file
(only the platform is stood in for), plus the repository on every supported backend."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.core import Attachment, Reply, SharedFile
from handlers.documents import classified_mark, render_nudge
from handlers.i18n import Texts
from handlers.meetings import render_reminder
from scheduler.clock import ManualClock
from storage.audit import Actor
from storage.cells import CellRepository
from storage.crypto import FieldCipher
from storage.documents import (
    NUDGE_LEAD,
    NUDGE_PAYLOAD,
    DocumentDuplicate,
    DocumentNotFound,
    DocumentRepository,
    NewDocument,
)
from storage.models import DocumentKind, OrgUnit
from storage.schema import audit_log, document_reads, document_targets, documents, outbox
from tests.conftest import START
from tests.support.harness import Harness, Person, buttons_of, texts_of
from tests.test_attendance import GROUP, OTHER_GROUP, found_cell, insert_meeting, join

vi = Texts("vi")
PDF = b"%PDF-1.4 nghi quyet dai hoi chi bo"


@pytest.fixture
def harness(sqlite_engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock) -> Harness:
    return Harness(sqlite_engine, cipher, clock)


def attach(harness: Harness, name: str, content: bytes, *, photo: bool = False) -> Attachment:
    file_id = f"file-{len(harness.platform.files) + 1}"
    harness.platform.files[file_id] = content
    return Attachment(file_id, name, None, len(content), is_photo=photo)


async def count(engine: AsyncEngine, table: object) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def audit_actions(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        return list(
            (
                await connection.execute(select(audit_log.c.action).order_by(audit_log.c.id))
            ).scalars()
        )


async def send_in_group(
    harness: Harness, secretary: Person, title: str, content: bytes = PDF, group: str = GROUP
) -> list[Reply]:
    """The secretary answers a PDF in the group with /tailieu <title> and taps «Gửi»."""
    card = await harness.say(
        secretary,
        f"/tailieu {title}",
        group=group,
        attachment=attach(harness, "nghi-quyet.pdf", content),
    )
    return await harness.tap(secretary, buttons_of(card)[vi("document.button.send")], group=group)


async def cell_with_members(harness: Harness) -> tuple[Person, OrgUnit, Person, Person]:
    secretary, cell = await found_cell(harness)
    first = await join(harness, secretary, "Lê Văn Nam")
    second = await join(harness, secretary, "Phạm Thị Lan")
    return secretary, cell, first, second


# --- the group flow ---------------------------------------------------------------------------


async def test_reply_to_a_file_in_the_group_confirms_then_posts_with_a_read_button(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, cell, _, _ = await cell_with_members(harness)
    card = await harness.say(
        secretary,
        "/tailieu Nghị quyết Đại hội chi bộ",
        group=GROUP,
        attachment=attach(harness, "nghi-quyet.pdf", PDF),
    )
    [reply] = card
    assert vi("document.card.title", title="Nghị quyết Đại hội chi bộ") in reply.text
    assert vi("document.card.targets", cells=cell.name) in reply.text
    assert "nghi-quyet.pdf" in reply.text and vi("document.card.protect_off") in reply.text
    # Nothing is stored or posted before «Gửi».
    assert await count(sqlite_engine, documents) == 0
    assert all(r.chat_id is None and r.shared_file is None for r in card)

    replies = await harness.tap(
        secretary, buttons_of(card)[vi("document.button.send")], group=GROUP
    )
    done, post = replies
    assert done.replace and done.text.startswith(
        vi("document.sent", title="Nghị quyết Đại hội chi bộ", groups=1)
    )
    [document] = await harness.services.documents.recent(cell.id)
    assert post.chat_id == GROUP
    assert post.shared_file == SharedFile(
        "file-1", is_photo=False, document_id=document.id, file_name="nghi-quyet.pdf"
    )
    assert post.choices[0][0].data == f"dr:{document.id}"
    assert post.choices[0][0].label == vi("document.button.read")
    assert not post.protect_content
    assert document.sha256 == hashlib.sha256(PDF).hexdigest()
    assert document.size == len(PDF) and document.kind is DocumentKind.FILE
    assert document.title == "Nghị quyết Đại hội chi bộ" and document.platform == "telegram"
    assert await harness.services.documents.target_cells(document.id) == [cell.id]
    assert "document.created" in await audit_actions(sqlite_engine)


async def test_members_tap_read_once_and_the_secretary_sees_who_has_not(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, _, nam, lan = await cell_with_members(harness)
    _, post = await send_in_group(harness, secretary, "Nghị quyết")
    read = post.choices[0][0].data
    [popup, counted] = await harness.tap(nam, read, group=GROUP)
    assert popup.popup and popup.text == vi("document.read_recorded", title="Nghị quyết")
    # The group's post now shows its read count on its button (three on the roster).
    assert counted.edit_buttons and buttons_of([counted]) == {
        vi("document.button.read_count", read=1, total=3): read
    }
    harness.services.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    [again] = await harness.tap(nam, read, group=GROUP)
    assert again.popup and again.text == vi(
        "document.read_already", when="19:00, Chủ Nhật 22/11/2026"
    )
    assert await count(sqlite_engine, document_reads) == 1
    assert (await audit_actions(sqlite_engine)).count("document.read") == 1

    listing = await harness.say(secretary, "/tailieu")
    assert listing[0].text == vi("document.ask_file")
    [status] = await harness.tap(secretary, buttons_of(listing)["1. Nghị quyết"])
    assert "Chi bộ Khu phố 5: 1 đã đọc, 2 chưa đọc" in status.text
    assert "✅ Lê Văn Nam — 19:00, Chủ Nhật 22/11/2026" in status.text
    assert vi("document.status.unread_line", names="Phạm Thị Lan, Trần Thị Hoa") in status.text
    assert not status.replace  # the list stays; «Xem lại» then refreshes in place
    await harness.tap(lan, post.choices[0][0].data, group=GROUP)
    [refreshed] = await harness.tap(secretary, buttons_of([status])[vi("document.button.refresh")])
    assert refreshed.replace and "Chi bộ Khu phố 5: 2 đã đọc, 1 chưa đọc" in refreshed.text


async def test_read_status_is_for_leaders_in_private_only(harness: Harness) -> None:
    secretary, _, nam, _ = await cell_with_members(harness)
    _, post = await send_in_group(harness, secretary, "Nghị quyết")
    document_id = post.choices[0][0].data.split(":")[1]
    [refused] = await harness.tap(nam, f"dv:{document_id}")
    assert refused.text == vi("error.leader_only")
    [in_group] = await harness.tap(secretary, f"dv:{document_id}", group=GROUP)
    assert in_group.text == vi("error.private_only")
    [group_list] = await harness.say(secretary, "/tailieu", group=GROUP)
    assert group_list.continue_privately == "tailieu" and not group_list.choices
    # A member lists privately and may ask for the file again, with its read button.
    [member_list] = await harness.say(nam, "/tailieu")
    [again] = await harness.tap(nam, buttons_of([member_list])["1. Nghị quyết"])
    assert again.shared_file == post.shared_file
    assert again.choices[0][0].data == f"dr:{document_id}"


async def test_search_ignores_diacritics_and_case(harness: Harness) -> None:
    secretary, _, nam, _ = await cell_with_members(harness)
    await send_in_group(harness, secretary, "Nghị quyết Đại hội", b"one")
    await send_in_group(harness, secretary, "Kế hoạch quý IV", b"two")
    [found] = await harness.say(nam, "/tailieu nghi quyet")
    assert found.text.startswith(vi("document.list.found", words="nghi quyet", count=1))
    assert "Nghị quyết Đại hội" in found.text and "Kế hoạch" not in found.text
    [found] = await harness.say(nam, "/tailieu KẾ HOACH", group=GROUP)
    assert "Kế hoạch quý IV" in found.text and "Nghị quyết" not in found.text
    [nothing] = await harness.say(nam, "/tailieu 100%_x")
    assert nothing.text == vi("document.list.not_found", words="100%_x")
    [recent] = await harness.say(nam, "/tailieu")
    assert recent.text.index("Kế hoạch") < recent.text.index("Nghị quyết")


# --- the private flow -----------------------------------------------------------------------


async def test_private_flow_with_meeting_protection_and_nudges(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, cell, nam, lan = await cell_with_members(harness)
    meeting_at = START + timedelta(days=5)
    meeting = await insert_meeting(sqlite_engine, cell.id, meeting_at, title="Sinh hoạt tháng 11")
    [ask] = await harness.say(secretary, "/tailieu")
    assert ask.text == vi("document.ask_file")
    [title_question] = await harness.say(
        secretary, "", attachment=attach(harness, "ke-hoach.docx", b"docx bytes")
    )
    assert title_question.text == vi("document.ask_title") and title_question.ask_text
    [card] = await harness.say(secretary, "Kế hoạch sinh hoạt")
    assert vi("document.card.no_meeting") in card.text
    [card] = await harness.tap(secretary, "dp")
    assert vi("document.card.protect_on") in card.text and card.replace
    [picker] = await harness.tap(secretary, "dm")
    assert buttons_of([picker])["27/11/2026 — Sinh hoạt tháng 11"] == f"dm:{meeting}"
    [card] = await harness.tap(secretary, f"dm:{meeting}")
    assert "Cho cuộc họp: Sinh hoạt tháng 11" in card.text
    # Typing while the card waits keeps the draft.
    [hint] = await harness.say(secretary, "gửi đi")
    assert hint.text == vi("document.tap_to_confirm")
    done, post = await harness.tap(secretary, "dk:send")
    assert vi("document.sent_nudges") in done.text
    assert post.chat_id == GROUP and post.protect_content
    assert "Dùng cho cuộc họp: Sinh hoạt tháng 11" in post.text

    async with sqlite_engine.connect() as connection:
        rows = (await connection.execute(select(outbox))).mappings().all()
    nudges = [row for row in rows if row["payload"]["type"] == NUDGE_PAYLOAD]
    assert {row["chat_id"] for row in nudges} == {secretary.user_id, nam.user_id, lan.user_id}
    assert all(row["due_at"] == meeting_at - NUDGE_LEAD for row in nudges)
    assert all(row["expires_at"] == meeting_at for row in nudges)

    # The meeting's listing and its reminders name its documents.
    [listing] = await harness.say(nam, "/hop")
    assert vi("meeting.line.documents", titles="Kế hoạch sinh hoạt") in listing.text
    services = harness.services
    [reminder] = await render_reminder(
        services.meetings, services.cells, services.documents, vi, {"meeting_id": meeting}, START
    )
    assert vi("meeting.line.documents", titles="Kế hoạch sinh hoạt") in reminder.text
    # Both carry the step to its documents.
    assert buttons_of([listing])[vi("menu.documents")] == "go:tailieu"
    assert buttons_of([reminder])[vi("menu.documents")] == "go:tailieu"

    # The nudge is rendered at send time: nothing for someone who has read it by then.
    nam_payload = next(r["payload"] for r in nudges if r["chat_id"] == nam.user_id)
    lan_payload = next(r["payload"] for r in nudges if r["chat_id"] == lan.user_id)
    await harness.tap(nam, post.choices[0][0].data, group=GROUP)
    at = meeting_at - NUDGE_LEAD
    args = (services.documents, services.meetings, services.cells, vi)
    assert await render_nudge(*args, nam_payload, at) == []
    [nudge] = await render_nudge(*args, lan_payload, at)
    assert nudge.text.startswith(
        vi(
            "document.nudge",
            title="Kế hoạch sinh hoạt",
            meeting="Sinh hoạt tháng 11",
            when="19:00, Thứ Sáu 27/11/2026",
        )
    )
    assert nudge.shared_file == post.shared_file and nudge.protect_content
    assert await render_nudge(*args, lan_payload, meeting_at) == []


async def test_a_nudge_for_a_link_carries_read_now(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, cell, nam, _lan = await cell_with_members(harness)
    meeting_at = START + timedelta(days=5)
    meeting = await insert_meeting(sqlite_engine, cell.id, meeting_at)
    await harness.say(secretary, "/tailieu https://example.org/nq5.pdf Nghị quyết 5", group=GROUP)
    await harness.tap(secretary, f"dm:{meeting}", group=GROUP)
    await harness.tap(secretary, "dk:send", group=GROUP)
    async with sqlite_engine.connect() as connection:
        rows = (await connection.execute(select(outbox))).mappings().all()
    payload = next(
        r["payload"]
        for r in rows
        if r["payload"]["type"] == NUDGE_PAYLOAD and r["chat_id"] == nam.user_id
    )
    services = harness.services
    args = (services.documents, services.meetings, services.cells, vi)
    [nudge] = await render_nudge(*args, payload, meeting_at - NUDGE_LEAD)
    [read_now], [read] = nudge.choices
    assert (read_now.label, read_now.url) == (
        vi("document.button.read_now"),
        "https://example.org/nq5.pdf",
    )
    assert read.label == vi("document.button.read")


async def test_a_link_with_its_title_in_one_line(harness: Harness) -> None:
    secretary, _, _, _ = await cell_with_members(harness)
    [card] = await harness.say(secretary, "/tailieu https://example.org/nq.pdf Nghị quyết số 5")
    assert vi("document.card.link", url="https://example.org/nq.pdf") in card.text
    _, post = await harness.tap(secretary, "dk:send")
    assert post.shared_file is None and "https://example.org/nq.pdf" in post.text
    [duplicate] = await harness.say(secretary, "/tailieu https://example.org/nq.pdf Lại")
    assert duplicate.text == vi(
        "document.error.duplicate", title="Nghị quyết số 5", date="22/11/2026"
    )


async def test_private_photo_with_caption_is_sent_as_a_photo(harness: Harness) -> None:
    secretary, _, _, _ = await cell_with_members(harness)
    await harness.say(secretary, "/tailieu")
    photo = attach(harness, "photo.jpg", b"jpeg bytes", photo=True)
    [card] = await harness.say(secretary, "Ảnh thông báo", attachment=photo)
    assert vi("document.card.title", title="Ảnh thông báo") in card.text
    _, post = await harness.tap(secretary, "dk:send")
    assert post.shared_file == SharedFile(
        photo.file_id, is_photo=True, document_id=1, file_name="photo.jpg"
    )


async def test_a_private_file_without_a_question_still_imports_the_roster(
    harness: Harness,
) -> None:
    secretary, _, _, _ = await cell_with_members(harness)
    replies = await harness.send_file(
        secretary, "danh-sach.csv", "Họ và tên\nNguyễn Văn An\n".encode()
    )
    assert "Đã nhập 1 đảng viên" in texts_of(replies)


async def test_any_other_private_file_starts_a_document(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, _, nam, _ = await cell_with_members(harness)
    [question] = await harness.send_file(secretary, "nghi-quyet.pdf", PDF)
    assert question.text == vi("document.ask_title")
    [card] = await harness.say(secretary, "Nghị quyết")
    assert vi("document.card.header") in card.text
    photo = attach(harness, "photo.jpg", b"jpeg", photo=True)
    [card] = await harness.say(secretary, "Ảnh", attachment=photo)
    assert vi("document.card.title", title="Ảnh") in card.text
    [refused] = await harness.send_file(nam, "cua-toi.pdf", b"pdf")
    assert refused.text == vi("document.error.leader_only")
    [refused] = await harness.send_file(nam, "danh-sach.csv", b"Ho va ten\nA\n")
    assert refused.text == vi("import.secretary_only")
    assert await count(sqlite_engine, documents) == 0


async def test_discard_leaves_nothing(harness: Harness, sqlite_engine: AsyncEngine) -> None:
    secretary, _, _, _ = await cell_with_members(harness)
    await harness.say(secretary, "/tailieu https://example.org/a.pdf Tài liệu A")
    [dropped] = await harness.tap(secretary, "dk:no")
    assert dropped.text == vi("document.discarded")
    [stale] = await harness.tap(secretary, "dk:send")
    # The card's draft is gone: the card itself is edited to say so, its buttons gone.
    assert stale.text == vi("document.error.draft_gone") and stale.replace and not stale.choices
    assert await count(sqlite_engine, documents) == 0


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mark"),
    [
        ("TÀI LIỆU MẬT", "mật"),
        ("Báo cáo tối mật quý 4", "tối mật"),
        ("Tuyệt Mật - kế hoạch", "tuyệt mật"),
        ("bao-cao_mật.pdf", "mật"),
        ("Mặt trận Tổ quốc", None),
        ("Đổi mật khẩu nhóm", None),
        ("Mật độ dân cư", None),
        ("bao cao mat", None),
        ("Bí mật", "mật"),
    ],
)
def test_classified_marks(text: str, mark: str | None) -> None:
    assert classified_mark(text) == mark


async def test_classified_documents_are_refused_with_the_reason(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, _, _, _ = await cell_with_members(harness)
    [refused] = await harness.say(
        secretary,
        "/tailieu Kế hoạch TỐI MẬT",
        group=GROUP,
        attachment=attach(harness, "ke-hoach.pdf", PDF),
    )
    assert refused.text == vi("document.error.classified", mark="TỐI MẬT")
    [refused] = await harness.say(
        secretary, "/tailieu Kế hoạch", attachment=attach(harness, "tai_lieu_mật.pdf", PDF)
    )
    assert refused.text == vi("document.error.classified", mark="MẬT")
    await harness.say(secretary, "/tailieu https://example.org/x.pdf")
    [refused] = await harness.say(secretary, "Báo cáo tuyệt mật")
    assert refused.text == vi("document.error.classified", mark="TUYỆT MẬT")
    assert await count(sqlite_engine, documents) == 0


async def test_a_file_over_the_download_limit_is_refused_before_downloading(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, _, _, _ = await cell_with_members(harness)
    huge = Attachment("not-downloadable", "ban-do.pdf", "application/pdf", 25 * 1024 * 1024)
    [refused] = await harness.say(secretary, "/tailieu Bản đồ", group=GROUP, attachment=huge)
    assert refused.text == vi("document.error.too_big", limit="20 MB")
    await harness.say(secretary, "/tailieu")
    [refused] = await harness.say(secretary, "", attachment=huge)
    assert refused.text == vi("document.error.too_big", limit="20 MB")
    [wrong] = await harness.say(
        secretary, "/tailieu Danh sách", attachment=attach(harness, "a.exe", b"MZ")
    )
    assert wrong.text == vi("document.error.file_type")
    assert await count(sqlite_engine, documents) == 0


async def test_the_same_file_twice_is_recognised(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, _, _, _ = await cell_with_members(harness)
    await send_in_group(harness, secretary, "Nghị quyết")
    [again] = await harness.say(
        secretary, "/tailieu Bản khác", group=GROUP, attachment=attach(harness, "khac.pdf", PDF)
    )
    assert again.text == vi("document.error.duplicate", title="Nghị quyết", date="22/11/2026")
    assert await count(sqlite_engine, documents) == 1


async def test_two_cards_of_the_same_file_store_it_once(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, _, _, _ = await cell_with_members(harness)
    first = await harness.say(
        secretary, "/tailieu Một", group=GROUP, attachment=attach(harness, "a.pdf", PDF)
    )
    await harness.say(secretary, "/tailieu Hai", attachment=attach(harness, "b.pdf", PDF))
    await harness.tap(secretary, buttons_of(first)[vi("document.button.send")], group=GROUP)
    [refused] = await harness.tap(secretary, "dk:send")
    assert refused.text == vi("document.error.duplicate", title="Một", date="22/11/2026")
    assert await count(sqlite_engine, documents) == 1


async def test_members_cannot_send_and_bad_taps_are_refused(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, _, nam, _ = await cell_with_members(harness)
    [refused] = await harness.say(
        nam, "/tailieu Của tôi", group=GROUP, attachment=attach(harness, "a.pdf", PDF)
    )
    assert refused.text == vi("document.error.leader_only")
    [refused] = await harness.say(nam, "/tailieu https://example.org/a.pdf Link")
    assert refused.text == vi("document.error.leader_only")
    [refused] = await harness.tap(nam, "dk:send")
    assert refused.text == vi("error.leader_only")
    for data, key in (
        ("dr:999", "document.error.not_found"),
        ("dr:abc", "error.stale_button"),
        ("dr", "error.stale_button"),
    ):
        [popup] = await harness.tap(nam, data, group=GROUP)
        assert popup.popup and popup.text == vi(key)
    [stale] = await harness.tap(secretary, "dm:4")  # well formed, but no draft waits
    assert stale.text == vi("document.error.draft_gone")
    await harness.say(secretary, "/tailieu https://example.org/a.pdf A")
    [stale] = await harness.tap(secretary, "dm:abc")
    assert stale.text == vi("error.stale_button")
    [unknown] = await harness.tap(secretary, "dm:424242")
    assert unknown.text == vi("meeting.error.not_found")
    [stale] = await harness.tap(secretary, "dt:1")  # a cell has no target picker
    assert stale.text == vi("error.stale_button")
    [bad_link] = await harness.say(secretary, "/tailieu https://localhost A")
    assert bad_link.text == vi("document.error.bad_link")
    await harness.say(secretary, "/tailieu")
    [hint] = await harness.say(secretary, "không phải link")
    assert hint.text == vi("document.error.send_file_or_link")
    [too_long] = await harness.say(secretary, "/tailieu https://example.org/b " + "x" * 201)
    assert too_long.text == vi("document.error.title_too_long", limit=200)
    assert await count(sqlite_engine, documents) == 0


# --- cells and committees ---------------------------------------------------------------------


async def test_another_cell_sees_nothing_and_cannot_act(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, _, _, _ = await cell_with_members(harness)
    _, post = await send_in_group(harness, secretary, "Nghị quyết chi bộ A")
    read = post.choices[0][0].data
    other_secretary, _ = await found_cell(harness, OTHER_GROUP, "Chi bộ Khu phố 6")
    stranger = await join(harness, other_secretary, "Võ Văn Tư", group=OTHER_GROUP)
    [nothing] = await harness.say(stranger, "/tailieu nghi quyet")
    assert "chi bộ A" not in nothing.text
    [nothing] = await harness.say(other_secretary, "/tailieu")
    assert nothing.text == vi("document.ask_file")
    # Tapping A's button in A's group: a stranger there; privately: not found for cell B.
    [popup] = await harness.tap(stranger, read, group=GROUP)
    assert popup.text == vi("error.not_member")
    [popup] = await harness.tap(stranger, read)
    assert popup.text == vi("document.error.not_found")
    [refused] = await harness.tap(other_secretary, read.replace("dr", "dv"))
    assert refused.text == vi("document.error.not_found")
    [refused] = await harness.tap(other_secretary, read.replace("dr", "dg"))
    assert refused.text == vi("document.error.not_found")
    assert await count(sqlite_engine, document_reads) == 0


async def test_a_committee_office_sends_to_chosen_cells(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    cells: CellRepository = harness.services.cells
    secretary_a, cell_a, nam, _ = await cell_with_members(harness)
    secretary_b, cell_b = await found_cell(harness, OTHER_GROUP, "Chi bộ Khu phố 6")
    secretary_c, cell_c = await found_cell(harness, "-100777", "Chi bộ Khu phố 7")
    committee = await cells.create_committee("Đảng ủy phường Bến Nghé", "Asia/Ho_Chi_Minh", START)
    for cell in (cell_a, cell_b, cell_c):
        await cells.attach_to_committee(
            cell_id=cell.id, committee_id=committee.id, actor=Actor("cli"), now=START
        )
    office = await harness.office_staff(committee.id, "Văn phòng Đảng ủy")
    [card] = await harness.say(office, "/tailieu https://example.org/hd.pdf Hướng dẫn số 12")
    assert "Gửi đến: Chi bộ Khu phố 5, Chi bộ Khu phố 6, Chi bộ Khu phố 7" in card.text
    assert "dm" not in buttons_of([card]).values()
    [card] = await harness.tap(office, f"dt:{cell_c.id}")
    assert "Gửi đến: Chi bộ Khu phố 5, Chi bộ Khu phố 6\n" in card.text
    [outsider] = await harness.tap(office, "dt:999999")
    assert outsider.text == vi("error.stale_button")
    done, *posts = await harness.tap(office, "dk:send")
    assert done.text.startswith(vi("document.sent", title="Hướng dẫn số 12", groups=2))
    assert sorted(post.chat_id or "" for post in posts) == sorted([GROUP, OTHER_GROUP])
    assert all("Nơi gửi: Đảng ủy phường Bến Nghé" in post.text for post in posts)

    read = posts[0].choices[0][0].data
    await harness.tap(nam, read, group=GROUP)
    listing = await harness.say(office, "/tailieu")
    [status] = await harness.tap(office, buttons_of(listing)["1. Hướng dẫn số 12"])
    assert "Chi bộ Khu phố 5: 1 đã đọc, 2 chưa đọc" in status.text
    assert "Chi bộ Khu phố 6: 0 đã đọc, 1 chưa đọc" in status.text
    assert "Khu phố 7" not in status.text
    # A cell's secretary sees only their own cell's readers.
    [own] = await harness.tap(secretary_a, read.replace("dr", "dv"))
    assert "Khu phố 5" in own.text and "Khu phố 6" not in own.text
    # A target cell finds it; the cell left out sees nothing of it.
    [found] = await harness.say(secretary_b, "/tailieu huong dan", group=OTHER_GROUP)
    assert "Hướng dẫn số 12" in found.text
    [none] = await harness.say(secretary_c, "/tailieu huong dan")
    assert none.text == vi("document.list.not_found", words="huong dan")


# --- the repository on each backend -----------------------------------------------------------


async def test_repository_dedupes_reads_once_and_searches(engine: AsyncEngine) -> None:
    cells = CellRepository(engine)
    repo = DocumentRepository(engine)
    committee = await cells.create_committee("Đảng ủy", "Asia/Ho_Chi_Minh", START)
    actor = Actor("test")
    new = NewDocument(
        kind=DocumentKind.LINK,
        title="Nghị quyết số 5",
        sha256="a" * 64,
        platform="telegram",
        url="https://example.org",
    )
    with pytest.raises(ValueError):
        await repo.create(
            unit_id=committee.id,
            new=new,
            target_cell_ids=[],
            sender_member_id=None,
            actor=actor,
            now=START,
        )
    created = await repo.create(
        unit_id=committee.id,
        new=new,
        target_cell_ids=[committee.id],
        sender_member_id=None,
        actor=actor,
        now=START,
    )
    with pytest.raises(DocumentDuplicate) as duplicate:
        await repo.create(
            unit_id=committee.id,
            new=new,
            target_cell_ids=[committee.id],
            sender_member_id=None,
            actor=actor,
            now=START,
        )
    assert duplicate.value.earlier.id == created.id
    assert [d.id for d in await repo.recent(committee.id, "NGHI quyết")] == [created.id]
    assert await repo.recent(committee.id, "%") == []
    assert await repo.recent(committee.id + 1) == []
    with pytest.raises(DocumentNotFound):
        await repo.visible(committee.id + 1, created.id)
    async with engine.connect() as connection:
        targets = await connection.execute(select(document_targets.c.cell_id))
        assert list(targets.scalars()) == [committee.id]
    with pytest.raises(DocumentNotFound):
        await repo.mark_read(
            document_id=created.id, member_id=1, cell_id=committee.id + 1, actor=actor, now=START
        )


async def test_repository_reads_status_and_nudges(engine: AsyncEngine) -> None:
    cells = CellRepository(engine)
    repo = DocumentRepository(engine)
    cell, secretary = await cells.found_cell(
        platform="telegram",
        chat_id="-100",
        chat_title="Nhóm",
        cell_name="Chi bộ 1",
        timezone="Asia/Ho_Chi_Minh",
        secretary_name="Trần Thị Hoa",
        secretary_user_id="11",
        now=START,
    )
    other, _ = await cells.found_cell(
        platform="telegram",
        chat_id="-200",
        chat_title="Nhóm 2",
        cell_name="Chi bộ 2",
        timezone="Asia/Ho_Chi_Minh",
        secretary_name="Đỗ Văn Bình",
        secretary_user_id="22",
        now=START,
    )
    meeting_at = START + timedelta(hours=12)
    meeting_id = await insert_meeting(engine, cell.id, meeting_at, title="Họp")
    actor = Actor("test")
    new = NewDocument(
        kind=DocumentKind.FILE,
        title="Nghị quyết",
        sha256="b" * 64,
        platform="telegram",
        file_name="nq.pdf",
        platform_file_id="file-1",
        meeting_id=meeting_id,
    )
    with pytest.raises(DocumentNotFound):  # the meeting is not one of the target cells'
        await repo.create(
            unit_id=other.id,
            new=new,
            target_cell_ids=[other.id],
            sender_member_id=None,
            actor=actor,
            now=START,
        )
    document = await repo.create(
        unit_id=cell.id,
        new=new,
        target_cell_ids=[cell.id],
        sender_member_id=secretary.id,
        actor=actor,
        now=START,
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(select(outbox))).mappings().all()
    [nudge] = [row for row in rows if row["payload"]["type"] == NUDGE_PAYLOAD]
    assert nudge["chat_id"] == "11" and nudge["due_at"] == START  # less than a day ahead
    assert nudge["expires_at"] == meeting_at
    assert await repo.titles_for_meeting(meeting_id) == ["Nghị quyết"]

    later = START + timedelta(minutes=3)
    first = await repo.mark_read(
        document_id=document.id, member_id=secretary.id, cell_id=cell.id, actor=actor, now=START
    )
    again = await repo.mark_read(
        document_id=document.id, member_id=secretary.id, cell_id=cell.id, actor=actor, now=later
    )
    assert first == (START, True) and again == (START, False)
    assert await repo.has_read(document.id, secretary.id)
    [status] = await repo.read_status(document.id, cell.id)
    assert [r.full_name for r in status.read] == ["Trần Thị Hoa"] and status.unread == ()
    with pytest.raises(DocumentNotFound):
        await repo.read_status(document.id, other.id)
    with pytest.raises(DocumentNotFound):
        await repo.mark_read(
            document_id=document.id,
            member_id=secretary.id,
            cell_id=other.id,
            actor=actor,
            now=START,
        )


async def test_a_protected_document_for_a_cell_on_zalo_says_zalo_cannot_protect_it(
    harness: Harness,
) -> None:
    secretary, cell, _, _ = await cell_with_members(harness)
    await harness.services.links.link_group(
        cell_id=cell.id,
        platform="zalo",
        chat_id="zalo-group-1",
        title="Nhóm Zalo chi bộ",
        actor=Actor("test"),
        now=START,
    )
    [card] = await harness.say(secretary, "/tailieu https://example.org/nq.pdf Nghị quyết 57")
    assert vi("document.card.protect_not_on_zalo") not in card.text  # not asked for
    [card] = await harness.tap(secretary, "dp")
    assert vi("document.card.protect_on") in card.text
    assert vi("document.card.protect_not_on_zalo") in card.text
