"""The `chibo` command: run the bot, apply migrations, make or rotate encryption keys."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from cryptography.fernet import Fernet

from bot.settings import Settings, SettingsError, load_settings

EXIT_CONFIG = 2

HOW_TO_GET_A_BOT = """\
Chưa có mã bot Telegram (token).
  1. Mở Telegram, nhắn cho @BotFather, gõ /newbot và làm theo hướng dẫn.
  2. Chép mã nhận được vào tệp .env (xem mẫu .env.example):
       CHIBO_TELEGRAM_TOKEN=123456:ABC...
  3. Chạy lại: make run

No Telegram bot token yet.
  1. In Telegram, message @BotFather, send /newbot and follow the steps.
  2. Put the token in a .env file (see .env.example):
       CHIBO_TELEGRAM_TOKEN=123456:ABC...
  3. Run again: make run
"""


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # httpx logs every request URL at INFO, and a Bot API URL contains the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # APScheduler logs two lines per outbox tick at INFO.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def _run(settings: Settings) -> int:
    if settings.telegram_token is None:
        print(HOW_TO_GET_A_BOT, file=sys.stderr)
        return EXIT_CONFIG
    from bot.app import build_bot

    bot = build_bot(settings)
    if settings.webhook_url:
        bot.application.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path="telegram",
            webhook_url=settings.webhook_url.rstrip("/") + "/telegram",
            secret_token=(
                settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
            ),
        )
    else:
        bot.application.run_polling()
    return 0


async def _migrate(settings: Settings) -> int:
    from storage.db import create_engine, migrate

    engine = create_engine(settings.database_url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()
    print("Cơ sở dữ liệu đã cập nhật. / Database is up to date.")
    return 0


async def _rotate_keys(settings: Settings) -> int:
    from storage.crypto import FieldCipher
    from storage.db import create_engine, migrate
    from storage.members import MemberRepository

    if not settings.data_keys:
        print("CHIBO_DATA_KEYS is empty: nothing to rotate to.", file=sys.stderr)
        return EXIT_CONFIG
    engine = create_engine(settings.database_url)
    try:
        await migrate(engine)
        cipher = FieldCipher([key.get_secret_value() for key in settings.data_keys])
        touched = await MemberRepository(engine, cipher).rotate_keys()
    finally:
        await engine.dispose()
    print(f"Đã mã hóa lại {touched} hồ sơ bằng khóa mới nhất. / Re-encrypted {touched} records.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chibo", description="Chi bộ số — party cell bot")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start the bot (polling, or webhook if CHIBO_WEBHOOK_URL)")
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser("gen-key", help="print a new key for CHIBO_DATA_KEYS")
    commands.add_parser("rotate-keys", help="re-encrypt personal data with the newest key")
    arguments = parser.parse_args(argv)

    if arguments.command == "gen-key":
        print(Fernet.generate_key().decode())
        return 0
    try:
        settings = load_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)
        return EXIT_CONFIG
    _configure_logging(settings.log_level)
    if arguments.command == "run":
        return _run(settings)
    if arguments.command == "migrate":
        return asyncio.run(_migrate(settings))
    return asyncio.run(_rotate_keys(settings))


if __name__ == "__main__":
    sys.exit(main())
