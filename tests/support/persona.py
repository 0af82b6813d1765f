"""Counting what a person does: taps (a button, a menu key, a number sent on Zalo) and typed
characters, task by task, for the persona tests and the table in docs/usability.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

USABILITY_DOC = Path(__file__).resolve().parents[2] / "docs" / "usability.md"
# The measured table sits between these lines in docs/usability.md.
TABLE_START = "<!-- measured:{platform} -->"
TABLE_END = "<!-- /measured:{platform} -->"


@dataclass
class Effort:
    taps: int = 0
    typed: int = 0  # characters typed, other than a number answering a numbered list


@dataclass
class Tally:
    """Efforts by task, in the order the tasks were done."""

    tasks: dict[str, Effort] = field(default_factory=dict)
    current: str = ""

    def task(self, name: str) -> None:
        self.current = name
        self.tasks[name] = Effort()

    def tap(self) -> None:
        self.tasks[self.current].taps += 1

    def type(self, text: str) -> None:
        self.tasks[self.current].typed += len(text)

    def table(self) -> str:
        lines = ["| Việc | Chạm | Ký tự gõ |", "|---|---:|---:|"]
        lines += [f"| {name} | {e.taps} | {e.typed} |" for name, e in self.tasks.items()]
        return "\n".join(lines)


def published_table(platform: str) -> str:
    """The table docs/usability.md publishes for ``platform``."""
    text = USABILITY_DOC.read_text(encoding="utf-8")
    start = text.index(TABLE_START.format(platform=platform)) + len(
        TABLE_START.format(platform=platform)
    )
    return text[start : text.index(TABLE_END.format(platform=platform))].strip()
