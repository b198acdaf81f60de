"""Signed answer links: a partner without an account answers a referral from an e-mail.

The token names the referral and the receiving partner, signed with SECRET_KEY (its own salt,
so no other signed value of the app can stand in for it) and valid REFERRAL_LINK_DAYS days.
Whoever holds the link acts for the receiving organisation on that one referral only."""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from crm.config import settings
from crm.referrals.models import PartnerOrganisation, Referral

SALT = "referral-answer"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.SECRET_KEY, salt=SALT)


def max_age_seconds() -> int:
    return settings.REFERRAL_LINK_DAYS * 86_400


def answer_token(referral: Referral) -> str | None:
    """The signed token for the referral's receiving partner; None when we are the receiver."""
    receiver_id = referral.receiver_id  # type: ignore[attr-defined]
    if receiver_id is None:
        return None
    return _serializer().dumps({"r": referral.id, "p": receiver_id})


def answer_url(referral: Referral) -> str | None:
    """The no-account answer page for the receiving partner (None when we are the receiver)."""
    token = answer_token(referral)
    if token is None:
        return None
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/r/{token}"


@dataclass(frozen=True)
class AnswerLink:
    referral: Referral
    partner: PartnerOrganisation


async def read_token(token: str) -> AnswerLink | None:
    """The referral and receiving partner a token stands for, or None when it is forged,
    expired, malformed, or no longer matches (the referral gone, the partner inactive)."""
    if not token or len(token) > 500:
        return None
    try:
        data = _serializer().loads(token, max_age=max_age_seconds())
    except BadSignature:  # SignatureExpired is a BadSignature too
        return None
    if not isinstance(data, dict):
        return None
    referral_id, partner_id = data.get("r"), data.get("p")
    if not isinstance(referral_id, int) or not isinstance(partner_id, int):
        return None
    referral = await Referral.get_or_none(id=referral_id, receiver_id=partner_id)
    partner = await PartnerOrganisation.get_or_none(id=partner_id, active=True)
    if referral is None or partner is None:
        return None
    return AnswerLink(referral, partner)
