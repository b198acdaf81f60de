"""The field app's sync on the page session (/field/sync, /field/lookup): the same service
as POST /api/v1/sync, behind the session cookie and a CSRF header, answering JSON errors."""

from __future__ import annotations

import pytest

from crm.enums import Role
from crm.people.models import Lead
from tests.crm.outreach.test_sync import contact, sync
from tests.crm.web.conftest import csrf_from


@pytest.fixture
async def agent(app, make_caller):
    return await make_caller(Role.AGENT)


async def _signed_in_page(client, sign_in, user) -> str:
    await sign_in(user)
    return csrf_from((await client.get("/leads")).text)


async def test_field_sync_on_the_page_session_needs_the_csrf_header(client, agent, sign_in):
    token = await _signed_in_page(client, sign_in, agent.user)
    item = contact()
    refused = await client.post("/field/sync", json={"items": [item]})
    assert refused.status_code == 403
    wrong = await client.post(
        "/field/sync", json={"items": [item]}, headers={"X-CSRF-Token": "x" * 43}
    )
    assert wrong.status_code == 403
    ok = await client.post("/field/sync", json={"items": [item]}, headers={"X-CSRF-Token": token})
    assert ok.status_code == 200 and ok.json()["results"][0]["status"] == "stored"
    again = await client.post(
        "/field/sync", json={"items": [item]}, headers={"X-CSRF-Token": token}
    )
    assert again.json()["results"][0]["status"] == "already_stored"
    assert await Lead.all().count() == 1


async def test_field_sync_answers_json_when_signed_out_or_malformed(client, agent, sign_in):
    signed_out = await client.post("/field/sync", json={"items": [contact()]})
    assert signed_out.status_code == 401
    assert signed_out.headers["content-type"].startswith("application/json")
    token = await _signed_in_page(client, sign_in, agent.user)
    headers = {"X-CSRF-Token": token, "Content-Type": "application/json"}
    for body in (b"{", b"[]", b'{"items": []}', b'{"items": 3}'):
        response = await client.post("/field/sync", content=body, headers=headers)
        assert response.status_code == 422, body


async def test_lookup_offers_the_existing_person_while_typing(client, agent, sign_in):
    (made,) = await sync(client, agent, contact(person={"last_name": "Benali"}))
    await _signed_in_page(client, sign_in, agent.user)
    found = (await client.get("/field/lookup", params={"phone": "0470/12.34.56"})).json()
    assert found == {
        "valid": True,
        "e164": "+32470123456",
        "match": {
            "id": made["lead_id"],
            "name": "Amina B.",
            "stage": "lead",
            "url": f"/field/people/{made['lead_id']}",
        },
    }
    unknown = (await client.get("/field/lookup", params={"phone": "0486 00 00 01"})).json()
    assert unknown["valid"] is True and unknown["match"] is None
    impossible = (await client.get("/field/lookup", params={"phone": "0470 12"})).json()
    assert impossible["valid"] is False and impossible["reason"]
