"""Users, passwords, staff tokens and partner API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from tortoise.expressions import Q

from crm.audit import service as audit
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
    if not verify_password(user.password_hash if user else None, password):
        return None
    assert user is not None
    updates = {"last_login_at": _now()}
    if user.password_hash and needs_rehash(user.password_hash):
        updates["password_hash"] = hash_password(password)
    await User.filter(id=user.id).update(**updates)
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


async def resolve_bearer(secret: str) -> Actor | None:
    """The actor a bearer secret stands for, or None if it is unknown, expired or revoked."""
    if not secret.startswith((STAFF_TOKEN_PREFIX, PARTNER_KEY_PREFIX)):
        return None
    digest = hash_secret(secret)
    now = _now()
    token = (
        await ApiToken.filter(token_hash=digest, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .prefetch_related("user__organisation", "organisation")
        .first()
    )
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    if token.kind == TokenKind.PARTNER:
        org: PartnerOrganisation = token.organisation  # type: ignore[assignment]
        if org is None or not org.active:
            return None
        actor = Actor(
            role=Role.PARTNER,
            label=f"API key {token.name or token.prefix}",
            organisation_id=org.id,
            organisation_name=org.name,
            token_id=token.id,
        )
    else:
        user: User = token.user  # type: ignore[assignment]
        if user is None or not user.is_active:
            return None
        base = actor_for_user(user)
        actor = Actor(**{**base.__dict__, "token_id": token.id})
    # Touch last use at most once a minute, so reads do not turn into writes.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        await ApiToken.filter(id=token.id).update(last_used_at=now)
    return actor
