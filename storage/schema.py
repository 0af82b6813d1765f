"""The database schema (SQLAlchemy Core). Alembic migrations in storage/migrations create it.

Platform ids are text keyed by (platform, external id): Telegram ids outgrow 32 bits and Zalo ids
are strings. Personal data (citizen id, party card number, phone) is stored only as Fernet tokens.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import false
from sqlalchemy.types import TypeDecorator

from storage.models import (
    AbsenceReason,
    AbsenceStatus,
    AttendanceMode,
    AttendanceState,
    DocumentKind,
    FeeBasisKind,
    FeedbackKind,
    FeedbackStatus,
    Gender,
    MeetingKind,
    MeetingStatus,
    MemberState,
    MemberStatus,
    OrgKind,
    OutboxStatus,
    ReviewGrade,
    Role,
    SelfReviewKind,
    SeriesRule,
    StudyStatus,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend.

    SQLite keeps no offset, so values are normalised to UTC before they are written and read
    back as UTC; a naive datetime is a bug in the caller and is refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError("UTCDateTime needs a timezone-aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _one_of(column: str, values: type[StrEnum]) -> str:
    """SQL that keeps a text column inside its closed vocabulary."""
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# A committee (đảng ủy phường/xã) or a cell (chi bộ); a cell's parent is its committee.
org_units = Table(
    "org_units",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("parent_id", Integer, ForeignKey("org_units.id", ondelete="RESTRICT"), nullable=True),
    Column("name", String(200), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("auto_accept", Boolean, nullable=False, default=False),
    # Minutes before a meeting at which reminders go out; NULL means the default offsets.
    Column("reminder_offsets", JSON, nullable=True),
    # Whether the closing announcement in the group names the absentees (off: only counts).
    Column("absentees_in_group", Boolean, nullable=False, server_default=false()),
    Column("created_at", UTCDateTime(), nullable=False),
    CheckConstraint(_one_of("kind", OrgKind), name="kind"),
)

# A group chat on a platform that belongs to a cell. A chat is linked at most once.
chats = Table(
    "chats",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(16), nullable=False),
    Column("external_id", String(64), nullable=False),
    Column("org_unit_id", Integer, ForeignKey("org_units.id", ondelete="CASCADE"), nullable=False),
    Column("title", String(255), nullable=True),
    Column("linked_at", UTCDateTime(), nullable=False),
    UniqueConstraint("platform", "external_id", name="uq_chats_platform_external"),
)

members = Table(
    "members",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("org_unit_id", Integer, ForeignKey("org_units.id", ondelete="RESTRICT"), nullable=False),
    Column("full_name", String(120), nullable=False),
    Column("role", String(16), nullable=False),
    Column("status", String(24), nullable=False),
    Column("state", String(16), nullable=False),
    Column("gender", String(8), nullable=True),
    Column("birth_date", Date, nullable=True),
    Column("admitted_on", Date, nullable=True),
    Column("official_on", Date, nullable=True),
    Column("citizen_id_enc", Text, nullable=True),
    Column("card_number_enc", Text, nullable=True),
    Column("phone_enc", Text, nullable=True),
    # The member also wants meeting reminders in their private chat.
    Column("private_reminders", Boolean, nullable=False, server_default=false()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_members_org_unit_state", "org_unit_id", "state"),
    CheckConstraint(_one_of("role", Role), name="role"),
    CheckConstraint(_one_of("status", MemberStatus), name="status"),
    CheckConstraint(_one_of("state", MemberState), name="state"),
    CheckConstraint(f"gender IS NULL OR {_one_of('gender', Gender)}", name="gender"),
)

identities = Table(
    "identities",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(16), nullable=False),
    Column("external_user_id", String(64), nullable=False),
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("linked_at", UTCDateTime(), nullable=False),
    UniqueConstraint("platform", "external_user_id", name="uq_identities_platform_user"),
    Index("ix_identities_member", "member_id"),
)

# A question the bot asked and is waiting for a free-text answer to, per (platform, chat, user).
pending_inputs = Table(
    "pending_inputs",
    metadata,
    Column("platform", String(16), primary_key=True),
    Column("chat_id", String(64), primary_key=True),
    Column("user_id", String(64), primary_key=True),
    Column("flow", String(64), nullable=False),
    Column("data", JSON, nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

# Who did what, when. Details never hold personal data: only field names and ids.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("org_unit_id", Integer, ForeignKey("org_units.id", ondelete="SET NULL"), nullable=True),
    Column("actor_member_id", Integer, nullable=True),
    Column("actor", String(100), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(100), nullable=True),
    Column("details", JSON, nullable=False),
    Index("ix_audit_log_org_unit_at", "org_unit_id", "at"),
)

# A recurring meeting; its occurrences are rows of `meetings` made ahead of time.
meeting_series = Table(
    "meeting_series",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("org_unit_id", Integer, ForeignKey("org_units.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("title", String(200), nullable=False),
    Column("place", String(300), nullable=False),
    Column("online_url", String(500), nullable=True),
    Column("agenda", Text, nullable=False),
    Column("rule", String(24), nullable=False),
    Column("day_of_month", Integer, nullable=True),
    Column("weekday", Integer, nullable=True),  # 0 = Monday
    Column("week_of_month", Integer, nullable=True),  # 1..4, or -1 for the last
    Column("local_time", String(5), nullable=False),  # "19:30" in the cell's time zone
    # The first occurrence: the series never makes a meeting before it, whenever it extends.
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    CheckConstraint(_one_of("kind", MeetingKind), name="kind"),
    CheckConstraint(_one_of("rule", SeriesRule), name="rule"),
)

meetings = Table(
    "meetings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("org_unit_id", Integer, ForeignKey("org_units.id", ondelete="CASCADE"), nullable=False),
    Column(
        "series_id", Integer, ForeignKey("meeting_series.id", ondelete="SET NULL"), nullable=True
    ),
    # Which occurrence of its series this is ("2026-12"); skipping or moving keeps the key.
    Column("occurrence", String(16), nullable=True),
    Column("kind", String(16), nullable=False),
    Column("title", String(200), nullable=False),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("place", String(300), nullable=False),
    Column("online_url", String(500), nullable=True),
    Column("agenda", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("checkin_opened_at", UTCDateTime(), nullable=True),
    Column("checkin_closed_at", UTCDateTime(), nullable=True),
    # When the meeting ended: set at closing check-in, moved by the secretary's «Họp xong» tap.
    Column("ended_at", UTCDateTime(), nullable=True),
    Column("minutes", Text, nullable=True),
    Column("created_by", Integer, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("series_id", "occurrence", name="uq_meetings_series_occurrence"),
    Index("ix_meetings_org_unit_starts", "org_unit_id", "starts_at"),
    CheckConstraint(_one_of("kind", MeetingKind), name="kind"),
    CheckConstraint(_one_of("status", MeetingStatus), name="status"),
)

# Notifications that must go out later: written with what they come from, drained by the
# scheduler with a claim and a lease so that a crash loses nothing and two workers never
# send the same row.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dedupe_key", String(200), nullable=False, unique=True),
    Column("platform", String(16), nullable=False),
    Column("chat_id", String(64), nullable=False),
    Column("due_at", UTCDateTime(), nullable=False),
    # Past this moment the message is pointless (the meeting has started): expire it.
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("claimed_by", String(64), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("sent_at", UTCDateTime(), nullable=True),
    Column("last_error", String(200), nullable=True),
    Column("meeting_id", Integer, ForeignKey("meetings.id", ondelete="CASCADE"), nullable=True),
    Column("org_unit_id", Integer, ForeignKey("org_units.id", ondelete="CASCADE"), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_outbox_status_due", "status", "due_at"),
    Index("ix_outbox_meeting", "meeting_id"),
    CheckConstraint(_one_of("status", OutboxStatus), name="status"),
)

attendance = Table(
    "attendance",
    metadata,
    Column("meeting_id", Integer, ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True),
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("mode", String(16), nullable=True),
    Column("marked_by", Integer, nullable=True),
    Column("marked_at", UTCDateTime(), nullable=False),
    CheckConstraint(_one_of("state", AttendanceState), name="state"),
    CheckConstraint(f"mode IS NULL OR {_one_of('mode', AttendanceMode)}", name="mode"),
)

# A file or link sent to one or more cells. ``org_unit_id`` is the sender's unit: a cell, or a
# committee sending to its cells. The same bytes are stored once per sending unit (sha256).
documents = Table(
    "documents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("org_unit_id", Integer, ForeignKey("org_units.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("title", String(200), nullable=False),
    # Diacritics-free, lower-case title: "nghi quyet" finds "Nghị quyết" on every backend.
    Column("title_folded", String(200), nullable=False),
    Column("file_name", String(255), nullable=True),
    Column("mime_type", String(100), nullable=True),
    Column("size", Integer, nullable=True),
    Column("sha256", String(64), nullable=True),
    Column("platform", String(16), nullable=True),
    Column("platform_file_id", String(255), nullable=True),
    Column("url", String(500), nullable=True),
    Column("meeting_id", Integer, ForeignKey("meetings.id", ondelete="SET NULL"), nullable=True),
    Column("protect_content", Boolean, nullable=False, server_default=false()),
    Column("sender_member_id", Integer, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("org_unit_id", "sha256", name="uq_documents_org_unit_sha256"),
    Index("ix_documents_org_unit_created", "org_unit_id", "created_at"),
    # /hop and reminders list a meeting's documents.
    Index("ix_documents_meeting", "meeting_id"),
    CheckConstraint(_one_of("kind", DocumentKind), name="kind"),
)

# Which cells a document was distributed to, and when it was posted to their groups.
document_targets = Table(
    "document_targets",
    metadata,
    Column(
        "document_id", Integer, ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("cell_id", Integer, ForeignKey("org_units.id", ondelete="CASCADE"), primary_key=True),
    Column("posted_at", UTCDateTime(), nullable=False),
    Index("ix_document_targets_cell", "cell_id"),
)

# A member's "Đã đọc": counted once per person, whichever platform they tapped on.
document_reads = Table(
    "document_reads",
    metadata,
    Column(
        "document_id", Integer, ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("read_at", UTCDateTime(), nullable=False),
)

# A request to be excused from one meeting. The reason is shown only to the member and the
# cell's leaders, never in a group.
absences = Table(
    "absences",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("org_unit_id", Integer, ForeignKey("org_units.id", ondelete="CASCADE"), nullable=False),
    Column("meeting_id", Integer, ForeignKey("meetings.id", ondelete="CASCADE"), nullable=False),
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("reason", String(16), nullable=False),
    Column("reason_text", Text, nullable=True),
    Column("status", String(16), nullable=False),
    # Asked after the meeting had started.
    Column("late", Boolean, nullable=False, server_default=false()),
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("decided_at", UTCDateTime(), nullable=True),
    Column("decided_by", Integer, nullable=True),
    Index("ix_absences_meeting", "meeting_id"),
    Index("ix_absences_member", "member_id"),
    CheckConstraint(_one_of("reason", AbsenceReason), name="reason"),
    CheckConstraint(_one_of("status", AbsenceStatus), name="status"),
)

# Feedback from a member to the cell. ``member_id`` is NULL for anonymous items: no link to the
# author is kept anywhere, the audit log included.
feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("org_unit_id", Integer, ForeignKey("org_units.id", ondelete="CASCADE"), nullable=False),
    Column("member_id", Integer, ForeignKey("members.id", ondelete="SET NULL"), nullable=True),
    Column("kind", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_feedback_org_unit_status", "org_unit_id", "status"),
    CheckConstraint(_one_of("kind", FeedbackKind), name="kind"),
    CheckConstraint(_one_of("status", FeedbackStatus), name="status"),
)

# Each step of a feedback item, with the text the secretary (or committee office) wrote.
feedback_events = Table(
    "feedback_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("feedback_id", Integer, ForeignKey("feedback.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("note", Text, nullable=False),
    Column("actor_member_id", Integer, nullable=True),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_feedback_events_feedback", "feedback_id"),
    CheckConstraint(_one_of("status", FeedbackStatus), name="status"),
)

# --- one cell on two platforms (migration 0004) --------------------------------------------

# A one-time code a member makes on one platform and types on the other to link the two
# accounts. Only the code's SHA-256 is kept, and only until it is used or expires.
link_codes = Table(
    "link_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index("ix_link_codes_member", "member_id"),
)

# Numbered options shown on a platform without buttons (Zalo), waiting for a number or an
# option's text. ``user_id`` "*" holds a group's latest options, which anyone there may answer.
# Numbered option lists ("cards") shown on platforms without buttons. ``id`` is the sequence:
# a person's newest card in a chat is the one their typed number answers, older ones are dead.
# ``audience`` is who asked (or "*" for the outbox); ``shared`` says some option is open to others
# in the chat (a join request's «Đồng ý» for leaders); ``question``: it also asks the audience
# to write (their words are the answer, not a number past its list). ``options`` holds
# [label, data, open, about]; ``text`` is the card as sent, shown again on a stale number.
choice_cards = Table(
    "choice_cards",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("platform", String(16), nullable=False),
    Column("chat_id", String(64), nullable=False),
    Column("audience", String(64), nullable=False),
    Column("shared", Boolean, nullable=False),
    Column("confirming", Boolean, nullable=False),
    Column("question", Boolean, nullable=False),
    Column("options", JSON, nullable=False),
    Column("text", Text, nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index("ix_choice_cards_chat", "platform", "chat_id", "id"),
    Index("ix_choice_cards_audience", "platform", "audience"),
    # Never reuse an id, even the newest one's after it is deleted: ids order cards.
    sqlite_autoincrement=True,
)

# Messages sent per platform and calendar month (UTC), against a plan's monthly quota.
message_usage = Table(
    "message_usage",
    metadata,
    Column("platform", String(16), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("sent", Integer, nullable=False),
    Column("warned", Boolean, nullable=False, server_default=false()),
)

# What a member's party fee is worked out from, from a month on; the newest row on or before a
# month applies. The salary or pension is personal: only a Fernet token is kept.
fee_bases = Table(
    "fee_bases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("org_unit_id", Integer, ForeignKey("org_units.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount_enc", Text, nullable=True),
    Column("region", Integer, nullable=True),
    Column("retirement_age", Boolean, nullable=False, server_default=false()),
    Column("valid_from", Date, nullable=False),
    Column("created_by", Integer, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("member_id", "valid_from", name="uq_fee_bases_member_from"),
    Index("ix_fee_bases_org_unit", "org_unit_id"),
    CheckConstraint(_one_of("kind", FeeBasisKind), name="kind"),
    CheckConstraint("region IS NULL OR region BETWEEN 1 AND 4", name="region"),
)

# A reduction (30/50/70%) or exemption (100%) decided for some months.
fee_reductions = Table(
    "fee_reductions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("org_unit_id", Integer, ForeignKey("org_units.id", ondelete="CASCADE"), nullable=False),
    Column("percent", Integer, nullable=False),
    Column("from_month", Date, nullable=False),
    Column("to_month", Date, nullable=True),
    Column("created_by", Integer, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_fee_reductions_org_unit", "org_unit_id"),
    CheckConstraint("percent IN (30, 50, 70, 100)", name="percent"),
)

# The ledger: one row per member and month paid (``month`` is the month's first day). The
# amount due is kept as worked out when the payment was recorded.
fee_payments = Table(
    "fee_payments",
    metadata,
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("month", Date, primary_key=True),
    Column("org_unit_id", Integer, ForeignKey("org_units.id", ondelete="CASCADE"), nullable=False),
    Column("amount_due", Integer, nullable=False),
    Column("amount_paid", Integer, nullable=False),
    Column("recorded_by", Integer, nullable=True),
    Column("paid_at", UTCDateTime(), nullable=False),
    Index("ix_fee_payments_org_unit_month", "org_unit_id", "month"),
    CheckConstraint("amount_due >= 0 AND amount_paid >= 0", name="amounts"),
)

# A resolution-study campaign (học tập nghị quyết): multiple-choice questions on a document, to
# be answered by a deadline. ``org_unit_id`` is the creator's unit: a cell, or a committee for
# all its cells (``study_targets``).
study_campaigns = Table(
    "study_campaigns",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("org_unit_id", Integer, ForeignKey("org_units.id", ondelete="CASCADE"), nullable=False),
    Column("document_id", Integer, ForeignKey("documents.id", ondelete="SET NULL"), nullable=True),
    Column("title", String(200), nullable=False),
    Column("deadline", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_by", Integer, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("opened_at", UTCDateTime(), nullable=True),
    Index("ix_study_campaigns_org_unit", "org_unit_id"),
    CheckConstraint(_one_of("status", StudyStatus), name="status"),
)

study_targets = Table(
    "study_targets",
    metadata,
    Column(
        "campaign_id",
        Integer,
        ForeignKey("study_campaigns.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("cell_id", Integer, ForeignKey("org_units.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_study_targets_cell", "cell_id"),
)

study_questions = Table(
    "study_questions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "campaign_id", Integer, ForeignKey("study_campaigns.id", ondelete="CASCADE"), nullable=False
    ),
    Column("position", Integer, nullable=False),
    Column("text", String(300), nullable=False),
    Column("options", JSON, nullable=False),
    Column("correct", Integer, nullable=False),  # index into options
    UniqueConstraint("campaign_id", "position", name="uq_study_questions_campaign_position"),
)

# One answer per member and question: the first one counts.
study_answers = Table(
    "study_answers",
    metadata,
    Column(
        "question_id",
        Integer,
        ForeignKey("study_questions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "campaign_id", Integer, ForeignKey("study_campaigns.id", ondelete="CASCADE"), nullable=False
    ),
    Column("chosen", Integer, nullable=False),
    Column("correct", Boolean, nullable=False),
    Column("answered_at", UTCDateTime(), nullable=False),
    Index("ix_study_answers_campaign", "campaign_id"),
)

# A member's finished campaign: score out of total, and when.
study_results = Table(
    "study_results",
    metadata,
    Column(
        "campaign_id",
        Integer,
        ForeignKey("study_campaigns.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("cell_id", Integer, ForeignKey("org_units.id", ondelete="CASCADE"), nullable=False),
    Column("score", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("completed_at", UTCDateTime(), nullable=False),
    Index("ix_study_results_cell", "cell_id"),
)

# --- hardening: webhook replays and link-code guessing (migration 0006) ---------------------

# Zalo message ids already handled: a webhook may redeliver, also to another replica or after
# a restart. The first insert wins; rows older than a day are pruned.
zalo_seen_messages = Table(
    "zalo_seen_messages",
    metadata,
    Column("message_id", String(128), primary_key=True),
    Column("seen_at", UTCDateTime(), nullable=False),
    Index("ix_zalo_seen_messages_seen_at", "seen_at"),
)

# Wrong /lienket codes per account and per chat ("scope" says which), counted in a fixed
# window that starts at the first wrong code.
link_attempts = Table(
    "link_attempts",
    metadata,
    Column("scope", String(16), primary_key=True),
    Column("subject", String(160), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_start", UTCDateTime(), nullable=False),
    Index("ix_link_attempts_window_start", "window_start"),
)

# --- year-end review (migration 0007) ------------------------------------------------------

# The self-review round of a cell's year: the deadline the secretary set.
review_rounds = Table(
    "review_rounds",
    metadata,
    Column("cell_id", Integer, ForeignKey("org_units.id", ondelete="CASCADE"), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("deadline", UTCDateTime(), nullable=False),
    Column("set_by", Integer, nullable=True),
    Column("set_at", UTCDateTime(), nullable=False),
)

# A member's self-review of a year: typed text, or a file the platform keeps (by its id). A
# second one replaces the first.
self_reviews = Table(
    "self_reviews",
    metadata,
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("cell_id", Integer, ForeignKey("org_units.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("text", Text, nullable=True),
    Column("file_name", String(255), nullable=True),
    Column("platform", String(16), nullable=True),
    Column("platform_file_id", String(255), nullable=True),
    Column("submitted_at", UTCDateTime(), nullable=False),
    CheckConstraint(_one_of("kind", SelfReviewKind), name="kind"),
    Index("ix_self_reviews_cell_year", "cell_id", "year"),
)

# The grade the cell decided for a member's year.
review_grades = Table(
    "review_grades",
    metadata,
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("cell_id", Integer, ForeignKey("org_units.id", ondelete="CASCADE"), nullable=False),
    Column("grade", String(16), nullable=False),
    Column("graded_by", Integer, nullable=True),
    Column("graded_at", UTCDateTime(), nullable=False),
    CheckConstraint(_one_of("grade", ReviewGrade), name="grade"),
    Index("ix_review_grades_cell_year", "cell_id", "year"),
)

# Every column that holds Fernet tokens. Key rotation re-encrypts exactly these, and the
# start-up check reads them, so a new encrypted column must be added here
# (tests/test_keys.py finds tokens in any other column and fails).
ENCRYPTED_COLUMNS: tuple[Column[Any], ...] = (
    members.c.citizen_id_enc,
    members.c.card_number_enc,
    members.c.phone_enc,
    fee_bases.c.amount_enc,
)
