"""How a member's record reads in a private chat (personal data included: callers make sure
the reader is the member or their secretary, and that the chat is private)."""

from __future__ import annotations

from datetime import date

from handlers.context import Context
from storage.models import Member, MemberStatus, Role


def role_label(context: Context, role: Role) -> str:
    return context.t(f"role.{role}")


def status_label(context: Context, status: MemberStatus) -> str:
    return context.t(f"status.{status}")


def _day(context: Context, day: date | None) -> str:
    return context.services.texts.date(day) if day else context.t("profile.blank")


async def describe_member(context: Context, member: Member) -> str:
    if context.inbound.is_group:  # defence in depth: never render personal data in a group
        raise RuntimeError("a member record was about to be shown in a group")
    private = await context.services.members.personal_data(member.id)
    blank = context.t("profile.blank")
    return context.t(
        "profile.card",
        name=member.full_name,
        role=role_label(context, member.role),
        status=status_label(context, member.status),
        gender=context.t(f"gender.{member.gender}") if member.gender else blank,
        birth=_day(context, member.birth_date),
        admitted=_day(context, member.admitted_on),
        official=_day(context, member.official_on),
        card=private.card_number or blank,
        citizen=private.citizen_id or blank,
        phone=private.phone or blank,
    )
