"""The fixes the load and fault tests led to, each shown on its own without the whole rig:
a database that cannot be reached answers 503 (not 500, not a hang), a database outage is told
apart from other errors, a campaign run cut by one resumes at the worker's next tick, and a
provider outage holds the queue instead of spending every message's tries."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from tortoise.exceptions import IntegrityError

from campaigns.runner import claim_run, plan_due_runs
from channels import outbox
from channels.base import SendOutcome, SendResult
from channels.breaker import provider_down
from channels.models import Channel, MessageKind, OutboxMessage, OutboxStatus
from crm.db import is_unavailable
from tests.campaigns.conftest import run_at, soon
from tests.conftest import DATABASE_URL, IS_POSTGRES
from tests.load.cluster import free_port

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# ---- the database down ------------------------------------------------------------------------


@pytest.mark.skipif(
    not IS_POSTGRES, reason="a database server that is down: PostgreSQL (SQLite is a local file)"
)
async def test_an_unreachable_database_answers_503_with_a_json_body_and_retry_after():
    from crm.app import create_app

    nobody = urlunsplit(urlsplit(DATABASE_URL)._replace(netloc=f"postgres@127.0.0.1:{free_port()}"))
    application = create_app(database_url=nobody)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            started = time.monotonic()
            api = await client.get("/api/v1/leads", headers={"Authorization": "Bearer pst_x"})
            health = await client.get("/healthz")
            took = time.monotonic() - started
    assert api.status_code == 503
    assert api.json() == {"detail": "the database is unavailable, try again shortly"}
    assert int(api.headers["Retry-After"]) > 0
    assert health.status_code == 503
    assert health.json() == {"status": "degraded", "database": "down"}
    assert took < 10, "a refused connection is answered at once"


async def test_a_database_outage_is_told_apart_from_other_errors():
    closed = free_port()
    try:
        await asyncpg.connect(f"postgres://postgres@127.0.0.1:{closed}/x", timeout=5)
    except OSError as exc:
        refused_by_driver = exc
    try:
        async with aiohttp.ClientSession() as session:
            await session.get(f"http://127.0.0.1:{closed}/")
    except OSError as exc:
        refused_to_a_provider = exc

    assert is_unavailable(refused_by_driver)
    assert is_unavailable(asyncpg.CannotConnectNowError("the database system is starting up"))
    assert is_unavailable(asyncpg.AdminShutdownError("terminating connection"))
    # A connection the server ended in the middle of a statement (pg_ctl restart -m fast).
    assert is_unavailable(
        asyncpg.InternalClientError("cannot switch to state 12; another operation is in progress")
    )
    # A provider's refused connection is a socket error too, but not the database's.
    assert not is_unavailable(refused_to_a_provider)
    assert not is_unavailable(IntegrityError("duplicate key"))
    assert not is_unavailable(asyncpg.UniqueViolationError("duplicate key"))
    assert not is_unavailable(ValueError("bad input"))


async def test_a_fan_out_cut_by_a_database_failure_resumes_at_the_same_workers_next_tick(
    client, marketing, person
):
    people = [await person() for _ in range(5)]
    body = {
        "name": "Cut short",
        "channel": "sms",
        "messages": {"fr": "Bonjour {{ first_name }} ! {{ opt_out }}"},
        "schedule": {"at": soon(5)},
    }
    created = await client.post("/api/v1/campaigns", json=body, headers=marketing.headers)
    cid = created.json()["id"]
    scheduled = await client.post(f"/api/v1/campaigns/{cid}/schedule", headers=marketing.headers)
    assert scheduled.status_code == 200, scheduled.text
    due = datetime.fromisoformat(scheduled.json()["next_run_at"]) + timedelta(seconds=1)
    await plan_due_runs(now=due)
    # worker-a claimed the run, then its fan-out failed (the database went away) before
    # writing anything; the run stays leased to it for RUN_LEASE_SECONDS.
    assert await claim_run("worker-a", now=due) is not None
    later = due + timedelta(seconds=10)

    assert await run_at(later, "worker-b") == 0  # the lease still keeps the others out
    assert await run_at(later, "worker-a") == 1  # but worker-a's next tick resumes it
    rows = await OutboxMessage.filter(campaign_id=cid)
    assert sorted(r.lead_id for r in rows) == sorted(p.id for p in people)


# ---- a provider down --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "down"),
    [
        (SendResult(SendOutcome.RETRYABLE, code="20503"), True),  # Twilio: unavailable
        (SendResult(SendOutcome.RETRYABLE, code="502"), True),
        (SendResult(SendOutcome.RETRYABLE, code="network"), True),  # refused, dropped
        (SendResult(SendOutcome.RETRYABLE, code="5xx"), True),  # Telegram's server error
        (SendResult(SendOutcome.RETRYABLE, code="20429"), False),  # too fast: the rate's job
        (SendResult(SendOutcome.RETRYABLE, code="429", retry_after=3), False),
        (SendResult(SendOutcome.PERMANENT, code="21211"), False),  # one bad number
        (SendResult.sent("SM1"), False),
    ],
)
def test_only_failures_of_the_whole_provider_count_as_it_being_down(result, down):
    assert provider_down(result) is down


async def test_a_provider_outage_holds_the_queue_instead_of_spending_every_try(
    dispatcher, make_lead, twilio_standin
):
    leads = [await make_lead() for _ in range(40)]
    for lead in leads:
        await outbox.enqueue(
            lead, Channel.SMS, "Bonjour", kind=MessageKind.REPLY, idempotency_key=f"o:{lead.id}"
        )
    twilio_standin.start_outage(3.0, status=503)
    stop = asyncio.Event()
    running = asyncio.create_task(dispatcher.run(stop))
    try:
        for _ in range(300):
            if await OutboxMessage.filter(status=OutboxStatus.SENT).count() == len(leads):
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=30)
    rows = await OutboxMessage.all()

    assert {r.status for r in rows} == {OutboxStatus.SENT}
    assert Counter(m["to"] for m in twilio_standin.messages()) == Counter(
        lead.phone for lead in leads
    )
    # With retries 0.05-0.2 s apart (the providers fixture), 3 s of outage would have taken
    # every message through its 6 tries and failed it. All 40 left at once into the outage;
    # then they were held, and only a probe every 1-2 s went out until Twilio answered (a
    # probe that fails costs its message one more try).
    assert twilio_standin.outage()["refused"] <= len(leads) + 5
    assert sum(r.attempts > 2 for r in rows) <= 3 and max(r.attempts for r in rows) <= 3
