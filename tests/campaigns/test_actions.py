"""What marketing does with a campaign through the API (create, schedule, change, pause, resume,
cancel, check before scheduling) and what each action does to its runs and outbox rows; and
`passerelle worker --once` fanning out a campaign that is due."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from campaigns.fanout import RunPlanner, write_batch
from campaigns.models import Campaign, CampaignRun, CampaignStatus, RunStatus
from campaigns.runner import RUN_LEASE_SECONDS, claim_run, plan_due_runs
from channels.models import OutboxMessage, OutboxStatus
from channels.sms_segments import count_segments
from crm.config import reload_settings, settings
from tests.campaigns.conftest import run_at, soon
from tests.conftest import DATABASE_URL

MESSAGES = {
    "fr": "Bonjour {{ first_name }} ! {{ opt_out }}",
    "nl": "Hallo {{ first_name }}! {{ opt_out }}",
}


async def create(client, caller, **fields: Any) -> dict[str, Any]:
    body = {"name": "Actions", "channel": "sms", "messages": MESSAGES, "schedule": {"at": soon(30)}}
    created = await client.post(
        "/api/v1/campaigns", json={**body, **fields}, headers=caller.headers
    )
    assert created.status_code == 201, created.text
    return created.json()


async def act(client, caller, campaign_id: int, action: str):
    return await client.post(f"/api/v1/campaigns/{campaign_id}/{action}", headers=caller.headers)


async def scheduled(client, caller, **fields: Any) -> Campaign:
    cid = (await create(client, caller, **fields))["id"]
    done = await act(client, caller, cid, "schedule")
    assert done.status_code == 200, done.text
    return await Campaign.get(id=cid)


async def running(client, caller, **fields: Any) -> tuple[Campaign, datetime]:
    """A campaign whose run was fanned out: its rows are queued, nothing sent yet."""
    campaign = await scheduled(client, caller, **fields)
    assert campaign.next_run_at is not None
    moment = campaign.next_run_at + timedelta(seconds=1)
    assert await run_at(moment) == 1
    await campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    return campaign, moment


async def statuses(campaign_id: int) -> dict[str, int]:
    found: dict[str, int] = {}
    for status in await OutboxMessage.filter(campaign_id=campaign_id).values_list(
        "status", flat=True
    ):
        found[str(status)] = found.get(str(status), 0) + 1
    return found


def conflict_on_status(response) -> None:
    assert response.status_code == 409, response.text
    assert response.json()["detail"][0]["field"] == "status", response.text


# ---- create and schedule -------------------------------------------------------------------


async def test_a_new_campaign_is_a_draft_with_nothing_planned(client, marketing, person):
    await person()
    body = await create(client, marketing)
    assert body["status"] == "draft" and body["next_run_at"] is None
    assert await CampaignRun.all().count() == 0
    await run_at(datetime.now(UTC) + timedelta(days=1))
    assert await CampaignRun.all().count() == 0


async def test_schedule_makes_the_draft_scheduled_for_its_first_time(client, marketing, person):
    await person()
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    cid = (await create(client, marketing, schedule={"at": at.isoformat()}))["id"]
    done = await act(client, marketing, cid, "schedule")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "scheduled"
    assert datetime.fromisoformat(done.json()["next_run_at"]) == at


async def test_scheduling_a_scheduled_campaign_again_is_a_conflict(client, marketing, person):
    await person()
    campaign = await scheduled(client, marketing)
    conflict_on_status(await act(client, marketing, campaign.id, "schedule"))
    await campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED


async def test_scheduling_a_running_campaign_is_a_conflict(client, marketing, person):
    await person()
    campaign, _ = await running(client, marketing)
    conflict_on_status(await act(client, marketing, campaign.id, "schedule"))
    assert await CampaignRun.filter(campaign_id=campaign.id).count() == 1


async def test_scheduling_a_cancelled_campaign_is_a_conflict(client, marketing, person):
    await person()
    campaign = await scheduled(client, marketing)
    assert (await act(client, marketing, campaign.id, "cancel")).status_code == 200
    conflict_on_status(await act(client, marketing, campaign.id, "schedule"))
    await campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CANCELLED and campaign.next_run_at is None


async def test_changing_a_running_campaign_is_a_conflict(client, marketing, person):
    await person()
    campaign, _ = await running(client, marketing)
    changed = await client.patch(
        f"/api/v1/campaigns/{campaign.id}",
        json={"messages": {"fr": "Autre chose {{ first_name }}"}},
        headers=marketing.headers,
    )
    conflict_on_status(changed)
    assert "pause" in changed.json()["detail"][0]["msg"]
    await campaign.refresh_from_db()
    assert campaign.messages == MESSAGES


# ---- pause, resume, cancel -----------------------------------------------------------------


async def test_pause_holds_the_queued_rows_and_the_dispatcher_sends_none_of_them(
    client, marketing, person, dispatcher, twilio_standin
):
    for _ in range(3):
        await person()
    campaign, _ = await running(client, marketing)
    assert await statuses(campaign.id) == {"queued": 3}

    paused = await act(client, marketing, campaign.id, "pause")
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    assert await statuses(campaign.id) == {"paused": 3}
    assert await dispatcher.drain(max_seconds=2) == 0
    assert twilio_standin.messages() == []


async def test_resume_queues_the_held_rows_again_and_they_are_sent_once(
    client, marketing, person, dispatcher, twilio_standin
):
    people = [await person() for _ in range(3)]
    campaign, moment = await running(client, marketing)
    assert (await act(client, marketing, campaign.id, "pause")).status_code == 200

    resumed = await act(client, marketing, campaign.id, "resume")
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "running"
    assert await statuses(campaign.id) == {"queued": 3}
    assert await dispatcher.drain(max_seconds=5) == 3
    assert await statuses(campaign.id) == {"sent": 3}
    assert sorted(m["to"] for m in twilio_standin.messages()) == sorted(p.phone for p in people)
    await run_at(moment + timedelta(seconds=1))
    await campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED


async def test_resume_of_a_campaign_that_is_not_paused_is_a_conflict(client, marketing, person):
    await person()
    campaign = await scheduled(client, marketing)
    conflict_on_status(await act(client, marketing, campaign.id, "resume"))


async def test_a_paused_campaign_makes_no_run_when_its_time_comes(client, marketing, person):
    await person()
    campaign = await scheduled(client, marketing)
    assert (await act(client, marketing, campaign.id, "pause")).status_code == 200
    assert campaign.next_run_at is not None
    assert await run_at(campaign.next_run_at + timedelta(minutes=1)) == 0
    assert await CampaignRun.filter(campaign_id=campaign.id).count() == 0


async def test_a_one_off_campaign_paused_past_its_time_still_runs_once_resumed(
    client, marketing, person
):
    someone = await person()
    campaign = await scheduled(client, marketing)
    assert (await act(client, marketing, campaign.id, "pause")).status_code == 200
    # It stayed paused well past its time (longer than the grace of recurring runs).
    past = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=7)
    await Campaign.filter(id=campaign.id).update(
        next_run_at=past, schedule={"at": past.isoformat()}
    )

    resumed = await act(client, marketing, campaign.id, "resume")
    assert resumed.status_code == 200, resumed.text
    assert datetime.fromisoformat(resumed.json()["next_run_at"]) == past
    assert await run_at(datetime.now(UTC)) == 1
    rows = await OutboxMessage.filter(campaign_id=campaign.id)
    assert [r.lead_id for r in rows] == [someone.id]


async def test_a_paused_campaign_resumes_on_its_changed_schedule(client, marketing, person):
    await person()
    campaign = await scheduled(client, marketing, schedule={"cron": "0 10 * * 1"})
    assert (await act(client, marketing, campaign.id, "pause")).status_code == 200

    changed = await client.patch(
        f"/api/v1/campaigns/{campaign.id}",
        json={"schedule": {"cron": "0 18 * * 3"}},
        headers=marketing.headers,
    )
    assert changed.status_code == 200, changed.text
    wednesday = datetime.fromisoformat(changed.json()["next_run_at"]).astimezone(settings.tz)
    assert (wednesday.weekday(), wednesday.hour) == (2, 18)


async def test_a_paused_campaign_cannot_lose_its_schedule(client, marketing, person):
    await person()
    campaign = await scheduled(client, marketing, schedule={"cron": "0 10 * * 1"})
    assert (await act(client, marketing, campaign.id, "pause")).status_code == 200

    changed = await client.patch(
        f"/api/v1/campaigns/{campaign.id}", json={"schedule": None}, headers=marketing.headers
    )
    assert changed.status_code == 422, changed.text
    assert changed.json()["detail"][0]["field"] == "schedule"
    await campaign.refresh_from_db()
    assert campaign.schedule == {"cron": "0 10 * * 1"}
    # Resumed, it goes on at its Monday.
    assert (await act(client, marketing, campaign.id, "resume")).status_code == 200
    assert campaign.next_run_at is not None
    assert await run_at(campaign.next_run_at + timedelta(seconds=1)) == 1


async def test_cancel_skips_the_unsent_rows_and_no_later_run_happens(
    client, marketing, person, dispatcher, twilio_standin
):
    for _ in range(3):
        await person()
    campaign, moment = await running(client, marketing, schedule={"cron": "0 10 * * 1"})
    assert campaign.next_run_at is not None
    next_monday = campaign.next_run_at

    cancelled = await act(client, marketing, campaign.id, "cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["next_run_at"] is None
    rows = await OutboxMessage.filter(campaign_id=campaign.id)
    assert {(r.status, r.error_code) for r in rows} == {(OutboxStatus.SKIPPED, "cancelled")}
    assert await dispatcher.drain(max_seconds=2) == 0
    assert await run_at(next_monday + timedelta(seconds=1)) == 0
    assert await CampaignRun.filter(campaign_id=campaign.id).count() == 1
    assert twilio_standin.messages() == []
    stats = await client.get(f"/api/v1/campaigns/{campaign.id}/stats", headers=marketing.headers)
    assert stats.json()["skipped"] == 3 and stats.json()["sent"] == 0


async def test_pause_during_fan_out_stops_between_batches_and_resume_goes_on_from_the_cursor(
    client, marketing, person, dispatcher
):
    people, campaign, run = await claimed_in_batches_of_ten(client, marketing, person, count=25)
    planner = RunPlanner(campaign, run_id=run.id, planned_at=run.planned_at)
    await planner.load()
    batches = planner.batches(run.cursor)

    first = await anext(batches)
    assert len(first) == 10
    ok = await write_batch(
        run,
        "worker-a",
        await planner.plan(first),
        cursor=first[-1]["id"],
        lease_seconds=RUN_LEASE_SECONDS,
    )
    assert ok
    assert (await act(client, marketing, campaign.id, "pause")).status_code == 200
    second = await anext(batches)
    ok = await write_batch(
        run,
        "worker-a",
        await planner.plan(second),
        cursor=second[-1]["id"],
        lease_seconds=RUN_LEASE_SECONDS,
    )
    await batches.aclose()
    assert not ok
    assert await statuses(campaign.id) == {"paused": 10}
    run = await CampaignRun.get(id=run.id)
    assert run.status == RunStatus.PAUSED and run.cursor == first[-1]["id"]

    assert (await act(client, marketing, campaign.id, "resume")).status_code == 200
    assert await run_at(run.planned_at + timedelta(seconds=2), "worker-b") == 1
    rows = await OutboxMessage.filter(campaign_id=campaign.id)
    assert sorted(r.lead_id for r in rows) == sorted(p.id for p in people)
    assert await statuses(campaign.id) == {"queued": 25}
    assert (await CampaignRun.get(id=run.id)).status == RunStatus.DONE
    assert await dispatcher.drain(max_seconds=5) == 25


# ---- checks before scheduling --------------------------------------------------------------


async def test_checks_show_audience_split_samples_segments_and_expected_duration(
    client, marketing, person
):
    for _ in range(3):
        await person(language="fr")
    for _ in range(2):
        await person(language="nl")
    messages = {
        # "œ" is not in the GSM alphabet: the French message goes out in UCS-2, in two segments.
        "fr": "Bonjour {{ first_name }} ! Votre cœur d'entrepreneur bat fort : venez nous voir "
        "au marché. {{ opt_out }}",
        "nl": "Hallo {{ first_name }}! {{ opt_out }}",
    }
    cid = (await create(client, marketing, messages=messages))["id"]

    checks = await client.get(f"/api/v1/campaigns/{cid}/checks", headers=marketing.headers)
    assert checks.status_code == 200, checks.text
    found = checks.json()
    assert found["audience"] == 5 and found["will_send"] == 5
    assert found["by_language"] == {"fr": 3, "nl": 2}
    assert found["by_channel"] == {"sms": 5}
    fr, nl = found["languages"]["fr"], found["languages"]["nl"]
    assert fr["people"] == 3 and nl["people"] == 2
    for lang, sample in (("fr", fr["sample"]), ("nl", nl["sample"])):
        info = count_segments(sample["body"])
        assert sample["segments"] == info.segments, lang
        assert sample["encoding"] == str(info.encoding), lang
        assert sample["from_audience"] is True
    assert fr["sample"]["encoding"] == "ucs2" and fr["sample"]["segments"] == 2
    assert nl["sample"]["encoding"] == "gsm7" and nl["sample"]["segments"] == 1
    assert fr["segments"] == 6 and nl["segments"] == 2
    assert found["total_segments"] == 8
    assert found["expected_seconds"] == round(8 / settings.SMS_RATE_PER_SECOND, 1)
    # Checking stores and schedules nothing.
    assert (await Campaign.get(id=cid)).status == CampaignStatus.DRAFT
    assert await OutboxMessage.all().count() == 0 and await CampaignRun.all().count() == 0


async def test_checks_of_an_unknown_campaign_is_not_found(client, marketing):
    missing = await client.get("/api/v1/campaigns/999/checks", headers=marketing.headers)
    assert missing.status_code == 404, missing.text


# ---- the worker command --------------------------------------------------------------------

_SCRIPT = Path(sys.executable).with_name("passerelle")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "crm.cli"]


def _worker_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TWILIO_", "TELEGRAM_", "TEST_DATABASE"))
    }
    # No provider credentials: both channels are the console, which records each message.
    env.update(
        DATABASE_URL=DATABASE_URL,
        ENVIRONMENT="test",
        QUIET_HOURS="",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


async def test_worker_once_fans_out_a_due_campaign_and_sends_it(
    client, marketing, person, tmp_path
):
    people = [await person() for _ in range(4)]
    campaign = await scheduled(client, marketing)
    # Its time has come (the worker process reads the real clock).
    await Campaign.filter(id=campaign.id).update(
        next_run_at=datetime.now(UTC) - timedelta(seconds=1)
    )

    done = await asyncio.to_thread(
        subprocess.run,
        [*COMMAND, "worker", "--once", "--max-seconds", "60"],
        capture_output=True,
        text=True,
        env=_worker_env(),
        cwd=tmp_path,  # no .env of the checkout
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "1 campaign run(s) fanned out" in done.stdout, done.stdout
    assert "4 message(s) handled" in done.stdout, done.stdout
    assert await CampaignRun.filter(campaign_id=campaign.id, status=RunStatus.DONE).count() == 1
    rows = await OutboxMessage.filter(campaign_id=campaign.id)
    assert sorted(r.lead_id for r in rows) == sorted(p.id for p in people)
    assert {r.status for r in rows} == {OutboxStatus.SENT}
    assert {r.provider for r in rows} == {"console"}


async def claimed_in_batches_of_ten(client, marketing, person, count=35):
    """`count` people and a due campaign whose run worker-a has claimed, fanned out 10 at a
    time."""
    reload_settings(**{**settings.model_dump(), "CAMPAIGN_FANOUT_BATCH": 10})
    people = [await person() for _ in range(count)]
    campaign = await scheduled(client, marketing)
    assert campaign.next_run_at is not None
    t = campaign.next_run_at + timedelta(seconds=1)
    await plan_due_runs(now=t)
    run = await claim_run("worker-a", now=t)
    assert run is not None
    return people, campaign, run


async def test_a_pause_landing_while_the_pipelined_fan_out_writes_stops_it_cleanly(
    client, marketing, person, monkeypatch
):
    """`runner.fan_out` reads batch k+1 and plans it while batch k is written: a pause that
    lands after the first write stops the run at that batch, with nothing written after it
    and no read or write left running."""
    import campaigns.runner as runner

    people, campaign, run = await claimed_in_batches_of_ten(client, marketing, person)
    writes: list[int] = []
    real_write = runner.write_batch

    async def write_then_pause(run_, worker_id, planned, **kw):
        ok = await real_write(run_, worker_id, planned, **kw)
        writes.append(kw["cursor"])
        if len(writes) == 1:
            assert (await act(client, marketing, campaign.id, "pause")).status_code == 200
        return ok

    monkeypatch.setattr(runner, "write_batch", write_then_pause)
    before = {t for t in asyncio.all_tasks()}
    assert await runner.fan_out(run, "worker-a") is False
    assert {t for t in asyncio.all_tasks() if not t.done()} - before == set()
    assert writes == [people[9].id, people[19].id]  # the second one found the run paused
    assert await statuses(campaign.id) == {"paused": 10}
    run = await CampaignRun.get(id=run.id)
    assert run.status == RunStatus.PAUSED and run.cursor == people[9].id


async def test_an_error_while_planning_a_batch_leaves_the_written_batches_and_no_task_behind(
    client, marketing, person, monkeypatch
):
    import campaigns.runner as runner
    from campaigns.fanout import RunPlanner as Planner

    people, campaign, run = await claimed_in_batches_of_ten(client, marketing, person)
    real_plan = Planner.plan_fetched
    calls = 0

    async def failing_third(self, fetched):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("boom")
        return await real_plan(self, fetched)

    monkeypatch.setattr(Planner, "plan_fetched", failing_third)
    before = {t for t in asyncio.all_tasks()}
    try:
        await runner.fan_out(run, "worker-a")
    except RuntimeError as error:
        assert str(error) == "boom"
    else:
        raise AssertionError("the planning error did not reach the caller")
    assert {t for t in asyncio.all_tasks() if not t.done()} - before == set()
    # Batches 1 and 2 were planned; batch 1 was written, and batch 2 was being written (or
    # was stopped before its commit): never a batch that was not planned, never a row twice.
    rows = await OutboxMessage.filter(campaign_id=campaign.id)
    ids = sorted(r.lead_id for r in rows)
    assert ids in ([p.id for p in people[:10]], [p.id for p in people[:20]])
    run = await CampaignRun.get(id=run.id)
    assert run.cursor == ids[-1]  # the cursor matches what is stored; a new worker goes on
