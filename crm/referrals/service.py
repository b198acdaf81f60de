"""Partner organisations, referrals in (intake) and out (refer_out), and who sees which
referral. The lifecycle rules are in `crm.referrals.lifecycle`, re-exported here (CONTRACT §4)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from crm import geo
from crm.audit import service as audit
from crm.auth.actor import Actor
from crm.config import settings
from crm.enums import Role
from crm.errors import Conflict, Forbidden, InvalidInput, NotFound
from crm.people import service as people
from crm.people.models import ConsentPurpose, ConsentSource, Lead, LeadSource
from crm.people.phones import normalize_phone
from crm.people.schemas import ConsentIn, LeadCreate

# The lifecycle rules live in crm.referrals.lifecycle; their public names are kept here, so
# pages and routes import one module.
from crm.referrals.lifecycle import OPEN, open_referral
from crm.referrals.lifecycle import allowed_moves as allowed_moves
from crm.referrals.lifecycle import change_status as change_status
from crm.referrals.lifecycle import redirect_choices as redirect_choices
from crm.referrals.lifecycle import sharing_consent_granted as sharing_consent_granted
from crm.referrals.links import answer_url as answer_url
from crm.referrals.models import (
    PartnerOrganisation,
    Referral,
    ReferralPurpose,
)
from crm.referrals.schemas import PartnerCreate, ReferralCreate


def partner_telegram_link(code: str) -> str | None:
    if not settings.TELEGRAM_BOT_USERNAME:
        return None
    return f"https://t.me/{settings.TELEGRAM_BOT_USERNAME}?start=ref_{code}"


async def create_partner(data: PartnerCreate, *, actor: Actor | None) -> PartnerOrganisation:
    values = data.model_dump()
    geo.apply_postcode(values, set_language=False)
    if values.get("contact_phone"):
        try:
            values["contact_phone"] = normalize_phone(values["contact_phone"])
        except ValueError as exc:
            raise InvalidInput(f"{exc}", field="contact_phone") from None
    if await PartnerOrganisation.exists(name=values["name"]):
        raise Conflict(f"a partner named {values['name']!r} already exists", field="name")
    partner = await PartnerOrganisation.create(**values, referral_code=secrets.token_hex(4))
    await audit.record(
        actor,
        "partner.create",
        entity="partner",
        entity_id=partner.id,
        changes=data.model_dump(mode="json"),
    )
    return partner


def visible_referrals(actor: Actor) -> QuerySet[Referral]:
    if actor.sees_everything:
        return Referral.all()
    if actor.role == Role.PARTNER:
        return Referral.filter(
            Q(sender_id=actor.organisation_id) | Q(receiver_id=actor.organisation_id)
        )
    if actor.role == Role.AGENT:
        return Referral.filter(lead_id__in=Subquery(people.visible_leads(actor).values("id")))
    return Referral.filter(id=-1)


async def get_visible_referral(actor: Actor, referral_id: int) -> Referral:
    referral = await visible_referrals(actor).get_or_none(id=referral_id)
    if referral is None:
        raise NotFound(f"no referral with id {referral_id}", field="id")
    return referral


@dataclass
class IntakeResult:
    referral: Referral
    created: bool


async def intake(data: ReferralCreate, *, actor: Actor) -> IntakeResult:
    """A partner (or staff on a partner's behalf) refers a person to us."""
    if actor.role == Role.PARTNER:
        if data.sender_id not in (None, actor.organisation_id):
            raise Forbidden("a partner refers only on its own behalf", field="sender_id")
        sender_id = actor.organisation_id
    else:
        if data.sender_id is None:
            raise InvalidInput(
                "staff recording a referral must name the referring partner", field="sender_id"
            )
        if not await PartnerOrganisation.exists(id=data.sender_id):
            raise InvalidInput(f"no partner with id {data.sender_id}", field="sender_id")
        sender_id = data.sender_id
    if data.consent is None:
        raise InvalidInput("the person's consent to the referral is required", field="consent")

    if data.external_ref:
        existing = await Referral.get_or_none(sender_id=sender_id, external_ref=data.external_ref)
        if existing:
            return IntakeResult(existing, created=False)

    person = LeadCreate(
        **data.person.model_dump(exclude_none=True),
        source=LeadSource.REFERRAL,
        referring_partner_id=sender_id,
    )
    # find_or_create_lead validates the person before its first write, so bad input stores
    # nothing; the referral is written only after it.

    result = await people.find_or_create_lead(
        person, actor=actor, consent_source=ConsentSource.REFERRAL
    )
    lead = result.lead
    try:
        async with in_transaction():
            await people.record_consent(
                lead,
                ConsentIn(
                    purpose=ConsentPurpose.SHARE_WITH_PARTNERS,
                    granted=True,
                    method=data.consent.method,
                    text_version=data.consent.text_version,
                ),
                source=ConsentSource.REFERRAL,
                actor=actor,
                at=data.consent.given_at,
            )
            referral = await open_referral(
                actor,
                {
                    "sender_id": sender_id,
                    "purpose": data.purpose,
                    "external_ref": data.external_ref,
                },
                external_ref=data.external_ref,
                sender_id=sender_id,
                receiver_id=None,
                lead=lead,
                purpose=data.purpose,
                notes=data.notes,
                consent_given_at=data.consent.given_at,
                consent_method=data.consent.method,
                consent_text_version=data.consent.text_version,
            )
    except IntegrityError:
        # The same external_ref arrived twice at once: the first one won.
        existing = await Referral.get_or_none(sender_id=sender_id, external_ref=data.external_ref)
        if existing is None:
            raise
        return IntakeResult(existing, created=False)
    return IntakeResult(referral, created=True)


# --- referring a person out to a partner -------------------------------------------------------


async def active_partners() -> list[PartnerOrganisation]:
    return await PartnerOrganisation.filter(active=True).order_by("name", "id")


@dataclass
class ReferOutResult:
    referral: Referral
    created: bool


async def refer_out(
    lead: Lead,
    *,
    partner_id: int,
    purpose: ReferralPurpose,
    notes: str | None,
    actor: Actor,
) -> ReferOutResult:
    """Send a person from us to a partner organisation. Allowed only while the person's
    current consent to sharing with partners is granted; the referral records that consent.
    A referral to the same partner for the same purpose that is still open is given back
    rather than made twice (a double tap, or two agents at once)."""
    partner = await PartnerOrganisation.get_or_none(id=partner_id, active=True)
    if partner is None:
        raise InvalidInput(f"no active partner with id {partner_id}", field="partner_id")
    records = (await people.current_consents([lead.id])).get(lead.id, [])
    consent = next(
        (r for r in records if r.purpose == ConsentPurpose.SHARE_WITH_PARTNERS and r.granted),
        None,
    )
    if consent is None:
        raise InvalidInput(
            "the person has not agreed to their data being shared with partners",
            field="consent",
        )
    async with in_transaction():
        existing = await Referral.get_or_none(
            lead_id=lead.id,
            sender_id=None,
            receiver_id=partner.id,
            purpose=purpose,
            status__in=OPEN,
        )
        if existing is not None:
            return ReferOutResult(existing, created=False)
        referral = await open_referral(
            actor,
            {"receiver_id": partner.id, "purpose": purpose},
            sender_id=None,
            receiver_id=partner.id,
            lead=lead,
            purpose=purpose,
            notes=notes or None,
            consent_given_at=consent.recorded_at,
            consent_method=consent.method,
            consent_text_version=consent.text_version,
        )
    return ReferOutResult(referral, created=True)
