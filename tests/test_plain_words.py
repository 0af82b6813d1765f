"""Plain words to tasks (handlers/plain_words.py): with or without diacritics, any case, menu
taps in both languages, several meanings offered, and nothing read into chatter."""

from __future__ import annotations

import pytest

from handlers.catalog import build_registry
from handlers.i18n import Texts
from handlers.menu import TASK_LABELS, TASK_SHAPE
from handlers.plain_words import (
    LEADER,
    LEADER_TASKS,
    MEMBER_TASKS,
    PHRASES,
    command_of,
    fold,
    tasks_of,
)


@pytest.mark.parametrize(
    ("words", "task"),
    [
        ("họp", "hop"),
        ("HỌP", "hop"),
        ("hop", "hop"),
        ("Lịch họp", "hop"),
        ("cuộc họp tới", "hop"),
        ("Cuoc hop toi?", "hop"),
        ("xin vắng", "xinvang"),
        ("XIN PHÉP VẮNG", "xinvang"),
        ("xin phep vang buoi hop", "xinvang"),
        ("tài liệu", "tailieu"),
        ("đã đọc", "tailieu"),
        ("da doc", "tailieu"),
        ("đảng phí", "dangphi"),
        ("Dang phi thang nay", "dangphi"),
        ("góp ý", "gopy"),
        ("kiến nghị", "gopy"),
        ("hồ sơ", "hoso"),
        ("giúp", "trogiup"),
        ("giúp tôi với", "trogiup"),
        ("menu", "trogiup"),
        ("0", "trogiup"),
        ("điểm danh", "diemdanh"),
    ],
)
def test_plain_words_name_their_task(words: str, task: str) -> None:
    assert tasks_of(words) == (task,)


@pytest.mark.parametrize("language", ["vi", "en"])
def test_every_menu_keyboard_tap_names_its_task_in_both_languages(language: str) -> None:
    texts = Texts(language)
    for task in (*MEMBER_TASKS, LEADER):
        assert tasks_of(texts(TASK_LABELS[task])) == (task,), texts(TASK_LABELS[task])


def test_words_that_could_mean_several_tasks_offer_them() -> None:
    assert tasks_of("lịch") == ("hop", "lich")
    assert tasks_of("xem") == ("hop", "tailieu", "dangphi", "hoso")
    # A vague word beside a clear one means the clear one.
    assert tasks_of("xem đảng phí") == ("dangphi",)
    assert tasks_of("họp và đảng phí") == ("hop", "dangphi")


def test_chatter_and_long_messages_name_no_task() -> None:
    assert tasks_of("xin chào") == ()
    assert tasks_of("cảm ơn đồng chí") == ()
    assert tasks_of("") == ()
    assert tasks_of("họp " * 20) == ()  # a message, not a request


def test_fold_drops_case_diacritics_emoji_and_punctuation() -> None:
    assert fold("📅 Cuộc HỌP!") == "cuoc hop"
    assert fold("Đảng  phí") == "dang phi"
    assert fold("ＨＯＰ") == ""  # full-width letters are not read as ASCII


def test_accented_pseudo_commands_fold_to_registered_commands() -> None:
    registry = build_registry()
    for typed, command in (("họp", "hop"), ("xinVắng", "xinvang"), ("đảngphí", "dangphi")):
        found = registry.find_command(command_of(typed))
        assert found is not None and found.vi == command


def test_every_task_words_lead_to_is_a_command_with_a_label_and_a_button_shape() -> None:
    registry = build_registry()
    tasks = {task for meanings in PHRASES.values() for task in meanings} | set(LEADER_TASKS)
    for task in tasks:
        assert registry.find_command(task) is not None, task
        assert task in TASK_LABELS, task
        assert registry.find_action("go").parse(task) == [task]  # type: ignore[union-attr]
    assert registry.find_action("go").parse("hop:1") is None  # type: ignore[union-attr]
    assert "|" in TASK_SHAPE
