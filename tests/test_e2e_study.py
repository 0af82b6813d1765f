"""End to end over HTTP: the secretary makes a study campaign privately, a member takes it as
native Telegram quiz polls, and each vote reaches the bot as an answer."""

from __future__ import annotations

from bot.app import ChiboBot
from bot.playground.bot_api import FakeBotApi
from handlers.i18n import Texts
from tests.support.e2e import found_cell, text_has
from tests.test_e2e_absences import _tap_and_read
from tests.test_study import DEADLINE, QUIZ

vi = Texts("vi")


async def test_a_member_answers_quiz_polls_privately(api: FakeBotApi, chibo: ChiboBot) -> None:
    secretary, member, group = await found_cell(api)
    mark = api.mark()
    await api.send_text(group, member, "/thamgia")
    request = await api.wait_for_message(group, text_has("xin vào danh sách"), after=mark)
    await _tap_and_read(api, secretary, request, vi("join.button.approve"))

    boss = await api.private_chat(secretary)
    mark = api.mark()
    await api.send_text(boss, secretary, "/hoctap")
    listing = await api.wait_for_message(boss, text_has(vi("study.list.title")), after=mark)
    mark = api.mark()
    await api.tap(secretary, listing, button_text=vi("study.button.new"))
    pick = await api.wait_for_message(boss, text_has(vi("study.new.pick_document")), after=mark)
    mark = api.mark()
    await api.tap(secretary, pick, button_text=vi("study.button.no_document"))
    await api.wait_for_message(boss, text_has("Gõ tên đợt học tập"), after=mark)
    mark = api.mark()
    await api.send_text(boss, secretary, "Học tập Nghị quyết 57")
    await api.wait_for_message(boss, text_has("hạn làm bài"), after=mark)
    mark = api.mark()
    await api.send_text(boss, secretary, DEADLINE)
    await api.wait_for_message(boss, text_has("Gửi các câu hỏi"), after=mark)
    mark = api.mark()
    await api.send_text(boss, secretary, QUIZ)
    added = await api.wait_for_message(boss, text_has("Đã thêm 2 câu"), after=mark)
    mark = api.mark()
    await api.tap(secretary, added, button_text=vi("study.button.open"))
    await api.wait_for_message(boss, text_has("Đã mở «Học tập Nghị quyết 57»"), after=mark)

    private = await api.private_chat(member)
    mark = api.mark()
    await api.send_text(private, member, "/hoctap")
    # The list with its button (the campaign's announcement may land in the same chat).
    mine = await api.wait_for_message(
        private, lambda m: "Học tập Nghị quyết 57" in (m.text or "") and bool(m.buttons), after=mark
    )
    mark = api.mark()
    await api.tap(member, mine, button_text=vi("study.button.take", title="Học tập Nghị quyết 57"))
    first = await api.wait_for_message(private, lambda m: m.poll is not None, after=mark)
    assert first.poll is not None
    assert first.poll["type"] == "quiz" and first.poll["is_anonymous"] is False
    assert first.poll["correct_option_ids"] == [1]
    assert first.poll["question"].startswith("Câu 1/2: Nghị quyết 57")

    mark = api.mark()
    await api.vote(member, first, [1])
    await api.wait_for_message(private, text_has(vi("study.right")), after=mark)
    second = await api.wait_for_message(private, lambda m: m.poll is not None, after=mark)
    assert second.poll is not None and second.poll["question"].startswith("Câu 2/2")
    mark = api.mark()
    await api.vote(member, second, [0])
    done = await api.wait_for_message(private, text_has("Đồng chí đã làm xong"), after=mark)
    assert done.text == vi("study.finished", score=1, total=2)
