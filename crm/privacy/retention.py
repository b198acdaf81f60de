"""Retention: nothing about a person is kept without an end date.

A person with no activity for RETENTION_INACTIVE_MONTHS (24 by default) is flagged; the flag is
shown to coordinators (`/privacy/retention`), who may keep the person until a date with a reason
(a loan being repaid, a coaching pause). After RETENTION_WARNING_DAYS, a person still inactive
and not kept is anonymised (`crm.privacy.erasure`, reason "retention"). Activity is what the
person or the staff did *with* them: being reached, an interaction, a message from them, a staff
reply, a stage change, a referral's change, a consent given, an event registration. Campaign
messages are not activity: marketing alone never keeps data alive.

Copies of personal data kept for a while only: raw rows of import reports (values emptied),
partner webhook deliveries already delivered or failed (deleted with their log), the field
app's sync receipts (deleted). Stories whose consent ended are withdrawn from campaigns.

Runs in the worker every hour (`install`); each step is a conditional update, so two workers or
a run fired twice do each thing once. `passerelle privacy retention` runs it by hand."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tortoise import connections
from tortoise.functions import Max
from tortoise.queryset import QuerySet

from crm.audit import service as audit
from crm.auth.actor import SYSTEM, Actor
from crm.config import settings
from crm.db import Sql, numbered_sql
from crm.errors import Conflict, InvalidInput, NotFound
from crm.people.merge import model_named
from crm.people.models import Lead
from crm.privacy.erasure import FINISHED_IMPORTS, erase_person
from crm.privacy.requests import add_months, remind_due, today

if TYPE_CHECKING:  # crm never imports channels at run time (dependencies point one way)
    from channels.worker import Worker

log = logging.getLogger("passerelle.privacy")

RETENTION_INTERVAL_SECONDS = 3600
# Anonymisations per run: a backlog (the first run on an old database) is worked off over
# several runs instead of one long one.
MAX_ERASURES_PER_RUN = 500
_CHUNK = 500

# (model, time column, extra filter): the rows that count as activity with a person.
ACTIVITY: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("Interaction", "occurred_at", {}),
    ("InboundMessage", "received_at", {}),
    ("OutboxMessage", "created_at", {"kind": "reply"}),
    ("LeadStageChange", "at", {}),
    ("Referral", "updated_at", {}),
    ("ConsentRecord", "recorded_at", {"granted": True}),
    ("EventRegistration", "registered_at", {}),
)


@dataclass
class RetentionRun:
    flagged: int = 0
    unflagged: int = 0
    anonymised: int = 0
    import_rows: int = 0
    webhook_deliveries: int = 0
    sync_receipts: int = 0
    stories_withdrawn: int = 0
    requests_reminded: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def inactivity_cutoff(now: datetime) -> datetime:
    day = add_months(now.astimezone(UTC).date(), -settings.RETENTION_INACTIVE_MONTHS)
    return datetime.combine(day, now.astimezone(UTC).timetz())


def anonymise_on(flagged_at: datetime) -> date:
    return (
        (flagged_at + timedelta(days=settings.RETENTION_WARNING_DAYS))
        .astimezone(settings.tz)
        .date()
    )


async def last_activity(lead_ids: Iterable[int]) -> dict[int, datetime]:
    """Each person's latest activity (see ACTIVITY; their record's creation and last contact
    count too)."""
    ids = list(lead_ids)
    latest: dict[int, datetime] = {}

    def seen(lead_id: int, at: datetime | None) -> None:
        if at is not None and (lead_id not in latest or at > latest[lead_id]):
            latest[lead_id] = at

    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for row in await Lead.filter(id__in=chunk).values("id", "created_at", "last_contacted_at"):
            seen(row["id"], row["created_at"])
            seen(row["id"], row["last_contacted_at"])
        for name, column, extra in ACTIVITY:
            rows = (
                await model_named(name)
                .filter(lead_id__in=chunk, **extra)
                .annotate(last=Max(column))
                .group_by("lead_id")
                .values("lead_id", "last")
            )
            for row in rows:
                seen(row["lead_id"], row["last"])
    return latest


def _inactive_sql(p: Sql, cutoff: datetime, on: date, *conditions: str) -> str:
    """The people not erased, not kept past `on`, with nothing since `cutoff`: one statement
    (each activity an indexed NOT EXISTS on its (lead_id, time) index)."""
    cut = p(cutoff)
    where = [
        "l.anonymised_at IS NULL",
        f"(l.keep_until IS NULL OR l.keep_until < {p(on)})",
        f"l.created_at < {cut}",
        f"(l.last_contacted_at IS NULL OR l.last_contacted_at < {cut})",
        *conditions,
    ]
    for name, column, extra in ACTIVITY:
        table = model_named(name)._meta.db_table
        also = "".join(f" AND x.{field} = {p(value)}" for field, value in extra.items())
        where.append(
            f"NOT EXISTS (SELECT 1 FROM {table} x WHERE x.lead_id = l.id"
            f" AND x.{column} >= {cut}{also})"
        )
    return "SELECT l.id FROM lead l WHERE " + " AND ".join(where) + " ORDER BY l.id"


async def _ids(sql: str, p: Sql) -> list[int]:
    conn = connections.get("default")
    _count, rows = await conn.execute_query(numbered_sql(sql, conn), p.params)
    return [row["id"] for row in rows]


async def flag_inactive(now: datetime) -> tuple[int, int]:
    """Flag the people inactive since the cutoff; unflag the flagged who are active again.
    Returns (flagged, unflagged)."""
    cutoff, on = inactivity_cutoff(now), today(now)
    p = Sql()
    found = await _ids(_inactive_sql(p, cutoff, on, "l.inactive_flagged_at IS NULL"), p)
    flagged = 0
    for lead_id in found:
        if await Lead.filter(id=lead_id, inactive_flagged_at__isnull=True).update(
            inactive_flagged_at=now
        ):
            flagged += 1
            await audit.record(
                SYSTEM,
                "privacy.retention_flag",
                entity="lead",
                entity_id=lead_id,
                lead_id=lead_id,
                changes={"anonymise_on": anonymise_on(now), "inactive_since": cutoff},
            )
    p = Sql()
    still = set(await _ids(_inactive_sql(p, cutoff, on, "l.inactive_flagged_at IS NOT NULL"), p))
    flagged_ids = await _flagged().values_list("id", flat=True)
    active_again = [i for i in flagged_ids if i not in still]
    unflagged = 0
    if active_again:
        unflagged = await Lead.filter(id__in=active_again).update(inactive_flagged_at=None)
    return flagged, unflagged


async def anonymise_expired(now: datetime) -> int:
    """Anonymise the flagged people whose warning period is over, still inactive, not kept."""
    p = Sql()
    warned = p(now - timedelta(days=settings.RETENTION_WARNING_DAYS))
    sql = _inactive_sql(p, inactivity_cutoff(now), today(now), f"l.inactive_flagged_at <= {warned}")
    done = 0
    for lead_id in (await _ids(sql, p))[:MAX_ERASURES_PER_RUN]:
        try:
            await erase_person(SYSTEM, lead_id, reason="retention", now=now)
        except (Conflict, NotFound):  # erased or merged meanwhile
            continue
        done += 1
    return done


async def purge_copies(now: datetime) -> tuple[int, int, int]:
    """Empty or delete the short-lived copies of personal data past their period."""
    jobs = model_named("ImportJob")
    old_ids = list(
        await jobs.filter(
            created_at__lt=now - timedelta(days=settings.RETENTION_IMPORT_ROWS_DAYS),
            status__in=FINISHED_IMPORTS,
        ).values_list("id", flat=True)
    )
    rows = 0
    if old_ids:
        # The uploaded files go, and the raw values of each row's report; the counts stay.
        rows = await jobs.filter(id__in=old_ids).exclude(content=b"").update(content=b"")
        rows += (
            await model_named("ImportRowReport")
            .filter(job_id__in=old_ids, values__isnull=False)
            .update(values=None)
        )
    deliveries = (
        await model_named("WebhookDelivery")
        .filter(
            status__in=("delivered", "failed"),
            created_at__lt=now - timedelta(days=settings.RETENTION_WEBHOOK_PAYLOAD_DAYS),
        )
        .delete()
    )
    receipts = (
        await model_named("SyncReceipt")
        .filter(created_at__lt=now - timedelta(days=settings.RETENTION_SYNC_RECEIPT_DAYS))
        .delete()
    )
    return rows, deliveries, receipts


async def withdraw_expired_stories(now: datetime) -> int:
    """Stories whose entrepreneur's consent ended are no longer told (active = false)."""
    stories = model_named("SuccessStory")
    on = today(now)
    withdrawn = 0
    for story in await stories.filter(active=True, consent_expires_at__lt=on).only("id"):
        if await stories.filter(id=story.id, active=True).update(active=False):
            withdrawn += 1
            await audit.record(
                SYSTEM,
                "story.withdrawn",
                entity="story",
                entity_id=story.id,
                changes={"reason": "consent ended"},
            )
    return withdrawn


async def run_retention(now: datetime | None = None) -> RetentionRun:
    """One pass of every retention rule (the worker's hourly job)."""
    now = now or datetime.now(UTC)
    run = RetentionRun()
    run.flagged, run.unflagged = await flag_inactive(now)
    run.anonymised = await anonymise_expired(now)
    run.import_rows, run.webhook_deliveries, run.sync_receipts = await purge_copies(now)
    run.stories_withdrawn = await withdraw_expired_stories(now)
    run.requests_reminded = await remind_due(now)
    if any(run.as_dict().values()):
        log.info("retention: %s", run.as_dict())
    return run


async def keep_person(
    actor: Actor, lead_id: int, until: date, reason: str, *, now: datetime | None = None
) -> Lead:
    """Keep a person past the inactivity rule until `until` (at most the inactivity period
    ahead), with the reason; clears the flag. Audited."""
    now = now or datetime.now(UTC)
    on = today(now)
    if until <= on:
        raise InvalidInput("the date must be in the future", field="until")
    latest = add_months(on, settings.RETENTION_INACTIVE_MONTHS)
    if until > latest:
        raise InvalidInput(f"a person can be kept until {latest} at the latest", field="until")
    lead = await Lead.get_or_none(id=lead_id)
    if lead is None:
        raise NotFound(f"there is no person #{lead_id}", field="lead_id")
    if lead.anonymised_at is not None:
        raise Conflict(f"person #{lead_id} was erased")
    await Lead.filter(id=lead_id).update(
        keep_until=until, keep_reason=reason, inactive_flagged_at=None
    )
    await audit.record(
        actor,
        "privacy.retention_keep",
        entity="lead",
        entity_id=lead_id,
        lead_id=lead_id,
        changes={"until": until},
    )
    await lead.refresh_from_db()
    return lead


def _flagged() -> QuerySet[Lead]:
    return Lead.filter(inactive_flagged_at__isnull=False, anonymised_at__isnull=True)


async def flagged_count() -> int:
    return await _flagged().count()


async def flagged_people(*, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The people flagged for inactivity, the soonest anonymised first."""
    query = _flagged()
    rows = await query.order_by("inactive_flagged_at", "id").offset(offset).limit(limit)
    latest = await last_activity([r.id for r in rows])
    items = [
        {
            "lead_id": r.id,
            "first_name": r.first_name,
            "last_name": r.last_name,
            "stage": r.stage.value,
            "flagged_at": r.inactive_flagged_at,
            "last_activity_at": latest.get(r.id),
            "anonymise_on": anonymise_on(r.inactive_flagged_at),  # type: ignore[arg-type]
        }
        for r in rows
    ]
    return items, await query.count()


async def _retention_job() -> RetentionRun:
    return await run_retention()


def install(worker: Worker) -> None:
    """Worker plugin: the retention rules and the rights requests' reminders, hourly."""
    worker.every(RETENTION_INTERVAL_SECONDS, _retention_job, job_id="privacy-retention")
