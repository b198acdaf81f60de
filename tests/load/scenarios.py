"""The four scenarios of issue 8's load and fault tests, written once: the tests
(tests/load/test_load_faults.py) assert on what they return, the benchmark
(bench/bench_faults.py) runs them at full size and prints it beside a baseline.

Each one starts from a healed rig (database up, every worker alive, tables and stand-ins
empty) and leaves the rig to be healed again."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.load.processes import log_text
from tests.load.rig import Rig, max_in_window, phones
from tests.load.traffic import Burst, Outcome, burst, deliver, signed_sms

Row = dict[str, Any]


async def heal(rig: Rig) -> None:
    """Back to the starting line: database up, workers alive, nothing left from before."""
    await asyncio.to_thread(rig.heal)
    await rig.reset_data()
    rig.twilio.reset()
    rig.telegram.reset()


async def wait_until(check: Any, *, within: float, what: str) -> float:
    """Seconds until `check()` (sync or async) held; AssertionError after `within` s."""
    started = time.monotonic()
    while True:
        done = check()
        if asyncio.iscoroutine(done):
            done = await done
        if done:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(0.3)


def span(times: list[float]) -> float:
    return max(times) - min(times) if len(times) > 1 else 0.0


# ---- 1. a burst of inbound webhooks ----------------------------------------------------------


@dataclass
class BurstRun:
    traffic: Burst
    outcome: Outcome
    sms_stored: list[str]  # provider ids of the stored SMS
    telegram_stored: list[str]
    updates_handled: int
    people: list[Row]
    conversations: Row
    answers: Counter[int]  # outbox rows per person (after-hours acknowledgements)
    answer_statuses: dict[str, int]
    sms_answered: Counter[str]  # acknowledgements the Twilio stand-in received, by number
    telegram_answered: Counter[int]


async def webhook_burst(
    rig: Rig,
    *,
    sms: int = 10_000,
    senders: int = 2000,
    updates: int = 1000,
    chats: int = 200,
    retry_share: float = 0.25,
    concurrency: int = 32,
) -> BurstRun:
    traffic = burst(
        sms=sms,
        phones=phones(3_000_000, senders),
        updates=updates,
        chats=list(range(880_000_000, 880_000_000 + chats)),
        retry_share=retry_share,
    )
    outcome = await deliver(rig.web_url, traffic.deliveries, concurrency=concurrency)
    async with rig.connect() as conn:
        stored = await conn.fetch("SELECT channel, provider_id FROM inbound_message")
        people = [dict(r) for r in await conn.fetch("SELECT phone, telegram_chat_id FROM lead")]
        handled = await conn.fetchval("SELECT count(*) FROM telegram_update")
        conversations = await conn.fetchrow(
            "SELECT count(*) AS n, sum(unread) AS unread FROM conversation"
        )
        answers = await conn.fetch("SELECT lead_id, count(*) AS n FROM outbox_message GROUP BY 1")
    statuses = await rig.wait_final(len(people), within=120)
    return BurstRun(
        traffic=traffic,
        outcome=outcome,
        sms_stored=[r["provider_id"] for r in stored if r["channel"] == "sms"],
        telegram_stored=[r["provider_id"] for r in stored if r["channel"] == "telegram"],
        updates_handled=handled,
        people=people,
        conversations=dict(conversations),
        answers=Counter({r["lead_id"]: r["n"] for r in answers}),
        answer_statuses=statuses,
        sms_answered=Counter(m["to"] for m in rig.twilio.messages("to")),
        telegram_answered=Counter(m["chat_id"] for m in rig.telegram.messages("chat_id")),
    )


# ---- 2. a campaign through a killed worker and a database restart -----------------------------


@dataclass
class CampaignRun:
    people: int
    chats: dict[str, int]  # phone -> Telegram chat, for the people on Telegram
    setup_s: float
    span_s: float  # first message to the last one, as the stand-ins received them
    settled_s: float  # schedule to every row final
    killed_after_s: float | None
    restarted_after_s: float | None
    held_by_the_killed_worker: int
    handed_to_telegram: int  # of those, Telegram messages handed over: they may be `unknown`
    statuses: dict[str, int]
    state: str
    rows: list[Row]
    sms_received: list[Row]  # to, sid, t
    telegram_received: list[Row]  # chat_id, t

    @property
    def unknown(self) -> list[Row]:
        return [r for r in self.rows if r["status"] == "unknown"]


MESSAGES = {
    "fr": "Bonjour {{ first_name }}, séance d'info jeudi à 18h. {{ opt_out }}",
    "nl": "Hallo {{ first_name }}, infosessie donderdag om 18u. {{ opt_out }}",
    "de": "Hallo {{ first_name }}, Infoabend Donnerstag um 18 Uhr. {{ opt_out }}",
}


async def campaign(
    rig: Rig,
    *,
    people: int = 20_000,
    telegram_every: int = 10,
    kill_at: float | None = 0.25,
    restart_at: float | None = 0.6,
) -> CampaignRun:
    """A campaign to `people` (one in `telegram_every` on Telegram: channel `preferred`),
    created through the API; one worker SIGKILLed once `kill_at` of it is sent, PostgreSQL
    restarted (pg_ctl restart -m fast) at `restart_at`; None: no such fault."""
    numbers = phones(4_000_000, people)
    chats = {p: 890_000_000 + i for i, p in enumerate(numbers) if i % telegram_every == 0}
    setup = time.monotonic()
    await rig.add_people(numbers, consent=("sms", "telegram"), chats=chats)
    auth = {"Authorization": f"Bearer {rig.token}"}
    async with httpx.AsyncClient(base_url=rig.web_url, headers=auth, timeout=30) as client:
        created = await client.post(
            "/api/v1/campaigns",
            json={
                "name": "Load: info session",
                "channel": "preferred",
                "messages": MESSAGES,
                "schedule": {"at": (datetime.now(UTC) + timedelta(seconds=2)).isoformat()},
            },
        )
        assert created.status_code == 201, created.text
        campaign_id = created.json()["id"]
        scheduled = await client.post(f"/api/v1/campaigns/{campaign_id}/schedule")
        assert scheduled.status_code == 200, scheduled.text
    started = time.monotonic()
    setup = started - setup

    async def sent_share() -> float:
        done = await rig.value(
            "SELECT count(*) FROM outbox_message WHERE campaign_id = $1 AND status = 'sent'",
            campaign_id,
        )
        return done / people

    killed_at = restarted_at = None
    held: list[Row] = []
    if kill_at is not None:
        await wait_until(lambda: _reached(sent_share, kill_at), within=300, what="kill point")
        victim = f"{socket.gethostname()[:40]}-{rig.workers[0].pid}-%"
        holding = (
            "SELECT channel, provider FROM outbox_message WHERE status = 'sending' "
            "AND leased_by LIKE $1"
        )
        # The moment that matters: while it has Telegram messages in flight.
        await wait_until(
            lambda: _in_flight(rig.fetch(holding, victim)), within=30, what="Telegram in flight"
        )
        rig.kill_worker(0)
        killed_at = time.monotonic()
        # What the dead worker held: SMS in flight are looked up at Twilio later; Telegram
        # messages handed over (provider set) can only become `unknown`.
        held = [dict(r) for r in await rig.fetch(holding, victim)]
    if restart_at is not None:
        await wait_until(lambda: _reached(sent_share, restart_at), within=300, what="restart")
        await asyncio.to_thread(rig.cluster.restart, "fast")
        restarted_at = time.monotonic()
    statuses = await rig.wait_final(
        people, within=300, where="campaign_id = $1", args=[campaign_id]
    )
    settled = time.monotonic()
    state_query = "SELECT status FROM campaign WHERE id = $1"
    await wait_until(  # the workers' campaign tick (every 10 s) settles it
        lambda: _differs(rig.value(state_query, campaign_id), "running"),
        within=60,
        what="campaign settled",
    )
    async with rig.connect() as conn:
        rows = await conn.fetch(
            "SELECT lead_id, channel, address, status, provider, provider_id, error_code "
            "FROM outbox_message WHERE campaign_id = $1",
            campaign_id,
        )
        state = await conn.fetchval(state_query, campaign_id)
    sms_received = rig.twilio.messages("to", "sid", "t")
    telegram_received = rig.telegram.messages("chat_id", "t")
    times = [m["t"] for m in sms_received + telegram_received]
    return CampaignRun(
        people=people,
        chats=chats,
        setup_s=setup,
        span_s=span(times),
        settled_s=settled - started,
        killed_after_s=None if killed_at is None else killed_at - started,
        restarted_after_s=None if restarted_at is None else restarted_at - started,
        held_by_the_killed_worker=len(held),
        handed_to_telegram=sum(1 for r in held if r["channel"] == "telegram" and r["provider"]),
        statuses=statuses,
        state=state,
        rows=[dict(r) for r in rows],
        sms_received=sms_received,
        telegram_received=telegram_received,
    )


async def _in_flight(rows: Any) -> bool:
    return any(r["channel"] == "telegram" and r["provider"] for r in await rows)


async def _reached(share: Any, at: float) -> bool:
    return await share() >= at


async def _differs(value: Any, than: Any) -> bool:
    return await value != than


# ---- 3. a provider outage ----------------------------------------------------------------------


@dataclass
class OutageRun:
    count: int
    seconds: float
    statuses: dict[str, int]
    received: list[Row]  # to, t
    outage: dict[str, Any]  # started, until (the stand-in's clock = ours), refused
    attempts: dict[int, int]  # tries -> rows

    @property
    def during(self) -> list[Row]:
        if not self.seconds:
            return []
        return [m for m in self.received if self.outage["started"] <= m["t"] < self.outage["until"]]

    @property
    def after(self) -> list[float]:
        """Arrival times after the outage (all of them without one)."""
        until = self.outage.get("until", float("-inf"))
        return sorted(m["t"] for m in self.received if m["t"] >= until)

    @property
    def recovery_s(self) -> float:
        """From the end of the outage to the first message through."""
        return self.after[0] - self.outage["until"] if self.seconds else 0.0


async def provider_outage(
    rig: Rig, *, count: int = 4000, seconds: float = 60, start_share: float = 0.2
) -> OutageRun:
    """`count` SMS queued at once; once `start_share` of them reached Twilio, Twilio answers
    503 to everything for `seconds` (0: no outage, the baseline)."""
    ids = await rig.add_people(phones(1_000_000, count), chats=None)
    await rig.queue_sms(ids, tag="outage")
    outage: dict[str, Any] = {}
    if seconds:
        await wait_until(
            lambda: rig.twilio.stats()["messages"] >= count * start_share,
            within=120,
            what="sending started",
        )
        outage = rig.twilio.outage(seconds, status=503)
    statuses = await rig.wait_final(count, within=seconds + 200)
    if seconds:
        outage["refused"] = rig.twilio.outage_state()["refused"]
    attempts = await rig.fetch("SELECT attempts, count(*) AS n FROM outbox_message GROUP BY 1")
    return OutageRun(
        count=count,
        seconds=seconds,
        statuses=statuses,
        received=rig.twilio.messages("to", "t"),
        outage=outage,
        attempts={r["attempts"]: r["n"] for r in attempts},
    )


# ---- 4. the database down ----------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]
    seconds: float


@dataclass
class DatabaseDownRun:
    count: int
    seconds: float
    phones: set[str]
    during: dict[str, Answer] = field(default_factory=dict)  # api, healthz, webhook
    workers_alive: list[bool] = field(default_factory=list)
    healthy_after_s: float = 0.0  # from the restart to /healthz 200
    settled_s: float = 0.0  # from queueing to every message final
    statuses: dict[str, int] = field(default_factory=dict)
    after: dict[str, Answer] = field(default_factory=dict)  # api, webhook (the same again)
    inbound_stored: int = 0
    received: list[Row] = field(default_factory=list)  # to, sid
    provider_ids: set[str | None] = field(default_factory=set)
    worker_logs: str = ""
    corruption: list[str] = field(default_factory=list)


async def database_down(rig: Rig, *, count: int = 3000, seconds: float = 20) -> DatabaseDownRun:
    """`count` SMS queued; once a sixth is sent, PostgreSQL crashes (`pg_ctl stop -m
    immediate`) for `seconds` (0: the baseline), while the API, /healthz and a Twilio webhook
    are called; then it starts again."""
    ids = await rig.add_people(phones(2_000_000, count), chats=None)
    run = DatabaseDownRun(count=count, seconds=seconds, phones=set(ids))
    queued_at = time.monotonic()
    await rig.queue_sms(ids, tag="dbdown")
    auth = {"Authorization": f"Bearer {rig.token}"}
    hook = signed_sms("SM" + "d" * 32, "+32470999999", "Bonjour, je viens jeudi")
    if seconds:
        await wait_until(
            lambda: rig.twilio.stats()["messages"] >= count // 6, within=60, what="sending"
        )
        await asyncio.to_thread(rig.cluster.stop, "immediate")  # a crash, not a clean stop
        down_at = time.monotonic()
        try:
            async with httpx.AsyncClient(base_url=rig.web_url, timeout=30) as client:
                run.during["api"] = await _answer(client.get("/api/v1/leads", headers=auth))
                run.during["healthz"] = await _answer(client.get("/healthz"))
                run.during["webhook"] = await _answer(
                    client.post(hook.path, content=hook.body, headers=hook.headers)
                )
            await asyncio.sleep(max(0.0, seconds - (time.monotonic() - down_at)))
            run.workers_alive = [w.poll() is None for w in rig.workers]
        finally:
            await asyncio.to_thread(rig.cluster.start)
        run.healthy_after_s = await asyncio.to_thread(rig.wait_healthy, 60)
    queued = "idempotency_key LIKE 'load:%'"  # not the answer to the webhook's sender
    run.statuses = await rig.wait_final(count, within=seconds + 150, where=queued)
    run.settled_s = time.monotonic() - queued_at
    async with httpx.AsyncClient(base_url=rig.web_url, timeout=30) as client:
        run.after["api"] = await _answer(client.get("/api/v1/leads?limit=1", headers=auth))
        run.after["webhook"] = await _answer(
            client.post(hook.path, content=hook.body, headers=hook.headers)
        )
    run.inbound_stored = await rig.value("SELECT count(*) FROM inbound_message")
    run.received = [m for m in rig.twilio.messages("to", "sid") if m["to"] in run.phones]
    rows = await rig.fetch(f"SELECT provider_id FROM outbox_message WHERE {queued}")
    run.provider_ids = {r["provider_id"] for r in rows}
    run.worker_logs = "\n".join(log_text(w) for w in rig.workers)
    run.corruption = await corruption(rig)
    return run


async def _answer(request: Any) -> Answer:
    started = time.monotonic()
    response: httpx.Response = await request
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    return Answer(response.status_code, body, dict(response.headers), time.monotonic() - started)


async def corruption(rig: Rig) -> list[str]:
    """What amcheck finds wrong (every index entry points at its row and every row is indexed;
    every heap page reads), plus outbox rows in a state the code never writes. Empty: sound."""
    problems: list[str] = []
    async with rig.connect() as conn:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
        indexes = await conn.fetch(
            "SELECT c.oid::regclass::text AS name FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam "
            "WHERE am.amname = 'btree' AND c.relnamespace = current_schema()::regnamespace"
        )
        if not indexes:
            problems.append("no index found to check")
        for index in indexes:
            try:
                await conn.execute("SELECT bt_index_check($1::regclass, true)", index["name"])
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                problems.append(f"{index['name']}: {exc}")
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )
        for table in tables:
            broken = await conn.fetch(
                "SELECT * FROM verify_heapam($1::regclass)", table["tablename"]
            )
            problems += [f"{table['tablename']}: {dict(r)}" for r in broken[:3]]
        odd = await conn.fetchval(
            "SELECT count(*) FROM outbox_message WHERE (status = 'sending') <> "
            "(lease_until IS NOT NULL) OR (status = 'sent' AND (provider_id IS NULL "
            "OR sent_at IS NULL))"
        )
        if odd:
            problems.append(f"{odd} outbox rows in a state the code never writes")
    return problems


def busiest(times: list[float], seconds: float = 1.0) -> int:
    return max_in_window(times, seconds)
