"""The roster: who is in the cell (/dangvien) and the secretary's changes to a member's role,
status and the secretary role itself."""

from __future__ import annotations

from dataclasses import replace

from handlers.context import Context, QuestionGone, UserError, button_id
from handlers.core import Choice, Platform, Reply
from handlers.member_view import describe_member, role_label, status_label
from storage.models import Member, MemberState, MemberStatus, Role

PAGE_SIZE = 25
ROLE_CHOICES = (Role.DEPUTY, Role.COMMITTEE, Role.MEMBER)


async def members_command(context: Context) -> list[Reply]:
    return await _members_page(context, 0)


async def members_button(context: Context, args: list[str]) -> list[Reply]:
    page = button_id(args) if args else 0
    return await _members_page(context, page, replace=context.inbound.choice is not None)


async def _members_page(context: Context, page: int, *, replace: bool = False) -> list[Reply]:
    cell = context.require_cell()
    roster = await context.services.members.roster(
        cell.id, include_pending=context.is_secretary and not context.inbound.is_group
    )
    full_view = not context.inbound.is_group and context.actor is not None and context.actor.leads
    if not full_view:
        # In a group, and for ordinary members, names and roles only.
        lines = [
            context.t("members.line", n=i, name=m.full_name, role=role_label(context, m.role))
            for i, m in enumerate(roster, start=1)
        ]
        header = context.t("members.header", cell=cell.name, count=len(roster))
        return [Reply("\n".join([header, *lines]))]
    active = [m for m in roster if m.state is MemberState.ACTIVE]
    waiting = [m for m in roster if m.state is MemberState.PENDING]
    pages = max(1, -(-len(active) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    shown = active[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    lines = [context.t("members.header", cell=cell.name, count=len(active))]
    lines += [
        context.t(
            "members.line_full",
            n=page * PAGE_SIZE + i,
            name=m.full_name,
            role=role_label(context, m.role),
            status=status_label(context, m.status),
            linked="" if m.linked else context.t("members.not_linked"),
        )
        for i, m in enumerate(shown, start=1)
    ]
    if waiting:
        lines.append(context.t("members.waiting", names=", ".join(m.full_name for m in waiting)))
    choices: list[tuple[Choice, ...]] = []
    if context.is_secretary:
        lines.append(context.t("members.tap_hint"))
        choices = [(Choice(m.full_name, f"mb:{m.id}"),) for m in shown]
        choices += [
            (Choice(context.t("join.button.approve_named", name=m.full_name), f"jn:{m.id}:ok"),)
            for m in waiting[:5]
        ]
        navigation = []
        if page > 0:
            navigation.append(Choice(context.t("members.previous"), f"ml:{page - 1}"))
        if page + 1 < pages:
            navigation.append(Choice(context.t("members.next"), f"ml:{page + 1}"))
        if navigation:
            choices.append(tuple(navigation))
        auto_key = "members.auto_on" if cell.auto_accept else "members.auto_off"
        choices.append((Choice(context.t(auto_key), f"aa:{0 if cell.auto_accept else 1}"),))
    return [Reply("\n".join(lines), choices=tuple(choices), replace=replace)]


async def member_card(context: Context, args: list[str]) -> list[Reply]:
    """The secretary's view of one member, with what can be changed."""
    cell = context.require_cell()
    member = await context.services.members.in_cell(cell.id, button_id(args))
    return [await _card(context, member)]


async def _card(context: Context, member: Member) -> Reply:
    text = await describe_member(context, member)
    choices: list[tuple[Choice, ...]] = [
        (
            Choice(context.t("card.button.role"), f"rl:{member.id}"),
            Choice(context.t("card.button.status"), f"st:{member.id}"),
        ),
        (Choice(context.t("card.button.edit"), f"ed:{member.id}"),),
    ]
    if member.role is not Role.SECRETARY and member.linked:
        choices.append((Choice(context.t("card.button.hand_over"), f"ho:{member.id}"),))
    choices.append((Choice(context.t("card.button.back"), "ml:0"),))
    return Reply(text, choices=tuple(choices), replace=context.inbound.choice is not None)


async def role_menu(context: Context, args: list[str]) -> list[Reply]:
    cell = context.require_cell()
    member = await context.services.members.in_cell(cell.id, button_id(args))
    if member.role is Role.SECRETARY:
        raise UserError("card.secretary_role_fixed")
    buttons = tuple(
        (Choice(role_label(context, role), f"rs:{member.id}:{role}"),) for role in ROLE_CHOICES
    )
    back = ((Choice(context.t("card.button.back_to_card"), f"mb:{member.id}"),),)
    return [
        Reply(
            context.t("card.pick_role", name=member.full_name), choices=buttons + back, replace=True
        )
    ]


async def set_role(context: Context, args: list[str]) -> list[Reply]:
    cell = context.require_cell()
    member_id = button_id(args)
    if len(args) != 2 or args[1] not in {role.value for role in ROLE_CHOICES}:
        raise QuestionGone("error.stale_button")
    member = await context.services.members.in_cell(cell.id, member_id)
    if member.role is Role.SECRETARY:
        raise UserError("card.secretary_role_fixed")
    updated = await context.services.members.set_role(
        cell_id=cell.id,
        member_id=member_id,
        role=Role(args[1]),
        actor=context.audit_actor,
        now=context.now,
    )
    return [
        Reply(
            context.t(
                "card.role_set", name=updated.full_name, role=role_label(context, updated.role)
            ),
            popup=True,
        ),
        await _card(context, updated),
    ]


async def status_menu(context: Context, args: list[str]) -> list[Reply]:
    cell = context.require_cell()
    member = await context.services.members.in_cell(cell.id, button_id(args))
    buttons = tuple(
        (Choice(status_label(context, status), f"ss:{member.id}:{status}"),)
        for status in MemberStatus
    )
    back = ((Choice(context.t("card.button.back_to_card"), f"mb:{member.id}"),),)
    return [
        Reply(
            context.t("card.pick_status", name=member.full_name),
            choices=buttons + back,
            replace=True,
        )
    ]


async def set_status(context: Context, args: list[str]) -> list[Reply]:
    cell = context.require_cell()
    member_id = button_id(args)
    if len(args) != 2 or args[1] not in {status.value for status in MemberStatus}:
        raise QuestionGone("error.stale_button")
    updated = await context.services.members.update_fields(
        cell_id=cell.id,
        member_id=member_id,
        changes={"status": MemberStatus(args[1])},
        actor=context.audit_actor,
        now=context.now,
    )
    return [
        Reply(
            context.t(
                "card.status_set",
                name=updated.full_name,
                status=status_label(context, updated.status),
            ),
            popup=True,
        ),
        await _card(context, updated),
    ]


async def hand_over_ask(context: Context, args: list[str]) -> list[Reply]:
    """Handing the secretary role over is not undoable by the old secretary: confirm first."""
    cell = context.require_cell()
    member = await context.services.members.in_cell(cell.id, button_id(args))
    if member.role is Role.SECRETARY:
        raise UserError("card.hand_over_already", name=member.full_name)
    if not member.linked or member.state is not MemberState.ACTIVE:
        raise UserError("card.hand_over_needs_account", name=member.full_name)
    choices = (
        (Choice(context.t("card.button.confirm_hand_over"), f"hy:{member.id}"),),
        (Choice(context.t("card.button.cancel"), f"mb:{member.id}"),),
    )
    return [
        Reply(
            context.t("card.hand_over_confirm", name=member.full_name, cell=cell.name),
            choices=choices,
            replace=True,
        )
    ]


async def hand_over(context: Context, args: list[str]) -> list[Reply]:
    cell = context.require_cell()
    successor = await context.services.members.hand_over_secretary(
        cell_id=cell.id,
        new_secretary_id=button_id(args),
        actor=context.audit_actor,
        now=context.now,
    )
    announcement = context.t("card.handed_over_group", name=successor.full_name, cell=cell.name)
    replies = [Reply(context.t("card.handed_over", name=successor.full_name), replace=True)]
    replies += [
        Reply(announcement, chat_id=chat.external_id, platform=Platform(chat.platform))
        for chat in await context.services.cells.chats_of(cell.id)
    ]
    return replies


async def set_auto_accept(context: Context, args: list[str]) -> list[Reply]:
    cell = context.require_cell()
    enabled = button_id(args) == 1
    await context.services.cells.set_auto_accept(cell.id, enabled, context.audit_actor, context.now)
    key = "members.auto_enabled" if enabled else "members.auto_disabled"
    refreshed = replace(context, cell=replace(cell, auto_accept=enabled))
    return [Reply(context.t(key), popup=True), *await _members_page(refreshed, 0, replace=True)]
