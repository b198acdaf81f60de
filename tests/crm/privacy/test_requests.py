"""The register of rights requests: deadlines, extension, closing, reminders, objection."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from channels.models import Channel, MessageKind, OutboxMessage
from crm.audit.models import AuditEntry
from crm.enums import Role
from crm.people.models import ConsentRecord, Lead, LeadSource
from crm.privacy.models import RightsRequest
from crm.privacy.requests import add_months, remind_due


def test_one_month_ends_on_the_same_day_or_the_months_last():
    assert add_months(date(2026, 3, 15), 1) == date(2026, 4, 15)
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 12, 10), 1) == date(2027, 1, 10)
    assert add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)


async def new_request(client, caller, **fields):
    body = {"kind": "access", "received_via": "letter", **fields}
    return await client.post("/api/v1/privacy/requests", headers=caller.headers, json=body)


async def test_a_request_is_due_one_month_after_receipt(client, make_caller):
    dpo = await make_caller(Role.COORDINATOR)
    response = await new_request(client, dpo, received_at="2026-01-31T10:00:00+01:00")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["due_on"] == "2026-02-28" and body["status"] == "open" and body["overdue"]
    assert await AuditEntry.exists(action="privacy.request", entity_id=body["id"])


async def test_bad_requests_name_the_field(client, make_caller):
    dpo = await make_caller(Role.ADMIN)
    cases = {
        "kind": {"kind": "forget-me"},
        "received_at": {"received_at": "2999-01-01T00:00:00Z"},
        "lead_id": {"lead_id": 999999},
        "received_via": {"received_via": "pigeon"},
    }
    for field, fields in cases.items():
        response = await new_request(client, dpo, **fields)
        assert response.status_code == 422 and field in response.text, (field, response.text)
    assert await RightsRequest.all().count() == 0


async def test_extension_is_limited_to_two_more_months_with_a_reason(client, make_caller):
    dpo = await make_caller(Role.COORDINATOR)
    created = (await new_request(client, dpo, received_at="2026-03-10T09:00:00Z")).json()
    url = f"/api/v1/privacy/requests/{created['id']}/extend"
    too_far = await client.post(
        url, headers=dpo.headers, json={"due_on": "2026-06-11", "reason": "complex"}
    )
    assert too_far.status_code == 422 and "due_on" in too_far.text
    no_reason = await client.post(url, headers=dpo.headers, json={"due_on": "2026-06-10"})
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    ok = await client.post(
        url, headers=dpo.headers, json={"due_on": "2026-06-10", "reason": "many records"}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "extended" and ok.json()["due_on"] == "2026-06-10"


async def test_closing_needs_an_outcome_and_a_closed_request_stays_closed(client, make_caller):
    dpo = await make_caller(Role.COORDINATOR)
    created = (await new_request(client, dpo)).json()
    url = f"/api/v1/privacy/requests/{created['id']}/close"
    missing = await client.post(url, headers=dpo.headers, json={"status": "refused"})
    assert missing.status_code == 422 and "outcome" in missing.text
    done = await client.post(
        url, headers=dpo.headers, json={"status": "refused", "outcome": "identity not confirmed"}
    )
    assert done.status_code == 200 and done.json()["closed_at"]
    again = await client.post(url, headers=dpo.headers, json={"status": "done", "outcome": "x"})
    assert again.status_code == 409


async def test_the_register_lists_open_requests_by_deadline_and_filters(client, make_caller):
    dpo = await make_caller(Role.COORDINATOR)
    now = datetime.now(UTC)
    late = await new_request(client, dpo, received_at=(now - timedelta(days=40)).isoformat())
    soon = await new_request(client, dpo, received_at=(now - timedelta(days=27)).isoformat())
    later = await new_request(client, dpo)
    ids = [r.json()["id"] for r in (late, soon, later)]
    listing = await client.get("/api/v1/privacy/requests", headers=dpo.headers)
    assert [r["id"] for r in listing.json()["items"]] == ids
    overdue = await client.get("/api/v1/privacy/requests?listing=overdue", headers=dpo.headers)
    assert [r["id"] for r in overdue.json()["items"]] == ids[:1]
    due = await client.get("/api/v1/privacy/requests?listing=due_soon", headers=dpo.headers)
    assert [r["id"] for r in due.json()["items"]] == ids[:2]


async def test_reminders_go_once_a_day_for_requests_near_or_past_their_deadline(
    client, make_caller
):
    dpo = await make_caller(Role.COORDINATOR)
    now = datetime.now(UTC)
    await new_request(client, dpo, received_at=(now - timedelta(days=27)).isoformat())
    await new_request(client, dpo)  # due in a month: no reminder yet
    assert await remind_due(now) == 1
    assert await remind_due(now) == 0  # twice the same day: once
    assert await remind_due(now + timedelta(days=1)) == 1
    assert await AuditEntry.filter(action="privacy.request_reminder").count() == 2


async def test_only_admins_and_coordinators_see_the_register(client, make_caller):
    for role in (Role.MARKETING, Role.AGENT, Role.PARTNER):
        caller = await make_caller(role)
        response = await client.get("/api/v1/privacy/requests", headers=caller.headers)
        assert response.status_code == 403, role


async def test_objection_withdraws_marketing_at_once_and_cancels_waiting_campaigns(
    client, make_caller
):
    dpo = await make_caller(Role.COORDINATOR)
    lead = await Lead.create(first_name="Jonas", phone="+32470111222", source=LeadSource.EVENT)
    for purpose in ("sms", "telegram", "share_with_partners"):
        await ConsentRecord.create(
            lead=lead,
            purpose=purpose,
            granted=True,
            source="event",
            method="verbal",
            recorded_at=datetime.now(UTC),
        )
    for n, kind in enumerate((MessageKind.CAMPAIGN, MessageKind.REPLY)):
        await OutboxMessage.create(
            lead=lead,
            channel=Channel.SMS,
            address="+32470111222",
            body="hello",
            kind=kind,
            due_at=datetime.now(UTC) + timedelta(hours=1),
            idempotency_key=f"objection:{n}",
        )
    request = (await new_request(client, dpo, kind="objection", lead_id=lead.id)).json()

    response = await client.post(
        f"/api/v1/leads/{lead.id}/objection",
        headers=dpo.headers,
        json={"request_id": request["id"]},
    )

    assert response.status_code == 200, response.text
    assert response.json()["cancelled_messages"] == 1
    lead_out = (await client.get(f"/api/v1/leads/{lead.id}", headers=dpo.headers)).json()
    consents = {c["purpose"]: c["granted"] for c in lead_out["consents"]}
    assert consents["sms"] is False and consents["telegram"] is False
    assert consents["share_with_partners"] is True  # not marketing: not withdrawn
    reply = await OutboxMessage.get(idempotency_key="objection:1")
    assert reply.status == "queued"  # answering what they write is not marketing
    closed = await RightsRequest.get(id=request["id"])
    assert closed.status == "done"
