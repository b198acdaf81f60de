"""Bad input the fuzzing found turning into server errors: each is now a 4xx naming the field,
on both engines."""

from __future__ import annotations

import pytest

LEAD = {"first_name": "Amina", "phone": "0470123456"}


def _field(response) -> str:
    assert response.status_code == 422, response.text
    return response.json()["detail"][0]["field"]


async def test_a_nul_character_in_the_query_is_refused_naming_the_parameter(client, admin):
    response = await client.get("/api/v1/leads?segment=%00&limit=5", headers=admin.headers)
    assert _field(response) == "segment"


async def test_a_nul_character_in_a_json_body_is_refused_naming_the_field(client, admin):
    lead = {**LEAD, "notes": "met at the market\u0000"}
    response = await client.post("/api/v1/leads", json=lead, headers=admin.headers)
    assert _field(response) == "notes"
    assert response.json()["detail"][0]["msg"] == "must not contain the NUL character"


async def test_text_that_only_reads_backslash_u0000_is_accepted(client, admin):
    lead = {**LEAD, "notes": "typed \\u0000 by hand"}
    response = await client.post("/api/v1/leads", json=lead, headers=admin.headers)
    assert response.status_code == 201, response.text
    assert response.json()["notes"] == "typed \\u0000 by hand"


async def test_a_nul_character_in_a_form_is_refused(client):
    response = await client.post("/login", data={"email": "a\u0000@example.org", "password": "x"})
    assert _field(response) == "email"


async def test_a_nul_character_in_the_path_is_refused(client, admin):
    response = await client.get("/api/v1/exports/leads%00.csv", headers=admin.headers)
    assert _field(response) == "path"


async def test_a_value_too_long_for_its_column_is_a_422_naming_it(client, admin):
    response = await client.get("/api/v1/leads?postcode=00000", headers=admin.headers)
    assert _field(response) == "postcode"


@pytest.mark.parametrize("path", ["/api/v1/imports/{id}", "/api/v1/imports/{id}/rows"])
async def test_an_id_beyond_the_database_integer_is_a_422(client, admin, path):
    response = await client.get(path.format(id=2**63), headers=admin.headers)
    assert _field(response) == "job_id"
