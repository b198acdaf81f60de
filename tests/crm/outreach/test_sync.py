"""The field app's sync endpoint (POST /api/v1/sync and its page-session twin /field/sync):
idempotent per client_id, conflicts shown and never written over, one refused item alone."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from crm.audit.models import AuditEntry
from crm.enums import Role
from crm.outreach.models import Interaction, SyncReceipt
from crm.people.models import ConsentRecord, Lead, LeadSegment, Stage
from tests.conftest import IS_POSTGRES


def _id() -> str:
    return str(uuid.uuid4())


def contact(**overrides) -> dict:
    person = {"first_name": "Amina", "phone": "0470 12 34 56", "language": "fr"}
    person.update(overrides.pop("person", {}))
    return {
        "type": "contact",
        "client_id": _id(),
        "person": person,
        "interest": "high",
        "consents": [
            {"purpose": "sms", "granted": True},
            {"purpose": "share_with_partners", "granted": False},
        ],
        "consent_text_version": "2026-11/fr",
        "notes": "wants to open a tailoring workshop",
        **overrides,
    }


async def sync(client, caller, *items) -> list[dict]:
    response = await client.post("/api/v1/sync", headers=caller.headers, json={"items": items})
    assert response.status_code == 200, response.text
    return response.json()["results"]


@pytest.fixture
async def agent(app, make_caller):
    return await make_caller(Role.AGENT)


async def test_a_contact_creates_the_person_with_consents_and_the_meeting(client, agent):
    item = contact(person={"segments": ["women"], "postcode": "1060"})
    (result,) = await sync(client, agent, item)
    assert result["status"] == "stored" and result["duplicate"] is False
    lead = await Lead.get(id=result["lead_id"])
    assert (lead.first_name, lead.phone, lead.stage) == ("Amina", "+32470123456", Stage.LEAD)
    assert lead.reached_by_id == agent.user.id and lead.region == "brussels"
    assert await LeadSegment.filter(lead_id=lead.id).values_list("code", flat=True) == ["women"]
    consents = await ConsentRecord.filter(lead_id=lead.id).order_by("purpose")
    assert [(c.purpose, c.granted, c.text_version, c.method) for c in consents] == [
        ("share_with_partners", False, "2026-11/fr", "verbal"),
        ("sms", True, "2026-11/fr", "verbal"),
    ]
    interaction = await Interaction.get(id=result["interaction_id"])
    assert (interaction.kind, interaction.channel, interaction.interest) == (
        "contact",
        "in_person",
        "high",
    )
    assert str(interaction.client_id) == item["client_id"]
    assert interaction.author_id == agent.user.id


async def test_the_same_items_sent_twice_are_stored_once(client, agent):
    first = contact()
    follow = {
        "type": "interaction",
        "client_id": _id(),
        "lead_client_id": first["client_id"],
        "kind": "call",
        "channel": "phone",
        "notes": "called back",
    }
    once = await sync(client, agent, first, follow)
    again = await sync(client, agent, first, follow)
    assert [r["status"] for r in once] == ["stored", "stored"]
    assert [r["status"] for r in again] == ["already_stored", "already_stored"]
    assert [r["lead_id"] for r in again] == [r["lead_id"] for r in once]
    assert [r["interaction_id"] for r in again] == [r["interaction_id"] for r in once]
    assert await Lead.all().count() == 1
    assert await Interaction.all().count() == 2
    assert await ConsentRecord.all().count() == 2
    assert await SyncReceipt.all().count() == 2


async def test_concurrent_sends_of_one_item_store_it_once(client, agent):
    item = contact(person={"phone": None})  # no phone: only the receipt can stop a double
    results = await asyncio.gather(*(sync(client, agent, item) for _ in range(4)))
    statuses = sorted(r[0]["status"] for r in results)
    assert statuses.count("stored") == 1, statuses
    assert set(statuses) <= {"stored", "already_stored"}
    assert await Lead.all().count() == 1
    assert await Interaction.all().count() == 1


async def test_a_known_phone_adds_to_the_person_and_reports_what_differs(client, agent, admin):
    (first,) = await sync(client, admin, contact(person={"first_name": "Fatma", "language": "nl"}))
    (second,) = await sync(
        client,
        agent,
        contact(person={"first_name": "Fatima", "phone": "+32 470 12 34 56", "language": "fr"}),
    )
    assert second["status"] == "stored" and second["duplicate"] is True
    assert second["lead_id"] == first["lead_id"]
    assert second["differences"] == [
        {"field": "first_name", "yours": "Fatima", "server": "Fatma"},
        {"field": "language", "yours": "fr", "server": "nl"},
    ]
    lead = await Lead.get(id=first["lead_id"])
    assert (lead.first_name, lead.language) == ("Fatma", "nl")  # not overwritten
    assert await Interaction.filter(lead_id=lead.id).count() == 2
    # The agent now sees the person they met.
    assert (await client.get(f"/api/v1/leads/{lead.id}", headers=agent.headers)).status_code == 200


async def test_a_contact_added_to_the_chosen_existing_person(client, agent, admin):
    (first,) = await sync(client, admin, contact(person={"phone": None, "first_name": "Yusuf"}))
    item = contact(lead_id=first["lead_id"], person={"first_name": "Yusuf", "phone": None})
    (result,) = await sync(client, agent, item)
    # Admin's person is not the agent's yet and no phone ties them: the choice is refused.
    assert result["status"] == "refused" and result["field"] == "lead_id"
    (chosen,) = await sync(client, admin, contact(lead_id=first["lead_id"], person={"phone": None}))
    assert chosen["status"] == "stored" and chosen["duplicate"] is True
    assert await Lead.all().count() == 1


async def test_update_applies_when_nothing_changed_meanwhile(client, agent):
    (made,) = await sync(client, agent, contact())
    (result,) = await sync(
        client,
        agent,
        {
            "type": "update",
            "client_id": _id(),
            "lead_id": made["lead_id"],
            "changes": {"stage": "info_session", "follow_up_on": "2026-12-01"},
            "base": {"stage": "lead", "follow_up_on": None},
        },
    )
    assert result["status"] == "stored", result
    lead = await Lead.get(id=made["lead_id"])
    assert lead.stage == Stage.INFO_SESSION and str(lead.follow_up_on) == "2026-12-01"


async def test_update_conflicts_when_the_server_changed_the_same_field(client, agent, admin):
    (made,) = await sync(client, agent, contact())
    lead_id = made["lead_id"]
    moved = await client.patch(
        f"/api/v1/leads/{lead_id}", headers=admin.headers, json={"stage": "coached"}
    )
    assert moved.status_code == 200
    offline_edit = {
        "type": "update",
        "client_id": _id(),
        "lead_id": lead_id,
        "changes": {"stage": "lost", "lost_reason": "moved away", "follow_up_on": "2026-12-01"},
        "base": {"stage": "lead", "lost_reason": None, "follow_up_on": None},
    }
    (result,) = await sync(client, agent, offline_edit)
    assert result["status"] == "conflict"
    assert result["conflicts"] == [
        {"field": "stage", "yours": "lost", "base": "lead", "server": "coached"}
    ]
    lead = await Lead.get(id=lead_id)
    assert lead.stage == Stage.COACHED and lead.follow_up_on is None  # nothing applied
    assert await SyncReceipt.filter(client_id=offline_edit["client_id"]).count() == 0
    # "Use mine": a new item whose base is what the server showed.
    mine = {
        **offline_edit,
        "client_id": _id(),
        "base": {**offline_edit["base"], "stage": "coached"},
    }
    (applied,) = await sync(client, agent, mine)
    assert applied["status"] == "stored"
    lead = await Lead.get(id=lead_id)
    assert (lead.stage, lead.lost_reason) == (Stage.LOST, "moved away")


async def test_a_server_change_to_another_field_is_not_a_conflict(client, agent, admin):
    (made,) = await sync(client, agent, contact())
    lead_id = made["lead_id"]
    await client.patch(f"/api/v1/leads/{lead_id}", headers=admin.headers, json={"last_name": "B"})
    await client.patch(
        f"/api/v1/leads/{lead_id}", headers=admin.headers, json={"follow_up_on": "2026-12-05"}
    )
    (result,) = await sync(
        client,
        agent,
        # The agent set the same follow-up the coordinator did: no conflict either.
        {
            "type": "update",
            "client_id": _id(),
            "lead_id": lead_id,
            "changes": {"stage": "contacted", "follow_up_on": "2026-12-05"},
            "base": {"stage": "lead", "follow_up_on": None},
        },
    )
    assert result["status"] == "stored", result
    lead = await Lead.get(id=lead_id)
    assert (lead.stage, lead.last_name) == (Stage.CONTACTED, "B")


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (contact(person={"phone": "12"}), "person.phone"),
        (contact(person={"first_name": "  "}), "person.first_name"),
        (contact(event_id=999_999), "event_id"),
        (contact(consent_text_version=None), "consent_text_version"),
        (contact(consent_text_version="1999-01/fr"), "consent_text_version"),
        (contact(person={"segments": ["no-such-segment"]}), "person.segments"),
        (contact(client_id="not-a-uuid"), "client_id"),
        (contact(person={"language": "en"}), "person.language"),
        ({**contact(), "extra": 1}, "extra"),
        (
            {"type": "interaction", "client_id": _id(), "kind": "call", "channel": "phone"},
            "lead_id",
        ),
        (
            {
                "type": "interaction",
                "client_id": _id(),
                "lead_client_id": _id(),
                "kind": "call",
                "channel": "phone",
            },
            "lead_client_id",
        ),
        (
            {"type": "update", "client_id": _id(), "lead_id": 1, "changes": {"stage": "lost"}},
            "base.stage",
        ),
        ({"type": "teleport", "client_id": _id()}, "type"),
    ],
)
async def test_bad_items_are_refused_naming_the_field_and_nothing_is_stored(
    client, agent, item, field
):
    (result,) = await sync(client, agent, item)
    assert result["status"] == "refused", result
    assert result["field"] == field, result
    assert result["detail"]
    assert await Lead.all().count() == 0
    assert await Interaction.all().count() == 0
    assert await SyncReceipt.all().count() == 0


async def test_a_lost_stage_without_a_reason_is_refused(client, agent):
    (made,) = await sync(client, agent, contact())
    (result,) = await sync(
        client,
        agent,
        {
            "type": "update",
            "client_id": _id(),
            "lead_id": made["lead_id"],
            "changes": {"stage": "lost"},
            "base": {"stage": "lead"},
        },
    )
    assert (result["status"], result["field"]) == ("refused", "lost_reason")
    assert (await Lead.get(id=made["lead_id"])).stage == Stage.LEAD


async def test_one_refused_item_does_not_stop_the_others(client, agent):
    good, bad, also_good = (
        contact(),
        contact(person={"phone": "0000"}),
        contact(
            person={"first_name": "Lies", "phone": "0486 11 22 33", "language": "nl"},
            consent_text_version="2026-11/nl",
        ),
    )
    results = await sync(client, agent, good, bad, also_good)
    assert [r["status"] for r in results] == ["stored", "refused", "stored"]
    assert await Lead.all().count() == 2
    # The refused one, fixed, can be sent again with the same client_id.
    fixed = {**bad, "person": {**bad["person"], "phone": "0499 99 88 77"}}
    (again,) = await sync(client, agent, fixed)
    assert again["status"] == "stored"


async def test_an_agent_cannot_touch_a_person_they_do_not_see(client, agent, admin):
    (made,) = await sync(client, admin, contact(person={"phone": None}))
    (result,) = await sync(
        client,
        agent,
        {
            "type": "interaction",
            "client_id": _id(),
            "lead_id": made["lead_id"],
            "kind": "note",
            "channel": "other",
        },
    )
    assert (result["status"], result["field"]) == ("refused", "lead_id")


async def test_replaying_another_users_client_id_is_refused(client, agent, make_caller):
    other = await make_caller(Role.AGENT)
    item = contact()
    assert (await sync(client, agent, item))[0]["status"] == "stored"
    (result,) = await sync(client, other, item)
    assert (result["status"], result["field"]) == ("refused", "client_id")


async def test_envelope_errors_and_roles(client, agent, make_caller):
    assert (await client.post("/api/v1/sync", json={"items": [contact()]})).status_code == 401
    marketing = await make_caller(Role.MARKETING)
    partner = await make_caller(Role.PARTNER)
    for caller in (marketing, partner):
        response = await client.post(
            "/api/v1/sync", headers=caller.headers, json={"items": [contact()]}
        )
        assert response.status_code == 403
    for body in ({}, {"items": []}, {"items": [contact()] * 101}, {"items": "x"}):
        response = await client.post("/api/v1/sync", headers=agent.headers, json=body)
        assert response.status_code == 422, body
    assert await Lead.all().count() == 0


async def test_sync_is_audited_like_every_other_change(client, agent):
    (result,) = await sync(client, agent, contact())
    actions = set(
        await AuditEntry.filter(lead_id=result["lead_id"]).values_list("action", flat=True)
    )
    assert {"lead.create", "consent.granted", "consent.withdrawn", "interaction.create"} <= actions


@pytest.mark.skipif(not IS_POSTGRES, reason="two connections racing needs PostgreSQL")
async def test_postgres_two_devices_logging_the_same_phone_make_one_person(
    client, agent, make_caller
):
    other = await make_caller(Role.AGENT)
    items = [contact(), contact(person={"first_name": "Amina B"})]
    results = await asyncio.gather(sync(client, agent, items[0]), sync(client, other, items[1]))
    assert sorted(r[0]["status"] for r in results) == ["stored", "stored"]
    assert await Lead.all().count() == 1
    assert await Interaction.all().count() == 2
