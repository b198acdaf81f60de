"""GET /api/v1/exports/{dataset}.{csv|xlsx}: a filtered export as a file download.

Staff roles only, and only with the export permission (`can_export`; admins always): a 403
names `can_export` otherwise. Partner keys never export. Every export is audited."""

from __future__ import annotations

import os
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from crm.auth.deps import STAFF, allow
from crm.transfer import exports
from crm.transfer.export_filters import parse_filters

router = APIRouter(prefix="/api/v1", tags=["exports"])

ExportActor = allow(*STAFF)
ListParam = Annotated[list[str] | None, Query(max_length=200)]
IdParam = Annotated[str | None, Query(max_length=12)]
DateParam = Annotated[str | None, Query(max_length=10, description="YYYY-MM-DD")]

_RESPONSES = {
    200: {
        "description": "The file: CSV (UTF-8 with BOM) or XLSX",
        "content": {exports.CSV_MEDIA_TYPE: {}, exports.XLSX_MEDIA_TYPE: {}},
    },
    403: {"description": "no export permission (`can_export`) or a role that may not export"},
}


def download_response(prepared: exports.PreparedDownload) -> Response:
    """The HTTP answer for a prepared export (shared by the API and the web page)."""
    headers = {
        "Content-Disposition": f'attachment; filename="{prepared.filename}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "X-Export-Rows": str(prepared.rows),
    }
    if prepared.path is not None:
        path = prepared.path
        return FileResponse(
            path,
            media_type=prepared.media_type,
            headers=headers,
            background=BackgroundTask(os.unlink, path),
        )
    assert prepared.chunks is not None
    return StreamingResponse(prepared.chunks, media_type=prepared.media_type, headers=headers)


@router.get(
    "/exports/{dataset}.{fmt}",
    response_class=Response,
    responses=_RESPONSES,
    summary="Export a dataset as CSV or XLSX",
)
async def export_dataset(
    actor: ExportActor,
    dataset: Annotated[
        str,
        Path(
            pattern=r"^[a-z][a-z\-]{0,39}$",
            description="leads, interactions, referrals, campaign-results, campaign-recipients",
        ),
    ],
    fmt: Annotated[Literal["csv", "xlsx"], Path(description="csv or xlsx")],
    stage: ListParam = None,
    language: ListParam = None,
    segment: ListParam = None,
    postcode: ListParam = None,
    region: ListParam = None,
    status: ListParam = None,
    event_id: IdParam = None,
    partner_id: IdParam = None,
    agent_id: IdParam = None,
    campaign_id: IdParam = None,
    created_since: DateParam = None,
    created_until: DateParam = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    delimiter: Annotated[
        Literal[";", ","], Query(description="CSV only: ';' (Excel in Belgium) or ','")
    ] = ";",
) -> Response:
    """Values of one filter combine with OR (repeat it or separate with commas), filters with
    AND. Dates are days in TIMEZONE, both included."""
    filters = parse_filters(
        {
            "stage": stage,
            "language": language,
            "segment": segment,
            "postcode": postcode,
            "region": region,
            "status": status,
            "event_id": event_id,
            "partner_id": partner_id,
            "agent_id": agent_id,
            "campaign_id": campaign_id,
            "created_since": created_since,
            "created_until": created_until,
            "q": q,
        }
    )
    request = exports.ExportRequest(dataset, fmt, filters, delimiter)
    return download_response(await exports.prepare_download(actor, request))
