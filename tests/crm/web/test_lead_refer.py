"""Referring a person to a partner from their desktop page: the sharing consent is recorded
first when missing (with the text version the person agreed to), in one transaction with the
referral; roles and CSRF."""

from __future__ import annotations

from crm.auth.actor import SYSTEM
from crm.enums import Role
from crm.people import service as people
from crm.people.models import ConsentPurpose, ConsentRecord, ConsentSource, Lead, LeadSource
from crm.people.schemas import ConsentIn
from crm.referrals.models import Referral

from .conftest import csrf_from


async def _person(language: str | None = "nl", **extra) -> Lead:
    return await Lead.create(
        first_name="Hanne",
        last_name="Claes",
        phone="+32470998877",
        language=language,
        source=LeadSource.WALK_IN,
        **extra,
    )


async def _shares(lead: Lead) -> list[ConsentRecord]:
    return await ConsentRecord.filter(lead_id=lead.id, purpose=ConsentPurpose.SHARE_WITH_PARTNERS)


async def _post(client, lead: Lead, **fields):
    token = csrf_from((await client.get(f"/leads/{lead.id}")).text)
    return await client.post(f"/leads/{lead.id}/referrals", data={"csrf_token": token, **fields})


async def test_without_consent_the_page_asks_for_it_and_refuses_to_refer_without_the_tick(
    client, make_caller, make_partner, sign_in
):
    partner = await make_partner("VDAB Gent")
    lead = await _person()
    coordinator = await make_caller(Role.COORDINATOR, ui_language="en")
    await sign_in(coordinator.user)
    page = await client.get(f"/leads/{lead.id}")
    assert "Refer to a partner" in page.text and "The person agreed to this text" in page.text
    assert "Ik ga ermee akkoord" in page.text  # the Dutch text, preselected for a Dutch speaker
    response = await _post(client, lead, partner_id=str(partner.id), purpose="employment")
    assert response.status_code == 422
    assert "agree to their details being shared first" in response.text
    assert 'value="employment" selected' in response.text  # what was typed is kept
    assert await Referral.filter(lead_id=lead.id).count() == 0
    assert await _shares(lead) == []


async def test_ticking_the_consent_records_it_with_its_text_version_then_the_referral(
    client, make_caller, make_partner, sign_in
):
    partner = await make_partner("VDAB Gent")
    lead = await _person()
    coordinator = await make_caller(Role.COORDINATOR, ui_language="en")
    await sign_in(coordinator.user)
    response = await _post(
        client,
        lead,
        partner_id=str(partner.id),
        purpose="employment",
        notes="looking for a training in bookkeeping",
        consent_agreed="yes",
        consent_method="signed_form",
        consent_language="nl",
    )
    referral = await Referral.get(lead_id=lead.id)
    assert response.status_code == 303
    assert response.headers["location"] == f"/referrals/{referral.id}"
    assert referral.receiver_id == partner.id and referral.sender_id is None
    assert referral.consent_method == "signed_form"
    assert referral.consent_text_version == "2026-11/nl"
    (record,) = await _shares(lead)
    assert record.granted and record.source == "web" and record.text_version == "2026-11/nl"
    assert record.recorded_by_id == coordinator.user.id


async def test_with_consent_granted_the_form_asks_only_for_the_partner_and_purpose(
    client, make_caller, make_partner, sign_in
):
    partner = await make_partner("CPAS de Liège")
    lead = await _person(language="fr")
    await people.record_consent(
        lead,
        ConsentIn(purpose=ConsentPurpose.SHARE_WITH_PARTNERS, granted=True),
        source=ConsentSource.EVENT,
        actor=SYSTEM,
    )
    agent = await make_caller(Role.AGENT, ui_language="en")
    await Lead.filter(id=lead.id).update(assigned_agent_id=agent.user.id)
    await sign_in(agent.user)
    page = await client.get(f"/leads/{lead.id}")
    assert "Refer to a partner" in page.text and "The person agreed to this text" not in page.text
    response = await _post(client, lead, partner_id=str(partner.id), purpose="social_support")
    assert response.status_code == 303
    assert await Referral.filter(lead_id=lead.id, receiver_id=partner.id).count() == 1
    assert len(await _shares(lead)) == 1  # nothing recorded twice


async def test_a_refused_referral_records_no_consent_either(
    client, make_caller, make_partner, sign_in
):
    inactive = await make_partner("Closed NGO", active=False)
    await make_partner("Open NGO")
    lead = await _person()
    coordinator = await make_caller(Role.COORDINATOR, ui_language="en")
    await sign_in(coordinator.user)
    response = await _post(
        client,
        lead,
        partner_id=str(inactive.id),
        purpose="coaching",
        consent_agreed="yes",
        consent_language="nl",
    )
    assert response.status_code == 422 and "no active partner" in response.text
    assert await _shares(lead) == []
    assert await Referral.filter(lead_id=lead.id).count() == 0


async def test_bad_fields_are_named_and_nothing_is_stored(
    client, make_caller, make_partner, sign_in
):
    partner = await make_partner()
    lead = await _person()
    coordinator = await make_caller(Role.COORDINATOR, ui_language="en")
    await sign_in(coordinator.user)
    for fields, message in (
        ({"partner_id": "abc", "purpose": "coaching"}, "choose a partner"),
        ({"partner_id": str(partner.id), "purpose": "holidays"}, "choose a purpose"),
        (
            {
                "partner_id": str(partner.id),
                "purpose": "coaching",
                "consent_method": "psychic",
                "consent_language": "nl",
            },
            "choose how the person agreed",
        ),
        (
            {"partner_id": str(partner.id), "purpose": "coaching", "consent_language": "xx"},
            "choose the language",
        ),
    ):
        response = await _post(client, lead, consent_agreed="yes", **fields)
        assert response.status_code == 422 and message in response.text, fields
    assert await Referral.filter(lead_id=lead.id).count() == 0
    assert await _shares(lead) == []


async def test_marketing_cannot_refer(client, make_caller, make_partner, sign_in):
    partner = await make_partner()
    lead = await _person()
    marketing = await make_caller(Role.MARKETING)
    await sign_in(marketing.user)
    page = await client.get(f"/leads/{lead.id}")
    assert page.status_code == 200 and "Refer to a partner" not in page.text
    token = csrf_from(page.text)
    data = {"csrf_token": token, "partner_id": str(partner.id), "purpose": "coaching"}
    assert (await client.post(f"/leads/{lead.id}/referrals", data=data)).status_code == 403
    assert await Referral.filter(lead_id=lead.id).count() == 0


async def test_an_agent_cannot_refer_someone_they_do_not_see(
    client, make_caller, make_partner, sign_in
):
    partner = await make_partner()
    lead = await _person()
    data = {"partner_id": str(partner.id), "purpose": "coaching"}
    agent = await make_caller(Role.AGENT)
    await sign_in(agent.user)
    token = csrf_from((await client.get("/leads")).text)
    data["csrf_token"] = token
    assert (await client.post(f"/leads/{lead.id}/referrals", data=data)).status_code == 404
    assert await Referral.filter(lead_id=lead.id).count() == 0


async def test_referring_needs_the_csrf_token(client, make_caller, make_partner, sign_in):
    partner = await make_partner()
    lead = await _person()
    coordinator = await make_caller(Role.COORDINATOR)
    await sign_in(coordinator.user)
    response = await client.post(
        f"/leads/{lead.id}/referrals",
        data={"partner_id": str(partner.id), "purpose": "coaching", "consent_agreed": "yes"},
    )
    assert response.status_code == 403
    assert await Referral.filter(lead_id=lead.id).count() == 0
