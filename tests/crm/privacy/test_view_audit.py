"""Every view of one person writes exactly one `lead.view` audit entry, with who saw them and
through which view; a list of many people writes none. And the one export that was not audited
(the refused rows of an import) now is."""

from __future__ import annotations

from typing import Any

from crm.audit.models import AuditEntry
from crm.auth.models import User
from crm.enums import Role
from crm.people.models import Lead, LeadSource
from crm.transfer.models import ImportJob, ImportRowOutcome, ImportRowReport, ImportStatus
from tests.crm.web.conftest import login
from tests.crm.web.referral_rows import partner_user, sent_by_partner


async def _person(reached_by: User | None = None, first_name: str = "Amina") -> Lead:
    return await Lead.create(
        first_name=first_name,
        last_name="Benali",
        phone="+32470123456" if first_name == "Amina" else None,
        source=LeadSource.WALK_IN,
        reached_by_id=reached_by.id if reached_by else None,
    )


async def _views() -> list[AuditEntry]:
    return await AuditEntry.filter(action="lead.view").order_by("id")


async def _signed_in(client, user: User) -> None:
    assert (await login(client, user.email)).status_code == 303


def _is_one_view(entries: list[AuditEntry], lead: Lead, view: str, **actor: Any) -> None:
    assert len(entries) == 1, [(e.action, e.changes) for e in entries]
    (entry,) = entries
    assert (entry.entity, entry.entity_id, entry.lead_id) == ("lead", lead.id, lead.id)
    assert entry.changes == {"view": view}
    assert entry.at is not None
    for name, value in actor.items():
        assert getattr(entry, name) == value, name


async def test_the_person_page_writes_one_view_by_the_signed_in_user(client, make_caller):
    coordinator = (await make_caller(Role.COORDINATOR)).user
    lead = await _person()
    await _signed_in(client, coordinator)
    assert (await client.get(f"/leads/{lead.id}")).status_code == 200
    _is_one_view(await _views(), lead, "page", actor_user_id=coordinator.id)


async def test_the_person_page_shows_nothing_new_after_a_view(client, make_caller):
    coordinator = (await make_caller(Role.COORDINATOR)).user
    lead = await _person()
    await _signed_in(client, coordinator)
    first = await client.get(f"/leads/{lead.id}")
    second = await client.get(f"/leads/{lead.id}")
    assert first.text == second.text
    assert len(await _views()) == 2


async def test_the_api_person_writes_one_view_by_the_token_holder(client, make_caller):
    agent = await make_caller(Role.AGENT)
    lead = await _person(reached_by=agent.user)
    assert (await client.get(f"/api/v1/leads/{lead.id}", headers=agent.headers)).status_code == 200
    _is_one_view(await _views(), lead, "api", actor_user_id=agent.user.id)


async def test_a_partner_key_reading_its_referrals_person_is_audited_with_its_organisation(
    client, make_caller, make_partner
):
    cpas = await make_partner("CPAS de Saint-Gilles")
    key = await make_caller(Role.PARTNER, organisation=cpas)
    lies = await partner_user(cpas, "lies@cpas.example.org")
    referral = await sent_by_partner(lies, "Fatou", phone="+32470555111")
    response = await client.get(f"/api/v1/leads/{referral.lead_id}", headers=key.headers)
    assert response.status_code == 200
    lead = await Lead.get(id=referral.lead_id)
    _is_one_view(await _views(), lead, "api", actor_organisation_id=cpas.id, actor_user_id=None)


async def test_the_timeline_writes_one_view(client, make_caller):
    marketing = await make_caller(Role.MARKETING)
    lead = await _person()
    response = await client.get(f"/api/v1/leads/{lead.id}/timeline", headers=marketing.headers)
    assert response.status_code == 200
    _is_one_view(await _views(), lead, "timeline", actor_user_id=marketing.user.id)


async def test_the_messages_write_one_view(client, make_caller):
    admin = await make_caller(Role.ADMIN)
    lead = await _person()
    response = await client.get(f"/api/v1/leads/{lead.id}/messages", headers=admin.headers)
    assert response.status_code == 200
    _is_one_view(await _views(), lead, "messages", actor_user_id=admin.user.id)


async def test_the_field_apps_person_page_writes_one_view(client, make_caller):
    agent = (await make_caller(Role.AGENT)).user
    lead = await _person(reached_by=agent)
    await _signed_in(client, agent)
    assert (await client.get(f"/field/people/{lead.id}")).status_code == 200
    _is_one_view(await _views(), lead, "field", actor_user_id=agent.id)


async def test_the_partner_portals_referral_page_writes_one_view_of_its_person(
    client, make_partner
):
    cpas = await make_partner("CPAS de Saint-Gilles")
    lies = await partner_user(cpas, "lies@cpas.example.org")
    referral = await sent_by_partner(lies, "Fatou", phone="+32470555111")
    await _signed_in(client, lies)
    assert (await client.get(f"/partner/referrals/{referral.id}")).status_code == 200
    lead = await Lead.get(id=referral.lead_id)
    _is_one_view(
        await _views(), lead, "partner_portal", actor_user_id=lies.id, actor_organisation_id=cpas.id
    )


async def test_a_person_out_of_sight_writes_no_view(client, make_caller):
    agent = await make_caller(Role.AGENT)
    lead = await _person()  # reached by no one: not this agent's
    assert (await client.get(f"/api/v1/leads/{lead.id}", headers=agent.headers)).status_code == 404
    assert (
        await client.get(f"/api/v1/leads/{lead.id}/timeline", headers=agent.headers)
    ).status_code == 404
    assert await _views() == []


async def test_lists_of_people_write_no_view(client, make_caller):
    agent = await make_caller(Role.AGENT)
    await _person(reached_by=agent.user)
    await _person(reached_by=agent.user, first_name="Jan")
    assert (await client.get("/api/v1/leads", headers=agent.headers)).json()["total"] == 2
    await _signed_in(client, agent.user)
    assert (await client.get("/leads")).status_code == 200
    assert (await client.get("/field/people")).status_code == 200
    assert await _views() == []


async def test_the_refused_rows_of_an_import_are_an_audited_export(client, make_caller):
    coordinator = (await make_caller(Role.COORDINATOR)).user
    job = await ImportJob.create(
        filename="market.csv",
        file_format="csv",
        file_sha256="0" * 64,
        content=b"first_name;phone\nAmina;0470\n",
        mapping={"first_name": "first_name", "phone": "phone"},
        status=ImportStatus.DONE,
    )
    await ImportRowReport.create(
        job=job,
        row_number=2,
        outcome=ImportRowOutcome.REFUSED,
        field="phone",
        message="not a phone number",
        values={"first_name": "Amina", "phone": "0470"},
    )
    await _signed_in(client, coordinator)
    download = await client.get(f"/imports/{job.id}/refused.csv")
    assert download.status_code == 200 and "Amina" in download.text
    (entry,) = await AuditEntry.filter(action="export.import_refused")
    assert (entry.entity, entry.entity_id) == ("import_job", job.id)
    assert entry.actor_user_id == coordinator.id
    assert entry.changes == {"format": "csv", "rows": 1}


async def test_the_inbox_thread_writes_one_view(client, make_caller):
    coordinator = (await make_caller(Role.COORDINATOR)).user
    lead = await _person()
    await _signed_in(client, coordinator)
    assert (await client.get(f"/inbox/{lead.id}")).status_code == 200
    _is_one_view(await _views(), lead, "inbox", actor_user_id=coordinator.id)


async def test_the_staff_referral_page_writes_one_view_of_its_person(
    client, make_partner, make_caller
):
    cpas = await make_partner("CPAS d'Ixelles")
    lies = await partner_user(cpas, "lies@cpas-ixelles.example.org")
    referral = await sent_by_partner(lies, "Fatou", phone="+32470555112")
    coordinator = (await make_caller(Role.COORDINATOR)).user
    await _signed_in(client, coordinator)
    assert (await client.get(f"/referrals/{referral.id}")).status_code == 200
    lead = await Lead.get(id=referral.lead_id)
    _is_one_view(await _views(), lead, "referral", actor_user_id=coordinator.id)
