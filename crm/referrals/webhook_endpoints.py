"""A partner's webhook endpoint: its URL (checked), its secret (made here, shown once), turning
it off, and sending a failed delivery again. Deliveries themselves are in
`crm.referrals.webhooks`."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from ipaddress import ip_address
from urllib.parse import urlsplit

from crm.audit import service as audit
from crm.auth.actor import Actor
from crm.config import settings
from crm.errors import Conflict, InvalidInput
from crm.referrals import webhooks
from crm.referrals.models import PartnerOrganisation, WebhookDelivery, WebhookDeliveryStatus
from crm.referrals.webhooks import fail_pending


def check_url(url: str) -> str:
    """A webhook URL: http(s) with a host; https only in production, and there never a
    loopback, private or link-local address (a partner must not make us call our own network)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise InvalidInput("not a valid URL", field="url") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput("an http:// or https:// URL with a host is required", field="url")
    if parts.username or parts.password:
        raise InvalidInput("credentials in the URL are not accepted", field="url")
    if settings.ENVIRONMENT == "production":
        if parts.scheme != "https":
            raise InvalidInput("the webhook URL must use https", field="url")
        if _is_internal(host):
            raise InvalidInput("the webhook URL must be a public address", field="url")
    return url


def _is_internal(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        address = ip_address(host)
    except ValueError:
        return False
    return not address.is_global


async def set_webhook(partner: PartnerOrganisation, url: str, *, actor: Actor) -> str:
    """Set (or change) a partner's endpoint with a new secret, enabled again with its failure
    count reset. Returns the secret: it is shown once and never again."""
    url = check_url(url)
    secret = secrets.token_urlsafe(32)
    await PartnerOrganisation.filter(id=partner.id).update(
        webhook_url=url, webhook_secret=secret, webhook_failures=0, webhook_disabled_at=None
    )
    partner.webhook_url, partner.webhook_secret = url, secret
    partner.webhook_failures, partner.webhook_disabled_at = 0, None
    await audit.record(
        actor, "partner.webhook_set", entity="partner", entity_id=partner.id, changes={"url": url}
    )
    return secret


async def remove_webhook(partner: PartnerOrganisation, *, actor: Actor) -> None:
    """Turn a partner's webhook off; what was still waiting is failed, not sent later."""
    await PartnerOrganisation.filter(id=partner.id).update(
        webhook_url=None, webhook_secret=None, webhook_failures=0, webhook_disabled_at=None
    )
    partner.webhook_url = partner.webhook_secret = None
    partner.webhook_failures, partner.webhook_disabled_at = 0, None
    await fail_pending(partner.id, webhooks.ENDPOINT_REMOVED)
    await audit.record(actor, "partner.webhook_removed", entity="partner", entity_id=partner.id)


async def retry_delivery(delivery: WebhookDelivery, *, actor: Actor) -> WebhookDelivery:
    """Queue a failed delivery again, from its first attempt (the endpoint must be enabled)."""
    partner = await PartnerOrganisation.get(id=delivery.partner_id)  # type: ignore[attr-defined]
    if not webhooks.webhook_enabled(partner):
        raise Conflict("the partner's webhook is off or disabled: set its URL again", field="url")
    if delivery.status != WebhookDeliveryStatus.FAILED:
        raise Conflict(f"the delivery is {delivery.status}, not failed", field="delivery_id")
    await WebhookDelivery.filter(id=delivery.id, status=WebhookDeliveryStatus.FAILED).update(
        status=WebhookDeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=datetime.now(UTC),
        lease_until=None,
        leased_by=None,
    )
    await audit.record(
        actor,
        "partner.webhook_retry",
        entity="partner",
        entity_id=partner.id,
        changes={"delivery_id": str(delivery.delivery_id)},
    )
    return await WebhookDelivery.get(id=delivery.id)
