"""Campaigns in the reports, on the hand-worked world (tests/crm/reports/conftest.py): the
"Leila's bakery" SMS campaign wrote to Amina (P1) on 2026-02-20, before she was coached
(03-01), and to Bram (P2) on 2026-06-01, after he was (05-10); its delivery figures are those of
the campaign's own results page."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign, CampaignChannel, CampaignStatus
from channels.models import Channel, MessageKind, OutboxMessage, OutboxStatus
from crm.enums import Language
from tests.crm.reports.conftest import at

YEAR = {"start": "2026-01-01", "end": "2026-12-31"}


@pytest.fixture
async def campaign(world):
    campaign = await Campaign.create(
        name="Leila's bakery",
        channel=CampaignChannel.SMS,
        messages={"fr": "Leila a ouvert sa boulangerie. Et vous ?"},
        default_language=Language.FR,
        status=CampaignStatus.COMPLETED,
    )
    for key, day, status in (
        ("p1", "2026-02-20", OutboxStatus.DELIVERED),
        ("p2", "2026-06-01", OutboxStatus.SENT),
    ):
        lead = world.people[key]
        message = await OutboxMessage.create(
            lead=lead,
            channel=Channel.SMS,
            address=f"+3247000000{lead.id}",
            body="Leila a ouvert sa boulangerie. Et vous ?",
            kind=MessageKind.CAMPAIGN,
            status=status,
            due_at=at(day),
            idempotency_key=f"test:{campaign.id}:{lead.id}",
            campaign_id=campaign.id,
            sent_at=at(day),
        )
        await OutboxMessage.filter(id=message.id).update(created_at=at(day))
    return campaign


async def _get(client, caller, path, **params):
    response = await client.get(f"/api/v1/reports/{path}", params=params, headers=caller.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_campaign_results_are_the_campaign_page_figures(client, world, campaign, coordinator):
    report = await _get(client, coordinator, "campaigns", **YEAR)
    (row,) = report["campaigns"]
    stats = await client.get(f"/api/v1/campaigns/{campaign.id}/stats", headers=coordinator.headers)
    page = stats.json()
    assert row["name"] == "Leila's bakery"
    for figure in ("sent", "delivered", "failed", "replied", "opted_out"):
        assert row[figure] == page[figure], figure
    assert row["delivered"] == 1
    # No message in January: no campaign.
    early = await _get(client, coordinator, "campaigns", start="2026-01-01", end="2026-01-31")
    assert early["campaigns"] == []


async def test_campaign_filter_and_comparison(client, world, campaign, coordinator):
    funnel = await _get(client, coordinator, "funnel", campaign_id=campaign.id, **YEAR)
    stages = {r["stage"]: r["people"] for r in funnel["stages"]}
    assert stages["reached"] == 2 and stages["coached"] == 2 and stages["financed"] == 1
    compare = await _get(client, coordinator, "compare", by="campaign", **YEAR)
    (row,) = compare["rows"]
    assert row["label"] == "Leila's bakery" and row["stages"]["reached"] == 2


async def test_attribution_counts_a_campaign_only_before_the_milestone(
    client, world, campaign, coordinator
):
    report = await _get(client, coordinator, "attribution", **YEAR)
    assert report["campaign_touches"] == [
        {"campaign_id": campaign.id, "name": "Leila's bakery", "people": 1}
    ]
    people = {p["name"]: p for p in report["people"]}
    assert people["Amina"]["campaigns"] == ["Leila's bakery"]
    assert people["Bram"]["campaigns"] == []
