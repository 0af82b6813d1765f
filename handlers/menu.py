"""/start and /trogiup: a short menu of what this person can do here, and /huy to drop an
open question."""

from __future__ import annotations

from dataclasses import replace

from handlers.context import Context
from handlers.core import Choice, Platform, Reply
from storage.models import MemberState, Role


async def help_menu(context: Context) -> list[Reply]:
    replies = await _help(context)
    if context.inbound.is_group and context.inbound.platform is Platform.ZALO and replies:
        # Zalo shows the bot only messages that mention it: say so where people ask for help.
        first = replies[0]
        replies[0] = replace(first, text=f"{first.text}\n\n{context.t('help.zalo_group')}")
    return replies


async def _help(context: Context) -> list[Reply]:
    inbound = context.inbound
    actor = context.actor
    if inbound.is_group:
        if context.cell is None:
            return [Reply(context.t("help.group_unlinked"))]
        if actor is None:
            return [
                Reply(
                    context.t("help.group_stranger", cell=context.cell.name),
                    choices=((Choice(context.t("help.button.join"), "join"),),),
                )
            ]
        if actor.state is MemberState.PENDING:
            return [Reply(context.t("join.pending", cell=context.cell.name))]
        key = "help.group_leader" if actor.leads else "help.group_member"
        return [
            Reply(
                context.t(key, name=actor.full_name, cell=context.cell.name),
                choices=((Choice(context.t("help.button.members"), "ml:0"),),),
                continue_privately="hoso",
            )
        ]
    if actor is None or context.cell is None:
        return [Reply(context.t("help.private_stranger", name=inbound.user_name))]
    if actor.state is MemberState.PENDING:
        return [Reply(context.t("join.pending", cell=context.cell.name))]
    choices: list[tuple[Choice, ...]] = [
        (Choice(context.t("help.button.profile"), "pf"),),
        (Choice(context.t("help.button.members"), "ml:0"),),
    ]
    key = "help.private_member"
    if actor.role is Role.SECRETARY:
        key = "help.private_secretary"
        choices.append((Choice(context.t("help.button.import"), "im"),))
    return [
        Reply(context.t(key, name=actor.full_name, cell=context.cell.name), choices=tuple(choices))
    ]


async def import_hint(context: Context, _args: list[str]) -> list[Reply]:
    return [Reply(context.t("import.hint"))]


async def cancel(context: Context) -> list[Reply]:
    inbound = context.inbound
    await context.services.pending.forget(
        platform=inbound.platform, chat_id=inbound.chat_id, user_id=inbound.user_id
    )
    return [Reply(context.t("cancel.done"))]
