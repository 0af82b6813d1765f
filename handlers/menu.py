"""/start and /trogiup: a short menu of what this person can do here, and /huy to drop an
open question.

The menu of a member's tasks is the same everywhere: on Telegram a keyboard of big buttons kept
under the input box (each tap sends its label, read back by handlers/plain_words.py), on Zalo a
numbered list whose numbers press ``go:<task>``.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

from handlers.context import Context
from handlers.core import Choice, Platform, Reply, private_reply
from handlers.i18n import LANGUAGES, Texts
from handlers.plain_words import (
    ABSENCE,
    DOCUMENTS,
    FEEDBACK,
    FEES,
    HELP,
    LEADER,
    LEADER_TASKS,
    MEETINGS,
    MEMBER_TASKS,
    PROFILE,
)
from storage.models import Member, MemberState, Role

# Button prefix of a task in a numbered or inline menu: ``go:hop`` runs /hop.
TASK = "go"
# The label of each task's button (vi and en catalogs; both fold to a phrase of plain_words).
TASK_LABELS: dict[str, str] = {
    MEETINGS: "menu.meetings",
    ABSENCE: "menu.absence",
    DOCUMENTS: "menu.documents",
    FEES: "menu.fees",
    FEEDBACK: "menu.feedback",
    HELP: "menu.help",
    LEADER: "menu.leader",
    PROFILE: "help.button.profile",
    "lichhop": "menu.lead.schedule",
    "diemdanh": "menu.lead.attendance",
    "dangvien": "help.button.members",
    "bienban": "menu.lead.minutes",
    "baocao": "menu.lead.report",
    "lich": "menu.calendar",
    "nhacnho": "menu.reminders",
    "hoctap": "menu.study",
}
TASK_SHAPE = "|".join(TASK_LABELS)
KEYBOARD_WIDTH = 2  # buttons a row: big enough to read, few enough rows to fit a phone


@cache
def _keys() -> dict[str, str]:
    """Each menu key's label, in every language, and its task."""
    return {
        Texts(language)(TASK_LABELS[task]): task
        for language in LANGUAGES
        for task in (*MEMBER_TASKS, LEADER)
    }


def key_task(text: str) -> str | None:
    """The task of a menu key tapped (its exact label, emoji and all), else None. A tap is
    never an answer to an open question: the keyboard stays under every question."""
    return _keys().get(text.strip())


def _tasks(actor: Member | None) -> tuple[str, ...]:
    leads = actor is not None and actor.leads
    return (*MEMBER_TASKS, LEADER) if leads else MEMBER_TASKS


def task_menu(context: Context, text: str, actor: Member | None = None) -> Reply:
    """``text`` with the menu of tasks under it, for ``actor`` (the one acting by default)."""
    return _menu(context, text, _tasks(actor or context.actor), context.inbound.platform)


def _menu(context: Context, text: str, tasks: tuple[str, ...], platform: Platform) -> Reply:
    labels = [context.t(TASK_LABELS[task]) for task in tasks]
    if platform is Platform.TELEGRAM:
        rows = [
            tuple(labels[i : i + KEYBOARD_WIDTH]) for i in range(0, len(labels), KEYBOARD_WIDTH)
        ]
        return Reply(text, keyboard=tuple(rows))
    choices = tuple(
        (Choice(label, f"{TASK}:{task}"),) for label, task in zip(labels, tasks, strict=True)
    )
    return Reply(text, choices=choices)


def welcome_menu(context: Context, member: Member, platform: str, account: str) -> Reply:
    """The menu sent privately to a member whose join was just accepted."""
    cell = context.require_cell()
    text = context.t("menu.welcome", name=member.full_name, cell=cell.name)
    menu = _menu(context, text, _tasks(member), Platform(platform))
    return replace(private_reply(text, platform, account, menu.choices), keyboard=menu.keyboard)


async def task_button(context: Context, args: list[str]) -> list[Reply]:
    """A task picked from a numbered or inline menu runs as its command would."""
    return await context.run_command(context, args[0])


async def leader_menu(context: Context) -> list[Reply]:
    """«Việc của bí thư»: the leaders' tasks, one tap each."""
    choices = tuple(
        (Choice(context.t(TASK_LABELS[task]), f"{TASK}:{task}"),) for task in LEADER_TASKS
    )
    return [Reply(context.t("menu.leader_card"), choices=choices)]


def not_understood(context: Context) -> list[Reply]:
    """Words we could not read: never a dead end, the menu comes with the apology."""
    actor, cell = context.actor, context.cell
    if actor is not None and cell is not None and actor.state is MemberState.PENDING:
        return [Reply(context.t("join.pending", cell=cell.name))]
    if actor is None or actor.state is not MemberState.ACTIVE:
        return [Reply(context.t("error.not_understood"))]
    return [task_menu(context, context.t("menu.not_understood"))]


def pick_task(context: Context, tasks: tuple[str, ...]) -> list[Reply]:
    """Words that could mean several tasks: a short choice between them."""
    choices = tuple((Choice(context.t(TASK_LABELS[task]), f"{TASK}:{task}"),) for task in tasks)
    return [Reply(context.t("menu.which"), choices=choices)]


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
    menu = task_menu(context, context.t(key, name=actor.full_name, cell=context.cell.name))
    if menu.keyboard:
        # The keyboard stays under the input box; the card's own buttons come just after it.
        return [menu, Reply(context.t("help.more"), choices=tuple(choices))]
    return [replace(menu, choices=menu.choices + tuple(choices))]


async def import_hint(context: Context, _args: list[str]) -> list[Reply]:
    return [Reply(context.t("import.hint"))]


async def cancel(context: Context) -> list[Reply]:
    inbound = context.inbound
    await context.services.pending.forget(
        platform=inbound.platform, chat_id=inbound.chat_id, user_id=inbound.user_id
    )
    return [Reply(context.t("cancel.done"))]
