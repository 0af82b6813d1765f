"""The playground without a browser: its clock, the demo cell it seeds once, and the page's
JSON API acting as the demo people against the real bot over the local Bot API server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest

from bot.playground.bot_api import StoredMessage
from bot.playground.run import RunningPlayground, playground, playground_keys
from bot.playground.seed import MEMBER_NAMES, SECRETARY_NAME
from bot.settings import Settings
from handlers.context import Services
from handlers.i18n import Texts
from scheduler.clock import OffsetClock
from storage.audit import Actor
from storage.models import Role

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
START = datetime(2026, 12, 1, 8, 0, tzinfo=ZONE)
vi = Texts("vi")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _settings(tmp_path: Path, data_key: str) -> Settings:
    return Settings(
        playground_port=0,
        playground_database_url=f"sqlite+aiosqlite:///{tmp_path / 'playground.db'}",
        data_keys=(data_key,),
        outbox_interval_seconds=0.2,
        _env_file=None,
    )


@pytest.fixture
async def running_playground(tmp_path: Path, data_key: str) -> AsyncIterator[RunningPlayground]:
    async with playground(_settings(tmp_path, data_key), start=START) as running:
        yield running


@pytest.fixture
async def web(running_playground: RunningPlayground) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running_playground.url, timeout=10) as client:
        yield client


def _services(running: RunningPlayground) -> Services:
    services = running.chibo.runtime.services
    assert services is not None
    return services


def _has(fragment: str):  # type: ignore[no-untyped-def]
    return lambda message: fragment in (message.text or "")


async def _say(
    web: httpx.AsyncClient, running: RunningPlayground, who: int, chat: int, text: str
) -> StoredMessage:
    """Send as ``who`` through the page's API; the bot's first answer in that chat."""
    mark = running.api.mark()
    response = await web.post("/api/send", json={"user": who, "chat": chat, "text": text})
    assert response.status_code == 200, response.text
    return await running.api.wait_for_message(chat, after=mark)


# --- the clock -------------------------------------------------------------------------------


def test_offset_clock_follows_real_time_and_only_jumps_forward() -> None:
    clock = OffsetClock(START)
    first = clock.now()
    assert first >= START and first.tzinfo is not None
    assert clock.now() >= first  # it keeps flowing
    clock.advance(timedelta(days=1))
    assert clock.now() - first >= timedelta(days=1)
    assert clock.offset >= timedelta(days=1) - (datetime.now(UTC) - START)
    with pytest.raises(ValueError):
        clock.advance(timedelta(0))
    with pytest.raises(ValueError):
        OffsetClock(datetime(2026, 12, 1, 8, 0))  # naive
    assert abs(OffsetClock().now() - datetime.now(UTC)) < timedelta(seconds=5)


# --- seeding ---------------------------------------------------------------------------------


async def test_first_start_seeds_the_demo_cell_and_a_restart_keeps_what_people_did(
    tmp_path: Path, data_key: str
) -> None:
    settings = _settings(tmp_path, data_key)
    async with playground(settings, start=START) as first:
        assert first.seeded
        services = _services(first)
        cell = await services.cells.cell_for_chat("telegram", str(first.world.group.id))
        assert cell is not None and cell.name == vi("playground.demo.cell")
        roster = await services.members.roster(cell.id)
        assert sorted(m.full_name for m in roster) == sorted([SECRETARY_NAME, *MEMBER_NAMES])
        assert [m.full_name for m in roster if m.role is Role.SECRETARY] == [SECRETARY_NAME]
        assert all(m.linked for m in roster)
        [meeting] = await services.meetings.upcoming(cell.id, first.clock.now())
        assert meeting.place == vi("playground.demo.place")
        assert meeting.starts_at == datetime(2026, 12, 4, 19, 30, tzinfo=ZONE)
        # Seeding is audited like any founding and joining, with ids only: no names.
        audit = await services.audit.for_unit(cell.id)
        assert {"cell.founded", "member.joined", "meeting.created"} <= {e.action for e in audit}
        assert all(SECRETARY_NAME not in str(entry.details) for entry in audit)
        # One document, sent through the real flow, is in the group with its «Đã đọc» button.
        [document] = await services.documents.recent(cell.id)
        assert document.title == vi("playground.demo.document")
        [posted] = [m for m in first.api.sent_in(first.world.group) if m.document is not None]
        assert posted.document is not None
        assert first.api.file(posted.document["file_id"]).content.startswith(b"%PDF-1.4")
        assert [label for label, _ in posted.buttons] == [vi("document.button.read")]
        # Someone in the playground cancels the seeded meeting.
        await services.meetings.cancel(
            cell_id=cell.id,
            meeting_id=meeting.id,
            actor=Actor(f"telegram:{first.world.secretary.id}"),
            now=first.clock.now(),
        )

    async with playground(settings, start=START) as second:
        assert not second.seeded
        services = _services(second)
        cell = await services.cells.cell_for_chat("telegram", str(second.world.group.id))
        assert cell is not None
        assert len(await services.members.roster(cell.id)) == 1 + len(MEMBER_NAMES)
        # Not seeded again: the cancelled meeting stays cancelled and no new one appeared.
        assert await services.meetings.upcoming(cell.id, second.clock.now()) == []
        assert len(await services.documents.recent(cell.id)) == 1
        # The same people come back with the same accounts: the secretary is recognised.
        async with httpx.AsyncClient(base_url=second.url, timeout=10) as web:
            secretary, group = second.world.secretary.id, second.world.group.id
            listing = await _say(web, second, secretary, group, "/members")
        assert SECRETARY_NAME in (listing.text or "")


# --- the page's API --------------------------------------------------------------------------


async def test_the_page_lists_the_people_and_its_labels_come_from_the_catalog(
    web: httpx.AsyncClient, running_playground: RunningPlayground
) -> None:
    state = (await web.get("/api/state")).json()
    assert [p["name"] for p in state["people"]] == [SECRETARY_NAME, *MEMBER_NAMES]
    assert state["people"][0]["role"] == vi("playground.role.secretary")
    assert {p["role"] for p in state["people"][1:]} == {vi("playground.role.member")}
    assert state["group"]["id"] == running_playground.world.group.id
    assert state["labels"]["forward.day"] == vi("playground.forward.day")
    assert "01/12/2026" in state["clock"]
    page = await web.get("/")
    assert page.status_code == 200 and "<script>" in page.text


async def test_a_member_asks_for_the_next_meeting_in_the_group(
    web: httpx.AsyncClient, running_playground: RunningPlayground
) -> None:
    world = running_playground.world
    member = world.members[0]
    answer = await _say(web, running_playground, member.id, world.group.id, "/hop")
    assert vi("playground.demo.place") in (answer.text or "")
    shown = (
        await web.get("/api/messages", params={"user": member.id, "chat": world.group.id})
    ).json()["messages"]
    assert [m["text"] for m in shown if m["mine"]] == ["/hop"]
    assert shown[-1]["from_bot"] and shown[-1]["sender"] == running_playground.api.bot_first_name
    # Another member sees the same group, where the command is not theirs.
    other = (
        await web.get("/api/messages", params={"user": world.members[1].id, "chat": world.group.id})
    ).json()["messages"]
    assert [m["mine"] for m in other if not m["from_bot"]] == [False]


async def test_a_question_the_bot_asks_is_answered_by_the_next_text(
    web: httpx.AsyncClient, running_playground: RunningPlayground
) -> None:
    """The page replies to a ForceReply question, so flows work even in the group."""
    world, api = running_playground.world, running_playground.api
    secretary, group = world.secretary.id, world.group.id
    picker = await _say(web, running_playground, secretary, group, "/lichhop")
    day = next(data for _, data in picker.buttons if data and data.startswith("md:"))
    await _tap(web, secretary, picker, day)
    times = api.messages[(group, picker.message_id)]  # the picker turned into the hours
    mark = api.mark()
    await _tap(web, secretary, times, times.buttons[-1][1])
    ask = await api.wait_for_message(group, after=mark)
    assert ask.is_force_reply and ask.text == vi("meeting.ask_place")

    async def asked(user: int) -> list[int]:
        shown = await web.get("/api/messages", params={"user": user, "chat": group})
        return [m["id"] for m in shown.json()["messages"] if m["asks"]]

    assert await asked(secretary) == [ask.message_id]
    # The question is the secretary's: a member's plain text does not answer it, and under
    # group privacy mode the bot does not even receive it.
    member = world.members[0].id
    assert await asked(member) == []
    unseen = len(api.undelivered)
    sent = await web.post("/api/send", json={"user": member, "chat": group, "text": "Nhà tôi"})
    assert sent.status_code == 200 and len(api.undelivered) == unseen + 1
    assert sent.json()["notice"] == vi("playground.not_seen")
    title = await _say(web, running_playground, secretary, group, "Nhà bà Lan")
    assert title.buttons == [(vi("meeting.button.default_title"), "mn")]


async def test_a_refused_tap_shows_the_bots_notice(
    web: httpx.AsyncClient, running_playground: RunningPlayground
) -> None:
    world = running_playground.world
    listing = await _say(web, running_playground, world.secretary.id, world.group.id, "/hop")
    answer = await _tap(web, world.members[0].id, listing, listing.buttons[0][1])
    assert answer == {"ok": True, "notice": vi("error.leader_only")}


async def _tap(
    web: httpx.AsyncClient, who: int, message: StoredMessage, data: str | None
) -> dict[str, Any]:
    body = {"user": who, "chat": message.chat_id, "message_id": message.message_id, "data": data}
    response = await web.post("/api/tap", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_fast_forward_brings_the_seeded_meetings_reminder_to_the_group(
    web: httpx.AsyncClient, running_playground: RunningPlayground
) -> None:
    world = running_playground.world
    before = running_playground.clock.offset
    mark = running_playground.api.mark()
    response = await web.post("/api/forward", json={"step": "hour"})
    assert response.status_code == 200
    assert running_playground.clock.offset - before == timedelta(hours=1)
    # 09:00 on 01/12: the "3 days before" reminder (due 19:30 on 01/12) is not due yet.
    await running_playground.api.wait_until_idle(quiet=0.5)
    assert running_playground.api.sent_in(world.group.id, after=mark) == []
    response = await web.post("/api/forward", json={"step": "day"})
    assert "02/12/2026" in response.json()["clock"]
    reminder = await running_playground.api.wait_for_message(
        world.group.id, _has(vi("playground.demo.place")), timeout=10, after=mark
    )
    assert (reminder.text or "").startswith(vi("reminders.header", remaining="").split("—")[0])


async def test_a_document_the_bot_sends_downloads_only_from_its_own_chat(
    web: httpx.AsyncClient, running_playground: RunningPlayground
) -> None:
    member = running_playground.world.members[0]
    group = running_playground.world.group.id
    calendar = await _say(web, running_playground, member.id, member.id, "/lich")
    assert calendar.document is not None
    file_id = calendar.document["file_id"]
    shown = (await web.get("/api/messages", params={"user": member.id, "chat": member.id})).json()[
        "messages"
    ]
    assert shown[-1]["document"]["file_id"] == file_id
    download = await web.get(
        f"/api/file/{quote(file_id)}", params={"user": member.id, "chat": member.id}
    )
    assert download.status_code == 200
    assert download.content == running_playground.api.file(file_id).content
    assert b"BEGIN:VCALENDAR" in download.content
    assert download.headers["content-disposition"].startswith("attachment;")
    # Not through another chat, nor as another person.
    for params in (
        {"user": member.id, "chat": group},
        {"user": running_playground.world.members[1].id, "chat": member.id},
    ):
        refused = await web.get(f"/api/file/{quote(file_id)}", params=params)
        assert refused.status_code == 400


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/send", {"user": "{other}", "chat": "{member}", "text": "/hoso"}),
        ("/api/send", {"user": 1, "chat": "{group}", "text": "/hop"}),
        ("/api/send", {"user": "{member}", "chat": -1, "text": "/hop"}),
        ("/api/send", {"user": "{member}", "chat": "{group}", "text": "   "}),
        ("/api/send", {"user": "{member}", "chat": "{group}", "text": "x" * 5000}),
        ("/api/send", {"user": "{member}", "chat": "{group}", "text": ["/hop"]}),
        ("/api/tap", {"user": "{member}", "chat": "{group}", "message_id": 1, "data": "my:1"}),
        ("/api/tap", {"user": "{member}", "chat": "{group}", "message_id": "1", "data": "x"}),
        ("/api/vote", {"user": "{member}", "chat": "{group}", "message_id": 1, "option": 0}),
        ("/api/forward", {"step": "year"}),
        ("/api/forward", ["day"]),
    ],
)
async def test_bad_requests_are_refused_and_change_nothing(
    web: httpx.AsyncClient, running_playground: RunningPlayground, path: str, body: Any
) -> None:
    world = running_playground.world
    # One message in the group, so message_id 1 exists and the refusal is about the request.
    await _say(web, running_playground, world.members[0].id, world.group.id, "/hop")
    await running_playground.api.wait_until_idle(quiet=0.3)
    ids = {
        '"{member}"': str(world.members[0].id),
        '"{other}"': str(world.members[1].id),
        '"{group}"': str(world.group.id),
    }
    raw = json.dumps(body)
    for placeholder, value in ids.items():
        raw = raw.replace(placeholder, value)
    # Everything the page does lands in the server's state at once: nothing to wait for.
    before = len(running_playground.api.messages)
    offset = running_playground.clock.offset
    response = await web.post(path, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"] == vi("playground.error")
    assert len(running_playground.api.messages) == before
    assert running_playground.clock.offset == offset


async def test_malformed_json_is_refused(web: httpx.AsyncClient) -> None:
    for content in (b"{not json", b"\xff\xfe", b"x" * 20_000):
        response = await web.post("/api/send", content=content)
        assert response.status_code == 400


async def test_a_quiz_is_answered_once_and_shows_its_answer_only_to_who_answered(
    web: httpx.AsyncClient, running_playground: RunningPlayground
) -> None:
    world = running_playground.world
    sent = await running_playground.chibo.application.bot.send_poll(
        world.group.id,
        "Chi bộ họp thường kỳ mấy lần một tháng?",
        ["Một lần", "Hai lần"],
        type="quiz",
        correct_option_id=0,
        is_anonymous=False,
    )
    member, other = world.members[0].id, world.members[1].id

    async def poll_seen_by(user: int) -> dict[str, Any]:
        shown = await web.get("/api/messages", params={"user": user, "chat": world.group.id})
        [poll] = [m["poll"] for m in shown.json()["messages"] if "poll" in m]
        return poll  # type: ignore[no-any-return]

    before = await poll_seen_by(member)
    assert before["quiz"] and not before["answered"]
    assert [o["correct"] for o in before["options"]] == [None, None]
    body = {"user": member, "chat": world.group.id, "message_id": sent.message_id}
    assert (await web.post("/api/vote", json={**body, "option": 1})).status_code == 200
    after = await poll_seen_by(member)
    assert [(o["chosen"], o["correct"], o["votes"]) for o in after["options"]] == [
        (False, True, 0),
        (True, False, 1),
    ]
    # A quiz answer is final; someone who has not answered still sees no answer.
    assert (await web.post("/api/vote", json={**body, "option": 0})).status_code == 400
    assert [o["correct"] for o in (await poll_seen_by(other))["options"]] == [None, None]


def test_without_configured_keys_the_playground_keeps_one_beside_its_database(
    tmp_path: Path, data_key: str
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo' / 'playground.db'}"
    bare = Settings(playground_database_url=url, _env_file=None)
    [first] = playground_keys(bare)
    [again] = playground_keys(bare)
    assert first.get_secret_value() == again.get_secret_value()  # a restart reads old data
    key_file = tmp_path / "demo" / "playground.key"
    assert key_file.stat().st_mode & 0o077 == 0
    configured = Settings(playground_database_url=url, data_keys=data_key, _env_file=None)
    assert [k.get_secret_value() for k in playground_keys(configured)] == [data_key]


async def test_the_secretary_imports_a_roster_file_from_the_page(
    web: httpx.AsyncClient, running_playground: RunningPlayground
) -> None:
    world, api = running_playground.world, running_playground.api
    secretary = world.secretary.id
    roster = "Họ và tên;Ngày sinh\nNguyễn Văn An;05/03/1950\n".encode()
    mark = api.mark()
    response = await web.post(
        "/api/upload",
        params={"user": secretary, "chat": secretary, "name": "C:\\Tệp\\danh-sach.csv"},
        content=roster,
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 200
    done = await api.wait_for_message(secretary, _has("Đã nhập 1 đảng viên"), after=mark)
    assert "Nguyễn Văn An" in (done.text or "")
    shown = (await web.get("/api/messages", params={"user": secretary, "chat": secretary})).json()[
        "messages"
    ]
    sent = [m for m in shown if m["mine"]][-1]  # the seeded document came before it
    assert sent["document"]["name"] == "danh-sach.csv"  # the folder never leaves the page


@pytest.mark.parametrize(
    ("who", "name", "content"),
    [
        ("{other}", "a.csv", b"x"),  # someone else's private chat
        ("{secretary}", "", b"x"),
        ("{secretary}", "a" * 300, b"x"),
        ("{secretary}", "a.csv", b""),
        ("{secretary}", "a.csv", b"x" * (10 * 1024 * 1024 + 1)),
    ],
)
async def test_bad_uploads_are_refused_and_send_nothing(
    web: httpx.AsyncClient,
    running_playground: RunningPlayground,
    who: str,
    name: str,
    content: bytes,
) -> None:
    world = running_playground.world
    user = {"{other}": world.members[0].id, "{secretary}": world.secretary.id}[who]
    before = len(running_playground.api.messages)
    response = await web.post(
        "/api/upload",
        params={"user": user, "chat": world.secretary.id, "name": name},
        content=content,
    )
    assert response.status_code == 400
    assert len(running_playground.api.messages) == before
