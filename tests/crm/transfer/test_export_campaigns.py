"""Campaign results exports: the figures are those of the campaign's stats, and the recipients
of one campaign come one row per message."""

from __future__ import annotations

from datetime import UTC, datetime

from campaigns.models import Campaign
from campaigns.stats import campaign_stats
from channels.models import InboundMessage, OutboxMessage
from crm.enums import Role
from tests.crm.transfer.export_fixtures import EXPORT, exporter, person, read_csv, read_xlsx

FIGURES = ("audience", "queued", "sent", "delivered", "failed", "skipped", "replied", "opted_out")


async def _campaign(name: str, statuses: list[str]) -> tuple[Campaign, list[OutboxMessage]]:
    campaign = await Campaign.create(
        name=name,
        channel="sms",
        messages={"fr": "Bonjour {{ first_name }}"},
        default_language="fr",
        status="completed",
    )
    messages = []
    now = datetime.now(UTC)
    for n, status in enumerate(statuses):
        lead = await person(f"{name} {n}", phone=f"+3247{campaign.id:02d}{n:05d}", language="fr")
        messages.append(
            await OutboxMessage.create(
                lead=lead,
                channel="sms",
                address=lead.phone,
                language="fr",
                body="Bonjour",
                kind="campaign",
                status=status,
                error_code="opted_out" if status == "skipped" else None,
                due_at=now,
                sent_at=now if status in ("sent", "delivered") else None,
                status_at=now if status == "delivered" else None,
                idempotency_key=f"test:{campaign.id}:{n}",
                campaign_id=campaign.id,
            )
        )
    return campaign, messages


async def _reply(message: OutboxMessage, body: str, n: int) -> None:
    await InboundMessage.create(
        lead_id=message.lead_id,
        channel="sms",
        address=message.address,
        body=body,
        provider_id=f"SMtest{message.id}-{n}",
        reply_to=message,
        campaign_id=message.campaign_id,
        received_at=datetime.now(UTC),
    )


async def test_campaign_results_equal_the_campaign_stats(client, make_caller):
    marketing = await exporter(make_caller, Role.MARKETING)
    spring, sent = await _campaign(
        "Printemps", ["delivered", "delivered", "sent", "failed", "skipped", "queued"]
    )
    await _reply(sent[0], "Oui, intéressée", 1)
    await _reply(sent[1], "STOP", 2)
    autumn, _ = await _campaign("Automne", ["delivered", "skipped"])

    response = await client.get(f"{EXPORT}/campaign-results.csv", headers=marketing.headers)

    assert response.status_code == 200, response.text
    rows = {int(r["campaign_id"]): r for r in read_csv(response.content)}
    for campaign in (spring, autumn):
        stats = await campaign_stats(campaign)
        assert {k: int(rows[campaign.id][k]) for k in FIGURES} == {k: stats[k] for k in FIGURES}
    assert rows[spring.id]["replied"] == "1" and rows[spring.id]["opted_out"] == "1"


async def test_campaign_results_of_one_campaign_in_xlsx(client, admin):
    spring, _ = await _campaign("Printemps", ["delivered", "failed"])
    await _campaign("Automne", ["delivered"])

    response = await client.get(
        f"{EXPORT}/campaign-results.xlsx", params={"campaign_id": spring.id}, headers=admin.headers
    )

    header, rows = read_xlsx(response.content)
    assert len(rows) == 1
    cells = dict(zip(header, [c.value for c in rows[0]], strict=True))
    assert (cells["name"], cells["delivered"], cells["failed"]) == ("Printemps", 1, 1)


async def test_recipients_of_one_campaign_one_row_per_message(client, admin):
    spring, sent = await _campaign("Printemps", ["delivered", "delivered", "skipped"])
    await _reply(sent[0], "Merci !", 1)
    await _reply(sent[1], "ARRET", 2)

    response = await client.get(
        f"{EXPORT}/campaign-recipients.csv",
        params={"campaign_id": spring.id},
        headers=admin.headers,
    )

    rows = read_csv(response.content)
    assert [(r["person_id"], r["status"], r["replied"], r["opted_out"]) for r in rows] == [
        (str(sent[0].lead_id), "delivered", "yes", "no"),
        (str(sent[1].lead_id), "delivered", "no", "yes"),
        (str(sent[2].lead_id), "skipped", "no", "no"),
    ]
    assert rows[2]["reason"] == "opted_out"
    assert rows[0]["delivered_at"] != "" and rows[2]["sent_at"] == ""


async def test_recipients_need_the_campaign(client, admin):
    response = await client.get(f"{EXPORT}/campaign-recipients.csv", headers=admin.headers)

    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "campaign_id"


async def test_agents_do_not_export_campaign_results(client, make_caller):
    agent = await exporter(make_caller, Role.AGENT)

    response = await client.get(f"{EXPORT}/campaign-results.csv", headers=agent.headers)

    assert response.status_code == 403
    assert response.json()["detail"][0]["field"] == "dataset"
