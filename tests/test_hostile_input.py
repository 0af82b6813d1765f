"""Forged, stale and hostile input through the real dispatcher, on SQLite and PostgreSQL.

Button data is client-controlled: every prefix the registry knows is pressed with malformed data
(Unicode digits, ids past 32 bits, over-long and non-ASCII strings) and with real ids of another
cell, by people of every role and of no role. Each press must get a plain answer, raise nothing
and change nothing stored. Commands and open questions are fuzzed with hostile text (hypothesis).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.catalog import build_registry
from handlers.core import Reply
from handlers.i18n import Texts, catalog
from handlers.registry import ID
from scheduler.clock import ManualClock
from storage.audit import Actor
from storage.crypto import FieldCipher
from storage.documents import NewDocument
from storage.models import DocumentKind, FeedbackKind, Role
from storage.schema import metadata
from tests.conftest import START
from tests.support.harness import Harness, Person, buttons_of
from tests.test_attendance import GROUP, OTHER_GROUP, found_cell, insert_meeting, join, member_id

vi = Texts("vi")
NEXT_WEEK = START + timedelta(days=7)


# Answers a forged or stale press may get: the catalog's refusals, by their keys' own naming
# ("error.stale_button", "document.error.draft_gone", …). Anything else means the forged data
# was taken for real.
def _refusal_pattern(template: str) -> str:
    return ".*".join(re.escape(part) for part in re.split(r"\{[a-z_]+\}", template))


REFUSAL = re.compile(
    "|".join(
        f"(?:{_refusal_pattern(text)})"
        for key, text in catalog("vi").items()
        if key.startswith("error.") or ".error." in key
    ),
    re.DOTALL,
)


# Malformed arguments: Unicode digits that str.isdigit() takes, ids past PostgreSQL's INTEGER,
# signs, empty parts, too many parts, and text where a number belongs.
MALFORMED_ARGS: tuple[str, ...] = (
    ":²",
    ":٣",
    ":１",
    ":2147483648",
    ":99999999999999999999",
    ":-1",
    ":1e3",
    ": 1",
    ":abc",
    ":²:²",
    ":2147483648:2147483648",
    ":1:2:3:4:5:6:7:8",
    ":" + "9" * 40,
    ":" + "ä" * 20,
    ":\x00",
)


@dataclass
class World:
    """Two cells, each with a secretary, a deputy and a member; cell A has a meeting, an
    absence request, a feedback item and a document. Cell B's ids are what A's people forge."""

    harness: Harness
    stranger: Person
    member: Person
    deputy: Person
    secretary: Person
    other_secretary: Person
    other_member: Person
    a_ids: tuple[int, ...]
    b_ids: tuple[int, ...]

    def people(self) -> Iterator[tuple[str, Person]]:
        yield "stranger", self.stranger
        yield "member", self.member
        yield "deputy", self.deputy
        yield "secretary", self.secretary
        yield "other cell's secretary", self.other_secretary

    def foreign_ids(self, person: Person) -> tuple[int, ...]:
        """Real ids of a cell that is not ``person``'s own."""
        return self.a_ids if person is self.other_secretary else self.b_ids


async def _populate(harness: Harness, engine: AsyncEngine, group: str, suffix: str) -> dict:  # type: ignore[type-arg]
    secretary, cell = await found_cell(harness, group, name=f"Chi bộ Khu phố 5{suffix}")
    deputy = await join(harness, secretary, f"Phạm Văn Phó{suffix}", group)
    member = await join(harness, secretary, f"Lê Văn Nam{suffix}", group)
    deputy_id = await member_id(harness, deputy)
    await harness.services.members.set_role(
        cell_id=cell.id, member_id=deputy_id, role=Role.DEPUTY, actor=Actor("test"), now=START
    )
    meeting = await insert_meeting(engine, cell.id, NEXT_WEEK, title=f"Họp tháng 12{suffix}")
    await harness.say(member, "/xinvang")
    replies = await harness.tap(member, f"xr:{meeting}:sick")
    await harness.tap(member, buttons_of(replies)[vi("absence.button.send")])
    item = await harness.services.feedback.submit(
        cell_id=cell.id,
        member_id=await member_id(harness, member),
        kind=FeedbackKind.PROPOSAL,
        text=f"Đề nghị sửa đèn đường{suffix}",
        actor=Actor("test"),
        now=START,
    )
    document = await harness.services.documents.create(
        unit_id=cell.id,
        new=NewDocument(
            kind=DocumentKind.LINK,
            title=f"Nghị quyết số 5{suffix}",
            sha256=hashlib.sha256(suffix.encode() + b"doc").hexdigest(),
            platform="telegram",
            url="https://example.org/nq5",
            meeting_id=meeting,
        ),
        target_cell_ids=[cell.id],
        sender_member_id=await member_id(harness, secretary),
        actor=Actor("test"),
        now=START,
    )
    return {
        "secretary_id": await member_id(harness, secretary),
        "secretary": secretary,
        "deputy": deputy,
        "member": member,
        "ids": (
            cell.id,
            meeting,
            item.id,
            document.id,
            deputy_id,
            await member_id(harness, member),
        ),
    }


async def _world(engine: AsyncEngine, cipher: FieldCipher) -> World:
    harness = Harness(engine, cipher, ManualClock(START))
    a = await _populate(harness, engine, GROUP, "")
    # Cells in between, so that every id of cell B (of any kind) is larger than every id of
    # cell A: a forged id of B's can then never be a real id of A's by coincidence.
    for filler in range(3):
        await _populate(harness, engine, f"-100{500 + filler}", f" C{filler}")
    b = await _populate(harness, engine, OTHER_GROUP, " B")
    assert min(b["ids"]) > max(a["ids"]) >= max(a["secretary_id"], a["ids"][-1])
    return World(
        harness=harness,
        stranger=harness.person("Người Lạ"),
        member=a["member"],
        deputy=a["deputy"],
        secretary=a["secretary"],
        other_secretary=b["secretary"],
        other_member=b["member"],
        a_ids=a["ids"],
        b_ids=b["ids"],
    )


async def _snapshot(engine: AsyncEngine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in a stable order."""
    async with engine.connect() as connection:
        return {
            table.name: sorted(
                (tuple(row) for row in await connection.execute(select(table))), key=repr
            )
            for table in metadata.sorted_tables
        }


def _changed(
    before: dict[str, list[tuple[object, ...]]], after: dict[str, list[tuple[object, ...]]]
) -> list[str]:
    return [name for name in before if before[name] != after[name]]


def _texts(replies: list[Reply]) -> list[str]:
    return [reply.text for reply in replies]


def _forgeries(prefix: str, foreign_ids: tuple[int, ...]) -> list[str]:
    """Malformed data, and another cell's real ids wherever this button carries an id."""
    forged = [prefix + args for args in MALFORMED_ARGS]
    if ID in REGISTRY.find_action(prefix).shape:  # type: ignore[union-attr]
        forged += [f"{prefix}:{foreign}" for foreign in foreign_ids]
        forged += [f"{prefix}:{foreign_ids[1]}:{foreign}" for foreign in foreign_ids]
    return forged


REGISTRY = build_registry()
PREFIXES = sorted(action.prefix for action in REGISTRY.actions())


async def test_the_registry_knows_the_prefixes_this_test_presses() -> None:
    # Guards the fuzz below against pressing nothing.
    assert len(PREFIXES) > 40
    assert {"mb", "jn", "cc", "dr", "hy"} <= set(PREFIXES)


# What cell B holds that nobody outside it may see.
B_SECRETS = ("Lê Văn Nam B", "Phạm Văn Phó B", "Nghị quyết số 5 B", "Đề nghị sửa đèn đường B")


def _shown(reply: Reply) -> str:
    return reply.text + "".join(choice.label for row in reply.choices for choice in row)


async def test_every_button_with_forged_data_is_refused_and_changes_nothing(
    engine: AsyncEngine, cipher: FieldCipher
) -> None:
    """Also: another cell's real ids never show that cell's names or titles."""
    world = await _world(engine, cipher)
    harness = world.harness
    presses = 0
    before = await _snapshot(engine)
    for prefix in PREFIXES:
        for role, person in world.people():
            for chat in (None, GROUP):
                for data in _forgeries(prefix, world.foreign_ids(person)):
                    replies = await harness.tap(person, data, group=chat)
                    presses += 1
                    texts = _texts(replies)
                    assert vi("error.internal") not in texts
                    if person is not world.other_secretary:
                        leaked = [
                            _shown(r) for r in replies if any(x in _shown(r) for x in B_SECRETS)
                        ]
                        assert not leaked, (role, data, leaked)
                    if data.removeprefix(prefix) in MALFORMED_ARGS:
                        assert texts and all(REFUSAL.fullmatch(t) for t in texts), (
                            role,
                            chat,
                            data,
                            texts,
                        )
                    else:
                        assert texts, (role, chat, data)
        after = await _snapshot(engine)
        assert not _changed(before, after), (prefix, _changed(before, after))
    assert presses > 10_000


# --- commands and open questions with hostile text ----------------------------------------

HOSTILE_TEXT = st.one_of(
    st.text(max_size=60),
    st.text(alphabet="0123456789²³¹٣١２:/-.,# đĐ", max_size=30),
    st.sampled_from(
        [
            "²",
            "٣/١٢ ١٩h",
            "2147483648",
            "9" * 400,
            "31/12/9999 19h",
            "1/1/10000",
            "²m",
            "-5",
            "13/2026",
            "0",
            '=HYPERLINK("http://x")',
            "\u202e\u0000\u200b",
            "<b>x</b>",
            "@Chi bộ số 1",
            "x" * 4096,
            "x" * 4097,
        ]
    ),
)

COMMANDS = sorted(command.vi for command in build_registry().commands())


@pytest.fixture
async def hostile_world(engine: AsyncEngine, cipher: FieldCipher) -> World:
    return await _world(engine, cipher)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    command=st.sampled_from(COMMANDS),
    args=HOSTILE_TEXT,
    role=st.sampled_from(["stranger", "member", "deputy", "secretary"]),
    in_group=st.booleans(),
)
async def test_every_command_takes_hostile_arguments_calmly(
    hostile_world: World, command: str, args: str, role: str, in_group: bool
) -> None:
    person = dict(hostile_world.people())[role]
    replies = await hostile_world.harness.say(
        person, f"/{command} {args}", group=GROUP if in_group else None
    )
    assert vi("error.internal") not in _texts(replies)


FLOWS = sorted(flow.name for flow in build_registry().flows())


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    flow=st.sampled_from(FLOWS),
    data=st.sampled_from(
        [{}, {"meeting_id": "²"}, {"member": 2**31}, {"id": "x"}, {"campaign": -1}, None]
    ),
    text=HOSTILE_TEXT,
    role=st.sampled_from(["member", "deputy", "secretary"]),
    in_group=st.booleans(),
)
async def test_every_open_question_takes_hostile_answers_calmly(
    hostile_world: World,
    flow: str,
    data: dict[str, object] | None,
    text: str,
    role: str,
    in_group: bool,
) -> None:
    """A question left open with odd stored data (a forged or outdated draft), answered with
    hostile text, gets a plain answer."""
    harness = hostile_world.harness
    person = dict(hostile_world.people())[role]
    chat = GROUP if in_group else person.user_id
    await harness.services.pending.expect(
        platform="telegram",
        chat_id=chat,
        user_id=person.user_id,
        flow=flow,
        data=data if data is not None else {"meeting_id": hostile_world.b_ids[1]},
        expires_at=START + timedelta(hours=1),
    )
    replies = await harness.say(person, text, group=GROUP if in_group else None)
    assert vi("error.internal") not in _texts(replies)


# --- a continuation is a new request ---------------------------------------------------------


async def _demote(world: World) -> None:
    cell = await world.harness.services.cells.cell_for_chat("telegram", GROUP)
    assert cell is not None
    await world.harness.services.members.set_role(
        cell_id=cell.id,
        member_id=world.a_ids[4],
        role=Role.MEMBER,
        actor=Actor("test"),
        now=START,
    )


async def test_a_deputy_demoted_mid_question_cannot_finish_it(
    sqlite_engine: AsyncEngine, cipher: FieldCipher
) -> None:
    world = await _world(sqlite_engine, cipher)
    harness, deputy = world.harness, world.deputy
    meeting, item = world.a_ids[1], world.a_ids[2]

    # Three questions a deputy may open: a meeting's place, a feedback answer, a fee basis.
    await harness.tap(deputy, f"mf:{meeting}:place", group=GROUP)
    await harness.tap(deputy, f"ga:{item}:answered")
    await _demote(world)
    before = await _snapshot(sqlite_engine)

    edited = await harness.say(deputy, "Nhà văn hóa mới", group=GROUP)
    answered = await harness.say(deputy, "Đã xong")

    assert _texts(edited) == [vi("error.leader_only")]
    assert _texts(answered) == [vi("error.leader_only")]
    after = await _snapshot(sqlite_engine)
    assert _changed(before, after) == ["pending_inputs"]  # the questions are closed, no more
    assert after["pending_inputs"] == []


async def test_a_stored_question_that_no_longer_fits_is_answered_as_stale(
    sqlite_engine: AsyncEngine, cipher: FieldCipher
) -> None:
    world = await _world(sqlite_engine, cipher)
    await world.harness.services.pending.expect(
        platform="telegram",
        chat_id=world.secretary.user_id,
        user_id=world.secretary.user_id,
        flow="meeting_edit",
        data={"meeting_id": "²", "field": "place"},
        expires_at=START + timedelta(hours=1),
    )
    before = await _snapshot(sqlite_engine)
    replies = await world.harness.say(world.secretary, "Hội trường mới")
    assert _texts(replies) == [vi("error.stale_question")]
    assert _changed(before, await _snapshot(sqlite_engine)) == ["pending_inputs"]


# --- odd digits get plain refusals -------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "refusal"),
    [
        ("/lichhop 31/12/9999 19h Hội trường", "meeting.error.too_far"),
        ("/lichhop 5/1/2099 19h Hội trường", "meeting.error.too_far"),
        ("/nhacnho ²m", "reminders.error.bad"),
        ("/nhacnho ٣ ngày", "reminders.error.bad"),
        ("/bienban ²", "minutes.bad_number"),
        ("/bienban 2147483648", "minutes.bad_number"),
        ("/gopy 99999999999999999999", "feedback.bad_number"),
    ],
)
async def test_odd_numbers_in_commands_get_plain_refusals(
    sqlite_engine: AsyncEngine, cipher: FieldCipher, command: str, refusal: str
) -> None:
    world = await _world(sqlite_engine, cipher)
    private = command.startswith(("/bienban", "/gopy"))
    replies = await world.harness.say(world.secretary, command, group=None if private else GROUP)
    assert vi(refusal, years=2) in _texts(replies), _texts(replies)


async def test_a_nul_in_text_names_or_file_names_is_dropped_before_storage(
    engine: AsyncEngine, cipher: FieldCipher
) -> None:
    """PostgreSQL's text cannot hold NUL: found by the command fuzz above (`/tailieu \\x00`)."""
    world = await _world(engine, cipher)
    harness = world.harness
    found = await harness.say(world.member, "/tailieu nghị\x00 quyết")
    assert vi("error.internal") not in _texts(found) and found
    newcomer = harness.person("Hoàng\x00 Văn Mới")
    asked = await harness.say(newcomer, "/thamgia", group=GROUP)
    assert any("Hoàng Văn Mới" in text for text in _texts(asked)), _texts(asked)
    sent = await harness.send_file(world.secretary, "danh\x00sach.csv", b"Ho va ten\nA")
    assert vi("error.internal") not in _texts(sent) and sent
