from __future__ import annotations

import asyncio

from crm.audit.models import AuditEntry
from crm.enums import Role
from crm.outreach.models import EventRegistration

INFO_SESSION = {
    "kind": "info_session",
    "title": "Séance d'info microcrédit",
    "starts_at": "2026-12-03T18:00:00",
    "place": "Maison de quartier",
    "postcode": "1080",
}


async def _event(client, caller) -> dict:
    response = await client.post("/api/v1/events", headers=caller.headers, json=INFO_SESSION)
    assert response.status_code == 201, response.text
    return response.json()


async def _lead(client, caller, **fields) -> dict:
    body = {"first_name": "Samira", "last_name": "El Idrissi", "phone": "0470 12 34 56", **fields}
    response = await client.post("/api/v1/leads", headers=caller.headers, json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


def _url(event: dict, lead_id: int | None = None) -> str:
    url = f"/api/v1/events/{event['id']}/registrations"
    return url if lead_id is None else f"{url}/{lead_id}"


async def test_register_a_person_and_list_the_event_registrations(client, admin):
    event = await _event(client, admin)
    lead = await _lead(client, admin)

    created = await client.post(_url(event), headers=admin.headers, json={"lead_id": lead["id"]})

    assert created.status_code == 201, created.text
    registration = created.json()
    assert registration["event_id"] == event["id"]
    assert registration["lead_id"] == lead["id"]
    assert registration["registered_by"] == admin.user.id
    assert registration["attended"] is None
    assert registration["registered_at"]
    listed = (await client.get(_url(event), headers=admin.headers)).json()
    assert listed["total"] == 1
    (item,) = listed["items"]
    assert item["id"] == registration["id"]
    assert (item["first_name"], item["last_name"], item["phone"]) == (
        "Samira",
        "El Idrissi",
        "+32470123456",
    )
    assert await AuditEntry.filter(action="registration.create", lead_id=lead["id"]).exists()


async def test_registering_the_same_person_twice_gives_the_same_registration(client, admin):
    event = await _event(client, admin)
    lead = await _lead(client, admin)
    body = {"lead_id": lead["id"]}

    first = await client.post(_url(event), headers=admin.headers, json=body)
    second = await client.post(_url(event), headers=admin.headers, json=body)

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json() == second.json()
    assert await EventRegistration.filter(event_id=event["id"]).count() == 1


async def test_concurrent_registrations_of_the_same_person_store_one(client, admin):
    event = await _event(client, admin)
    lead = await _lead(client, admin)
    body = {"lead_id": lead["id"]}

    responses = await asyncio.gather(
        *(client.post(_url(event), headers=admin.headers, json=body) for _ in range(5))
    )

    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await EventRegistration.filter(event_id=event["id"]).count() == 1


async def test_registering_an_unknown_person_names_lead_id(client, admin):
    event = await _event(client, admin)

    response = await client.post(_url(event), headers=admin.headers, json={"lead_id": 424242})

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["field"] == "lead_id"


async def test_registering_for_an_unknown_event_is_not_found(client, admin):
    lead = await _lead(client, admin)

    response = await client.post(
        "/api/v1/events/424242/registrations", headers=admin.headers, json={"lead_id": lead["id"]}
    )

    assert response.status_code == 404, response.text


async def test_mark_a_registered_person_as_attended(client, admin):
    event = await _event(client, admin)
    lead = await _lead(client, admin)
    await client.post(_url(event), headers=admin.headers, json={"lead_id": lead["id"]})

    marked = await client.patch(
        _url(event, lead["id"]), headers=admin.headers, json={"attended": True}
    )

    assert marked.status_code == 200, marked.text
    assert marked.json()["attended"] is True
    listed = (await client.get(_url(event), headers=admin.headers)).json()
    assert listed["items"][0]["attended"] is True
    timeline = (
        await client.get(f"/api/v1/leads/{lead['id']}/timeline", headers=admin.headers)
    ).json()["items"]
    (entry,) = [i for i in timeline if i["type"] == "registration"]
    assert entry["data"]["event_id"] == event["id"] and entry["data"]["attended"] is True


async def test_delete_a_registration(client, admin):
    event = await _event(client, admin)
    lead = await _lead(client, admin)
    await client.post(_url(event), headers=admin.headers, json={"lead_id": lead["id"]})

    deleted = await client.delete(_url(event, lead["id"]), headers=admin.headers)
    again = await client.delete(_url(event, lead["id"]), headers=admin.headers)

    assert deleted.status_code == 204, deleted.text
    assert again.status_code == 404, again.text
    assert (await client.get(_url(event), headers=admin.headers)).json()["total"] == 0
    assert await AuditEntry.filter(action="registration.delete", lead_id=lead["id"]).exists()


async def test_partner_may_not_touch_registrations(client, admin, make_caller):
    partner = await make_caller(Role.PARTNER)
    event = await _event(client, admin)
    lead = await _lead(client, admin)
    await client.post(_url(event), headers=admin.headers, json={"lead_id": lead["id"]})

    for method, url, body in [
        ("GET", _url(event), None),
        ("POST", _url(event), {"lead_id": lead["id"]}),
        ("PATCH", _url(event, lead["id"]), {"attended": False}),
        ("DELETE", _url(event, lead["id"]), None),
    ]:
        response = await client.request(method, url, headers=partner.headers, json=body)
        assert response.status_code == 403, (method, url, response.text)


async def test_agent_registers_only_their_own_people_for_events_they_work(client, make_caller):
    fatima = await make_caller(Role.AGENT)
    joris = await make_caller(Role.AGENT)
    event = await _event(client, fatima)
    hers = await _lead(client, fatima)
    his = await _lead(client, joris, first_name="Luc", phone="0471 00 00 01")

    assert (
        await client.post(_url(event), headers=fatima.headers, json={"lead_id": hers["id"]})
    ).status_code == 201
    not_hers = await client.post(_url(event), headers=fatima.headers, json={"lead_id": his["id"]})
    not_his_event = await client.post(
        _url(event), headers=joris.headers, json={"lead_id": his["id"]}
    )

    assert not_hers.status_code == 422 and not_hers.json()["detail"][0]["field"] == "lead_id"
    assert not_his_event.status_code == 404


async def test_bad_registration_body_is_422_naming_the_field(client, admin):
    event = await _event(client, admin)
    lead = await _lead(client, admin)
    await client.post(_url(event), headers=admin.headers, json={"lead_id": lead["id"]})

    for method, url, body, field in [
        ("POST", _url(event), {"lead_id": "abc"}, "lead_id"),
        ("POST", _url(event), {}, "lead_id"),
        ("POST", _url(event), {"lead_id": 2**40}, "lead_id"),
        ("PATCH", _url(event, lead["id"]), {"attended": "maybe"}, "attended"),
        ("PATCH", _url(event, lead["id"]), {}, "attended"),
    ]:
        response = await client.request(method, url, headers=admin.headers, json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in {e["field"] for e in response.json()["detail"]}, response.text
