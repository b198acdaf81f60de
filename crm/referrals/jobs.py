"""The referrals' periodic jobs: webhook deliveries, and reminders and expiry of referrals
nobody answered. `install` is a worker plugin (crm.app and crm.cli pass it to the worker).

Each step is a conditional UPDATE (`… WHERE status = 'requested'`), so several workers, or a
job fired twice, remind and expire each referral once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tortoise.transactions import in_transaction

from crm.audit import service as audit
from crm.auth.actor import SYSTEM
from crm.config import settings
from crm.referrals import webhooks
from crm.referrals.lifecycle import append_history
from crm.referrals.models import Referral, ReferralStatus

if TYPE_CHECKING:  # crm never imports channels at run time (dependencies point one way)
    from channels.worker import Worker

log = logging.getLogger("passerelle.referrals")

DELIVERY_INTERVAL_SECONDS = 5
EXPIRY_INTERVAL_SECONDS = 300
_BATCH = 100
# One run of the delivery job sends at most this many batches, then lets the next run go on.
_MAX_BATCHES = 20


@dataclass
class ExpiryRun:
    reminded: int = 0
    expired: int = 0


async def expire_and_remind(now: datetime | None = None) -> ExpiryRun:
    """Remind the receiving partner of referrals still `requested` whose expiry comes within
    REFERRAL_REMINDER_DAYS (once: `reminded_at`), and expire those whose time has passed."""
    now = now or datetime.now(UTC)
    run = ExpiryRun()
    waiting = Referral.filter(status=ReferralStatus.REQUESTED, expires_at__isnull=False)
    for referral in await waiting.filter(expires_at__lte=now).order_by("expires_at", "id"):
        if await _expire(referral, now):
            run.expired += 1
    if settings.REFERRAL_REMINDER_DAYS > 0:
        soon = now + timedelta(days=settings.REFERRAL_REMINDER_DAYS)
        due = waiting.filter(expires_at__gt=now, expires_at__lte=soon, reminded_at__isnull=True)
        for referral in await due.order_by("expires_at", "id"):
            if await _remind(referral, now):
                run.reminded += 1
    return run


async def _remind(referral: Referral, now: datetime) -> bool:
    async with in_transaction():
        claimed = await Referral.filter(
            id=referral.id, status=ReferralStatus.REQUESTED, reminded_at__isnull=True
        ).update(reminded_at=now)
        if not claimed:
            return False
        await webhooks.enqueue(
            referral,
            webhooks.EXPIRING,
            organisations=(referral.receiver_id,),  # type: ignore[attr-defined]
            at=now,
        )
    return True


async def _expire(referral: Referral, now: datetime) -> bool:
    async with in_transaction():
        claimed = await Referral.filter(id=referral.id, status=ReferralStatus.REQUESTED).update(
            status=ReferralStatus.EXPIRED,
            status_reason=None,
            reason_code=None,
            updated_at=now,
        )
        if not claimed:
            return False
        referral.status, referral.status_reason, referral.reason_code = (
            ReferralStatus.EXPIRED,
            None,
            None,
        )
        await append_history(referral, ReferralStatus.EXPIRED, SYSTEM)
        await audit.record(
            SYSTEM,
            "referral.status",
            entity="referral",
            entity_id=referral.id,
            lead_id=referral.lead_id,  # type: ignore[attr-defined]
            changes={"from": ReferralStatus.REQUESTED, "to": ReferralStatus.EXPIRED},
        )
        await webhooks.enqueue(
            referral,
            webhooks.EXPIRED,
            organisations=(referral.sender_id, referral.receiver_id),  # type: ignore[attr-defined]
            at=now,
        )
    return True


async def deliver_webhooks() -> int:
    """Send every webhook delivery that is due, batch after batch (bounded per run)."""
    sent = 0
    for _ in range(_MAX_BATCHES):
        count = await webhooks.deliver_due(_BATCH)
        sent += count
        if count < _BATCH:
            break
    return sent


async def expire_referrals() -> ExpiryRun:
    run = await expire_and_remind()
    if run.reminded or run.expired:
        log.info("referrals: %s reminded, %s expired", run.reminded, run.expired)
    return run


def install(worker: Worker) -> None:
    """Worker plugin: webhook deliveries every few seconds, expiry every few minutes."""
    worker.every(DELIVERY_INTERVAL_SECONDS, deliver_webhooks, job_id="referral-webhooks")
    worker.every(EXPIRY_INTERVAL_SECONDS, expire_referrals, job_id="referral-expiry")
