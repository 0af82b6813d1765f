"""Feedback tracked to an answer (/gopy, alias /feedback), always in a private chat.

A member picks a kind (góp ý, phản ánh, kiến nghị, đề xuất), chooses to send it with their name
or anonymously, then writes it; the secretary and deputy hear of it privately at once. Leaders
list open items oldest first and move each one along with a text of their own — in progress,
answered, forwarded to the committee, closed — and a named member is told of every step. A
committee office sees the items its cells forwarded and may answer or close them.

Anonymous really means no link: the item stores no member, its audit entry names nobody, and
nothing here logs who sent it. The member is told so before choosing. The choice comes before
the text because an open question is stored under the asker's account: an anonymous text is
never kept there, not even while its author decides; it goes straight into an item without one.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from typing_extensions import TypedDict

from handlers.context import Context, QuestionGone, UserError, button_id
from handlers.core import Choice, Reply, Tone, private_reply
from handlers.i18n import Texts
from handlers.numbers import parse_row_id
from storage.feedback import (
    MAX_NOTE,
    MAX_TEXT,
    TRANSITIONS,
    FeedbackItem,
    FeedbackNotFound,
    FeedbackRepository,
    FeedbackSummary,
    LeaderScope,
    TransitionNotAllowed,
)
from storage.models import FeedbackKind, FeedbackStatus, OrgUnit

# Choice-data prefixes (registered in handlers/catalog.py).
KIND = "gk"  # gk:<kind>               a member picks what to write
SEND = "gs"  # gs:named|anon|drop      …and how to send it, before writing it
MINE = "gm"  # gm                      a member's own named items
NEW = "gn"  # gn                       a leader writes an item of their own
LIST = "gl"  # gl:<page>               a leader's open items
ITEM = "gi"  # gi:<id>                 one item's card
STEP = "ga"  # ga:<id>:<status>        a leader moves an item (asks for the text first)

TEXT_FLOW = "feedback_text"
SEND_FLOW = "feedback_send"
NOTE_FLOW = "feedback_note"


class SendQuestion(TypedDict):
    """The kind is picked; named or anonymous is not chosen yet (and no text is kept)."""

    kind: FeedbackKind


class TextQuestion(SendQuestion):
    anonymous: bool


class NoteQuestion(TypedDict):
    id: int
    status: FeedbackStatus


# Writing a proposal takes an older member a while; a leader's answer too.
ANSWER_TTL = timedelta(hours=1)
PAGE_SIZE = 8
MINE_LIMIT = 10
MAX_PAGE = 10_000  # a forged page number must not overflow the query's offset
PREVIEW_CHARS = 300


def _repo(context: Context) -> FeedbackRepository:
    return context.services.feedback


def _number(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def _scope(context: Context) -> LeaderScope:
    unit = context.require_cell()
    return LeaderScope(unit.id, context.is_office)


def _kind_label(context: Context, kind: FeedbackKind) -> str:
    return context.t(f"feedback.kind.{kind}")


def _status_label(context: Context, status: FeedbackStatus) -> str:
    return context.t(f"feedback.status.{status}")


def _local_date(context: Context, unit: OrgUnit, item: FeedbackItem) -> str:
    return context.services.texts.date(item.created_at.astimezone(ZoneInfo(unit.timezone)).date())


# --- a member writes ---------------------------------------------------------------------------


def _kind_menu(context: Context, key: str) -> Reply:
    rows = tuple(
        (Choice(context.t(f"feedback.button.kind.{kind}"), f"{KIND}:{kind}"),)
        for kind in FeedbackKind
    )
    rows += ((Choice(context.t("feedback.button.mine"), MINE),),)
    return Reply(context.t(key), choices=rows)


async def feedback_command(context: Context) -> list[Reply]:
    """/gopy: a member gets the kinds to pick from; a leader (or a committee office) the
    items waiting for an answer, or one item's card with ``/gopy <number>``."""
    actor = context.require_actor()
    context.require_cell()
    if not actor.leads:
        return [_kind_menu(context, "feedback.menu")]
    argument = context.inbound.args.strip().lstrip("#")
    if argument:
        item_id = parse_row_id(argument)
        if item_id is None:
            raise UserError("feedback.bad_number")
        return [await _card(context, item_id)]
    return [await _list(context, 0)]


async def new_item(context: Context, _args: list[str]) -> list[Reply]:
    """A leader's own item to their cell (an office has no cell to write to)."""
    if context.is_office:
        raise UserError("feedback.office_cannot_write")
    return [_kind_menu(context, "feedback.menu")]


async def pick_kind(context: Context, args: list[str]) -> list[Reply]:
    if context.is_office:
        raise UserError("feedback.office_cannot_write")
    if len(args) != 1 or args[0] not in {kind.value for kind in FeedbackKind}:
        raise QuestionGone("error.stale_button")
    data: dict[str, object] = {"kind": args[0]}
    await context.expect_answer(SEND_FLOW, data, ttl=ANSWER_TTL)
    return [_send_choice(context, data)]


def _send_choice(context: Context, data: dict[str, object]) -> Reply:
    kind = FeedbackKind(str(data["kind"]))
    rows = (
        (Choice(context.t("feedback.button.named"), f"{SEND}:named"),),
        (Choice(context.t("feedback.button.anonymous"), f"{SEND}:anon"),),
        (Choice(context.t("feedback.button.drop"), f"{SEND}:drop", tone=Tone.DESTRUCTIVE),),
    )
    return Reply(context.t("feedback.choose_how", kind=_kind_label(context, kind)), choices=rows)


async def send_typed(context: Context, data: dict[str, object]) -> list[Reply]:
    """A text where a tap was expected. It is not kept: the member has not said yet whether it
    may be stored with their name. They are asked to choose, then to send it again."""
    await context.expect_answer(SEND_FLOW, data, ttl=ANSWER_TTL)
    return [Reply(context.t("feedback.choose_first")), _send_choice(context, data)]


async def send(context: Context, args: list[str]) -> list[Reply]:
    """Named or anonymous is chosen: ask for the text."""
    if len(args) != 1 or args[0] not in {"named", "anon", "drop"}:
        raise QuestionGone("error.stale_button")
    data = await context.take_answer(SEND_FLOW)
    if data is None:
        raise QuestionGone("error.stale_button")
    if args[0] == "drop":
        return [Reply(context.t("feedback.dropped"), replace=True)]
    if context.is_office:
        raise UserError("feedback.office_cannot_write")
    kind = FeedbackKind(str(data["kind"]))
    anonymous = args[0] == "anon"
    await context.expect_answer(
        TEXT_FLOW, {"kind": kind.value, "anonymous": anonymous}, ttl=ANSWER_TTL
    )
    how = context.t("feedback.button.anonymous" if anonymous else "feedback.button.named")
    ask = "feedback.ask_text_anonymous" if anonymous else "feedback.ask_text"
    return [
        Reply(context.t("feedback.chosen", how=how), replace=True),
        Reply(
            context.t(ask, kind=_kind_label(context, kind), limit=_number(MAX_TEXT)),
            ask_text=True,
        ),
    ]


async def text_answer(context: Context, data: dict[str, object]) -> list[Reply]:
    """The member's text, sent the way they chose. A text that fails a check keeps the question
    open, so nothing is lost (and the question holds no text, so nothing is kept either)."""
    text = context.inbound.text.strip()
    if not text:
        await context.expect_answer(TEXT_FLOW, data, ttl=ANSWER_TTL)
        return [Reply(context.t("feedback.error.empty"), ask_text=True)]
    if len(text) > MAX_TEXT:
        await context.expect_answer(TEXT_FLOW, data, ttl=ANSWER_TTL)
        return [
            Reply(
                context.t(
                    "feedback.error.too_long",
                    limit=_number(MAX_TEXT),
                    length=_number(len(text)),
                ),
                ask_text=True,
            )
        ]
    cell = context.require_cell()
    actor = context.require_actor()
    if context.is_office:
        raise UserError("feedback.office_cannot_write")
    anonymous = data.get("anonymous") is True
    kind = FeedbackKind(str(data["kind"]))
    item = await _repo(context).submit(
        cell_id=cell.id,
        member_id=None if anonymous else actor.id,
        kind=kind,
        text=text,
        actor=context.audit_actor,
        now=context.now,
    )
    done = context.t(
        "feedback.sent_anonymous" if anonymous else "feedback.sent_named",
        kind=_kind_label(context, kind),
        id=item.id,
    )
    replies = [Reply(done)]
    author = context.t("feedback.anonymous") if anonymous else actor.full_name
    notice = context.t(
        "feedback.notify_leaders",
        kind=_kind_label(context, kind),
        id=item.id,
        author=author,
        text=item.text,
    )
    open_card = ((Choice(context.t("feedback.button.open"), f"{ITEM}:{item.id}"),),)
    for platform, account in await context.services.links.leader_accounts(
        cell.id, context.inbound.platform
    ):
        if (platform, account) != (context.inbound.platform, context.inbound.user_id):
            replies.append(private_reply(notice, platform, account, open_card))
    return replies


async def my_items(context: Context, _args: list[str]) -> list[Reply]:
    """A member's own named items and where each stands; anonymous ones cannot be listed."""
    cell = context.require_cell()
    actor = context.require_actor()
    found = await _repo(context).of_member(cell_id=cell.id, member_id=actor.id, limit=MINE_LIMIT)
    if not found:
        return [Reply(context.t("feedback.mine_none"))]
    lines = [context.t("feedback.mine_header")]
    for item, last in found:
        lines.append(
            context.t(
                "feedback.mine_line",
                id=item.id,
                kind=_kind_label(context, item.kind),
                date=_local_date(context, cell, item),
                status=_status_label(context, item.status),
            )
        )
        if last is not None:
            lines.append(context.t("feedback.mine_note", note=last.note))
    lines.append(context.t("feedback.mine_footer"))
    return [Reply("\n".join(lines))]


# --- leaders answer ------------------------------------------------------------------------------


async def list_page(context: Context, args: list[str]) -> list[Reply]:
    if len(args) != 1:
        raise QuestionGone("error.stale_button")
    return [await _list(context, min(button_id(args), MAX_PAGE), replace=True)]


async def _list(context: Context, page: int, *, replace: bool = False) -> Reply:
    repo, scope = _repo(context), _scope(context)
    found = await repo.open_items(scope, offset=page * PAGE_SIZE, limit=PAGE_SIZE)
    if not found.items and found.total:
        # Items were answered since this page was shown: go to the last page there is.
        page = (found.total - 1) // PAGE_SIZE
        found = await repo.open_items(scope, offset=page * PAGE_SIZE, limit=PAGE_SIZE)
    office = context.is_office
    rows: list[tuple[Choice, ...]] = []
    if found.total == 0:
        text = context.t("feedback.office_none" if office else "feedback.list_none")
    else:
        pages = -(-found.total // PAGE_SIZE)
        text = context.t(
            "feedback.office_header" if office else "feedback.list_header",
            count=found.total,
            page=page + 1,
            pages=pages,
        )
        unit = context.require_cell()
        for item in found.items:
            label = context.t(
                "feedback.list_item",
                id=item.id,
                kind=_kind_label(context, item.kind),
                date=_local_date(context, unit, item),
                status=_status_label(context, item.status),
            )
            if office:
                label = context.t("feedback.list_item_cell", item=label, cell=item.cell_name)
            rows.append((Choice(label, f"{ITEM}:{item.id}"),))
        navigation = []
        if page > 0:
            navigation.append(Choice(context.t("feedback.button.previous"), f"{LIST}:{page - 1}"))
        if (page + 1) * PAGE_SIZE < found.total:
            navigation.append(Choice(context.t("feedback.button.next"), f"{LIST}:{page + 1}"))
        if navigation:
            rows.append(tuple(navigation))
    if not office:
        rows.append((Choice(context.t("feedback.button.write"), NEW),))
    return Reply(text, choices=tuple(rows), replace=replace)


def _targets(context: Context, item: FeedbackItem) -> list[FeedbackStatus]:
    """The steps this leader may take now. Only a cell under a committee can forward, and an
    office only answers or closes what was forwarded to it."""
    unit = context.require_cell()
    allowed = TRANSITIONS[item.status]
    order = (
        FeedbackStatus.IN_PROGRESS,
        FeedbackStatus.ANSWERED,
        FeedbackStatus.FORWARDED,
        FeedbackStatus.CLOSED,
    )
    targets = [status for status in order if status in allowed]
    if context.is_office or unit.parent_id is None:
        targets = [status for status in targets if status is not FeedbackStatus.FORWARDED]
    if context.is_office:
        targets = [status for status in targets if status is not FeedbackStatus.IN_PROGRESS]
    return targets


async def open_item(context: Context, args: list[str]) -> list[Reply]:
    if len(args) != 1:
        raise QuestionGone("error.stale_button")
    return [await _card(context, button_id(args))]


async def _visible(context: Context, item_id: int) -> FeedbackItem:
    try:
        return await _repo(context).visible(_scope(context), item_id)
    except FeedbackNotFound:
        raise QuestionGone("feedback.not_found", id=item_id) from None


async def _card(context: Context, item_id: int, *, note: str | None = None) -> Reply:
    item = await _visible(context, item_id)
    unit = context.require_cell()
    texts = context.services.texts
    zone = ZoneInfo(unit.timezone)
    lines = [note, ""] if note else []
    lines.append(
        context.t(
            "feedback.card",
            id=item.id,
            kind=_kind_label(context, item.kind),
            status=_status_label(context, item.status),
            author=item.author_name or context.t("feedback.anonymous"),
            when=texts.datetime(item.created_at.astimezone(zone)),
            text=item.text,
        )
    )
    if context.is_office:
        lines.append(context.t("feedback.card_cell", cell=item.cell_name))
    history = await _repo(context).history(item.id)
    if history:
        lines.append(context.t("feedback.card_history"))
        lines += [
            context.t(
                "feedback.card_step",
                when=texts.datetime(event.at.astimezone(zone)),
                status=_status_label(context, event.status),
                note=event.note,
            )
            for event in history
        ]
    rows = tuple(
        (Choice(context.t(f"feedback.button.to.{status}"), f"{STEP}:{item.id}:{status}"),)
        for status in _targets(context, item)
    )
    rows += ((Choice(context.t("feedback.button.back"), f"{LIST}:0"),),)
    return Reply("\n".join(lines), choices=rows)


async def step_ask(context: Context, args: list[str]) -> list[Reply]:
    """A leader's tap on a step: check it is still possible, then ask for the text."""
    if len(args) != 2 or args[1] not in {status.value for status in FeedbackStatus}:
        raise QuestionGone("error.stale_button")
    item = await _visible(context, button_id(args))
    to = FeedbackStatus(args[1])
    if to not in _targets(context, item):
        raise _not_allowed(context, item.status)
    await context.expect_answer(NOTE_FLOW, {"id": item.id, "status": to.value}, ttl=ANSWER_TTL)
    key = "feedback.ask_note_anonymous" if item.anonymous else "feedback.ask_note_named"
    return [
        Reply(
            context.t(
                key,
                id=item.id,
                step=context.t(f"feedback.button.to.{to}"),
                limit=_number(MAX_NOTE),
            ),
            ask_text=True,
        )
    ]


def _not_allowed(context: Context, current: FeedbackStatus) -> UserError:
    return UserError("feedback.error.transition", status=_status_label(context, current))


async def note_answer(context: Context, data: dict[str, object]) -> list[Reply]:
    """The leader's text for a step: the step happens, and whoever should know is told."""
    note = context.inbound.text.strip()
    if not note or len(note) > MAX_NOTE:
        await context.expect_answer(NOTE_FLOW, data, ttl=ANSWER_TTL)
        key = "feedback.error.note_empty" if not note else "feedback.error.note_too_long"
        return [
            Reply(
                context.t(key, limit=_number(MAX_NOTE), length=_number(len(note))),
                ask_text=True,
            )
        ]
    item = await _visible(context, int(str(data["id"])))
    to = FeedbackStatus(str(data["status"]))
    if to not in _targets(context, item):
        raise _not_allowed(context, item.status)
    try:
        _, item = await _repo(context).move(
            scope=_scope(context),
            item_id=item.id,
            to=to,
            note=note,
            actor=context.audit_actor,
            now=context.now,
        )
    except FeedbackNotFound:
        raise QuestionGone("feedback.not_found", id=item.id) from None
    except TransitionNotAllowed as error:
        raise _not_allowed(context, error.current) from None
    done = context.t("feedback.moved", id=item.id, status=_status_label(context, to))
    if context.is_office:
        # The item has left the office's list; the card would now be "not found".
        back = ((Choice(context.t("feedback.button.back"), f"{LIST}:0"),),)
        replies = [Reply(done, choices=back)]
    else:
        replies = [await _card(context, item.id, note=done)]
    replies += await _tell_others(context, item, to, note)
    return replies


async def _tell_others(
    context: Context, item: FeedbackItem, to: FeedbackStatus, note: str
) -> list[Reply]:
    """A named member hears of every step; the committee office of a forwarded item; the
    cell's leaders of what the office did with theirs."""
    platform = context.inbound.platform
    replies: list[Reply] = []
    if item.member_id is not None:
        text = context.t(
            f"feedback.notify_member.{to}",
            id=item.id,
            kind=_kind_label(context, item.kind),
            note=note,
        )
        for where, account in await context.services.links.member_accounts(
            item.member_id, platform
        ):
            replies.append(private_reply(text, where, account))
    cell = await context.services.cells.get(item.cell_id)
    if to is FeedbackStatus.FORWARDED and cell is not None and cell.parent_id is not None:
        text = context.t(
            "feedback.notify_office",
            id=item.id,
            kind=_kind_label(context, item.kind),
            cell=item.cell_name,
            note=note,
        )
        open_card = ((Choice(context.t("feedback.button.open"), f"{ITEM}:{item.id}"),),)
        for where, account in await context.services.links.leader_accounts(
            cell.parent_id, platform
        ):
            replies.append(private_reply(text, where, account, open_card))
    if context.is_office:
        text = context.t(
            "feedback.notify_cell",
            id=item.id,
            status=_status_label(context, to),
            note=note,
        )
        for where, account in await context.services.links.leader_accounts(item.cell_id, platform):
            replies.append(private_reply(text, where, account))
    me = (platform, context.inbound.user_id)
    return [reply for reply in replies if (reply.platform, reply.chat_id) != me]


# --- the minutes ---------------------------------------------------------------------------------


def minutes_section(texts: Texts, cell: OrgUnit, summary: FeedbackSummary) -> str:
    """The minutes' line on feedback since the last meeting: counts only, never texts or
    names, since the minutes are read out to everyone."""
    kinds = ", ".join(
        texts("feedback.minutes.kind", kind=texts(f"feedback.kind.{kind}"), count=count)
        for kind in FeedbackKind
        if (count := summary.by_kind.get(kind, 0))
    )
    counts = texts(
        "feedback.minutes.counts",
        received=summary.received,
        kinds=f" ({kinds})" if kinds else "",
        answered=summary.answered,
        forwarded=summary.forwarded,
        still_open=summary.still_open,
    )
    if summary.since is None:
        return texts("feedback.minutes.first", counts=counts)
    since = texts.date(summary.since.astimezone(ZoneInfo(cell.timezone)).date())
    return texts("feedback.minutes.since", since=since, counts=counts)
