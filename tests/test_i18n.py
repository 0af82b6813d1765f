"""The catalogs: same keys in vi and en, same placeholders, every key the code uses exists."""

from __future__ import annotations

import re
import string
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from handlers.i18n import Texts, catalog

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [p for d in ("bot", "handlers") for p in (ROOT / d).rglob("*.py")]
# String literals that look like catalog keys: "setup.done", "error.not_member", …
KEY_LITERAL = re.compile(r"""["']((?:[a-z_]+\.)+[a-z_]+)["']""")
KEY_PREFIXES = (
    "cmd.",
    "error.",
    "setup.",
    "join.",
    "help.",
    "members.",
    "card.",
    "import.",
    "profile.",
    "field.",
    "role.",
    "status.",
    "gender.",
    "roster.",
    "button.",
    "cancel.",
    "feedback.",
    "absence.",
    "attendance.",
    "minutes.",
    "reminders.",
    "calendar.",
    "when.",
    "meeting.",
    "playground.",
    "document.",
    "link.",
    "weekday.",
    "zalo.",
    "fee.",
    "report.",
    "study.",
)


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_languages_have_the_same_keys() -> None:
    assert set(catalog("vi")) == set(catalog("en"))
    assert len(catalog("vi")) > 100


def test_placeholders_match_between_languages() -> None:
    english = catalog("en")
    for key, text in catalog("vi").items():
        assert _placeholders(text) == _placeholders(english[key]), key


def test_every_key_used_in_code_exists() -> None:
    known = set(catalog("vi"))
    used = {
        match
        for path in SOURCES
        for match in KEY_LITERAL.findall(path.read_text(encoding="utf-8"))
        if match.startswith(KEY_PREFIXES)
    }
    assert used, "the scan found no keys at all"
    # A literal may be a prefix the code completes (error_prefix="join.name" → join.name.empty).
    prefixes = {key.rsplit(".", 1)[0] for key in known}
    assert sorted(used - known - prefixes) == []


def test_vietnamese_text_has_diacritics_and_no_untranslated_keys() -> None:
    for key, text in catalog("vi").items():
        assert text != key, f"{key} has no translation"
    assert "Đã lập chi bộ" in catalog("vi")["setup.done"]


def test_dates_are_written_the_vietnamese_way() -> None:
    moment = datetime(2026, 12, 15, 19, 30, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    assert Texts("vi").datetime(moment) == "19:30, Thứ Ba 15/12/2026"
    assert Texts("en").datetime(moment) == "19:30, Tuesday 15/12/2026"
    assert Texts("vi").date(moment.date()) == "15/12/2026"


def test_platform_variants_replace_their_key_and_never_say_tap_on_zalo() -> None:
    vi, en = catalog("vi"), catalog("en")
    variants = [key for key in vi if "@" in key]
    assert variants, "no platform variants found"
    for key in variants:
        base, _, platform = key.partition("@")
        assert platform == "zalo" and base in vi, key
        assert _placeholders(vi[key]) == _placeholders(vi[base]), key
        assert "bấm" not in vi[key].lower() and "tap" not in en[key].lower(), key
    zalo = Texts("vi").on("zalo")
    assert zalo("error.not_understood") == vi["error.not_understood@zalo"]
    assert Texts("vi")("error.not_understood") == vi["error.not_understood"]
    assert zalo("card.confirm_no") == Texts("vi")("card.confirm_no")  # no variant: the key


def test_every_text_that_says_tap_has_its_zalo_wording() -> None:
    """Zalo has no buttons: a text asking to tap one («bấm nút», «bấm «Gửi»») has a variant
    saying to answer with a number (the local playground is Telegram's, so it is left out)."""
    vi = catalog("vi")
    tapping = re.compile(r"\bnút\b|bấm (?!vào liên kết)", re.IGNORECASE)
    missing = [
        key
        for key, text in vi.items()
        if "@" not in key and not key.startswith("playground.") and tapping.search(text)
        if f"{key}@zalo" not in vi
    ]
    assert missing == []
