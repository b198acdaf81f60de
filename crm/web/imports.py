"""The import pages (admins and coordinators): upload a file, choose what each column is, look at
the dry run, import, follow the progress, read the report and download the refused rows.

The upload is held (no worker takes it) until its mapping is confirmed; the dry run and the
import itself are jobs a worker runs, and the progress page reloads itself every two seconds
(a `Refresh` header: no script)."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from crm.audit import service as audit
from crm.auth.deps import MANAGERS
from crm.config import settings
from crm.enums import Language
from crm.errors import DomainError
from crm.people.models import ConsentPurpose, LeadSource
from crm.transfer import imports
from crm.transfer.cells import safe_cell
from crm.transfer.import_routes import read_upload, upload_too_large
from crm.transfer.mapping import IGNORE, TARGETS, apply_columns
from crm.transfer.models import ImportJob, ImportRowOutcome, ImportStatus
from crm.web.csrf import CSRF_FIELD, CsrfRefused, checked_form, token_matches
from crm.web.render import PageError, path_id, render
from crm.web.session import WebUser, require_user

router = APIRouter(include_in_schema=False)

SignedIn = Annotated[WebUser, Depends(require_user)]
REFRESH_SECONDS = 2
REPORT_ROWS = 200


def _manager(web_user: WebUser) -> None:
    if web_user.actor.role not in MANAGERS:
        raise PageError(403)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def _job(raw_id: str) -> ImportJob:
    job = await ImportJob.get_or_none(id=path_id(raw_id), kind=imports.KIND)
    if job is None:
        raise PageError(404)
    return job


async def _upload_form(request: Request):  # type: ignore[no-untyped-def]
    """The multipart form with its one file, once its CSRF token is proven right (the shared
    `checked_form` refuses files on purpose; this page is the one that takes one)."""
    if upload_too_large(request):
        return None
    form = await request.form(max_files=1, max_fields=10)
    if not token_matches(request, form.get(CSRF_FIELD)):
        raise CsrfRefused
    return form


async def _list_page(
    request: Request, *, error: str | None = None, status_code: int = 200
) -> Response:
    jobs = await imports.recent_jobs(20)
    return render(
        request,
        "transfer/import_upload.html",
        {
            "jobs": [imports.job_out(j) for j in jobs],
            "error": error,
            "max_mb": settings.IMPORT_MAX_BYTES // 1_048_576,
            "max_rows": settings.IMPORT_MAX_ROWS,
        },
        status_code=status_code,
    )


@router.get("/imports", include_in_schema=False)
async def import_home(request: Request, web_user: SignedIn) -> Response:
    _manager(web_user)
    return await _list_page(request)


@router.post("/imports", include_in_schema=False)
async def upload(request: Request, web_user: SignedIn) -> Response:
    _manager(web_user)
    form = await _upload_form(request)
    if form is None:
        return await _list_page(
            request,
            error=f"the file is larger than {settings.IMPORT_MAX_BYTES // 1_048_576} MB",
            status_code=413,
        )
    upload_file = form.get("file")
    if not isinstance(upload_file, UploadFile) or not upload_file.filename:
        return await _list_page(request, error="choose a file to import", status_code=422)
    try:
        content = await read_upload(upload_file)  # type: ignore[arg-type]
        job = await imports.create_job(
            filename=upload_file.filename,
            content=content,
            actor=web_user.actor,
            options={"sheet": str(form.get("sheet") or "").strip() or None},
            hold=True,
        )
    except DomainError as exc:
        return await _list_page(request, error=exc.message, status_code=exc.status_code)
    return _redirect(f"/imports/{job.id}/mapping")


def _mapping_context(
    job: ImportJob, view: imports.FileView, mapping: dict[str, str], presets: list[Any]
) -> dict[str, Any]:
    columns = [
        {
            "index": i,
            "name": name,
            "samples": view.samples[i] if i < len(view.samples) else [],
            "field": mapping.get(name, IGNORE),
        }
        for i, name in enumerate(view.header)
    ]
    return {
        "job": imports.job_out(job),
        "columns": columns,
        "targets": [*TARGETS, IGNORE],
        "presets": [p.name for p in presets],
        "notice": view.notice,
        "languages": [lang.value for lang in Language],
        "sources": [s.value for s in LeadSource],
        "purposes": [p.value for p in ConsentPurpose],
    }


async def _mapping_page(
    request: Request,
    job: ImportJob,
    *,
    mapping: dict[str, str] | None = None,
    options: dict[str, Any] | None = None,
    error: str | None = None,
    preset_name: str = "",
    status_code: int = 200,
    view: imports.FileView | None = None,
) -> Response:
    view = view or imports.view_file(job.content, job.file_format, sheet=job.options.get("sheet"))
    context = _mapping_context(job, view, mapping or job.mapping, await imports.list_presets())
    context.update({"error": error, "o": options or job.options, "preset_name": preset_name})
    return render(request, "transfer/import_mapping.html", context, status_code=status_code)


@router.get("/imports/{job_id}/mapping", include_in_schema=False)
async def mapping_page(
    request: Request, job_id: str, web_user: SignedIn, preset: str = ""
) -> Response:
    _manager(web_user)
    job = await _job(job_id)
    if job.leased_by != imports.AWAITING_MAPPING:
        return _redirect(f"/imports/{job.id}")
    if preset:
        view = imports.view_file(job.content, job.file_format, sheet=job.options.get("sheet"))
        try:
            chosen = await imports.get_preset(preset[:100])
            # Matched as the API and the command line match a preset (without case or accents).
            mapping = apply_columns(
                {name: job.mapping.get(name, IGNORE) for name in view.header},
                view.header,
                chosen.mapping,
            )
        except DomainError as exc:
            return await _mapping_page(request, job, error=exc.message, status_code=422, view=view)
        return await _mapping_page(
            request, job, mapping=mapping, options={**job.options, **chosen.options}, view=view
        )
    return await _mapping_page(request, job)


def _options_from(form: Any) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name in ("default_language", "sheet"):
        value = str(form.get(name) or "").strip()
        if value:
            options[name] = value
    source = str(form.get("source") or "").strip()
    if source:
        options["source"] = source
    segments = [s.strip() for s in str(form.get("segments") or "").split(",") if s.strip()]
    if segments:
        options["segments"] = segments
    purposes = [str(p) for p in form.getlist("consent")]
    if purposes:
        options["consent"] = {
            "purposes": purposes,
            "method": str(form.get("consent_method") or "written").strip() or "written",
        }
        version = str(form.get("consent_text_version") or "").strip()
        if version:
            options["consent"]["text_version"] = version
    return options


@router.post("/imports/{job_id}/mapping", include_in_schema=False)
async def confirm_mapping(request: Request, job_id: str, web_user: SignedIn) -> Response:
    _manager(web_user)
    job = await _job(job_id)
    form = await checked_form(request, max_fields=300)
    if job.leased_by != imports.AWAITING_MAPPING:
        return _redirect(f"/imports/{job.id}")
    view = imports.view_file(job.content, job.file_format, sheet=job.options.get("sheet"))
    mapping = {name: str(form.get(f"col{i}") or IGNORE) for i, name in enumerate(view.header)}
    options = _options_from(form)
    preset_name = str(form.get("save_preset") or "").strip()[:100]
    try:
        await imports.confirm_job(job, mapping=mapping, options=options, dry_run=True)
        if preset_name:
            await imports.save_preset(preset_name, job.mapping, job.options, actor=web_user.actor)
    except DomainError as exc:
        return await _mapping_page(
            request,
            job,
            mapping=mapping,
            options=options,
            error=exc.message,
            preset_name=preset_name,
            status_code=422,
            view=view,
        )
    return _redirect(f"/imports/{job.id}")


@router.get("/imports/{job_id}", include_in_schema=False)
async def job_page(request: Request, job_id: str, web_user: SignedIn) -> Response:
    _manager(web_user)
    job = await _job(job_id)
    if job.leased_by == imports.AWAITING_MAPPING and job.status == ImportStatus.PENDING:
        return _redirect(f"/imports/{job.id}/mapping")
    running = job.status in imports.UNFINISHED
    refused, refused_total = await imports.row_reports(
        job, outcome=ImportRowOutcome.REFUSED, limit=REPORT_ROWS, offset=0
    )
    samples = {}
    for outcome in (ImportRowOutcome.CREATED, ImportRowOutcome.UPDATED):
        rows, _ = await imports.row_reports(job, outcome=outcome, limit=20, offset=0)
        samples[outcome.value] = [imports.report_out(r) for r in rows]
    later = None
    if job.dry_run and job.status == ImportStatus.DONE:
        later = await imports.later_import(job)
    response = render(
        request,
        "transfer/import_job.html",
        {
            "job": imports.job_out(job),
            "running": running,
            "refused": [imports.report_out(r) for r in refused],
            "refused_total": refused_total,
            "samples": samples,
            "imported_as": later.id if later else None,
            "report_rows": REPORT_ROWS,
        },
    )
    if running:
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


@router.post("/imports/{job_id}/run", include_in_schema=False)
async def run_for_real(request: Request, job_id: str, web_user: SignedIn) -> Response:
    """After a dry run: "Import" stores the same file with the same mapping, for real."""
    _manager(web_user)
    job = await _job(job_id)
    await checked_form(request)
    # A dry run's file is deleted after RETENTION_IMPORT_ROWS_DAYS: it must be uploaded again.
    if not job.dry_run or job.status != ImportStatus.DONE or not job.content:
        return _redirect(f"/imports/{job.id}")
    if (later := await imports.later_import(job)) is not None:
        return _redirect(f"/imports/{later.id}")  # already imported (a second click)
    new = await imports.copy_for_import(job, actor=web_user.actor)
    return _redirect(f"/imports/{new.id}")


@router.get("/imports/{job_id}/refused.csv", include_in_schema=False)
async def refused_csv(request: Request, job_id: str, web_user: SignedIn) -> Response:
    """The refused rows as a CSV (UTF-8 with BOM, ';'), cells escaped against formulas like
    the exporter's: a refused `=cmd|…` cell goes back to the operator inert."""
    _manager(web_user)
    job = await _job(job_id)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    columns = [t for t in TARGETS if t in job.mapping.values()]
    writer.writerow(["row", "field", "reason", *columns])
    rows = 0
    async for r in imports.refused_reports(job):
        values = r.values or {}
        writer.writerow(
            [r.row_number, safe_cell(r.field), safe_cell(r.message)]
            + [safe_cell(values.get(c)) for c in columns]
        )
        rows += 1
    # The refused rows hold people's details as typed: taking them out is an export.
    await audit.record(
        web_user.actor,
        "export.import_refused",
        entity="import_job",
        entity_id=job.id,
        changes={"format": "csv", "rows": rows},
    )
    name = job.filename.rsplit(".", 1)[0] + "-refused.csv"
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
