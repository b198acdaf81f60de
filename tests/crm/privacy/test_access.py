"""Access and portability: everything about a person, from every table that points at them."""

from __future__ import annotations

import json

from crm.audit.models import AuditEntry
from crm.enums import Role
from crm.people.merge import lead_relations
from tests.crm.people.test_merge import rich_pair


async def test_the_answer_holds_every_row_of_every_table_about_the_person(
    client, make_partner, make_caller
):
    pair = await rich_pair(make_partner)
    coordinator = await make_caller(Role.COORDINATOR)
    lead = pair.merged
    expected = {}
    for relation in lead_relations():
        n = await relation.model.filter(**{relation.column: lead.id}).count()
        if n:
            expected[relation.table] = n
    response = await client.get(f"/api/v1/leads/{lead.id}/data", headers=coordinator.headers)
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    data = json.loads(response.content)
    assert data["format"] == "passerelle.person-data/1"
    assert data["person"]["id"] == lead.id and data["person"]["phone"] == "+32470123456"
    records = data["records"]
    for table, n in expected.items():
        assert len(records[table]) == n, table
    # The rich pair puts rows in the outbox, inbox, interactions, consents, referrals,
    # segments, registrations, conversation, sync receipts and the audit trail.
    for table in (
        "outbox_message",
        "inbound_message",
        "interaction",
        "consent_record",
        "referral",
        "lead_segment",
        "event_registration",
        "conversation",
        "sync_receipt",
        "audit_entry",
    ):
        assert records.get(table), table
    # Nothing about the other record of the same person.
    assert all(
        row.get("lead_id") in (None, lead.id)
        for rows in records.values()
        for row in rows
        if "lead_id" in row
    )


async def test_the_access_is_audited(client, make_partner, make_caller):
    pair = await rich_pair(make_partner)
    admin = await make_caller(Role.ADMIN)
    await client.get(f"/api/v1/leads/{pair.kept.id}/data", headers=admin.headers)
    entry = await AuditEntry.get(action="privacy.access", lead_id=pair.kept.id)
    assert entry.actor_user_id == admin.user.id
    assert entry.changes["tables"]["interaction"] == 2


async def test_an_unknown_person_is_a_404_naming_the_id(client, make_caller):
    admin = await make_caller(Role.ADMIN)
    response = await client.get("/api/v1/leads/999999/data", headers=admin.headers)
    assert response.status_code == 404 and "lead_id" in response.text


async def test_only_admins_and_coordinators_answer_rights_requests(
    client, make_partner, make_caller
):
    pair = await rich_pair(make_partner)
    for role in (Role.MARKETING, Role.AGENT, Role.PARTNER):
        caller = await make_caller(role)
        response = await client.get(f"/api/v1/leads/{pair.kept.id}/data", headers=caller.headers)
        assert response.status_code == 403, role
