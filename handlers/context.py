"""What a handler receives: the inbound message, the services, the platform gateway, and who
is acting where — one typed object instead of string-keyed lookups."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.core import Inbound, Platform, Reply
from handlers.i18n import Texts
from handlers.numbers import parse_number
from scheduler.clock import Clock
from storage.absences import AbsenceRepository
from storage.attendance import AttendanceRepository
from storage.audit import Actor, AuditRepository
from storage.cells import CellRepository
from storage.crypto import FieldCipher
from storage.documents import DocumentRepository
from storage.fee_rules import FeeConfig
from storage.feedback import FeedbackRepository
from storage.fees import FeeRepository
from storage.linking import LinkRepository
from storage.meetings import MeetingRepository
from storage.members import MemberRepository
from storage.models import Member, OrgKind, OrgUnit, Role
from storage.pending import PendingInput, PendingInputRepository
from storage.reports import ReportRepository
from storage.review import ReviewRepository
from storage.study import StudyRepository


class PlatformGateway(Protocol):
    """The few things a handler must ask the platform itself."""

    @property
    def platform(self) -> Platform: ...

    async def is_chat_admin(self, chat_id: str, user_id: str) -> bool: ...

    async def download(self, file_id: str) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Services:
    cells: CellRepository
    members: MemberRepository
    meetings: MeetingRepository
    attendance: AttendanceRepository
    absences: AbsenceRepository
    documents: DocumentRepository
    audit: AuditRepository
    pending: PendingInputRepository
    feedback: FeedbackRepository
    links: LinkRepository
    fees: FeeRepository
    reports: ReportRepository
    review: ReviewRepository
    study: StudyRepository
    clock: Clock
    texts: Texts
    default_timezone: str
    operator_ids: frozenset[str]

    @classmethod
    def over(
        cls,
        engine: AsyncEngine,
        cipher: FieldCipher,
        fee_config: FeeConfig,
        *,
        clock: Clock,
        texts: Texts,
        default_timezone: str,
        operator_ids: frozenset[str] = frozenset(),
    ) -> Services:
        """Every repository over one engine (the bot, the test harness and the benchmarks
        all build the same set)."""
        return cls(
            cells=CellRepository(engine),
            members=MemberRepository(engine, cipher),
            meetings=MeetingRepository(engine),
            attendance=AttendanceRepository(engine),
            absences=AbsenceRepository(engine),
            documents=DocumentRepository(engine),
            audit=AuditRepository(engine),
            pending=PendingInputRepository(engine),
            feedback=FeedbackRepository(engine),
            links=LinkRepository(engine),
            fees=FeeRepository(engine, cipher, fee_config),
            reports=ReportRepository(engine),
            review=ReviewRepository(engine),
            study=StudyRepository(engine),
            clock=clock,
            texts=texts,
            default_timezone=default_timezone,
            operator_ids=operator_ids,
        )


# How long a question the bot asked waits for its answer, unless the asker says otherwise.
ANSWER_TTL = timedelta(minutes=30)


class UserError(Exception):
    """Something the person can fix; ``key`` names the catalog message that says how."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


class QuestionGone(UserError):
    """The open question can no longer be answered (its meeting, draft or item is gone): it
    closes. Any other UserError raised while answering leaves the question open to retype."""


def button_id(args: list[str], position: int = 0) -> int:
    """The number at ``position`` of a button's data (a row id, a page, an option), within
    what a row id can be; anything else is a stale button."""
    value = parse_number(args[position]) if len(args) > position else None
    if value is None:
        raise QuestionGone("error.stale_button")
    return value


@dataclass(frozen=True, slots=True)
class Context:
    inbound: Inbound
    services: Services
    gateway: PlatformGateway
    actor: Member | None
    cell: OrgUnit | None
    # Runs a command by name as if it were typed, with the dispatcher's scope and access checks
    # (a task picked from a menu, or asked for in plain words).
    run_command: Callable[[Context, str], Awaitable[list[Reply]]]

    def t(self, key: str, /, **values: object) -> str:
        """A text as said on the platform the person wrote from."""
        return self.services.texts.on(self.inbound.platform)(key, **values)

    @property
    def now(self) -> datetime:
        return self.services.clock.now()

    @property
    def audit_actor(self) -> Actor:
        label = f"{self.inbound.platform}:{self.inbound.user_id}"
        return Actor(label, self.actor.id if self.actor else None)

    @property
    def is_secretary(self) -> bool:
        return self.actor is not None and self.actor.role is Role.SECRETARY

    @property
    def is_office(self) -> bool:
        """The actor works for a committee office (their unit is the committee itself)."""
        return self.cell is not None and self.cell.kind is OrgKind.COMMITTEE

    async def expect_answer(
        self, flow: str, data: dict[str, object], *, ttl: timedelta = ANSWER_TTL
    ) -> None:
        """Wait for this person's next text in this chat (it replaces any earlier question)."""
        inbound = self.inbound
        await self.services.pending.expect(
            platform=inbound.platform,
            chat_id=inbound.chat_id,
            user_id=inbound.user_id,
            flow=flow,
            data=data,
            expires_at=self.now + ttl,
        )

    async def take_question(self) -> PendingInput | None:
        """Remove and return this person's open question in this chat, if still fresh."""
        inbound = self.inbound
        return await self.services.pending.take(
            platform=inbound.platform,
            chat_id=inbound.chat_id,
            user_id=inbound.user_id,
            now=self.now,
        )

    async def take_answer(self, flow: str) -> dict[str, object] | None:
        """The open question's data if it belongs to ``flow``; either way it is closed."""
        pending = await self.take_question()
        return pending.data if pending is not None and pending.flow == flow else None

    def require_cell(self) -> OrgUnit:
        if self.cell is None:
            raise UserError("error.no_cell_here" if self.inbound.is_group else "error.not_member")
        return self.cell

    def require_actor(self) -> Member:
        if self.actor is None:
            raise UserError("error.not_member")
        return self.actor
