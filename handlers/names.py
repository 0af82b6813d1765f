"""Checks for names people type: a cell's name, a member's full name."""

from __future__ import annotations

import unicodedata

from handlers.context import UserError

MAX_CELL_NAME = 200
MAX_PERSON_NAME = 120


def clean_name(raw: str, *, limit: int, error_prefix: str) -> str:
    """NFC-normalised, whitespace-collapsed text with at least one letter and no control
    characters; otherwise a UserError keyed ``{error_prefix}.empty|too_long|invalid``."""
    text = " ".join(unicodedata.normalize("NFC", raw).split())
    if not text:
        raise UserError(f"{error_prefix}.empty")
    if len(text) > limit:
        raise UserError(f"{error_prefix}.too_long", limit=limit)
    if any(unicodedata.category(ch) in ("Cc", "Cf") and ch != "\u200d" for ch in text):
        raise UserError(f"{error_prefix}.invalid")
    if not any(ch.isalpha() for ch in text):
        raise UserError(f"{error_prefix}.invalid")
    return text
