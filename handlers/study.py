"""Resolution study (/hoctap): the secretary or the committee office makes a campaign for a
document — a title, a deadline and multiple-choice questions pasted as text, sent as a CSV or
text file, or added a few at a time — and opens it. Members take it privately, one question at a
time, answering with a button (a numbered line on platforms without buttons). Scores and
completion are stored; the unfinished get a private reminder a day before the deadline. The
summary shows completion, average score and the most-missed questions, per cell.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from typing_extensions import TypedDict

from handlers.context import Context, QuestionGone, UserError, button_id
from handlers.core import Choice, Poll, Reply
from handlers.study_import import MAX_QUESTION_CHARS, Question, parse_csv, parse_text
from storage.documents import DocumentNotFound
from storage.models import OrgUnit, StudyStatus
from storage.study import (
    Campaign,
    CampaignClosed,
    CampaignEmpty,
    CampaignNotDraft,
    CampaignNotFound,
    NewQuestion,
    StudyQuestion,
    StudyRepository,
    StudySummary,
)

# Choice-data prefixes (registered in handlers/catalog.py).
TAKE = "qs"  # qs:<campaign>                 show the member's next question
ANSWER = "qa"  # qa:<campaign>:<question>:<option>
NEW = "qn"  # qn  or  qn:<document|0>      a leader starts a campaign
OPEN = "qo"  # qo:<campaign>                 open a draft to the members
SUMMARY = "qv"  # qv:<campaign>              completion, scores, most-missed questions

TITLE_FLOW = "study_title"
DEADLINE_FLOW = "study_deadline"
QUESTIONS_FLOW = "study_questions"


class DeadlineQuestion(TypedDict):
    document: int | None
    title: str


class QuestionsQuestion(TypedDict):
    campaign: int


ANSWER_TTL = timedelta(hours=1)
MAX_TITLE = 200
MAX_FILE_BYTES = 512 * 1024
LABEL_CHARS = 60
MAX_POLL_QUESTION = MAX_QUESTION_CHARS
MISSED_SHOWN = 3
DATE_FORMATS = ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y")


def _repo(context: Context) -> StudyRepository:
    return context.services.study


def _leader_unit(context: Context) -> OrgUnit:
    """Free-text answers come without the dispatcher's access check: repeat it."""
    if not context.require_actor().leads:
        raise UserError("error.leader_only")
    return context.require_cell()


def _when(context: Context, moment: datetime, unit: OrgUnit) -> str:
    return context.services.texts.datetime(moment.astimezone(ZoneInfo(unit.timezone)))


# --- /hoctap ---------------------------------------------------------------------------------


async def study_command(context: Context) -> list[Reply]:
    """Members: the open campaigns of their cell. Leaders and offices also: their own
    campaigns and «Tạo đợt học tập mới»."""
    unit = context.require_cell()
    actor = context.require_actor()
    replies: list[Reply] = []
    if not context.is_office:
        progress = await _repo(context).for_member(unit.id, actor.id, context.now)
        lines = [context.t("study.mine.title")]
        buttons = []
        for item in progress:
            campaign = item.campaign
            deadline = _when(context, campaign.deadline, unit)
            if item.score is not None:
                lines.append(
                    context.t(
                        "study.mine.done",
                        title=campaign.title,
                        score=item.score,
                        total=campaign.questions,
                    )
                )
                continue
            lines.append(
                context.t(
                    "study.mine.todo",
                    title=campaign.title,
                    answered=item.answered,
                    total=campaign.questions,
                    deadline=deadline,
                )
            )
            buttons.append(
                (
                    Choice(
                        context.t("study.button.take", title=campaign.title[:40]),
                        f"{TAKE}:{campaign.id}",
                    ),
                )
            )
        if not progress:
            lines.append(context.t("study.mine.none"))
        replies.append(Reply("\n".join(lines), choices=tuple(buttons)))
    if actor.leads:
        replies.append(await _leader_list(context, unit))
    return replies


async def _leader_list(context: Context, unit: OrgUnit) -> Reply:
    campaigns = await _repo(context).for_unit(unit.id)
    lines = [context.t("study.list.title")]
    buttons = []
    for campaign in campaigns:
        key = "study.list.draft" if campaign.status is StudyStatus.DRAFT else "study.list.open"
        lines.append(
            context.t(
                key,
                title=campaign.title,
                count=campaign.questions,
                deadline=_when(context, campaign.deadline, unit),
            )
        )
        if campaign.status is StudyStatus.OPEN:
            buttons.append(
                (
                    Choice(
                        context.t("study.button.summary", title=campaign.title[:40]),
                        f"{SUMMARY}:{campaign.id}",
                    ),
                )
            )
    if not campaigns:
        lines.append(context.t("study.list.none"))
    buttons.append((Choice(context.t("study.button.new"), NEW),))
    return Reply("\n".join(lines), choices=tuple(buttons))


# --- making a campaign -----------------------------------------------------------------------


async def new_campaign(context: Context, args: list[str]) -> list[Reply]:
    """qn: pick the document it is about (or none); then the title, the deadline, the questions."""
    unit = context.require_cell()
    if not args:
        recent = await context.services.documents.recent(unit.id, limit=6)
        choices = [(Choice(doc.title[:LABEL_CHARS], f"{NEW}:{doc.id}"),) for doc in recent]
        choices.append((Choice(context.t("study.button.no_document"), f"{NEW}:0"),))
        return [Reply(context.t("study.new.pick_document"), choices=tuple(choices))]
    document_id = button_id(args, 0)
    if document_id:
        try:
            document = await context.services.documents.visible(unit.id, document_id)
        except DocumentNotFound as exc:
            raise UserError("document.error.not_found") from exc
        await context.expect_answer(
            DEADLINE_FLOW, {"document": document_id, "title": document.title}, ttl=ANSWER_TTL
        )
        return [Reply(context.t("study.ask.deadline", title=document.title), ask_text=True)]
    await context.expect_answer(TITLE_FLOW, {}, ttl=ANSWER_TTL)
    return [Reply(context.t("study.ask.title"), ask_text=True)]


async def title_answer(context: Context, data: dict[str, object]) -> list[Reply]:
    _leader_unit(context)
    title = " ".join(context.inbound.text.split())
    if not title or len(title) > MAX_TITLE:
        raise UserError("study.error.title", limit=MAX_TITLE)
    await context.expect_answer(DEADLINE_FLOW, {"document": None, "title": title}, ttl=ANSWER_TTL)
    return [Reply(context.t("study.ask.deadline", title=title), ask_text=True)]


def parse_deadline(text: str, zone: ZoneInfo) -> datetime:
    """ "15/12/2026" → the end of that day in the cell's time zone."""
    for layout in DATE_FORMATS:
        try:
            day = datetime.strptime(text.strip(), layout).date()
        except ValueError:
            continue
        return datetime.combine(day, time(23, 59), zone)
    raise UserError("study.error.deadline")


async def deadline_answer(context: Context, data: dict[str, object]) -> list[Reply]:
    unit = _leader_unit(context)
    deadline = parse_deadline(context.inbound.text, ZoneInfo(unit.timezone))
    if deadline <= context.now:
        raise UserError("study.error.deadline_past")
    document = data.get("document")
    campaign_id = await _repo(context).create(
        unit_id=unit.id,
        title=str(data["title"]),
        deadline=deadline,
        document_id=int(str(document)) if document else None,
        actor=context.audit_actor,
        now=context.now,
    )
    await context.expect_answer(QUESTIONS_FLOW, {"campaign": campaign_id}, ttl=ANSWER_TTL)
    return [Reply(context.t("study.ask.questions"), ask_text=True)]


async def questions_answer(context: Context, data: dict[str, object]) -> list[Reply]:
    """Questions as text or a file; more may follow until the leader taps «Mở đợt học tập».
    A mistake anywhere stores nothing from that message, and the bot keeps waiting."""
    unit = _leader_unit(context)
    campaign_id = int(str(data["campaign"]))
    await context.expect_answer(QUESTIONS_FLOW, data, ttl=ANSWER_TTL)
    attachment = context.inbound.attachment
    if attachment is not None:
        if attachment.size is not None and attachment.size > MAX_FILE_BYTES:
            raise UserError("study.error.file_size")
        content = await context.gateway.download(attachment.file_id)
        if attachment.file_name.lower().endswith(".csv"):
            questions = parse_csv(content)
        else:
            try:
                questions = parse_text(content.decode("utf-8-sig"))
            except UnicodeDecodeError as exc:
                raise UserError("study.error.encoding") from exc
    else:
        questions = parse_text(context.inbound.text)
    try:
        total = await _repo(context).add_questions(
            unit_id=unit.id,
            campaign_id=campaign_id,
            questions=[_new(q) for q in questions],
            actor=context.audit_actor,
            now=context.now,
        )
    except (CampaignNotFound, CampaignNotDraft) as exc:
        raise QuestionGone("study.error.not_draft") from exc
    return [
        Reply(
            context.t("study.added", count=len(questions), total=total),
            choices=((Choice(context.t("study.button.open"), f"{OPEN}:{campaign_id}"),),),
        )
    ]


def _new(question: Question) -> NewQuestion:
    return NewQuestion(question.text, question.options, question.correct)


async def open_campaign(context: Context, args: list[str]) -> list[Reply]:
    unit = context.require_cell()
    campaign_id = button_id(args, 0)
    repo = _repo(context)
    try:
        campaign = await repo.get_own(unit.id, campaign_id)
        deadline = _when(context, campaign.deadline, unit)
        reached = await repo.open(
            unit=unit,
            campaign_id=campaign_id,
            platform=context.inbound.platform.value,
            notice=context.t("study.notice", title=campaign.title, deadline=deadline),
            reminder=context.t("study.reminder", title=campaign.title, deadline=deadline),
            actor=context.audit_actor,
            now=context.now,
        )
    except CampaignNotFound as exc:
        raise UserError("study.error.not_found") from exc
    except CampaignNotDraft as exc:
        raise QuestionGone("study.error.not_draft") from exc
    except CampaignEmpty as exc:
        raise UserError("study.error.empty") from exc
    except CampaignClosed as exc:
        raise UserError("study.error.deadline_past") from exc
    # The questions are complete: stop waiting for more.
    inbound = context.inbound
    await context.services.pending.forget(
        platform=inbound.platform, chat_id=inbound.chat_id, user_id=inbound.user_id
    )
    return [Reply(context.t("study.opened", title=campaign.title, count=reached))]


# --- taking it -------------------------------------------------------------------------------


def _question_reply(
    context: Context, campaign: Campaign, question: StudyQuestion, number: int
) -> Reply:
    lines = [
        context.t(
            "study.question",
            title=campaign.title,
            number=number,
            total=campaign.questions,
            text=question.text,
        )
    ]
    lines.append(context.t("study.question.hint"))
    # The options travel whole as choices: buttons, or numbered lines where there are none
    # (so the label carries no number of its own).
    choices = tuple(
        (Choice(option, f"{ANSWER}:{campaign.id}:{question.id}:{index}"),)
        for index, option in enumerate(question.options)
    )
    poll = Poll(
        question=context.t(
            "study.poll.question", number=number, total=campaign.questions, text=question.text
        )[:MAX_POLL_QUESTION],
        options=question.options,
        correct_option=question.correct,
        data=f"{ANSWER}:{campaign.id}:{question.id}",
    )
    return Reply("\n".join(lines), choices=choices, poll=poll)


async def take(context: Context, args: list[str]) -> list[Reply]:
    cell = context.require_cell()
    actor = context.require_actor()
    try:
        campaign, question, number = await _repo(context).next_question(
            cell.id, button_id(args, 0), actor.id, context.now
        )
    except CampaignNotFound as exc:
        raise UserError("study.error.not_found") from exc
    except CampaignClosed as exc:
        raise UserError("study.error.closed") from exc
    if question is None:
        return [Reply(context.t("study.already_done", title=campaign.title))]
    return [_question_reply(context, campaign, question, number)]


async def answer(context: Context, args: list[str]) -> list[Reply]:
    cell = context.require_cell()
    actor = context.require_actor()
    campaign_id = button_id(args, 0)
    repo = _repo(context)
    try:
        result = await repo.answer(
            cell_id=cell.id,
            campaign_id=campaign_id,
            question_id=button_id(args, 1),
            member_id=actor.id,
            chosen=button_id(args, 2),
            actor=context.audit_actor,
            now=context.now,
        )
    except CampaignNotFound as exc:
        raise UserError("study.error.not_found") from exc
    except CampaignClosed as exc:
        raise UserError("study.error.closed") from exc
    question = result.question
    verdict = (
        context.t("study.right")
        if result.correct
        else context.t(
            "study.wrong",
            number=question.correct + 1,
            option=question.options[question.correct],
        )
    )
    if result.finished:
        return [
            Reply(verdict),
            Reply(context.t("study.finished", score=result.score, total=result.total)),
        ]
    return [Reply(verdict), *await take(context, [str(campaign_id)])]


# --- the summary -----------------------------------------------------------------------------


async def summary(context: Context, args: list[str]) -> list[Reply]:
    unit = context.require_cell()
    try:
        found = await _repo(context).summary(unit, button_id(args, 0))
    except CampaignNotFound as exc:
        raise UserError("study.error.not_found") from exc
    return [Reply(summary_text(context, found))]


def _percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "—"


def summary_text(context: Context, found: StudySummary) -> str:
    lines = [context.t("study.summary.title", title=found.campaign.title)]
    members = sum(c.members for c in found.cells)
    completed = sum(c.completed for c in found.cells)
    lines.append(
        context.t(
            "study.summary.total",
            completed=completed,
            members=members,
            rate=_percent(completed, members),
            average=_percent(
                sum(c.score_sum for c in found.cells), sum(c.total_sum for c in found.cells)
            ),
        )
    )
    if len(found.cells) > 1:
        for cell in found.cells:
            lines.append(
                context.t(
                    "study.summary.cell",
                    cell=cell.cell_name,
                    completed=cell.completed,
                    members=cell.members,
                    rate=_percent(cell.completed, cell.members),
                    average=_percent(cell.score_sum, cell.total_sum),
                )
            )
    by_id = {q.id: q for q in found.questions}
    missed = [(qid, n) for qid, n in found.missed.most_common(MISSED_SHOWN) if n]
    if missed:
        lines.append(context.t("study.summary.missed"))
        for question_id, count in missed:
            question = by_id[question_id]
            lines.append(
                context.t(
                    "study.summary.missed_line",
                    number=question.position,
                    text=question.text[:80],
                    count=count,
                )
            )
    return "\n".join(lines)
