"""The demo cell: the same people in the local Bot API server and in the database.

Chat and user ids are fixed, so a restart finds the cell it seeded before; the Bot API
server's side lives in memory and is laid anew on every start, the database's only once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.playground.bot_api import FakeBotApi, FakeChat, FakeUser
from handlers.context import Services
from handlers.core import Platform
from storage.audit import Actor
from storage.meetings import MeetingDetails
from storage.models import MeetingKind

PLATFORM = Platform.TELEGRAM.value
GROUP_ID = -1_009_000_000_001
# Above 2**31 like real Telegram ids, and apart from the ids the server hands out itself.
FIRST_USER_ID = 7_100_000_001
SECRETARY_NAME = "Nguyễn Văn Thành"
MEMBER_NAMES = (
    "Trần Thị Lan",
    "Lê Văn Hùng",
    "Phạm Thị Mai",
    "Hoàng Văn Bình",
    "Vũ Thị Hồng",
    "Đặng Văn Minh",
    "Bùi Thị Thu",
    "Đỗ Văn Nam",
)
# The seeded meeting: three days ahead in the evening, so the first fast-forward by a day
# already brings its "3 days before" reminder to the group.
MEETING_IN_DAYS = 3
MEETING_AT = time(19, 30)


@dataclass(frozen=True)
class DemoWorld:
    group: FakeChat
    secretary: FakeUser
    members: tuple[FakeUser, ...]

    @property
    def people(self) -> tuple[FakeUser, ...]:
        return (self.secretary, *self.members)


async def populate(api: FakeBotApi, group_title: str) -> DemoWorld:
    """The demo people and their group in the Bot API server (its state is not persisted)."""
    names = (SECRETARY_NAME, *MEMBER_NAMES)
    people = [
        await api.add_user(name, user_id=FIRST_USER_ID + number)
        for number, name in enumerate(names)
    ]
    secretary, *members = people
    group = await api.add_group(group_title, admins=[secretary], members=members, chat_id=GROUP_ID)
    for person in people:
        await api.private_chat(person)
    return DemoWorld(group, secretary, tuple(members))


async def seed(services: Services, world: DemoWorld, now: datetime) -> bool:
    """Found the demo cell through the real repositories, once; True when it did.

    A second start finds the group linked and changes nothing, so whatever a person did in
    the playground (cancelled the meeting, changed roles) stays as they left it."""
    texts = services.texts
    if await services.cells.cell_for_chat(PLATFORM, str(world.group.id)) is not None:
        return False
    cell, secretary = await services.cells.found_cell(
        platform=PLATFORM,
        chat_id=str(world.group.id),
        chat_title=world.group.title,
        cell_name=texts("playground.demo.cell"),
        timezone=services.default_timezone,
        secretary_name=world.secretary.full_name,
        secretary_user_id=str(world.secretary.id),
        now=now,
    )
    for person in world.members:
        await services.members.request_join(
            cell_id=cell.id,
            platform=PLATFORM,
            user_id=str(person.id),
            full_name=person.full_name,
            accept_at_once=True,
            now=now,
        )
    zone = ZoneInfo(cell.timezone)
    day = now.astimezone(zone).date() + timedelta(days=MEETING_IN_DAYS)
    starts_at = datetime.combine(day, MEETING_AT, zone)
    await services.meetings.create(
        cell_id=cell.id,
        details=MeetingDetails(
            kind=MeetingKind.REGULAR,
            title=texts("meeting.default_title", month=starts_at.month, year=starts_at.year),
            starts_at=starts_at,
            place=texts("playground.demo.place"),
            online_url=None,
            agenda=texts("playground.demo.agenda"),
        ),
        actor=Actor(f"{PLATFORM}:{world.secretary.id}", secretary.id),
        now=now,
    )
    return True
