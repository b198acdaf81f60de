"""A person's data as a readable page and as the JSON file (access and portability requests),
for admins and coordinators. Both come from `crm.privacy.access.person_data`, which audits
every call."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from crm.errors import NotFound
from crm.privacy.access import person_data
from crm.web.duplicates import Manager
from crm.web.render import PageError, path_id, render

router = APIRouter(include_in_schema=False)

# The tables a reader expects first, in this order; any other table follows under its name.
FIRST = (
    "consent_record",
    "interaction",
    "outbox_message",
    "inbound_message",
    "referral",
    "event_registration",
    "lead_segment",
    "audit_entry",
)


async def _data(web_user: Any, raw_id: str) -> tuple[int, dict[str, Any]]:
    lead_id = path_id(raw_id)
    try:
        return lead_id, await person_data(web_user.actor, lead_id)
    except NotFound:
        raise PageError(404) from None


@router.get("/leads/{lead_id}/data", include_in_schema=False)
async def person_data_page(request: Request, lead_id: str, web_user: Manager) -> HTMLResponse:
    lead_id_int, data = await _data(web_user, lead_id)
    records = data["records"]
    order = [t for t in FIRST if t in records] + sorted(t for t in records if t not in FIRST)
    sections = [
        {
            "table": table,
            "columns": sorted({key for row in records[table] for key in row}),
            "rows": records[table],
        }
        for table in order
    ]
    person = [(k, v) for k, v in data["person"].items() if v not in (None, "", [])]
    return render(
        request,
        "leads/data.html",
        {"lead_id": lead_id_int, "person": person, "sections": sections, "data": data},
    )


@router.get("/leads/{lead_id}/data.json", include_in_schema=False)
async def person_data_file(request: Request, lead_id: str, web_user: Manager) -> Response:
    lead_id_int, data = await _data(web_user, lead_id)
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="person-{lead_id_int}-data.json"',
            "Cache-Control": "no-store",
        },
    )
