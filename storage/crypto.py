"""Encryption of personal data at rest (Fernet/MultiFernet: newest key first, older keys still
decrypt, rotation re-encrypts with the newest)."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class PersonalDataKeyMissing(Exception):
    """No encryption key is configured, so personal data may not be stored."""


class PersonalDataUnreadable(Exception):
    """A stored token was made with a key that is no longer configured."""


class FieldCipher:
    def __init__(self, keys: Sequence[str]) -> None:
        fernets = [Fernet(key) for key in keys]
        self._fernet = MultiFernet(fernets) if fernets else None
        self._newest = fernets[0] if fernets else None

    @property
    def ready(self) -> bool:
        return self._fernet is not None

    def encrypt(self, value: str) -> str:
        if self._fernet is None:
            raise PersonalDataKeyMissing
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        if self._fernet is None:
            raise PersonalDataKeyMissing
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise PersonalDataUnreadable from exc

    def is_current(self, token: str) -> bool:
        """Whether the newest key alone reads ``token``: rotating it again would change
        nothing, and it stays readable once the older keys are dropped."""
        if self._newest is None:
            raise PersonalDataKeyMissing
        try:
            self._newest.decrypt(token.encode())
        except InvalidToken:
            return False
        return True

    def rotate(self, token: str) -> str:
        """Re-encrypt a token with the newest key."""
        if self._fernet is None:
            raise PersonalDataKeyMissing
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise PersonalDataUnreadable from exc
