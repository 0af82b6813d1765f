"""Telegram webhook mode never accepts unsigned updates: the real `chibo run` process, with
PTB's own webhook server on loopback and the local Bot API server recording setWebhook."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import httpx
import pytest

from bot.cli import _with_webhook_secret
from bot.playground.bot_api import FakeBotApi
from bot.settings import SettingsError, load_settings
from handlers.i18n import Texts
from tests.support.chibo_process import free_port, start_chibo

vi = Texts("vi")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def test_webhook_mode_without_a_secret_makes_one_and_refuses_unsigned_updates(
    api: FakeBotApi, tmp_path: Path
) -> None:
    port = free_port()
    process = await start_chibo(
        "run",
        cwd=tmp_path,
        CHIBO_TELEGRAM_TOKEN=api.token,
        CHIBO_TELEGRAM_BASE_URL=api.base_url,
        CHIBO_TELEGRAM_BASE_FILE_URL=api.base_file_url,
        CHIBO_WEBHOOK_URL=f"http://127.0.0.1:{port}",
        CHIBO_WEBHOOK_PORT=str(port),
        CHIBO_LOG_LEVEL="DEBUG",
    )
    try:
        registered = await api.wait_for_request("setWebhook", timeout=30)
        secret = str(registered.params.get("secret_token") or "")
        # Strong, and in the alphabet Telegram accepts.
        assert re.fullmatch(r"[A-Za-z0-9_-]{32,256}", secret), registered.params
        user = await api.add_user("Lê Văn Nam")
        private = await api.private_chat(user)
        update = {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": private.to_dict(),
                "from": user.to_dict(),
                "text": "/trogiup",
                "entities": [{"type": "bot_command", "offset": 0, "length": 8}],
            },
        }
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for headers in ({}, {SECRET_HEADER: secret[:-1]}, {SECRET_HEADER: "x" + secret}):
                forged = await client.post("/telegram", json=update, headers=headers)
                assert forged.status_code == 403, headers
            await asyncio.sleep(0.5)
            assert api.sent_in(private) == []  # no forged update reached a handler
            mark = api.mark()
            signed = await client.post(
                "/telegram", json={**update, "update_id": 2}, headers={SECRET_HEADER: secret}
            )
            assert signed.status_code == 200
        reply = await api.wait_for_message(private, after=mark, timeout=10)
        assert reply.text == vi("help.private_stranger", name="Lê Văn Nam")
        assert len(api.sent_in(private)) == 1
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    log = output.decode()
    assert process.returncode == 0, log
    assert secret not in log and api.token not in log


def test_a_webhook_secret_telegram_would_refuse_is_a_setting_error() -> None:
    for value in ("has space", "ünïcode", "x" * 257):
        with pytest.raises(SettingsError) as raised:
            load_settings(_env_file=None, webhook_secret=value)
        assert "CHIBO_WEBHOOK_SECRET" in str(raised.value) and value not in str(raised.value)
    assert load_settings(_env_file=None, webhook_secret="s3cret-value_1").webhook_secret


def test_the_secret_made_for_webhook_mode_is_the_same_on_every_restart_and_replica() -> None:
    """Telegram retries an update across a restart, and a proxy sends it to any replica: all
    of them must check the secret that was registered."""

    def made(token: str) -> str:
        settings = load_settings(
            _env_file=None, telegram_token=token, webhook_url="https://bot.example.org"
        )
        secret = _with_webhook_secret(settings).webhook_secret
        assert secret is not None
        return secret.get_secret_value()

    first, again = made("123456:AAAA-first-token"), made("123456:AAAA-first-token")
    assert first == again and re.fullmatch(r"[A-Za-z0-9_-]{43}", first)
    assert made("123456:AAAA-other-token") != first
    assert "first-token" not in first
