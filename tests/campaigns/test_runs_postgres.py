"""A campaign fired by two real `passerelle worker` processes on one PostgreSQL database: one
run, one outbox row per person, and each person's SMS sent once (the Twilio stand-in received
each number once)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from campaigns.models import Campaign, CampaignRun, CampaignStatus, RunStatus
from channels.models import OutboxMessage, OutboxStatus
from crm.config import settings
from crm.people.models import ConsentPurpose, ConsentRecord, ConsentSource, Lead, LeadSource, Stage
from tests.conftest import DATABASE_URL, IS_POSTGRES

pytestmark = [
    pytest.mark.skipif(not IS_POSTGRES, reason="several workers need PostgreSQL"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

PEOPLE = 300


async def _audience(count: int) -> list[Lead]:
    await Lead.bulk_create(
        [
            Lead(
                first_name=f"P{i}",
                phone=f"+3247{i:07d}",
                language=("fr", "nl", "de")[i % 3],
                source=LeadSource.WALK_IN,
                stage=Stage.LEAD,
            )
            for i in range(count)
        ]
    )
    leads = await Lead.all().order_by("id")
    granted_at = datetime.now(UTC) - timedelta(days=1)
    await ConsentRecord.bulk_create(
        [
            ConsentRecord(
                lead_id=lead.id,
                purpose=ConsentPurpose.SMS,
                granted=True,
                source=ConsentSource.EVENT,
                method="checkbox",
                recorded_at=granted_at,
            )
            for lead in leads
        ]
    )
    return leads


def _start_workers(count: int) -> list[subprocess.Popen]:
    env = {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "ENVIRONMENT": "test",
        "TWILIO_ACCOUNT_SID": settings.TWILIO_ACCOUNT_SID or "",
        "TWILIO_AUTH_TOKEN": settings.TWILIO_AUTH_TOKEN or "",
        "TWILIO_FROM": settings.TWILIO_FROM or "",
        "TWILIO_API_BASE": settings.TWILIO_API_BASE,
        "SMS_RATE_PER_SECOND": "3000",
        "TELEGRAM_RATE_PER_SECOND": "3000",
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
        if worker.returncode != 0:
            errors.append(err.decode(errors="replace")[-2000:])
    return errors


async def _wait_until_completed(campaign_id: int, seconds: float) -> None:
    """Polls another process's progress: every message sent and the campaign completed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        campaign = await Campaign.get(id=campaign_id)
        if campaign.status == CampaignStatus.COMPLETED:
            return
        await asyncio.sleep(0.5)


async def test_two_workers_send_a_campaign_once_to_each_of_300_people(
    client, marketing, twilio_standin
):
    leads = await _audience(PEOPLE)
    body = {
        "name": "Two workers",
        "channel": "sms",
        "messages": {
            "fr": "Bonjour {{ first_name }} ! {{ opt_out }}",
            "nl": "Hallo {{ first_name }}! {{ opt_out }}",
            "de": "Hallo {{ first_name }}! {{ opt_out }}",
        },
        "schedule": {"at": (datetime.now(UTC) + timedelta(seconds=3)).isoformat()},
    }
    created = await client.post("/api/v1/campaigns", json=body, headers=marketing.headers)
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    scheduled = await client.post(f"/api/v1/campaigns/{cid}/schedule", headers=marketing.headers)
    assert scheduled.status_code == 200, scheduled.text

    workers = _start_workers(2)
    try:
        await _wait_until_completed(cid, seconds=120)
    finally:
        errors = _stop(workers)
    assert not errors, errors

    campaign = await Campaign.get(id=cid)
    assert campaign.status == CampaignStatus.COMPLETED
    runs = await CampaignRun.filter(campaign_id=cid)
    assert len(runs) == 1 and runs[0].status == RunStatus.DONE
    rows = await OutboxMessage.filter(campaign_id=cid)
    assert Counter(r.lead_id for r in rows) == Counter({lead.id: 1 for lead in leads})
    assert {r.status for r in rows} == {OutboxStatus.SENT}
    provider_ids = [r.provider_id for r in rows]
    assert len(set(provider_ids)) == PEOPLE and None not in provider_ids
    received = Counter(m["to"] for m in twilio_standin.messages())
    assert received == Counter({lead.phone: 1 for lead in leads})
    assert set(provider_ids) == {m["sid"] for m in twilio_standin.messages()}
