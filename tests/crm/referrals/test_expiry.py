"""Reminders and expiry of referrals nobody answered, with a fixed clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from crm.audit.models import AuditEntry
from crm.auth.actor import SYSTEM
from crm.config import settings
from crm.referrals import webhook_endpoints
from crm.referrals.jobs import expire_and_remind
from crm.referrals.models import Referral, ReferralStatus, ReferralStatusChange, WebhookDelivery

S = ReferralStatus
DUE = datetime(2030, 3, 20, 12, 0, tzinfo=UTC)


async def test_a_reminder_goes_once_to_the_receiver_before_expiry(world, monkeypatch):
    monkeypatch.setattr(settings, "REFERRAL_REMINDER_DAYS", 3)
    for partner in (world.a, world.b):
        await webhook_endpoints.set_webhook(partner, "https://hooks.example/in", actor=SYSTEM)
    referral = await world.referral(sender=world.a, receiver=world.b, expires_at=DUE)

    early = await expire_and_remind(now=DUE - timedelta(days=3, seconds=1))
    assert (early.reminded, early.expired) == (0, 0)
    run = await expire_and_remind(now=DUE - timedelta(days=2))
    assert (run.reminded, run.expired) == (1, 0)
    await referral.refresh_from_db()
    assert referral.reminded_at == DUE - timedelta(days=2) and referral.status == S.REQUESTED
    (delivery,) = await WebhookDelivery.all()
    assert (delivery.partner_id, delivery.event) == (world.b.id, "referral.expiring")
    again = await expire_and_remind(now=DUE - timedelta(days=1))
    assert (again.reminded, again.expired) == (0, 0)
    assert await WebhookDelivery.all().count() == 1


async def test_an_unanswered_referral_expires_by_the_system_and_both_sides_hear_of_it(world):
    for partner in (world.a, world.b):
        await webhook_endpoints.set_webhook(partner, "https://hooks.example/in", actor=SYSTEM)
    referral = await world.referral(sender=world.a, receiver=world.b, expires_at=DUE)
    assert (await expire_and_remind(now=DUE - timedelta(seconds=1))).expired == 0
    run = await expire_and_remind(now=DUE)
    assert run.expired == 1 and run.reminded == 0
    await referral.refresh_from_db()
    assert referral.status == S.EXPIRED
    last = await ReferralStatusChange.filter(referral_id=referral.id).order_by("-id").first()
    assert (last.status, last.by_label, last.organisation_id) == (S.EXPIRED, "system", None)
    assert await AuditEntry.filter(
        action="referral.status", entity_id=referral.id, actor_label="system"
    ).exists()
    events = (
        await WebhookDelivery.filter(event="referral.expired")
        .order_by("partner_id")
        .values_list("partner_id", "event")
    )
    assert events == [(world.a.id, "referral.expired"), (world.b.id, "referral.expired")]
    assert (await expire_and_remind(now=DUE + timedelta(days=1))).expired == 0


async def test_answered_referrals_never_expire(world):
    answered = await world.referral(
        sender=world.a, receiver=None, status=S.ACCEPTED, expires_at=DUE
    )
    run = await expire_and_remind(now=DUE + timedelta(days=30))
    assert run.expired == 0
    assert (await Referral.get(id=answered.id)).status == S.ACCEPTED


async def test_two_workers_expire_a_referral_once(world):
    referrals = [
        await world.referral(sender=world.a, receiver=None, expires_at=DUE) for _ in range(5)
    ]
    runs = await asyncio.gather(*(expire_and_remind(now=DUE) for _ in range(3)))
    assert sum(r.expired for r in runs) == 5
    for referral in referrals:
        history = await ReferralStatusChange.filter(referral_id=referral.id, status=S.EXPIRED)
        assert len(history) == 1


async def test_a_referral_to_us_is_reminded_without_a_webhook(world):
    referral = await world.referral(sender=world.a, receiver=None, expires_at=DUE)
    assert (await expire_and_remind(now=DUE - timedelta(days=1))).reminded == 1
    await referral.refresh_from_db()
    assert referral.reminded_at is not None
    assert await WebhookDelivery.all().count() == 0  # the sender has no webhook, we read lists


async def test_the_worker_plugin_schedules_deliveries_and_expiry(app):
    from channels.registry import build_channels
    from channels.worker import Worker
    from crm.referrals.jobs import install

    worker = Worker(build_channels())
    install(worker)
    jobs = {job.id: job for job in worker.scheduler.get_jobs()}
    assert jobs["referral-webhooks"].trigger.interval.total_seconds() == 5
    assert jobs["referral-expiry"].trigger.interval.total_seconds() == 300
