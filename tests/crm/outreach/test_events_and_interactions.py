from __future__ import annotations

import uuid

from crm.config import settings
from crm.enums import Role
from crm.outreach.models import Interaction

EVENT = {
    "kind": "market_stand",
    "title": "Marché du Midi",
    "starts_at": "2026-11-29T08:00:00",
    "ends_at": "2026-11-29T13:00:00",
    "place": "Gare du Midi",
    "postcode": "1060",
}


async def test_agent_creates_an_event_they_work_and_others_do_not_see_it(client, make_caller):
    fatima = await make_caller(Role.AGENT)
    joris = await make_caller(Role.AGENT)
    created = await client.post("/api/v1/events", headers=fatima.headers, json=EVENT)
    assert created.status_code == 201, created.text
    event = created.json()
    assert event["agent_ids"] == [fatima.user.id]
    assert event["region"] == "brussels"
    assert event["starts_at"].startswith("2026-11-29T07:00:00")  # 08:00 Brussels is 07:00 UTC
    assert (
        await client.get(f"/api/v1/events/{event['id']}", headers=joris.headers)
    ).status_code == 404
    assert (await client.get("/api/v1/events", headers=joris.headers)).json()["total"] == 0


async def test_event_telegram_link_uses_the_bot_username(client, admin, monkeypatch):
    monkeypatch.setattr(settings, "TELEGRAM_BOT_USERNAME", "PasserelleBot")
    event = (await client.post("/api/v1/events", headers=admin.headers, json=EVENT)).json()
    assert event["telegram_link"] == f"https://t.me/PasserelleBot?start=ev_{event['id']}"


async def test_event_bad_input(client, admin):
    for body, field in [
        ({**EVENT, "kind": "rave"}, "kind"),
        ({**EVENT, "ends_at": "2026-11-28T08:00:00"}, "body"),
        ({**EVENT, "partner_id": 4242}, "partner_id"),
        ({**EVENT, "agent_ids": [4242]}, "agent_ids"),
        ({**EVENT, "title": "t" * 201}, "title"),
    ]:
        response = await client.post("/api/v1/events", headers=admin.headers, json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in {e["field"] for e in response.json()["detail"]}, response.text


async def test_the_same_client_id_twice_is_stored_once(client, make_caller):
    agent = await make_caller(Role.AGENT)
    lead = (
        await client.post("/api/v1/leads", headers=agent.headers, json={"first_name": "Samira"})
    ).json()
    body = {
        "kind": "contact",
        "channel": "in_person",
        "notes": "met at the stand",
        "client_id": str(uuid.uuid4()),
        "occurred_at": "2026-11-20T10:15:00+01:00",
    }
    url = f"/api/v1/leads/{lead['id']}/interactions"
    first = await client.post(url, headers=agent.headers, json=body)
    second = await client.post(url, headers=agent.headers, json=body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert await Interaction.filter(lead_id=lead["id"]).count() == 1
    listed = (await client.get(url, headers=agent.headers)).json()
    assert listed["total"] == 1 and listed["items"][0]["notes"] == "met at the stand"
    person = (await client.get(f"/api/v1/leads/{lead['id']}", headers=agent.headers)).json()
    assert person["last_contacted_at"].startswith("2026-11-20T09:15:00")


async def test_a_client_id_reused_for_another_person_is_refused(client, admin):
    a = (await client.post("/api/v1/leads", headers=admin.headers, json={"first_name": "A"})).json()
    b = (await client.post("/api/v1/leads", headers=admin.headers, json={"first_name": "B"})).json()
    body = {"kind": "call", "channel": "phone", "client_id": str(uuid.uuid4())}
    assert (
        await client.post(f"/api/v1/leads/{a['id']}/interactions", headers=admin.headers, json=body)
    ).status_code == 201
    reused = await client.post(
        f"/api/v1/leads/{b['id']}/interactions", headers=admin.headers, json=body
    )
    assert reused.status_code == 422 and reused.json()["detail"][0]["field"] == "client_id"


async def test_timeline_is_newest_first_with_types(client, admin):
    lead = (
        await client.post(
            "/api/v1/leads",
            headers=admin.headers,
            json={"first_name": "Hind", "consents": [{"purpose": "sms", "granted": True}]},
        )
    ).json()
    for when in ("2026-11-01T10:00:00+00:00", "2026-11-03T10:00:00+00:00"):
        await client.post(
            f"/api/v1/leads/{lead['id']}/interactions",
            headers=admin.headers,
            json={"kind": "call", "channel": "phone", "occurred_at": when},
        )
    items = (
        await client.get(f"/api/v1/leads/{lead['id']}/timeline", headers=admin.headers)
    ).json()["items"]
    assert {i["type"] for i in items} == {"interaction", "stage_change", "consent"}
    times = [i["at"] for i in items]
    assert times == sorted(times, reverse=True)
