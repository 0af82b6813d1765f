"""The demo cell: the same people in the local Bot API server and in the database.

Chat and user ids are fixed, so a restart finds the cell it seeded before; the Bot API
server's side lives in memory and is laid anew on every start, the database's only once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.playground.bot_api import FakeBotApi, FakeChat, FakeUser, StoredMessage
from handlers.context import Services
from handlers.core import Platform
from handlers.i18n import Texts
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


DEMO_DOCUMENT = "nghi-quyet-chi-bo.pdf"
FLOW_TIMEOUT = 30.0


def demo_pdf(text: str) -> bytes:
    """A one-page PDF saying ``text`` (ASCII: the standard fonts carry no Vietnamese)."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    body = b"%PDF-1.4\n"
    offsets = []
    for number, content in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n%s\nendobj\n" % (number, content)
    table = b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    table += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    trailer = b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        len(body),
    )
    return body + table + trailer


async def send_demo_document(api: FakeBotApi, world: DemoWorld, texts: Texts) -> StoredMessage:
    """The secretary sends one document the way a person would: a PDF in his private chat,
    then «Gửi» on the card; the real documents flow stores it and posts it to the group with
    its «Đã đọc» button."""
    private = await api.private_chat(world.secretary)
    mark = api.mark()
    await api.send_document(
        private,
        world.secretary,
        DEMO_DOCUMENT,
        demo_pdf("Nghi quyet chi bo - tai lieu dung thu"),
        "application/pdf",
        caption=texts("playground.demo.document"),
    )
    card = await api.wait_for_message(private, lambda m: bool(m.buttons), FLOW_TIMEOUT, after=mark)
    await api.tap(world.secretary, card, button_text=texts("document.button.send"))
    return await api.wait_for_message(
        world.group, lambda m: m.document is not None, FLOW_TIMEOUT, after=mark
    )
