"""Erasure by anonymisation: nothing that identifies the person is left in any table, the
statistics stay, nothing more is sent to them, partners are told, and it is audited."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from tortoise import Tortoise
from tortoise.fields import CharField, JSONField, TextField, UUIDField

from channels.models import Channel, InboundMessage, MessageKind, OutboxMessage
from crm import db
from crm.audit.models import AuditEntry
from crm.enums import Role
from crm.outreach.models import SyncReceipt
from crm.people.merge import PLAIN_LEAD_COLUMNS, lead_relations, model_named
from crm.people.models import ConsentRecord, Lead, Stage
from crm.privacy.erasure import ERASED, KEPT
from crm.privacy.models import RightsRequest
from crm.referrals import webhooks
from crm.referrals.models import Referral, WebhookDelivery
from crm.transfer.models import ImportJob, ImportRowReport

# What only this person's data contains: none of it may survive the erasure anywhere.
TOKENS = ("Zahrae", "Idrissi-Erase", "+32470998877", "fz.idrissi@example.org", "73310021")
SECRET_TEXT = "her brother Youssef"  # in notes, messages, reasons


async def rich_person(client, make_partner, caller) -> int:
    """A person with her identifiers and free texts in every place the CRM keeps them."""
    response = await client.post(
        "/api/v1/leads",
        headers=caller.headers,
        json={
            "first_name": "Zahrae",
            "last_name": "Idrissi-Erase",
            "phone": "0470 99 88 77",
            "email": "fz.idrissi@example.org",
            "telegram_chat_id": 73310021,
            "postcode": "1080",
            "gender": "female",
            "birth_year": 1990,
            "notes": f"Lives with {SECRET_TEXT}",
            "consents": [
                {"purpose": "sms", "granted": True},
                {"purpose": "share_with_partners", "granted": True},
            ],
        },
    )
    assert response.status_code == 201, response.text
    lead_id = response.json()["id"]
    # An update: the audit trail holds the old and new values.
    response = await client.patch(
        f"/api/v1/leads/{lead_id}",
        headers=caller.headers,
        json={"last_name": "Idrissi-Erase", "stage": "contacted", "project_summary": SECRET_TEXT},
    )
    assert response.status_code == 200, response.text
    response = await client.post(
        f"/api/v1/leads/{lead_id}/interactions",
        headers=caller.headers,
        json={"kind": "call", "channel": "phone", "notes": f"Talked about {SECRET_TEXT}"},
    )
    assert response.status_code == 201, response.text
    now = datetime.now(UTC)
    await InboundMessage.create(
        lead_id=lead_id,
        channel=Channel.SMS,
        address="+32470998877",
        body=f"Hello, it's Zahrae, {SECRET_TEXT} told me",
        provider_id="SMzahrae1",
        received_at=now,
    )
    for n, status in enumerate(("sent", "queued")):
        await OutboxMessage.create(
            lead_id=lead_id,
            channel=Channel.SMS,
            address="+32470998877",
            body=f"Dear Zahrae #{n}",
            kind=MessageKind.CAMPAIGN,
            status=status,
            provider_id=f"SMout{n}" if status == "sent" else None,
            due_at=now + timedelta(days=1),
            idempotency_key=f"erase-test:{lead_id}:{n}",
        )
    partner = await make_partner(
        name="CPAS d'Anderlecht", webhook_url="http://127.0.0.1:9/hook", webhook_secret="s" * 32
    )
    referral = await Referral.create(
        receiver=partner,
        lead_id=lead_id,
        purpose="social_support",
        notes=f"Referred with {SECRET_TEXT}",
        external_ref="CPAS-ZAHRAE-1",
        status_reason=f"Zahrae asked to wait for {SECRET_TEXT}",
        consent_given_at=now,
        consent_method="verbal",
    )
    await webhooks.enqueue(referral, webhooks.CREATED, organisations=(partner.id,))
    job = await ImportJob.create(
        kind="leads",
        filename="list.csv",
        file_format="csv",
        file_sha256="0" * 64,
        content="prénom;gsm\nZahrae;0470 99 88 77\n".encode(),
        status="done",
        created_by_id=caller.user.id,
    )
    await ImportRowReport.create(
        job=job,
        row_number=2,
        outcome="created",
        lead_id=lead_id,
        message="phone 0470 99 88 77 was normalised",
        values={"prénom": "Zahrae", "gsm": "0470 99 88 77"},
    )
    await SyncReceipt.create(
        client_id=uuid.uuid4(), kind="contact", lead_id=lead_id, result={"first_name": "Zahrae"}
    )
    await RightsRequest.create(
        lead_id=lead_id,
        kind="erasure",
        received_via="letter",
        received_at=now,
        requester="Zahrae Idrissi-Erase, by letter",
        notes=f"Signed letter, mentions {SECRET_TEXT}",
        due_on=now.date() + timedelta(days=30),
    )
    return lead_id


async def everything_in_the_database() -> str:
    dump = []
    for model in Tortoise.apps[db.APP_LABEL].values():
        dump.append(json.dumps(await model.all().values(), default=str, ensure_ascii=False))
    return "\n".join(dump)


async def test_erasure_leaves_nothing_that_identifies_the_person_anywhere(
    client, make_partner, make_caller
):
    coordinator = await make_caller(Role.COORDINATOR)
    lead_id = await rich_person(client, make_partner, coordinator)
    before = await everything_in_the_database()
    assert all(token in before for token in TOKENS) and SECRET_TEXT in before

    response = await client.post(
        f"/api/v1/leads/{lead_id}/erase", headers=coordinator.headers, json={}
    )
    assert response.status_code == 200, response.text

    after = await everything_in_the_database()
    for token in (*TOKENS, SECRET_TEXT, "CPAS-ZAHRAE-1"):
        # The partner's own reference stays only in the erasure notice sent to that partner.
        if token == "CPAS-ZAHRAE-1":
            notices = await WebhookDelivery.filter(event=webhooks.ERASED).values("payload")
            assert after.count(token) == len(notices) == 1
            continue
        assert token not in after, token


async def test_erasure_keeps_the_statistics(client, make_partner, make_caller):
    coordinator = await make_caller(Role.COORDINATOR)
    lead_id = await rich_person(client, make_partner, coordinator)
    before = await Lead.get(id=lead_id)

    await client.post(f"/api/v1/leads/{lead_id}/erase", headers=coordinator.headers, json={})

    lead = await Lead.get(id=lead_id)
    assert lead.anonymised_at is not None
    identifiers = (lead.first_name, lead.phone, lead.email, lead.telegram_chat_id)
    assert identifiers == ("", None, None, None)
    kept = ("stage", "postcode", "region", "gender", "birth_year", "source", "created_at")
    assert all(getattr(lead, f) == getattr(before, f) for f in kept)
    assert lead.stage is Stage.CONTACTED and lead.contacted_at == before.contacted_at
    assert await OutboxMessage.filter(lead_id=lead_id).count() == 2
    assert await Referral.filter(lead_id=lead_id).count() == 1


async def test_erasure_stops_every_message_and_withdraws_every_consent(
    client, make_partner, make_caller
):
    coordinator = await make_caller(Role.COORDINATOR)
    lead_id = await rich_person(client, make_partner, coordinator)

    response = await client.post(
        f"/api/v1/leads/{lead_id}/erase", headers=coordinator.headers, json={}
    )

    assert response.json()["cancelled_messages"] == 1
    queued = await OutboxMessage.get(lead_id=lead_id, idempotency_key__endswith=":1")
    assert (queued.status, queued.error_code) == ("skipped", "erased")
    latest = {}
    for record in await ConsentRecord.filter(lead_id=lead_id).order_by("recorded_at", "id"):
        latest[record.purpose] = record.granted
    assert latest and not any(latest.values())
    assert set(latest) >= {"sms", "telegram", "email", "share_with_partners"}


async def test_partners_who_received_the_person_are_told(client, make_partner, make_caller):
    coordinator = await make_caller(Role.COORDINATOR)
    lead_id = await rich_person(client, make_partner, coordinator)

    response = await client.post(
        f"/api/v1/leads/{lead_id}/erase", headers=coordinator.headers, json={}
    )

    assert response.json()["partners_told"] == 1
    notice = await WebhookDelivery.get(event=webhooks.ERASED)
    referral = await Referral.get(lead_id=lead_id)
    assert notice.payload["referral"]["id"] == referral.id
    assert notice.payload["referral"]["status_reason"] is None


async def test_the_erasure_is_audited_without_personal_data(client, make_partner, make_caller):
    coordinator = await make_caller(Role.COORDINATOR)
    lead_id = await rich_person(client, make_partner, coordinator)

    await client.post(f"/api/v1/leads/{lead_id}/erase", headers=coordinator.headers, json={})

    entry = await AuditEntry.get(action="privacy.erase", lead_id=lead_id)
    assert entry.actor_user_id == coordinator.user.id
    assert entry.changes["reason"] == "request"
    assert entry.changes["rows"]["lead"] == 1 and entry.changes["rows"]["interaction"] == 1
    older = await AuditEntry.filter(lead_id=lead_id).exclude(id=entry.id)
    assert older and all(e.changes == {"erased": True} for e in older)


async def test_erasure_answers_and_closes_the_request(client, make_partner, make_caller):
    coordinator = await make_caller(Role.COORDINATOR)
    lead_id = await rich_person(client, make_partner, coordinator)
    request = await RightsRequest.get(lead_id=lead_id)

    response = await client.post(
        f"/api/v1/leads/{lead_id}/erase",
        headers=coordinator.headers,
        json={"request_id": request.id},
    )

    assert response.status_code == 200, response.text
    await request.refresh_from_db()
    assert request.status == "done" and request.closed_at is not None
    assert request.requester is None and request.notes is None  # the register keeps no name


async def test_a_wrong_request_changes_nothing(client, make_partner, make_caller):
    coordinator = await make_caller(Role.COORDINATOR)
    lead_id = await rich_person(client, make_partner, coordinator)
    other = await RightsRequest.create(
        kind="access", received_via="email", received_at=datetime.now(UTC), due_on="2099-01-01"
    )

    response = await client.post(
        f"/api/v1/leads/{lead_id}/erase",
        headers=coordinator.headers,
        json={"request_id": other.id},
    )

    assert response.status_code == 422 and "request_id" in response.text
    lead = await Lead.get(id=lead_id)
    assert lead.anonymised_at is None and lead.first_name == "Zahrae"
    assert await OutboxMessage.filter(lead_id=lead_id, status="queued").count() == 1


async def test_erasing_twice_is_a_conflict_and_unknown_people_a_404(
    client, make_partner, make_caller
):
    admin = await make_caller(Role.ADMIN)
    lead_id = await rich_person(client, make_partner, admin)
    first = await client.post(f"/api/v1/leads/{lead_id}/erase", headers=admin.headers, json={})
    again = await client.post(f"/api/v1/leads/{lead_id}/erase", headers=admin.headers, json={})
    missing = await client.post("/api/v1/leads/999999/erase", headers=admin.headers, json={})
    assert (first.status_code, again.status_code, missing.status_code) == (200, 409, 404)
    assert "lead_id" in missing.text


async def test_only_admins_and_coordinators_erase(client, make_partner, make_caller):
    admin = await make_caller(Role.ADMIN)
    lead_id = await rich_person(client, make_partner, admin)
    for role in (Role.MARKETING, Role.AGENT, Role.PARTNER):
        caller = await make_caller(role)
        response = await client.post(
            f"/api/v1/leads/{lead_id}/erase", headers=caller.headers, json={}
        )
        assert response.status_code in (403, 404), role
    assert (await Lead.get(id=lead_id)).anonymised_at is None


async def test_every_text_field_about_a_person_has_an_erasure_decision(app):
    """A table or column added later that can hold something about a person fails here until
    crm.privacy.erasure says whether it is erased or kept."""
    models = {r.model for r in lead_relations()}
    models |= {model_named(name) for name, _column in PLAIN_LEAD_COLUMNS}
    models |= {Lead, model_named("ReferralStatusChange"), WebhookDelivery}
    text_kinds = (CharField, TextField, JSONField, UUIDField)
    for model in models:
        name = model.__name__
        fields = {f for f, kind in model._meta.fields_map.items() if isinstance(kind, text_kinds)}
        decided = set(ERASED.get(name, {})) | set(KEPT.get(name, ()))
        assert fields <= decided, f"{name}: decide erased or kept for {fields - decided}"


async def test_an_erased_person_still_reads_through_the_api_and_cannot_be_refilled(
    client, make_partner, make_caller
):
    admin = await make_caller(Role.ADMIN)
    lead_id = await rich_person(client, make_partner, admin)
    await client.post(f"/api/v1/leads/{lead_id}/erase", headers=admin.headers, json={})

    one = await client.get(f"/api/v1/leads/{lead_id}", headers=admin.headers)
    listing = await client.get("/api/v1/leads", headers=admin.headers)
    timeline = await client.get(f"/api/v1/leads/{lead_id}/timeline", headers=admin.headers)
    messages = await client.get(f"/api/v1/leads/{lead_id}/messages", headers=admin.headers)
    assert [r.status_code for r in (one, listing, timeline, messages)] == [200] * 4
    assert one.json()["phone"] is None and one.json()["first_name"] == ""
    refill = await client.patch(
        f"/api/v1/leads/{lead_id}", headers=admin.headers, json={"phone": "0470 99 88 77"}
    )
    assert refill.status_code == 409
    assert (await Lead.get(id=lead_id)).phone is None
