"""The real `chibo` command as a child process, for the tests that must see the whole program
(start-up, signals, logging): an environment clean of the caller's CHIBO_ settings, and a free
loopback port when one is needed."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any CHIBO_ setting, plus ``settings``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHIBO_")}
    return {**env, "PYTHONPATH": str(ROOT), **settings}


async def start_chibo(
    *args: str, cwd: Path, output: int | IO[bytes] = asyncio.subprocess.PIPE, **settings: str
) -> asyncio.subprocess.Process:
    """`python -m bot ARGS` with ``settings`` as its only CHIBO_ variables; stdout and stderr
    both go to ``output`` (a pipe unless a file is given: a full pipe would stall the bot)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=clean_env(**settings),
        stdout=output,
        stderr=asyncio.subprocess.STDOUT,
    )
