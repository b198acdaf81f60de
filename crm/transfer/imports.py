"""Imports of people: a file becomes an ImportJob (the file itself, its mapping and options),
which the CLI runs at once or a worker claims (see `import_jobs`); presets; reports.

Every import, dry or not, is a job: the dry run goes through the same pipeline and writes only
the job and its row report."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from tortoise.expressions import Q

from crm.audit import service as audit
from crm.auth.actor import Actor
from crm.auth.models import User
from crm.errors import InvalidInput, NotFound
from crm.transfer.mapping import IGNORE, TARGETS, ImportOptions, guess_mapping, resolve_mapping
from crm.transfer.models import (
    ImportJob,
    ImportPreset,
    ImportRowOutcome,
    ImportRowReport,
    ImportStatus,
)
from crm.transfer.reader import Sheet, detect_format, open_sheet

KIND = "leads"
UNFINISHED = (ImportStatus.PENDING, ImportStatus.RUNNING)
# A web upload waits for its mapping under this lease holder; no worker claims it meanwhile.
AWAITING_MAPPING = "awaiting-mapping"


def parse_options(raw: dict[str, Any] | None) -> ImportOptions:
    """ImportOptions, or InvalidInput naming `options.<field>`."""
    try:
        return ImportOptions.model_validate(raw or {})
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ".".join(str(p) for p in ("options", *error["loc"]))
        raise InvalidInput(str(error["msg"]), field=name) from None


@dataclass
class FileView:
    """What the mapping step shows of a file."""

    header: list[str]
    samples: list[list[str]]
    guessed: dict[str, str]
    notice: str | None


def view_file(content: bytes, file_format: str, *, sheet: str | None = None) -> FileView:
    opened = open_sheet(content, file_format, sheet=sheet)
    return FileView(opened.header, opened.samples(), guess_mapping(opened.header), opened.notice)


async def get_preset(name: str) -> ImportPreset:
    preset = await ImportPreset.get_or_none(name=name.strip(), kind=KIND)
    if preset is None:
        raise InvalidInput(f"no import preset named {name!r}", field="preset")
    return preset


async def save_preset(
    name: str, mapping: dict[str, str], options: dict[str, Any], *, actor: Actor | None
) -> ImportPreset:
    """Store (or replace) a named mapping with its options."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("a preset needs a name of 1 to 100 characters", field="name")
    for column, target in mapping.items():
        if target not in TARGETS and target != IGNORE:
            raise InvalidInput(
                f"column {column!r}: unknown field {target!r}", field=f"mapping.{column}"
            )
    # Consent is said of one file, never carried to the next by a preset.
    options = parse_options(options).model_dump(mode="json", exclude={"sheet", "consent"})
    preset, created = await ImportPreset.update_or_create(
        name=name,
        defaults={
            "kind": KIND,
            "mapping": mapping,
            "options": options,
            "created_by_id": actor.user_id if actor else None,
        },
    )
    await audit.record(
        actor,
        "import_preset.save",
        entity="import_preset",
        entity_id=preset.id,
        changes={"name": name, "mapping": mapping, "options": options, "created": created},
    )
    return preset


async def list_presets() -> list[ImportPreset]:
    return await ImportPreset.filter(kind=KIND).order_by("name")


async def create_job(
    *,
    filename: str,
    content: bytes,
    actor: Actor | None,
    mapping: dict[str, str] | None = None,
    preset: str | None = None,
    options: dict[str, Any] | None = None,
    dry_run: bool = False,
    hold: bool = False,
) -> ImportJob:
    """Check the file as a whole (readable, header, required columns, size) and store it as a
    pending job. Raises FileRefused/InvalidInput (422, naming the field) or FileTooLarge (413);
    nothing is stored then. `hold`: the job waits for `confirm_job` (the web's mapping step)."""
    filename = (filename or "import.csv").replace("\\", "/").rsplit("/", 1)[-1][:255]
    file_format = detect_format(filename, content)
    opts: dict[str, Any] = dict(options or {})
    preset_row = await get_preset(preset) if preset else None
    if preset_row is not None:
        opts = {**preset_row.options, **opts}
    parsed = parse_options(opts)
    sheet: Sheet = open_sheet(content, file_format, sheet=parsed.sheet)
    if hold:
        # The operator fixes the mapping on the next page: it is checked there.
        resolved = guess_mapping(sheet.header)
    else:
        resolved = resolve_mapping(
            sheet.header, preset=preset_row.mapping if preset_row else None, overrides=mapping
        )
    total = sheet.count_rows()
    job = await ImportJob.create(
        kind=KIND,
        filename=filename,
        file_format=file_format,
        file_sha256=hashlib.sha256(content).hexdigest(),
        content=content,
        mapping=resolved,
        options=parsed.model_dump(mode="json"),
        dry_run=dry_run,
        status=ImportStatus.PENDING,
        total_rows=total,
        error=sheet.notice,
        leased_by=AWAITING_MAPPING if hold else None,
        created_by_id=actor.user_id if actor else None,
    )
    await audit.record(
        actor,
        "import.upload" if hold else "import.dry_run" if dry_run else "import.start",
        entity="import_job",
        entity_id=job.id,
        changes={"file": filename, "rows": total, "sha256": job.file_sha256, "dry_run": dry_run},
    )
    return job


async def confirm_job(
    job: ImportJob,
    *,
    mapping: dict[str, str],
    options: dict[str, Any],
    dry_run: bool,
) -> ImportJob:
    """The web's mapping step: the held upload gets its mapping and options and is released to
    the workers."""
    parsed = parse_options(options)
    sheet = open_sheet(job.content, job.file_format, sheet=parsed.sheet)
    job.mapping = resolve_mapping(sheet.header, overrides=mapping)
    job.options = parsed.model_dump(mode="json")
    job.dry_run = dry_run
    job.leased_by = None
    await job.save(update_fields=["mapping", "options", "dry_run", "leased_by"])
    return job


async def copy_for_import(job: ImportJob, *, actor: Actor | None) -> ImportJob:
    """After a dry run: the same file, mapping and options, for real."""
    new = await ImportJob.create(
        kind=job.kind,
        filename=job.filename,
        file_format=job.file_format,
        file_sha256=job.file_sha256,
        content=job.content,
        mapping=job.mapping,
        options=job.options,
        dry_run=False,
        status=ImportStatus.PENDING,
        total_rows=job.total_rows,
        error=job.error,
        created_by_id=actor.user_id if actor else None,
    )
    await audit.record(
        actor,
        "import.start",
        entity="import_job",
        entity_id=new.id,
        changes={"file": new.filename, "rows": new.total_rows, "after_dry_run": job.id},
    )
    return new


async def find_unfinished(sha256: str, *, dry_run: bool = False) -> ImportJob | None:
    """The latest unfinished job of this very file (to resume it)."""
    return (
        await ImportJob.filter(
            Q(leased_by__isnull=True) | ~Q(leased_by=AWAITING_MAPPING),
            kind=KIND,
            file_sha256=sha256,
            dry_run=dry_run,
            status__in=UNFINISHED,
        )
        .order_by("-id")
        .first()
    )


async def cancel_job(job: ImportJob, *, actor: Actor | None) -> None:
    await ImportJob.filter(id=job.id, status__in=UNFINISHED).update(
        status=ImportStatus.CANCELLED, leased_by=None, lease_until=None
    )
    await audit.record(actor, "import.cancel", entity="import_job", entity_id=job.id)


async def run_actor(job: ImportJob) -> Actor:
    """Who the job's writes are recorded as: the user who started it, or the command line."""
    from crm.auth.service import actor_for_user
    from crm.enums import Role

    if job.created_by_id is not None:  # type: ignore[attr-defined]
        user = await User.get_or_none(id=job.created_by_id).prefetch_related(  # type: ignore[attr-defined]
            "organisation"
        )
        if user is not None:
            return actor_for_user(user)
    return Actor(role=Role.ADMIN, label="command line")


def job_out(job: ImportJob) -> dict[str, Any]:
    """A job as the API and pages show it."""
    total = job.total_rows or 0
    return {
        "id": job.id,
        "filename": job.filename,
        "format": job.file_format,
        "dry_run": job.dry_run,
        "status": job.status.value if hasattr(job.status, "value") else job.status,
        "awaiting_mapping": job.leased_by == AWAITING_MAPPING,
        "total_rows": total,
        "processed_rows": job.processed_rows,
        "percent": round(100 * job.processed_rows / total) if total else 100,
        "created": job.created_count,
        "updated": job.updated_count,
        "unchanged": job.unchanged_count,
        "refused": job.refused_count,
        "notice": job.error if job.status != ImportStatus.FAILED else None,
        "error": job.error if job.status == ImportStatus.FAILED else None,
        "mapping": job.mapping,
        "options": job.options,
        "created_by_id": job.created_by_id,  # type: ignore[attr-defined]
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


async def get_job(job_id: int) -> ImportJob:
    job = await ImportJob.get_or_none(id=job_id, kind=KIND)
    if job is None:
        raise NotFound(f"no import with id {job_id}", field="id")
    return job


async def recent_jobs(limit: int = 20) -> list[ImportJob]:
    # The files themselves are not read for a list.
    columns = [f for f in ImportJob._meta.db_fields if f != "content"]
    return await ImportJob.filter(kind=KIND).order_by("-id").limit(limit).only(*columns)


async def row_reports(
    job: ImportJob, *, outcome: ImportRowOutcome | None, limit: int, offset: int
) -> tuple[list[ImportRowReport], int]:
    qs = ImportRowReport.filter(job_id=job.id)
    if outcome is not None:
        qs = qs.filter(outcome=outcome)
    total = await qs.count()
    rows = await qs.order_by("row_number", "id").offset(offset).limit(limit)
    return rows, total


async def refused_reports(job: ImportJob, *, page: int = 1000) -> AsyncIterator[ImportRowReport]:
    """Every refused row of a job, in row order, read a page at a time."""
    offset = 0
    while True:
        rows, _ = await row_reports(
            job, outcome=ImportRowOutcome.REFUSED, limit=page, offset=offset
        )
        for row in rows:
            yield row
        if len(rows) < page:
            return
        offset += page


async def later_import(job: ImportJob) -> ImportJob | None:
    """After a dry run: the real import of the same file started from it, if any."""
    return (
        await ImportJob.filter(kind=KIND, file_sha256=job.file_sha256, dry_run=False, id__gt=job.id)
        .order_by("id")
        .only("id")
        .first()
    )


def report_out(report: ImportRowReport) -> dict[str, Any]:
    return {
        "row": report.row_number,
        "outcome": report.outcome.value if hasattr(report.outcome, "value") else report.outcome,
        "lead_id": report.lead_id,
        "field": report.field,
        "message": report.message,
        "values": report.values,
    }
