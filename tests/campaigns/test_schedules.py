"""When campaigns fire: once at a time, on a cron expression in the business time zone, or
relative to a date of each person; and two workers firing together still make one run.

The clock is the test's: runner functions take `now=`, nothing sleeps for a schedule."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from campaigns.fanout import RunPlanner, idempotency_key, write_batch
from campaigns.models import Campaign, CampaignRun, CampaignStatus, RunStatus
from campaigns.runner import RUN_LEASE_SECONDS, claim_run, plan_due_runs
from campaigns.schedule import MISFIRE_GRACE, parse
from channels.models import OutboxMessage, OutboxStatus
from crm.config import reload_settings, settings
from crm.outreach.models import EventKind, EventRegistration, OutreachEvent
from crm.people.models import Lead
from tests.campaigns.conftest import run_at, soon

MONDAYS_AT_TEN = "0 10 * * 1"
MESSAGES = {
    "fr": "Bonjour {{ first_name }} ! {{ opt_out }}",
    "nl": "Hallo {{ first_name }}! {{ opt_out }}",
}


async def scheduled_campaign(client, caller, schedule: dict[str, Any], **fields: Any) -> Campaign:
    """A campaign created and scheduled through the API."""
    body = {"name": "Schedules", "channel": "sms", "messages": MESSAGES, "schedule": schedule}
    created = await client.post(
        "/api/v1/campaigns", json={**body, **fields}, headers=caller.headers
    )
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    done = await client.post(f"/api/v1/campaigns/{cid}/schedule", headers=caller.headers)
    assert done.status_code == 200, done.text
    return await Campaign.get(id=cid)


def local(moment: datetime) -> datetime:
    return moment.astimezone(settings.tz)


def at_local(day: date, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time of the business time zone, in UTC."""
    return datetime.combine(day, time(hour, minute), tzinfo=settings.tz).astimezone(UTC)


def weeks_later(moment: datetime, weeks: int) -> datetime:
    """The same wall-clock time `weeks` later (daylight-saving changes included), in UTC."""
    return (local(moment) + timedelta(weeks=weeks)).astimezone(UTC)


async def recipients(campaign_id: int) -> list[int]:
    return sorted(
        await OutboxMessage.filter(campaign_id=campaign_id).values_list("lead_id", flat=True)
    )


# ---- once at a time ------------------------------------------------------------------------


async def test_one_off_campaign_runs_once_at_its_time_then_completes(
    client, marketing, person, dispatcher, twilio_standin
):
    people = [await person(), await person(language="nl")]
    campaign = await scheduled_campaign(client, marketing, {"at": soon(30)})
    at = campaign.next_run_at
    assert at is not None

    assert await run_at(at - timedelta(seconds=1)) == 0
    assert await CampaignRun.filter(campaign_id=campaign.id).count() == 0
    assert await OutboxMessage.filter(campaign_id=campaign.id).count() == 0

    assert await run_at(at + timedelta(seconds=1)) == 1
    assert await CampaignRun.filter(campaign_id=campaign.id).count() == 1
    assert await recipients(campaign.id) == sorted(p.id for p in people)
    await campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING and campaign.next_run_at is None

    # Messages still waiting: the campaign is not over yet, and no second run is made.
    assert await run_at(at + timedelta(seconds=2)) == 0
    await campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    assert await CampaignRun.filter(campaign_id=campaign.id).count() == 1

    assert await dispatcher.drain(max_seconds=5) == 2
    await run_at(at + timedelta(seconds=3))
    await campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED
    assert await CampaignRun.filter(campaign_id=campaign.id).count() == 1
    assert len(twilio_standin.messages()) == 2


async def test_one_off_campaign_still_runs_when_the_workers_were_down(client, marketing, person):
    await person()
    campaign = await scheduled_campaign(client, marketing, {"at": soon(30)})
    assert campaign.next_run_at is not None
    assert await run_at(campaign.next_run_at + timedelta(days=2)) == 1
    assert await CampaignRun.filter(campaign_id=campaign.id).count() == 1


# ---- cron in the business time zone --------------------------------------------------------


async def test_monday_cron_fires_on_mondays_at_ten_brussels_time(client, marketing, person):
    await person()
    campaign = await scheduled_campaign(client, marketing, {"cron": MONDAYS_AT_TEN})
    first = campaign.next_run_at
    assert first is not None
    assert local(first).weekday() == 0, f"{local(first):%A %Y-%m-%d %H:%M}"
    assert (local(first).hour, local(first).minute) == (10, 0)
    assert timedelta(0) < first - datetime.now(UTC) <= timedelta(days=7)


def test_monday_cron_stays_at_ten_local_across_the_spring_dst_change():
    schedule = parse({"cron": MONDAYS_AT_TEN})
    # Belgium moves to summer time on Sunday 28 March 2027: 10:00 is 09:00 UTC before, 08:00 after.
    march_22 = schedule.next_fire(datetime(2027, 3, 20, tzinfo=UTC))
    assert march_22 == datetime(2027, 3, 22, 9, 0, tzinfo=UTC)
    assert schedule.next_fire(march_22) == datetime(2027, 3, 29, 8, 0, tzinfo=UTC)
    assert schedule.next_fire(datetime(2027, 4, 1, tzinfo=UTC)) == datetime(
        2027, 4, 5, 8, 0, tzinfo=UTC
    )


def test_crontab_weekday_numbers_count_from_sunday():
    start = datetime(2027, 3, 20, tzinfo=UTC)  # a Saturday
    for expr, weekday in (("0 10 * * 0", 6), ("0 10 * * 7", 6), ("0 10 * * 5", 4)):
        fire = parse({"cron": expr}).next_fire(start)
        assert fire is not None and local(fire).weekday() == weekday, (expr, fire)
    weekdays = parse({"cron": "0 10 * * 1-5"})
    fires, moment = [], start
    for _ in range(5):
        moment = weekdays.next_fire(moment)
        fires.append(local(moment).strftime("%a"))
    assert fires == ["Mon", "Tue", "Wed", "Thu", "Fri"]


async def test_monday_run_moves_the_next_run_to_ten_local_across_the_dst_change(
    client, marketing, person
):
    await person()
    campaign = await scheduled_campaign(client, marketing, {"cron": MONDAYS_AT_TEN})
    # The workers' clock in spring 2027: the campaign's next run is the Monday before the change.
    march_22 = datetime(2027, 3, 22, 9, 0, tzinfo=UTC)
    await Campaign.filter(id=campaign.id).update(next_run_at=march_22)

    assert await run_at(march_22 + timedelta(seconds=1)) == 1
    await campaign.refresh_from_db()
    assert campaign.next_run_at == datetime(2027, 3, 29, 8, 0, tzinfo=UTC)
    assert await run_at(datetime(2027, 3, 29, 8, 0, 1, tzinfo=UTC)) == 1
    await campaign.refresh_from_db()
    assert campaign.next_run_at == datetime(2027, 4, 5, 8, 0, tzinfo=UTC)
    planned = await CampaignRun.filter(campaign_id=campaign.id).order_by("planned_at")
    assert [r.planned_at for r in planned] == [march_22, datetime(2027, 3, 29, 8, tzinfo=UTC)]


async def test_after_a_monday_run_the_next_run_is_the_following_monday(
    client, marketing, person, dispatcher
):
    await person()
    campaign = await scheduled_campaign(client, marketing, {"cron": MONDAYS_AT_TEN})
    first = campaign.next_run_at
    assert first is not None

    assert await run_at(first + timedelta(seconds=1)) == 1
    await campaign.refresh_from_db()
    assert campaign.next_run_at == weeks_later(first, 1)
    assert local(campaign.next_run_at).weekday() == 0
    # Once its messages left, the recurring campaign waits for that next Monday.
    await dispatcher.drain(max_seconds=5)
    await run_at(first + timedelta(minutes=1))
    await campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED
    assert campaign.next_run_at == weeks_later(first, 1)


async def test_until_stops_a_cron_campaign(client, marketing, person, dispatcher):
    await person()
    first = parse({"cron": MONDAYS_AT_TEN}).next_fire(datetime.now(UTC))
    assert first is not None
    until = (first + timedelta(days=1)).isoformat()
    campaign = await scheduled_campaign(client, marketing, {"cron": MONDAYS_AT_TEN, "until": until})
    assert campaign.next_run_at == first

    assert await run_at(first + timedelta(seconds=1)) == 1
    await campaign.refresh_from_db()
    assert campaign.next_run_at is None
    await dispatcher.drain(max_seconds=5)
    assert await run_at(weeks_later(first, 1) + timedelta(seconds=1)) == 0
    await campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED
    assert await CampaignRun.filter(campaign_id=campaign.id).count() == 1


async def test_mondays_missed_while_workers_were_down_make_one_run_not_one_per_week(
    client, marketing, person
):
    someone = await person()
    campaign = await scheduled_campaign(client, marketing, {"cron": MONDAYS_AT_TEN})
    first = campaign.next_run_at
    assert first is not None
    # The workers come back an hour after the fourth Monday: three Mondays were missed.
    fourth = weeks_later(first, 3)
    back = fourth + timedelta(hours=1)

    await run_at(back)
    await run_at(back + timedelta(seconds=10))
    runs = await CampaignRun.filter(campaign_id=campaign.id)
    assert [r.planned_at for r in runs] == [fourth]
    assert await recipients(campaign.id) == [someone.id]
    await campaign.refresh_from_db()
    assert campaign.next_run_at == weeks_later(first, 4)


async def test_a_monday_missed_longer_ago_than_the_grace_is_not_sent_late(
    client, marketing, person
):
    await person()
    campaign = await scheduled_campaign(client, marketing, {"cron": MONDAYS_AT_TEN})
    first = campaign.next_run_at
    assert first is not None

    await run_at(first + MISFIRE_GRACE + timedelta(hours=1))
    assert await CampaignRun.filter(campaign_id=campaign.id).count() == 0
    assert await OutboxMessage.filter(campaign_id=campaign.id).count() == 0
    await campaign.refresh_from_db()
    assert campaign.next_run_at == weeks_later(first, 1)
    # The campaign goes on at its next time.
    assert await run_at(weeks_later(first, 1) + timedelta(seconds=1)) == 1


# ---- relative to a date of the person ------------------------------------------------------


async def event(kind: EventKind, title: str, starts_at: datetime) -> OutreachEvent:
    return await OutreachEvent.create(kind=kind, title=title, starts_at=starts_at)


async def test_two_days_after_the_market_stand_takes_exactly_the_people_met_that_day(
    client, marketing, person
):
    schedule = {"after": {"field": "event.starts_at", "days": 2, "at": "10:00"}}
    first = parse(schedule).next_fire(datetime.now(UTC))
    assert first is not None
    market_day = local(first).date() - timedelta(days=2)
    stand = await event(EventKind.MARKET_STAND, "Marché du Midi", at_local(market_day, 8))
    day_before = await event(
        EventKind.MARKET_STAND, "Marché de Jette", at_local(market_day - timedelta(days=1), 8)
    )
    day_after = await event(
        EventKind.MARKET_STAND, "Marché d'Anderlecht", at_local(market_day + timedelta(days=1), 8)
    )
    met = [await person(event=stand), await person(event=stand, language="nl")]
    met_before = await person(event=day_before)
    met_after = await person(event=day_after)
    await person()  # met nowhere
    campaign = await scheduled_campaign(
        client,
        marketing,
        schedule,
        messages={"fr": "Merci {{ first_name }} ({{ event.title }}) {{ opt_out }}"},
    )
    assert campaign.next_run_at == first

    assert await run_at(first + timedelta(seconds=1)) == 1
    run = await CampaignRun.get(campaign_id=campaign.id)
    assert run.anchor_date == market_day
    assert await recipients(campaign.id) == sorted(p.id for p in met)
    row = await OutboxMessage.get(campaign_id=campaign.id, lead_id=met[0].id)
    assert "Marché du Midi" in row.body
    assert met_before.id not in await recipients(campaign.id)

    # A second tick the same day makes no new run and no new row.
    assert await run_at(first + timedelta(hours=2)) == 0
    assert await CampaignRun.filter(campaign_id=campaign.id).count() == 1
    assert await recipients(campaign.id) == sorted(p.id for p in met)

    # The next day's run takes the next market day's people, each person once.
    next_day = at_local(local(first).date() + timedelta(days=1), 10)
    assert await run_at(next_day + timedelta(seconds=1)) == 1
    assert await recipients(campaign.id) == sorted([*(p.id for p in met), met_after.id])


async def test_the_day_before_the_info_session_reaches_only_the_people_registered_for_it(
    client, marketing, person
):
    schedule = {"after": {"field": "registration.starts_at", "days": -1, "at": "17:00"}}
    first = parse(schedule).next_fire(datetime.now(UTC))
    assert first is not None
    tomorrow = local(first).date() + timedelta(days=1)
    session = await event(EventKind.INFO_SESSION, "Séance d'info", at_local(tomorrow, 14))
    later = await event(
        EventKind.INFO_SESSION, "Séance suivante", at_local(tomorrow, 14) + timedelta(days=7)
    )
    registered = [await person(), await person(language="nl")]
    for someone in registered:
        await EventRegistration.create(event=session, lead=someone)
    registered_later = await person()
    await EventRegistration.create(event=later, lead=registered_later)
    await person()  # registered for nothing
    campaign = await scheduled_campaign(client, marketing, schedule)
    assert campaign.next_run_at == first

    assert await run_at(first + timedelta(seconds=1)) == 1
    run = await CampaignRun.get(campaign_id=campaign.id)
    assert run.anchor_date == tomorrow
    assert await recipients(campaign.id) == sorted(p.id for p in registered)
    assert await run_at(first + timedelta(hours=3)) == 0
    assert await recipients(campaign.id) == sorted(p.id for p in registered)


async def test_created_at_plus_zero_days_greets_the_people_recorded_that_day_once(
    client, marketing, person
):
    schedule = {"after": {"field": "created_at", "days": 0, "at": "19:00"}}
    first = parse(schedule).next_fire(datetime.now(UTC))
    assert first is not None
    day = local(first).date()
    today = [await person(), await person()]
    yesterday = await person()
    for someone in today:
        await Lead.filter(id=someone.id).update(created_at=at_local(day, 9))
    await Lead.filter(id=yesterday.id).update(created_at=at_local(day - timedelta(days=1), 9))
    campaign = await scheduled_campaign(client, marketing, schedule)
    assert campaign.next_run_at == first

    assert await run_at(first + timedelta(seconds=1)) == 1
    assert await recipients(campaign.id) == sorted(p.id for p in today)
    assert await run_at(first + timedelta(hours=1)) == 0
    assert await OutboxMessage.filter(campaign_id=campaign.id).count() == len(today)


# ---- two workers ---------------------------------------------------------------------------


async def test_two_workers_planning_together_make_one_run(client, marketing, person):
    await person()
    campaign = await scheduled_campaign(client, marketing, {"at": soon(30)})
    assert campaign.next_run_at is not None
    t = campaign.next_run_at + timedelta(seconds=1)

    created = await asyncio.gather(plan_due_runs(now=t), plan_due_runs(now=t))
    assert sum(created) == 1
    assert await CampaignRun.filter(campaign_id=campaign.id).count() == 1


async def test_two_workers_claiming_together_claim_the_run_once(client, marketing, person):
    await person()
    campaign = await scheduled_campaign(client, marketing, {"at": soon(30)})
    assert campaign.next_run_at is not None
    t = campaign.next_run_at + timedelta(seconds=1)
    await plan_due_runs(now=t)

    claims = await asyncio.gather(claim_run("worker-a", now=t), claim_run("worker-b", now=t))
    taken = [c for c in claims if c is not None]
    assert len(taken) == 1
    run = await CampaignRun.get(campaign_id=campaign.id)
    assert run.status == RunStatus.FANNING_OUT and run.leased_by == taken[0].leased_by
    # Nothing else to claim while the lease holds.
    assert await claim_run("worker-c", now=t) is None


async def test_two_workers_ticking_together_write_one_row_per_person(client, marketing, person):
    people = [await person() for _ in range(15)]
    campaign = await scheduled_campaign(client, marketing, {"at": soon(30)})
    assert campaign.next_run_at is not None
    t = campaign.next_run_at + timedelta(seconds=1)

    await asyncio.gather(run_at(t, "worker-a"), run_at(t, "worker-b"))
    assert await CampaignRun.filter(campaign_id=campaign.id).count() == 1
    assert await recipients(campaign.id) == sorted(p.id for p in people)


async def test_an_expired_lease_is_taken_over_and_the_fan_out_resumes_from_its_cursor(
    client, marketing, person
):
    reload_settings(**{**settings.model_dump(), "CAMPAIGN_FANOUT_BATCH": 10})
    people = [await person() for _ in range(25)]
    campaign = await scheduled_campaign(client, marketing, {"at": soon(30)})
    assert campaign.next_run_at is not None
    t = campaign.next_run_at + timedelta(seconds=1)
    await plan_due_runs(now=t)

    # A worker claims the run, writes its first batch, and dies.
    run = await claim_run("dead-worker", now=t)
    assert run is not None
    planner = RunPlanner(campaign, run_id=run.id, planned_at=run.planned_at)
    await planner.load()
    batches = planner.batches(run.cursor)
    first_batch = await anext(batches)
    await batches.aclose()
    planned = await planner.plan(first_batch)
    cursor = first_batch[-1]["id"]
    assert await write_batch(run, "dead-worker", planned, cursor=cursor, lease_seconds=60)
    written_before = {r.lead_id: r.id for r in await OutboxMessage.filter(campaign_id=campaign.id)}
    assert len(written_before) == 10
    # Its lease runs out.
    later = t + timedelta(seconds=RUN_LEASE_SECONDS + 1)
    await CampaignRun.filter(id=run.id).update(lease_until=later - timedelta(seconds=1))

    # Another worker takes the run over and goes on from the cursor.
    assert await run_at(later, "alive-worker") == 1
    run = await CampaignRun.get(id=run.id)
    assert run.status == RunStatus.DONE and run.cursor == people[-1].id
    rows = await OutboxMessage.filter(campaign_id=campaign.id)
    assert sorted(r.lead_id for r in rows) == sorted(p.id for p in people)
    assert {r.lead_id: r.id for r in rows if r.lead_id in written_before} == written_before
    assert {r.idempotency_key for r in rows} == {
        idempotency_key(campaign.id, run.id, p.id) for p in people
    }
    assert {r.status for r in rows} == {OutboxStatus.QUEUED}


async def test_a_live_lease_is_not_taken_over(client, marketing, person):
    await person()
    campaign = await scheduled_campaign(client, marketing, {"at": soon(30)})
    assert campaign.next_run_at is not None
    t = campaign.next_run_at + timedelta(seconds=1)
    await plan_due_runs(now=t)
    assert await claim_run("worker-a", now=t) is not None
    assert await claim_run("worker-b", now=t + timedelta(seconds=RUN_LEASE_SECONDS - 1)) is None
    taken = await claim_run("worker-b", now=t + timedelta(seconds=RUN_LEASE_SECONDS + 1))
    assert taken is not None and taken.leased_by == "worker-b"
