"""The `chibo` command as a person runs it: clear lines, exit codes, no tracebacks."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent


def _chibo(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHIBO_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_run_without_token_starts_the_playground_and_prints_its_address(
    tmp_path: Path,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHIBO_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=tmp_path,
        env={**clean, "PYTHONPATH": str(ROOT), "CHIBO_PLAYGROUND_PORT": str(port)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    address = f"http://127.0.0.1:{port}/"
    try:
        assert process.stdout is not None
        line = b"-"
        while line and address not in line.decode():
            line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
        async with httpx.AsyncClient(timeout=10) as client:
            state = (await client.get(address + "api/state")).json()
        assert len(state["people"]) == 9
    finally:
        process.send_signal(signal.SIGINT)
        _, raw_errors = await asyncio.wait_for(process.communicate(), timeout=30)
    errors = raw_errors.decode()
    assert process.returncode == 0, errors
    assert "Traceback" not in errors
    vietnamese = errors.index("Chưa có mã bot Telegram")
    english = errors.index("No Telegram bot token yet")
    assert vietnamese < english
    assert "@BotFather" in errors and "CHIBO_TELEGRAM_TOKEN" in errors
    # Its own database and key, never the real bot's.
    assert (tmp_path / "data" / "playground.db").is_file()
    assert not (tmp_path / "data" / "chibo.db").exists()
    assert (tmp_path / "data" / "playground.key").stat().st_mode & 0o077 == 0


def test_run_without_token_on_a_taken_port_says_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _chibo("run", cwd=tmp_path, CHIBO_PLAYGROUND_PORT=str(port))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "CHIBO_PLAYGROUND_PORT" in result.stderr and str(port) in result.stderr


def test_invalid_setting_gives_one_line_naming_it(tmp_path: Path) -> None:
    for name, value in (
        ("CHIBO_TIMEZONE", "Mars/Olympus"),
        ("CHIBO_LANGUAGE", "fr"),
        ("CHIBO_DATA_KEYS", "not-a-key"),
        ("CHIBO_ADMIN_IDS", "12,abc"),
        ("CHIBO_DATABASE_URL", "mysql://x"),
    ):
        result = _chibo("run", cwd=tmp_path, **{name: value})
        assert result.returncode == 2, name
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and name in lines[0], result.stderr
        assert "not-a-key" not in result.stderr  # a key is never echoed


def test_settings_come_from_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CHIBO_TIMEZONE=Nowhere/Land\n", encoding="utf-8")
    result = _chibo("migrate", cwd=tmp_path)
    assert result.returncode == 2 and "CHIBO_TIMEZONE" in result.stderr


def test_migrate_creates_the_database_folder(tmp_path: Path) -> None:
    result = _chibo("migrate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "chibo.db").is_file()


def test_gen_key_prints_a_working_key(tmp_path: Path) -> None:
    result = _chibo("gen-key", cwd=tmp_path)
    key = result.stdout.strip()
    assert Fernet(key).decrypt(Fernet(key).encrypt(b"x")) == b"x"


def test_rotate_keys_needs_a_key(tmp_path: Path) -> None:
    result = _chibo("rotate-keys", cwd=tmp_path)
    assert result.returncode == 2 and "CHIBO_DATA_KEYS" in result.stderr
    key = Fernet.generate_key().decode()
    ok = _chibo("rotate-keys", cwd=tmp_path, CHIBO_DATA_KEYS=key)
    assert ok.returncode == 0 and "0" in ok.stdout


def test_committee_office_is_set_up_from_the_command_line(tmp_path: Path) -> None:
    database = {"CHIBO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'chibo.db'}"}
    created = _chibo("committee", "create", "Đảng ủy phường Bến Nghé", cwd=tmp_path, **database)
    assert created.returncode == 0, created.stderr
    assert "id=1" in created.stdout

    staff = _chibo(
        "committee", "staff", "1", "telegram", "4242", "Lê Văn Tám", cwd=tmp_path, **database
    )
    assert staff.returncode == 0, staff.stderr
    again = _chibo("committee", "staff", "1", "telegram", "4242", "Ai đó", cwd=tmp_path, **database)
    assert again.returncode == 2 and "already registered" in again.stderr

    missing = _chibo("committee", "attach", "1", "99", cwd=tmp_path, **database)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "No such committee or cell" in missing.stderr

    listed = _chibo("committee", "list", cwd=tmp_path, **database)
    assert listed.stdout.strip() == "1\tcommittee\tĐảng ủy phường Bến Nghé"


def test_zalo_settings_are_checked_without_echoing_secrets() -> None:
    from bot.settings import SettingsError, load_settings

    for name, value, wording in (
        ("zalo_webhook_secret", "short-1", "CHIBO_ZALO_WEBHOOK_SECRET: must be 8 to 256"),
        ("link_key", "short-key-2", "CHIBO_LINK_KEY: must be at least 16"),
    ):
        with pytest.raises(SettingsError) as raised:
            load_settings(_env_file=None, **{name: value})
        assert wording in str(raised.value) and value not in str(raised.value)
    settings = load_settings(_env_file=None, zalo_token="1:secret-token")
    assert settings.zalo_base_url == "https://bot-api.zaloplatforms.com"
    assert "secret-token" not in repr(settings)
