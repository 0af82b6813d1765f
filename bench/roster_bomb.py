"""What a hostile roster file costs the bot: XLSX files of at most 2 MB (the bot's limit for a
roster) built to expand into gigabytes of XML or millions of cells, and an honest 2,000-member
roster for comparison, each read by the roster reader (``parse_roster``) in a child process of
its own so that its peak memory and CPU time are its own.

    .venv/bin/python -m bench.roster_bomb [--memory-limit-gib 8] [--timeout 120]

A child over the memory limit or the timeout is stopped and shown as such: the limits keep the
old reader from taking the machine down while it is measured.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

from openpyxl import Workbook

from bench.common import ROOT, publish, table
from tests.support.xlsx_bomb import bomb, many_shared_strings, one_huge_row, wide_blank_rows

TODAY = date(2026, 11, 22)
ROSTER_HEADER = ["STT", "Họ và tên", "Ngày sinh", "Giới tính", "Ngày vào Đảng", "Trạng thái"]


def honest_roster(members: int = 2000) -> bytes:
    book = Workbook()
    sheet = book.worksheets[0]
    sheet.append(ROSTER_HEADER)
    for n in range(1, members + 1):
        birth = date(1950 + n % 40, 1 + n % 12, 1 + n % 28)
        admitted = date(birth.year + 25, birth.month, birth.day)
        sheet.append([n, f"Nguyễn Văn {n}", birth, "Nam", admitted, "Chính thức"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def files() -> list[tuple[str, bytes]]:
    return [
        ("honest roster, 2,000 members", honest_roster()),
        ("one row of 65 million cells", bomb(one_huge_row(1000))),
        ("100,000 rows padded to column XFD", bomb(wide_blank_rows(100))),
        ("36 million shared strings", bomb(many_shared_strings(9000))),
    ]


def child(path: str) -> None:
    """Read one file and print what the reader said."""
    from handlers.roster_file import RosterFileError, parse_roster

    content = Path(path).read_bytes()
    try:
        parsed = parse_roster("ds.xlsx", content, today=TODAY)
    except RosterFileError as error:
        print(f"refused: {error.key}")
    else:
        print(f"read: {len(parsed.rows)} rows, {len(parsed.problems)} problems")


def measure(content: bytes, memory_limit: int, timeout: float) -> tuple[str, float, float, float]:
    """Outcome, wall seconds, CPU seconds and peak RSS (MiB) of one child reading ``content``."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    with tempfile.TemporaryDirectory() as folder:
        path, out, err = (Path(folder) / name for name in ("ds.xlsx", "out", "err"))
        path.write_bytes(content)
        with out.open("wb") as stdout, err.open("wb") as stderr:
            began = time.perf_counter()
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.roster_bomb", "--child", str(path)],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=stdout,
                stderr=stderr,
                preexec_fn=limit_memory,  # before the timer's thread exists
            )
            timer = threading.Timer(timeout, process.kill)
            timer.start()
            # wait4, not wait: the child's own resource usage, not all children's.
            _, status, usage = os.wait4(process.pid, 0)
            timer.cancel()
            wall = time.perf_counter() - began
        said, error = out.read_text().strip(), err.read_text().strip()
    code = os.waitstatus_to_exitcode(status)
    if code == -signal.SIGKILL:
        outcome = f"stopped after {timeout:.0f} s"
    elif "MemoryError" in error:
        outcome = f"MemoryError at {memory_limit / 2**30:.0f} GiB"
    elif code:
        outcome = f"crashed: {error.splitlines()[-1] if error else code}"
    else:
        outcome = said
    return outcome, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--memory-limit-gib", type=float, default=8)
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    rows = []
    for name, content in files():
        outcome, wall, cpu, rss = measure(content, int(args.memory_limit_gib * 2**30), args.timeout)
        rows.append(
            [
                name,
                f"{len(content) / 2**20:.2f}",
                outcome,
                f"{wall:.2f}",
                f"{cpu:.2f}",
                f"{rss:.0f}",
            ]
        )
    body = table(["file", "MiB sent", "reader's answer", "wall s", "CPU s", "peak RSS MiB"], rows)
    note = (
        "Peak RSS is the child's whole process, interpreter and openpyxl included. A child "
        "stopped at the timeout had not finished: its CPU time and memory are what it had used "
        "by then."
    )
    publish("roster_bomb", "Roster files built to exhaust the reader", f"{body}\n\n{note}")


if __name__ == "__main__":
    main()
