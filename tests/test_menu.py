"""The menu of tasks and plain words, through the real dispatcher (handlers/menu.py,
handlers/dispatch.py): every task is one tap or a few plain words away, nothing ends in a
dead end, and a refusal says what to do instead."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.core import ChatKind, Inbound, Platform, Reply
from handlers.i18n import Texts, catalog
from handlers.meetings import render_reminder
from handlers.plain_words import LEADER, MEMBER_TASKS
from storage.crypto import FieldCipher
from tests.conftest import START
from tests.support.harness import Harness, Person, buttons_of, texts_of
from tests.test_attendance import GROUP, found_cell, harness, insert_meeting, join

vi = Texts("vi")
MEMBER_MENU = (
    (vi("menu.meetings"), vi("menu.absence")),
    (vi("menu.documents"), vi("menu.fees")),
    (vi("menu.feedback"), vi("menu.help")),
)
__all__ = ["harness"]


def keyboard_labels(replies: list[Reply]) -> list[str]:
    return [label for reply in replies for row in reply.keyboard for label in row]


async def _said(harness: Harness, who: Person, text: str, **extra: object) -> list[Reply]:
    """``who`` writes ``text`` privately: never a command, whatever it looks like."""
    inbound = Inbound(
        platform=Platform.TELEGRAM,
        chat_id=who.user_id,
        chat_kind=ChatKind.PRIVATE,
        user_id=who.user_id,
        user_name=who.name,
        text=text,
    )
    return await harness.dispatcher.handle(replace(inbound, **extra), harness.platform)  # type: ignore[arg-type]


async def test_start_privately_shows_the_tasks_keyboard_and_leaders_get_their_button(
    harness: Harness, sqlite_engine: AsyncEngine, cipher: FieldCipher
) -> None:
    secretary, _cell = await found_cell(harness)
    member = await join(harness, secretary, "Nguyễn Thị Lan")
    menu = await harness.say(member, "/start")
    assert menu[0].keyboard == MEMBER_MENU
    assert vi("help.button.profile") in buttons_of(menu)  # the card's own buttons follow
    leader = await harness.say(secretary, "/start")
    assert vi("menu.leader") in keyboard_labels(leader)
    assert vi("menu.leader") not in keyboard_labels(menu)
    lead_card = await _said(harness, secretary, vi("menu.leader"))
    assert buttons_of(lead_card)[vi("menu.lead.schedule")] == "go:lichhop"


async def test_a_join_accepted_sends_the_member_the_menu_privately(harness: Harness) -> None:
    secretary, _cell = await found_cell(harness)
    member = harness.person("Nguyễn Thị Lan")
    request = await harness.say(member, "/thamgia", group=GROUP)
    replies = await harness.tap(
        secretary, buttons_of(request)[vi("join.button.approve")], group=GROUP
    )
    [welcome] = [reply for reply in replies if reply.chat_id == member.user_id]
    assert welcome.keyboard == MEMBER_MENU and "Nguyễn Thị Lan" in welcome.text


async def test_taps_words_and_accented_commands_lead_to_the_task(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, cell = await found_cell(harness)
    member = await join(harness, secretary, "Nguyễn Thị Lan")
    await insert_meeting(sqlite_engine, cell.id, START.replace(day=START.day + 3))
    typed = texts_of(await harness.say(member, "/hop"))
    assert "Sinh hoạt chi bộ tháng 11" in typed
    for words in (vi("menu.meetings"), Texts("en")("menu.meetings"), "họp", "Lich hop", "HỌP"):
        assert texts_of(await _said(harness, member, words)) == typed, words
    # Telegram hands "/họp" over as the whole first word; Zalo too.
    assert texts_of(await harness.say(member, "/họp")) == typed
    absence = texts_of(await harness.say(member, "/xinvang"))
    assert texts_of(await _said(harness, member, "xin phép vắng")) == absence
    assert texts_of(await harness.say(member, "/xinvắng")) == absence


async def test_ambiguous_words_offer_a_short_choice_and_unknown_ones_the_menu(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, cell = await found_cell(harness)
    member = await join(harness, secretary, "Nguyễn Thị Lan")
    await insert_meeting(sqlite_engine, cell.id, START.replace(day=START.day + 3))
    which = await _said(harness, member, "lịch")
    assert texts_of(which) == vi("menu.which")
    options = buttons_of(which)
    assert options == {vi("menu.meetings"): "go:hop", vi("menu.calendar"): "go:lich"}
    assert texts_of(await harness.tap(member, "go:hop")) == texts_of(
        await harness.say(member, "/hop")
    )
    [lost] = await _said(harness, member, "bà ơi cái này là gì")
    assert lost.text == vi("menu.not_understood") and lost.keyboard == MEMBER_MENU
    [unknown] = await harness.say(member, "/khongco")
    assert unknown.keyboard == MEMBER_MENU


async def _zalo(harness: Harness, who: Person, text: str, group: str | None = None) -> list[Reply]:
    command, args = None, ""
    if text.startswith("/"):
        command, _, args = text[1:].partition(" ")
    inbound = Inbound(
        platform=Platform.ZALO,
        chat_id=group or who.user_id,
        chat_kind=ChatKind.GROUP if group else ChatKind.PRIVATE,
        user_id=who.user_id,
        user_name=who.name,
        text=text,
        command=command,
        args=args,
        reply_to_bot=group is not None,
    )
    return await harness.dispatcher.handle(inbound, harness.platform)


async def test_zalo_shows_the_same_menu_as_numbered_choices(harness: Harness) -> None:
    secretary = harness.person("Trần Thị Hoa")
    harness.platform.admins[GROUP] = {secretary.user_id}
    await _zalo(harness, secretary, "/batdau Chi bộ Khu phố 5", group=GROUP)
    for asked in ("0", "menu", "không biết gõ gì"):
        [menu] = await _zalo(harness, secretary, asked)
        assert not menu.keyboard
        tasks = [choice.data for row in menu.choices for choice in row]
        assert tasks[:7] == [f"go:{task}" for task in (*MEMBER_TASKS, LEADER)], asked
    # The Zalo pseudo-command with diacritics works as on Telegram.
    assert texts_of(await _zalo(harness, secretary, "/họp")) == texts_of(
        await _zalo(harness, secretary, "/hop")
    )


async def test_in_a_group_words_to_the_bot_work_and_chatter_is_left_alone(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, cell = await found_cell(harness)
    member = await join(harness, secretary, "Nguyễn Thị Lan")
    await insert_meeting(sqlite_engine, cell.id, START.replace(day=START.day + 3))
    assert await harness.say(member, "họp", group=GROUP) == []  # not said to the bot
    addressed = await harness.say(member, "họp", group=GROUP, reply_to_bot=True)
    assert "Sinh hoạt chi bộ tháng 11" in texts_of(addressed)
    assert await harness.say(member, "cảm ơn", group=GROUP, reply_to_bot=True) == []
    # A private task asked in the group offers the private chat.
    [fees] = await harness.say(member, "đảng phí", group=GROUP, reply_to_bot=True)
    assert fees.continue_privately == "dangphi"


async def test_a_members_attendance_command_points_to_the_present_button(
    harness: Harness,
) -> None:
    secretary, _cell = await found_cell(harness)
    member = await join(harness, secretary, "Nguyễn Thị Lan")
    assert texts_of(await harness.say(member, "/diemdanh", group=GROUP)) == vi(
        "attendance.member_hint"
    )
    assert texts_of(await _said(harness, member, "điểm danh")) == vi("attendance.member_hint")


async def test_meeting_cards_and_reminders_carry_the_next_step(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, cell = await found_cell(harness)
    member = await join(harness, secretary, "Nguyễn Thị Lan")
    room = "https://meet.example.org/kp5"
    meeting = await insert_meeting(
        sqlite_engine, cell.id, START.replace(day=START.day + 3), online_url=room
    )
    [card] = await harness.say(member, "/hop")
    [row] = card.choices
    assert [(c.label, c.data, c.url) for c in row] == [
        (vi("menu.absence"), "go:xinvang", None),
        (vi("meeting.button.join_online"), "", room),
    ]
    assert vi("meeting.line.documents", titles="").split(":")[0] not in card.text
    services = harness.services
    [reminder] = await render_reminder(
        services.meetings,
        services.cells,
        services.documents,
        vi,
        {"meeting_id": meeting},
        START,
    )
    assert reminder.choices == card.choices
    # The «Xin vắng» of a reminder in the group points to the private chat.
    [pointer] = await harness.tap(member, "go:xinvang", group=GROUP)
    assert pointer.continue_privately == "xinvang"


async def test_a_menu_key_tapped_during_a_question_does_its_task_and_drops_the_question(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, cell = await found_cell(harness)
    member = await join(harness, secretary, "Nguyễn Thị Lan")
    await insert_meeting(sqlite_engine, cell.id, START.replace(day=START.day + 3))
    await harness.say(member, "/gopy")
    await harness.tap(member, "gk:comment")
    asked = await harness.tap(member, "gs:named")
    assert asked[-1].ask_text  # the bot now waits for the feedback's text
    listing = texts_of(await _said(harness, member, vi("menu.meetings")))
    assert "Sinh hoạt chi bộ tháng 11" in listing
    # Nothing was sent as feedback, and the question is closed: a text now is not taken.
    assert "Sinh hoạt chi bộ tháng 11" not in texts_of(await harness.say(secretary, "/gopy"))
    [after] = await _said(harness, member, "bà ơi cái này là gì")
    assert after.text == vi("menu.not_understood")


def test_member_texts_never_show_the_latin_product_name() -> None:
    """«chibo» is for the people who run the server (ops.*, and the missing-key notice that
    names the command they must run); members only ever read Vietnamese."""
    for language in ("vi", "en"):
        for key, text in catalog(language).items():
            if key.startswith("ops.") or key == "error.no_data_key":
                continue
            assert "chibo" not in text.lower(), (language, key)
