"""Plain words to tasks: what an elderly member types instead of a command («họp», «xin phép
vắng», «dang phi») and what a tap on the menu keyboard sends («📅 Cuộc họp»), in Vietnamese with
or without diacritics and in any case, or in English. Pure: no I/O, no platform.

A task is named by the Vietnamese name of the command that does it (``hop``, ``xinvang``…), so
the dispatcher runs it through the same scope and access checks as the typed command.
"""

from __future__ import annotations

import unicodedata

# Longest text read as words for a task: anything longer is a message, not a request.
MAX_WORDS_CHARS = 60
# At most this many tasks are offered when words could mean several.
MAX_CHOICES = 4

# The tasks of the menu, in the order people see them.
MEETINGS = "hop"
ABSENCE = "xinvang"
DOCUMENTS = "tailieu"
FEES = "dangphi"
FEEDBACK = "gopy"
HELP = "trogiup"
PROFILE = "hoso"
LEADER = "bithu"
MEMBER_TASKS = (MEETINGS, ABSENCE, DOCUMENTS, FEES, FEEDBACK, HELP)
# What a leader's menu («Việc của bí thư») offers.
LEADER_TASKS = ("lichhop", "diemdanh", "dangvien", "bienban", "baocao")

# Folded phrases (see ``fold``) and the tasks they may mean. A phrase inside a longer matched
# phrase does not count on its own («xin vang hop» is the absence, not also the meeting).
PHRASES: dict[str, tuple[str, ...]] = {
    # Meetings.
    "hop": (MEETINGS,),
    "lich hop": (MEETINGS,),
    "cuoc hop": (MEETINGS,),
    "cuoc hop toi": (MEETINGS,),
    "buoi hop": (MEETINGS,),
    "hop khi nao": (MEETINGS,),
    "hop o dau": (MEETINGS,),
    "sinh hoat": (MEETINGS,),
    "lich sinh hoat": (MEETINGS,),
    "meeting": (MEETINGS,),
    "meetings": (MEETINGS,),
    # Asking leave.
    "xin vang": (ABSENCE,),
    "xin phep vang": (ABSENCE,),
    "xin phep": (ABSENCE,),
    "xin nghi": (ABSENCE,),
    "vang mat": (ABSENCE,),
    "nghi hop": (ABSENCE,),
    "bao vang": (ABSENCE,),
    "ask leave": (ABSENCE,),
    "absent": (ABSENCE,),
    # Documents and reading them.
    "tai lieu": (DOCUMENTS,),
    "van ban": (DOCUMENTS,),
    "nghi quyet": (DOCUMENTS,),
    "da doc": (DOCUMENTS,),
    "documents": (DOCUMENTS,),
    # Fees.
    "dang phi": (FEES,),
    "nop dang phi": (FEES,),
    "party fees": (FEES,),
    "fees": (FEES,),
    # Feedback.
    "gop y": (FEEDBACK,),
    "phan anh": (FEEDBACK,),
    "kien nghi": (FEEDBACK,),
    "de xuat": (FEEDBACK,),
    "y kien": (FEEDBACK,),
    "feedback": (FEEDBACK,),
    # One's own record.
    "ho so": (PROFILE,),
    "thong tin ca nhan": (PROFILE,),
    "profile": (PROFILE,),
    # Help and the menu itself.
    "giup": (HELP,),
    "tro giup": (HELP,),
    "huong dan": (HELP,),
    "menu": (HELP,),
    "0": (HELP,),
    "help": (HELP,),
    # Leaders' work.
    "viec cua bi thu": (LEADER,),
    "viec bi thu": (LEADER,),
    "leader tasks": (LEADER,),
    "diem danh": ("diemdanh",),
    "bien ban": ("bienban",),
    "bao cao": ("baocao",),
    "danh sach": ("dangvien",),
    "nhac nho": ("nhacnho",),
    "hoc tap": ("hoctap",),
    # Words that could mean several tasks: the person picks.
    "lich": (MEETINGS, "lich"),
    "xem": (MEETINGS, DOCUMENTS, FEES, PROFILE),
    "nop": (FEES, DOCUMENTS),
    "phi": (FEES,),
    "doc": (DOCUMENTS,),
}
# A task that already concerns another: «xin vắng buổi họp» asks leave from a meeting.
SUBSUMES: dict[str, tuple[str, ...]] = {ABSENCE: (MEETINGS,), "diemdanh": (MEETINGS,)}
_LONGEST_PHRASE = max(len(phrase.split()) for phrase in PHRASES)


def fold(text: str) -> str:
    """Lower case, without diacritics (đ → d), letters and digits only, single spaces: how a
    phrase is written in ``PHRASES``. Emoji and punctuation drop out."""
    decomposed = unicodedata.normalize("NFD", text.casefold().replace("đ", "d"))
    letters = "".join(
        ch if ch.isascii() and ch.isalnum() else " "
        for ch in decomposed
        if not unicodedata.combining(ch)
    )
    return " ".join(letters.split())


def tasks_of(text: str) -> tuple[str, ...]:
    """The tasks ``text`` asks for, most likely first: one when it is clear, several when the
    words could mean more than one, none when they mean nothing we do."""
    if len(text) > MAX_WORDS_CHARS:
        return ()
    words = fold(text).split()
    covered: set[int] = set()
    found: list[tuple[int, tuple[str, ...]]] = []
    # Longest phrases first, so the words of a long phrase are not read again as short ones.
    for size in range(min(_LONGEST_PHRASE, len(words)), 0, -1):
        for start in range(len(words) - size + 1):
            span = set(range(start, start + size))
            tasks = PHRASES.get(" ".join(words[start : start + size]))
            if tasks is not None and not span & covered:
                covered |= span
                found.append((start, tasks))
    # A vague word beside a clear one («xem đảng phí») means the clear one.
    if any(len(tasks) == 1 for _, tasks in found):
        found = [(start, tasks) for start, tasks in found if len(tasks) == 1]
    ordered: list[str] = []
    for _, tasks in sorted(found):
        ordered += [task for task in tasks if task not in ordered]
    for task, implied in SUBSUMES.items():
        if task in ordered:
            ordered = [other for other in ordered if other not in implied]
    return tuple(ordered[:MAX_CHOICES])


def command_of(name: str) -> str:
    """A typed command name as the registry spells it: «họp» → «hop», «xinVắng» → «xinvang»
    (Telegram stops a command at the first letter outside ASCII, so adapters pass the whole
    word and it is folded here)."""
    return fold(name).replace(" ", "")
