"""The partners' webhook endpoints: set, remove, read, and the delivery log with retries.

Managers (admin, coordinator) manage any partner's endpoint; a partner manages its own. For a
partner, another organisation's id is simply not found (404), as for its referrals."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from crm.auth.actor import Actor
from crm.auth.deps import allow
from crm.enums import Role
from crm.errors import NotFound
from crm.referrals import webhook_endpoints, webhooks
from crm.referrals.models import (
    PartnerOrganisation,
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
)
from crm.referrals.schemas import (
    WebhookAttemptOut,
    WebhookCreated,
    WebhookDeliveryOut,
    WebhookIn,
    WebhookState,
)
from crm.schemas import Page, PageParams, page_params

router = APIRouter(prefix="/api/v1", tags=["partners and referrals"])

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
WebhookActor = allow(Role.ADMIN, Role.COORDINATOR, Role.PARTNER)


async def _partner(actor: Actor, partner_id: int) -> PartnerOrganisation:
    partner = None
    if not actor.is_partner or actor.organisation_id == partner_id:
        partner = await PartnerOrganisation.get_or_none(id=partner_id)
    if partner is None:
        raise NotFound(f"no partner with id {partner_id}", field="partner_id")
    return partner


def _state(partner: PartnerOrganisation) -> WebhookState:
    return WebhookState(
        url=partner.webhook_url,
        enabled=webhooks.webhook_enabled(partner),
        disabled_at=partner.webhook_disabled_at,
        consecutive_failures=partner.webhook_failures,
    )


async def _present(rows: list[WebhookDelivery]) -> list[WebhookDeliveryOut]:
    attempts: dict[int, list[WebhookAttempt]] = {r.id: [] for r in rows}
    for attempt in await WebhookAttempt.filter(delivery_id__in=list(attempts)).order_by("id"):
        attempts[attempt.delivery_id].append(attempt)  # type: ignore[attr-defined]
    return [
        WebhookDeliveryOut(
            delivery_id=str(d.delivery_id),
            event=d.event,
            referral_id=d.referral_id,  # type: ignore[attr-defined]
            status=str(d.status),
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at
            if d.status == WebhookDeliveryStatus.PENDING
            else None,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            created_at=d.created_at,
            delivered_at=d.delivered_at,
            attempt_log=[
                WebhookAttemptOut(
                    at=a.at, status_code=a.status_code, error=a.error, duration_ms=a.duration_ms
                )
                for a in attempts[d.id]
            ],
        )
        for d in rows
    ]


@router.get("/partners/{partner_id}/webhook", response_model=WebhookState)
async def get_webhook(partner_id: Id, actor: WebhookActor) -> WebhookState:
    """The partner's endpoint: its URL, whether it is enabled, consecutive failures. The
    secret is never shown again after it was made."""
    return _state(await _partner(actor, partner_id))


@router.put("/partners/{partner_id}/webhook", response_model=WebhookCreated)
async def set_webhook(partner_id: Id, data: WebhookIn, actor: WebhookActor) -> WebhookCreated:
    """Set the URL that receives signed events about this partner's referrals. Every call makes
    a new secret (returned only here) and enables the endpoint again."""
    partner = await _partner(actor, partner_id)
    secret = await webhook_endpoints.set_webhook(partner, data.url, actor=actor)
    return WebhookCreated(url=partner.webhook_url or data.url, secret=secret, enabled=True)


@router.delete("/partners/{partner_id}/webhook", response_model=WebhookState)
async def remove_webhook(partner_id: Id, actor: WebhookActor) -> WebhookState:
    """Stop sending events to this partner; deliveries still waiting are failed."""
    partner = await _partner(actor, partner_id)
    await webhook_endpoints.remove_webhook(partner, actor=actor)
    return _state(partner)


@router.get("/partners/{partner_id}/webhook/deliveries", response_model=Page[WebhookDeliveryOut])
async def list_deliveries(
    partner_id: Id,
    actor: WebhookActor,
    page: Annotated[PageParams, Depends(page_params)],
    status: Annotated[list[WebhookDeliveryStatus] | None, Query()] = None,
) -> Page[WebhookDeliveryOut]:
    """The delivery log, newest first, with every attempt's answer or error."""
    partner = await _partner(actor, partner_id)
    qs = WebhookDelivery.filter(partner_id=partner.id)
    if status:
        qs = qs.filter(status__in=status)
    total = await qs.count()
    rows = await qs.order_by("-created_at", "-id").offset(page.offset).limit(page.limit)
    return Page(items=await _present(list(rows)), total=total)


@router.post(
    "/partners/{partner_id}/webhook/deliveries/{delivery_id}/retry",
    response_model=WebhookDeliveryOut,
)
async def retry_delivery(
    partner_id: Id, delivery_id: uuid.UUID, actor: WebhookActor
) -> WebhookDeliveryOut:
    """Send a failed delivery again (409 while the endpoint is off or disabled, or when the
    delivery is not failed)."""
    partner = await _partner(actor, partner_id)
    delivery = await WebhookDelivery.get_or_none(delivery_id=delivery_id, partner_id=partner.id)
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id} for this partner", field="delivery_id")
    delivery = await webhook_endpoints.retry_delivery(delivery, actor=actor)
    (shaped,) = await _present([delivery])
    return shaped
