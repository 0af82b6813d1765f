"""Routes an Inbound to its handler: finds who is acting and in which cell, enforces scope and
access, and turns expected failures into plain messages. Platform adapters call ``handle``."""

from __future__ import annotations

import logging
from dataclasses import replace

from handlers import menu, plain_words
from handlers.context import ANSWER_TTL, Context, PlatformGateway, QuestionGone, Services, UserError
from handlers.core import Inbound, Reply
from handlers.registry import Access, Flow, Registry, Scope
from storage.crypto import PersonalDataKeyMissing, PersonalDataUnreadable
from storage.errors import (
    AlreadyRegistered,
    AlreadySecretary,
    ChatAlreadyLinked,
    MemberNotFound,
    NotPending,
)
from storage.models import Member, MemberState, Role
from storage.pending import PendingInput

logger = logging.getLogger(__name__)

# Longest text we accept from a person; Telegram's own message limit.
MAX_INBOUND_CHARS = 4096

# Expected failures and the message each one gets: the one place this mapping lives.
ERROR_KEYS: dict[type[Exception], str] = {
    PersonalDataKeyMissing: "error.no_data_key",
    PersonalDataUnreadable: "error.data_unreadable",
    MemberNotFound: "error.member_not_found",
    NotPending: "error.already_decided",
    AlreadyRegistered: "error.already_registered",
    # Handing the role to its holder changes nothing, so nobody is told of a change.
    AlreadySecretary: "card.hand_over_already_done",
    ChatAlreadyLinked: "setup.already_linked",
}


def allowed(access: Access, actor: Member | None) -> bool:
    if access is Access.ANYONE:
        return True
    if actor is None or actor.state is not MemberState.ACTIVE:
        return False
    if access is Access.MEMBER:
        return True
    if access is Access.LEADER:
        return actor.leads
    return actor.role is Role.SECRETARY


def _denied_key(access: Access, actor: Member | None) -> str:
    if actor is None:
        return "error.not_member"
    if actor.state is MemberState.PENDING:
        return "error.pending_member"
    return "error.secretary_only" if access is Access.SECRETARY else "error.leader_only"


def _without_nul(inbound: Inbound) -> Inbound:
    texts = (inbound.text, inbound.args, inbound.user_name, inbound.chat_title or "")
    attachment = inbound.attachment
    if not any("\x00" in text for text in texts) and (
        attachment is None or "\x00" not in attachment.file_name
    ):
        return inbound
    return replace(
        inbound,
        text=inbound.text.replace("\x00", ""),
        args=inbound.args.replace("\x00", ""),
        user_name=inbound.user_name.replace("\x00", ""),
        chat_title=inbound.chat_title.replace("\x00", "") if inbound.chat_title else None,
        attachment=(
            replace(attachment, file_name=attachment.file_name.replace("\x00", ""))
            if attachment is not None
            else None
        ),
    )


class Dispatcher:
    def __init__(self, registry: Registry, services: Services) -> None:
        self._registry = registry
        self._services = services

    @property
    def registry(self) -> Registry:
        return self._registry

    @property
    def services(self) -> Services:
        return self._services

    async def handle(self, inbound: Inbound, gateway: PlatformGateway) -> list[Reply]:
        texts = self._services.texts
        if len(inbound.text) > MAX_INBOUND_CHARS or len(inbound.args) > MAX_INBOUND_CHARS:
            return [
                Reply(texts("error.too_long", limit=f"{MAX_INBOUND_CHARS:,}".replace(",", ".")))
            ]
        # PostgreSQL's text cannot hold NUL, and no person means one: a NUL typed, pasted or
        # put in a file name would fail the query that stores or searches it.
        inbound = _without_nul(inbound)
        context = await self._context(inbound, gateway)
        try:
            return await self._route(context)
        except QuestionGone as error:
            text = texts(error.key, **error.values)
            if inbound.choice is not None and not inbound.is_group:
                # The card's work is gone (expired, decided, cancelled): edit it so its buttons
                # go and it says why. A group card is everyone's, so there only the tapper hears.
                return [Reply(text, replace=True)]
            return [Reply(text, popup=inbound.choice is not None)]
        except UserError as error:
            return [Reply(texts(error.key, **error.values), popup=inbound.choice is not None)]
        except tuple(ERROR_KEYS) as error:
            return [Reply(texts(ERROR_KEYS[type(error)]), popup=inbound.choice is not None)]

    async def _context(self, inbound: Inbound, gateway: PlatformGateway) -> Context:
        actor, cell = await self._services.members.whereabouts(
            inbound.platform, inbound.user_id, inbound.chat_id if inbound.is_group else None
        )
        return Context(inbound, self._services, gateway, actor, cell, self._run_command)

    async def _run_command(self, context: Context, name: str) -> list[Reply]:
        inbound = replace(context.inbound, command=name, args="", choice=None)
        return await self._command(replace(context, inbound=inbound), name)

    async def _route(self, context: Context) -> list[Reply]:
        inbound = context.inbound
        if inbound.command is not None:
            return await self._command(context, inbound.command)
        if inbound.choice is not None:
            return await self._action(context, inbound.choice)
        tapped = menu.key_task(inbound.text) if not inbound.is_group else None
        if tapped is not None:
            # A menu key leaves whatever question was open for the task it names.
            await self._services.pending.forget(
                platform=inbound.platform, chat_id=inbound.chat_id, user_id=inbound.user_id
            )
            return await self._run_command(context, tapped)
        pending = await self._services.pending.take(
            platform=inbound.platform,
            chat_id=inbound.chat_id,
            user_id=inbound.user_id,
            now=context.now,
        )
        if pending is not None:
            flow = self._registry.find_flow(pending.flow)
            if flow is not None:
                return await self._answer(context, flow, pending)
            logger.warning("dropping an answer for unknown flow %s", pending.flow)
        if inbound.attachment is not None and not inbound.is_group:
            document_flow = self._registry.find_flow("document")
            if document_flow is not None:
                return await self._continue(context, document_flow, {})
        if inbound.is_group and not inbound.reply_to_bot:
            return []  # ordinary group chatter is none of the bot's business
        return await self._words(context)

    async def _words(self, context: Context) -> list[Reply]:
        """Plain words addressed to the bot («họp», «xin phép vắng», a tap on the menu
        keyboard): the task they name, a short choice when they could mean several, and the
        menu when they mean nothing we do."""
        tasks = plain_words.tasks_of(context.inbound.text)
        if len(tasks) == 1:
            return await self._run_command(context, tasks[0])
        if tasks:
            return menu.pick_task(context, tasks)
        if context.inbound.is_group:
            return []  # a reply to the bot that asks nothing («cảm ơn») needs no answer there
        return menu.not_understood(context)

    async def _command(self, context: Context, name: str) -> list[Reply]:
        inbound = context.inbound
        if name == "start" and not inbound.is_group and inbound.args.strip():
            # A deep link from a group ("continue privately") names the command to resume.
            resumed = self._registry.find_command(inbound.args.strip())
            if resumed is not None and resumed.scope is not Scope.GROUP:
                context = replace(context, inbound=replace(inbound, command=resumed.vi, args=""))
                name = resumed.vi
        # Accented pseudo-commands (/họp, /xinVắng) are the commands without their diacritics.
        command = self._registry.find_command(name) or self._registry.find_command(
            plain_words.command_of(name)
        )
        if command is None:
            if context.inbound.is_group and context.cell is None and context.actor is None:
                return []  # a group that never set us up: stay quiet about other bots' commands
            return self._unknown_command(context, name)
        scope_reply = self._scope_check(context, command.scope)
        if scope_reply is not None:
            return scope_reply
        if not allowed(command.access, context.actor):
            return [Reply(context.t(_denied_key(command.access, context.actor)))]
        return await command.handler(context)

    def _unknown_command(self, context: Context, name: str) -> list[Reply]:
        text = context.t("error.unknown_command", command=name[:32])
        actor = context.actor
        if context.inbound.is_group or actor is None or actor.state is not MemberState.ACTIVE:
            return [Reply(text)]
        return [menu.task_menu(context, text)]

    async def _action(self, context: Context, choice: str) -> list[Reply]:
        prefix, _, arguments = choice.partition(":")
        action = self._registry.find_action(prefix)
        args = action.parse(arguments) if action is not None else None
        if action is None or args is None:
            return [Reply(context.t("error.stale_button"), popup=True)]
        if action.scope is Scope.PRIVATE and context.inbound.is_group:
            return [Reply(context.t("error.private_only"), popup=True)]
        if not allowed(action.access, context.actor):
            return [Reply(context.t(_denied_key(action.access, context.actor)), popup=True)]
        return await action.handler(context, args)

    async def _answer(self, context: Context, flow: Flow, question: PendingInput) -> list[Reply]:
        """A bad answer (any UserError but QuestionGone) keeps the question open, so the person
        simply retypes: the one place this is done, not each flow by hand."""
        try:
            return await self._continue(context, flow, question.data)
        except QuestionGone:
            raise
        except UserError as error:
            inbound = context.inbound
            await self._services.pending.reopen(
                platform=inbound.platform,
                chat_id=inbound.chat_id,
                user_id=inbound.user_id,
                question=question,
                expires_at=max(question.expires_at, context.now + ANSWER_TTL),
            )
            return [Reply(context.t(error.key, **error.values), ask_text=True)]

    async def _continue(self, context: Context, flow: Flow, data: dict[str, object]) -> list[Reply]:
        """An answer is a new request: who answers is checked against their role and cell now,
        as for a button (one no longer allowed closes the question)."""
        if not allowed(flow.access, context.actor):
            return [Reply(context.t(_denied_key(flow.access, context.actor)))]
        if not flow.fits(data):
            logger.warning("a stored %s question no longer fits its shape", flow.name)
            return [Reply(context.t("error.stale_question"))]
        return await flow.handler(context, data)

    def _scope_check(self, context: Context, scope: Scope) -> list[Reply] | None:
        if scope is Scope.PRIVATE and context.inbound.is_group:
            return [
                Reply(
                    context.t("error.private_only"),
                    continue_privately=context.inbound.command or "start",
                )
            ]
        if scope is Scope.GROUP and not context.inbound.is_group:
            return [Reply(context.t("error.group_only"))]
        return None
