from __future__ import annotations

from datetime import timedelta

from campaigns.models import Campaign, CampaignRun
from channels.models import OutboxMessage
from tests.campaigns.conftest import run_at, soon


async def test_three_language_campaign_reaches_each_person_in_their_language(
    client, marketing, person, dispatcher, twilio_standin
):
    amina = await person(first_name="Amina", language="fr")
    sofie = await person(first_name="Sofie", language="nl")
    lena = await person(first_name="Lena", language="de")
    nolang = await person(first_name="Ali", language=None)
    body = {
        "name": "Market follow-up",
        "channel": "sms",
        "messages": {
            "fr": "Bonjour {{ first_name }} ! {{ opt_out }}",
            "nl": "Hallo {{ first_name }}! {{ opt_out }}",
            "de": "Hallo {{ first_name }}, guten Tag! {{ opt_out }}",
        },
        "schedule": {"at": soon()},
    }
    created = await client.post("/api/v1/campaigns", json=body, headers=marketing.headers)
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    checks = await client.get(f"/api/v1/campaigns/{cid}/checks", headers=marketing.headers)
    assert checks.status_code == 200, checks.text
    assert checks.json()["audience"] == 4
    scheduled = await client.post(f"/api/v1/campaigns/{cid}/schedule", headers=marketing.headers)
    assert scheduled.status_code == 200, scheduled.text
    campaign = await Campaign.get(id=cid)
    assert await run_at(campaign.next_run_at + timedelta(seconds=1)) == 1
    assert await CampaignRun.filter(campaign_id=cid).count() == 1
    rows = {r.lead_id: r for r in await OutboxMessage.filter(campaign_id=cid)}
    assert rows[amina.id].body.startswith("Bonjour Amina !")
    assert rows[sofie.id].body.startswith("Hallo Sofie!")
    assert rows[lena.id].body.startswith("Hallo Lena, guten Tag!")
    assert rows[nolang.id].body.startswith("Bonjour Ali")
    await dispatcher.drain(max_seconds=5)
    stats = await client.get(f"/api/v1/campaigns/{cid}/stats", headers=marketing.headers)
    assert stats.status_code == 200, stats.text
    figures = stats.json()
    assert figures["audience"] == 4 and figures["sent"] == 4, figures
