"""Records the storage layer hands out, and the closed vocabularies stored in text columns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class OrgKind(StrEnum):
    COMMITTEE = "committee"
    CELL = "cell"


class Role(StrEnum):
    SECRETARY = "secretary"
    DEPUTY = "deputy"
    COMMITTEE = "committee"
    MEMBER = "member"


class MemberStatus(StrEnum):
    OFFICIAL = "official"
    PROBATIONARY = "probationary"
    EXEMPTED = "exempted"
    TEMPORARILY_EXEMPTED = "temporarily_exempted"


class MemberState(StrEnum):
    """Where a record is in its life: waiting for the secretary, or on the roster."""

    PENDING = "pending"
    ACTIVE = "active"


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"


class PersonalField(StrEnum):
    """Fields encrypted at rest and shown only privately to the member and the secretary."""

    CITIZEN_ID = "citizen_id"
    CARD_NUMBER = "card_number"
    PHONE = "phone"


@dataclass(frozen=True, slots=True)
class OrgUnit:
    id: int
    kind: OrgKind
    parent_id: int | None
    name: str
    timezone: str
    auto_accept: bool
    absentees_in_group: bool = False


@dataclass(frozen=True, slots=True)
class LinkedChat:
    platform: str
    external_id: str
    org_unit_id: int
    title: str | None


@dataclass(frozen=True, slots=True)
class Member:
    id: int
    cell_id: int
    full_name: str
    role: Role
    status: MemberStatus
    state: MemberState
    gender: Gender | None
    birth_date: date | None
    admitted_on: date | None
    official_on: date | None
    linked: bool

    @property
    def leads(self) -> bool:
        """Secretary or deputy: may run the cell's day-to-day business."""
        return self.role in (Role.SECRETARY, Role.DEPUTY)


@dataclass(frozen=True, slots=True)
class PersonalData:
    citizen_id: str | None
    card_number: str | None
    phone: str | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    org_unit_id: int | None
    actor_member_id: int | None
    actor: str
    action: str
    target: str | None
    details: dict[str, object]


@dataclass(frozen=True, slots=True)
class RosterRow:
    """One validated line of a roster import."""

    full_name: str
    birth_date: date | None
    gender: Gender | None
    admitted_on: date | None
    official_on: date | None
    card_number: str | None
    citizen_id: str | None
    phone: str | None
    status: MemberStatus


class MeetingKind(StrEnum):
    REGULAR = "regular"
    THEMATIC = "thematic"
    COMMITTEE = "committee"


class MeetingStatus(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class SeriesRule(StrEnum):
    """How a recurring meeting repeats: on day N of each month, or on the Nth weekday."""

    MONTHLY_DAY = "monthly_day"
    MONTHLY_WEEKDAY = "monthly_weekday"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class AttendanceState(StrEnum):
    PRESENT = "present"
    EXCUSED = "excused"  # absent with an approved reason
    ABSENT = "absent"  # absent without reason


class AttendanceMode(StrEnum):
    IN_PERSON = "in_person"
    ONLINE = "online"


class DocumentKind(StrEnum):
    FILE = "file"
    # A Telegram photo: re-sent with sendPhoto, since its file id is not a document's.
    PHOTO = "photo"
    LINK = "link"


class AbsenceReason(StrEnum):
    SICK = "sick"
    BUSINESS_TRIP = "business_trip"
    FAMILY = "family"
    OTHER = "other"


class AbsenceStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class FeedbackKind(StrEnum):
    """góp ý, phản ánh, kiến nghị, đề xuất."""

    COMMENT = "comment"
    REPORT = "report"
    PETITION = "petition"
    PROPOSAL = "proposal"


class FeedbackStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    ANSWERED = "answered"
    FORWARDED = "forwarded"
    CLOSED = "closed"


class FeeBasisKind(StrEnum):
    """What a member's party fee is a share of."""

    SALARY = "salary"
    PENSION = "pension"
    MIN_WAGE = "min_wage"  # the regional minimum wage


class StudyStatus(StrEnum):
    DRAFT = "draft"  # questions are being added; members do not see it yet
    OPEN = "open"


class ReviewGrade(StrEnum):
    """The four grades a cell gives its members at year end (Quy định 124-QĐ/TW)."""

    EXCELLENT = "excellent"  # Hoàn thành xuất sắc nhiệm vụ
    GOOD = "good"  # Hoàn thành tốt nhiệm vụ
    DONE = "done"  # Hoàn thành nhiệm vụ
    NOT_DONE = "not_done"  # Không hoàn thành nhiệm vụ


class SelfReviewKind(StrEnum):
    TEXT = "text"
    FILE = "file"
