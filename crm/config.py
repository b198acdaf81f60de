"""The one Settings object (CONTRACT §1). Nothing else in the code reads the environment."""

from __future__ import annotations

import os
import re
import warnings
from datetime import time
from functools import cached_property
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"
_QUIET = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def _e164(raw: str) -> str | None:
    """A phone number in E.164 (a Belgian national number is read as one), or None."""
    try:
        number = phonenumbers.parse(raw.strip(), "BE")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _parse_days(text: str) -> frozenset[int]:
    days: set[int] = set()
    try:
        for part in text.replace(" ", "").split(","):
            if "-" in part:
                first, last = (int(x) for x in part.split("-"))
                days.update(range(first, last + 1))
            elif part:
                days.add(int(part))
    except ValueError:
        raise ValueError("OFFICE_DAYS must list ISO weekdays, e.g. 1-5 or 1,2,3,4,5,6") from None
    if not days or not days <= set(range(1, 8)):
        raise ValueError("OFFICE_DAYS must list ISO weekdays between 1 (Monday) and 7 (Sunday)")
    return frozenset(days)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True)

    DATABASE_URL: str = "sqlite://passerelle.db"
    SECRET_KEY: str = DEV_SECRET_KEY
    ENVIRONMENT: Literal["development", "test", "production"] = "development"
    PUBLIC_BASE_URL: str = "http://127.0.0.1:8000"
    TIMEZONE: str = "Europe/Brussels"

    TWILIO_ACCOUNT_SID: str | None = None
    TWILIO_AUTH_TOKEN: str | None = None
    TWILIO_FROM: str | None = None
    TWILIO_API_BASE: str = "https://api.twilio.com"
    TELEGRAM_BOT_TOKEN: str | None = None
    TELEGRAM_BOT_USERNAME: str | None = None
    TELEGRAM_WEBHOOK_SECRET: str | None = None
    TELEGRAM_API_BASE: str = "https://api.telegram.org"
    SMS_RATE_PER_SECOND: float = Field(default=10, gt=0)
    TELEGRAM_RATE_PER_SECOND: float = Field(default=25, gt=0)
    QUIET_HOURS: str = "20:00-09:00"

    # Beyond the contract: tunables with safe defaults.
    ORGANISATION_NAME: str = "Passerelle"  # our own organisation, as partners see it
    API_TOKEN_TTL_HOURS: int = Field(default=12, gt=0)
    SESSION_MAX_AGE_SECONDS: int = Field(default=8 * 3600, gt=0)
    LOG_LEVEL: str = "INFO"
    # When someone answers messages: outside these hours a person who writes gets one automatic
    # acknowledgement per night saying when to expect an answer.
    OFFICE_HOURS: str = "09:00-17:00"
    OFFICE_DAYS: str = "1-5"  # ISO weekdays, 1 = Monday: "1-5", "1,2,3,4,5,6"
    # The outbox dispatcher.
    OUTBOX_MAX_ATTEMPTS: int = Field(default=6, ge=1)  # then the message fails with the reason
    OUTBOX_RETRY_BASE_SECONDS: float = Field(default=5, gt=0)  # doubles each attempt
    OUTBOX_RETRY_MAX_SECONDS: float = Field(default=900, gt=0)
    OUTBOX_LEASE_SECONDS: int = Field(default=120, ge=10)  # a claimed row is another worker's after
    WORKER_CONCURRENCY: int = Field(default=64, ge=1)  # messages in flight per worker
    PROVIDER_TIMEOUT_SECONDS: float = Field(default=15, gt=0)
    # Campaigns: at most CAMPAIGN_CAP_MESSAGES campaign messages per person in CAMPAIGN_CAP_DAYS.
    CAMPAIGN_CAP_MESSAGES: int = Field(default=2, ge=1)
    CAMPAIGN_CAP_DAYS: int = Field(default=7, ge=1)
    # A person "converted" when they moved forward a stage within this many days of a message.
    CAMPAIGN_CONVERSION_DAYS: int = Field(default=14, ge=1, le=365)
    CAMPAIGN_FANOUT_BATCH: int = Field(default=1000, ge=10, le=10000)  # people per statement
    # A campaign warns when its story's consent ends within this many days.
    STORY_EXPIRY_WARNING_DAYS: int = Field(default=30, ge=0)
    # The number people text an event's keyword to, shown on the stand page. Defaults to
    # TWILIO_FROM when that is a phone number (a Messaging Service SID `MG…` is not one).
    SMS_PUBLIC_NUMBER: str | None = None

    # Referrals: an unanswered referral expires after this many days, with a reminder to the
    # receiving organisation this many days before.
    REFERRAL_EXPIRY_DAYS: int = Field(default=14, ge=1, le=365)
    REFERRAL_REMINDER_DAYS: int = Field(default=3, ge=0, le=365)
    # A partner's signed answer link (no account needed) is valid this many days.
    REFERRAL_LINK_DAYS: int = Field(default=14, ge=1, le=90)
    # Webhooks to partners: attempts per delivery (backoff doubling from the base), and the
    # number of consecutive failed attempts after which the partner's endpoint is disabled.
    WEBHOOK_MAX_ATTEMPTS: int = Field(default=8, ge=1, le=30)
    WEBHOOK_RETRY_BASE_SECONDS: float = Field(default=30, gt=0)
    WEBHOOK_RETRY_MAX_SECONDS: float = Field(default=6 * 3600, gt=0)
    WEBHOOK_DISABLE_AFTER_FAILURES: int = Field(default=20, ge=1)
    WEBHOOK_TIMEOUT_SECONDS: float = Field(default=10, gt=0)

    # Imports: the largest file accepted, in rows and in bytes.
    IMPORT_MAX_ROWS: int = Field(default=50_000, ge=1)
    IMPORT_MAX_BYTES: int = Field(default=25 * 1024 * 1024, ge=1024)

    # Privacy: who answers for the data (the Art. 30 register names them), and how long each
    # kind of data is kept (crm.privacy.retention runs daily in the worker).
    DPO_CONTACT: str | None = None  # the data protection officer or privacy contact
    PRIVACY_REQUEST_REMINDER_DAYS: int = Field(default=7, ge=1, le=30)  # before a request is due
    # A person with no activity for this many months is flagged, then anonymised after the
    # warning period unless they are active again or kept (with a reason) until a date.
    RETENTION_INACTIVE_MONTHS: int = Field(default=24, ge=1, le=240)
    RETENTION_WARNING_DAYS: int = Field(default=30, ge=1, le=365)
    # The raw rows of import reports and the bodies of partner webhooks already delivered
    # (copies of what the person's record holds), and the field app's sync receipts.
    RETENTION_IMPORT_ROWS_DAYS: int = Field(default=90, ge=1, le=3650)
    RETENTION_WEBHOOK_PAYLOAD_DAYS: int = Field(default=90, ge=1, le=3650)
    RETENTION_SYNC_RECEIPT_DAYS: int = Field(default=90, ge=1, le=3650)

    # Security: sign-in throttling (web login and POST /api/v1/auth/token, counted in the
    # database so every process shares them), the request size limit, and the proxies whose
    # X-Forwarded-For is believed (comma-separated IPs or networks; empty = the socket's peer).
    LOGIN_MAX_FAILURES: int = Field(default=5, ge=1, le=100)  # per account in the window
    LOGIN_ADDRESS_MAX_FAILURES: int = Field(default=20, ge=1, le=10_000)  # per address
    LOGIN_WINDOW_MINUTES: int = Field(default=15, ge=1, le=1440)
    LOGIN_LOCK_MINUTES: int = Field(default=15, ge=1, le=1440)  # doubles on each repeat, max 24 h
    MAX_REQUEST_BYTES: int = Field(default=2 * 1024 * 1024, ge=1024)  # imports: IMPORT_MAX_BYTES
    TRUSTED_PROXIES: str = ""

    @field_validator("TRUSTED_PROXIES")
    @classmethod
    def _check_trusted_proxies(cls, value: str) -> str:
        import ipaddress

        entries = [part.strip() for part in value.split(",") if part.strip()]
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"TRUSTED_PROXIES: {entry!r} is not an IP address or network (10.0.0.0/8)"
                ) from None
        return ",".join(entries)

    @field_validator("QUIET_HOURS")
    @classmethod
    def _check_quiet_hours(cls, value: str) -> str:
        value = value.strip()
        if value and not _QUIET.match(value):
            raise ValueError("QUIET_HOURS must be HH:MM-HH:MM (or empty for none)")
        return value

    @field_validator("OFFICE_HOURS")
    @classmethod
    def _check_office_hours(cls, value: str) -> str:
        value = value.strip()
        if not _QUIET.match(value):
            raise ValueError("OFFICE_HOURS must be HH:MM-HH:MM")
        return value

    @field_validator("OFFICE_DAYS")
    @classmethod
    def _check_office_days(cls, value: str) -> str:
        _parse_days(value)
        return value

    @field_validator("SMS_PUBLIC_NUMBER")
    @classmethod
    def _check_sms_public_number(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        e164 = _e164(value)
        if e164 is None:
            raise ValueError("SMS_PUBLIC_NUMBER must be a phone number, e.g. +32470123456")
        return e164

    @field_validator("TIMEZONE")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("PUBLIC_BASE_URL")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _production_guards(self) -> Settings:
        if self.ENVIRONMENT == "production":
            if self.SECRET_KEY == DEV_SECRET_KEY or len(self.SECRET_KEY) < 32:
                raise ValueError("SECRET_KEY must be set (32+ characters) in production")
            if not self.PUBLIC_BASE_URL.startswith("https://"):
                raise ValueError("PUBLIC_BASE_URL must be an https:// URL in production")
        elif self.SECRET_KEY == DEV_SECRET_KEY:
            warnings.warn(
                "SECRET_KEY is the development default: sessions and tokens are not secret. "
                "Set SECRET_KEY before real use.",
                stacklevel=2,
            )
        return self

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.TIMEZONE)

    @cached_property
    def quiet_hours(self) -> tuple[time, time] | None:
        if not self.QUIET_HOURS:
            return None
        start, end = self.QUIET_HOURS.split("-")
        return time.fromisoformat(start), time.fromisoformat(end)

    @cached_property
    def office_hours(self) -> tuple[time, time]:
        start, end = self.OFFICE_HOURS.split("-")
        return time.fromisoformat(start), time.fromisoformat(end)

    @cached_property
    def office_days(self) -> frozenset[int]:
        return _parse_days(self.OFFICE_DAYS)

    @property
    def sms_public_number(self) -> str | None:
        """The E.164 number people can text, or None when there is none to show."""
        if self.SMS_PUBLIC_NUMBER:
            return self.SMS_PUBLIC_NUMBER
        sender = (self.TWILIO_FROM or "").strip()
        return sender if _E164.match(sender) else None

    @property
    def is_sqlite(self) -> bool:
        return self.DATABASE_URL.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        return self.PUBLIC_BASE_URL.startswith("https://")


settings = Settings()


# Tortoise keeps its own time zone in os.environ["TIMEZONE"] (it writes "UTC" there at init),
# which is also our business time zone's variable: remember what the environment said before.
_TIMEZONE_FROM_ENVIRONMENT = os.environ.get("TIMEZONE")


def reload_settings(**overrides: object) -> Settings:
    """Re-read the environment into the shared object (tests and the CLI use this)."""
    written_by_tortoise = os.environ.get("TIMEZONE")
    if _TIMEZONE_FROM_ENVIRONMENT is None:
        os.environ.pop("TIMEZONE", None)
    else:
        os.environ["TIMEZONE"] = _TIMEZONE_FROM_ENVIRONMENT
    try:
        fresh = Settings(**overrides)  # type: ignore[arg-type]
    finally:
        if written_by_tortoise is not None:
            os.environ["TIMEZONE"] = written_by_tortoise
    settings.__dict__.update(fresh.__dict__)
    for cached in ("tz", "quiet_hours", "office_hours", "office_days"):
        settings.__dict__.pop(cached, None)
    return settings
