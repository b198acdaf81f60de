"""The lifecycle's details: reasons and outcomes, redirects, closed referrals, history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm.audit.models import AuditEntry
from crm.config import settings
from crm.referrals.models import Referral, ReferralStatus, ReferralStatusChange
from tests.crm.referrals.conftest import grant_sharing

S = ReferralStatus


async def patch(client, caller, referral, **body):
    return await client.patch(f"/api/v1/referrals/{referral.id}", headers=caller.headers, json=body)


def field_of(response) -> str:
    return response.json()["detail"][0]["field"]


async def test_reject_needs_a_reason_code_and_other_needs_a_text(client, world):
    r = await world.referral(sender=world.a, receiver=None)
    admin = world.callers["admin"]
    missing = await patch(client, admin, r, status="rejected")
    assert missing.status_code == 422 and field_of(missing) == "reason_code"
    other = await patch(client, admin, r, status="rejected", reason_code="other")
    assert other.status_code == 422 and field_of(other) == "status_reason"
    bad = await patch(client, admin, r, status="rejected", reason_code="too_busy")
    assert bad.status_code == 422 and field_of(bad) == "reason_code"
    assert (await Referral.get(id=r.id)).status == S.REQUESTED
    done = await patch(client, admin, r, status="rejected", reason_code="out_of_area")
    assert done.status_code == 200
    assert done.json()["reason_code"] == "out_of_area"
    assert done.json()["history"][-1]["reason_code"] == "out_of_area"


async def test_free_text_only_reject_is_recorded_as_other(client, world):
    # CONTRACT §4 clients send {"status", "status_reason"} only.
    r = await world.referral(sender=world.a, receiver=None)
    done = await patch(
        client, world.callers["admin"], r, status="rejected", status_reason="no bakery loans"
    )
    assert done.status_code == 200, done.text
    assert (done.json()["reason_code"], done.json()["status_reason"]) == (
        "other",
        "no bakery loans",
    )


async def test_complete_needs_an_outcome(client, world):
    r = await world.referral(sender=None, receiver=world.b, status=S.IN_PROGRESS)
    forem = world.callers["partner_b"]
    missing = await patch(client, forem, r, status="completed")
    assert missing.status_code == 422 and field_of(missing) == "outcome"
    done = await patch(client, forem, r, status="completed", outcome="employed")
    assert done.status_code == 200 and done.json()["outcome"] == "employed"
    history = done.json()["history"][-1]
    assert history["outcome"] == "employed" and history["organisation"] == "Forem Charleroi"
    assert history["organisation_id"] == world.b.id


async def test_cancel_needs_a_reason(client, world):
    r = await world.referral(sender=world.a, receiver=None, status=S.ACCEPTED)
    cpas = world.callers["partner_a"]
    missing = await patch(client, cpas, r, status="cancelled")
    assert missing.status_code == 422 and field_of(missing) == "status_reason"
    coded = await patch(client, cpas, r, status="cancelled", reason_code="person_declined")
    assert coded.status_code == 200 and coded.json()["reason_code"] == "person_declined"


async def test_details_that_do_not_belong_to_the_move_are_refused(client, world):
    r = await world.referral(sender=world.a, receiver=None)
    admin = world.callers["admin"]
    for body, field in (
        ({"status": "accepted", "outcome": "coached"}, "outcome"),
        ({"status": "accepted", "reason_code": "no_capacity"}, "reason_code"),
        ({"status": "accepted", "redirect_to_partner_id": world.d.id}, "redirect_to_partner_id"),
        ({"status": "redirected"}, "redirect_to_partner_id"),
    ):
        response = await patch(client, admin, r, **body)
        assert response.status_code == 422 and field_of(response) == field, body
    assert (await Referral.get(id=r.id)).status == S.REQUESTED
    assert await ReferralStatusChange.filter(referral_id=r.id).count() == 1


async def test_redirect_creates_a_linked_referral_to_the_new_partner(client, world):
    r = await world.referral(sender=None, receiver=world.b, status=S.ACCEPTED)
    forem = world.callers["partner_b"]
    response = await patch(
        client,
        forem,
        r,
        status="redirected",
        redirect_to_partner_id=world.d.id,
        reason_code="out_of_area",
        status_reason="lives in Eupen",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "redirected" and body["reason_code"] == "out_of_area"
    follow_on = await Referral.get(redirected_from_id=r.id)
    assert body["redirected_to"] == {
        "id": follow_on.id,
        "receiver_id": world.d.id,
        "receiver": "ADG Eupen",
    }
    # From the redirecting organisation to the new partner, same person, purpose and consent.
    assert (follow_on.sender_id, follow_on.receiver_id) == (world.b.id, world.d.id)
    assert follow_on.status == S.REQUESTED and follow_on.lead_id == world.lead.id
    assert follow_on.purpose == r.purpose and follow_on.consent_method == r.consent_method
    assert follow_on.consent_text_version == "v1" and follow_on.expires_at is not None
    first = await ReferralStatusChange.get(referral_id=follow_on.id)
    assert (first.status, first.organisation_id) == (S.REQUESTED, world.b.id)
    actions = set(await AuditEntry.filter(entity="referral").values_list("action", "entity_id"))
    assert {("referral.status", r.id), ("referral.create", follow_on.id)} <= actions
    # The redirecting partner follows the new referral as its sender.
    seen = await client.get(f"/api/v1/referrals/{follow_on.id}", headers=forem.headers)
    assert seen.status_code == 200 and seen.json()["redirected_from_id"] == r.id
    assert seen.json()["allowed_moves"] == ["cancelled"]


async def test_redirect_needs_the_current_consent_to_share(client, world):
    r = await world.referral(sender=world.a, receiver=None)
    await grant_sharing(world.lead, granted=False)
    response = await patch(
        client,
        world.callers["coordinator"],
        r,
        status="redirected",
        redirect_to_partner_id=world.d.id,
    )
    assert response.status_code == 422 and field_of(response) == "consent"
    assert (await Referral.get(id=r.id)).status == S.REQUESTED
    assert await Referral.all().count() == 1


async def test_redirect_target_must_be_another_active_partner(client, world):
    r = await world.referral(sender=world.a, receiver=world.b)
    forem = world.callers["partner_b"]
    world.c.active = False
    await world.c.save()
    for target in (world.b.id, world.a.id, world.c.id, 99999):
        response = await patch(client, forem, r, status="redirected", redirect_to_partner_id=target)
        assert response.status_code == 422, (target, response.text)
        assert field_of(response) == "redirect_to_partner_id"
    assert await Referral.all().count() == 1


async def test_reopening_a_cancelled_referral_is_refused_with_the_reason(client, world):
    r = await world.referral(sender=world.a, receiver=None, status=S.CANCELLED)
    for caller, status in (("partner_a", "requested"), ("admin", "accepted")):
        response = await patch(client, world.callers[caller], r, status=status)
        assert response.status_code == 409
        assert "cancelled referral is closed" in response.json()["detail"][0]["msg"]


async def test_a_partner_completing_someone_elses_referral_is_refused(client, world):
    theirs = await world.referral(sender=None, receiver=world.b, status=S.IN_PROGRESS)
    unrelated = await patch(
        client, world.callers["partner_c"], theirs, status="completed", outcome="coached"
    )
    assert unrelated.status_code == 404
    # A → B: A sees it as the sender but only B may complete it.
    shared = await world.referral(sender=world.a, receiver=world.b, status=S.IN_PROGRESS)
    sender = await patch(
        client, world.callers["partner_a"], shared, status="completed", outcome="coached"
    )
    assert sender.status_code == 403
    assert "receiving organisation" in sender.json()["detail"][0]["msg"]
    assert (await Referral.get(id=shared.id)).status == S.IN_PROGRESS


async def test_only_the_system_expires_a_referral(client, world):
    r = await world.referral(sender=world.a, receiver=None)
    response = await patch(client, world.callers["admin"], r, status="expired")
    assert response.status_code == 403 and "system" in response.json()["detail"][0]["msg"]


async def test_a_new_referral_expires_after_the_configured_days_until_answered(
    client, world, monkeypatch
):
    monkeypatch.setattr(settings, "REFERRAL_EXPIRY_DAYS", 10)
    before = datetime.now(UTC)
    created = await client.post(
        "/api/v1/referrals",
        headers=world.callers["partner_a"].headers,
        json={
            "purpose": "coaching",
            "person": {"first_name": "Luc", "phone": "0477 00 11 22"},
            "consent": {"given_at": "2026-11-20T14:00:00+01:00", "method": "verbal"},
        },
    )
    assert created.status_code == 201, created.text
    expires = datetime.fromisoformat(created.json()["expires_at"])
    assert before + timedelta(days=10) <= expires <= datetime.now(UTC) + timedelta(days=10)
    accepted = await client.patch(
        f"/api/v1/referrals/{created.json()['id']}",
        headers=world.callers["admin"].headers,
        json={"status": "accepted"},
    )
    assert accepted.json()["expires_at"] is None


async def test_answer_link_is_shown_to_staff_only(client, world):
    r = await world.referral(sender=None, receiver=world.b)
    staff = (
        await client.get(f"/api/v1/referrals/{r.id}", headers=world.callers["admin"].headers)
    ).json()
    assert staff["answer_link"].startswith(settings.PUBLIC_BASE_URL.rstrip("/") + "/r/")
    partner = (
        await client.get(f"/api/v1/referrals/{r.id}", headers=world.callers["partner_b"].headers)
    ).json()
    assert partner["answer_link"] is None
    assert partner["allowed_moves"] == ["accepted", "redirected", "rejected"]
    inbound = await world.referral(sender=world.a, receiver=None)
    ours = (
        await client.get(f"/api/v1/referrals/{inbound.id}", headers=world.callers["admin"].headers)
    ).json()
    assert ours["answer_link"] is None  # we are the receiver: no link to send
