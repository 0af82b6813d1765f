"""/lienket: one person, one record on both platforms. A member asks for a one-time code on
the platform they already use and sends it to the bot privately on the other one; from then on
both accounts act as the same member, so attendance, absences and reads count once."""

from __future__ import annotations

import math
from datetime import timedelta

from handlers.context import Context, UserError
from handlers.core import Platform, Reply
from storage.errors import AlreadyRegistered
from storage.linking import (
    LinkAttemptsExceeded,
    LinkCodeInvalid,
    PlatformAlreadyLinked,
    normalize_code,
)
from storage.models import MemberState

CODE_TTL = timedelta(minutes=15)
PLATFORM_NAMES = {Platform.TELEGRAM: "Telegram", Platform.ZALO: "Zalo"}


async def link_command(context: Context) -> list[Reply]:
    """Without a code: make one. With a code: link this account to the code's member."""
    if context.inbound.args.strip():
        return await _redeem(context, context.inbound.args)
    actor = context.require_actor()
    cell = context.require_cell()
    if actor.state is not MemberState.ACTIVE:
        raise UserError("error.pending_member")
    code = await context.services.links.make_code(
        member_id=actor.id,
        cell_id=cell.id,
        actor=context.audit_actor,
        now=context.now,
        ttl=CODE_TTL,
    )
    other = Platform.ZALO if context.inbound.platform is Platform.TELEGRAM else Platform.TELEGRAM
    return [
        Reply(
            context.t(
                "link.code",
                code=f"{code[:4]} {code[4:]}",
                minutes=int(CODE_TTL.total_seconds() // 60),
                platform=PLATFORM_NAMES[other],
            )
        )
    ]


async def _redeem(context: Context, raw: str) -> list[Reply]:
    code = normalize_code(raw)
    if code is None:
        raise UserError("link.bad_code")
    if context.actor is not None:
        raise UserError("link.already_member", name=context.actor.full_name)
    inbound = context.inbound
    try:
        linked = await context.services.links.redeem(
            code=code,
            platform=inbound.platform,
            user_id=inbound.user_id,
            chat_id=inbound.chat_id,
            now=context.now,
        )
    except LinkAttemptsExceeded as blocked:
        minutes = max(1, math.ceil((blocked.until - context.now).total_seconds() / 60))
        raise UserError("link.too_many_attempts", minutes=minutes) from None
    except LinkCodeInvalid:
        raise UserError("link.bad_code") from None
    except PlatformAlreadyLinked:
        raise UserError("link.platform_taken", platform=PLATFORM_NAMES[inbound.platform]) from None
    except AlreadyRegistered:
        raise UserError("link.already_member", name=inbound.user_name) from None
    member = await context.services.members.get(linked.member_id)
    cell = await context.services.cells.get(linked.cell_id)
    if member is None or cell is None:  # removed between the link and now
        raise UserError("link.bad_code")
    return [Reply(context.t("link.done", name=member.full_name, cell=cell.name))]
