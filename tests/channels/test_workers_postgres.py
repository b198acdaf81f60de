"""Several `passerelle worker` processes on one PostgreSQL database: every message is sent
exactly once, and a worker killed with SIGKILL mid-run loses nothing and duplicates nothing
(Telegram messages in flight at the kill aside: they become `unknown`, never resent)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from channels.models import Channel, MessageKind, OutboxMessage, OutboxStatus
from crm.config import settings
from crm.people.models import Lead, LeadSource, Stage
from tests.conftest import DATABASE_URL, IS_POSTGRES

pytestmark = pytest.mark.skipif(not IS_POSTGRES, reason="several workers need PostgreSQL")

FINAL = {OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.SKIPPED, OutboxStatus.UNKNOWN}


async def _fill_outbox(n_sms: int, n_telegram: int, people: int = 100) -> None:
    leads = await Lead.bulk_create(
        [
            Lead(
                first_name=f"P{i}",
                phone=f"+3247{i:07d}",
                telegram_chat_id=900_000 + i,
                source=LeadSource.WALK_IN,
                stage=Stage.LEAD,
            )
            for i in range(people)
        ]
    )
    leads = await Lead.all().order_by("id")
    now = datetime.now(UTC)
    rows = []
    for channel, count in ((Channel.SMS, n_sms), (Channel.TELEGRAM, n_telegram)):
        for i in range(count):
            lead = leads[i % people]
            address = lead.phone if channel == Channel.SMS else str(lead.telegram_chat_id)
            rows.append(
                OutboxMessage(
                    lead_id=lead.id,
                    channel=channel,
                    address=address,
                    body=f"{channel} message {i}",
                    kind=MessageKind.REPLY,
                    idempotency_key=f"load:{channel}:{i}",
                    due_at=now,
                )
            )
    await OutboxMessage.bulk_create(rows, batch_size=1000)


def _start_workers(count: int) -> list[subprocess.Popen]:
    env = {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "ENVIRONMENT": "test",
        "TWILIO_ACCOUNT_SID": settings.TWILIO_ACCOUNT_SID or "",
        "TWILIO_AUTH_TOKEN": settings.TWILIO_AUTH_TOKEN or "",
        "TWILIO_FROM": settings.TWILIO_FROM or "",
        "TWILIO_API_BASE": settings.TWILIO_API_BASE,
        "TELEGRAM_BOT_TOKEN": settings.TELEGRAM_BOT_TOKEN or "",
        "TELEGRAM_API_BASE": settings.TELEGRAM_API_BASE,
        "SMS_RATE_PER_SECOND": "3000",
        "TELEGRAM_RATE_PER_SECOND": "3000",
        "OUTBOX_LEASE_SECONDS": "10",
        "QUIET_HOURS": "",
        "LOG_LEVEL": "WARNING",
    }
    return [
        subprocess.Popen(
            [sys.executable, "-m", "crm.cli", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(count)
    ]


async def _wait_until_final(total: int, seconds: float) -> dict[str, int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        final = await OutboxMessage.filter(status__in=list(FINAL)).count()
        if final == total:
            break
        await asyncio.sleep(0.5)
    rows = await OutboxMessage.all().values_list("status", flat=True)
    return dict(Counter(rows))


def _stop(workers: list[subprocess.Popen]) -> list[str]:
    errors = []
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            _, err = worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            _, err = worker.communicate()
        if worker.returncode not in (0, -signal.SIGKILL):
            errors.append(err.decode(errors="replace")[-2000:])
    return errors


def _sent_bodies(standin) -> Counter:
    return Counter(m.get("body") or m.get("text") for m in standin.messages())


async def test_three_workers_send_each_of_5000_messages_exactly_once(
    app, twilio_standin, telegram_standin
):
    await _fill_outbox(2500, 2500)
    workers = _start_workers(3)
    try:
        statuses = await _wait_until_final(5000, seconds=240)
    finally:
        errors = _stop(workers)
    assert not errors, errors
    assert statuses == {OutboxStatus.SENT: 5000}
    sms, telegram = _sent_bodies(twilio_standin), _sent_bodies(telegram_standin)
    assert len(sms) == 2500 and set(sms.values()) == {1}
    assert len(telegram) == 2500 and set(telegram.values()) == {1}
    # The work was shared: every worker claimed some rows.
    assert await OutboxMessage.filter(leased_by=None).count() == 0
    assert len(set(await OutboxMessage.all().values_list("leased_by", flat=True))) == 3


async def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(
    app, twilio_standin, telegram_standin
):
    # Slow answers keep many messages in flight, so the kill lands in the middle of sends.
    twilio_standin.set_latency(0.3)
    telegram_standin.set_latency(0.3)
    await _fill_outbox(1500, 1500, people=1000)
    workers = _start_workers(3)
    try:
        for _ in range(1200):  # polling another process's progress (at most 2 minutes)
            if await OutboxMessage.filter(status=OutboxStatus.SENT).count() >= 600:
                break
            await asyncio.sleep(0.1)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait()
        in_flight = await OutboxMessage.filter(
            status=OutboxStatus.SENDING, leased_by__startswith=_worker_prefix(workers[0])
        ).count()
        statuses = await _wait_until_final(3000, seconds=240)
    finally:
        errors = _stop(workers[1:])
        twilio_standin.set_latency(0)
        telegram_standin.set_latency(0)
    assert not errors, errors
    assert in_flight > 0, "the kill should have caught messages in flight"
    assert set(statuses) <= {OutboxStatus.SENT, OutboxStatus.UNKNOWN}, statuses
    sms, telegram = _sent_bodies(twilio_standin), _sent_bodies(telegram_standin)
    # Nothing duplicated: the provider received each body at most once.
    assert set(sms.values()) == {1} and set(telegram.values()) == {1}
    # Nothing lost: every SMS reached Twilio (reconciled by lookup, or resent when Twilio never
    # had it), and every Telegram row is either sent or shown to staff as unknown.
    assert len(sms) == 1500
    sent_sms = await OutboxMessage.filter(channel=Channel.SMS, status=OutboxStatus.SENT).count()
    assert sent_sms == 1500
    unknown = await OutboxMessage.filter(status=OutboxStatus.UNKNOWN).values_list("channel", "body")
    assert all(channel == Channel.TELEGRAM for channel, _ in unknown)
    sent_telegram = await OutboxMessage.filter(
        channel=Channel.TELEGRAM, status=OutboxStatus.SENT
    ).values_list("body", flat=True)
    assert set(sent_telegram) <= set(telegram)
    assert len(sent_telegram) + len(unknown) == 1500
    # Every provider id is recorded once: a reconciled SMS carries Twilio's own sid.
    sids = await OutboxMessage.filter(channel=Channel.SMS).values_list("provider_id", flat=True)
    assert set(sids) == {m["sid"] for m in twilio_standin.messages()}


def _worker_prefix(process: subprocess.Popen) -> str:
    import socket

    return f"{socket.gethostname()[:40]}-{process.pid}-"
