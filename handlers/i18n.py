"""User-facing text: gettext catalogs (Babel) keyed by message ids, Vietnamese first.

Catalogs are read from the .po files at start-up with Babel, so no compile step is needed.
Dates are written the Vietnamese way: "19:30, Thứ Ba 15/12/2026".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

from babel.dates import format_date, format_datetime
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "chibo"
LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
PLATFORM_MARK = "@"  # "key@zalo": the key's wording on one platform


@cache
def catalog(language: str) -> dict[str, str]:
    """Every message of one language, key → text (an empty translation falls back to the key)."""
    path = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as handle:
        parsed = read_po(handle, locale=language, domain=DOMAIN)
    return {
        str(message.id): str(message.string) or str(message.id)
        for message in parsed
        if message.id and isinstance(message.id, str)
    }


@dataclass(frozen=True, slots=True)
class Texts:
    """The catalog of one language, bound for use by a handler. With ``platform``, a key's
    variant for that platform ("key@zalo") wins where one exists: Zalo has no buttons, so
    its people are told to answer with a number, not to tap."""

    language: str
    platform: str = ""

    def __call__(self, key: str, /, **values: object) -> str:
        messages, default = catalog(self.language), catalog(DEFAULT_LANGUAGE)
        variant = f"{key}{PLATFORM_MARK}{self.platform}" if self.platform else ""
        template = (
            messages.get(variant) or default.get(variant) or messages.get(key) or default[key]
        )
        return template.format(**values) if values else template

    def on(self, platform: str) -> Texts:
        """These texts as said on ``platform``."""
        return Texts(self.language, platform)

    def datetime(self, moment: datetime) -> str:
        return format_datetime(moment, "HH:mm, EEEE dd/MM/yyyy", locale=self.language)

    def date(self, day: date) -> str:
        return format_date(day, "dd/MM/yyyy", locale=self.language)


def texts_for(language: str) -> Texts:
    """Texts in a supported language; anything else falls back to Vietnamese."""
    return Texts(language if language in LANGUAGES else DEFAULT_LANGUAGE)
