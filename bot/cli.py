"""The `chibo` command: run the bot, apply migrations, make or rotate encryption keys, back up
and restore the database."""

from __future__ import annotations

import argparse
import asyncio
import base64
import hmac
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import SecretStr

from bot.log_setup import configure_logging
from bot.settings import SQLITE_PREFIX, Settings, SettingsError, load_settings
from bot.startup import StartupProblem, both, check_database, explained
from storage.crypto import FieldCipher

EXIT_CONFIG = 2

HOW_TO_GET_A_BOT = """\
Chưa có mã bot Telegram (token): chạy bản dùng thử trên máy này.
Để dùng thật:
  1. Mở Telegram, nhắn cho @BotFather, gõ /newbot và làm theo hướng dẫn.
  2. Chép mã nhận được vào tệp .env (xem mẫu .env.example):
       CHIBO_TELEGRAM_TOKEN=123456:ABC...
  3. Chạy lại: make run
Dùng Zalo: đặt CHIBO_ZALO_TOKEN (có thể dùng cả hai).

No Telegram bot token yet: starting the local playground.
For real use:
  1. In Telegram, message @BotFather, send /newbot and follow the steps.
  2. Put the token in a .env file (see .env.example):
       CHIBO_TELEGRAM_TOKEN=123456:ABC...
  3. Run again: make run
For Zalo, set CHIBO_ZALO_TOKEN (both platforms may be served at once).
"""

PLAYGROUND_READY = """\
Bản dùng thử đã chạy. Mở trình duyệt tại / The playground is running. Open in a browser:
  {url}
Dừng: bấm Ctrl+C / Stop: press Ctrl+C
"""


def _with_webhook_secret(settings: Settings) -> Settings:
    """Telegram webhook mode never runs unsigned: without ``CHIBO_WEBHOOK_SECRET`` anyone who
    reaches the URL could post updates as any user. The secret is then derived from the bot
    token and registered with setWebhook, so only Telegram's own calls carry it. Derived, not
    random: every replica behind one proxy and every restart registers the same secret, so
    an update Telegram retries across a restart, or sends to another replica, is accepted.
    Whoever could compute it already holds the token, which is worth more."""
    if not settings.webhook_url or settings.webhook_secret is not None:
        return settings
    if settings.telegram_token is None:
        return settings
    digest = hmac.digest(
        settings.telegram_token.get_secret_value().encode(), b"chibo telegram webhook", "sha256"
    )
    # 256 bits in Telegram's allowed alphabet (A-Z a-z 0-9 _ -), 43 characters.
    derived = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return settings.model_copy(update={"webhook_secret": SecretStr(derived)})


def _secrets_of(settings: Settings) -> list[str]:
    """Every secret a log line could carry, for the redactor."""
    values = [
        settings.telegram_token,
        settings.zalo_token,
        settings.webhook_secret,
        settings.zalo_webhook_secret,
        settings.link_key,
        *settings.data_keys,
    ]
    return [value.get_secret_value() for value in values if value is not None]


def _run(settings: Settings) -> int:
    """Telegram, Zalo or both, depending on which tokens are set (with Telegram, Zalo runs
    inside PTB's application, in its start-up and shutdown hooks); with neither, the local
    playground."""
    if settings.telegram_token is None and settings.zalo_token is None:
        return _playground(settings)
    keys = [key.get_secret_value() for key in settings.data_keys]
    asyncio.run(check_database(settings.database_url, keys))
    if settings.telegram_token is None:
        return asyncio.run(_run_zalo(settings))
    from bot.app import build_bot

    bot = build_bot(settings, own_process=True)
    if settings.webhook_url:
        if settings.webhook_secret is None:
            raise RuntimeError("webhook mode needs a secret: see _with_webhook_secret")
        bot.application.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path="telegram",
            webhook_url=settings.webhook_url.rstrip("/") + "/telegram",
            secret_token=settings.webhook_secret.get_secret_value(),
        )
    else:
        bot.application.run_polling()
    return 0


async def _run_zalo(settings: Settings) -> int:
    from bot.app import running_zalo

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with running_zalo(settings, own_process=True):
        await stop.wait()
    return 0


def _playground(settings: Settings) -> int:
    """No token: the same bot against a local Bot API server, with a web page to try it."""
    from bot.playground.run import PortUnavailable, playground_keys, serve_forever

    try:
        keys = [key.get_secret_value() for key in playground_keys(settings)]
        FieldCipher(keys)  # a key file spoilt by hand is one line here, not a traceback later
    except (OSError, UnicodeError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not a Fernet key"
        path = settings.playground_database_url.removeprefix(SQLITE_PREFIX)
        raise StartupProblem(
            both("ops.playground.key", path=Path(path).with_suffix(".key"), reason=reason)
        ) from None
    asyncio.run(check_database(settings.playground_database_url, keys))
    print(HOW_TO_GET_A_BOT, file=sys.stderr)

    def announce(url: str) -> None:
        print(PLAYGROUND_READY.format(url=url), flush=True)

    try:
        asyncio.run(serve_forever(settings, announce))
    except PortUnavailable as error:
        print(
            f"Không mở được cổng {error.port}, hãy chọn cổng khác bằng CHIBO_PLAYGROUND_PORT.\n"
            f"Cannot listen on port {error.port} ({error.reason}): "
            "set another one with CHIBO_PLAYGROUND_PORT.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    return 0


async def _migrate(settings: Settings) -> int:
    # Migrated and writable: an up-to-date database that is read-only is no use to the bot.
    await check_database(settings.database_url, keys=None)
    print("Cơ sở dữ liệu đã cập nhật. / Database is up to date.")
    return 0


async def _rotate_keys(settings: Settings) -> int:
    from bot.maintenance import rotate_keys

    if not settings.data_keys:
        print("CHIBO_DATA_KEYS is empty: nothing to rotate to.", file=sys.stderr)
        return EXIT_CONFIG
    return await rotate_keys(settings)


async def _committee(settings: Settings, arguments: argparse.Namespace) -> int:
    """Committee offices are set up by whoever runs the bot for a ward, not from a chat."""
    with explained(settings.database_url):
        return await _committee_action(settings, arguments)


async def _committee_action(settings: Settings, arguments: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from storage.audit import Actor
    from storage.cells import CellRepository
    from storage.db import create_engine, migrate
    from storage.errors import AlreadyRegistered, OrgUnitNotFound

    engine = create_engine(settings.database_url)
    now = datetime.now(UTC)
    try:
        await migrate(engine)
        cells = CellRepository(engine)
        if arguments.action == "create":
            committee = await cells.create_committee(arguments.name, settings.timezone, now)
            print(f"Đã tạo đảng ủy / Committee created: id={committee.id} {committee.name}")
        elif arguments.action == "attach":
            for cell_id in arguments.cell_ids:
                await cells.attach_to_committee(
                    cell_id=cell_id,
                    committee_id=arguments.committee_id,
                    actor=Actor("cli"),
                    now=now,
                )
            print(f"Đã gắn / Attached: {len(arguments.cell_ids)}")
        elif arguments.action == "staff":
            staff = await cells.add_office_staff(
                committee_id=arguments.committee_id,
                platform=arguments.platform,
                user_id=arguments.user_id,
                full_name=arguments.name,
                now=now,
            )
            print(f"Đã thêm cán bộ văn phòng / Office staff added: id={staff.id}")
        else:
            for unit in await cells.all_units():
                parent = f" parent={unit.parent_id}" if unit.parent_id else ""
                print(f"{unit.id}\t{unit.kind}{parent}\t{unit.name}")
    except OrgUnitNotFound:
        print(
            "Không có đảng ủy hoặc chi bộ với id này. / No such committee or cell.", file=sys.stderr
        )
        return EXIT_CONFIG
    except AlreadyRegistered:
        print(
            "Tài khoản này đã được đăng ký. / This account is already registered.", file=sys.stderr
        )
        return EXIT_CONFIG
    finally:
        await engine.dispose()
    return 0


def _committee_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    committee = commands.add_parser("committee", help="set up ward/commune committee offices")
    actions = committee.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="list committees and cells with their ids")
    create = actions.add_parser("create", help="create a committee")
    create.add_argument("name")
    attach = actions.add_parser("attach", help="put cells under a committee")
    attach.add_argument("committee_id", type=int)
    attach.add_argument("cell_ids", type=int, nargs="+")
    staff = actions.add_parser("staff", help="register an office worker's chat account")
    staff.add_argument("committee_id", type=int)
    staff.add_argument("platform", choices=["telegram", "zalo"])
    staff.add_argument("user_id")
    staff.add_argument("name")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chibo", description="Chi bộ số — party cell bot")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "run",
        help="start the bot: Telegram and/or Zalo by the tokens set (polling, or webhooks); "
        "without a token, the local playground",
    )
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser("gen-key", help="print a new key for CHIBO_DATA_KEYS")
    commands.add_parser(
        "rotate-keys", help="re-encrypt every encrypted column with the newest key (re-runnable)"
    )
    backup = commands.add_parser(
        "backup", help="copy the database to FILE while the bot runs (PostgreSQL: pg_dump)"
    )
    backup.add_argument("file", type=Path)
    backup.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    restore = commands.add_parser(
        "restore", help="replace the database with a backup (stop the bot first)"
    )
    restore.add_argument("file", type=Path)
    restore.add_argument(
        "--force", action="store_true", help="replace a database that already holds data"
    )
    _committee_parser(commands)
    arguments = parser.parse_args(argv)

    if arguments.command == "gen-key":
        print(Fernet.generate_key().decode())
        return 0
    try:
        settings = load_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)
        return EXIT_CONFIG
    settings = _with_webhook_secret(settings)
    configure_logging(settings.log_level, _secrets_of(settings))
    try:
        return _command(settings, arguments)
    except StartupProblem as problem:
        print(problem, file=sys.stderr)
        return EXIT_CONFIG


def _command(settings: Settings, arguments: argparse.Namespace) -> int:
    from bot import maintenance

    if arguments.command == "run":
        return _run(settings)
    if arguments.command == "migrate":
        return asyncio.run(_migrate(settings))
    if arguments.command == "committee":
        return asyncio.run(_committee(settings, arguments))
    if arguments.command == "backup":
        return asyncio.run(maintenance.backup(settings, arguments.file, force=arguments.force))
    if arguments.command == "restore":
        return asyncio.run(maintenance.restore(settings, arguments.file, force=arguments.force))
    return asyncio.run(_rotate_keys(settings))


if __name__ == "__main__":
    sys.exit(main())
