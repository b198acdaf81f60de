"""`GET /api/v1/leads/{id}/data`: everything about one person as JSON (access and portability),
for the roles that answer rights requests (admin, coordinator). Every answer is audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from crm.auth.deps import ManagerActor
from crm.privacy.access import person_data

router = APIRouter(prefix="/api/v1", tags=["privacy"])


@router.get(
    "/leads/{lead_id}/data",
    responses={200: {"description": "the person's record and every row about them, by table"}},
)
async def get_person_data(
    actor: ManagerActor, lead_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> JSONResponse:
    """The answer to a person's access or portability request: `person` (their record) and
    `records` (every table's rows about them), as a download."""
    data: dict[str, Any] = await person_data(actor, lead_id)
    return JSONResponse(
        data,
        headers={
            "Content-Disposition": f'attachment; filename="person-{lead_id}-data.json"',
            "Cache-Control": "no-store",
        },
    )
