"""Campaign results, counted from the stored rows: what the provider took and delivered, what
failed and why, replies, opt-outs, conversions, A/B variants and single runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from campaigns.models import Campaign, CampaignRun
from campaigns.personalise import variant_of
from channels.models import OutboxMessage, OutboxStatus
from crm.enums import Role
from crm.people.models import LeadStageChange, Stage
from tests.campaigns.conftest import run_at, soon
from tests.channels.conftest import post_twilio, sms_form

GREETING = {
    "fr": "Bonjour {{ first_name }} ! {{ opt_out }}",
    "nl": "Hallo {{ first_name }}! {{ opt_out }}",
}
DAILY = {"cron": "0 10 * * *"}
STATUS = "/webhooks/twilio/status"
SMS = "/webhooks/twilio/sms"


# ---- helpers ----------------------------------------------------------------------------------


async def create(client, caller, **fields: Any) -> int:
    body = {
        "name": "Stats",
        "channel": "sms",
        "messages": GREETING,
        "schedule": {"at": soon()},
        **fields,
    }
    created = await client.post("/api/v1/campaigns", json=body, headers=caller.headers)
    assert created.status_code == 201, created.text
    scheduled = await client.post(
        f"/api/v1/campaigns/{created.json()['id']}/schedule", headers=caller.headers
    )
    assert scheduled.status_code == 200, scheduled.text
    return created.json()["id"]


async def next_run(campaign_id: int) -> CampaignRun:
    campaign = await Campaign.get(id=campaign_id)
    assert campaign.next_run_at is not None
    planned = campaign.next_run_at
    assert await run_at(planned + timedelta(seconds=1)) >= 1
    return await CampaignRun.get(campaign_id=campaign_id, planned_at=planned)


async def launch(client, caller, dispatcher, **fields: Any) -> int:
    """Create, schedule, fan out and send a campaign through the Twilio stand-in."""
    campaign_id = await create(client, caller, **fields)
    await next_run(campaign_id)
    await dispatcher.drain(max_seconds=5)
    return campaign_id


async def stats(client, caller, campaign_id: int, **params: Any) -> dict[str, Any]:
    response = await client.get(
        f"/api/v1/campaigns/{campaign_id}/stats", params=params, headers=caller.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def row_of(campaign_id: int, lead) -> OutboxMessage:
    return await OutboxMessage.get(campaign_id=campaign_id, lead_id=lead.id)


async def reply(client, lead, body: str, n: int) -> None:
    response = await post_twilio(client, SMS, sms_form(f"SM{n:032x}", lead.phone, body))
    assert response.status_code == 200, response.text


async def move(client, caller, lead, stage: Stage, **extra: Any) -> None:
    response = await client.patch(
        f"/api/v1/leads/{lead.id}", json={"stage": stage.value, **extra}, headers=caller.headers
    )
    assert response.status_code == 200, response.text


# ---- sending -----------------------------------------------------------------------------------


async def test_messages_the_provider_accepted_count_as_sent(
    client, marketing, person, dispatcher, twilio_standin
):
    people = [await person() for _ in range(3)]
    await person(consent=False)

    campaign_id = await launch(client, marketing, dispatcher)

    figures = await stats(client, marketing, campaign_id)
    assert (figures["audience"], figures["queued"], figures["sent"]) == (4, 3, 3)
    assert (figures["waiting"], figures["delivered"], figures["failed"]) == (0, 0, 0)
    assert figures["skipped"] == 1
    provider_ids = {(await row_of(campaign_id, p)).provider_id for p in people}
    assert provider_ids == {m["sid"] for m in twilio_standin.messages()}


async def test_delivered_status_callback_counts_as_delivered(
    client, marketing, person, dispatcher, twilio_standin
):
    reached = await person()
    await person()
    campaign_id = await launch(client, marketing, dispatcher)
    row = await row_of(campaign_id, reached)

    url, form = twilio_standin.status_callback_form(row.provider_id, "delivered")
    assert url.endswith(STATUS)
    response = await post_twilio(client, STATUS, form)
    assert response.status_code in (200, 204), response.text

    figures = await stats(client, marketing, campaign_id)
    assert (figures["sent"], figures["delivered"], figures["failed"]) == (2, 1, 0)


async def test_a_send_the_provider_refuses_counts_as_failed_with_the_reason(
    client, marketing, person, dispatcher, twilio_standin
):
    refused = await person()
    await person()
    twilio_standin.add_faults(refused.phone, [{"status": 400, "code": 21211}])

    campaign_id = await launch(client, marketing, dispatcher)

    row = await row_of(campaign_id, refused)
    assert (row.status, row.error_code) == (OutboxStatus.FAILED, "21211")
    figures = await stats(client, marketing, campaign_id)
    assert (figures["sent"], figures["failed"]) == (1, 1)
    assert figures["failed_reasons"] == {"21211": 1}


async def test_an_undelivered_callback_counts_as_failed_with_the_carrier_code(
    client, marketing, person, dispatcher, twilio_standin
):
    unreachable = await person()
    campaign_id = await launch(client, marketing, dispatcher)
    row = await row_of(campaign_id, unreachable)

    _url, form = twilio_standin.status_callback_form(row.provider_id, "undelivered", 30003)
    assert (await post_twilio(client, STATUS, form)).status_code in (200, 204)

    figures = await stats(client, marketing, campaign_id)
    assert (figures["failed"], figures["delivered"]) == (1, 0)
    assert figures["failed_reasons"] == {"30003": 1}


# ---- replies and opt-outs ----------------------------------------------------------------------


async def test_an_sms_answering_the_campaign_counts_as_replied(
    client, marketing, person, dispatcher
):
    interested = await person()
    await person()
    campaign_id = await launch(client, marketing, dispatcher)

    await reply(client, interested, "Oui, ça m'intéresse !", 1)
    await reply(client, interested, "Quand est la séance ?", 2)

    figures = await stats(client, marketing, campaign_id)
    assert (figures["replied"], figures["opted_out"]) == (1, 0)


async def test_stop_answering_the_campaign_counts_as_opted_out_not_replied(
    client, marketing, person, dispatcher
):
    leaving = await person()
    interested = await person()
    campaign_id = await launch(client, marketing, dispatcher)

    await reply(client, leaving, "STOP", 1)
    await reply(client, interested, "Merci", 2)

    figures = await stats(client, marketing, campaign_id)
    assert (figures["replied"], figures["opted_out"]) == (1, 1)


# ---- conversions -------------------------------------------------------------------------------


async def test_a_stage_moving_forward_within_the_window_is_a_conversion(
    client, marketing, person, dispatcher, make_caller
):
    coordinator = await make_caller(Role.COORDINATOR)
    moved = await person(stage=Stage.LEAD)
    await person(stage=Stage.LEAD)
    campaign_id = await launch(client, marketing, dispatcher, conversion_days=7)

    await move(client, coordinator, moved, Stage.INFO_SESSION)

    figures = await stats(client, marketing, campaign_id)
    assert figures["conversions"] == 1 and figures["conversion_days"] == 7


async def test_a_stage_moving_forward_after_the_window_is_not_a_conversion(
    client, marketing, person, dispatcher, make_caller
):
    coordinator = await make_caller(Role.COORDINATOR)
    late = await person(stage=Stage.LEAD)
    in_time = await person(stage=Stage.LEAD)
    campaign_id = await launch(client, marketing, dispatcher, conversion_days=7)
    sent_at = (await row_of(campaign_id, late)).sent_at

    await move(client, coordinator, late, Stage.CONTACTED)
    await move(client, coordinator, in_time, Stage.CONTACTED)
    # As if the late one moved eight days after the message, the other six days after.
    await LeadStageChange.filter(lead_id=late.id).update(at=sent_at + timedelta(days=8))
    await LeadStageChange.filter(lead_id=in_time.id).update(at=sent_at + timedelta(days=6))

    assert (await stats(client, marketing, campaign_id))["conversions"] == 1


async def test_a_stage_move_before_the_message_is_not_a_conversion(
    client, marketing, person, dispatcher, make_caller
):
    coordinator = await make_caller(Role.COORDINATOR)
    earlier = await person(stage=Stage.LEAD)
    await move(client, coordinator, earlier, Stage.CONTACTED)

    campaign_id = await launch(client, marketing, dispatcher)

    assert (await stats(client, marketing, campaign_id))["conversions"] == 0


async def test_a_stage_moving_back_or_to_lost_is_not_a_conversion(
    client, marketing, person, dispatcher, make_caller
):
    coordinator = await make_caller(Role.COORDINATOR)
    back = await person(stage=Stage.CONTACTED)
    lost = await person(stage=Stage.CONTACTED)
    campaign_id = await launch(client, marketing, dispatcher)

    await move(client, coordinator, back, Stage.LEAD)
    await move(client, coordinator, lost, Stage.LOST, lost_reason="found a job")

    assert (await stats(client, marketing, campaign_id))["conversions"] == 0


# ---- A/B variants ------------------------------------------------------------------------------


async def test_variant_b_share_50_splits_the_audience_the_same_way_every_run(
    client, marketing, person, dispatcher
):
    people = [await person() for _ in range(40)]
    campaign_id = await create(
        client,
        marketing,
        schedule=DAILY,
        variants=[{"name": "B", "share": 50, "messages": {"fr": "Variante B {{ first_name }}"}}],
    )

    first = await next_run(campaign_id)
    second = await next_run(campaign_id)

    by_run = {
        run.id: {r.lead_id: r for r in await OutboxMessage.filter(run_id=run.id)}
        for run in (first, second)
    }
    split = {p.id: by_run[first.id][p.id].variant for p in people}
    assert {p.id: by_run[second.id][p.id].variant for p in people} == split
    assert split == {
        p.id: variant_of(p.id, campaign_id, [{"name": "B", "share": 50}]) for p in people
    }
    b_count = sum(v == "B" for v in split.values())
    assert 10 <= b_count <= 30, split
    for rows in by_run.values():
        for row in rows.values():
            assert row.body.startswith("Variante B") == (row.variant == "B")


async def test_per_variant_figures_add_up_to_the_totals(client, marketing, person, dispatcher):
    people = [await person() for _ in range(20)]
    people += [await person(consent=False) for _ in range(4)]
    campaign_id = await launch(
        client,
        marketing,
        dispatcher,
        variants=[{"name": "B", "share": 50, "messages": {"fr": "Variante B {{ first_name }}"}}],
    )
    for n, someone in enumerate(people[:6]):
        await reply(client, someone, "STOP" if n % 3 == 0 else "Oui", n + 1)

    figures = await stats(client, marketing, campaign_id)

    variants = figures["variants"]
    assert set(variants) == {"A", "B"}
    assert (variants["A"]["share"], variants["B"]["share"]) == (50, 50)
    for key in ("audience", "queued", "sent", "skipped", "replied", "opted_out", "conversions"):
        assert variants["A"][key] + variants["B"][key] == figures[key], key
    assert figures["audience"] == 24 and figures["sent"] == 20
    assert figures["replied"] == 4 and figures["opted_out"] == 2


# ---- one run -----------------------------------------------------------------------------------


async def test_stats_for_one_run_count_that_run_only(client, marketing, person, dispatcher):
    for _ in range(3):
        await person()
    campaign_id = await create(client, marketing, schedule=DAILY)
    first = await next_run(campaign_id)
    await dispatcher.drain(max_seconds=5)
    second = await next_run(campaign_id)

    whole = await stats(client, marketing, campaign_id)
    only_first = await stats(client, marketing, campaign_id, run_id=first.id)
    only_second = await stats(client, marketing, campaign_id, run_id=second.id)

    assert (whole["audience"], whole["sent"], whole["queued"]) == (6, 3, 6)
    assert (only_first["audience"], only_first["sent"]) == (3, 3)
    assert (only_second["audience"], only_second["sent"], only_second["waiting"]) == (3, 0, 3)
    assert {r["id"]: r["audience"] for r in whole["runs"]} == {first.id: 3, second.id: 3}


async def test_stats_for_an_unknown_run_answer_404(client, marketing, person, dispatcher):
    await person()
    campaign_id = await launch(client, marketing, dispatcher)
    other_id = await launch(client, marketing, dispatcher)
    other_run = await CampaignRun.get(campaign_id=other_id)

    for run_id in (other_run.id, 999_999):
        response = await client.get(
            f"/api/v1/campaigns/{campaign_id}/stats",
            params={"run_id": run_id},
            headers=marketing.headers,
        )
        assert response.status_code == 404, response.text
        assert "detail" in response.json()
