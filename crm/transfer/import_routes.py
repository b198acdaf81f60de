"""The import API: upload a file (a job a worker runs), follow it, read its row report, and the
saved mappings (presets). Admins and coordinators only."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from crm.auth.deps import ManagerActor
from crm.config import settings
from crm.errors import InvalidInput
from crm.transfer import imports
from crm.transfer.models import ImportRowOutcome
from crm.transfer.reader import FileTooLarge, check_size

router = APIRouter(prefix="/api/v1", tags=["imports"])

JobId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_CHUNK = 1024 * 1024
# Room for the multipart envelope and the other form fields around the file.
_FORM_OVERHEAD = 64 * 1024


def upload_too_large(request: Request) -> bool:
    """The request says (Content-Length) it is larger than any file we take: refused unread."""
    length = request.headers.get("content-length", "")
    return length.isdigit() and int(length) > settings.IMPORT_MAX_BYTES + _FORM_OVERHEAD


async def read_upload(upload: UploadFile) -> bytes:
    """The uploaded file, refused (413) as soon as it passes IMPORT_MAX_BYTES."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(_CHUNK):
        size += len(chunk)
        check_size(size)
        chunks.append(chunk)
    return b"".join(chunks)


def _json_object(raw: str | None, field: str) -> dict[str, Any]:
    if raw is None or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"is not valid JSON: {exc.msg}", field=field) from None
    if not isinstance(value, dict):
        raise InvalidInput("must be a JSON object", field=field)
    if field == "mapping" and not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidInput('must map column names to field names: {"GSM": "phone"}', field=field)
    return value


@router.post(
    "/imports",
    status_code=202,
    summary="Upload a CSV or XLSX file of people to import (or check, with dry_run)",
    responses={413: {"description": "more than IMPORT_MAX_BYTES bytes or IMPORT_MAX_ROWS rows"}},
)
async def create_import(
    request: Request,
    actor: ManagerActor,
    file: Annotated[UploadFile, File(description="CSV (',' ';' or tab) or XLSX")],
    mapping: Annotated[
        str | None, Form(description='JSON: column -> field, e.g. {"GSM": "phone"}')
    ] = None,
    preset: Annotated[str | None, Form(max_length=100)] = None,
    dry_run: Annotated[bool, Form()] = False,
    options: Annotated[
        str | None,
        Form(
            description='JSON: {"default_language", "source", "segments", "consent": '
            '{"purposes", "method", "text_version"}, "sheet"}'
        ),
    ] = None,
) -> JSONResponse:
    if upload_too_large(request):
        raise FileTooLarge(f"the upload is larger than {settings.IMPORT_MAX_BYTES:,} bytes")
    content = await read_upload(file)
    job = await imports.create_job(
        filename=file.filename or "import.csv",
        content=content,
        actor=actor,
        mapping=_json_object(mapping, "mapping"),
        preset=preset,
        options=_json_object(options, "options"),
        dry_run=dry_run,
    )
    return JSONResponse(
        {"job": jsonable_encoder(imports.job_out(job))},
        status_code=202,
        headers={"Location": f"/api/v1/imports/{job.id}"},
    )


@router.get("/imports", summary="Recent imports")
async def list_imports(
    actor: ManagerActor, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> dict[str, Any]:
    jobs = await imports.recent_jobs(limit)
    return {"items": [jsonable_encoder(imports.job_out(j)) for j in jobs], "total": len(jobs)}


@router.get("/imports/{job_id}", summary="An import: status, progress and counts")
async def get_import(actor: ManagerActor, job_id: JobId) -> dict[str, Any]:
    return jsonable_encoder(imports.job_out(await imports.get_job(job_id)))


@router.get("/imports/{job_id}/rows", summary="An import's row report")
async def import_rows(
    actor: ManagerActor,
    job_id: JobId,
    outcome: ImportRowOutcome | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    job = await imports.get_job(job_id)
    rows, total = await imports.row_reports(job, outcome=outcome, limit=limit, offset=offset)
    return {"items": [imports.report_out(r) for r in rows], "total": total}


class PresetIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    mapping: dict[str, str] = Field(max_length=200)
    options: dict[str, Any] = Field(default_factory=dict)


def _preset_out(preset: Any) -> dict[str, Any]:
    return {
        "id": preset.id,
        "name": preset.name,
        "mapping": preset.mapping,
        "options": preset.options,
        "updated_at": preset.updated_at,
    }


@router.get("/import-presets", summary="Saved column mappings")
async def list_presets(actor: ManagerActor) -> dict[str, Any]:
    presets = await imports.list_presets()
    return jsonable_encoder({"items": [_preset_out(p) for p in presets], "total": len(presets)})


@router.post("/import-presets", status_code=201, summary="Save (or replace) a named mapping")
async def save_preset(actor: ManagerActor, body: PresetIn) -> dict[str, Any]:
    preset = await imports.save_preset(body.name, body.mapping, body.options, actor=actor)
    return jsonable_encoder(_preset_out(preset))
