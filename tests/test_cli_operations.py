"""The operator's commands as a person runs them, against real files: key rotation, start-up
failures (one line, non-zero exit, no traceback) on every command, backup and restore."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from storage.crypto import FieldCipher
from storage.db import create_engine, migrate
from tests.conftest import IN_CI, POSTGRES_URL
from tests.support.personal import (
    EXPECTED_AMOUNTS,
    EXPECTED_PERSONAL,
    Seeded,
    read_back,
    seed_personal_data,
)
from tests.test_cli import _chibo

# Every command that opens the database; `run` with a token so it serves Telegram (pointed at
# a closed local port: the start-up check fails before anything is sent).
COMMANDS: dict[str, tuple[str, ...]] = {
    "run": ("run",),
    "migrate": ("migrate",),
    "rotate-keys": ("rotate-keys",),
    "committee": ("committee", "create", "Đảng ủy phường Bến Nghé"),
    "backup": ("backup", "{tmp}/backup.db", "--force"),
    "restore": ("restore", "{tmp}/good-backup.db", "--force"),
}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env(url: str, key: str | None = None) -> dict[str, str]:
    env = {
        "CHIBO_DATABASE_URL": url,
        "CHIBO_TELEGRAM_TOKEN": "123:test-token",
        "CHIBO_TELEGRAM_BASE_URL": f"http://127.0.0.1:{_closed_port()}/bot",
    }
    if key is not None:
        env["CHIBO_DATA_KEYS"] = key
    return env


def _sqlite(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def _seeded_database(path: Path, key: str) -> Seeded:
    engine = create_engine(_sqlite(path))
    try:
        await migrate(engine)
        return await seed_personal_data(engine, FieldCipher([key]))
    finally:
        await engine.dispose()


async def _read(path: Path, keys: list[str], seeded: Seeded) -> object:
    engine = create_engine(_sqlite(path))
    try:
        return await read_back(engine, FieldCipher(keys), seeded)
    finally:
        await engine.dispose()


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def _run(name: str, tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    args = tuple(arg.format(tmp=tmp) for arg in COMMANDS[name])
    return _chibo(*args, cwd=tmp, **env)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """No write permission on ``path``; for root (whom permissions do not stop) the file or
    folder is made immutable as well."""
    mode = path.stat().st_mode
    path.chmod(mode & ~0o222)
    chattr = shutil.which("chattr") if os.geteuid() == 0 else None
    if os.geteuid() == 0:
        made = chattr and subprocess.run([chattr, "+i", path], capture_output=True, check=False)
        if not made or made.returncode != 0:
            path.chmod(mode)
            pytest.skip("running as root where chattr cannot make a file read-only")
    try:
        yield
    finally:
        if chattr:
            subprocess.run([chattr, "-i", path], check=True)
        path.chmod(mode)


# --- key rotation ---------------------------------------------------------------------------


async def test_rotate_keys_then_dropping_the_old_key_loses_nothing(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    database = tmp_path / "chibo.db"
    seeded = await _seeded_database(database, old)
    env = _env(_sqlite(database), f"{new},{old}")

    first = _chibo("rotate-keys", cwd=tmp_path, **env)
    assert first.returncode == 0, first.stderr
    for line in (
        "members.citizen_id_enc: 3 re-encrypted, 0 already current",
        "members.card_number_enc: 3 re-encrypted, 0 already current",
        "members.phone_enc: 3 re-encrypted, 0 already current",
        "fee_bases.amount_enc: 2 re-encrypted, 0 already current",
    ):
        assert line in first.stdout
    # Links are signed with a key derived from a data key: the operator is told until when
    # the old key must stay.
    assert "File links already sent on Zalo" in first.stdout and "CHIBO_LINK_KEY" in first.stdout

    again = _chibo("rotate-keys", cwd=tmp_path, **env)
    assert again.returncode == 0, again.stderr
    assert "members.phone_enc: 0 re-encrypted, 3 already current" in again.stdout
    assert "fee_bases.amount_enc: 0 re-encrypted, 2 already current" in again.stdout

    personal, amounts = await _read(database, [new], seeded)  # type: ignore[misc]
    assert set(personal) == EXPECTED_PERSONAL
    assert {amount for each in amounts.values() for amount in each} == EXPECTED_AMOUNTS
    # With only the new key the bot starts: the start-up check reads every column.
    started = _chibo("migrate", cwd=tmp_path, **_env(_sqlite(database), new))
    assert started.returncode == 0, started.stderr


async def test_a_wrong_key_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    old = Fernet.generate_key().decode()
    database = tmp_path / "chibo.db"
    seeded = await _seeded_database(database, old)
    wrong = Fernet.generate_key().decode()
    for command in ("rotate-keys", "run"):
        line = _one_line(_run(command, tmp_path, **_env(_sqlite(database), wrong)))
        assert "CHIBO_DATA_KEYS cannot decrypt" in line and "members.phone_enc" in line
        assert wrong not in line
    missing = _one_line(_run("run", tmp_path, **_env(_sqlite(database))))
    assert "CHIBO_DATA_KEYS is empty" in missing
    personal, _ = await _read(database, [old], seeded)  # type: ignore[misc]
    assert set(personal) == EXPECTED_PERSONAL


def test_odd_data_key_values_are_one_line_without_the_value(tmp_path: Path) -> None:
    for value in ("khóa-bí-mật", "x" * 44, f"{Fernet.generate_key().decode()},short"):
        line = _one_line(_chibo("migrate", cwd=tmp_path, CHIBO_DATA_KEYS=value))
        assert "CHIBO_DATA_KEYS" in line and value.split(",")[-1] not in line


def test_a_settings_file_that_cannot_be_read_is_one_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"CHIBO_DATA_KEYS=\xff\xfe-secret\n")
    for command in ("run", "migrate", "rotate-keys"):
        line = _one_line(_chibo(command, cwd=tmp_path))
        assert "Cannot read the settings file .env" in line and "secret" not in line


# --- start-up failures, on every command ----------------------------------------------------


@pytest.fixture
def good_backup(tmp_path: Path) -> Path:
    """A backup of an empty database, for `restore` to be given."""
    source = {"CHIBO_DATABASE_URL": _sqlite(tmp_path / "source" / "chibo.db")}
    assert _chibo("migrate", cwd=tmp_path, **source).returncode == 0
    made = _chibo(
        "backup",
        str(tmp_path / "good-backup.db"),
        cwd=tmp_path,
        **source,
    )
    assert made.returncode == 0, made.stderr
    return tmp_path / "good-backup.db"


WRITERS = ("run", "migrate", "rotate-keys", "committee", "restore")


@pytest.mark.usefixtures("good_backup")
def test_a_read_only_database_is_one_line_for_every_command_that_writes(
    tmp_path: Path,
) -> None:
    database = tmp_path / "data" / "chibo.db"
    key = Fernet.generate_key().decode()
    env = _env(_sqlite(database), key)
    assert _chibo("migrate", cwd=tmp_path, **env).returncode == 0
    with read_only(database):
        for command in WRITERS:
            line = _one_line(_run(command, tmp_path, **env))
            assert "is read-only" in line and str(database) in line, command
        # Reading still works: a backup can be taken of a database that cannot be written.
        assert _run("backup", tmp_path, **env).returncode == 0


@pytest.mark.usefixtures("good_backup")
def test_a_database_folder_that_cannot_be_made_or_written_is_one_line(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    under_a_file = _env(_sqlite(tmp_path / "a-file" / "data" / "chibo.db"), key)
    for command in WRITERS:
        line = _one_line(_run(command, tmp_path, **under_a_file))
        assert "Cannot create the database folder" in line and "a-file" in line, command
    backup = _one_line(_run("backup", tmp_path, **under_a_file))
    assert "There is no database at" in backup

    folder = tmp_path / "locked"
    folder.mkdir()
    in_locked = _env(_sqlite(folder / "chibo.db"), key)
    with read_only(folder):
        for command in WRITERS:
            line = _one_line(_run(command, tmp_path, **in_locked))
            assert "Cannot open the database" in line and "folder is writable" in line, command


@pytest.mark.usefixtures("good_backup")
def test_an_unreachable_postgresql_is_one_line_for_every_command(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://chibo:hunter22@127.0.0.1:{_closed_port()}/chibo"
    env = _env(url, Fernet.generate_key().decode())
    for command in COMMANDS:
        line = _one_line(_run(command, tmp_path, **env))
        assert "Cannot reach PostgreSQL at 127.0.0.1:" in line, command
        assert "hunter22" not in line


@pytest.fixture
async def read_only_postgres() -> AsyncIterator[str]:
    """A migrated database of our own on the shared server whose transactions are read-only
    (as on a standby), dropped afterwards."""
    if not POSTGRES_URL:
        if IN_CI:
            pytest.fail("CI=true but CHIBO_TEST_POSTGRES_URL is not set: PostgreSQL tests must run")
        pytest.skip("PostgreSQL tests need CHIBO_TEST_POSTGRES_URL (see README)")
    name = f"chibo_read_only_{uuid.uuid4().hex[:12]}"
    url = f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        engine = create_engine(url)
        await migrate(engine)
        await engine.dispose()
        async with admin.connect() as connection:
            await connection.execute(
                text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
            )
        yield url
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.mark.usefixtures("good_backup")
def test_postgresql_read_only_or_refusing_is_one_line(
    tmp_path: Path, read_only_postgres: str
) -> None:
    env = _env(read_only_postgres, Fernet.generate_key().decode())
    for command in WRITERS:
        line = _one_line(_run(command, tmp_path, **env))
        assert "is read-only" in line, command
    no_such_role = read_only_postgres.replace("postgres@", "chibo_no_such_role@", 1)
    line = _one_line(_run("migrate", tmp_path, **_env(no_such_role)))
    assert "Cannot reach PostgreSQL" in line and "chibo_no_such_role" in line


def test_an_unreadable_playground_key_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "playground.key").mkdir()  # a folder where the key file should be
    env = {"CHIBO_PLAYGROUND_PORT": str(_closed_port())}
    assert "Cannot read the playground's key" in _one_line(_chibo("run", cwd=tmp_path, **env))
    (data / "playground.key").rmdir()
    (data / "playground.key").write_text("garbage", encoding="ascii")
    assert "not a Fernet key" in _one_line(_chibo("run", cwd=tmp_path, **env))
