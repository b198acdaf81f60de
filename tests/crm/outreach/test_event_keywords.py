"""An outreach event's SMS keyword through the API: normalised, checked, made from the title
when not given."""

from __future__ import annotations

import pytest

from crm.enums import Role
from crm.outreach.models import OutreachEvent

EVENT = {
    "kind": "market_stand",
    "title": "Marché du Midi",
    "starts_at": "2026-11-29T08:00:00",
    "postcode": "1060",
}


async def _create(client, caller, **fields):
    return await client.post("/api/v1/events", headers=caller.headers, json={**EVENT, **fields})


def _fields_named(response) -> set[str]:
    return {error["field"] for error in response.json()["detail"]}


async def test_keyword_is_stored_upper_case_without_accents(client, admin):
    response = await _create(client, admin, keyword="  Été2026 ")
    assert response.status_code == 201, response.text
    assert response.json()["keyword"] == "ETE2026"
    assert (await OutreachEvent.get(id=response.json()["id"])).keyword == "ETE2026"


async def test_without_a_keyword_one_is_made_from_the_first_word_of_the_title(client, admin):
    first = (await _create(client, admin)).json()
    assert first["keyword"] == f"MARCHE{first['id']}"
    long_word = (await _create(client, admin, title="Émancipation des femmes")).json()
    assert long_word["keyword"] == f"EMANCIPA{long_word['id']}"


async def test_a_title_without_letters_first_gives_ev_and_the_id(client, admin):
    event = (await _create(client, admin, title="2026 : braderie")).json()
    assert event["keyword"] == f"EV{event['id']}"


async def test_a_made_keyword_already_taken_falls_back_to_ev_and_the_id(client, admin):
    # The next event will get id 2: its natural keyword is taken by hand first.
    taken = (await _create(client, admin, title="Autre", keyword="MARCHE2")).json()
    assert taken["id"] == 1
    event = (await _create(client, admin)).json()
    assert (event["id"], event["keyword"]) == (2, "EV2")


@pytest.mark.parametrize(
    "keyword",
    ["ab", "a" * 21, "MARCHÉ 12", "marche-12", "", "STOP", "Arrêter", "start", "stopall", "HELP"],
)
async def test_an_invalid_or_reserved_keyword_is_refused_naming_the_field(client, admin, keyword):
    response = await _create(client, admin, keyword=keyword)
    assert response.status_code == 422, response.text
    assert _fields_named(response) == {"keyword"}
    assert await OutreachEvent.all().count() == 0


async def test_a_keyword_used_by_another_event_is_refused_whatever_its_case(client, admin):
    assert (await _create(client, admin, keyword="MIDI")).status_code == 201
    response = await _create(client, admin, keyword="midi")
    assert response.status_code == 422
    assert _fields_named(response) == {"keyword"}
    assert "already" in response.json()["detail"][0]["msg"]
    assert await OutreachEvent.all().count() == 1


async def test_keyword_is_changed_checked_and_removed_with_patch(client, admin):
    one = (await _create(client, admin, keyword="MIDI")).json()
    two = (await _create(client, admin, keyword="GARE")).json()
    url = f"/api/v1/events/{two['id']}"
    taken = await client.patch(url, headers=admin.headers, json={"keyword": "Midi"})
    assert taken.status_code == 422 and _fields_named(taken) == {"keyword"}
    reserved = await client.patch(url, headers=admin.headers, json={"keyword": "stoppen"})
    assert reserved.status_code == 422 and _fields_named(reserved) == {"keyword"}
    # An event keeps its own keyword when it is sent again.
    same = await client.patch(url, headers=admin.headers, json={"keyword": "gare"})
    assert same.status_code == 200 and same.json()["keyword"] == "GARE"
    changed = await client.patch(url, headers=admin.headers, json={"keyword": "Gare2"})
    assert changed.json()["keyword"] == "GARE2"
    untouched = await client.patch(url, headers=admin.headers, json={"place": "Hall"})
    assert untouched.json()["keyword"] == "GARE2"
    removed = await client.patch(url, headers=admin.headers, json={"keyword": None})
    assert removed.status_code == 200 and removed.json()["keyword"] is None
    # The freed word can be taken by another event.
    moved = await client.patch(
        f"/api/v1/events/{one['id']}", headers=admin.headers, json={"keyword": "GARE2"}
    )
    assert moved.json()["keyword"] == "GARE2"


async def test_keyword_is_listed_with_the_events(client, make_caller):
    agent = await make_caller(Role.AGENT)
    await _create(client, agent, keyword="Midi")
    listed = (await client.get("/api/v1/events", headers=agent.headers)).json()
    assert [e["keyword"] for e in listed["items"]] == ["MIDI"]
