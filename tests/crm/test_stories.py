from __future__ import annotations

from datetime import date, timedelta

from crm.enums import Role
from crm.stories.models import SuccessStory

STORY = {
    "title": "Awa's bakery",
    "entrepreneur": "Awa",
    "sector": "bakery",
    "town": "Liège",
    "segments": ["women", "migrant_background"],
    "texts": {
        "fr": "Awa a ouvert sa boulangerie.",
        "nl": "Awa opende haar bakkerij.",
        "de": "Awa hat ihre Bäckerei eröffnet.",
    },
    "consent_expires_at": str(date.today() + timedelta(days=365)),
}


async def test_marketing_writes_stories_in_three_languages(client, make_caller):
    marketing = await make_caller(Role.MARKETING)
    created = await client.post("/api/v1/stories", headers=marketing.headers, json=STORY)
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body["texts"]) == {"fr", "nl", "de"} and body["consent_valid"] is True
    changed = await client.patch(
        f"/api/v1/stories/{body['id']}",
        headers=marketing.headers,
        json={"texts": {"fr": "Nouveau texte"}},
    )
    assert changed.json()["texts"] == {"fr": "Nouveau texte"}


async def test_story_bad_input(client, admin):
    for body, field in [
        ({**STORY, "texts": {}}, "texts"),
        ({**STORY, "texts": {"en": "Hello"}}, "texts.en"),
        ({**STORY, "consent_expires_at": "2020-01-01"}, "consent_expires_at"),
        ({**STORY, "segments": ["martians"]}, "segments"),
    ]:
        response = await client.post("/api/v1/stories", headers=admin.headers, json=body)
        assert response.status_code == 422, response.text
        assert field in {e["field"] for e in response.json()["detail"]}
    assert await SuccessStory.all().count() == 0


async def test_only_stories_within_consent_are_usable(client, admin):
    ok = (await client.post("/api/v1/stories", headers=admin.headers, json=STORY)).json()
    lapsed = (await client.post("/api/v1/stories", headers=admin.headers, json=STORY)).json()
    await SuccessStory.filter(id=lapsed["id"]).update(
        consent_expires_at=date.today() - timedelta(days=1)
    )
    usable = (
        await client.get("/api/v1/stories", headers=admin.headers, params={"usable": True})
    ).json()
    assert [s["id"] for s in usable["items"]] == [ok["id"]]
    seen = (await client.get(f"/api/v1/stories/{lapsed['id']}", headers=admin.headers)).json()
    assert seen["consent_valid"] is False
