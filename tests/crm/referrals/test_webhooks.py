"""Signed webhooks to partners: what is enqueued, signatures a partner verifies, retries with
backoff, failures and disabling, the delivery log, and two workers at once."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from crm.audit.models import AuditEntry
from crm.auth.actor import SYSTEM
from crm.config import settings
from crm.referrals import webhook_endpoints, webhooks
from crm.referrals.models import (
    PartnerOrganisation,
    ReferralStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
)
from tests.crm.referrals.receiver import Receiver

S = ReferralStatus
T0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def receiver():
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


async def hook(partner: PartnerOrganisation, receiver: Receiver) -> None:
    receiver.secret = await webhook_endpoints.set_webhook(partner, receiver.url, actor=SYSTEM)


async def accept(client, world, referral):
    response = await client.patch(
        f"/api/v1/referrals/{referral.id}",
        headers=world.callers["admin"].headers,
        json={"status": "accepted", "status_reason": "we call her on Monday"},
    )
    assert response.status_code == 200, response.text


def test_signature_verifies_only_the_exact_body_secret_and_a_recent_time():
    body = b'{"event":"referral.status_changed"}'
    now = int(time.time())
    signature = webhooks.sign("s3cret", now, body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert webhooks.verify_signature("s3cret", str(now), body, signature)
    assert not webhooks.verify_signature("s3cret", now, body + b" ", signature)
    assert not webhooks.verify_signature(
        "s3cret", now, body.replace(b"status", b"st4tus"), signature
    )
    assert not webhooks.verify_signature("other", now, body, signature)
    assert not webhooks.verify_signature("s3cret", now + 1, body, signature)
    old = now - 600
    assert not webhooks.verify_signature("s3cret", old, body, webhooks.sign("s3cret", old, body))
    assert not webhooks.verify_signature("s3cret", "yesterday", body, signature)


async def test_a_status_change_is_delivered_signed_and_without_personal_data(
    client, world, receiver
):
    await hook(world.a, receiver)
    referral = await world.referral(sender=world.a, receiver=None)
    await accept(client, world, referral)
    delivery = await WebhookDelivery.get(partner_id=world.a.id)
    assert (delivery.event, delivery.status) == ("referral.status_changed", "pending")
    assert await webhooks.deliver_due(10) == 1
    (got,) = receiver.received
    assert got["verified"] and got["event"] == "referral.status_changed"
    assert got["delivery"] == str(delivery.delivery_id)
    payload = got["payload"]
    assert payload["delivery_id"] == str(delivery.delivery_id)
    assert set(payload["referral"]) == {
        "id",
        "external_ref",
        "status",
        "status_reason",
        "reason_code",
        "outcome",
        "purpose",
        "redirected_to_referral_id",
        "updated_at",
        "url",
    }
    assert payload["referral"]["status"] == "accepted"
    assert payload["referral"]["url"].endswith(f"/api/v1/referrals/{referral.id}")
    for personal in ("Fatou", "Ndiaye", "+32489123456", "fatou@example.org", "bakery"):
        assert personal not in got["body"].decode()
    await delivery.refresh_from_db()
    assert delivery.status == WebhookDeliveryStatus.DELIVERED and delivery.attempts == 1


async def test_the_acting_organisation_gets_no_webhook_about_its_own_move(client, world, receiver):
    await hook(world.a, receiver)
    referral = await world.referral(sender=world.a, receiver=None)
    cancelled = await client.patch(
        f"/api/v1/referrals/{referral.id}",
        headers=world.callers["partner_a"].headers,
        json={"status": "cancelled", "status_reason": "moved to Namur"},
    )
    assert cancelled.status_code == 200
    assert await WebhookDelivery.all().count() == 0


async def test_a_redirect_tells_the_sender_and_the_new_receiver(client, world, receiver):
    for partner in (world.a, world.d):
        await webhook_endpoints.set_webhook(partner, receiver.url, actor=SYSTEM)
    referral = await world.referral(sender=world.a, receiver=None, status=S.ACCEPTED)
    response = await client.patch(
        f"/api/v1/referrals/{referral.id}",
        headers=world.callers["coordinator"].headers,
        json={"status": "redirected", "redirect_to_partner_id": world.d.id},
    )
    follow_on = response.json()["redirected_to"]["id"]
    rows = await WebhookDelivery.all().order_by("id")
    assert [(d.partner_id, d.event, d.referral_id) for d in rows] == [
        (world.d.id, "referral.created", follow_on),
        (world.a.id, "referral.status_changed", referral.id),
    ]
    assert rows[1].payload["referral"]["redirected_to_referral_id"] == follow_on


async def test_a_failing_delivery_is_retried_with_backoff_until_delivered(
    client, world, receiver, monkeypatch
):
    monkeypatch.setattr(settings, "WEBHOOK_RETRY_BASE_SECONDS", 60)
    await hook(world.a, receiver)
    receiver.answers = [500, 500]
    await accept(client, world, await world.referral(sender=world.a, receiver=None))
    delivery = await WebhookDelivery.get()

    assert await webhooks.deliver_due(now=T0) == 1
    await delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.next_attempt_at == T0 + timedelta(seconds=60)
    assert await webhooks.deliver_due(now=T0 + timedelta(seconds=59)) == 0  # not due yet
    assert await webhooks.deliver_due(now=T0 + timedelta(seconds=60)) == 1
    await delivery.refresh_from_db()
    # Doubled after the second failure.
    assert delivery.next_attempt_at == T0 + timedelta(seconds=60 + 120)
    assert (await PartnerOrganisation.get(id=world.a.id)).webhook_failures == 2
    assert await webhooks.deliver_due(now=T0 + timedelta(seconds=180)) == 1

    await delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 3
    log = await WebhookAttempt.filter(delivery_id=delivery.id).order_by("id")
    assert [(a.status_code, a.error) for a in log] == [
        (500, "HTTP 500"),
        (500, "HTTP 500"),
        (200, None),
    ]
    assert all(r["verified"] for r in receiver.received) and len(receiver.received) == 3
    assert len({r["delivery"] for r in receiver.received}) == 1  # the same delivery id
    assert (await PartnerOrganisation.get(id=world.a.id)).webhook_failures == 0


def test_backoff_doubles_and_is_capped(monkeypatch):
    monkeypatch.setattr(settings, "WEBHOOK_RETRY_BASE_SECONDS", 30)
    monkeypatch.setattr(settings, "WEBHOOK_RETRY_MAX_SECONDS", 200)
    assert [webhooks.backoff_seconds(n) for n in (1, 2, 3, 4, 5)] == [30, 60, 120, 200, 200]


async def test_a_delivery_fails_after_the_last_attempt(client, world, receiver, monkeypatch):
    monkeypatch.setattr(settings, "WEBHOOK_MAX_ATTEMPTS", 3)
    await hook(world.a, receiver)
    receiver.always = 503
    await accept(client, world, await world.referral(sender=world.a, receiver=None))
    later = T0
    for _ in range(5):
        await webhooks.deliver_due(now=later)
        later += timedelta(days=1)
    delivery = await WebhookDelivery.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 3, 503)
    assert await WebhookAttempt.filter(delivery_id=delivery.id).count() == 3
    assert len(receiver.received) == 3


async def test_an_endpoint_that_keeps_failing_is_disabled_and_can_be_set_again(
    client, world, receiver, monkeypatch
):
    monkeypatch.setattr(settings, "WEBHOOK_DISABLE_AFTER_FAILURES", 2)
    await hook(world.a, receiver)
    receiver.always = 500
    for _ in range(3):
        await accept(client, world, await world.referral(sender=world.a, receiver=None))
    first, second, third = await WebhookDelivery.all().order_by("id")
    assert await webhooks.deliver_due(1, now=T0) == 1
    assert await webhooks.deliver_due(1, now=T0) == 1  # the second consecutive failure

    partner = await PartnerOrganisation.get(id=world.a.id)
    assert partner.webhook_disabled_at is not None and partner.webhook_failures == 2
    for d in (first, second, third):
        await d.refresh_from_db()
        assert d.status == "failed"
    assert third.last_error == "endpoint disabled" and third.attempts == 0
    assert await AuditEntry.filter(action="partner.webhook_disabled", entity_id=partner.id).exists()
    # Nothing more is queued for a disabled endpoint, and nothing is sent.
    await accept(client, world, await world.referral(sender=world.a, receiver=None))
    assert await WebhookDelivery.all().count() == 3
    assert await webhooks.deliver_due(now=T0 + timedelta(days=1)) == 0
    state = await client.get(
        f"/api/v1/partners/{world.a.id}/webhook", headers=world.callers["partner_a"].headers
    )
    assert state.status_code == 200, state.text
    assert state.json()["enabled"] is False and state.json()["consecutive_failures"] == 2

    # The partner fixes its endpoint, sets it again and asks for a failed delivery again.
    receiver.always = None
    again = await client.put(
        f"/api/v1/partners/{world.a.id}/webhook",
        headers=world.callers["partner_a"].headers,
        json={"url": receiver.url},
    )
    assert again.status_code == 200 and again.json()["enabled"] is True
    receiver.secret = again.json()["secret"]
    retry = await client.post(
        f"/api/v1/partners/{world.a.id}/webhook/deliveries/{third.delivery_id}/retry",
        headers=world.callers["partner_a"].headers,
    )
    assert retry.status_code == 200 and retry.json()["status"] == "pending"
    assert await webhooks.deliver_due() == 1
    await third.refresh_from_db()
    assert third.status == "delivered" and receiver.received[-1]["verified"]


async def test_two_workers_at_once_send_each_delivery_once(client, world, receiver):
    await hook(world.a, receiver)
    receiver.delay = 0.05
    for _ in range(8):
        await accept(client, world, await world.referral(sender=world.a, receiver=None))
    counts = await asyncio.gather(*(webhooks.deliver_due(4) for _ in range(3)))
    counts += await asyncio.gather(*(webhooks.deliver_due(4) for _ in range(3)))
    assert sum(counts) == 8
    delivered = [r["delivery"] for r in receiver.received]
    assert len(delivered) == 8 and len(set(delivered)) == 8
    assert await WebhookDelivery.filter(status="delivered", attempts=1).count() == 8


async def test_a_delivery_claimed_by_a_worker_is_not_claimed_again_until_its_lease_ends(world):
    referral = await world.referral(sender=world.a, receiver=None)
    await webhook_endpoints.set_webhook(world.a, "http://127.0.0.1:9/hook", actor=SYSTEM)
    (delivery,) = await webhooks.enqueue(
        referral, webhooks.STATUS_CHANGED, organisations=[world.a.id]
    )
    assert await webhooks.claim_due("worker-1", 10, T0 + timedelta(seconds=1)) == [delivery.id]
    assert await webhooks.claim_due("worker-2", 10, T0 + timedelta(seconds=2)) == []
    # The first worker died: once its lease ran out, another takes the delivery over.
    assert await webhooks.claim_due("worker-2", 10, T0 + timedelta(hours=1)) == [delivery.id]


@pytest.mark.parametrize(
    "url",
    ["ftp://example.org/hook", "not a url", "http://", "https://user:pw@example.org/hook"],
)
async def test_a_bad_webhook_url_is_refused_naming_the_field(client, world, url):
    response = await client.put(
        f"/api/v1/partners/{world.a.id}/webhook",
        headers=world.callers["coordinator"].headers,
        json={"url": url},
    )
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "url"
    assert (await PartnerOrganisation.get(id=world.a.id)).webhook_url is None


async def test_production_accepts_only_public_https_webhooks(client, world, monkeypatch):
    monkeypatch.setattr(settings, "ENVIRONMENT", "production")
    headers = world.callers["admin"].headers
    url = f"/api/v1/partners/{world.a.id}/webhook"
    for refused in ("http://partner.example/hook", "https://127.0.0.1/hook", "https://10.0.0.5/h"):
        response = await client.put(url, headers=headers, json={"url": refused})
        assert response.status_code == 422, refused
    ok = await client.put(url, headers=headers, json={"url": "https://partner.example/hook"})
    assert ok.status_code == 200


async def test_webhook_secret_is_shown_once_and_only_to_managers_or_that_partner(client, world):
    url = f"/api/v1/partners/{world.a.id}/webhook"
    made = await client.put(
        url, headers=world.callers["partner_a"].headers, json={"url": "https://a.example/hook"}
    )
    assert made.status_code == 200
    assert made.json()["secret"] == (await PartnerOrganisation.get(id=world.a.id)).webhook_secret
    for reader in ("partner_a", "admin", "coordinator"):
        read = await client.get(url, headers=world.callers[reader].headers)
        assert read.status_code == 200 and "secret" not in read.json()
        assert made.json()["secret"] not in read.text
    other = world.callers["partner_c"]
    assert (await client.get(url, headers=other.headers)).status_code == 404
    assert (await client.delete(url, headers=other.headers)).status_code == 404
    assert (await client.get(f"{url}/deliveries", headers=other.headers)).status_code == 404
    for staff in ("agent", "marketing"):
        assert (await client.get(url, headers=world.callers[staff].headers)).status_code == 403
    rotated = await client.put(
        url, headers=world.callers["admin"].headers, json={"url": "https://a.example/hook"}
    )
    assert rotated.json()["secret"] != made.json()["secret"]
    removed = await client.delete(url, headers=world.callers["partner_a"].headers)
    assert removed.status_code == 200 and removed.json() == {
        "url": None,
        "enabled": False,
        "disabled_at": None,
        "consecutive_failures": 0,
    }


async def test_the_delivery_log_lists_every_attempt(client, world, receiver):
    await hook(world.a, receiver)
    receiver.answers = [500]
    await accept(client, world, await world.referral(sender=world.a, receiver=None))
    await webhooks.deliver_due(now=T0)
    await webhooks.deliver_due(now=T0 + timedelta(days=1))
    response = await client.get(
        f"/api/v1/partners/{world.a.id}/webhook/deliveries",
        headers=world.callers["partner_a"].headers,
    )
    assert response.status_code == 200
    (item,) = response.json()["items"]
    assert item["status"] == "delivered" and item["attempts"] == 2
    assert [a["status_code"] for a in item["attempt_log"]] == [500, 200]
    again = await client.post(
        f"/api/v1/partners/{world.a.id}/webhook/deliveries/{item['delivery_id']}/retry",
        headers=world.callers["admin"].headers,
    )
    assert again.status_code == 409  # delivered: nothing to retry
    json.dumps(response.json())  # the log is plain JSON
