"""The partner portal (/partner/): a partner user sees and moves their own organisation's
referrals only, and sends new ones with the person's consent."""

from __future__ import annotations

from datetime import datetime

from crm.config import settings
from crm.enums import Role
from crm.people.models import ConsentRecord, Lead
from crm.referrals.models import Referral, ReferralStatusChange

from .conftest import csrf_from
from .referral_rows import listed_names, partner_user, sent_by_partner, sent_to_partner


def _new_form(token: str, **over) -> dict[str, str]:
    form = {
        "csrf_token": token,
        "first_name": "Amina",
        "last_name": "Benali",
        "phone": "0470 12 34 56",
        "email": "amina@example.org",
        "language": "nl",
        "postcode": "1060",
        "purpose": "microcredit",
        "notes": "Wants to open a food truck",
        "external_ref": "",
        "consent_agreed": "yes",
        "consent_date": datetime.now(settings.tz).date().isoformat(),
        "consent_method": "signed_form",
    }
    form.update(over)
    return form


async def _token(client, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_from(page.text)


async def test_partner_user_lands_on_the_portal(client, social_worker, sign_in):
    await sign_in(social_worker)
    home = await client.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/partner/"
    page = await client.get("/partner/")
    assert page.status_code == 200
    assert "Our referrals" in page.text and 'href="/partner/referrals/new"' in page.text


async def test_portal_lists_both_directions_of_the_organisation_only(
    client, cpas, forem, social_worker, coordinator, sign_in
):
    await sent_by_partner(social_worker, "Amina", phone="0470 11 11 11")
    await sent_to_partner(coordinator, cpas, "Joris", phone="0470 22 22 22")
    other = await partner_user(forem, "marc@forem.example.org")
    await sent_by_partner(other, "Karim", phone="0470 33 33 33")
    await sign_in(social_worker)
    page = (await client.get("/partner/")).text
    assert sorted(listed_names(page)) == ["Amina Ndiaye", "Joris Peeters"]
    assert f"Sent by you to {settings.ORGANISATION_NAME}" in page
    assert f"Sent to you by {settings.ORGANISATION_NAME}" in page
    # The referral waiting for the organisation's answer comes first, with its answer date.
    assert listed_names(page)[0] == "Joris Peeters"
    assert "Answer by" in page


async def test_portal_filters_by_direction_status_and_name(
    client, cpas, social_worker, coordinator, sign_in
):
    await sent_by_partner(social_worker, "Amina", phone="0470 11 11 11")
    await sent_by_partner(social_worker, "Fatou", last_name="Diallo", phone="0470 44 44 44")
    await sent_to_partner(coordinator, cpas, "Joris", phone="0470 22 22 22")
    await sign_in(social_worker)
    sent = await client.get("/partner/?direction=sent")
    assert sorted(listed_names(sent.text)) == ["Amina Ndiaye", "Fatou Diallo"]
    received = await client.get("/partner/?direction=received")
    assert listed_names(received.text) == ["Joris Peeters"]
    assert listed_names((await client.get("/partner/?q=diallo")).text) == ["Fatou Diallo"]
    assert listed_names((await client.get("/partner/?status=completed")).text) == []
    # Unknown filter values are ignored, not errors.
    assert len(listed_names((await client.get("/partner/?status=nope&direction=x")).text)) == 3


async def test_partner_never_sees_another_organisations_referral(
    client, forem, social_worker, sign_in
):
    other = await partner_user(forem, "marc@forem.example.org")
    theirs = await sent_by_partner(other, "Karim", phone="0470 33 33 33")
    await sign_in(social_worker)
    token = await _token(client, "/partner/")
    assert (await client.get(f"/partner/referrals/{theirs.id}")).status_code == 404
    moved = await client.post(
        f"/partner/referrals/{theirs.id}/status",
        data={"csrf_token": token, "status": "cancelled", "status_reason": "mine now"},
    )
    assert moved.status_code == 404
    assert (await Referral.get(id=theirs.id)).status == "requested"
    assert (await client.get("/partner/referrals/abc")).status_code == 404


async def test_partner_user_is_refused_staff_pages_and_staff_the_portal(
    client, make_caller, social_worker, sign_in
):
    await sign_in(social_worker)
    for path in ("/leads", "/leads/1", "/referrals", "/referrals/1", "/field/", "/inbox"):
        assert (await client.get(path)).status_code in (403, 404), path
    await client.post("/logout", data={"csrf_token": await _token(client, "/partner/")})
    marketing = await make_caller(Role.MARKETING)
    await sign_in(marketing.user)
    assert (await client.get("/partner/")).status_code == 403
    assert (await client.get("/partner/referrals/new")).status_code == 403


async def test_sending_a_referral_with_consent_records_the_text_version(
    client, cpas, social_worker, sign_in
):
    await sign_in(social_worker)
    token = await _token(client, "/partner/referrals/new")
    response = await client.post("/partner/referrals/new", data=_new_form(token))
    assert response.status_code == 303, response.text
    referral = await Referral.get()
    assert response.headers["location"] == f"/partner/referrals/{referral.id}"
    assert referral.sender_id == cpas.id and referral.receiver_id is None
    assert (referral.consent_method, referral.consent_text_version) == (
        "signed_form",
        "2026-11-intake/nl",
    )
    lead = await Lead.get(id=referral.lead_id)
    assert (lead.first_name, lead.phone, lead.language) == ("Amina", "+32470123456", "nl")
    consent = await ConsentRecord.get(lead_id=lead.id)
    assert consent.purpose == "share_with_partners" and consent.text_version == "2026-11-intake/nl"
    page = await client.get(response.headers["location"])
    assert "Amina Benali" in page.text and "Wants to open a food truck" in page.text
    assert "2026-11-intake/nl" in page.text and "worden doorgegeven aan" in page.text


async def test_sending_without_the_consent_tick_is_refused_and_keeps_what_was_typed(
    client, social_worker, sign_in
):
    await sign_in(social_worker)
    token = await _token(client, "/partner/referrals/new")
    form = _new_form(token)
    del form["consent_agreed"]
    response = await client.post("/partner/referrals/new", data=form)
    assert response.status_code == 422
    assert "only be sent when the person agreed" in response.text
    assert 'value="Amina"' in response.text and "Wants to open a food truck" in response.text
    assert await Referral.all().count() == 0 and await Lead.all().count() == 0


async def test_a_bad_phone_is_shown_next_to_its_field_and_nothing_is_stored(
    client, social_worker, sign_in
):
    await sign_in(social_worker)
    token = await _token(client, "/partner/referrals/new")
    response = await client.post("/partner/referrals/new", data=_new_form(token, phone="12"))
    assert response.status_code == 422
    assert 'id="err-phone"' in response.text and 'value="12"' in response.text
    future = _new_form(token, consent_date="2999-01-01")
    response = await client.post("/partner/referrals/new", data=future)
    assert response.status_code == 422 and 'id="err-consent_date"' in response.text
    assert await Referral.all().count() == 0 and await Lead.all().count() == 0


async def test_the_same_reference_twice_shows_the_referral_already_sent(
    client, social_worker, sign_in
):
    await sign_in(social_worker)
    token = await _token(client, "/partner/referrals/new")
    first = await client.post(
        "/partner/referrals/new", data=_new_form(token, external_ref="SG-2026-001")
    )
    again = await client.post(
        "/partner/referrals/new",
        data=_new_form(token, external_ref="SG-2026-001", first_name="Someone"),
    )
    assert again.status_code == 303
    assert again.headers["location"] == first.headers["location"] + "?existing=1"
    assert await Referral.all().count() == 1
    page = await client.get(again.headers["location"])
    assert "You already sent a referral with this reference" in page.text


async def test_forms_without_the_csrf_token_are_refused(
    client, cpas, social_worker, coordinator, sign_in
):
    received = await sent_to_partner(coordinator, cpas, "Joris", phone="0470 22 22 22")
    await sign_in(social_worker)
    form = _new_form("")
    del form["csrf_token"]
    assert (await client.post("/partner/referrals/new", data=form)).status_code == 403
    moved = await client.post(
        f"/partner/referrals/{received.id}/status", data={"status": "accepted"}
    )
    assert moved.status_code == 403
    assert await Referral.all().count() == 1
    assert (await Referral.get(id=received.id)).status == "requested"


async def test_partner_accepts_then_completes_a_received_referral_with_an_outcome(
    client, cpas, social_worker, coordinator, sign_in
):
    received = await sent_to_partner(coordinator, cpas, "Joris", phone="0470 22 22 22")
    await sign_in(social_worker)
    path = f"/partner/referrals/{received.id}"
    page = await client.get(path)
    assert 'id="move-accepted"' in page.text and 'id="move-rejected"' in page.text
    assert 'id="move-cancelled"' not in page.text  # the sender cancels, not the receiver
    token = csrf_from(page.text)
    accepted = await client.post(f"{path}/status", data={"csrf_token": token, "status": "accepted"})
    assert accepted.status_code == 303
    done = await client.post(
        f"{path}/status",
        data={
            "csrf_token": token,
            "status": "completed",
            "outcome": "social_support",
            "status_reason": "Housing sorted, back to you for the business plan",
        },
    )
    assert done.status_code == 303
    referral = await Referral.get(id=received.id)
    assert (referral.status, referral.outcome) == ("completed", "social_support")
    history = await ReferralStatusChange.filter(referral_id=received.id).order_by("id")
    assert [h.status for h in history] == ["requested", "accepted", "completed"]
    assert history[-1].organisation_label == "CPAS de Saint-Gilles"
    page = await client.get(path)
    assert "Housing sorted" in page.text and 'id="moves"' not in page.text


async def test_an_illegal_move_shows_the_reason_and_changes_nothing(client, social_worker, sign_in):
    sent = await sent_by_partner(social_worker, "Amina", phone="0470 11 11 11")
    await sign_in(social_worker)
    path = f"/partner/referrals/{sent.id}"
    token = await _token(client, path)
    # The sender accepting its own referral: only the receiver may.
    refused = await client.post(f"{path}/status", data={"csrf_token": token, "status": "accepted"})
    assert refused.status_code == 403
    assert "your organisation may not make this move" in refused.text
    assert "only the receiving organisation" in refused.text
    assert (await Referral.get(id=sent.id)).status == "requested"
    # Cancelled, then re-opened: a closed referral never moves again.
    cancelled = await client.post(
        f"{path}/status",
        data={"csrf_token": token, "status": "cancelled", "status_reason": "Moved to Liège"},
    )
    assert cancelled.status_code == 303
    again = await client.post(f"{path}/status", data={"csrf_token": token, "status": "accepted"})
    assert again.status_code in (403, 409)
    assert "Not changed" in again.text
    assert (await Referral.get(id=sent.id)).status == "cancelled"
    assert await ReferralStatusChange.filter(referral_id=sent.id).count() == 2


async def test_rejecting_without_a_reason_code_keeps_the_text_typed(
    client, cpas, social_worker, coordinator, sign_in
):
    received = await sent_to_partner(coordinator, cpas, "Joris", phone="0470 22 22 22")
    await sign_in(social_worker)
    path = f"/partner/referrals/{received.id}"
    token = await _token(client, path)
    response = await client.post(
        f"{path}/status",
        data={
            "csrf_token": token,
            "status": "rejected",
            "reason_code": "bogus",
            "status_reason": "Not our area",
        },
    )
    assert response.status_code == 422
    assert 'id="err-rejected-reason_code"' in response.text
    assert "Not our area</textarea>" in response.text
    assert (await Referral.get(id=received.id)).status == "requested"


async def test_redirect_to_another_partner_shows_the_linked_referral(
    client, cpas, forem, social_worker, coordinator, sign_in
):
    received = await sent_to_partner(coordinator, cpas, "Joris", phone="0470 22 22 22")
    await sign_in(social_worker)
    path = f"/partner/referrals/{received.id}"
    page = await client.get(path)
    assert f'<option value="{forem.id}"' in page.text
    response = await client.post(
        f"{path}/status",
        data={
            "csrf_token": csrf_from(page.text),
            "status": "redirected",
            "redirect_to_partner_id": str(forem.id),
            "reason_code": "out_of_area",
            "status_reason": "Lives in Charleroi now",
        },
    )
    assert response.status_code == 303, response.text
    follow_on = await Referral.get(redirected_from_id=received.id)
    assert (follow_on.sender_id, follow_on.receiver_id) == (cpas.id, forem.id)
    page = await client.get(path)
    assert "Redirected on: CPAS de Saint-Gilles → Forem Charleroi" in page.text
    assert f'href="/partner/referrals/{follow_on.id}"' in page.text
