from __future__ import annotations

import pytest

from crm.enums import Role
from crm.people.models import ConsentRecord, Lead
from crm.referrals.models import Referral

CONSENT = {
    "given_at": "2026-11-20T14:00:00+01:00",
    "method": "signed_form",
    "text_version": "cpas-2026",
}


def referral(**over):
    body = {
        "external_ref": "SG-2026-001",
        "purpose": "microcredit",
        "notes": "wants to open a bakery",
        "person": {
            "first_name": "Fatou",
            "last_name": "Ndiaye",
            "phone": "0489 12 34 56",
            "language": "fr",
            "postcode": "1060",
        },
        "consent": CONSENT,
    }
    body.update(over)
    return body


@pytest.fixture
async def cpas(make_caller, make_partner):
    org = await make_partner("CPAS de Saint-Gilles")
    return await make_caller(Role.PARTNER, organisation=org)


async def test_partner_intake_creates_person_referral_and_consent(client, cpas):
    response = await client.post("/api/v1/referrals", headers=cpas.headers, json=referral())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "requested" and body["sender"] == "CPAS de Saint-Gilles"
    assert body["person"]["phone"] == "+32489123456"
    assert body["history"][0]["status"] == "requested"
    assert body["history"][0]["organisation"] == "CPAS de Saint-Gilles"
    lead = await Lead.get(id=body["person"]["lead_id"])
    assert lead.source == "referral" and lead.referring_partner_id == cpas.organisation.id
    consent = await ConsentRecord.get(lead_id=lead.id)
    assert (consent.purpose, consent.granted, consent.method) == (
        "share_with_partners",
        True,
        "signed_form",
    )
    assert consent.recorded_by_organisation_id == cpas.organisation.id


async def test_same_external_ref_twice_gives_the_first_referral(client, cpas):
    first = await client.post("/api/v1/referrals", headers=cpas.headers, json=referral())
    second = await client.post("/api/v1/referrals", headers=cpas.headers, json=referral())
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert await Referral.all().count() == 1


async def test_a_referral_without_consent_is_refused_and_nothing_stored(client, cpas):
    response = await client.post(
        "/api/v1/referrals", headers=cpas.headers, json=referral(consent=None)
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "consent"
    assert await Lead.all().count() == 0 and await Referral.all().count() == 0


@pytest.mark.parametrize(
    "person, field",
    [
        ({"first_name": "A", "phone": "12"}, "phone"),
        ({"first_name": "A", "language": "en"}, "person.language"),
        ({"first_name": "A", "postcode": "99"}, "postcode"),
        ({"phone": "0470123456"}, "person.first_name"),
    ],
)
async def test_bad_person_data_names_the_field_and_stores_nothing(client, cpas, person, field):
    response = await client.post(
        "/api/v1/referrals", headers=cpas.headers, json=referral(person=person)
    )
    assert response.status_code == 422, response.text
    assert field in {e["field"] for e in response.json()["detail"]}
    assert await Lead.all().count() == 0 and await Referral.all().count() == 0


async def test_partner_sees_only_its_own_referrals_and_their_people(
    client, cpas, make_caller, make_partner, admin
):
    other = await make_caller(Role.PARTNER, organisation=await make_partner("Forem Charleroi"))
    mine = (await client.post("/api/v1/referrals", headers=cpas.headers, json=referral())).json()
    theirs = (
        await client.post(
            "/api/v1/referrals",
            headers=other.headers,
            json=referral(person={"first_name": "Luc", "phone": "0477 00 11 22"}),
        )
    ).json()
    listed = (await client.get("/api/v1/referrals", headers=cpas.headers)).json()
    assert [r["id"] for r in listed["items"]] == [mine["id"]] and listed["total"] == 1
    assert (
        await client.get(f"/api/v1/referrals/{theirs['id']}", headers=cpas.headers)
    ).status_code == 404
    assert (
        await client.get(f"/api/v1/leads/{mine['person']['lead_id']}", headers=cpas.headers)
    ).status_code == 200
    assert (
        await client.get(f"/api/v1/leads/{theirs['person']['lead_id']}", headers=cpas.headers)
    ).status_code == 404
    unrelated = (
        await client.post("/api/v1/leads", headers=admin.headers, json={"first_name": "Solo"})
    ).json()
    assert (
        await client.get(f"/api/v1/leads/{unrelated['id']}", headers=cpas.headers)
    ).status_code == 404
    for path in ("/api/v1/leads", "/api/v1/events", "/api/v1/partners", "/api/v1/stories"):
        assert (await client.get(path, headers=cpas.headers)).status_code == 403


async def test_lifecycle_by_the_receiving_organisation_with_history(client, cpas, make_caller):
    coordinator = await make_caller(Role.COORDINATOR, first_name="Claire", last_name="Dubois")
    created = (await client.post("/api/v1/referrals", headers=cpas.headers, json=referral())).json()
    url = f"/api/v1/referrals/{created['id']}"
    # The sender may not accept its own referral: that is the receiver's move.
    refused = await client.patch(url, headers=cpas.headers, json={"status": "accepted"})
    assert refused.status_code == 403
    for status in ("accepted", "in_progress", "completed"):
        extra = {"outcome": "coached"} if status == "completed" else {}
        moved = await client.patch(
            url,
            headers=coordinator.headers,
            json={"status": status, "status_reason": None, **extra},
        )
        assert moved.status_code == 200, moved.text
    history = moved.json()["history"]
    assert [h["status"] for h in history] == ["requested", "accepted", "in_progress", "completed"]
    assert history[-1]["by"] == "Claire Dubois"
    again = await client.patch(url, headers=coordinator.headers, json={"status": "accepted"})
    assert again.status_code == 409
    # The partner follows what became of the person.
    seen = (await client.get(url, headers=cpas.headers)).json()
    assert seen["status"] == "completed"


async def test_reject_needs_a_reason_and_sender_may_cancel(client, cpas, admin):
    a = (await client.post("/api/v1/referrals", headers=cpas.headers, json=referral())).json()
    no_reason = await client.patch(
        f"/api/v1/referrals/{a['id']}", headers=admin.headers, json={"status": "rejected"}
    )
    assert no_reason.status_code == 422
    assert no_reason.json()["detail"][0]["field"] == "reason_code"
    rejected = await client.patch(
        f"/api/v1/referrals/{a['id']}",
        headers=admin.headers,
        json={"status": "rejected", "status_reason": "out of area"},
    )
    assert rejected.json()["status_reason"] == "out of area"
    b = (
        await client.post(
            "/api/v1/referrals", headers=cpas.headers, json=referral(external_ref="SG-2026-002")
        )
    ).json()
    cancelled = await client.patch(
        f"/api/v1/referrals/{b['id']}",
        headers=cpas.headers,
        json={"status": "cancelled", "status_reason": "moved away"},
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    expired = await client.patch(
        f"/api/v1/referrals/{b['id']}", headers=admin.headers, json={"status": "expired"}
    )
    assert expired.status_code in (403, 409)


async def test_staff_record_a_referral_on_a_partners_behalf(client, admin, make_partner):
    forem = await make_partner("Forem Charleroi")
    missing = await client.post("/api/v1/referrals", headers=admin.headers, json=referral())
    assert missing.status_code == 422 and missing.json()["detail"][0]["field"] == "sender_id"
    done = await client.post(
        "/api/v1/referrals", headers=admin.headers, json=referral(sender_id=forem.id)
    )
    assert done.status_code == 201 and done.json()["sender"] == "Forem Charleroi"


async def test_partners_api(client, admin, make_caller):
    marketing = await make_caller(Role.MARKETING)
    created = await client.post(
        "/api/v1/partners",
        headers=admin.headers,
        json={"name": "OCMW Gent", "kind": "cpas", "postcode": "9000"},
    )
    assert created.status_code == 201 and created.json()["region"] == "flanders"
    dup = await client.post(
        "/api/v1/partners", headers=admin.headers, json={"name": "OCMW Gent", "kind": "cpas"}
    )
    assert dup.status_code == 409 and dup.json()["detail"][0]["field"] == "name"
    bad = await client.post(
        "/api/v1/partners", headers=admin.headers, json={"name": "X org", "kind": "bank"}
    )
    assert bad.status_code == 422
    assert (await client.get("/api/v1/partners", headers=marketing.headers)).json()["total"] == 1
