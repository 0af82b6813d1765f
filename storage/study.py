"""Resolution study (học tập nghị quyết): campaigns of multiple-choice questions, each member's
answers and result. A campaign belongs to the unit that made it (a cell, or a committee for
all its cells) and is seen only by members of the cells it targets.

Opening a campaign writes, in the same transaction, a private notice to every member now and
a reminder a day before the deadline; finishing cancels that member's reminder.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.audit import Actor, record
from storage.db import reading
from storage.errors import StorageConflict
from storage.models import MemberState, OrgKind, OrgUnit, OutboxStatus, StudyStatus
from storage.outbox import NewOutboxRow, enqueue
from storage.schema import (
    identities,
    members,
    org_units,
    outbox,
    study_answers,
    study_campaigns,
    study_questions,
    study_results,
    study_targets,
)

REMIND_BEFORE = timedelta(days=1)


class CampaignNotFound(StorageConflict):
    """No such campaign for this unit (or not open to this member's cell)."""


class CampaignClosed(StorageConflict):
    """Past the deadline, or not opened yet: no more answers."""


class CampaignNotDraft(StorageConflict):
    """Already opened: its questions can no longer change."""


class CampaignEmpty(StorageConflict):
    """A campaign without questions cannot be opened."""


@dataclass(frozen=True, slots=True)
class NewQuestion:
    text: str
    options: tuple[str, ...]
    correct: int


@dataclass(frozen=True, slots=True)
class StudyQuestion:
    id: int
    position: int
    text: str
    options: tuple[str, ...]
    correct: int


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    unit_id: int
    title: str
    deadline: datetime
    status: StudyStatus
    questions: int


@dataclass(frozen=True, slots=True)
class MemberProgress:
    campaign: Campaign
    answered: int
    score: int | None  # set once finished


@dataclass(frozen=True, slots=True)
class AnswerResult:
    correct: bool
    question: StudyQuestion
    finished: bool
    score: int
    total: int


@dataclass
class CellStudy:
    cell_id: int
    cell_name: str
    members: int
    completed: int
    score_sum: int
    total_sum: int


@dataclass
class StudySummary:
    campaign: Campaign
    questions: list[StudyQuestion]
    cells: list[CellStudy] = field(default_factory=list)
    missed: Counter[int] = field(default_factory=Counter)  # question id → wrong answers


def _campaign_query() -> Any:
    count = (
        select(func.count(study_questions.c.id))
        .where(study_questions.c.campaign_id == study_campaigns.c.id)
        .scalar_subquery()
    )
    return select(
        study_campaigns.c.id,
        study_campaigns.c.org_unit_id,
        study_campaigns.c.title,
        study_campaigns.c.deadline,
        study_campaigns.c.status,
        count.label("questions"),
    )


def _campaign(row: Any) -> Campaign:
    return Campaign(
        row.id, row.org_unit_id, row.title, row.deadline, StudyStatus(row.status), row.questions
    )


def _question(row: Any) -> StudyQuestion:
    return StudyQuestion(row.id, row.position, row.text, tuple(row.options), row.correct)


class StudyRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # --- leaders -------------------------------------------------------------------------

    async def create(
        self,
        *,
        unit_id: int,
        title: str,
        deadline: datetime,
        document_id: int | None,
        actor: Actor,
        now: datetime,
    ) -> int:
        async with self._engine.begin() as connection:
            campaign_id = int(
                (
                    await connection.execute(
                        insert(study_campaigns)
                        .values(
                            org_unit_id=unit_id,
                            document_id=document_id,
                            title=title,
                            deadline=deadline,
                            status=StudyStatus.DRAFT,
                            created_by=actor.member_id,
                            created_at=now,
                        )
                        .returning(study_campaigns.c.id)
                    )
                ).scalar_one()
            )
            await record(
                connection,
                at=now,
                actor=actor,
                action="study.created",
                org_unit_id=unit_id,
                target=f"study:{campaign_id}",
            )
            return campaign_id

    async def add_questions(
        self,
        *,
        unit_id: int,
        campaign_id: int,
        questions: Sequence[NewQuestion],
        actor: Actor,
        now: datetime,
    ) -> int:
        """Append questions to a draft; returns how many it has now."""
        async with self._engine.begin() as connection:
            campaign = await self._own(connection, unit_id, campaign_id)
            if campaign.status is not StudyStatus.DRAFT:
                raise CampaignNotDraft
            start = campaign.questions
            if questions:
                await connection.execute(
                    insert(study_questions),
                    [
                        {
                            "campaign_id": campaign_id,
                            "position": start + offset,
                            "text": question.text,
                            "options": list(question.options),
                            "correct": question.correct,
                        }
                        for offset, question in enumerate(questions, start=1)
                    ],
                )
            await record(
                connection,
                at=now,
                actor=actor,
                action="study.questions_added",
                org_unit_id=unit_id,
                target=f"study:{campaign_id}",
                details={"count": len(questions)},
            )
            return start + len(questions)

    async def open(
        self,
        *,
        unit: OrgUnit,
        campaign_id: int,
        platform: str,
        notice: str,
        reminder: str,
        actor: Actor,
        now: datetime,
    ) -> int:
        """Open a draft to its cells (the unit itself, or every cell of a committee) and queue
        each member's notice and reminder. Returns how many members it reaches."""
        async with self._engine.begin() as connection:
            campaign = await self._own(connection, unit.id, campaign_id)
            if campaign.status is not StudyStatus.DRAFT:
                raise CampaignNotDraft
            if campaign.questions == 0:
                raise CampaignEmpty
            if campaign.deadline <= now:
                raise CampaignClosed
            if unit.kind is OrgKind.CELL:
                cells = [unit.id]
            else:
                cells = list(
                    (
                        await connection.execute(
                            select(org_units.c.id).where(
                                org_units.c.parent_id == unit.id,
                                org_units.c.kind == OrgKind.CELL,
                            )
                        )
                    ).scalars()
                )
            if cells:
                await connection.execute(
                    insert(study_targets),
                    [{"campaign_id": campaign_id, "cell_id": cell} for cell in cells],
                )
            await connection.execute(
                update(study_campaigns)
                .where(study_campaigns.c.id == campaign_id)
                .values(status=StudyStatus.OPEN, opened_at=now)
            )
            accounts = await connection.execute(
                select(members.c.id, members.c.org_unit_id, identities.c.external_user_id)
                .join(identities, identities.c.member_id == members.c.id)
                .where(
                    members.c.org_unit_id.in_(cells),
                    members.c.state == MemberState.ACTIVE,
                    identities.c.platform == platform,
                )
            )
            rows: list[NewOutboxRow] = []
            reached: set[int] = set()
            remind_at = max(campaign.deadline - REMIND_BEFORE, now)
            for member_id, cell_id, account in accounts:
                if member_id in reached:
                    continue  # one private chat per member is enough
                reached.add(member_id)
                for key, due, text in (
                    (f"study:{campaign_id}:{member_id}:open", now, notice),
                    (reminder_key(campaign_id, member_id), remind_at, reminder),
                ):
                    rows.append(
                        NewOutboxRow(
                            dedupe_key=key,
                            platform=platform,
                            chat_id=str(account),
                            due_at=due,
                            expires_at=campaign.deadline,
                            payload={"type": "text", "text": text},
                            org_unit_id=cell_id,
                        )
                    )
            await enqueue(connection, rows, now)
            await record(
                connection,
                at=now,
                actor=actor,
                action="study.opened",
                org_unit_id=unit.id,
                target=f"study:{campaign_id}",
                details={"cells": len(cells), "members": len(reached)},
            )
            return len(reached)

    async def for_unit(self, unit_id: int, limit: int = 10) -> list[Campaign]:
        """The unit's own campaigns, newest first (drafts too)."""
        query = (
            _campaign_query()
            .where(study_campaigns.c.org_unit_id == unit_id)
            .order_by(study_campaigns.c.id.desc())
            .limit(limit)
        )
        async with reading(self._engine).connect() as connection:
            return [_campaign(row) for row in await connection.execute(query)]

    async def get_own(self, unit_id: int, campaign_id: int) -> Campaign:
        async with reading(self._engine).connect() as connection:
            return await self._own(connection, unit_id, campaign_id)

    async def summary(self, unit: OrgUnit, campaign_id: int) -> StudySummary:
        """Completion and scores per targeted cell visible to ``unit`` (its own cell, or all
        of a committee's cells), and how often each question was missed there."""
        async with reading(self._engine).connect() as connection:
            campaign = await self._visible(connection, unit, campaign_id)
            questions = [
                _question(row)
                for row in await connection.execute(
                    select(study_questions)
                    .where(study_questions.c.campaign_id == campaign_id)
                    .order_by(study_questions.c.position)
                )
            ]
            cells_query = (
                select(org_units.c.id, org_units.c.name)
                .join(study_targets, study_targets.c.cell_id == org_units.c.id)
                .where(study_targets.c.campaign_id == campaign_id)
                .order_by(org_units.c.name, org_units.c.id)
            )
            if unit.kind is OrgKind.CELL:
                cells_query = cells_query.where(org_units.c.id == unit.id)
            else:
                cells_query = cells_query.where(org_units.c.parent_id == unit.id)
            found = StudySummary(campaign, questions)
            by_cell = {
                row.id: CellStudy(row.id, row.name, 0, 0, 0, 0)
                for row in await connection.execute(cells_query)
            }
            found.cells = list(by_cell.values())
            if not by_cell:
                return found
            cell_ids = list(by_cell)
            for cell_id, count in await connection.execute(
                select(members.c.org_unit_id, func.count(members.c.id))
                .where(members.c.org_unit_id.in_(cell_ids), members.c.state == MemberState.ACTIVE)
                .group_by(members.c.org_unit_id)
            ):
                by_cell[cell_id].members = int(count)
            for row in await connection.execute(
                select(study_results.c.cell_id, study_results.c.score, study_results.c.total).where(
                    study_results.c.campaign_id == campaign_id,
                    study_results.c.cell_id.in_(cell_ids),
                )
            ):
                item = by_cell[row.cell_id]
                item.completed += 1
                item.score_sum += row.score
                item.total_sum += row.total
            for question_id, count in await connection.execute(
                select(study_answers.c.question_id, func.count(study_answers.c.member_id))
                .join(members, members.c.id == study_answers.c.member_id)
                .where(
                    study_answers.c.campaign_id == campaign_id,
                    study_answers.c.correct.is_(False),
                    members.c.org_unit_id.in_(cell_ids),
                )
                .group_by(study_answers.c.question_id)
            ):
                found.missed[question_id] = int(count)
        return found

    # --- members -------------------------------------------------------------------------

    async def for_member(self, cell_id: int, member_id: int, now: datetime) -> list[MemberProgress]:
        """Open campaigns for the member's cell whose deadline has not passed, with how far
        the member got."""
        query = (
            _campaign_query()
            .join(study_targets, study_targets.c.campaign_id == study_campaigns.c.id)
            .where(
                study_targets.c.cell_id == cell_id,
                study_campaigns.c.status == StudyStatus.OPEN,
                study_campaigns.c.deadline > now,
            )
            .order_by(study_campaigns.c.deadline, study_campaigns.c.id)
        )
        async with reading(self._engine).connect() as connection:
            campaigns = [_campaign(row) for row in await connection.execute(query)]
            ids = [c.id for c in campaigns]
            answered: Counter[int] = Counter()
            scores: dict[int, int] = {}
            if ids:
                for (campaign_id,) in await connection.execute(
                    select(study_answers.c.campaign_id).where(
                        study_answers.c.campaign_id.in_(ids),
                        study_answers.c.member_id == member_id,
                    )
                ):
                    answered[campaign_id] += 1
                for campaign_id, score in await connection.execute(
                    select(study_results.c.campaign_id, study_results.c.score).where(
                        study_results.c.campaign_id.in_(ids),
                        study_results.c.member_id == member_id,
                    )
                ):
                    scores[campaign_id] = score
        return [MemberProgress(c, answered[c.id], scores.get(c.id)) for c in campaigns]

    async def next_question(
        self, cell_id: int, campaign_id: int, member_id: int, now: datetime
    ) -> tuple[Campaign, StudyQuestion | None, int]:
        """The first question the member has not answered (None: finished), and its number."""
        async with reading(self._engine).connect() as connection:
            campaign = await self._open_for(connection, cell_id, campaign_id, now)
            answered = select(study_answers.c.question_id).where(
                study_answers.c.member_id == member_id,
                study_answers.c.campaign_id == campaign_id,
            )
            row = (
                await connection.execute(
                    select(study_questions)
                    .where(
                        study_questions.c.campaign_id == campaign_id,
                        study_questions.c.id.not_in(answered),
                    )
                    .order_by(study_questions.c.position)
                    .limit(1)
                )
            ).first()
            done = len((await connection.execute(answered)).all())
        return campaign, (_question(row) if row else None), done + 1

    async def answer(
        self,
        *,
        cell_id: int,
        campaign_id: int,
        question_id: int,
        member_id: int,
        chosen: int,
        actor: Actor,
        now: datetime,
    ) -> AnswerResult:
        """Record the member's answer; a second answer to the same question changes nothing.
        The last answer stores the result and cancels the member's reminder."""
        async with self._engine.begin() as connection:
            campaign = await self._open_for(connection, cell_id, campaign_id, now)
            row = (
                await connection.execute(
                    select(study_questions).where(
                        study_questions.c.id == question_id,
                        study_questions.c.campaign_id == campaign_id,
                    )
                )
            ).first()
            if row is None:
                raise CampaignNotFound
            question = _question(row)
            if not 0 <= chosen < len(question.options):
                raise CampaignNotFound
            existing = (
                await connection.execute(
                    select(study_answers.c.correct).where(
                        study_answers.c.question_id == question_id,
                        study_answers.c.member_id == member_id,
                    )
                )
            ).first()
            correct = existing[0] if existing else chosen == question.correct
            if existing is None:
                await connection.execute(
                    insert(study_answers).values(
                        question_id=question_id,
                        member_id=member_id,
                        campaign_id=campaign_id,
                        chosen=chosen,
                        correct=correct,
                        answered_at=now,
                    )
                )
                await record(
                    connection,
                    at=now,
                    actor=actor,
                    action="study.answered",
                    org_unit_id=cell_id,
                    target=f"study:{campaign_id}",
                    details={"question": question_id},
                )
            marks = [
                bool(value)
                for (value,) in await connection.execute(
                    select(study_answers.c.correct).where(
                        study_answers.c.campaign_id == campaign_id,
                        study_answers.c.member_id == member_id,
                    )
                )
            ]
            finished = len(marks) >= campaign.questions
            score = sum(marks)
            if finished and existing is None:
                await connection.execute(
                    insert(study_results).values(
                        campaign_id=campaign_id,
                        member_id=member_id,
                        cell_id=cell_id,
                        score=score,
                        total=campaign.questions,
                        completed_at=now,
                    )
                )
                await connection.execute(
                    update(outbox)
                    .where(
                        outbox.c.dedupe_key == reminder_key(campaign_id, member_id),
                        outbox.c.status == OutboxStatus.PENDING,
                    )
                    .values(status=OutboxStatus.CANCELLED)
                )
                await record(
                    connection,
                    at=now,
                    actor=actor,
                    action="study.completed",
                    org_unit_id=cell_id,
                    target=f"study:{campaign_id}",
                    details={"member": member_id},
                )
            return AnswerResult(bool(correct), question, finished, score, campaign.questions)

    # --- helpers -------------------------------------------------------------------------

    async def _own(self, connection: AsyncConnection, unit_id: int, campaign_id: int) -> Campaign:
        row = (
            await connection.execute(
                _campaign_query().where(
                    study_campaigns.c.id == campaign_id,
                    study_campaigns.c.org_unit_id == unit_id,
                )
            )
        ).first()
        if row is None:
            raise CampaignNotFound
        return _campaign(row)

    async def _visible(
        self, connection: AsyncConnection, unit: OrgUnit, campaign_id: int
    ) -> Campaign:
        """The unit's own campaign, or (for a cell) one its committee opened to it."""
        query = _campaign_query().where(study_campaigns.c.id == campaign_id)
        if unit.kind is OrgKind.CELL:
            targeted = select(study_targets.c.campaign_id).where(study_targets.c.cell_id == unit.id)
            query = query.where(
                (study_campaigns.c.org_unit_id == unit.id) | study_campaigns.c.id.in_(targeted)
            )
        else:
            query = query.where(study_campaigns.c.org_unit_id == unit.id)
        row = (await connection.execute(query)).first()
        if row is None:
            raise CampaignNotFound
        return _campaign(row)

    async def _open_for(
        self, connection: AsyncConnection, cell_id: int, campaign_id: int, now: datetime
    ) -> Campaign:
        row = (
            await connection.execute(
                _campaign_query()
                .join(study_targets, study_targets.c.campaign_id == study_campaigns.c.id)
                .where(study_campaigns.c.id == campaign_id, study_targets.c.cell_id == cell_id)
            )
        ).first()
        if row is None:
            raise CampaignNotFound
        campaign = _campaign(row)
        if campaign.status is not StudyStatus.OPEN or campaign.deadline <= now:
            raise CampaignClosed
        return campaign


def reminder_key(campaign_id: int, member_id: int) -> str:
    return f"study:{campaign_id}:{member_id}:remind"
