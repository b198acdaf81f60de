"""Campaign runs in the worker: plan what is due, fan it out, notice when a campaign is done.

APScheduler wakes `tick` every CAMPAIGN_TICK_SECONDS in each worker; everything that must happen
once is decided in the database. A due campaign gets its run by inserting
(campaign, planned_at), which is unique, so two workers firing together make one run; a run
is fanned out by the worker that claims its lease; a lease that expires (a worker killed) is
claimed again and the fan-out resumes from its cursor."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from campaigns.fanout import RunPlanner, write_batch
from campaigns.models import Campaign, CampaignRun, CampaignStatus, RunStatus
from campaigns.schedule import MISFIRE_GRACE, following, parse
from channels.sql import execute, is_postgres, rows
from channels.worker import Worker

log = logging.getLogger("passerelle.campaigns")

TICK_SECONDS = 10
RUN_LEASE_SECONDS = 120
ACTIVE = (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING)


def _now() -> datetime:
    return datetime.now(UTC)


async def plan_due_runs(*, now: datetime | None = None) -> int:
    """Insert the runs whose time has come and move each campaign to its next time."""
    now = now or _now()
    created = 0
    due = await Campaign.filter(status__in=ACTIVE, next_run_at__lte=now).order_by("next_run_at")
    for campaign in due:
        try:
            created += await _plan(campaign, now)
        except Exception:  # noqa: BLE001 - one broken campaign must not hold back the others
            log.exception("could not plan the run of campaign %s", campaign.id)
    return created


async def _plan(campaign: Campaign, now: datetime) -> int:
    planned = campaign.next_run_at
    assert planned is not None
    schedule = parse(campaign.schedule)
    fire: datetime | None = planned
    if schedule.kind != "at":
        # The workers were down: recurring runs that all came due meanwhile are coalesced into
        # the latest one, and it is dropped when older than the grace (not sent late).
        latest = planned
        while (later := schedule.next_fire(latest)) is not None and later <= now:
            latest = later
        fire = latest if latest >= now - MISFIRE_GRACE else None
    nxt = following(schedule, fire or planned, now=now)
    async with in_transaction():
        # Compare-and-set first: of several workers (whose clocks may differ a little, and so
        # coalesce to different times) only the one that moves next_run_at plans the run; the
        # unique (campaign, planned_at) is the second guard.
        moved = await Campaign.filter(
            id=campaign.id, next_run_at=planned, status__in=ACTIVE
        ).update(next_run_at=nxt, status=CampaignStatus.RUNNING)  # finish_campaigns settles it
        if not moved or fire is None:
            return 0
        await CampaignRun.create(
            campaign_id=campaign.id, planned_at=fire, anchor_date=schedule.anchor_date(fire)
        )
    return 1


async def claim_run(worker_id: str, *, now: datetime | None = None) -> CampaignRun | None:
    """Take the lease of one run to fan out: a pending one, one whose worker died, or one this
    worker was fanning out when the database went away (its tick runs one at a time, so no
    fan-out of that run is still going: it resumes from its cursor now, not after the lease)."""
    now = now or _now()
    lock = " FOR UPDATE SKIP LOCKED" if is_postgres() else ""
    ready = (
        "(status = 'pending' OR (status = 'fanning_out' AND (lease_until < $3 OR leased_by = $1)))"
    )
    claimed = await rows(
        "UPDATE campaign_run SET status = 'fanning_out', leased_by = $1, lease_until = $2, "
        "started_at = COALESCE(started_at, $3) "
        f"WHERE {ready} AND id = (SELECT id FROM campaign_run WHERE {ready} "
        f"AND planned_at <= $3 ORDER BY planned_at, id LIMIT 1{lock}) RETURNING id",
        [worker_id, now + timedelta(seconds=RUN_LEASE_SECONDS), now],
    )
    if not claimed:
        return None
    return await CampaignRun.get(id=claimed[0]["id"])


async def fan_out(run: CampaignRun, worker_id: str) -> bool:
    """Write the run's outbox rows from its cursor on; True when the run is done.

    A pipeline of three stages: while batch k is being written, batch k+1 (already read) is
    planned, and batch k+2 is read next. The database does one thing at a time on SQLite, so
    the reads of k+1 finish before the write of k starts: the planning then overlaps the write,
    the longest step. Writes stay in order, one at a time: a batch is written only once the one
    before it is committed, so the cursor never passes a batch that is not stored. At most
    three batches are in memory."""
    campaign = await Campaign.get(id=run.campaign_id)  # type: ignore[attr-defined]
    planner = RunPlanner(campaign, run_id=run.id, planned_at=run.planned_at)
    await planner.load()
    tasks: list[asyncio.Future[Any]] = []

    def start(coroutine: Any) -> asyncio.Future[Any]:
        task = asyncio.ensure_future(coroutine)
        tasks.append(task)
        return task

    try:
        fetched = await planner.fetch_after(run.cursor)
        planned = await planner.plan_fetched(fetched) if fetched is not None else []
        reading = start(planner.fetch_after(fetched.people[-1]["id"])) if fetched else None
        while fetched is not None and reading is not None:
            following = await reading  # batch k+1 read before batch k is written
            writing = start(
                write_batch(
                    run,
                    worker_id,
                    planned,
                    cursor=fetched.people[-1]["id"],
                    lease_seconds=RUN_LEASE_SECONDS,
                )
            )
            reading = None
            next_planned: list[Any] = []
            if following is not None:
                reading = start(planner.fetch_after(following.people[-1]["id"]))
                next_planned = await planner.plan_fetched(following)  # while k is written
            if not await writing:
                return _stopped(run)
            tasks[:] = [t for t in tasks if not t.done()]
            fetched, planned = following, next_planned
    finally:
        for task in tasks:  # an error or a stop: nothing keeps running behind our back
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
    done = await CampaignRun.filter(
        id=run.id, leased_by=worker_id, status=RunStatus.FANNING_OUT
    ).update(status=RunStatus.DONE, finished_at=_now(), leased_by=None, lease_until=None)
    return bool(done)


def _stopped(run: CampaignRun) -> bool:
    log.info("run %s stopped (paused, cancelled or taken over)", run.id)
    return False


async def finish_campaigns(*, now: datetime | None = None) -> int:
    """Running campaigns whose runs are out and whose messages all left: scheduled again
    (recurring) or completed."""
    now = now or _now()
    changed = 0
    for campaign in await Campaign.filter(status=CampaignStatus.RUNNING):
        open_runs = await CampaignRun.filter(
            campaign_id=campaign.id,
            status__in=(RunStatus.PENDING, RunStatus.FANNING_OUT, RunStatus.PAUSED),
        ).exists()
        if open_runs:
            continue
        waiting = await rows(
            "SELECT 1 AS x FROM outbox_message WHERE campaign_id = $1 "
            "AND status IN ('queued', 'sending', 'paused') LIMIT 1",
            [campaign.id],
        )
        if waiting:
            continue
        final: dict[str, Any]
        if campaign.next_run_at is not None:
            final = {"status": CampaignStatus.SCHEDULED}
        else:
            final = {"status": CampaignStatus.COMPLETED, "finished_at": now}
        changed += await Campaign.filter(
            id=campaign.id, status=CampaignStatus.RUNNING, next_run_at=campaign.next_run_at
        ).update(**final)
    return changed


async def hold_paused() -> int:
    """Messages of paused campaigns that came back to the queue after the pause (a retry after
    a provider error, a row put back by a stopping worker) are held again."""
    held = 0
    for campaign_id in await Campaign.filter(status=CampaignStatus.PAUSED).values_list(
        "id", flat=True
    ):
        held += await execute(
            "UPDATE outbox_message SET status = 'paused' "
            "WHERE campaign_id = $1 AND status = 'queued'",
            [campaign_id],
        )
    return held


async def run_due(
    worker_id: str, *, wake: Callable[[], None] | None = None, now: datetime | None = None
) -> int:
    """One tick: plan due runs, fan out every run this worker can claim, settle campaigns.
    Returns the number of runs fanned out to the end."""
    await hold_paused()
    await plan_due_runs(now=now)
    finished = 0
    while (run := await claim_run(worker_id, now=now)) is not None:
        if await fan_out(run, worker_id):
            finished += 1
        if wake is not None:
            wake()
    await finish_campaigns(now=now)
    return finished


def install(worker: Worker) -> None:
    """Worker plugin: campaigns ride on the worker's scheduler."""

    async def campaign_tick() -> None:
        await run_due(worker.worker_id, wake=worker.dispatcher.wake)

    worker.every(TICK_SECONDS, campaign_tick, job_id="campaign-runs")
