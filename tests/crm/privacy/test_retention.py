"""Retention: inactive people flagged then anonymised after the warning, unless active again or
kept; short-lived copies purged; stories whose consent ended withdrawn."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

from channels.models import Channel, MessageKind, OutboxMessage
from crm.audit.models import AuditEntry
from crm.enums import Role
from crm.outreach.models import Interaction, SyncReceipt
from crm.people.models import Lead, LeadSource
from crm.privacy.retention import run_retention
from crm.stories.models import SuccessStory
from crm.transfer.models import ImportJob, ImportRowReport
from tests.conftest import DATABASE_URL
from tests.crm.test_cli import _runner

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=800)  # more than 24 months


async def person(name: str, created: datetime = LONG_AGO) -> Lead:
    lead = await Lead.create(first_name=name, source=LeadSource.WALK_IN)
    await Lead.filter(id=lead.id).update(created_at=created)
    return lead


async def test_people_inactive_for_24_months_are_flagged_and_only_they(app):
    quiet = await person("Quiet")
    recent = await person("Recent", created=NOW - timedelta(days=30))
    talked = await person("Talked")
    await Interaction.create(
        lead=talked, kind="call", channel="phone", occurred_at=NOW - timedelta(days=10)
    )
    marketed = await person("Marketed")  # campaigns alone keep nobody's data alive
    await OutboxMessage.create(
        lead=marketed,
        channel=Channel.SMS,
        address="+32470000001",
        body="story",
        kind=MessageKind.CAMPAIGN,
        status="sent",
        due_at=NOW,
        idempotency_key="ret:1",
    )

    run = await run_retention(NOW)

    flagged = set(
        await Lead.filter(inactive_flagged_at__isnull=False).values_list("first_name", flat=True)
    )
    assert flagged == {"Quiet", "Marketed"} and run.flagged == 2
    assert await AuditEntry.exists(action="privacy.retention_flag", lead_id=quiet.id)
    assert recent.id and talked.id


async def test_after_the_warning_the_inactive_are_anonymised_the_kept_and_active_not(
    client, make_caller
):
    dpo = await make_caller(Role.COORDINATOR)
    gone = await person("Gone")
    kept = await person("Kept")
    back = await person("Back")
    await run_retention(NOW)
    response = await client.post(
        f"/api/v1/leads/{kept.id}/keep",
        headers=dpo.headers,
        json={"until": str(date.today() + timedelta(days=200)), "reason": "loan repaid in 2027"},
    )
    assert response.status_code == 200, response.text
    await Interaction.create(
        lead=back, kind="call", channel="phone", occurred_at=NOW + timedelta(days=5)
    )

    run = await run_retention(NOW + timedelta(days=31))

    assert run.anonymised == 1
    assert (await Lead.get(id=gone.id)).anonymised_at is not None
    assert (await Lead.get(id=gone.id)).first_name == ""
    assert (await Lead.get(id=kept.id)).first_name == "Kept"
    back_now = await Lead.get(id=back.id)
    assert back_now.anonymised_at is None and back_now.inactive_flagged_at is None
    entry = await AuditEntry.get(action="privacy.erase", lead_id=gone.id)
    assert entry.changes["reason"] == "retention" and entry.actor_label == "system"


async def test_keeping_needs_a_future_date_within_the_period_and_a_reason(client, make_caller):
    dpo = await make_caller(Role.ADMIN)
    lead = await person("Someone")
    url = f"/api/v1/leads/{lead.id}/keep"
    past = await client.post(url, headers=dpo.headers, json={"until": "2020-01-01", "reason": "x"})
    assert past.status_code == 422 and "until" in past.text
    far = await client.post(url, headers=dpo.headers, json={"until": "2099-01-01", "reason": "x"})
    assert far.status_code == 422 and "until" in far.text
    empty = await client.post(
        url, headers=dpo.headers, json={"until": str(date.today() + timedelta(days=9))}
    )
    assert empty.status_code == 422 and "reason" in empty.text


async def test_the_flagged_list_says_when_each_will_be_anonymised(client, make_caller):
    dpo = await make_caller(Role.COORDINATOR)
    lead = await person("Listed")
    await run_retention(NOW)
    response = await client.get("/api/v1/privacy/retention", headers=dpo.headers)
    assert response.status_code == 200, response.text
    (item,) = response.json()["items"]
    assert item["lead_id"] == lead.id and item["anonymise_on"] == "2026-12-20"
    marketing = await make_caller(Role.MARKETING)
    denied = await client.get("/api/v1/privacy/retention", headers=marketing.headers)
    assert denied.status_code == 403


async def test_old_copies_of_personal_data_are_purged(app):
    job = await ImportJob.create(
        filename="old.csv",
        file_format="csv",
        file_sha256="1" * 64,
        content=b"name\nAnna\n",
        status="done",
    )
    await ImportJob.filter(id=job.id).update(created_at=NOW - timedelta(days=91))
    fresh = await ImportJob.create(
        filename="new.csv", file_format="csv", file_sha256="2" * 64, content=b"x", status="done"
    )
    await ImportRowReport.create(job=job, row_number=2, outcome="refused", values={"name": "Anna"})
    receipt = await SyncReceipt.create(client_id=uuid.uuid4(), kind="contact", result={"a": 1})
    await SyncReceipt.filter(id=receipt.id).update(created_at=NOW - timedelta(days=91))

    run = await run_retention(NOW)

    assert (await ImportJob.get(id=job.id)).content == b""
    assert (await ImportRowReport.get(job_id=job.id)).values is None
    assert (await ImportJob.get(id=fresh.id)).content == b"x"
    assert not await SyncReceipt.exists(id=receipt.id) and run.sync_receipts == 1


async def test_stories_whose_consent_ended_are_withdrawn(app):
    ended = await SuccessStory.create(
        title="Bakery", entrepreneur_first_name="Rosa", consent_expires_at=date(2026, 11, 1)
    )
    valid = await SuccessStory.create(
        title="Garage", entrepreneur_first_name="Tom", consent_expires_at=date(2027, 11, 1)
    )
    run = await run_retention(NOW)
    assert run.stories_withdrawn == 1
    assert not (await SuccessStory.get(id=ended.id)).active
    assert (await SuccessStory.get(id=valid.id)).active
    assert await AuditEntry.exists(action="story.withdrawn", entity_id=ended.id)


async def test_the_command_line_runs_the_rules(app, tmp_path):
    await person("Old")
    # In a thread: the command opens the same database while this test's app holds it open.
    result = await asyncio.to_thread(_runner(tmp_path, DATABASE_URL), "privacy", "retention")
    assert result.returncode == 0, result.stderr
    assert "flagged: 1" in result.stdout
    assert (await Lead.get(first_name="Old")).inactive_flagged_at is not None
