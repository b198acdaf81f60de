"""Duplicate candidates: each reason, the review list and dismissals, and who may see them."""

from __future__ import annotations

import pytest

from crm.audit.models import AuditEntry
from crm.enums import Role
from crm.people import duplicates
from crm.people.duplicates import Reason
from crm.people.models import DuplicateDismissal, Lead, LeadSource


async def person(first: str, last: str | None = None, **extra) -> Lead:
    return await Lead.create(first_name=first, last_name=last, source=LeadSource.WALK_IN, **extra)


async def pairs() -> dict[tuple[int, int], set[Reason]]:
    return {(c.low_id, c.high_id): c.reasons for c in await duplicates.find_candidates()}


def key(a: Lead, b: Lead) -> tuple[int, int]:
    return (min(a.id, b.id), max(a.id, b.id))


async def test_same_email_in_any_case_is_a_candidate(app):
    a = await person("Amina", "Benali", email="amina@example.org")
    b = await person("A.", "B.", email="AMINA@Example.org")
    await person("Other", email="other@example.org")
    assert await pairs() == {key(a, b): {Reason.EMAIL}}


@pytest.mark.parametrize(
    "first_b, last_b",
    [
        ("Élodie", "Dupont"),  # accents
        ("ELODIE", "DUPONT"),  # case
        ("Dupont", "Elodie"),  # first and last swapped
        ("elodie", "du-pont"),  # hyphen
        ("Elodie", "Du Pont"),  # space
    ],
)
async def test_same_normalised_name_and_postcode_is_a_candidate(app, first_b, last_b):
    a = await person("Elodie", "Dupont", postcode="1060")
    b = await person(first_b, last_b, postcode="1060")
    assert await pairs() == {key(a, b): {Reason.SAME_NAME}}


@pytest.mark.parametrize(
    "first_a, first_b",
    [("Mohamed", "Mohammed"), ("Fatima", "Fatma"), ("Youssef", "Yousef"), ("Sarah", "Sraah")],
)
async def test_one_letter_typo_or_transposition_with_same_postcode_is_similar(
    app, first_a, first_b
):
    a = await person(first_a, "El Amrani", postcode="1080")
    b = await person(first_b, "El-Amrani", postcode="1080")
    assert await pairs() == {key(a, b): {Reason.SIMILAR_NAME}}


async def test_typo_in_swapped_names_is_similar(app):
    a = await person("Fatima", "Benali", postcode="4000")
    b = await person("Benaly", "Fatma", postcode="4000")
    assert await pairs() == {key(a, b): {Reason.SIMILAR_NAME}}


async def test_similar_names_in_different_postcodes_are_not_candidates(app):
    await person("Mohamed", "Benali", postcode="1080")
    await person("Mohammed", "Benali", postcode="1000")
    await person("Mohamed", "Benali", postcode="4000")
    await person("Mohamed", "Benali")  # no postcode at all
    assert await pairs() == {}


async def test_one_edit_per_name_part_at_most_and_short_names_must_match(app):
    a = await person("Fatima", "Benali", postcode="1080")
    b = await person("Fatma", "Benaly", postcode="1080")  # one edit in each part: proposed
    await person("Fadna", "Benali", postcode="1080")  # two edits in the first name: not
    await person("Tom", "Peeters", postcode="2000")
    await person("Tim", "Peeters", postcode="2000")  # three letters must match: brothers
    assert await pairs() == {key(a, b): {Reason.SIMILAR_NAME}}


async def test_reasons_add_up_in_the_score(app):
    a = await person("Amina", "Benali", postcode="1060", email="amina@example.org")
    b = await person("Amina", "Benali", postcode="1060", email="amina@example.org")
    c = await person("Amina", "Benalli", postcode="1060")
    found = {(x.low_id, x.high_id): x for x in await duplicates.find_candidates()}
    both = found[key(a, b)]
    assert both.reasons == {Reason.EMAIL, Reason.SAME_NAME}
    assert both.score > found[key(a, c)].score
    assert (await duplicates.find_candidates())[0].reasons == {Reason.EMAIL, Reason.SAME_NAME}


async def test_dismissed_pair_is_never_proposed_again(app, make_caller):
    coordinator = await make_caller(Role.COORDINATOR)
    a = await person("Jan", "Peeters", postcode="2000")
    b = await person("Jan", "Peeters", postcode="2000")
    c = await person("Jan", "Peters", postcode="2000")
    await duplicates.dismiss([b.id, a.id], actor=_actor(coordinator))
    await duplicates.dismiss([a.id, b.id], actor=_actor(coordinator))  # twice is harmless
    found = await pairs()
    assert key(a, b) not in found
    assert key(a, c) in found and key(b, c) in found
    assert await DuplicateDismissal.filter(lead_low_id=a.id, lead_high_id=b.id).count() == 1
    assert [m.lead.id for m in await duplicates.candidates_of(a)] == [c.id]


def _actor(caller):
    from crm.auth.actor import Actor

    return Actor(role=caller.role, label="Coordinator", user_id=caller.user.id)


async def test_incoming_record_matches_by_phone_email_chat_and_name(app):
    by_phone = await person("Karim", phone="+32470123456")
    by_email = await person("Lies", email="lies@example.be")
    by_chat = await person("Hans", telegram_chat_id=555001)
    by_name = await person("Fatima", "Benali", postcode="1080")
    await person("Fatima", "Benali", postcode="1000")  # another postcode: not her
    found = await duplicates.candidates_for(
        {
            "phone": "0470 12 34 56",
            "email": "LIES@example.be",
            "telegram_chat_id": 555001,
            "first_name": "Fatma",
            "last_name": "Benali",
            "postcode": "1080",
        }
    )
    reasons = {m.lead.id: m.reasons for m in found}
    assert reasons == {
        by_phone.id: {Reason.PHONE},
        by_email.id: {Reason.EMAIL},
        by_chat.id: {Reason.TELEGRAM_CHAT},
        by_name.id: {Reason.SIMILAR_NAME},
    }


async def test_incoming_record_with_unreadable_phone_is_not_an_error(app):
    await person("Karim", phone="+32470123456")
    assert await duplicates.candidates_for({"phone": "hello", "first_name": "X"}) == []


# --- API ---------------------------------------------------------------------------------------


async def test_review_list_shows_both_people_reasons_and_score(client, admin):
    a = await person("Amina", "Benali", postcode="1060", email="amina@example.org")
    b = await person("Amina", "Bénali", postcode="1060", phone="+32470123456")
    for first, last in [("Jan", "Peeters"), ("Lies", "Janssens"), ("Hans", "Schmitz")]:
        await person(first, last, postcode="1060")
    response = await client.get("/api/v1/duplicates", headers=admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 1
    (item,) = body["items"]
    assert [p["id"] for p in item["people"]] == [a.id, b.id]
    assert item["people"][1]["phone"] == "+32470123456"
    assert item["people"][0]["email"] == "amina@example.org"
    assert {"first_name", "last_name", "postcode", "stage", "created_at"} <= set(item["people"][0])
    assert item["reasons"] == ["same_name"] and 0 < item["score"] <= 100


async def test_review_list_is_paged(client, admin):
    for i in range(3):
        await person("Jan", "Peeters", postcode=f"{2000 + i}")
        await person("Jan", "Peeters", postcode=f"{2000 + i}")
    first = (await client.get("/api/v1/duplicates?limit=2", headers=admin.headers)).json()
    rest = (await client.get("/api/v1/duplicates?limit=2&offset=2", headers=admin.headers)).json()
    assert first["total"] == rest["total"] == 3
    assert len(first["items"]) == 2 and len(rest["items"]) == 1


async def test_dismiss_through_the_api_is_audited_and_hides_the_pair(client, admin):
    a = await person("Jan", "Peeters", postcode="2000")
    b = await person("Jan", "Peeters", postcode="2000")
    response = await client.post(
        "/api/v1/duplicates/dismiss", headers=admin.headers, json={"lead_ids": [b.id, a.id]}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"lead_ids": [a.id, b.id]}
    listed = await client.get("/api/v1/duplicates", headers=admin.headers)
    assert listed.json()["total"] == 0
    assert await AuditEntry.filter(action="duplicate.dismiss").count() == 2


@pytest.mark.parametrize(
    "body, status",
    [
        ({"lead_ids": [1]}, 422),
        ({"lead_ids": [1, 1]}, 422),
        ({"lead_ids": [1, 2, 3]}, 422),
        ({"lead_ids": ["x", 2]}, 422),
        ({}, 422),
    ],
)
async def test_bad_dismissal_names_the_field(client, admin, body, status):
    response = await client.post("/api/v1/duplicates/dismiss", headers=admin.headers, json=body)
    assert response.status_code == status, response.text
    assert "lead_ids" in response.text
    assert await DuplicateDismissal.all().count() == 0


async def test_dismissing_an_unknown_person_is_404(client, admin):
    a = await person("Jan")
    response = await client.post(
        "/api/v1/duplicates/dismiss", headers=admin.headers, json={"lead_ids": [a.id, 999999]}
    )
    assert response.status_code == 404
    assert response.json()["detail"][0]["field"] == "lead_ids"


async def test_candidates_of_one_person(client, admin):
    a = await person("Fatima", "Benali", postcode="1080", phone="+32470123456")
    b = await person("Fatma", "Benali", postcode="1080")
    c = await person("Fatima B.", email=None)
    response = await client.get(f"/api/v1/leads/{a.id}/duplicates", headers=admin.headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["person"]["id"] for i in items] == [b.id]
    assert items[0]["reasons"] == ["similar_name"]
    assert c.id not in [i["person"]["id"] for i in items]
    missing = await client.get("/api/v1/leads/999999/duplicates", headers=admin.headers)
    assert missing.status_code == 404


@pytest.mark.parametrize("role", [Role.AGENT, Role.MARKETING, Role.PARTNER])
async def test_only_admins_and_coordinators_review_duplicates(client, make_caller, role):
    caller = await make_caller(role)
    a = await person("Jan", "Peeters", postcode="2000")
    b = await person("Jan", "Peeters", postcode="2000")
    for method, url, body in [
        ("GET", "/api/v1/duplicates", None),
        ("POST", "/api/v1/duplicates/dismiss", {"lead_ids": [a.id, b.id]}),
        ("GET", f"/api/v1/leads/{a.id}/duplicates", None),
    ]:
        response = await client.request(method, url, headers=caller.headers, json=body)
        assert response.status_code == 403, (method, url, response.text)
    coordinator = await make_caller(Role.COORDINATOR)
    ok = await client.get("/api/v1/duplicates", headers=coordinator.headers)
    assert ok.status_code == 200 and ok.json()["total"] == 1
