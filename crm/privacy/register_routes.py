"""`GET /api/v1/privacy/register`: the record of processing activities (GDPR Art. 30) as JSON,
for the roles that answer for the data (admin, coordinator). Every download is audited."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from crm.auth.deps import ManagerActor
from crm.privacy.register import export_register

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"])


@router.get(
    "/register",
    responses={
        200: {
            "description": "the register: one list of rows per section",
            "content": {"application/json": {}},
        }
    },
)
async def get_register(actor: ManagerActor) -> Response:
    """The Art. 30 register generated from the configuration and the database: controller,
    purposes with their legal bases, categories of people and data, recipients (staff roles,
    partner organisations, processors, funders), retention periods and security measures."""
    content, filename, media_type = await export_register(actor, "json", via="api")
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
