"""Users, passwords, staff tokens and partner API keys."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from tortoise import connections

from crm.audit import service as audit
from crm.auth import throttle
from crm.auth.actor import Actor
from crm.auth.models import ApiToken, TokenKind, User
from crm.auth.passwords import MIN_PASSWORD_LENGTH, hash_password, needs_rehash, verify_password
from crm.config import settings
from crm.enums import Role
from crm.errors import Conflict, InvalidInput, NotFound
from crm.referrals.models import PartnerOrganisation

STAFF_TOKEN_PREFIX = "pst_"
PARTNER_KEY_PREFIX = "ppk_"


def _now() -> datetime:
    return datetime.now(UTC)


def hash_secret(secret: str) -> str:
    # Secrets are 256 random bits: a fast hash is enough (argon2 is for guessable passwords).
    return hashlib.sha256(secret.encode()).hexdigest()


def actor_for_user(user: User) -> Actor:
    org = user.organisation if user.organisation_id else None  # type: ignore[attr-defined]
    return Actor(
        role=Role(user.role),
        label=user.display_name,
        user_id=user.id,
        organisation_id=user.organisation_id,  # type: ignore[attr-defined]
        organisation_name=org.name if isinstance(org, PartnerOrganisation) else None,
        ui_language=user.ui_language,
    )


async def create_user(
    email: str,
    role: Role,
    *,
    password: str | None = None,
    organisation_name: str | None = None,
    first_name: str = "",
    last_name: str = "",
    languages: list[str] | None = None,
    ui_language: str = "fr",
    actor: Actor | None = None,
) -> User:
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise InvalidInput("is not an e-mail address", field="email")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"must be at least {MIN_PASSWORD_LENGTH} characters", field="password")
    organisation = None
    if role is Role.PARTNER:
        if not organisation_name:
            raise InvalidInput("a partner user needs an organisation (--org)", field="org")
        organisation = await PartnerOrganisation.get_or_none(name=organisation_name)
        if organisation is None:
            raise NotFound(f"no partner organisation named {organisation_name!r}", field="org")
    elif organisation_name:
        raise InvalidInput("only partner users belong to a partner organisation", field="org")
    if await User.filter(email=email).exists():
        raise Conflict(f"a user with e-mail {email} already exists", field="email")
    user = await User.create(
        email=email,
        role=role,
        password_hash=hash_password(password) if password else None,
        organisation=organisation,
        first_name=first_name,
        last_name=last_name,
        languages=languages or [],
        ui_language=ui_language,
    )
    await audit.record(
        actor,
        "user.create",
        entity="user",
        entity_id=user.id,
        changes={"email": email, "role": role.value},
    )
    return user


async def authenticate(email: str, password: str) -> User | None:
    user = await User.get_or_none(email=email.strip().lower(), is_active=True).prefetch_related(
        "organisation"
    )
    # argon2 takes tens of milliseconds of CPU on purpose: in a thread, not on the event loop
    # that serves every other request of this process.
    password_hash = user.password_hash if user else None
    if not await asyncio.to_thread(verify_password, password_hash, password):
        return None
    assert user is not None
    if user.organisation_id and not user.organisation.active:  # type: ignore[attr-defined]
        return None  # a deactivated partner organisation signs nobody in
    updates = {"last_login_at": _now()}
    if user.password_hash and needs_rehash(user.password_hash):
        updates["password_hash"] = await asyncio.to_thread(hash_password, password)
    await User.filter(id=user.id).update(**updates)
    return user


async def sign_in(email: str, password: str, *, address: str) -> User | throttle.Refusal | None:
    """`authenticate`, throttled (crm.auth.throttle): the user, None for a wrong e-mail or
    password (or an inactive account), or a Refusal while the account or the client's address
    is locked, whatever the password. Every place that checks a password goes through here."""
    attempt = await throttle.begin(email, address)
    if isinstance(attempt, throttle.Refusal):
        return attempt
    user = await authenticate(email, password)
    if user is None:
        await throttle.failed(attempt)
    else:
        await throttle.succeeded(attempt)
    return user


async def issue_staff_token(user: User, *, name: str = "", ttl_hours: int | None = None) -> str:
    if user.role == Role.PARTNER:
        # Partner systems use API keys bound to their organisation.
        raise InvalidInput("partner users get API keys, not staff tokens", field="email")
    secret = STAFF_TOKEN_PREFIX + secrets.token_urlsafe(32)
    hours = ttl_hours if ttl_hours is not None else settings.API_TOKEN_TTL_HOURS
    await ApiToken.create(
        kind=TokenKind.STAFF,
        name=name,
        prefix=secret[:12],
        token_hash=hash_secret(secret),
        user=user,
        expires_at=_now() + timedelta(hours=hours) if hours else None,
    )
    return secret


async def create_partner_key(
    organisation: PartnerOrganisation,
    *,
    name: str = "",
    expires_days: int | None = 365,
    actor: Actor | None = None,
) -> str:
    if expires_days is not None and expires_days <= 0:
        raise InvalidInput("must be a positive number of days", field="expires_days")
    secret = PARTNER_KEY_PREFIX + secrets.token_urlsafe(32)
    token = await ApiToken.create(
        kind=TokenKind.PARTNER,
        name=name,
        prefix=secret[:12],
        token_hash=hash_secret(secret),
        organisation=organisation,
        created_by_id=actor.user_id if actor else None,
        expires_at=_now() + timedelta(days=expires_days) if expires_days else None,
    )
    await audit.record(
        actor,
        "apikey.create",
        entity="api_token",
        entity_id=token.id,
        changes={"organisation": organisation.name, "name": name},
    )
    return secret


_TOKEN_QUERY = """
SELECT t.id, t.kind, t.name, t.prefix, t.token_hash, t.expires_at, t.last_used_at,
       u.id AS user_id, u.email, u.role, u.first_name, u.last_name, u.ui_language,
       u.is_active, o.id AS org_id, o.name AS org_name, o.active AS org_active
FROM api_token t
LEFT JOIN app_user u ON u.id = t.user_id
LEFT JOIN partner_organisation o ON o.id = COALESCE(t.organisation_id, u.organisation_id)
WHERE t.token_hash = {param} AND t.revoked_at IS NULL
"""


def _as_datetime(value: object) -> datetime | None:
    return ApiToken._meta.fields_map["expires_at"].to_python_value(value)  # type: ignore[no-any-return]


async def resolve_bearer(secret: str) -> Actor | None:
    """The actor a bearer secret stands for, or None if it is unknown, expired or revoked.

    This runs on every API request, so it is one hand-written statement (the ORM spent more
    time building the joined query than the database spent answering it)."""
    if not secret.startswith((STAFF_TOKEN_PREFIX, PARTNER_KEY_PREFIX)):
        return None
    digest = hash_secret(secret)
    now = _now()
    connection = connections.get("default")
    param = "$1" if connection.capabilities.dialect == "postgres" else "?"
    rows = await connection.execute_query_dict(_TOKEN_QUERY.format(param=param), [digest])
    if not rows or not hmac.compare_digest(rows[0]["token_hash"], digest):
        return None
    row = rows[0]
    expires_at = _as_datetime(row["expires_at"])
    if expires_at is not None and expires_at <= now:
        return None
    if row["kind"] == TokenKind.PARTNER:
        if row["org_id"] is None or not row["org_active"]:
            return None
        actor = Actor(
            role=Role.PARTNER,
            label=f"API key {row['name'] or row['prefix']}",
            organisation_id=row["org_id"],
            organisation_name=row["org_name"],
            token_id=row["id"],
        )
    else:
        if row["user_id"] is None or not row["is_active"]:
            return None
        if row["org_id"] is not None and not row["org_active"]:
            return None
        name = " ".join(p for p in (row["first_name"], row["last_name"]) if p)
        actor = Actor(
            role=Role(row["role"]),
            label=name or row["email"],
            user_id=row["user_id"],
            organisation_id=row["org_id"],
            organisation_name=row["org_name"],
            ui_language=row["ui_language"],
            token_id=row["id"],
        )
    # Touch last use at most once a minute, so reads do not turn into writes.
    last_used = _as_datetime(row["last_used_at"])
    if last_used is None or now - last_used > timedelta(minutes=1):
        await ApiToken.filter(id=row["id"]).update(last_used_at=now)
    return actor
