"""Success stories in campaign messages: told in each person's language, matched to their
segments, never twice to the same person, and only while the entrepreneur's consent lasts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from campaigns.models import Campaign, CampaignRun, CampaignStatus
from channels.models import OutboxMessage, OutboxStatus
from crm.config import settings
from crm.people.models import LeadSegment
from crm.stories.models import SuccessStory
from tests.campaigns.conftest import run_at, soon

STORY_MESSAGES = {
    "fr": "{{ story.title }} : {{ story.text }}",
    "nl": "{{ story.title }}: {{ story.text }}",
    "de": "{{ story.title }}: {{ story.text }}",
}
DAILY = {"cron": "0 10 * * *"}


# ---- helpers ----------------------------------------------------------------------------------


def today() -> date:
    return datetime.now(settings.tz).date()


async def story(
    title: str,
    *,
    texts: dict[str, str] | None = None,
    segments: list[str] | None = None,
    expires_in_days: int = 365,
    active: bool = True,
) -> SuccessStory:
    return await SuccessStory.create(
        title=title,
        entrepreneur_first_name=title.split()[-1],
        texts=texts
        if texts is not None
        else {lang: f"{title} ({lang})" for lang in STORY_MESSAGES},
        segments=segments or [],
        consent_expires_at=today() + timedelta(days=expires_in_days),
        active=active,
    )


async def create(client, caller, **fields: Any) -> int:
    body = {
        "name": "Stories",
        "channel": "sms",
        "messages": STORY_MESSAGES,
        "schedule": {"at": soon()},
        **fields,
    }
    created = await client.post("/api/v1/campaigns", json=body, headers=caller.headers)
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def schedule(client, caller, campaign_id: int) -> Campaign:
    scheduled = await client.post(
        f"/api/v1/campaigns/{campaign_id}/schedule", headers=caller.headers
    )
    assert scheduled.status_code == 200, scheduled.text
    return await Campaign.get(id=campaign_id)


async def next_run(campaign_id: int) -> CampaignRun:
    """Fan out the campaign's next planned run; that run."""
    campaign = await Campaign.get(id=campaign_id)
    assert campaign.next_run_at is not None
    planned = campaign.next_run_at
    assert await run_at(planned + timedelta(seconds=1)) >= 1
    return await CampaignRun.get(campaign_id=campaign_id, planned_at=planned)


async def launch(client, caller, **fields: Any) -> int:
    campaign_id = await create(client, caller, **fields)
    await schedule(client, caller, campaign_id)
    await next_run(campaign_id)
    return campaign_id


async def rows_of(campaign_id: int, run_id: int | None = None) -> dict[int, OutboxMessage]:
    query = OutboxMessage.filter(campaign_id=campaign_id)
    if run_id is not None:
        query = query.filter(run_id=run_id)
    return {r.lead_id: r for r in await query}


def told(rows: dict[int, OutboxMessage]) -> dict[int, int | str | None]:
    """Per person: the story told, or the skip reason."""
    return {
        lead_id: row.error_code if row.status == OutboxStatus.SKIPPED else row.story_id
        for lead_id, row in rows.items()
    }


async def stats(client, caller, campaign_id: int, **params: Any) -> dict[str, Any]:
    response = await client.get(
        f"/api/v1/campaigns/{campaign_id}/stats", params=params, headers=caller.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


# ---- one story for everyone -------------------------------------------------------------------


async def test_fixed_story_is_told_in_each_persons_language(client, marketing, person):
    yasmine = await story(
        "Le food truck de Yasmine",
        texts={
            "fr": "Yasmine a ouvert son food truck.",
            "nl": "Yasmine opende haar foodtruck.",
            "de": "Yasmine eröffnete ihren Foodtruck.",
        },
    )
    amina = await person(language="fr")
    sofie = await person(language="nl")
    lena = await person(language="de")

    campaign_id = await launch(client, marketing, story_id=yasmine.id)
    rows = await rows_of(campaign_id)

    assert rows[amina.id].body == "Le food truck de Yasmine : Yasmine a ouvert son food truck."
    assert rows[sofie.id].body == "Le food truck de Yasmine: Yasmine opende haar foodtruck."
    assert rows[lena.id].body == "Le food truck de Yasmine: Yasmine eröffnete ihren Foodtruck."
    assert {r.story_id for r in rows.values()} == {yasmine.id}


async def test_fixed_story_already_received_is_skipped_story_seen(client, marketing, person):
    yasmine = await story("Le food truck de Yasmine")
    heard = await person()
    first = await launch(client, marketing, story_id=yasmine.id)
    newcomer = await person()

    second = await launch(client, marketing, story_id=yasmine.id)

    assert told(await rows_of(first)) == {heard.id: yasmine.id}
    assert told(await rows_of(second)) == {heard.id: "story_seen", newcomer.id: yasmine.id}
    assert (await stats(client, marketing, second))["skipped_reasons"] == {"story_seen": 1}


async def test_fixed_story_whose_consent_expired_before_the_run_is_skipped_story_expired(
    client, marketing, person
):
    yasmine = await story("Le food truck de Yasmine", expires_in_days=10)
    people = [await person(), await person()]
    campaign_id = await create(client, marketing, story_id=yasmine.id)
    await schedule(client, marketing, campaign_id)
    # The entrepreneur's consent ended (or was cut short) after the campaign was scheduled.
    await SuccessStory.filter(id=yasmine.id).update(consent_expires_at=today() - timedelta(days=1))

    await next_run(campaign_id)

    assert told(await rows_of(campaign_id)) == {p.id: "story_expired" for p in people}
    assert (await stats(client, marketing, campaign_id))["skipped_reasons"] == {"story_expired": 2}


async def test_withdrawn_fixed_story_is_skipped_story_withdrawn(client, marketing, person):
    yasmine = await story("Le food truck de Yasmine")
    someone = await person()
    campaign_id = await create(client, marketing, story_id=yasmine.id)
    await schedule(client, marketing, campaign_id)
    await SuccessStory.filter(id=yasmine.id).update(active=False)

    await next_run(campaign_id)

    assert told(await rows_of(campaign_id)) == {someone.id: "story_withdrawn"}


async def test_a_story_too_long_for_one_sms_is_skipped_too_long(client, marketing, person):
    long_text = {"fr": "Yasmine a ouvert son food truck. " * 60}
    yasmine = await story("Le food truck de Yasmine", texts=long_text)
    someone = await person()
    on_telegram = await person(telegram_chat_id=556_001)

    campaign_id = await launch(
        client,
        marketing,
        story_id=yasmine.id,
        channel="preferred",
        messages={"fr": STORY_MESSAGES["fr"]},
    )

    rows = await rows_of(campaign_id)
    assert told(rows) == {someone.id: "too_long", on_telegram.id: yasmine.id}
    assert rows[someone.id].body == ""


# ---- a story per person ----------------------------------------------------------------------


async def test_matched_story_prefers_the_persons_segments(client, marketing, person):
    for_women = await story("L'atelier de Fatima", segments=["women", "single_parent"])
    for_youth = await story("Le studio de Yanis", segments=["youth"])
    general = await story("La boulangerie de Marc")
    woman = await person()
    await LeadSegment.create(lead=woman, code="women")
    young = await person()
    await LeadSegment.create(lead=young, code="youth")
    neither = await person()
    await LeadSegment.create(lead=neither, code="over_50")

    campaign_id = await launch(client, marketing, story_mode="matched")

    chosen = told(await rows_of(campaign_id))
    assert chosen[woman.id] == for_women.id
    assert chosen[young.id] == for_youth.id
    assert chosen[neither.id] in {for_women.id, for_youth.id, general.id}


async def test_matched_story_is_one_told_in_the_persons_language(client, marketing, person):
    french_only = await story(
        "L'atelier de Fatima", texts={"fr": "Fatima coud."}, segments=["women"]
    )
    both = await story("De winkel van Sara", texts={"fr": "Sara vend.", "nl": "Sara verkoopt."})
    dutch_woman = await person(language="nl")
    await LeadSegment.create(lead=dutch_woman, code="women")
    french_woman = await person(language="fr")
    await LeadSegment.create(lead=french_woman, code="women")

    campaign_id = await launch(
        client,
        marketing,
        story_mode="matched",
        messages={"fr": "{{ story.text }}", "nl": "{{ story.text }}"},
    )
    rows = await rows_of(campaign_id)

    # The segment match has no Dutch text: the Dutch speaker gets a story she can read.
    assert (rows[dutch_woman.id].story_id, rows[dutch_woman.id].body) == (both.id, "Sara verkoopt.")
    assert (rows[french_woman.id].story_id, rows[french_woman.id].body) == (
        french_only.id,
        "Fatima coud.",
    )


async def test_each_run_tells_each_person_a_story_they_have_not_heard(client, marketing, person):
    stories = {(await story("Le food truck de Yasmine")).id, (await story("Le vélo de Jonas")).id}
    people = [await person() for _ in range(4)]
    campaign_id = await create(client, marketing, story_mode="matched", schedule=DAILY)
    await schedule(client, marketing, campaign_id)

    first = told(await rows_of(campaign_id, (await next_run(campaign_id)).id))
    second = told(await rows_of(campaign_id, (await next_run(campaign_id)).id))

    assert set(first) == set(second) == {p.id for p in people}
    for p in people:
        assert {first[p.id], second[p.id]} == stories


async def test_when_every_story_was_told_the_person_is_skipped_no_story(client, marketing, person):
    only = await story("Le food truck de Yasmine")
    people = [await person(), await person()]
    campaign_id = await create(client, marketing, story_mode="matched", schedule=DAILY)
    await schedule(client, marketing, campaign_id)

    first = await next_run(campaign_id)
    second = await next_run(campaign_id)

    assert told(await rows_of(campaign_id, first.id)) == {p.id: only.id for p in people}
    assert told(await rows_of(campaign_id, second.id)) == {p.id: "no_story" for p in people}
    figures = await stats(client, marketing, campaign_id, run_id=second.id)
    assert figures["skipped_reasons"] == {"no_story": 2}


async def test_matched_stories_leave_out_those_whose_consent_expired(client, marketing, person):
    await story("Le food truck de Yasmine", expires_in_days=-1)
    valid = await story("Le vélo de Jonas")
    people = [await person() for _ in range(3)]

    campaign_id = await launch(client, marketing, story_mode="matched")

    assert told(await rows_of(campaign_id)) == {p.id: valid.id for p in people}


async def test_matched_with_only_expired_stories_skips_no_story(client, marketing, person):
    await story("Le food truck de Yasmine", expires_in_days=-1)
    await story("Le vélo de Jonas", active=False)
    someone = await person()

    campaign_id = await launch(client, marketing, story_mode="matched")

    assert told(await rows_of(campaign_id)) == {someone.id: "no_story"}


# ---- warnings and refusals ---------------------------------------------------------------------


async def test_campaign_warns_when_its_story_consent_ends_within_30_days(client, marketing, person):
    await person()
    ending = await story("Le food truck de Yasmine", expires_in_days=20)
    lasting = await story("Le vélo de Jonas", expires_in_days=60)
    warned = await create(client, marketing, story_id=ending.id)
    calm = await create(client, marketing, story_id=lasting.id)

    shown = await client.get(f"/api/v1/campaigns/{warned}", headers=marketing.headers)
    assert shown.status_code == 200, shown.text
    ends = (today() + timedelta(days=20)).isoformat()
    assert any("consent" in w and ends in w for w in shown.json()["warnings"]), shown.json()
    other = await client.get(f"/api/v1/campaigns/{calm}", headers=marketing.headers)
    assert not any("consent" in w for w in other.json()["warnings"]), other.json()


async def test_scheduling_a_story_whose_consent_ends_before_the_first_run_is_refused(
    client, marketing, person
):
    await person()
    yasmine = await story("Le food truck de Yasmine", expires_in_days=5)
    first_run = datetime.now(UTC) + timedelta(days=10)
    campaign_id = await create(
        client, marketing, story_id=yasmine.id, schedule={"at": first_run.isoformat()}
    )

    refused = await client.post(
        f"/api/v1/campaigns/{campaign_id}/schedule", headers=marketing.headers
    )

    assert refused.status_code == 422, refused.text
    assert [d["field"] for d in refused.json()["detail"]] == ["story_id"]
    assert (await Campaign.get(id=campaign_id)).status == CampaignStatus.DRAFT
