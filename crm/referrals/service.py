"""Partner organisations and the referral lifecycle (CONTRACT §4)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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
from crm.referrals.models import (
    PartnerOrganisation,
    Referral,
    ReferralPurpose,
    ReferralStatus,
    ReferralStatusChange,
)
from crm.referrals.schemas import PartnerCreate, ReferralCreate, ReferralStatusUpdate

S = ReferralStatus
OPEN = (S.REQUESTED, S.ACCEPTED, S.IN_PROGRESS)
# What the receiving organisation may do from each status.
RECEIVER_MOVES: dict[ReferralStatus, frozenset[ReferralStatus]] = {
    S.REQUESTED: frozenset({S.ACCEPTED, S.REJECTED, S.REDIRECTED}),
    S.ACCEPTED: frozenset({S.IN_PROGRESS, S.COMPLETED, S.REJECTED, S.REDIRECTED}),
    S.IN_PROGRESS: frozenset({S.COMPLETED, S.REDIRECTED}),
}
# The sender may withdraw a referral that is still open.
SENDER_MOVES: dict[ReferralStatus, frozenset[ReferralStatus]] = {
    status: frozenset({S.CANCELLED}) for status in OPEN
}
REASON_REQUIRED = frozenset({S.REJECTED, S.REDIRECTED, S.CANCELLED})
STAFF_HANDLERS = (Role.ADMIN, Role.COORDINATOR, Role.AGENT)


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
            referral = await _open_referral(
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


async def _append_history(
    referral: Referral, status: ReferralStatus, reason: str | None, actor: Actor
) -> None:
    await ReferralStatusChange.create(
        referral=referral,
        status=status,
        reason=reason,
        by_user_id=actor.user_id,
        by_label=actor.label,
        organisation_label=actor.organisation_label,
    )


def allowed_moves(referral: Referral, actor: Actor) -> frozenset[ReferralStatus]:
    """The statuses this actor may move the referral to now."""
    status = ReferralStatus(referral.status)
    moves: set[ReferralStatus] = set()
    if _is_side(referral.receiver_id, actor):  # type: ignore[attr-defined]
        moves |= RECEIVER_MOVES.get(status, frozenset())
    if _is_side(referral.sender_id, actor):  # type: ignore[attr-defined]
        moves |= SENDER_MOVES.get(status, frozenset())
    return frozenset(moves)


def _is_side(organisation_id: int | None, actor: Actor) -> bool:
    if organisation_id is None:
        return actor.role in STAFF_HANDLERS
    return actor.role == Role.PARTNER and actor.organisation_id == organisation_id


async def change_status(
    referral: Referral, data: ReferralStatusUpdate, *, actor: Actor
) -> Referral:
    current = ReferralStatus(referral.status)
    target = data.status
    is_party = _is_side(referral.receiver_id, actor) or _is_side(  # type: ignore[attr-defined]
        referral.sender_id,
        actor,  # type: ignore[attr-defined]
    )
    if not is_party:
        raise Forbidden("only the receiving or sending organisation may change this referral")
    if target == current:
        raise Conflict(f"the referral is already {current.value}", field="status")
    if target not in allowed_moves(referral, actor):
        receiver_may = target in RECEIVER_MOVES.get(current, frozenset())
        sender_may = target in SENDER_MOVES.get(current, frozenset())
        if receiver_may or sender_may:
            who = "receiving" if receiver_may else "sending"
            raise Forbidden(
                f"only the {who} organisation may move it to {target.value}", field="status"
            )
        raise Conflict(f"a {current.value} referral cannot become {target.value}", field="status")
    if target in REASON_REQUIRED and not data.status_reason:
        raise InvalidInput(f"a reason is required to move to {target.value}", field="status_reason")
    async with in_transaction():
        updated = await Referral.filter(id=referral.id, status=current).update(
            status=target, status_reason=data.status_reason, updated_at=datetime.now(UTC)
        )
        if not updated:
            raise Conflict("the referral changed meanwhile; reload it", field="status")
        referral.status = target
        referral.status_reason = data.status_reason
        await _append_history(referral, target, data.status_reason, actor)
        await audit.record(
            actor,
            "referral.status",
            entity="referral",
            entity_id=referral.id,
            lead_id=referral.lead_id,  # type: ignore[attr-defined]
            changes={"from": current, "to": target, "reason": data.status_reason},
        )
    return await Referral.get(id=referral.id)


# --- referring a person out to a partner -------------------------------------------------------


async def sharing_consent_granted(lead: Lead) -> bool:
    """Whether the person's current `share_with_partners` consent is granted."""
    records = (await people.current_consents([lead.id])).get(lead.id, [])
    return any(r.purpose == ConsentPurpose.SHARE_WITH_PARTNERS and r.granted for r in records)


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
        referral = await _open_referral(
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


async def _open_referral(actor: Actor, audited: dict[str, Any], **fields: Any) -> Referral:
    """A new referral in `requested`, its first history entry and its audit entry (inside the
    caller's transaction)."""
    referral = await Referral.create(**fields, status=S.REQUESTED, created_by_id=actor.user_id)
    await _append_history(referral, S.REQUESTED, None, actor)
    await audit.record(
        actor,
        "referral.create",
        entity="referral",
        entity_id=referral.id,
        lead_id=referral.lead_id,  # type: ignore[attr-defined]
        changes=audited,
    )
    return referral
