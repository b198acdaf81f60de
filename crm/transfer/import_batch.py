"""Writing one batch of prepared rows: dedup against the people already stored, then create,
add facts or leave alone, and move the job's checkpoint, all in one transaction.

A batch of ~1,000 rows costs a fixed handful of statements whatever its size: one lookup by
phone, one by e-mail, one for the matched people's segments (and consents), one multi-row
INSERT per table, one UPDATE per person who gets new fields, and the checkpoint. Existing
people get new facts the way `people.service` merges a duplicate: empty fields filled,
segments added, consents appended, nothing overwritten."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from crm.audit.models import AuditEntry
from crm.auth.actor import Actor
from crm.db import is_postgres
from crm.people import pathway
from crm.people.models import ConsentRecord, Lead, LeadSegment
from crm.transfer.import_rows import PreparedRow, Refusal
from crm.transfer.mapping import ImportOptions
from crm.transfer.models import ImportJob, ImportRowOutcome, ImportRowReport

# Fields an import may fill on an existing person when they are empty there.
FILLABLE = (
    "last_name",
    "phone",
    "email",
    "language",
    "postcode",
    "region",
    "gender",
    "birth_year",
    "employment_status",
    "background",
    "social_assistance",
    "jobs_created",
    "jobs_kept",
    "notes",
)
# What a new person's row is written with: all an import may fill, and the bookkeeping.
_LEAD_FIELDS = ("first_name", *FILLABLE, "stage", "source")
_LEAD_COLUMNS = (*_LEAD_FIELDS, "created_at", "updated_at", *pathway.COLUMNS)
SAMPLE_SIZE = 20  # created and updated rows kept in the report as a sample
# Parameters per statement: well under SQLite's 32,766 and asyncpg's 32,767.
_MAX_PARAMS = 30_000


class LeaseLost(Exception):
    """Another worker took this job over (our lease ran out): this batch is rolled back."""


@dataclass
class BatchResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: int = 0


@dataclass
class _Plan:
    new_rows: list[PreparedRow] = field(default_factory=list)
    # lead id -> (fields added, segments added, consent purposes added, row numbers)
    updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    outcomes: list[tuple[int, ImportRowOutcome, int | None, dict[str, Any] | None]] = field(
        default_factory=list
    )


def _marks(rows: int, cols: int) -> str:
    """`(?, ?), (?, ?)` on SQLite, `($1, $2), ($3, $4)` on PostgreSQL."""
    if is_postgres():
        return ", ".join(
            "(" + ", ".join(f"${r * cols + c + 1}" for c in range(cols)) + ")" for r in range(rows)
        )
    one = "(" + ", ".join("?" * cols) + ")"
    return ", ".join([one] * rows)


def _key(phone: str | None, email: str | None) -> str:
    return f"p:{phone}" if phone else f"e:{email}"


def _plain(value: Any) -> Any:
    # Enum members as their plain value: both drivers take str, not every str subclass.
    return value.value if isinstance(value, Enum) else value


def _mark(n: int) -> str:
    return f"${n}" if is_postgres() else "?"


async def _insert(table: str, columns: tuple[str, ...], rows: list[tuple], returning: str = ""):
    """Multi-row INSERT, chunked under the parameter limit; the RETURNING rows if asked."""
    conn = connections.get("default")
    out: list[dict[str, Any]] = []
    step = max(1, _MAX_PARAMS // len(columns))
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        sql = (
            f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES '
            f"{_marks(len(chunk), len(columns))}" + (f" RETURNING {returning}" if returning else "")
        )
        params = [v for row in chunk for v in row]
        if returning:
            out += await conn.execute_query_dict(sql, params)
        else:
            await conn.execute_query(sql, params)
    return out


class BatchWriter:
    """Writes the batches of one job run (dry or not)."""

    def __init__(self, job: ImportJob, options: ImportOptions, actor: Actor | None) -> None:
        self.job = job
        self.options = options
        self.actor = actor
        self.samples = {
            ImportRowOutcome.CREATED: 0,
            ImportRowOutcome.UPDATED: 0,
            ImportRowOutcome.UNCHANGED: 0,
        }

    async def write(
        self,
        batch: list[PreparedRow | Refusal],
        *,
        processed: int,
        worker_id: str,
        lease_until: datetime,
    ) -> BatchResult:
        prepared = [r for r in batch if isinstance(r, PreparedRow)]
        refused = [r for r in batch if isinstance(r, Refusal)]
        result = BatchResult(refused=len(refused))
        async with in_transaction():
            plan = await self._plan(prepared)
            now = datetime.now(UTC)
            created_ids: dict[int, int] = {}
            if not self.job.dry_run:
                created_ids = await self._create(plan.new_rows, now)
                await self._update(plan.updates, now)
                await self._audit(plan, created_ids)
            reports = self._reports(plan, refused, created_ids)
            if reports:
                await ImportRowReport.bulk_create(reports, batch_size=1000)
            result.created = len(plan.new_rows)
            result.updated = sum(1 for o in plan.outcomes if o[1] == ImportRowOutcome.UPDATED)
            result.unchanged = sum(1 for o in plan.outcomes if o[1] == ImportRowOutcome.UNCHANGED)
            await self._checkpoint(result, processed, worker_id, lease_until)
        return result

    # -- dedup against stored people ----------------------------------------------------------

    async def _plan(self, rows: list[PreparedRow]) -> _Plan:
        plan = _Plan()
        phones = [r.values["phone"] for r in rows if r.values.get("phone")]
        emails = [r.values["email"] for r in rows if r.values.get("email")]
        wanted = ("id", *FILLABLE)
        by_phone: dict[str, dict[str, Any]] = {}
        by_email: dict[str, dict[str, Any]] = {}
        if phones:
            for lead in await Lead.filter(phone__in=phones).values(*wanted):
                by_phone[lead["phone"]] = lead
        if emails:
            # The oldest person with that e-mail, as find_match does.
            for lead in await Lead.filter(email__in=emails).order_by("-id").values(*wanted):
                by_email[lead["email"]] = lead
        matched: dict[int, dict[str, Any]] = {}
        row_lead: list[tuple[PreparedRow, dict[str, Any] | None]] = []
        for row in rows:
            lead = by_phone.get(row.values.get("phone") or "") or by_email.get(
                row.values.get("email") or ""
            )
            if lead is not None:
                lead = matched.setdefault(lead["id"], lead)
            row_lead.append((row, lead))
        segments: dict[int, set[str]] = {i: set() for i in matched}
        consented: dict[int, set[str]] = {i: set() for i in matched}
        if matched:
            for lead_id, code in await LeadSegment.filter(lead_id__in=list(matched)).values_list(
                "lead_id", "code"
            ):
                segments[lead_id].add(code)
            if self.options.consent:
                purposes = [p.value for p in self.options.consent.purposes]
                latest: dict[tuple[int, str], bool] = {}
                for lead_id, purpose, granted in (
                    await ConsentRecord.filter(lead_id__in=list(matched), purpose__in=purposes)
                    .order_by("recorded_at", "id")
                    .values_list("lead_id", "purpose", "granted")
                ):
                    latest[(lead_id, purpose)] = granted
                for (lead_id, purpose), granted in latest.items():
                    if granted:
                        consented[lead_id].add(purpose)
        for row, lead in row_lead:
            if lead is None:
                plan.new_rows.append(row)
                plan.outcomes.append((row.row, ImportRowOutcome.CREATED, None, row.raw))
                continue
            self._merge(plan, row, lead, segments[lead["id"]], consented[lead["id"]])
        return plan

    def _merge(
        self,
        plan: _Plan,
        row: PreparedRow,
        lead: dict[str, Any],
        segments: set[str],
        consented: set[str],
    ) -> None:
        added: dict[str, Any] = {}
        for key in FILLABLE:
            new = row.values.get(key)
            if new not in (None, "") and lead.get(key) in (None, ""):
                added[key] = new
                lead[key] = new  # a later row of the batch sees it filled
        new_segments = [c for c in row.segments if c not in segments]
        segments.update(new_segments)
        purposes = []
        if self.options.consent:
            purposes = [p.value for p in self.options.consent.purposes if p.value not in consented]
            consented.update(purposes)
        if added or new_segments or purposes:
            update = plan.updates.setdefault(
                lead["id"], {"fields": {}, "segments": [], "consents": [], "rows": []}
            )
            update["fields"].update(added)
            update["segments"] += new_segments
            update["consents"] += purposes
            update["rows"].append(row.row)
            detail = {**(row.raw or {}), "added": {**added, "segments": new_segments}}
            if purposes:
                detail["added"]["consents"] = purposes
            plan.outcomes.append((row.row, ImportRowOutcome.UPDATED, lead["id"], detail))
        else:
            plan.outcomes.append((row.row, ImportRowOutcome.UNCHANGED, lead["id"], row.raw))

    # -- writes -------------------------------------------------------------------------------

    async def _create(self, rows: list[PreparedRow], now: datetime) -> dict[int, int]:
        """Insert the new people; returns row number -> lead id."""
        if not rows:
            return {}
        values = []
        for row in rows:
            v = row.values
            milestones = pathway.initial(v["stage"], now)
            values.append(
                tuple(_plain(v.get(c)) for c in _LEAD_FIELDS)
                + (now, now)
                + tuple(milestones.get(c) for c in pathway.COLUMNS)
            )
        inserted = await _insert("lead", _LEAD_COLUMNS, values, returning="id, phone, email")
        # RETURNING does not promise the VALUES order: rows are matched back by their phone, or
        # their e-mail when they have none (both unique among new rows: duplicates were refused).
        by_key = {_key(r["phone"], r["email"]): r["id"] for r in inserted}
        ids = {row.row: by_key[_key(row.values.get("phone"), row.values.get("email"))]
               for row in rows}  # fmt: skip
        by_user = self.actor.user_id if self.actor else None
        await _insert(
            "lead_stage_change",
            ("lead_id", "from_stage", "to_stage", "by_user_id", "at"),
            [(ids[r.row], None, _plain(r.values["stage"]), by_user, now) for r in rows],
        )
        links = [(ids[r.row], code) for r in rows for code in r.segments]
        if links:
            await _insert("lead_segment", ("lead_id", "code"), links)
        if self.options.consent:
            purposes = self.options.consent.purposes
            await self._consents([(ids[r.row], p) for r in rows for p in purposes], now)
        return ids

    async def _consents(self, granted: list[tuple[int, Any]], now: datetime) -> None:
        """One ledger entry per (lead id, purpose), in one INSERT."""
        consent = self.options.consent
        if consent is None or not granted:
            return
        by_user = self.actor.user_id if self.actor else None
        await _insert(
            "consent_record",
            ("lead_id", "purpose", "granted", "source", "method", "text_version",
             "recorded_by_id", "recorded_at"),
            [
                (lead_id, _plain(purpose), True, "import", consent.method, consent.text_version,
                 by_user, now)
                for lead_id, purpose in granted
            ],
        )  # fmt: skip

    async def _update(self, updates: dict[int, dict[str, Any]], now: datetime) -> None:
        conn = connections.get("default")
        links: list[tuple[int, str]] = []
        granted: list[tuple[int, str]] = []
        for lead_id, update in updates.items():
            fields = update["fields"]
            if fields:
                names = list(fields)
                sets = ", ".join(f"{name} = {_mark(i + 1)}" for i, name in enumerate(names))
                n = len(names)
                await conn.execute_query(
                    f'UPDATE "lead" SET {sets}, updated_at = {_mark(n + 1)} '
                    f"WHERE id = {_mark(n + 2)}",
                    [*(_plain(fields[k]) for k in names), now, lead_id],
                )
            links += [(lead_id, code) for code in update["segments"]]
            granted += [(lead_id, purpose) for purpose in update["consents"]]
        if links:
            await _insert("lead_segment", ("lead_id", "code"), links)
        await self._consents(granted, now)

    async def _audit(self, plan: _Plan, created_ids: dict[int, int]) -> None:
        """One entry for the people this batch created (their ids and rows), one per person
        who got new facts; each names the job and the file."""
        actor = self.actor
        base = {
            "actor_user_id": actor.user_id if actor else None,
            "actor_organisation_id": actor.organisation_id if actor else None,
            "actor_label": actor.label if actor else "system",
        }
        job = {"job_id": self.job.id, "file": self.job.filename}
        entries = []
        if created_ids:
            entries.append(
                AuditEntry(
                    **base,
                    action="import.create_leads",
                    entity="import_job",
                    entity_id=self.job.id,
                    changes={**job, "rows": created_ids, "count": len(created_ids)},
                )
            )
        for lead_id, update in plan.updates.items():
            entries.append(
                AuditEntry(
                    **base,
                    action="lead.import_update",
                    entity="lead",
                    entity_id=lead_id,
                    lead_id=lead_id,
                    changes=json.loads(json.dumps({**job, **update}, default=str)),
                )
            )
        if entries:
            await AuditEntry.bulk_create(entries)

    def _reports(
        self, plan: _Plan, refused: list[Refusal], created_ids: dict[int, int]
    ) -> list[ImportRowReport]:
        job_id = self.job.id
        reports = [
            ImportRowReport(
                job_id=job_id,
                row_number=r.row,
                outcome=ImportRowOutcome.REFUSED,
                field=r.field[:60],
                message=r.message[:500],
                values=r.values,
            )
            for r in refused
        ]
        for row, outcome, lead_id, values in plan.outcomes:
            if outcome in self.samples:
                # Created, updated and unchanged rows: a sample (refused rows: all of them);
                # the audit trail names every person created or updated.
                if self.samples[outcome] >= SAMPLE_SIZE:
                    continue
                self.samples[outcome] += 1
            reports.append(
                ImportRowReport(
                    job_id=job_id,
                    row_number=row,
                    outcome=outcome,
                    lead_id=lead_id or created_ids.get(row),
                    values=json.loads(json.dumps(values, default=str)) if values else None,
                )
            )
        return reports

    async def _checkpoint(
        self, result: BatchResult, processed: int, worker_id: str, lease_until: datetime
    ) -> None:
        moved = await ImportJob.filter(id=self.job.id, leased_by=worker_id).update(
            processed_rows=processed,
            created_count=self.job.created_count + result.created,
            updated_count=self.job.updated_count + result.updated,
            unchanged_count=self.job.unchanged_count + result.unchanged,
            refused_count=self.job.refused_count + result.refused,
            lease_until=lease_until,
        )
        if not moved:
            raise LeaseLost(f"import job {self.job.id} was taken over by another worker")
        self.job.processed_rows = processed
        self.job.created_count += result.created
        self.job.updated_count += result.updated
        self.job.unchanged_count += result.unchanged
        self.job.refused_count += result.refused
