"""The gates of a campaign run: each stops exactly the right people, with its reason on their
outbox row and in the stats; the audience keys; one row per person per run; the variables
each person's message is rendered with."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from campaigns.fanout import RunPlanner, write_batch
from campaigns.models import Campaign, CampaignRun, RunStatus
from channels.models import Channel, MessageKind, OutboxMessage, OutboxStatus
from crm.config import reload_settings, settings
from crm.enums import Role
from crm.geo import Region
from crm.outreach.models import (
    EventKind,
    EventRegistration,
    Interaction,
    InteractionChannel,
    InteractionKind,
    OutreachEvent,
)
from crm.people.models import Lead, LeadSegment, Stage
from crm.referrals.models import Referral, ReferralPurpose
from tests.campaigns.conftest import grant, run_at, soon

GREETING = {
    "fr": "Bonjour {{ first_name }} ! {{ opt_out }}",
    "nl": "Hallo {{ first_name }}! {{ opt_out }}",
    "de": "Hallo {{ first_name }}, guten Tag! {{ opt_out }}",
}


# ---- helpers ----------------------------------------------------------------------------------


@contextmanager
def changed_settings(**overrides: Any) -> Iterator[None]:
    """Settings with `overrides` on top of the current ones (the stand-ins' configuration is
    kept), restored afterwards whatever happens."""
    saved = settings.model_dump()
    reload_settings(**{**saved, **overrides})
    try:
        yield
    finally:
        reload_settings(**saved)


async def create(client, caller, **fields: Any) -> int:
    body = {
        "name": "Gates",
        "channel": "sms",
        "messages": GREETING,
        "schedule": {"at": soon()},
        **fields,
    }
    created = await client.post("/api/v1/campaigns", json=body, headers=caller.headers)
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def schedule_and_run(client, caller, campaign_id: int) -> Campaign:
    scheduled = await client.post(
        f"/api/v1/campaigns/{campaign_id}/schedule", headers=caller.headers
    )
    assert scheduled.status_code == 200, scheduled.text
    campaign = await Campaign.get(id=campaign_id)
    assert campaign.next_run_at is not None
    assert await run_at(campaign.next_run_at + timedelta(seconds=1)) >= 1
    return campaign


async def launch(client, caller, **fields: Any) -> int:
    """Create, schedule and fan out a campaign; its id."""
    campaign_id = await create(client, caller, **fields)
    await schedule_and_run(client, caller, campaign_id)
    return campaign_id


async def rows_of(campaign_id: int) -> dict[int, OutboxMessage]:
    found = await OutboxMessage.filter(campaign_id=campaign_id).order_by("id")
    by_lead = {r.lead_id: r for r in found}
    assert len(by_lead) == len(found), "two rows for one person in one run"
    return by_lead


async def outcomes(campaign_id: int) -> dict[int, str]:
    """Per person: `queued`, or the skip reason."""
    return {
        lead_id: (row.error_code or "?") if row.status == OutboxStatus.SKIPPED else str(row.status)
        for lead_id, row in (await rows_of(campaign_id)).items()
    }


async def stats(client, caller, campaign_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/campaigns/{campaign_id}/stats", headers=caller.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def past_campaign_message(lead: Lead, *, days_ago: float, campaign_id: int) -> None:
    """A campaign message another campaign sent this person `days_ago`."""
    at = datetime.now(UTC) - timedelta(days=days_ago)
    await OutboxMessage.create(
        lead=lead,
        channel=Channel.SMS,
        address=lead.phone,
        language="fr",
        body="Une autre campagne",
        kind=MessageKind.CAMPAIGN,
        status=OutboxStatus.SENT,
        due_at=at,
        sent_at=at,
        idempotency_key=f"campaign:{campaign_id}:run:1:lead:{lead.id}",
        campaign_id=campaign_id,
        run_id=10_000 + campaign_id,
    )


# ---- consent -----------------------------------------------------------------------------------


async def test_person_without_sms_consent_is_skipped_no_consent(client, marketing, person):
    with_consent = await person()
    without = await person(consent=False)

    campaign_id = await launch(client, marketing)

    assert await outcomes(campaign_id) == {with_consent.id: "queued", without.id: "no_consent"}
    figures = await stats(client, marketing, campaign_id)
    assert figures["audience"] == 2 and figures["queued"] == 1 and figures["skipped"] == 1
    assert figures["skipped_reasons"] == {"no_consent": 1}


async def test_person_whose_latest_consent_entry_withdraws_it_is_skipped_opted_out(
    client, marketing, person
):
    stays = await person()
    left = await person(consent=False)
    now = datetime.now(UTC)
    await grant(left, Channel.SMS, at=now - timedelta(days=10))
    await grant(left, Channel.SMS, granted=False, at=now - timedelta(days=2))
    came_back = await person(consent=False)
    await grant(came_back, Channel.SMS, granted=False, at=now - timedelta(days=10))
    await grant(came_back, Channel.SMS, at=now - timedelta(days=2))

    campaign_id = await launch(client, marketing)

    assert await outcomes(campaign_id) == {
        stays.id: "queued",
        left.id: "opted_out",
        came_back.id: "queued",
    }
    assert (await stats(client, marketing, campaign_id))["skipped_reasons"] == {"opted_out": 1}


async def test_consent_withdrawn_between_fan_out_and_send_is_honoured_at_once(
    client, marketing, person, dispatcher, twilio_standin
):
    stays = await person()
    leaves = await person()
    campaign_id = await launch(client, marketing)
    assert await outcomes(campaign_id) == {stays.id: "queued", leaves.id: "queued"}

    await grant(leaves, Channel.SMS, granted=False, at=datetime.now(UTC))
    await dispatcher.drain(max_seconds=5)

    assert await outcomes(campaign_id) == {stays.id: "sent", leaves.id: "opted_out"}
    assert [m["to"] for m in twilio_standin.messages()] == [stays.phone]
    figures = await stats(client, marketing, campaign_id)
    assert figures["sent"] == 1 and figures["skipped_reasons"] == {"opted_out": 1}


# ---- the per-person cap -----------------------------------------------------------------------


async def test_person_with_two_campaign_messages_this_week_is_skipped_cap(
    client, marketing, person
):
    busy = await person()
    await past_campaign_message(busy, days_ago=1, campaign_id=901)
    await past_campaign_message(busy, days_ago=5, campaign_id=902)
    once = await person()
    await past_campaign_message(once, days_ago=2, campaign_id=901)
    long_ago = await person()
    await past_campaign_message(long_ago, days_ago=2, campaign_id=901)
    await past_campaign_message(long_ago, days_ago=9, campaign_id=902)

    campaign_id = await launch(client, marketing)

    assert await outcomes(campaign_id) == {
        busy.id: "cap",
        once.id: "queued",
        long_ago.id: "queued",
    }
    assert (await stats(client, marketing, campaign_id))["skipped_reasons"] == {"cap": 1}


async def test_a_higher_cap_setting_lets_the_third_message_through(client, marketing, person):
    busy = await person()
    await past_campaign_message(busy, days_ago=1, campaign_id=901)
    await past_campaign_message(busy, days_ago=5, campaign_id=902)

    with changed_settings(CAMPAIGN_CAP_MESSAGES=3):
        campaign_id = await launch(client, marketing)

    assert await outcomes(campaign_id) == {busy.id: "queued"}


# ---- quiet hours -------------------------------------------------------------------------------


async def test_quiet_hours_hold_queued_campaign_messages_and_stats_show_them_waiting(
    client, marketing, person, dispatcher, twilio_standin
):
    people = [await person(), await person()]
    campaign_id = await launch(client, marketing)
    hour = datetime.now(settings.tz).hour

    with changed_settings(QUIET_HOURS=f"{(hour - 1) % 24:02d}:00-{(hour + 2) % 24:02d}:00"):
        await dispatcher.drain(max_seconds=5)
        figures = await stats(client, marketing, campaign_id)

    assert await outcomes(campaign_id) == {p.id: "queued" for p in people}
    assert twilio_standin.messages() == []
    assert figures["queued"] == 2 and figures["sent"] == 0
    assert figures["waiting"] == 2 and figures["waiting_for_quiet_hours_end"] == 2


# ---- stages and addresses ----------------------------------------------------------------------


async def test_financed_and_lost_people_are_skipped_closed_stage(client, marketing, person):
    open_ = await person(stage=Stage.COACHED)
    financed = await person(stage=Stage.FINANCED)
    lost = await person(stage=Stage.LOST, lost_reason="moved away")

    campaign_id = await launch(client, marketing)

    assert await outcomes(campaign_id) == {
        open_.id: "queued",
        financed.id: "closed_stage",
        lost.id: "closed_stage",
    }
    assert (await stats(client, marketing, campaign_id))["skipped_reasons"] == {"closed_stage": 2}


async def test_closed_stages_named_in_the_audience_are_messaged(client, marketing, person):
    await person(stage=Stage.COACHED)
    financed = await person(stage=Stage.FINANCED)
    lost = await person(stage=Stage.LOST, lost_reason="moved away")

    campaign_id = await launch(
        client, marketing, audience={"stages": [Stage.FINANCED.value, Stage.LOST.value]}
    )

    assert await outcomes(campaign_id) == {financed.id: "queued", lost.id: "queued"}


async def test_person_without_a_phone_is_skipped_no_address_for_sms(client, marketing, person):
    phone = await person()
    no_phone = await person(phone=None, telegram_chat_id=555_001)

    campaign_id = await launch(client, marketing)

    assert await outcomes(campaign_id) == {phone.id: "queued", no_phone.id: "no_address"}
    assert (await stats(client, marketing, campaign_id))["skipped_reasons"] == {"no_address": 1}


async def test_preferred_channel_is_telegram_with_a_chat_and_consent_else_sms(
    client, marketing, person, dispatcher, twilio_standin, telegram_standin
):
    chat = await person(telegram_chat_id=555_002)
    no_chat = await person()
    chat_without_telegram_consent = await person(consent=False, telegram_chat_id=555_003)
    await grant(chat_without_telegram_consent, Channel.SMS)

    campaign_id = await launch(client, marketing, channel="preferred")
    rows = await rows_of(campaign_id)

    assert (rows[chat.id].channel, rows[chat.id].address) == (Channel.TELEGRAM, "555002")
    assert rows[chat.id].body.endswith("/stop pour ne plus recevoir")
    assert (rows[no_chat.id].channel, rows[no_chat.id].address) == (Channel.SMS, no_chat.phone)
    assert rows[chat_without_telegram_consent.id].channel == Channel.SMS
    await dispatcher.drain(max_seconds=5)
    assert [m["chat_id"] for m in telegram_standin.messages()] == [555_002]
    assert sorted(m["to"] for m in twilio_standin.messages()) == sorted(
        [no_chat.phone, chat_without_telegram_consent.phone]
    )
    assert (await stats(client, marketing, campaign_id))["sent"] == 3


# ---- languages -------------------------------------------------------------------------------


async def test_each_person_reads_their_own_language(client, marketing, person):
    amina = await person(first_name="Amina", language="fr")
    sofie = await person(first_name="Sofie", language="nl")
    lena = await person(first_name="Lena", language="de")

    campaign_id = await launch(client, marketing)
    rows = await rows_of(campaign_id)

    assert rows[amina.id].body == "Bonjour Amina ! STOP pour ne plus recevoir"
    assert rows[sofie.id].body == "Hallo Sofie! STOP om uit te schrijven"
    assert rows[lena.id].body == "Hallo Lena, guten Tag! STOP zum Abmelden"
    assert [rows[p.id].language for p in (amina, sofie, lena)] == ["fr", "nl", "de"]


async def test_language_without_a_message_falls_back_to_the_default_and_checks_count_it(
    client, marketing, person
):
    sofie = await person(first_name="Sofie", language="nl")
    lena = await person(first_name="Lena", language="de")
    campaign_id = await create(
        client,
        marketing,
        messages={"fr": GREETING["fr"], "nl": GREETING["nl"]},
        default_language="fr",
    )

    checks = await client.get(f"/api/v1/campaigns/{campaign_id}/checks", headers=marketing.headers)
    assert checks.status_code == 200, checks.text
    assert checks.json()["fallbacks"] == 1
    assert checks.json()["languages"]["fr"]["fallbacks"] == 1
    assert checks.json()["by_language"] == {"fr": 1, "nl": 1}

    await schedule_and_run(client, marketing, campaign_id)
    rows = await rows_of(campaign_id)
    assert rows[sofie.id].body.startswith("Hallo Sofie!")
    assert (rows[lena.id].language, rows[lena.id].body) == (
        "fr",
        "Bonjour Lena ! STOP pour ne plus recevoir",
    )


# ---- audience keys -----------------------------------------------------------------------------


async def test_audience_segments_take_people_in_any_of_them(client, marketing, person):
    women = await person()
    await LeadSegment.create(lead=women, code="women")
    youth = await person()
    await LeadSegment.create(lead=youth, code="youth")
    other = await person()
    await LeadSegment.create(lead=other, code="over_50")
    await person()  # no segment

    campaign_id = await launch(client, marketing, audience={"segments": ["women", "youth"]})

    assert set(await outcomes(campaign_id)) == {women.id, youth.id}


async def test_audience_languages(client, marketing, person):
    dutch = await person(language="nl")
    german = await person(language="de")
    await person(language="fr")
    await person(language=None)

    campaign_id = await launch(client, marketing, audience={"languages": ["nl", "de"]})

    assert set(await outcomes(campaign_id)) == {dutch.id, german.id}


async def test_audience_postcodes(client, marketing, person):
    molenbeek = await person(postcode="1080")
    anderlecht = await person(postcode="1070")
    await person(postcode="1000")
    await person(postcode=None)

    campaign_id = await launch(client, marketing, audience={"postcodes": ["1080", "1070"]})

    assert set(await outcomes(campaign_id)) == {molenbeek.id, anderlecht.id}


async def test_audience_regions(client, marketing, person):
    eupen = await person(postcode="4700", region=Region.GERMAN_SPEAKING, language="de")
    await person(postcode="9000", region=Region.FLANDERS, language="nl")
    await person(postcode="1080", region=Region.BRUSSELS)

    campaign_id = await launch(client, marketing, audience={"regions": ["german_speaking"]})

    assert set(await outcomes(campaign_id)) == {eupen.id}


async def test_audience_events_take_people_met_registered_or_seen_there(client, marketing, person):
    starts = datetime.now(UTC) + timedelta(days=10)
    market = await OutreachEvent.create(
        kind=EventKind.MARKET_STAND, title="Marché du Midi", starts_at=starts
    )
    session = await OutreachEvent.create(
        kind=EventKind.INFO_SESSION, title="Séance d'info", starts_at=starts
    )
    elsewhere = await OutreachEvent.create(
        kind=EventKind.MARKET_STAND, title="Marché de Gand", starts_at=starts
    )
    met = await person(event_id=market.id)
    registered = await person()
    await EventRegistration.create(event=session, lead=registered)
    seen = await person()
    await Interaction.create(
        lead=seen,
        kind=InteractionKind.CONTACT,
        channel=InteractionChannel.IN_PERSON,
        occurred_at=starts,
        event=market,
    )
    met_elsewhere = await person(event_id=elsewhere.id)
    await EventRegistration.create(event=elsewhere, lead=met_elsewhere)
    await person()

    campaign_id = await launch(client, marketing, audience={"event_ids": [market.id, session.id]})

    assert set(await outcomes(campaign_id)) == {met.id, registered.id, seen.id}


async def test_audience_partners_take_people_they_referred(client, marketing, person, make_partner):
    cpas = await make_partner("CPAS Molenbeek")
    actiris = await make_partner("Actiris")
    other = await make_partner("Forem")
    referred = await person(referring_partner=cpas)
    sent_later = await person()
    await Referral.create(
        sender=actiris,
        lead=sent_later,
        purpose=ReferralPurpose.MICROCREDIT,
        consent_given_at=datetime.now(UTC),
        consent_method="signed_form",
    )
    await person(referring_partner=other)
    await person()

    campaign_id = await launch(client, marketing, audience={"partner_ids": [cpas.id, actiris.id]})

    assert set(await outcomes(campaign_id)) == {referred.id, sent_later.id}


async def test_audience_agents_take_people_assigned_to_or_reached_by_them(
    client, marketing, person, make_caller
):
    karim = await make_caller(Role.AGENT, first_name="Karim")
    other = await make_caller(Role.AGENT, first_name="Els")
    assigned = await person(assigned_agent=karim.user)
    reached = await person(reached_by=karim.user)
    await person(assigned_agent=other.user)
    await person()

    campaign_id = await launch(client, marketing, audience={"agent_ids": [karim.user.id]})

    assert set(await outcomes(campaign_id)) == {assigned.id, reached.id}


async def test_audience_created_after_and_before(client, marketing, person):
    now = datetime.now(UTC)
    old = await person()
    inside = await person()
    recent = await person()
    await Lead.filter(id=old.id).update(created_at=now - timedelta(days=60))
    await Lead.filter(id=inside.id).update(created_at=now - timedelta(days=20))
    await Lead.filter(id=recent.id).update(created_at=now - timedelta(days=2))

    campaign_id = await launch(
        client,
        marketing,
        audience={
            "created_after": (now - timedelta(days=30)).isoformat(),
            "created_before": (now - timedelta(days=10)).isoformat(),
        },
    )

    assert set(await outcomes(campaign_id)) == {inside.id}


async def test_audience_not_messaged_days_leaves_out_someone_messaged_yesterday(
    client, marketing, person
):
    yesterday = await person()
    await past_campaign_message(yesterday, days_ago=1, campaign_id=901)
    last_week = await person()
    await past_campaign_message(last_week, days_ago=8, campaign_id=902)
    never = await person()

    campaign_id = await launch(client, marketing, audience={"not_messaged_days": 3})

    assert set(await outcomes(campaign_id)) == {last_week.id, never.id}


# ---- one row per person per run -----------------------------------------------------------------


async def test_running_the_worker_twice_writes_no_second_row(client, marketing, person):
    people = [await person() for _ in range(3)]
    campaign_id = await launch(client, marketing)
    run = await CampaignRun.get(campaign_id=campaign_id)

    await run_at(run.planned_at + timedelta(minutes=1))
    await run_at(run.planned_at + timedelta(minutes=1), worker="another-worker")

    assert await CampaignRun.filter(campaign_id=campaign_id).count() == 1
    assert set(await outcomes(campaign_id)) == {p.id for p in people}
    assert await OutboxMessage.filter(campaign_id=campaign_id).count() == 3


async def test_a_run_resumed_from_the_start_writes_no_second_row(client, marketing, person):
    people = [await person() for _ in range(3)]
    campaign_id = await launch(client, marketing)
    run = await CampaignRun.get(campaign_id=campaign_id)
    assert run.status == RunStatus.DONE

    # A worker died and its run is fanned out again from the start.
    await CampaignRun.filter(id=run.id).update(status=RunStatus.PENDING, cursor=0)
    await run_at(run.planned_at + timedelta(seconds=1))

    await run.refresh_from_db()
    assert run.status == RunStatus.DONE
    assert await OutboxMessage.filter(campaign_id=campaign_id).count() == 3
    assert set(await outcomes(campaign_id)) == {p.id for p in people}


async def test_a_batch_written_twice_writes_no_second_row(client, marketing, person):
    people = [await person() for _ in range(3)]
    campaign_id = await launch(client, marketing)
    campaign = await Campaign.get(id=campaign_id)
    run = await CampaignRun.get(campaign_id=campaign_id)
    before = {r.id for r in await OutboxMessage.filter(campaign_id=campaign_id)}

    await CampaignRun.filter(id=run.id).update(
        status=RunStatus.FANNING_OUT, leased_by="replayer", cursor=0
    )
    planner = RunPlanner(campaign, run_id=run.id, planned_at=run.planned_at)
    await planner.load()
    async for batch in planner.batches():
        planned = await planner.plan(batch)
        assert await write_batch(run, "replayer", planned, cursor=batch[-1]["id"], lease_seconds=60)

    assert {r.id for r in await OutboxMessage.filter(campaign_id=campaign_id)} == before
    assert set(await outcomes(campaign_id)) == {p.id for p in people}


async def test_a_run_over_several_batches_writes_one_row_per_person(client, marketing, person):
    people = [await person() for _ in range(25)]

    with changed_settings(CAMPAIGN_FANOUT_BATCH=10):
        campaign_id = await launch(client, marketing)

    assert set(await outcomes(campaign_id)) == {p.id for p in people}
    run = await CampaignRun.get(campaign_id=campaign_id)
    assert (run.status, run.cursor) == (RunStatus.DONE, people[-1].id)


async def test_a_run_whose_worker_died_resumes_from_its_cursor_without_duplicates(
    client, marketing, person
):
    people = [await person() for _ in range(25)]
    with changed_settings(CAMPAIGN_FANOUT_BATCH=10):
        campaign_id = await launch(client, marketing)
        run = await CampaignRun.get(campaign_id=campaign_id)
        # The worker that held the run died after its first batch; its lease ran out.
        await CampaignRun.filter(id=run.id).update(
            status=RunStatus.FANNING_OUT,
            cursor=people[9].id,
            leased_by="dead-worker",
            lease_until=datetime.now(UTC) - timedelta(minutes=1),
        )
        await OutboxMessage.filter(
            campaign_id=campaign_id, lead_id__in=[p.id for p in people[10:]]
        ).delete()
        await run_at(run.planned_at + timedelta(seconds=1), worker="survivor")

    assert set(await outcomes(campaign_id)) == {p.id for p in people}
    await run.refresh_from_db()
    assert run.status == RunStatus.DONE


# ---- variables ----------------------------------------------------------------------------------


async def test_agent_first_name_is_the_assigned_agent(client, marketing, person, make_caller):
    karim = await make_caller(Role.AGENT, first_name="Karim")
    els = await make_caller(Role.AGENT, first_name="Els")
    with_karim = await person(assigned_agent=karim.user)
    with_els = await person(assigned_agent=els.user, language="nl")
    nobody = await person()

    campaign_id = await launch(
        client,
        marketing,
        messages={
            "fr": "{{ agent.first_name or 'Notre équipe' }} vous salue.",
            "nl": "{{ agent.first_name or 'Ons team' }} groet u.",
        },
    )
    rows = await rows_of(campaign_id)

    assert rows[with_karim.id].body == "Karim vous salue."
    assert rows[with_els.id].body == "Els groet u."
    assert rows[nobody.id].body == "Notre équipe vous salue."


async def test_event_title_and_start_are_the_persons_event_in_their_language_and_brussels_time(
    client, marketing, person
):
    # 12:00 UTC in July is 14:00 in Brussels (summer time); 13:00 UTC in December is 14:00 too.
    market = await OutreachEvent.create(
        kind=EventKind.MARKET_STAND,
        title="Marché du Midi",
        starts_at=datetime(2030, 7, 2, 12, 0, tzinfo=UTC),
    )
    session = await OutreachEvent.create(
        kind=EventKind.INFO_SESSION,
        title="Infosessie",
        starts_at=datetime(2030, 12, 3, 13, 0, tzinfo=UTC),
    )
    met = await person(language="fr", event_id=market.id)
    registered = await person(language="nl", event_id=market.id)
    await EventRegistration.create(event=session, lead=registered)
    german = await person(language="de", event_id=market.id)

    campaign_id = await launch(
        client,
        marketing,
        messages={
            "fr": "{{ event.title }}, {{ event.starts_at }}",
            "nl": "{{ event.title }}, {{ event.starts_at }}",
            "de": "{{ event.title }}, {{ event.starts_at }}",
        },
    )
    rows = await rows_of(campaign_id)

    assert rows[met.id].body == "Marché du Midi, mardi 2 juillet à 14:00"
    assert rows[registered.id].body == "Infosessie, dinsdag 3 december om 14:00"
    assert rows[german.id].body == "Marché du Midi, Dienstag, 2. Juli um 14:00"


async def test_opt_out_hint_is_in_the_persons_language_and_channel(client, marketing, person):
    french_sms = await person(language="fr")
    dutch_sms = await person(language="nl")
    german_telegram = await person(language="de", telegram_chat_id=555_010)
    dutch_telegram = await person(language="nl", telegram_chat_id=555_011)

    campaign_id = await launch(
        client,
        marketing,
        channel="preferred",
        messages={"fr": "{{ opt_out }}", "nl": "{{ opt_out }}", "de": "{{ opt_out }}"},
    )
    rows = await rows_of(campaign_id)

    assert rows[french_sms.id].body == "STOP pour ne plus recevoir"
    assert rows[dutch_sms.id].body == "STOP om uit te schrijven"
    assert rows[german_telegram.id].body == "/stop zum Abmelden"
    assert rows[dutch_telegram.id].body == "/stop om uit te schrijven"


async def test_a_message_that_renders_empty_for_a_person_is_skipped_render_error(
    client, marketing, person, make_caller
):
    karim = await make_caller(Role.AGENT, first_name="Karim")
    with_agent = await person(assigned_agent=karim.user)
    without = await person()

    campaign_id = await launch(
        client,
        marketing,
        messages={"fr": "{% if agent %}{{ agent.first_name }} vous salue.{% endif %}"},
    )

    assert await outcomes(campaign_id) == {with_agent.id: "queued", without.id: "render_error"}
    assert (await stats(client, marketing, campaign_id))["skipped_reasons"] == {"render_error": 1}
