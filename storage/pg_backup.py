"""Backup and restore on PostgreSQL with its own tools, pg_dump and pg_restore, after checking
they are at least as new as the server (an older pg_dump refuses a newer server, or worse,
misses what it does not know).

The connection goes to the tools through libpq's environment variables, so the password never
appears on a command line other users can see.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.backup import BackupError, FileUnusable, TargetExists
from storage.db import reading

PG_DUMP = "pg_dump"
PG_RESTORE = "pg_restore"
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")


class ToolMissing(BackupError):
    def __init__(self, tool: str, major: int) -> None:
        super().__init__(tool)
        self.tool = tool
        self.major = major


class ToolTooOld(BackupError):
    def __init__(self, tool: str, found: int, major: int) -> None:
        super().__init__(f"{tool} {found} < {major}")
        self.tool = tool
        self.found = found
        self.major = major


class ToolFailed(BackupError):
    def __init__(self, tool: str, reason: str) -> None:
        super().__init__(f"{tool}: {reason}")
        self.tool = tool
        self.reason = reason


def libpq_environment(url: str) -> dict[str, str]:
    """The connection as libpq's PG* variables."""
    parsed = make_url(url)
    values = {
        "PGHOST": parsed.host,
        "PGPORT": str(parsed.port) if parsed.port else None,
        "PGUSER": parsed.username,
        "PGPASSWORD": parsed.password if isinstance(parsed.password, str) else None,
        "PGDATABASE": parsed.database,
    }
    return {name: value for name, value in values.items() if value}


async def server_major(engine: AsyncEngine) -> int:
    async with reading(engine).connect() as connection:
        number = (await connection.execute(text("SHOW server_version_num"))).scalar_one()
    return int(number) // 10000


async def _checked_tool(tool: str, major: int) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ToolMissing(tool, major)
    result = await asyncio.to_thread(
        subprocess.run, [path, "--version"], capture_output=True, text=True, check=False
    )
    found = _VERSION.search(result.stdout)
    if found is None:
        raise ToolFailed(tool, result.stdout.strip() or result.stderr.strip())
    if int(found.group(1)) < major:
        raise ToolTooOld(tool, int(found.group(1)), major)
    return path


async def _run(tool: str, arguments: list[str], url: str) -> None:
    environment = {**os.environ, **libpq_environment(url)}
    result = await asyncio.to_thread(
        subprocess.run, arguments, capture_output=True, text=True, env=environment, check=False
    )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or [f"exit status {result.returncode}"]
        raise ToolFailed(tool, lines[-1])


async def backup_postgres(engine: AsyncEngine, url: str, target: Path, *, force: bool) -> int:
    """pg_dump's custom format into ``target``; returns its size in bytes."""
    if not force and await asyncio.to_thread(target.exists):
        raise TargetExists(target)
    tool = await _checked_tool(PG_DUMP, await server_major(engine))
    partial = target.with_name(f".{target.name}.partial")
    try:
        await _run(
            PG_DUMP,
            [tool, "--format=custom", "--no-owner", "--no-privileges", f"--file={partial}"],
            url,
        )
        await asyncio.to_thread(partial.replace, target)
    finally:
        await asyncio.to_thread(partial.unlink, missing_ok=True)
    return (await asyncio.to_thread(target.stat)).st_size


async def restore_postgres(engine: AsyncEngine, url: str, backup: Path) -> None:
    """Replace the database's objects with those in ``backup``, in one transaction: a failure
    leaves the database as it was."""
    try:  # an unreadable file is found before any tool runs
        with backup.open("rb"):
            pass
    except OSError as error:
        raise FileUnusable(backup, error.strerror or str(error)) from None
    tool = await _checked_tool(PG_RESTORE, await server_major(engine))
    database = make_url(url).database or ""
    await _run(
        PG_RESTORE,
        [
            tool,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={database}",
            str(backup),
        ],
        url,
    )
