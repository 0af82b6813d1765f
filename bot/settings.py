"""Process settings, validated once at start-up.

The environment variable names (prefix ``CHIBO_``) are a contract other tools rely on: keep them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SQLITE_PREFIX = "sqlite+aiosqlite:///"
_TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CHIBO_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    telegram_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = "https://api.telegram.org/file/bot"
    database_url: str = f"{SQLITE_PREFIX}./data/chibo.db"
    timezone: str = "Asia/Ho_Chi_Minh"
    language: Literal["vi", "en"] = "vi"
    data_keys: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    admin_ids: Annotated[tuple[int, ...], NoDecode] = ()
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    webhook_secret: SecretStr | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    outbox_interval_seconds: float = Field(default=2.0, gt=0, le=300)
    outbox_lease_seconds: float = Field(default=60.0, ge=1, le=3600)
    # Telegram's overall limit for one token, messages a second; 0 lifts it (a local Bot API
    # server, paid broadcasts, or a benchmark measuring the bot's own capacity).
    telegram_max_rate: float = Field(default=30.0, ge=0, le=1000)
    # Updates handled at once (one person's always in order): database and Telegram round
    # trips of different people overlap instead of queueing behind each other.
    concurrent_updates: int = Field(default=16, ge=1, le=256)
    # Zalo (see .env.example): the bot serves Zalo when it has a token.
    zalo_token: SecretStr | None = None
    zalo_base_url: str = "https://bot-api.zaloplatforms.com"
    zalo_webhook_secret: SecretStr | None = None
    zalo_monthly_quota: int = Field(default=3000, ge=1)
    zalo_quota_warn_percent: int = Field(default=80, ge=1, le=100)
    # Our own web endpoint: the Zalo webhook and the signed links files travel as on Zalo.
    public_url: str | None = None
    web_listen: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port (tests)
    link_key: SecretStr | None = None
    link_ttl_hours: float = Field(default=72.0, gt=0, le=24 * 90)
    # The playground (no token set): its web page on 127.0.0.1, and its own database so the
    # demo cell never mixes with a real one.
    playground_port: int = Field(default=8080, ge=0, le=65535)
    playground_database_url: str = f"{SQLITE_PREFIX}./data/playground.db"
    # Party-fee rates and regional minimum wages with their effective dates; None: the
    # configuration shipped in storage/fee_rates.toml.
    fee_rates_path: Path | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("data_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("data_keys")
    @classmethod
    def _valid_fernet_keys(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for position, key in enumerate(value, start=1):
            try:
                Fernet(key.get_secret_value())
            except ValueError as exc:
                # Never echo the key itself: only its position in the list.
                raise ValueError(f"key #{position} is not a valid Fernet key") from exc
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _telegram_secret_alphabet(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram's rule for setWebhook's secret_token; the value itself is never echoed.
        if value is not None and not _TELEGRAM_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1 to 256 characters: letters A-Z a-z, digits, _ and -")
        return value

    @field_validator("zalo_webhook_secret")
    @classmethod
    def _zalo_secret_length(cls, value: SecretStr | None) -> SecretStr | None:
        # Zalo's own rule for setWebhook; the value itself is never echoed.
        if value is not None and not 8 <= len(value.get_secret_value()) <= 256:
            raise ValueError("must be 8 to 256 characters")
        return value

    @field_validator("link_key")
    @classmethod
    def _link_key_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("database_url", "playground_database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith((SQLITE_PREFIX, "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///PATH or postgresql+asyncpg://…")
        return value

    def sqlite_path(self) -> Path | None:
        """The SQLite file this configuration points at, or None for other databases."""
        if not self.database_url.startswith(SQLITE_PREFIX):
            return None
        raw = self.database_url.removeprefix(SQLITE_PREFIX)
        return None if raw in ("", ":memory:") else Path(raw)


class SettingsError(Exception):
    """Settings could not be loaded; the message is one line naming the offending setting."""


def load_settings(**overrides: object) -> Settings:
    """Load settings from the environment and ``.env``; raise SettingsError with one clear line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except (OSError, UnicodeDecodeError) as exc:
        # The .env file itself: unreadable, or not UTF-8 (never echo its content).
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise SettingsError(
            f"Cannot read the settings file .env ({reason}): fix or remove it."
        ) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        name = f"CHIBO_{field.upper()}"
        reason = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"Invalid setting {name}: {reason}") from None
