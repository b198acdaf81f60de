from __future__ import annotations

from datetime import timedelta

from campaigns.models import Campaign
from channels.models import OutboxMessage, OutboxStatus
from tests.campaigns.conftest import run_at, soon


async def test_a_message_back_in_the_queue_after_a_pause_is_held_again(client, marketing, person):
    for n in range(3):
        await person(first_name=f"P{n}", language="fr")
    body = {
        "name": "Held",
        "channel": "sms",
        "messages": {"fr": "Bonjour {{ first_name }} {{ opt_out }}"},
        "schedule": {"at": soon()},
    }
    cid = (await client.post("/api/v1/campaigns", json=body, headers=marketing.headers)).json()[
        "id"
    ]
    await client.post(f"/api/v1/campaigns/{cid}/schedule", headers=marketing.headers)
    campaign = await Campaign.get(id=cid)
    moment = campaign.next_run_at + timedelta(seconds=1)
    await run_at(moment)
    paused = await client.post(f"/api/v1/campaigns/{cid}/pause", headers=marketing.headers)
    assert paused.status_code == 200, paused.text
    # A retry scheduled by the dispatcher before the pause puts its row back to `queued`.
    row = await OutboxMessage.filter(campaign_id=cid).first()
    await OutboxMessage.filter(id=row.id).update(status=OutboxStatus.QUEUED)
    await run_at(moment)
    statuses = set(await OutboxMessage.filter(campaign_id=cid).values_list("status", flat=True))
    assert statuses == {OutboxStatus.PAUSED}
