"""Quiz questions from what a secretary can type or save: plain text or CSV. Pure functions.

Plain text — questions separated by a blank line; options start with a letter or number and
a dot or bracket; the correct one is marked with ``*`` in front (or an "Đáp án: B" line):

    Nghị quyết 57 bàn về lĩnh vực nào?
    A. Nông nghiệp
    *B. Khoa học, công nghệ, đổi mới sáng tạo
    C. Du lịch

CSV — one question a row: question, option, option[, …], answer (letter or number). A header
row is recognised and skipped. ``;`` works as the separator too (Excel in Vietnamese).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from handlers.context import UserError
from handlers.numbers import is_ascii_digits

MAX_QUESTIONS = 50
MAX_QUESTION_CHARS = 300  # Telegram's quiz-poll limits
MAX_OPTION_CHARS = 100
MIN_OPTIONS = 2
MAX_OPTIONS = 10
LETTERS = "ABCDEFGHIJ"
OPTION_LINE = re.compile(r"^\s*(\*?)\s*([A-Ja-j]|10|[1-9])\s*[.)]\s*(.+?)\s*(\*?)\s*$")
ANSWER_MARK = re.compile(r"[A-Ja-j]|10|[1-9]")
ANSWER_LINE = re.compile(r"^\s*(?:đáp án|dap an|answer)\s*[:：]\s*([A-Ja-j]|10|[1-9])\s*$", re.I)


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    options: tuple[str, ...]
    correct: int  # index into options


def _index(mark: str) -> int:
    return int(mark) - 1 if is_ascii_digits(mark) else LETTERS.index(mark.upper())


def _check(number: int, text: str, options: list[str], correct: list[int]) -> Question:
    if not text:
        raise UserError("study.error.no_question", number=number)
    if len(text) > MAX_QUESTION_CHARS:
        raise UserError("study.error.question_long", number=number, limit=MAX_QUESTION_CHARS)
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        raise UserError("study.error.options", number=number, low=MIN_OPTIONS, high=MAX_OPTIONS)
    if any(len(option) > MAX_OPTION_CHARS for option in options):
        raise UserError("study.error.option_long", number=number, limit=MAX_OPTION_CHARS)
    chosen = set(correct)
    if not chosen:
        raise UserError("study.error.no_correct", number=number)
    if len(chosen) > 1:
        raise UserError("study.error.many_correct", number=number)
    (answer,) = chosen
    if not 0 <= answer < len(options):
        raise UserError("study.error.no_correct", number=number)
    return Question(text, tuple(options), answer)


def _block(number: int, lines: list[str]) -> Question:
    question: list[str] = []
    options: list[str] = []
    correct: list[int] = []
    for line in lines:
        answer = ANSWER_LINE.match(line)
        option = OPTION_LINE.match(line)
        if answer is not None:
            correct.append(_index(answer[1]))
        elif option is not None and (options or question):
            if option[1] or option[4]:
                correct.append(len(options))
            options.append(option[3])
        elif not options:
            question.append(line.strip())
        else:
            raise UserError("study.error.stray_line", number=number)
    return _check(number, " ".join(question).strip(), options, correct)


def parse_text(text: str) -> list[Question]:
    blocks: list[list[str]] = [[]]
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.strip():
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    found = [_block(number, lines) for number, lines in enumerate(blocks, start=1) if lines]
    return _limited(found)


def parse_csv(content: bytes) -> list[Question]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError("study.error.encoding") from exc
    sample = text[:2000]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    rows = [
        [cell.strip() for cell in row]
        for row in csv.reader(io.StringIO(text), delimiter=delimiter)
        if any(cell.strip() for cell in row)
    ]
    if rows and rows[0][-1] and not ANSWER_MARK.fullmatch(rows[0][-1]):
        rows = rows[1:]  # a header row: its last cell holds a word, not an answer
    found = []
    for number, row in enumerate(rows, start=1):
        cells = [cell for cell in row if cell] if row[-1] else row
        if len(cells) < 2:
            raise UserError("study.error.options", number=number, low=MIN_OPTIONS, high=MAX_OPTIONS)
        *body, answer = cells
        mark = answer.strip()
        if not ANSWER_MARK.fullmatch(mark):
            raise UserError("study.error.no_correct", number=number)
        question, *options = body
        found.append(_check(number, question, [o for o in options if o], [_index(mark)]))
    return _limited(found)


def _limited(found: list[Question]) -> list[Question]:
    if not found:
        raise UserError("study.error.empty")
    if len(found) > MAX_QUESTIONS:
        raise UserError("study.error.too_many", limit=MAX_QUESTIONS)
    return found
