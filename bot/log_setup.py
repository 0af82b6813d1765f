"""Logging for the process: one stderr handler, third-party loggers held to what carries no
payload, and every record redacted of tokens and secrets before it is written.

Whatever ``CHIBO_LOG_LEVEL`` says, it opens only our own loggers. At DEBUG, PTB logs every Bot
API call with its parameters and answers (members' messages, personal data being saved,
anonymous feedback next to its author's id), aiosqlite every statement with its parameters,
SQLAlchemy the same at INFO, httpx every request URL at INFO (a Bot API URL holds the token),
uvicorn's and tornado's access logs the paths of signed file links (bearer tokens).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

# Our own packages log at CHIBO_LOG_LEVEL; everything else at most at INFO (the root's level),
# and these, which say too much even at INFO, at most at WARNING.
OUR_PACKAGES = ("bot", "handlers", "storage", "scheduler")
THIRD_PARTY_CEILINGS = {
    "httpx": logging.WARNING,  # every request URL
    "httpcore": logging.WARNING,
    "aiosqlite": logging.WARNING,  # every statement with its parameters, at DEBUG
    "sqlalchemy": logging.WARNING,  # the same, at INFO
    "apscheduler": logging.WARNING,  # two lines per outbox tick
    "alembic.runtime.plugins": logging.WARNING,  # the plugins it loads, on every migrating run
    "uvicorn.access": logging.WARNING,  # paths; a file link's path is a bearer token
    "tornado.access": logging.WARNING,  # PTB's webhook server, the same
}
REDACTED = "<redacted>"
# A bot token in a Bot API URL, Telegram's ("/bot123:AA…/getMe") and Zalo's alike.
_TOKEN_IN_URL = re.compile(r"(?<=/bot)[^/\s?#\"':]*:[^/\s?#\"']+")
# A Telegram-shaped token anywhere else ("123456:AAE…"), e.g. in an exception's message.
_BARE_TOKEN = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{8,}")
_MIN_SECRET = 6  # shorter strings would redact ordinary words


class Redactor(logging.Filter):
    """Rewrites each record, its traceback included, without the given secrets or anything
    shaped like a bot token. On a handler, so it sees every logger's records."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        parts: set[str] = set()
        for secret in secrets:
            parts.add(secret)
            # A token's secret half travels alone too (Zalo's "id:secret").
            parts.update(secret.split(":")[1:])
        # Longest first, so that a secret containing another one is removed whole.
        self._secrets = sorted((p for p in parts if len(p) >= _MIN_SECRET), key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = _TOKEN_IN_URL.sub(REDACTED, text)
        return _BARE_TOKEN.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """Log to stderr: our own packages at ``level``, third-party ones at most at INFO (some
    at WARNING) whatever ``level`` is, and nothing written before ``Redactor`` cleaned it."""
    ours = logging.getLevelNamesMapping()[level]
    logging.basicConfig(
        level=max(ours, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for package in OUR_PACKAGES:
        logging.getLogger(package).setLevel(ours)
    for name, ceiling in THIRD_PARTY_CEILINGS.items():
        logging.getLogger(name).setLevel(max(ceiling, ours))
    redactor = Redactor(secrets)
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, Redactor)]:
            handler.removeFilter(old)
        handler.addFilter(redactor)
