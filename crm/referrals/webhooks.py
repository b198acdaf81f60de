"""Signed webhooks to partner organisations: feedback on every change of their referrals.

A change enqueues one `WebhookDelivery` per partner side (other than the one acting) in the
same transaction as the change, so an event is never announced for a change that was rolled
back, nor lost for one that was kept. Workers claim due deliveries with a lease (one statement,
`FOR UPDATE SKIP LOCKED` on PostgreSQL), post them, log every attempt, retry with backoff and
disable an endpoint that keeps failing.

Payloads carry no personal data: the partner fetches the referral with its API key.
Delivery is at least once (a worker that dies mid-request leaves its lease to run out and the
delivery is tried again): partners deduplicate on `X-Passerelle-Delivery`."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from tortoise import connections
from tortoise.expressions import F

from crm.audit import service as audit
from crm.auth.actor import SYSTEM
from crm.config import settings
from crm.db import is_postgres, numbered_sql
from crm.referrals.models import (
    PartnerOrganisation,
    Referral,
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
)

log = logging.getLogger("passerelle.webhooks")

CREATED = "referral.created"
STATUS_CHANGED = "referral.status_changed"
EXPIRING = "referral.expiring"
EXPIRED = "referral.expired"
# The person of the referral was erased here (GDPR Art. 19): erase your copy too.
ERASED = "referral.erased"
EVENTS = (CREATED, STATUS_CHANGED, EXPIRING, EXPIRED, ERASED)
SIGNATURE_PREFIX = "sha256="
ENDPOINT_DISABLED = "endpoint disabled"
ENDPOINT_REMOVED = "endpoint removed"


def _now() -> datetime:
    return datetime.now(UTC)


# --- signing -----------------------------------------------------------------------------------


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`: the X-Passerelle-Signature."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str | int,
    body: bytes | str,
    signature: str,
    tolerance: int = 300,
    *,
    now: float | None = None,
) -> bool:
    """What a partner runs on receipt: True when `signature` (the X-Passerelle-Signature header)
    is ours over this exact body and `timestamp` (X-Passerelle-Timestamp) is within `tolerance`
    seconds of now, so a captured request cannot be replayed later."""
    try:
        stamp = int(str(timestamp))
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance:
        return False
    raw = body.encode() if isinstance(body, str) else body
    expected = sign(secret, stamp, raw)
    return isinstance(signature, str) and hmac.compare_digest(expected, signature)


def webhook_enabled(partner: PartnerOrganisation) -> bool:
    return bool(partner.webhook_url) and partner.webhook_disabled_at is None


# --- enqueueing (inside the caller's transaction) ----------------------------------------------


def payload_for(
    referral: Referral, event: str, delivery_id: uuid.UUID, at: datetime, **extra: Any
) -> dict[str, Any]:
    """The body of one delivery: what happened and where to read it. No personal data."""
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return {
        "event": event,
        "delivery_id": str(delivery_id),
        "occurred_at": at.isoformat(),
        "referral": {
            "id": referral.id,
            "external_ref": referral.external_ref,
            "status": str(referral.status),
            "status_reason": referral.status_reason,
            "reason_code": str(referral.reason_code) if referral.reason_code else None,
            "outcome": str(referral.outcome) if referral.outcome else None,
            "purpose": str(referral.purpose),
            "redirected_to_referral_id": extra.get("redirected_to"),
            "updated_at": at.isoformat(),
            "url": f"{base}/api/v1/referrals/{referral.id}",
        },
    }


async def enqueue(
    referral: Referral,
    event: str,
    *,
    organisations: Iterable[int | None],
    acting_organisation_id: int | None = None,
    redirected_to: int | None = None,
    at: datetime | None = None,
) -> list[WebhookDelivery]:
    """One delivery per partner among `organisations` (a referral's sides) that is not the one
    acting and has an enabled endpoint."""
    at = at or _now()
    ids = {o for o in organisations if o is not None and o != acting_organisation_id}
    if not ids:
        return []
    partners = await PartnerOrganisation.filter(
        id__in=ids, webhook_url__isnull=False, webhook_disabled_at__isnull=True
    ).order_by("id")
    created = []
    for partner in partners:
        delivery_id = uuid.uuid4()
        created.append(
            await WebhookDelivery.create(
                delivery_id=delivery_id,
                partner_id=partner.id,
                event=event,
                referral_id=referral.id,
                payload=payload_for(referral, event, delivery_id, at, redirected_to=redirected_to),
                next_attempt_at=at,
            )
        )
    return created


# --- delivering --------------------------------------------------------------------------------


def _worker_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _lease_seconds() -> float:
    # Long enough for one request to time out, with room to record its outcome.
    return settings.WEBHOOK_TIMEOUT_SECONDS * 2 + 30


async def claim_due(worker_id: str, limit: int, now: datetime) -> list[int]:
    """Claim up to `limit` due deliveries in one statement; a delivery leased by a live worker
    is skipped, one whose lease ran out (its worker died) is taken over."""
    lock = " FOR UPDATE SKIP LOCKED" if is_postgres() else ""
    statement = (
        "UPDATE webhook_delivery SET lease_until = $1, leased_by = $2, attempts = attempts + 1 "
        "WHERE id IN (SELECT id FROM webhook_delivery WHERE status = 'pending' "
        "AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until <= $3) "
        f"ORDER BY next_attempt_at, id LIMIT $4{lock}) RETURNING id"
    )
    lease = now + timedelta(seconds=_lease_seconds())
    rows = await connections.get("default").execute_query_dict(
        numbered_sql(statement), [lease, worker_id, now, limit]
    )
    return sorted(r["id"] for r in rows)


def backoff_seconds(attempts: int) -> float:
    """The wait after the `attempts`-th failed attempt: doubling from the base, capped."""
    delay = settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    return min(delay, settings.WEBHOOK_RETRY_MAX_SECONDS)


async def deliver_due(
    limit: int = 50, *, client: httpx.AsyncClient | None = None, now: datetime | None = None
) -> int:
    """Send what is due now (one batch); returns how many deliveries were attempted. `now`
    moves the clock that decides what is due (tests); signatures always use the real time."""
    now = now or _now()
    worker_id = _worker_id()
    ids = await claim_due(worker_id, limit, now)
    if not ids:
        return 0
    own_client = client is None
    http = client or httpx.AsyncClient(
        timeout=settings.WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False
    )
    try:
        deliveries = await WebhookDelivery.filter(id__in=ids).order_by("id")
        partners = {
            p.id: p
            for p in await PartnerOrganisation.filter(
                id__in={d.partner_id for d in deliveries}  # type: ignore[attr-defined]
            )
        }
        for delivery in deliveries:
            partner = partners[delivery.partner_id]  # type: ignore[attr-defined]
            await _attempt(http, delivery, partner, worker_id, now)
    finally:
        if own_client:
            await http.aclose()
    return len(ids)


async def _attempt(
    http: httpx.AsyncClient,
    delivery: WebhookDelivery,
    partner: PartnerOrganisation,
    worker_id: str,
    now: datetime,
) -> None:
    mine = WebhookDelivery.filter(
        id=delivery.id, leased_by=worker_id, status=WebhookDeliveryStatus.PENDING
    )
    if not webhook_enabled(partner) or not partner.webhook_secret:
        reason = ENDPOINT_DISABLED if partner.webhook_url else ENDPOINT_REMOVED
        await mine.update(status=WebhookDeliveryStatus.FAILED, last_error=reason, lease_until=None)
        return
    if delivery.attempts > settings.WEBHOOK_MAX_ATTEMPTS:
        # Taken over after a crash on its last attempt: no attempt is left.
        await mine.update(status=WebhookDeliveryStatus.FAILED, lease_until=None)
        return
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Passerelle-Webhooks/1",
        "X-Passerelle-Event": delivery.event,
        "X-Passerelle-Delivery": str(delivery.delivery_id),
        "X-Passerelle-Timestamp": str(timestamp),
        "X-Passerelle-Signature": sign(partner.webhook_secret, timestamp, body),
    }
    started = time.monotonic()
    status_code: int | None = None
    error: str | None = None
    try:
        response = await http.post(
            partner.webhook_url,  # type: ignore[arg-type]
            content=body,
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
        )
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500] if str(exc) else type(exc).__name__
    duration_ms = int((time.monotonic() - started) * 1000)
    await WebhookAttempt.create(
        delivery_id=delivery.id,
        at=now,
        status_code=status_code,
        error=error,
        duration_ms=duration_ms,
    )
    if error is None:
        await mine.update(
            status=WebhookDeliveryStatus.DELIVERED,
            delivered_at=now,
            last_status_code=status_code,
            last_error=None,
            lease_until=None,
        )
        await PartnerOrganisation.filter(id=partner.id).update(webhook_failures=0)
        return
    if delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        await mine.update(
            status=WebhookDeliveryStatus.FAILED,
            last_status_code=status_code,
            last_error=error,
            lease_until=None,
        )
    else:
        await mine.update(
            next_attempt_at=now + timedelta(seconds=backoff_seconds(delivery.attempts)),
            last_status_code=status_code,
            last_error=error,
            lease_until=None,
        )
    await _count_failure(partner, error, now)


async def _count_failure(partner: PartnerOrganisation, error: str, now: datetime) -> None:
    await PartnerOrganisation.filter(id=partner.id).update(
        webhook_failures=F("webhook_failures") + 1
    )
    failures = (
        await PartnerOrganisation.filter(id=partner.id).values_list("webhook_failures", flat=True)
    )[0]
    if failures < settings.WEBHOOK_DISABLE_AFTER_FAILURES:
        return
    # Only the worker that flips the flag fails the rest and writes the audit entry.
    disabled = await PartnerOrganisation.filter(
        id=partner.id, webhook_disabled_at__isnull=True
    ).update(webhook_disabled_at=now)
    if disabled:
        partner.webhook_disabled_at = now
        await fail_pending(partner.id, ENDPOINT_DISABLED)
        log.warning("webhook of partner %s disabled after %s failures", partner.id, failures)
        await audit.record(
            SYSTEM,
            "partner.webhook_disabled",
            entity="partner",
            entity_id=partner.id,
            changes={"consecutive_failures": failures, "last_error": error},
        )


async def fail_pending(partner_id: int, reason: str) -> int:
    """Fail what still waits for this partner's endpoint (disabled, or removed)."""
    return await WebhookDelivery.filter(
        partner_id=partner_id, status=WebhookDeliveryStatus.PENDING
    ).update(status=WebhookDeliveryStatus.FAILED, last_error=reason, lease_until=None)
