"""Founding a cell from a group (/batdau) and joining it (/thamgia), with the leaders'
decision on each join request."""

from __future__ import annotations

from datetime import timedelta

from handlers import menu
from handlers.context import Context, QuestionGone, UserError, button_id
from handlers.core import Choice, Reply, Tone
from handlers.names import MAX_CELL_NAME, MAX_PERSON_NAME, clean_name
from handlers.numbers import parse_row_id
from storage.audit import Actor
from storage.errors import ChatAlreadyLinked
from storage.linking import CellHasGroupThere
from storage.models import Member, MemberState, OrgKind, Role

SETUP_FLOW = "setup_name"
QUESTION_TTL = timedelta(hours=1)


async def setup(context: Context) -> list[Reply]:
    """/batdau: a group admin links the group to a new cell and becomes its secretary; a
    secretary whose cell already has a group on another platform (and who linked this
    platform's account with /lienket) makes this group the cell's group here too."""
    await _check_can_found(context)
    inbound = context.inbound
    known = await context.services.members.by_identity(inbound.platform, inbound.user_id)
    if known is not None:
        return await _second_group(context, known)
    if inbound.args.strip():
        return await _found(context, inbound.args)
    await context.expect_answer(SETUP_FLOW, {}, ttl=QUESTION_TTL)
    return [Reply(context.t("setup.ask_name"), ask_text=True)]


async def setup_name_answer(context: Context, _data: dict[str, object]) -> list[Reply]:
    await _check_can_found(context)
    return await _found(context, context.inbound.text)


async def _check_can_found(context: Context) -> None:
    inbound = context.inbound
    if context.cell is not None:
        raise UserError("setup.already_linked_named", cell=context.cell.name)
    is_operator = inbound.user_id in context.services.operator_ids
    if not is_operator and not await context.gateway.is_chat_admin(
        inbound.chat_id, inbound.user_id
    ):
        raise UserError("setup.not_admin")


async def _second_group(context: Context, known: Member) -> list[Reply]:
    cell = await context.services.cells.get(known.cell_id)
    if (
        known.role is not Role.SECRETARY
        or known.state is not MemberState.ACTIVE
        or cell is None
        or cell.kind is not OrgKind.CELL
    ):
        raise UserError("error.already_registered")
    inbound = context.inbound
    try:
        await context.services.links.link_group(
            cell_id=cell.id,
            platform=inbound.platform,
            chat_id=inbound.chat_id,
            title=inbound.chat_title,
            actor=Actor(f"{inbound.platform}:{inbound.user_id}", known.id),
            now=context.now,
        )
    except ChatAlreadyLinked:
        raise UserError("setup.already_linked") from None
    except CellHasGroupThere:
        raise UserError("setup.cell_has_group_here", cell=cell.name) from None
    return [Reply(context.t("setup.second_group", cell=cell.name))]


async def _found(context: Context, raw_name: str) -> list[Reply]:
    inbound = context.inbound
    name = clean_name(raw_name, limit=MAX_CELL_NAME, error_prefix="setup.name")
    secretary_name = clean_name(
        inbound.user_name or "?", limit=MAX_PERSON_NAME, error_prefix="join.name"
    )
    try:
        cell, secretary = await context.services.cells.found_cell(
            platform=inbound.platform,
            chat_id=inbound.chat_id,
            chat_title=inbound.chat_title,
            cell_name=name,
            timezone=context.services.default_timezone,
            secretary_name=secretary_name,
            secretary_user_id=inbound.user_id,
            now=context.now,
        )
    except ChatAlreadyLinked:
        raise UserError("setup.already_linked") from None
    return [Reply(context.t("setup.done", cell=cell.name, secretary=secretary.full_name))]


async def join(context: Context) -> list[Reply]:
    """/thamgia: the caller asks to be on the roster of this group's cell."""
    return await _join(context)


async def join_button(context: Context, _args: list[str]) -> list[Reply]:
    return await _join(context)


async def _join(context: Context) -> list[Reply]:
    cell = context.require_cell()
    inbound = context.inbound
    if context.actor is not None:
        key = "join.pending" if context.actor.state is MemberState.PENDING else "join.already"
        return [Reply(context.t(key, cell=cell.name))]
    known = await context.services.members.by_identity(inbound.platform, inbound.user_id)
    if known is not None:
        raise UserError("error.already_registered")
    name = clean_name(
        inbound.args or inbound.user_name, limit=MAX_PERSON_NAME, error_prefix="join.name"
    )
    member = await context.services.members.request_join(
        cell_id=cell.id,
        platform=inbound.platform,
        user_id=inbound.user_id,
        full_name=name,
        accept_at_once=cell.auto_accept,
        now=context.now,
    )
    if member.state is MemberState.ACTIVE:
        return [Reply(context.t("join.welcome", name=member.full_name, cell=cell.name))]
    namesakes = await context.services.members.unlinked_namesakes(cell.id, name)
    rows: list[tuple[Choice, ...]] = [
        (
            Choice(context.t("join.button.approve"), f"jn:{member.id}:ok", tone=Tone.PRIMARY),
            Choice(context.t("join.button.decline"), f"jn:{member.id}:no", tone=Tone.DESTRUCTIVE),
        )
    ]
    rows.extend(
        (
            Choice(
                context.t("join.button.merge", name=other.full_name), f"jn:{member.id}:{other.id}"
            ),
        )
        for other in namesakes[:3]
    )
    return [
        Reply(
            context.t("join.requested", name=member.full_name, cell=cell.name),
            choices=tuple(rows),
        )
    ]


async def decide_join(context: Context, args: list[str]) -> list[Reply]:
    """A leader's tap on a join request: approve, decline, or match to a roster entry."""
    cell = context.require_cell()
    if len(args) != 2:
        raise QuestionGone("error.stale_button")
    pending_id, decision = button_id(args), args[1]
    pending = await context.services.members.in_cell(cell.id, pending_id)
    merge_into = parse_row_id(decision)
    if decision not in ("ok", "no") and merge_into is None:
        raise QuestionGone("error.stale_button")
    result = await context.services.members.decide_join(
        cell_id=cell.id,
        pending_id=pending_id,
        approve=decision != "no",
        merge_into=merge_into,
        actor=context.audit_actor,
        now=context.now,
    )
    if result is None:
        return [Reply(context.t("join.declined", name=pending.full_name), replace=True)]
    approved = Reply(
        context.t("join.approved", name=result.full_name, cell=cell.name), replace=True
    )
    # The new member finds their tasks privately, one tap each, without learning a command.
    accounts = await context.services.links.member_accounts(result.id, context.inbound.platform)
    return [approved] + [
        menu.welcome_menu(context, result, where, account) for where, account in accounts
    ]
