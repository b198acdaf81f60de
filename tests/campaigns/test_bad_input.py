"""Bad campaign input: every case answers a clear 4xx naming the field, and nothing is stored
or scheduled (no campaign, no run, no outbox row more than before)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from campaigns.models import Campaign, CampaignRun, CampaignStatus
from channels.models import OutboxMessage
from tests.campaigns.conftest import soon

MESSAGES = {"fr": "Bonjour {{ first_name }} ! {{ opt_out }}"}


def valid(**fields: Any) -> dict[str, Any]:
    body = {
        "name": "Bad input",
        "channel": "sms",
        "messages": MESSAGES,
        "schedule": {"at": soon(30)},
    }
    return {**body, **fields}


async def counts() -> tuple[int, int, int]:
    return (
        await Campaign.all().count(),
        await CampaignRun.all().count(),
        await OutboxMessage.all().count(),
    )


def refused(response, status: int, field: str, *words: str) -> str:
    """The answer is `status`, names `field`, and its message holds each of `words`."""
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list), detail
    messages = [d["msg"] for d in detail if d["field"] == field]
    assert messages, f"no problem named {field}: {detail}"
    for word in words:
        assert any(word.lower() in m.lower() for m in messages), (word, messages)
    return messages[0]


async def create_refused(client, caller, body: Any, field: str, *words: str) -> str:
    before = await counts()
    response = await client.post("/api/v1/campaigns", json=body, headers=caller.headers)
    message = refused(response, 422, field, *words)
    assert await counts() == before
    return message


async def draft(client, caller, **fields: Any) -> int:
    created = await client.post("/api/v1/campaigns", json=valid(**fields), headers=caller.headers)
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def schedule_refused(client, caller, campaign_id: int, field: str, *words: str) -> None:
    before = await counts()
    response = await client.post(
        f"/api/v1/campaigns/{campaign_id}/schedule", headers=caller.headers
    )
    refused(response, 422, field, *words)
    campaign = await Campaign.get(id=campaign_id)
    assert campaign.status == CampaignStatus.DRAFT and campaign.next_run_at is None
    assert await counts() == before


# ---- messages ------------------------------------------------------------------------------


async def test_template_syntax_error_names_the_language_and_the_line(client, marketing):
    body = valid(messages={"fr": "Bonjour {{ first_name }} !\nÀ bientôt {{ first_name "})
    await create_refused(client, marketing, body, "messages.fr", "line 2")


async def test_unknown_variable_is_refused_with_its_name(client, marketing):
    body = valid(messages={"fr": "Bonjour {{ surname }} !"})
    await create_refused(client, marketing, body, "messages.fr", "surname")


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ first_name.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{% include 'x' %}",
    ],
)
async def test_sandbox_escape_is_refused(client, marketing, source):
    body = valid(messages={"fr": f"Bonjour {source}"})
    await create_refused(client, marketing, body, "messages.fr", "line 1", "not allowed")


async def test_default_language_without_a_message_is_refused(client, marketing):
    body = valid(messages={"nl": "Hallo {{ first_name }}!"}, default_language="fr")
    await create_refused(client, marketing, body, "default_language", "fr")


async def test_patch_with_messages_null_is_refused(client, marketing):
    cid = await draft(client, marketing)
    response = await client.patch(
        f"/api/v1/campaigns/{cid}", json={"messages": None}, headers=marketing.headers
    )
    refused(response, 422, "messages")
    assert (await Campaign.get(id=cid)).messages == MESSAGES


async def test_patch_with_a_broken_template_keeps_the_stored_messages(client, marketing):
    cid = await draft(client, marketing)
    response = await client.patch(
        f"/api/v1/campaigns/{cid}",
        json={"messages": {"fr": "Bonjour {% if %}"}},
        headers=marketing.headers,
    )
    refused(response, 422, "messages.fr", "line 1")
    assert (await Campaign.get(id=cid)).messages == MESSAGES


# ---- schedules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("0 0 31 2 *", ["never"]),  # 31 February
        ("* * * * *", ["once an hour"]),
        ("*/30 * * * *", ["once an hour"]),
        ("61 * * * *", ["invalid"]),
        ("0 10 * * 8", ["invalid"]),
        ("every monday", ["five fields"]),
    ],
)
async def test_cron_that_never_fires_too_often_or_is_invalid_is_refused(
    client, marketing, cron, words
):
    body = valid(schedule={"cron": cron})
    await create_refused(client, marketing, body, "schedule.cron", *words)


async def test_a_time_in_the_past_is_refused_at_creation(client, marketing):
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    await create_refused(
        client, marketing, valid(schedule={"at": yesterday}), "schedule.at", "past"
    )


async def test_a_time_that_passed_before_scheduling_is_refused(client, marketing, person):
    await person()
    cid = await draft(client, marketing)
    # The draft waited: its time is yesterday by the time someone schedules it.
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    await Campaign.filter(id=cid).update(schedule={"at": yesterday})
    await schedule_refused(client, marketing, cid, "schedule.at", "past")


async def test_an_end_in_the_past_is_refused(client, marketing):
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    body = valid(schedule={"cron": "0 10 * * 1", "until": yesterday})
    await create_refused(client, marketing, body, "schedule.until", "past")


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        ({"at": "next tuesday"}, "schedule.at"),
        ({"at": soon(30), "cron": "0 10 * * 1"}, "schedule"),
        ({"every": "day"}, "schedule"),
        ({}, "schedule"),
        ({"after": {"field": "birthday", "days": 2}}, "schedule.after.field"),
        ({"after": {"field": "created_at", "days": -1}}, "schedule.after.days"),
        ({"after": {"field": "event.starts_at", "days": "2"}}, "schedule.after.days"),
        ({"after": {"field": "event.starts_at", "days": 2, "at": "25:00"}}, "schedule.after.at"),
    ],
)
async def test_malformed_schedule_is_refused_with_its_field(client, marketing, schedule, field):
    await create_refused(client, marketing, valid(schedule=schedule), field)


async def test_scheduling_without_a_schedule_is_refused(client, marketing, person):
    await person()
    created = await client.post(
        "/api/v1/campaigns", json=valid(schedule=None), headers=marketing.headers
    )
    assert created.status_code == 201, created.text
    await schedule_refused(client, marketing, created.json()["id"], "schedule")


# ---- audience, story, variants -------------------------------------------------------------


async def test_an_empty_audience_is_refused_at_scheduling(client, marketing, person):
    await person(language="fr")
    cid = await draft(client, marketing, audience={"languages": ["de"]})
    await schedule_refused(client, marketing, cid, "audience", "nobody")


@pytest.mark.parametrize(
    ("audience", "field"),
    [
        ({"colour": ["blue"]}, "audience.colour"),
        ({"segments": ["no-such-segment"]}, "audience.segments"),
        ({"event_ids": [999]}, "audience.event_ids"),
        ({"partner_ids": [999]}, "audience.partner_ids"),
        ({"agent_ids": [999]}, "audience.agent_ids"),
        ({"languages": ["en"]}, "audience.languages.0"),
        ({"postcodes": ["10000"]}, "audience.postcodes.0"),
    ],
)
async def test_unknown_audience_keys_and_ids_are_refused(client, marketing, audience, field):
    await create_refused(client, marketing, valid(audience=audience), field)


async def test_unknown_story_is_refused(client, marketing):
    await create_refused(client, marketing, valid(story_id=999), "story_id", "999")


async def test_variants_sharing_more_than_99_percent_are_refused(client, marketing):
    variants = [
        {"name": "B", "share": 60, "messages": {"fr": "Salut {{ first_name }}"}},
        {"name": "C", "share": 40, "messages": {"fr": "Coucou {{ first_name }}"}},
    ]
    await create_refused(client, marketing, valid(variants=variants), "variants", "99")


# ---- malformed requests --------------------------------------------------------------------


async def test_malformed_json_is_a_422_not_a_500(client, marketing):
    before = await counts()
    response = await client.post(
        "/api/v1/campaigns",
        content=b'{"name": "x", "channel": ',
        headers={**marketing.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert "json" in str(response.json()["detail"]).lower()
    assert await counts() == before


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"channel": "fax"}, "channel"),
        ({"audience": "x"}, "audience"),
        ({"schedule": 5}, "schedule"),
        ({"messages": "Bonjour"}, "messages"),
        ({"messages": {"en": "Hello"}}, "messages.en"),
        ({"name": ""}, "name"),
        ({"variants": [{"name": "A", "share": 10, "messages": MESSAGES}]}, "variants.0.name"),
    ],
)
async def test_wrong_types_are_a_422_naming_the_field(client, marketing, fields, field):
    await create_refused(client, marketing, valid(**fields), field)


async def test_a_body_that_is_not_an_object_is_a_422(client, marketing):
    before = await counts()
    response = await client.post("/api/v1/campaigns", json=[1, 2], headers=marketing.headers)
    assert response.status_code == 422, response.text
    assert await counts() == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", ""),
        ("PATCH", ""),
        ("POST", "/schedule"),
        ("POST", "/pause"),
        ("POST", "/resume"),
        ("POST", "/cancel"),
        ("GET", "/checks"),
        ("GET", "/stats"),
    ],
)
async def test_unknown_campaign_is_not_found(client, marketing, method, path):
    kwargs: dict[str, Any] = {"json": {"name": "x"}} if method == "PATCH" else {}
    response = await client.request(
        method, f"/api/v1/campaigns/4242{path}", headers=marketing.headers, **kwargs
    )
    assert response.status_code == 404, response.text
    assert await counts() == (0, 0, 0)


async def test_an_id_out_of_range_is_a_422_not_a_500(client, marketing):
    response = await client.get(f"/api/v1/campaigns/{2**40}", headers=marketing.headers)
    refused(response, 422, "campaign_id")
