from __future__ import annotations

import pytest

from crm.audit.models import AuditEntry
from crm.enums import Role
from crm.people.models import ConsentRecord, Lead

URL = "/api/v1/leads"


async def post(client, caller, **body):
    return await client.post(URL, headers=caller.headers, json=body)


def field_of(response) -> set[str]:
    return {e["field"] for e in response.json()["detail"]}


@pytest.mark.parametrize(
    "raw", ["0470 12 34 56", "+32 470 12 34 56", "0032 470 12 34 56", "0470/12.34.56"]
)
async def test_belgian_formats_are_stored_in_e164(client, admin, raw):
    response = await post(client, admin, first_name="Amina", phone=raw)
    assert response.status_code == 201, response.text
    assert response.json()["phone"] == "+32470123456"


async def test_foreign_number_is_kept_in_e164(client, admin):
    response = await post(client, admin, first_name="Lucie", phone="+33 6 12 34 56 78")
    assert response.json()["phone"] == "+33612345678"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"first_name": "A", "phone": "0470 12"}, "phone"),
        ({"first_name": "A", "phone": "hello"}, "phone"),
        ({"first_name": "A", "language": "es"}, "language"),
        ({"first_name": "A", "postcode": "75001"}, "postcode"),
        ({"first_name": "A", "event_id": 12345}, "event_id"),
        ({"first_name": "A", "referring_partner_id": 12345}, "referring_partner_id"),
        ({"first_name": "A", "assigned_agent_id": 12345}, "assigned_agent_id"),
        ({"first_name": "A", "segments": ["astronauts"]}, "segments"),
        ({"first_name": "x" * 101}, "first_name"),
        ({"first_name": ""}, "first_name"),
        ({"last_name": "Nobody"}, "first_name"),
        ({"first_name": "A", "email": "not-an-email"}, "email"),
        ({"first_name": "A", "stage": "lost"}, "lost_reason"),
        ({"first_name": "A", "stage": "millionaire"}, "stage"),
        ({"first_name": "A", "notes": "n" * 5001}, "notes"),
        ({"first_name": "A", "birth_year": 1800}, "birth_year"),
        ({"first_name": "A", "favourite_colour": "blue"}, "favourite_colour"),
        (
            {"first_name": "A", "consents": [{"purpose": "telepathy", "granted": True}]},
            "consents.0.purpose",
        ),
    ],
)
async def test_bad_input_names_the_field_and_stores_nothing(client, admin, body, field):
    response = await client.post(URL, headers=admin.headers, json=body)
    assert response.status_code == 422, response.text
    assert field in field_of(response)
    assert await Lead.all().count() == 0
    assert await ConsentRecord.all().count() == 0


async def test_malformed_json_is_a_422_naming_the_body(client, admin):
    response = await client.post(
        URL,
        headers={**admin.headers, "Content-Type": "application/json"},
        content=b'{"first_name": "Amina",',
    )
    assert response.status_code == 422
    assert "malformed JSON" in response.json()["detail"][0]["msg"]
    assert await Lead.all().count() == 0


async def test_postcode_gives_region_language_and_employment_service(client, admin):
    eupen = (await post(client, admin, first_name="Jonas", postcode="4700")).json()
    assert (eupen["region"], eupen["language"], eupen["employment_service"]) == (
        "german_speaking",
        "de",
        "ADG",
    )
    liege = (await post(client, admin, first_name="Chloé", postcode="4000")).json()
    assert (liege["region"], liege["language"], liege["employment_service"]) == (
        "wallonia",
        "fr",
        "Forem",
    )
    gent = (await post(client, admin, first_name="Lotte", postcode="9000")).json()
    assert (gent["region"], gent["language"], gent["employment_service"]) == (
        "flanders",
        "nl",
        "VDAB",
    )
    brussels = (await post(client, admin, first_name="Yasmine", postcode="1080")).json()
    assert (brussels["region"], brussels["language"], brussels["employment_service"]) == (
        "brussels",
        None,
        "Actiris",
    )  # Brussels is bilingual: the person chooses
    chosen = (await post(client, admin, first_name="Sam", postcode="1000", language="nl")).json()
    assert chosen["language"] == "nl"


async def test_duplicate_by_phone_adds_facts_without_overwriting(client, admin):
    first = await post(
        client,
        admin,
        first_name="Amina",
        phone="0470123456",
        segments=["women"],
        project_sector="catering",
    )
    again = await post(
        client,
        admin,
        first_name="Aminata",
        last_name="Diallo",
        phone="+32470123456",
        segments=["single_parent"],
        project_sector="retail",
        email="amina@example.org",
    )
    assert again.status_code == 200
    body = again.json()
    assert body["duplicate"] is True and body["id"] == first.json()["id"]
    assert body["first_name"] == "Amina"  # not overwritten
    assert body["project_sector"] == "catering"  # not overwritten
    assert body["last_name"] == "Diallo" and body["email"] == "amina@example.org"  # added
    assert body["segments"] == ["single_parent", "women"]
    assert await Lead.all().count() == 1
    logged = await AuditEntry.filter(action="lead.duplicate_match", lead_id=body["id"]).first()
    assert logged is not None and "last_name" in logged.changes["added"]


async def test_duplicate_by_email_then_by_telegram_chat(client, admin):
    by_mail = await post(client, admin, first_name="Eva", email="Eva@Example.org")
    same = await post(client, admin, first_name="Eva", email="eva@example.org")
    assert same.status_code == 200 and same.json()["id"] == by_mail.json()["id"]
    by_chat = await post(client, admin, first_name="Omar", telegram_chat_id=987654321)
    again = await post(client, admin, first_name="Omar", telegram_chat_id=987654321)
    assert again.status_code == 200 and again.json()["id"] == by_chat.json()["id"]


async def test_consents_are_a_ledger_with_the_latest_entry_current(client, admin):
    created = (
        await post(
            client,
            admin,
            first_name="Nadia",
            phone="0486 11 22 33",
            consents=[
                {"purpose": "sms", "granted": True, "method": "verbal", "text_version": "2026-10"},
                {"purpose": "share_with_partners", "granted": False},
            ],
        )
    ).json()
    assert {(c["purpose"], c["granted"]) for c in created["consents"]} == {
        ("sms", True),
        ("share_with_partners", False),
    }
    withdrawn = await client.post(
        f"{URL}/{created['id']}/consents",
        headers=admin.headers,
        json={"purpose": "sms", "granted": False, "method": "call"},
    )
    assert withdrawn.status_code == 201
    assert {c["purpose"]: c["granted"] for c in withdrawn.json()["consents"]}["sms"] is False
    ledger = await ConsentRecord.filter(lead_id=created["id"], purpose="sms").order_by("id")
    assert [r.granted for r in ledger] == [True, False]
    assert ledger[0].text_version == "2026-10" and ledger[0].recorded_by_id == admin.user.id


async def test_stage_change_needs_a_reason_for_lost_and_shows_in_timeline(client, admin):
    lead = (await post(client, admin, first_name="Karim")).json()
    refused = await client.patch(
        f"{URL}/{lead['id']}", headers=admin.headers, json={"stage": "lost"}
    )
    assert refused.status_code == 422 and "lost_reason" in field_of(refused)
    moved = await client.patch(
        f"{URL}/{lead['id']}",
        headers=admin.headers,
        json={"stage": "lost", "lost_reason": "moved abroad"},
    )
    assert moved.status_code == 200 and moved.json()["lost_reason"] == "moved abroad"
    timeline = (await client.get(f"{URL}/{lead['id']}/timeline", headers=admin.headers)).json()
    stages = [i for i in timeline["items"] if i["type"] == "stage_change"]
    assert stages[0]["data"]["to"] == "lost" and stages[0]["data"]["reason"] == "moved abroad"


async def test_update_refuses_a_phone_that_belongs_to_someone_else(client, admin):
    await post(client, admin, first_name="A", phone="0470 00 00 01")
    b = (await post(client, admin, first_name="B", phone="0470 00 00 02")).json()
    response = await client.patch(
        f"{URL}/{b['id']}", headers=admin.headers, json={"phone": "+32470000001"}
    )
    assert response.status_code == 422 and "phone" in field_of(response)


async def test_list_filters_and_pagination(client, admin):
    await post(client, admin, first_name="Ann", postcode="9000", segments=["women"])
    await post(client, admin, first_name="Bea", postcode="4000", segments=["youth", "women"])
    await post(client, admin, first_name="Cem", postcode="1030", language="fr", stage="contacted")
    await post(client, admin, first_name="Dirk", postcode="2000", segments=["over_50"])
    await post(client, admin, first_name="Amina", last_name="Benali", postcode="1060")

    async def names(**params):
        r = await client.get(URL, headers=admin.headers, params=params)
        assert r.status_code == 200, r.text
        return sorted(i["first_name"] for i in r.json()["items"]), r.json()["total"]

    assert await names(q="amina benali") == (["Amina"], 1)  # every word, first or last name
    assert await names(q="Benali Amina") == (["Amina"], 1)
    assert await names(q="Amina Peeters") == ([], 0)
    assert await names(language="nl") == (["Ann", "Dirk"], 2)
    assert await names(segment="women") == (["Ann", "Bea"], 2)
    assert await names(segment=["youth", "over_50"]) == (["Bea", "Dirk"], 2)
    assert await names(region="brussels") == (["Amina", "Cem"], 2)
    assert await names(stage="contacted") == (["Cem"], 1)
    assert await names(postcode="4000") == (["Bea"], 1)
    assert await names(q="dir") == (["Dirk"], 1)
    page = await client.get(URL, headers=admin.headers, params={"limit": 2, "offset": 1})
    assert len(page.json()["items"]) == 2 and page.json()["total"] == 5
    too_big = await client.get(URL, headers=admin.headers, params={"limit": 501})
    assert too_big.status_code == 422 and "limit" in field_of(too_big)
    bad_stage = await client.get(URL, headers=admin.headers, params={"stage": "rich"})
    assert bad_stage.status_code == 422 and "stage.0" in field_of(bad_stage)


async def test_agent_sees_only_people_they_reached_or_are_assigned(client, make_caller):
    joris = await make_caller(Role.AGENT)
    fatima = await make_caller(Role.AGENT)
    coordinator = await make_caller(Role.COORDINATOR)
    mine = (await post(client, joris, first_name="Mine")).json()
    theirs = (await post(client, fatima, first_name="Theirs")).json()
    assigned = (
        await post(client, coordinator, first_name="Assigned", assigned_agent_id=joris.user.id)
    ).json()
    listed = (await client.get(URL, headers=joris.headers)).json()
    assert sorted(i["id"] for i in listed["items"]) == sorted([mine["id"], assigned["id"]])
    assert (await client.get(f"{URL}/{theirs['id']}", headers=joris.headers)).status_code == 404
    everyone = (await client.get(URL, headers=coordinator.headers)).json()
    assert everyone["total"] == 3


async def test_marketing_reads_people_without_free_text(client, admin, make_caller):
    marketing = await make_caller(Role.MARKETING)
    lead = (
        await post(
            client,
            admin,
            first_name="Rita",
            notes="lives with her sister",
            project_summary="a sewing workshop",
        )
    ).json()
    seen = (await client.get(f"{URL}/{lead['id']}", headers=marketing.headers)).json()
    assert seen["notes"] is None and seen["project_summary"] is None
    await client.post(
        f"{URL}/{lead['id']}/interactions",
        headers=admin.headers,
        json={"kind": "call", "channel": "phone", "notes": "private detail"},
    )
    timeline = (await client.get(f"{URL}/{lead['id']}/timeline", headers=marketing.headers)).json()
    assert "private detail" not in str(timeline)
    assert (
        await client.post(URL, headers=marketing.headers, json={"first_name": "X"})
    ).status_code == 403


async def test_every_change_to_a_person_is_audited(client, admin):
    lead = (await post(client, admin, first_name="Zoé", phone="0499 12 34 56")).json()
    await client.patch(f"{URL}/{lead['id']}", headers=admin.headers, json={"postcode": "5000"})
    actions = (
        await AuditEntry.filter(lead_id=lead["id"])
        .order_by("id")
        .values_list("action", "actor_user_id")
    )
    assert [a for a, _ in actions] == ["lead.create", "lead.update"]
    assert {u for _, u in actions} == {admin.user.id}
    update = await AuditEntry.get(lead_id=lead["id"], action="lead.update")
    assert update.changes["postcode"] == {"from": None, "to": "5000"}
    assert update.changes["language"] == {"from": None, "to": "fr"}


async def test_one_update_moves_the_stage_and_changes_other_fields(client, admin):
    lead = (await post(client, admin, first_name="Ines")).json()
    await client.post(
        f"{URL}/{lead['id']}/interactions",
        headers=admin.headers,
        json={"kind": "call", "channel": "phone", "occurred_at": "2026-11-02T10:00:00+00:00"},
    )
    response = await client.patch(
        f"{URL}/{lead['id']}",
        headers=admin.headers,
        json={"stage": "contacted", "postcode": "6000", "project_sector": "tailoring"},
    )
    body = response.json()
    assert (body["stage"], body["postcode"], body["language"], body["project_sector"]) == (
        "contacted",
        "6000",
        "fr",
        "tailoring",
    )
    assert body["last_contacted_at"].startswith("2026-11-02T10:00:00")
    stored = await Lead.get(id=lead["id"])
    assert (stored.stage, stored.postcode, stored.project_sector) == (
        "contacted",
        "6000",
        "tailoring",
    )


async def test_simultaneous_posts_of_one_phone_make_one_person(client, admin):
    import asyncio

    bodies = [{"first_name": f"Twin {i}", "phone": "0470 99 88 77"} for i in range(8)]
    responses = await asyncio.gather(
        *(client.post(URL, headers=admin.headers, json=body) for body in bodies)
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 7 + [201], [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await Lead.filter(phone="+32470998877").count() == 1
