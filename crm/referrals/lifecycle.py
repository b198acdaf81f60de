"""The referral lifecycle: who may move a referral where, with which reason or outcome, the
redirect to another partner, and the history, audit and webhooks every change writes.

`crm.referrals.service` re-exports the public names (`allowed_moves`, `change_status`,
`sharing_consent_granted`) so callers keep one import."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from crm.audit import service as audit
from crm.auth.actor import Actor
from crm.config import settings
from crm.enums import Role
from crm.errors import Conflict, Forbidden, InvalidInput
from crm.people import service as people
from crm.people.models import ConsentPurpose
from crm.referrals import webhooks
from crm.referrals.models import (
    PartnerOrganisation,
    Referral,
    ReferralOutcome,
    ReferralReason,
    ReferralStatus,
    ReferralStatusChange,
)
from crm.referrals.schemas import ReferralStatusUpdate

S = ReferralStatus
OPEN = (S.REQUESTED, S.ACCEPTED, S.IN_PROGRESS)
# Nothing moves a referral out of these again.
FINAL = frozenset({S.REJECTED, S.COMPLETED, S.REDIRECTED, S.CANCELLED, S.EXPIRED})
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
# Moves that may carry a coded reason; `outcome` belongs to `completed` only.
REASON_CODE_MOVES = frozenset({S.REJECTED, S.CANCELLED, S.REDIRECTED})
STAFF_HANDLERS = (Role.ADMIN, Role.COORDINATOR, Role.AGENT)


def _now() -> datetime:
    return datetime.now(UTC)


def is_side(organisation_id: int | None, actor: Actor) -> bool:
    """Whether the actor acts for this side of a referral (None: our organisation)."""
    if organisation_id is None:
        return actor.role in STAFF_HANDLERS
    return actor.role == Role.PARTNER and actor.organisation_id == organisation_id


def allowed_moves(referral: Referral, actor: Actor) -> frozenset[ReferralStatus]:
    """The statuses this actor may move the referral to now (empty once it is final)."""
    status = ReferralStatus(referral.status)
    moves: set[ReferralStatus] = set()
    if is_side(referral.receiver_id, actor):  # type: ignore[attr-defined]
        moves |= RECEIVER_MOVES.get(status, frozenset())
    if is_side(referral.sender_id, actor):  # type: ignore[attr-defined]
        moves |= SENDER_MOVES.get(status, frozenset())
    return frozenset(moves)


def expiry_from(created: datetime) -> datetime:
    return created + timedelta(days=settings.REFERRAL_EXPIRY_DAYS)


async def sharing_consent_granted(lead_id: int) -> bool:
    """Whether the person's current `share_with_partners` consent is granted."""
    records = (await people.current_consents([lead_id])).get(lead_id, [])
    return any(r.purpose == ConsentPurpose.SHARE_WITH_PARTNERS and r.granted for r in records)


async def append_history(
    referral: Referral,
    status: ReferralStatus,
    actor: Actor,
    *,
    reason: str | None = None,
    reason_code: ReferralReason | None = None,
    outcome: ReferralOutcome | None = None,
) -> ReferralStatusChange:
    return await ReferralStatusChange.create(
        referral=referral,
        status=status,
        reason=reason,
        reason_code=reason_code,
        outcome=outcome,
        organisation_id=actor.organisation_id,
        by_user_id=actor.user_id,
        by_label=actor.label,
        organisation_label=actor.organisation_label,
    )


async def open_referral(actor: Actor, audited: dict[str, Any], **fields: Any) -> Referral:
    """A new referral in `requested` with its expiry, its first history entry, its audit entry
    and the `referral.created` webhooks (inside the caller's transaction)."""
    now = _now()
    referral = await Referral.create(
        **fields, status=S.REQUESTED, expires_at=expiry_from(now), created_by_id=actor.user_id
    )
    await append_history(referral, S.REQUESTED, actor)
    await audit.record(
        actor,
        "referral.create",
        entity="referral",
        entity_id=referral.id,
        lead_id=referral.lead_id,  # type: ignore[attr-defined]
        changes=audited,
    )
    await webhooks.enqueue(
        referral,
        webhooks.CREATED,
        organisations=(referral.sender_id, referral.receiver_id),  # type: ignore[attr-defined]
        acting_organisation_id=_acting_organisation(actor),
        at=now,
    )
    return referral


def _acting_organisation(actor: Actor) -> int | None:
    return actor.organisation_id if actor.role == Role.PARTNER else None


def _check_move(referral: Referral, target: ReferralStatus, actor: Actor) -> None:
    current = ReferralStatus(referral.status)
    sides = (referral.receiver_id, referral.sender_id)  # type: ignore[attr-defined]
    if not any(is_side(side, actor) for side in sides):
        raise Forbidden(
            "only the receiving or sending organisation may change this referral", field="status"
        )
    if current in FINAL:
        raise Conflict(
            f"a {current.value} referral is closed: it cannot become {target.value}",
            field="status",
        )
    if target == current:
        raise Conflict(f"the referral is already {current.value}", field="status")
    if target == S.EXPIRED:
        raise Forbidden("only the system expires a referral nobody answered", field="status")
    if target in allowed_moves(referral, actor):
        return
    receiver_may = target in RECEIVER_MOVES.get(current, frozenset())
    sender_may = target in SENDER_MOVES.get(current, frozenset())
    if receiver_may or sender_may:
        who = "receiving" if receiver_may else "sending"
        raise Forbidden(
            f"only the {who} organisation may move it to {target.value}", field="status"
        )
    raise Conflict(f"a {current.value} referral cannot become {target.value}", field="status")


def _check_details(
    data: ReferralStatusUpdate,
) -> tuple[ReferralReason | None, ReferralOutcome | None]:
    """The reason code, outcome and redirect target each move needs, and nothing else.
    Returns the reason code and outcome to store."""
    target = data.status
    if data.reason_code is not None and target not in REASON_CODE_MOVES:
        raise InvalidInput(f"a reason code does not apply to {target.value}", field="reason_code")
    if data.outcome is not None and target != S.COMPLETED:
        raise InvalidInput(f"an outcome does not apply to {target.value}", field="outcome")
    if data.redirect_to_partner_id is not None and target != S.REDIRECTED:
        raise InvalidInput(
            f"a partner to redirect to does not apply to {target.value}",
            field="redirect_to_partner_id",
        )
    code, outcome = data.reason_code, data.outcome
    if target == S.REJECTED:
        if code is None and data.status_reason:
            # CONTRACT §4 clients send free text only: that is what "other" stands for.
            code = ReferralReason.OTHER
        if code is None:
            raise InvalidInput("a reason code is required to reject", field="reason_code")
        if code == ReferralReason.OTHER and not data.status_reason:
            raise InvalidInput(
                "say why in status_reason when the reason is 'other'", field="status_reason"
            )
    elif target == S.COMPLETED and outcome is None:
        if not data.status_reason:
            raise InvalidInput("an outcome is required to complete", field="outcome")
        outcome = ReferralOutcome.OTHER  # free text only (CONTRACT §4 clients), as above
    elif target == S.CANCELLED and code is None and not data.status_reason:
        raise InvalidInput(
            "a reason (reason_code or status_reason) is required to cancel", field="status_reason"
        )
    elif target == S.REDIRECTED and data.redirect_to_partner_id is None:
        raise InvalidInput("the partner to redirect to is required", field="redirect_to_partner_id")
    return code, outcome


async def redirect_choices(referral: Referral) -> list[PartnerOrganisation]:
    """The partners this referral may be redirected to: active, neither of its sides."""
    sides = [s for s in (referral.sender_id, referral.receiver_id) if s is not None]  # type: ignore[attr-defined]
    return await PartnerOrganisation.filter(active=True).exclude(id__in=sides).order_by("name")


async def _redirect_target(referral: Referral, partner_id: int) -> PartnerOrganisation:
    field = "redirect_to_partner_id"
    partner = await PartnerOrganisation.get_or_none(id=partner_id, active=True)
    if partner is None:
        raise InvalidInput(f"no active partner with id {partner_id}", field=field)
    if partner.id == referral.receiver_id:  # type: ignore[attr-defined]
        raise InvalidInput("the referral is already with this partner", field=field)
    if partner.id == referral.sender_id:  # type: ignore[attr-defined]
        raise InvalidInput(
            "this partner sent the person: reject the referral to send it back", field=field
        )
    if not await sharing_consent_granted(referral.lead_id):  # type: ignore[attr-defined]
        raise InvalidInput(
            "the person's consent to share their data with partners is not granted now",
            field="consent",
        )
    return partner


async def change_status(
    referral: Referral, data: ReferralStatusUpdate, *, actor: Actor
) -> Referral:
    """Move a referral, as `actor`: 403 when the actor's side may not (or the actor is on no
    side), 409 when the current status does not allow it (a closed referral never moves again),
    422 when the move lacks its reason code, outcome or redirect target. One transaction writes
    the new status, the history entry, the audit entry, the webhooks and, for a redirect, the
    linked referral to the new partner."""
    current = ReferralStatus(referral.status)
    target = data.status
    _check_move(referral, target, actor)
    reason_code, outcome = _check_details(data)
    new_partner = None
    if target == S.REDIRECTED:
        assert data.redirect_to_partner_id is not None
        new_partner = await _redirect_target(referral, data.redirect_to_partner_id)
    now = _now()
    async with in_transaction():
        updated = await Referral.filter(id=referral.id, status=current).update(
            status=target,
            status_reason=data.status_reason,
            reason_code=reason_code,
            outcome=outcome,
            expires_at=None,  # only an unanswered referral expires
            updated_at=now,
        )
        if not updated:
            raise Conflict("the referral changed meanwhile; reload it", field="status")
        referral.status, referral.status_reason = target, data.status_reason
        referral.reason_code, referral.outcome, referral.expires_at = (
            reason_code,
            outcome,
            None,
        )
        await append_history(
            referral,
            target,
            actor,
            reason=data.status_reason,
            reason_code=reason_code,
            outcome=outcome,
        )
        follow_on = None
        if new_partner is not None:
            follow_on = await _open_follow_on(referral, new_partner, actor)
        await audit.record(
            actor,
            "referral.status",
            entity="referral",
            entity_id=referral.id,
            lead_id=referral.lead_id,  # type: ignore[attr-defined]
            changes={
                "from": current,
                "to": target,
                "reason": data.status_reason,
                "reason_code": reason_code,
                "outcome": outcome,
                "redirected_to": follow_on.id if follow_on else None,
            },
        )
        await webhooks.enqueue(
            referral,
            webhooks.STATUS_CHANGED,
            organisations=(referral.sender_id, referral.receiver_id),  # type: ignore[attr-defined]
            acting_organisation_id=_acting_organisation(actor),
            redirected_to=follow_on.id if follow_on else None,
            at=now,
        )
    return await Referral.get(id=referral.id)


async def _open_follow_on(
    referral: Referral, partner: PartnerOrganisation, actor: Actor
) -> Referral:
    """The linked referral a redirect creates: from the redirecting organisation (the old
    receiver) to the new partner, for the same person and purpose, under the same consent."""
    return await open_referral(
        actor,
        {
            "redirected_from": referral.id,
            "sender_id": referral.receiver_id,  # type: ignore[attr-defined]
            "receiver_id": partner.id,
            "purpose": referral.purpose,
        },
        redirected_from_id=referral.id,
        sender_id=referral.receiver_id,  # type: ignore[attr-defined]
        receiver_id=partner.id,
        lead_id=referral.lead_id,  # type: ignore[attr-defined]
        purpose=referral.purpose,
        notes=referral.notes,
        consent_given_at=referral.consent_given_at,
        consent_method=referral.consent_method,
        consent_text_version=referral.consent_text_version,
    )
