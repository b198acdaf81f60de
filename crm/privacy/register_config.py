"""The sections of the Art. 30 register that come from the configuration and the code: the
processors of the configured channels, the retention periods from the settings, the security
measures in place and what the organisation still has to complete. Texts are English, marked for
translation (`N_`) and translated by the caller's `translate`."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from crm.auth.models import ApiToken, User
from crm.config import DEV_SECRET_KEY, settings
from crm.enums import Role
from crm.privacy.purposes import N_

Translate = Callable[[str], str]


def same(text: str) -> str:
    """No translation: the register in English."""
    return text


def processors(t: Translate = same) -> list[dict[str, Any]]:
    """The messaging providers that process people's data for us, by configured channel. A
    channel without credentials is the console: nothing leaves the server."""
    out = []
    if settings.TWILIO_ACCOUNT_SID:
        out.append(
            {
                "code": "twilio",
                "name": "Twilio Inc.",
                "service": t(N_("Sending and receiving SMS")),
                "data": t(N_("Phone number, message text, delivery status")),
                "location": t(N_("United States")),
                "outside_eu": True,
                "safeguard": t(
                    N_(
                        "Standard contractual clauses in the provider's data protection "
                        "addendum (GDPR Art. 46(2)(c))"
                    )
                ),
            }
        )
    if settings.TELEGRAM_BOT_TOKEN:
        out.append(
            {
                "code": "telegram",
                "name": "Telegram FZ-LLC",
                "service": t(N_("Sending and receiving Telegram messages through the bot")),
                "data": t(N_("Telegram chat id, message text")),
                "location": t(N_("United Arab Emirates")),
                "outside_eu": True,
                "safeguard": t(
                    N_(
                        "No data processing agreement is offered for bots: the person chose "
                        "Telegram and consented to being contacted there, informed that it is "
                        "outside the EU (GDPR Art. 49(1)(a))"
                    )
                ),
            }
        )
    return out


# --- retention -----------------------------------------------------------------------------------


def _hours(seconds: int) -> str:
    hours = seconds / 3600
    return str(int(hours)) if hours.is_integer() else f"{hours:.1f}"


def retention(t: Translate = same) -> list[dict[str, Any]]:
    """How long each kind of data is kept, with the settings that say so."""
    s = settings
    rows: list[tuple[str, str, str, dict[str, Any], dict[str, Any]]] = [
        (
            "people",
            N_("People's records, messages and notes"),
            N_(
                "Flagged after %(months)s months without activity, anonymised %(days)s days "
                "later unless active again or kept until a date with a reason"
            ),
            {"months": s.RETENTION_INACTIVE_MONTHS, "days": s.RETENTION_WARNING_DAYS},
            {
                "RETENTION_INACTIVE_MONTHS": s.RETENTION_INACTIVE_MONTHS,
                "RETENTION_WARNING_DAYS": s.RETENTION_WARNING_DAYS,
            },
        ),
        (
            "import_rows",
            N_("Raw rows of import reports"),
            N_("Removed after %(days)s days"),
            {"days": s.RETENTION_IMPORT_ROWS_DAYS},
            {"RETENTION_IMPORT_ROWS_DAYS": s.RETENTION_IMPORT_ROWS_DAYS},
        ),
        (
            "webhook_payloads",
            N_("Bodies of the webhooks delivered to partners"),
            N_("Removed after %(days)s days"),
            {"days": s.RETENTION_WEBHOOK_PAYLOAD_DAYS},
            {"RETENTION_WEBHOOK_PAYLOAD_DAYS": s.RETENTION_WEBHOOK_PAYLOAD_DAYS},
        ),
        (
            "sync_receipts",
            N_("Receipts of the field app's synchronisation"),
            N_("Removed after %(days)s days"),
            {"days": s.RETENTION_SYNC_RECEIPT_DAYS},
            {"RETENTION_SYNC_RECEIPT_DAYS": s.RETENTION_SYNC_RECEIPT_DAYS},
        ),
        (
            "sessions",
            N_("Sign-in sessions"),
            N_("End after %(hours)s hours"),
            {"hours": _hours(s.SESSION_MAX_AGE_SECONDS)},
            {"SESSION_MAX_AGE_SECONDS": s.SESSION_MAX_AGE_SECONDS},
        ),
        (
            "api_tokens",
            N_("Staff API tokens"),
            N_("Expire after %(hours)s hours"),
            {"hours": s.API_TOKEN_TTL_HOURS},
            {"API_TOKEN_TTL_HOURS": s.API_TOKEN_TTL_HOURS},
        ),
        (
            "stories",
            N_("Success stories"),
            N_("Until the end date of the entrepreneur's consent, then out of every campaign"),
            {},
            {},
        ),
        (
            "rights_requests",
            N_("Rights requests"),
            N_("Kept as proof of the answer; what identifies the person goes with their erasure"),
            {},
            {},
        ),
        (
            "audit",
            N_("Audit trail"),
            N_("Kept for accountability; no period is set in the configuration"),
            {},
            {},
        ),
    ]
    return [
        {"code": code, "data": t(data), "rule": t(rule) % values, "settings": setting}
        for code, data, rule, values, setting in rows
    ]


# --- security measures ---------------------------------------------------------------------------


def _password_hashing(t: Translate) -> tuple[str, str, str] | None:
    from argon2 import PasswordHasher

    from crm.auth import passwords

    hasher = getattr(passwords, "_hasher", None)
    if not isinstance(hasher, PasswordHasher):
        return None
    detail = t(N_("%(variant)s, time cost %(time)s, memory %(memory)s, %(lanes)s lanes")) % {
        "variant": f"argon2{hasher.type.name.lower()}",
        "time": hasher.time_cost,
        "memory": f"{hasher.memory_cost // 1024} MiB"
        if hasher.memory_cost % 1024 == 0
        else f"{hasher.memory_cost} KiB",
        "lanes": hasher.parallelism,
    }
    return "passwords", t(N_("Passwords hashed with argon2")), detail


def _login_settings() -> dict[str, Any]:
    # The sign-in lockout's settings, whatever their number, once they exist.
    return {
        name: getattr(settings, name) for name in type(settings).model_fields if "LOGIN_" in name
    }


def security_measures(t: Translate = same) -> list[dict[str, str]]:
    """The technical and organisational measures in place (Art. 32), from the code and the
    configuration: a measure that is not in place is not listed (see `to_complete`)."""
    from crm.security import security_headers
    from crm.web.session import session_middleware_options

    cookie = session_middleware_options(settings)
    found: list[tuple[str, str, str] | None] = [_password_hashing(t)]
    if "token_hash" in ApiToken._meta.fields_map:
        found.append(
            (
                "api_tokens",
                t(N_("API tokens and partner keys stored only as hashes")),
                t(N_("Staff tokens expire after %(hours)s hours; keys can be revoked"))
                % {"hours": settings.API_TOKEN_TTL_HOURS},
            )
        )
    found.append(
        (
            "roles",
            t(N_("A role check on every route")),
            t(N_("Roles: %(roles)s; a test built from the route list fails without one"))
            % {"roles": ", ".join(r.value for r in Role)},
        )
    )
    found.append(
        (
            "partner_isolation",
            t(N_("Partners see only their own referrals")),
            t(N_("A partner's users and keys reach only the people their organisation referred")),
        )
    )
    if "can_export" in User._meta.fields_map:
        found.append(
            (
                "exports",
                t(N_("Exports need a permission and are audited")),
                t(N_("Exporting people's data is a permission of its own (admins have it)")),
            )
        )
    found.append(
        (
            "audit",
            t(N_("Audit trail")),
            t(N_("Changes to a person, every view of a person and every export: who and when")),
        )
    )
    found.append(
        (
            "csrf",
            t(N_("CSRF token on every form")),
            t(N_("One random token per session, checked on every form sent")),
        )
    )
    found.append(
        (
            "session_cookie",
            t(N_("Session cookie")),
            t(N_("HttpOnly, SameSite=%(same_site)s, Secure: %(secure)s, %(hours)s hours at most"))
            % {
                "same_site": cookie["same_site"],
                "secure": t(N_("yes")) if cookie["https_only"] else t(N_("no")),
                "hours": _hours(settings.SESSION_MAX_AGE_SECONDS),
            },
        )
    )
    if settings.PUBLIC_BASE_URL.startswith("https://"):
        found.append(
            (
                "https",
                t(N_("HTTPS")),
                t(N_("Public address: %(url)s")) % {"url": settings.PUBLIC_BASE_URL},
            )
        )
    found.append(
        (
            "headers",
            t(N_("Security headers on every page")),
            ", ".join(sorted(security_headers("/", settings))),
        )
    )
    found.append(
        (
            "webhooks",
            t(N_("Signed webhooks")),
            t(
                N_(
                    "Twilio requests checked by their signature, Telegram updates by a secret "
                    "token, deliveries to partners signed with HMAC-SHA256 and each partner's "
                    "own secret"
                )
            ),
        )
    )
    if login := _login_settings():
        found.append(
            (
                "login_lockout",
                t(N_("Sign-in lockout after repeated failures")),
                ", ".join(f"{name}={value}" for name, value in login.items()),
            )
        )
    if importlib.util.find_spec("crm.privacy.retention") is not None:
        found.append(
            (
                "retention_job",
                t(N_("Retention applied by a scheduled job")),
                t(N_("Inactive people flagged, then anonymised (see the retention periods)")),
            )
        )
    return [{"code": c, "name": n, "detail": d} for c, n, d in (m for m in found if m)]


def to_complete(t: Translate = same) -> list[dict[str, str]]:
    """What the organisation still has to write in or set: the register cannot know it."""
    items: list[tuple[str, str]] = []
    if not settings.DPO_CONTACT:
        items.append(("dpo_contact", N_("Name a data protection contact (DPO_CONTACT)")))
    if not settings.PUBLIC_BASE_URL.startswith("https://"):
        items.append(("https", N_("Serve the application over HTTPS (PUBLIC_BASE_URL)")))
    if settings.SECRET_KEY == DEV_SECRET_KEY:
        items.append(("secret_key", N_("Set a secret SECRET_KEY")))
    if settings.TELEGRAM_BOT_TOKEN and not settings.TELEGRAM_WEBHOOK_SECRET:
        items.append(
            ("telegram_secret", N_("Set TELEGRAM_WEBHOOK_SECRET: the bot refuses every update"))
        )
    items += [
        ("hosting", N_("Name the hosting provider and where the backups are kept")),
        ("mail_provider", N_("Name the mail provider used to send e-mails to people")),
        ("audit_period", N_("Decide how long the audit trail is kept")),
        (
            "background_consent",
            N_("Keep a trace of the explicit consent when asking for the self-declared background"),
        ),
    ]
    return [{"code": code, "text": t(text)} for code, text in items]
