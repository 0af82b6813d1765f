"""Resolution study through the real dispatcher on a real SQLite file: making a campaign from
text or CSV, taking it privately, scoring and completion, reminders, summaries per cell and
across a committee's cells, permissions and bad input. The parser is also tested alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.context import UserError
from handlers.i18n import Texts
from handlers.study_import import parse_csv, parse_text
from scheduler.clock import ManualClock
from storage.audit import Actor
from storage.cells import CellRepository
from storage.crypto import FieldCipher
from storage.schema import outbox, study_answers, study_questions, study_results
from storage.study import CampaignClosed, CampaignNotDraft, NewQuestion, StudyRepository
from tests.conftest import START
from tests.support.harness import Harness, Person, buttons_of, texts_of
from tests.test_attendance import OTHER_GROUP, found_cell, join, member_id

vi = Texts("vi")
QUIZ = """Nghị quyết 57 bàn về lĩnh vực nào?
A. Nông nghiệp
*B. Khoa học, công nghệ, đổi mới sáng tạo
C. Du lịch

Chi bộ họp thường kỳ bao lâu một lần?
A. Mỗi tuần
B. Mỗi quý
C. Mỗi tháng
Đáp án: C
"""
DEADLINE = "15/12/2026"


@pytest.fixture
def harness(sqlite_engine: AsyncEngine, cipher: FieldCipher, clock: ManualClock) -> Harness:
    return Harness(sqlite_engine, cipher, clock)


# --- the parser ------------------------------------------------------------------------------


def test_text_questions_are_parsed() -> None:
    first, second = parse_text(QUIZ)
    assert first.text == "Nghị quyết 57 bàn về lĩnh vực nào?"
    assert first.options == ("Nông nghiệp", "Khoa học, công nghệ, đổi mới sáng tạo", "Du lịch")
    assert first.correct == 1
    assert second.correct == 2


def test_csv_questions_are_parsed_with_a_header_and_semicolons() -> None:
    content = (
        "Câu hỏi;Đáp án 1;Đáp án 2;Đáp án 3;Đúng\n"
        "Nghị quyết 57 bàn về gì?;Nông nghiệp;Khoa học;Du lịch;2\n"
        "Họp bao lâu một lần?;Tuần;Tháng;;B\n"
    ).encode()
    first, second = parse_csv(content)
    assert first.options == ("Nông nghiệp", "Khoa học", "Du lịch") and first.correct == 1
    assert second.options == ("Tuần", "Tháng") and second.correct == 1


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Câu hỏi?\nA. Một\nB. Hai", "study.error.no_correct"),
        ("Câu hỏi?\n*A. Một\n*B. Hai", "study.error.many_correct"),
        ("Câu hỏi?\n*A. Một", "study.error.options"),
        ("", "study.error.empty"),
        ("Câu hỏi?\nA. Một\nB. Hai\nĐáp án: D", "study.error.no_correct"),
        ("X" * 301 + "\n*A. Một\nB. Hai", "study.error.question_long"),
    ],
)
def test_bad_quizzes_say_what_is_wrong(text: str, key: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_text(text)
    assert caught.value.key == key


def test_a_csv_row_without_an_answer_is_refused() -> None:
    with pytest.raises(UserError) as caught:
        parse_csv("Câu hỏi?,Một,Hai,\n".encode())
    assert caught.value.key == "study.error.no_correct"


# --- making and opening a campaign -----------------------------------------------------------


async def make_campaign(harness: Harness, leader: Person, quiz: str = QUIZ) -> int:
    await harness.tap(leader, "qn:0")
    await harness.say(leader, "Học tập Nghị quyết 57")
    await harness.say(leader, DEADLINE)
    added = await harness.say(leader, quiz)
    open_data = buttons_of(added)[vi("study.button.open")]
    await harness.tap(leader, open_data)
    return int(open_data.split(":")[1])


async def test_secretary_makes_and_opens_a_campaign(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, _ = await found_cell(harness)
    nam = await join(harness, secretary, "Lê Văn Nam")
    await harness.tap(secretary, "qn:0")
    await harness.say(secretary, "Học tập Nghị quyết 57")
    asked = await harness.say(secretary, DEADLINE)
    assert texts_of(asked) == vi("study.ask.questions")
    added = await harness.say(secretary, QUIZ)
    assert vi("study.added", count=2, total=2) in texts_of(added)
    # Step by step: one more question in a later message.
    more = await harness.say(secretary, "Đảng viên dự bị có biểu quyết không?\n*A. Không\nB. Có")
    assert vi("study.added", count=1, total=3) in texts_of(more)
    opened = await harness.tap(secretary, buttons_of(more)[vi("study.button.open")])
    assert texts_of(opened) == vi("study.opened", title="Học tập Nghị quyết 57", count=2)
    async with sqlite_engine.connect() as connection:
        rows = {
            r.dedupe_key: (r.chat_id, r.due_at)
            for r in await connection.execute(
                select(outbox).where(outbox.c.dedupe_key.like("study:%"))
            )
        }
    nam_id = await member_id(harness, nam)
    key = next(k for k in rows if k.endswith(f":{nam_id}:remind"))
    assert rows[key][0] == nam.user_id
    # The reminder falls a day before the deadline (23:59 on 15/12 in Hà Nội).
    assert rows[key][1].isoformat().startswith("2026-12-14T16:59")


async def test_a_bad_quiz_stores_nothing_and_keeps_waiting(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, _ = await found_cell(harness)
    await harness.tap(secretary, "qn:0")
    await harness.say(secretary, "Học tập")
    assert texts_of(await harness.say(secretary, "31/02/2026")) == vi("study.error.deadline")
    assert texts_of(await harness.say(secretary, "01/01/2020")) == vi("study.error.deadline_past")
    await harness.say(secretary, DEADLINE)
    refused = await harness.say(secretary, "Câu hỏi?\nA. Một\nB. Hai")
    assert texts_of(refused) == vi("study.error.no_correct", number=1)
    async with sqlite_engine.connect() as connection:
        assert (
            await connection.execute(select(func.count()).select_from(study_questions))
        ).scalar() == 0
    # Still waiting: the corrected questions go in.
    added = await harness.say(secretary, QUIZ)
    assert vi("study.added", count=2, total=2) in texts_of(added)
    csv_reply = await harness.send_file(
        secretary, "cau-hoi.csv", "Câu hỏi,A,B,Đúng\nHọp mấy lần một tháng?,Một,Hai,\n".encode()
    )
    assert texts_of(csv_reply) == vi("study.error.no_correct", number=1)


async def test_members_take_it_privately_and_are_scored(
    harness: Harness, sqlite_engine: AsyncEngine
) -> None:
    secretary, _ = await found_cell(harness)
    nam = await join(harness, secretary, "Lê Văn Nam")
    campaign = await make_campaign(harness, secretary)
    listing = await harness.say(nam, "/hoctap")
    take = buttons_of(listing)[vi("study.button.take", title="Học tập Nghị quyết 57")]
    first = await harness.tap(nam, take)
    assert "Câu 1/2: Nghị quyết 57 bàn về lĩnh vực nào?" in texts_of(first)
    options = list(buttons_of(first).values())
    assert len(options) == 3
    # Wrong first (option 1), then right (option 3).
    wrong = await harness.tap(nam, options[0])
    assert texts_of(wrong).startswith(
        vi("study.wrong", number=2, option="Khoa học, công nghệ, đổi mới sáng tạo")
    )
    # A second tap on the same question changes nothing.
    await harness.tap(nam, options[1])
    second = list(buttons_of(wrong).values())
    done = await harness.tap(nam, second[2])
    assert vi("study.right") in texts_of(done)
    assert vi("study.finished", score=1, total=2) in texts_of(done)
    async with sqlite_engine.connect() as connection:
        result = (await connection.execute(select(study_results))).one()
        answers = (
            await connection.execute(select(func.count()).select_from(study_answers))
        ).scalar()
        reminder = (
            await connection.execute(
                select(outbox.c.status).where(
                    outbox.c.dedupe_key.like(f"study:{campaign}:%:remind"),
                    outbox.c.chat_id == nam.user_id,
                )
            )
        ).scalar()
    assert (result.score, result.total) == (1, 2)
    assert answers == 2
    assert reminder == "cancelled"
    again = await harness.say(nam, "/hoctap")
    assert vi("study.mine.done", title="Học tập Nghị quyết 57", score=1, total=2) in texts_of(again)
    summary = await harness.tap(secretary, f"qv:{campaign}")
    text = texts_of(summary)
    assert vi("study.summary.total", completed=1, members=2, rate="50%", average="50%") in text
    assert (
        vi(
            "study.summary.missed_line",
            number=1,
            text="Nghị quyết 57 bàn về lĩnh vực nào?",
            count=1,
        )
        in text
    )


async def test_strangers_and_members_cannot_reach_what_is_not_theirs(
    harness: Harness, clock: ManualClock
) -> None:
    secretary, _ = await found_cell(harness)
    nam = await join(harness, secretary, "Lê Văn Nam")
    campaign = await make_campaign(harness, secretary)
    other, _ = await found_cell(harness, OTHER_GROUP, "Chi bộ Khu phố 6")
    assert texts_of(await harness.tap(other, f"qs:{campaign}")) == vi("study.error.not_found")
    assert texts_of(await harness.tap(other, f"qv:{campaign}")) == vi("study.error.not_found")
    assert texts_of(await harness.tap(other, f"qo:{campaign}")) == vi("study.error.not_found")
    assert texts_of(await harness.tap(nam, f"qv:{campaign}")) == vi("error.leader_only")
    assert texts_of(await harness.tap(nam, "qn")) == vi("error.leader_only")
    assert texts_of(await harness.tap(nam, f"qa:{campaign}:999:0")) == vi("study.error.not_found")
    # After the deadline nobody can answer.
    clock.advance(timedelta(days=30))
    assert texts_of(await harness.tap(nam, f"qs:{campaign}")) == vi("study.error.closed")


async def test_a_committee_campaign_reaches_every_cell_and_sums_up_per_cell(
    harness: Harness,
) -> None:
    secretary_a, cell_a = await found_cell(harness)
    nam = await join(harness, secretary_a, "Lê Văn Nam")
    secretary_b, cell_b = await found_cell(harness, OTHER_GROUP, "Chi bộ Khu phố 6")
    cells = harness.services.cells
    committee = await cells.create_committee("Đảng ủy phường", "Asia/Ho_Chi_Minh", START)
    for cell in (cell_a, cell_b):
        await cells.attach_to_committee(
            cell_id=cell.id, committee_id=committee.id, actor=Actor("test"), now=START
        )
    office = await harness.office_staff(committee.id)
    campaign = await make_campaign(harness, office)
    first = await harness.tap(nam, f"qs:{campaign}")
    await harness.tap(nam, list(buttons_of(first).values())[1])
    second = await harness.tap(secretary_b, f"qs:{campaign}")
    assert "Câu 1/2" in texts_of(second)
    summary = texts_of(await harness.tap(office, f"qv:{campaign}"))
    assert (
        vi(
            "study.summary.cell",
            cell="Chi bộ Khu phố 5",
            completed=0,
            members=2,
            rate="0%",
            average="—",
        )
        in summary
    )
    assert (
        vi(
            "study.summary.cell",
            cell="Chi bộ Khu phố 6",
            completed=0,
            members=1,
            rate="0%",
            average="—",
        )
        in summary
    )
    # A cell's secretary sees only their own cell of the committee's campaign.
    own = texts_of(await harness.tap(secretary_a, f"qv:{campaign}"))
    assert "Khu phố 6" not in own


async def test_each_question_also_travels_as_a_quiz_poll(harness: Harness) -> None:
    secretary, _ = await found_cell(harness)
    nam = await join(harness, secretary, "Lê Văn Nam")
    campaign = await make_campaign(harness, secretary)
    [question] = await harness.tap(nam, f"qs:{campaign}")
    poll = question.poll
    assert poll is not None
    assert poll.question == "Câu 1/2: Nghị quyết 57 bàn về lĩnh vực nào?"
    assert poll.correct_option == 1 and len(poll.options) == 3
    # A vote is the same choice as the button for that option.
    assert poll.data + ":2" == list(buttons_of([question]).values())[2]


async def test_study_storage_on_every_backend(engine: AsyncEngine) -> None:
    cells = CellRepository(engine)
    cell, secretary = await cells.found_cell(
        platform="telegram",
        chat_id="-1",
        chat_title=None,
        cell_name="Chi bộ A",
        timezone="Asia/Ho_Chi_Minh",
        secretary_name="Trần Thị Hoa",
        secretary_user_id="1",
        now=START,
    )
    repo = StudyRepository(engine)
    actor = Actor("test", secretary.id)
    campaign = await repo.create(
        unit_id=cell.id,
        title="Học tập",
        deadline=START + timedelta(days=7),
        document_id=None,
        actor=actor,
        now=START,
    )
    questions = [NewQuestion(q.text, q.options, q.correct) for q in parse_text(QUIZ)]
    assert (
        await repo.add_questions(
            unit_id=cell.id, campaign_id=campaign, questions=questions, actor=actor, now=START
        )
        == 2
    )
    reached = await repo.open(
        unit=cell,
        campaign_id=campaign,
        platform="telegram",
        notice="n",
        reminder="r",
        actor=actor,
        now=START,
    )
    assert reached == 1
    with pytest.raises(CampaignNotDraft):
        await repo.add_questions(
            unit_id=cell.id, campaign_id=campaign, questions=questions, actor=actor, now=START
        )
    for chosen in (1, 0):
        _, question, _ = await repo.next_question(cell.id, campaign, secretary.id, START)
        assert question is not None
        result = await repo.answer(
            cell_id=cell.id,
            campaign_id=campaign,
            question_id=question.id,
            member_id=secretary.id,
            chosen=chosen,
            actor=actor,
            now=START,
        )
    assert result.finished and (result.score, result.total) == (1, 2)
    [progress] = await repo.for_member(cell.id, secretary.id, START)
    assert progress.score == 1 and progress.answered == 2
    summary = await repo.summary(cell, campaign)
    assert [(c.members, c.completed, c.score_sum) for c in summary.cells] == [(1, 1, 1)]
    assert sum(summary.missed.values()) == 1
    with pytest.raises(CampaignClosed):
        await repo.next_question(cell.id, campaign, secretary.id, START + timedelta(days=8))
