"""Running import jobs: claimed with a lease, processed in batches, resumed after a crash.

The CLI runs a job in its own process; in the web app a pending job waits for a worker, which
claims it here through the worker plugin `install`. A job's `processed_rows` moves in the same
transaction as the rows of each batch, so a job killed between two batches resumes after the
last committed one: no row lost, none done twice. A lease that runs out (a worker killed) lets
another worker claim the job and resume it."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tortoise import connections

from crm.audit import service as audit
from crm.people.segments import vocabulary
from crm.transfer.import_batch import BatchWriter
from crm.transfer.import_rows import PreparedRow, Refusal, RowPreparer
from crm.transfer.imports import AWAITING_MAPPING, parse_options, run_actor
from crm.transfer.mapping import ColumnMap
from crm.transfer.models import ImportJob, ImportStatus
from crm.transfer.reader import open_sheet

if TYPE_CHECKING:  # crm never imports channels at run time (dependencies point one way)
    from channels.worker import Worker

log = logging.getLogger("passerelle.imports")

BATCH_SIZE = 1000
# While a batch is written, the reader gives the event loop a turn every this many rows.
_YIELD_EVERY = 50
LEASE_SECONDS = 120
TICK_SECONDS = 5
# Uploads never confirmed on the mapping page are dropped (their file with them) after this.
ABANDONED_AFTER = timedelta(days=1)

Progress = Callable[[int], None]


class SimulatedCrash(Exception):
    """Raised by `run_job(stop_after_batches=…)`: a crash between two batches, for tests."""


def _now() -> datetime:
    return datetime.now(UTC)


def new_worker_id(prefix: str = "import") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


async def claim_job(
    worker_id: str, *, job_id: int | None = None, now: datetime | None = None
) -> ImportJob | None:
    """Take the lease of one job (that one, or the oldest waiting): a pending one, or a running
    one whose lease ran out. One UPDATE … RETURNING, with SKIP LOCKED on PostgreSQL."""
    now = now or _now()
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"
    mark = (lambda n: f"${n}") if postgres else (lambda n: f"?{n}")
    lock = " FOR UPDATE SKIP LOCKED" if postgres else ""
    ready = (
        f"((status = 'pending' AND (leased_by IS NULL OR leased_by <> {mark(4)})) "
        f"OR (status = 'running' AND lease_until < {mark(3)}))"
    )
    only = f" AND id = {mark(5)}" if job_id is not None else ""
    params: list = [worker_id, now + timedelta(seconds=LEASE_SECONDS), now, AWAITING_MAPPING]
    if job_id is not None:
        params.append(job_id)
    claimed = await conn.execute_query_dict(
        f"UPDATE import_job SET status = 'running', leased_by = {mark(1)}, "
        f"lease_until = {mark(2)}, started_at = COALESCE(started_at, {mark(3)}) "
        f"WHERE {ready} AND id = (SELECT id FROM import_job WHERE {ready}{only} "
        f"ORDER BY id LIMIT 1{lock}) RETURNING id",
        params,
    )
    if not claimed:
        return None
    return await ImportJob.get(id=claimed[0]["id"])


async def release(job: ImportJob, worker_id: str) -> None:
    """Give a job back (the CLI was interrupted): another run may resume it at once."""
    await ImportJob.filter(id=job.id, leased_by=worker_id, status=ImportStatus.RUNNING).update(
        status=ImportStatus.PENDING, leased_by=None, lease_until=None
    )


async def run_job(
    job: ImportJob,
    worker_id: str,
    *,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
    stop_after_batches: int | None = None,
) -> ImportJob:
    """Process a claimed job from its checkpoint to the end. `progress(rows)` is called after
    each batch with the rows done so far. Returns the job as it ended (done or failed)."""
    actor = await run_actor(job)
    try:
        options = parse_options(job.options)
        sheet = open_sheet(job.content, job.file_format, sheet=options.sheet)
        columns = ColumnMap.build(sheet.header, job.mapping)
    except Exception as exc:  # noqa: BLE001 - a file that no longer reads fails the job, once
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        await _finish(job, worker_id, ImportStatus.FAILED, error=message[:500], actor=actor)
        return job
    preparer = RowPreparer(columns, options, await vocabulary())
    writer = BatchWriter(job, options, actor)
    start = job.processed_rows
    done = start
    batches = 0
    batch: list[PreparedRow | Refusal] = []
    # Pipelined: batch N is written (its own transaction, then the checkpoint) while the rows
    # of batch N+1 are read and checked, which is Python work; the database works meanwhile.
    # Batch N+1 is planned (dedup lookups) only once batch N is committed.
    writing: asyncio.Task[None] | None = None
    if progress is not None:
        progress(start)
    try:
        for index, sheet_row in enumerate(sheet.rows(), start=1):
            prepared = await preparer.prepare(sheet_row)
            if index % _YIELD_EVERY == 0 and writing is not None:
                await asyncio.sleep(0)  # let the batch in flight send its next statement
            if index <= start:
                # Done in an earlier run: read again only so that a later duplicate of these
                # rows is still seen as "same person as row N".
                continue
            batch.append(prepared)
            if len(batch) >= batch_size:
                if writing is not None:
                    await writing
                    batches += 1
                    if progress is not None:
                        progress(done)
                    if stop_after_batches is not None and batches >= stop_after_batches:
                        raise SimulatedCrash(f"stopped after {batches} batch(es) at row {done}")
                writing = asyncio.create_task(_write(writer, batch, index, worker_id))
                done, batch = index, []
        if writing is not None:
            await writing
            writing = None
            batches += 1
            if progress is not None:
                progress(done)
            if stop_after_batches is not None and batches >= stop_after_batches:
                raise SimulatedCrash(f"stopped after {batches} batch(es) at row {done}")
        if batch:
            done += len(batch)
            await _write(writer, batch, done, worker_id)
            if progress is not None:
                progress(done)
    finally:
        if writing is not None and not writing.done():
            # Stopped while a batch was being written: let it commit or roll back whole.
            await asyncio.gather(writing, return_exceptions=True)
    await _finish(job, worker_id, ImportStatus.DONE, actor=actor)
    return job


async def _write(writer: BatchWriter, batch: list, processed: int, worker_id: str) -> None:
    lease_until = _now() + timedelta(seconds=LEASE_SECONDS)
    await writer.write(batch, processed=processed, worker_id=worker_id, lease_until=lease_until)


async def _finish(
    job: ImportJob,
    worker_id: str,
    status: ImportStatus,
    *,
    actor,
    error: str | None = None,
) -> None:
    values = {"status": status, "finished_at": _now(), "leased_by": None, "lease_until": None}
    if error is not None:
        values["error"] = error
    moved = await ImportJob.filter(id=job.id, leased_by=worker_id).update(**values)
    await job.refresh_from_db()
    if moved:
        await audit.record(
            actor,
            "import.finish" if status == ImportStatus.DONE else "import.fail",
            entity="import_job",
            entity_id=job.id,
            changes={
                "file": job.filename,
                "dry_run": job.dry_run,
                "created": job.created_count,
                "updated": job.updated_count,
                "unchanged": job.unchanged_count,
                "refused": job.refused_count,
                "error": error,
            },
        )


async def forget_abandoned(now: datetime | None = None) -> int:
    """Uploads left on the mapping page: cancelled, and their file dropped."""
    cutoff = (now or _now()) - ABANDONED_AFTER
    return await ImportJob.filter(
        status=ImportStatus.PENDING, leased_by=AWAITING_MAPPING, created_at__lt=cutoff
    ).update(status=ImportStatus.CANCELLED, content=b"", leased_by=None)


async def run_pending(worker_id: str) -> int:
    """Claim and run every job waiting (or abandoned by a dead worker). Returns jobs run."""
    ran = 0
    while (job := await claim_job(worker_id)) is not None:
        try:
            await run_job(job, worker_id)
        except Exception:  # noqa: BLE001 - the lease runs out and another try resumes it
            log.exception("import job %s stopped; it resumes when its lease runs out", job.id)
            break
        ran += 1
    return ran


def install(worker: Worker) -> None:
    """Worker plugin: import jobs ride on the worker's scheduler."""
    worker_id = f"{worker.worker_id}-imports"

    async def import_tick() -> None:
        await forget_abandoned()
        await run_pending(worker_id)

    worker.every(TICK_SECONDS, import_tick, job_id="import-jobs")
