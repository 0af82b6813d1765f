"""/hoso: a member's own record, privately; a member may correct their name and phone, the
secretary may edit every field of any member of the cell."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from typing_extensions import TypedDict

from handlers import fields
from handlers.context import Context, QuestionGone, UserError, button_id
from handlers.core import Choice, Reply
from handlers.member_view import describe_member
from handlers.names import MAX_PERSON_NAME, clean_name
from storage.models import Member, Role

EDIT_FLOW = "profile_edit"
CLEAR_WORDS = ("-", "xoa", "xóa", "clear")


# In the order a form lists them.
class EditQuestion(TypedDict):
    member_id: int
    field: str  # one of EDITABLE_FIELDS, checked where it is read


EDITABLE_FIELDS = (
    "full_name",
    "gender",
    "birth_date",
    "admitted_on",
    "official_on",
    "card_number",
    "citizen_id",
    "phone",
)
SELF_EDITABLE_FIELDS = frozenset({"full_name", "phone"})


async def profile_command(context: Context) -> list[Reply]:
    return [await _own_profile(context)]


async def profile_button(context: Context, _args: list[str]) -> list[Reply]:
    return [await _own_profile(context)]


async def _own_profile(context: Context) -> Reply:
    actor = context.require_actor()
    rows = [
        (Choice(context.t("profile.button.name"), f"ef:{actor.id}:full_name"),),
        (Choice(context.t("profile.button.phone"), f"ef:{actor.id}:phone"),),
    ]
    if actor.role is Role.SECRETARY:
        rows.append((Choice(context.t("card.button.edit"), f"ed:{actor.id}"),))
    return Reply(await describe_member(context, actor), choices=tuple(rows))


async def _editable_member(context: Context, member_id: int, field: str | None) -> Member:
    """The member whose field the actor may edit; anything else reads as 'not found'."""
    actor = context.require_actor()
    cell = context.require_cell()
    member = await context.services.members.in_cell(cell.id, member_id)
    if actor.role is Role.SECRETARY:
        return member
    if member.id == actor.id and (field is None or field in SELF_EDITABLE_FIELDS):
        return member
    raise UserError("profile.not_allowed")


def _member_id(args: list[str]) -> int:
    return button_id(args)


async def edit_menu(context: Context, args: list[str]) -> list[Reply]:
    member = await _editable_member(context, _member_id(args), None)
    if context.actor is None or context.actor.role is not Role.SECRETARY:
        raise UserError("profile.not_allowed")
    choices = (
        *tuple(
            (Choice(context.t(f"field.{name}"), f"ef:{member.id}:{name}"),)
            for name in EDITABLE_FIELDS
        ),
        (Choice(context.t("card.button.back_to_card"), f"mb:{member.id}"),),
    )
    return [
        Reply(context.t("profile.pick_field", name=member.full_name), choices=choices, replace=True)
    ]


async def edit_field_ask(context: Context, args: list[str]) -> list[Reply]:
    if len(args) != 2 or args[1] not in EDITABLE_FIELDS:
        raise QuestionGone("error.stale_button")
    member = await _editable_member(context, _member_id(args), args[1])
    await context.expect_answer(EDIT_FLOW, {"member_id": member.id, "field": args[1]})
    return [Reply(context.t(f"profile.ask.{args[1]}", name=member.full_name), ask_text=True)]


async def edit_field_answer(context: Context, data: dict[str, object]) -> list[Reply]:
    member_id, field = data.get("member_id"), data.get("field")
    if not isinstance(member_id, int) or not isinstance(field, str):
        raise QuestionGone("error.stale_button")
    if field not in EDITABLE_FIELDS:
        raise QuestionGone("error.stale_button")
    member = await _editable_member(context, member_id, field)
    cell = context.require_cell()
    today = context.now.astimezone(ZoneInfo(cell.timezone)).date()
    try:
        value = _parse(field, context.inbound.text, member, today)
    except fields.FieldProblem as problem:
        # Ask again: the question stays open so the person can simply retype.
        await edit_field_ask(context, [str(member_id), field])
        return [Reply(context.t(problem.key, column=context.t(f"field.{field}")), ask_text=True)]
    updated = await context.services.members.update_fields(
        cell_id=cell.id,
        member_id=member_id,
        changes={field: value},
        actor=context.audit_actor,
        now=context.now,
    )
    saved = Reply(context.t("profile.saved", field=context.t(f"field.{field}")))
    return [saved, Reply(await describe_member(context, updated))]


def _parse(field: str, raw: str, member: Member, today: date) -> object:
    text = raw.strip()
    if field == "full_name":
        try:
            return clean_name(text, limit=MAX_PERSON_NAME, error_prefix="join.name")
        except UserError as error:
            raise fields.FieldProblem("field.bad_name") from error
    if fields.fold(text) in CLEAR_WORDS:
        return None
    if field == "gender":
        return fields.parse_gender(text)
    if field == "card_number":
        return fields.parse_card_number(text)
    if field == "citizen_id":
        return fields.parse_citizen_id(text)
    if field == "phone":
        return fields.parse_phone(text)
    day = fields.parse_date(text, today=today)
    admitted = day if field == "admitted_on" else member.admitted_on
    official = day if field == "official_on" else member.official_on
    if admitted and official and official < admitted:
        raise fields.FieldProblem("field.official_before_admission")
    return day
