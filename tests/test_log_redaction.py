"""The redactor on a real logging handler: tokens and secrets never reach the written line,
wherever in a record they hide (message, arguments, traceback)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import httpx
import pytest

from bot.log_setup import REDACTED, Redactor

TELEGRAM_TOKEN = "7412589630:AAHk3-ZxY_exampleTokenValue1234567"  # made up
ZALO_TOKEN = "1234567890:fake-zalo-secret"  # made up
WEBHOOK_SECRET = "Jq0-generated_webhook_secret_value_43chars"  # made up


@pytest.fixture
def written() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(Redactor([TELEGRAM_TOKEN, ZALO_TOKEN, WEBHOOK_SECRET]))
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_tokens_and_secrets_are_redacted_from_messages_arguments_and_tracebacks(
    written: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = written
    logger.info("HTTP Request: POST https://api.telegram.org/bot%s/getMe", TELEGRAM_TOKEN)
    logger.debug("zalo: POST %s", f"https://bot-api.zaloplatforms.com/bot{ZALO_TOKEN}/sendMessage")
    logger.warning("secret half alone: %s", ZALO_TOKEN.split(":")[1])
    logger.info("registered %s", {"secret_token": WEBHOOK_SECRET})
    # A token the redactor was not told about, shaped like one, in a URL and bare.
    logger.info("https://example.test/bot5556667778:AAunknownTokenXYZ_-12/getUpdates")
    logger.info("bare 5556667778:AAunknownTokenXYZ_-12 in text")
    try:
        raise httpx.ConnectError(f"cannot reach https://api.telegram.org/bot{TELEGRAM_TOKEN}/x")
    except httpx.ConnectError:
        logger.exception("request failed")
    text = stream.getvalue()
    for secret in (
        TELEGRAM_TOKEN,
        TELEGRAM_TOKEN.split(":")[1],
        ZALO_TOKEN,
        "fake-zalo-secret",
        WEBHOOK_SECRET,
        "AAunknownTokenXYZ_-12",
    ):
        assert secret not in text, secret
    assert text.count(REDACTED) == 7  # one per line above
    # What is not a secret stays readable.
    assert "https://api.telegram.org/bot<redacted>/getMe" in text
    assert "Traceback" in text and "request failed" in text
    assert "/botany/ and 12:30 stay" in _logged(logger, stream, "/botany/ and 12:30 stay")


def _logged(logger: logging.Logger, stream: io.StringIO, line: str) -> str:
    logger.info(line)
    return stream.getvalue()
