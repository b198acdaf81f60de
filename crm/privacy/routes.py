"""The privacy API, for the roles that answer rights requests (admin, coordinator):
a person's data (access and portability), erasure, objection to marketing, the register of
requests with their deadlines, and the people flagged by the retention rules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from crm.auth.deps import ManagerActor
from crm.privacy import requests
from crm.privacy.access import person_data
from crm.privacy.erasure import erase_person
from crm.privacy.objection import object_to_marketing
from crm.privacy.retention import flagged_people, keep_person
from crm.privacy.schemas import (
    ErasureIn,
    ErasureOut,
    FlaggedPerson,
    KeepIn,
    ObjectionIn,
    ObjectionOut,
    RequestClosing,
    RequestExtension,
    RightsRequestIn,
    RightsRequestOut,
    RightsRequestUpdate,
)
from crm.schemas import Page, PageParams, page_params

router = APIRouter(prefix="/api/v1", tags=["privacy"])

LeadId = Annotated[int, Path(ge=1, le=2**31 - 1)]
RequestId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Paging = Annotated[PageParams, Depends(page_params)]


@router.get(
    "/leads/{lead_id}/data",
    responses={200: {"description": "the person's record and every row about them, by table"}},
)
async def get_person_data(actor: ManagerActor, lead_id: LeadId) -> JSONResponse:
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


@router.post("/leads/{lead_id}/erase", response_model=ErasureOut)
async def erase(actor: ManagerActor, lead_id: LeadId, data: ErasureIn) -> ErasureOut:
    """Erase the person by anonymisation (identifiers and free texts removed everywhere, the
    statistics kept); closes the erasure request named. 409 when already erased."""
    report = await erase_person(actor, lead_id, reason="request", request_id=data.request_id)
    return ErasureOut(**report.as_dict(), request_id=data.request_id)


@router.post("/leads/{lead_id}/objection", response_model=ObjectionOut)
async def objection(actor: ManagerActor, lead_id: LeadId, data: ObjectionIn) -> ObjectionOut:
    """The person objects to marketing: the purposes (SMS, Telegram, e-mail by default) are
    withdrawn at once and their waiting campaign messages cancelled."""
    report = await object_to_marketing(actor, lead_id, data.purposes, request_id=data.request_id)
    return ObjectionOut(
        lead_id=lead_id,
        withdrawn=report.withdrawn,
        cancelled_messages=report.cancelled_messages,
        request_id=data.request_id,
    )


@router.post("/leads/{lead_id}/keep")
async def keep(actor: ManagerActor, lead_id: LeadId, data: KeepIn) -> dict[str, Any]:
    """Keep a person flagged for inactivity until a date, with the reason."""
    lead = await keep_person(actor, lead_id, data.until, data.reason)
    return {"lead_id": lead.id, "keep_until": lead.keep_until, "keep_reason": lead.keep_reason}


@router.get("/privacy/requests", response_model=Page[RightsRequestOut])
async def list_requests(
    actor: ManagerActor,
    page: Paging,
    listing: Annotated[requests.Listing, Query(description="which requests")] = "open",
    lead_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Page[RightsRequestOut]:
    """The register of rights requests; open ones by deadline, the nearest first."""
    rows, total = await requests.list_requests(
        listing, lead_id=lead_id, limit=page.limit, offset=page.offset
    )
    on = requests.today()
    return Page[RightsRequestOut](items=[requests.present(r, on) for r in rows], total=total)


@router.post("/privacy/requests", response_model=RightsRequestOut, status_code=201)
async def create_request(actor: ManagerActor, data: RightsRequestIn) -> RightsRequestOut:
    """Record a request as received: its answer is due one month later."""
    return requests.present(await requests.create_request(actor, data))


@router.get("/privacy/requests/{request_id}", response_model=RightsRequestOut)
async def get_request(actor: ManagerActor, request_id: RequestId) -> RightsRequestOut:
    return requests.present(await requests.get_request(request_id))


@router.patch("/privacy/requests/{request_id}", response_model=RightsRequestOut)
async def update_request(
    actor: ManagerActor, request_id: RequestId, data: RightsRequestUpdate
) -> RightsRequestOut:
    return requests.present(await requests.update_request(actor, request_id, data))


@router.post("/privacy/requests/{request_id}/extend", response_model=RightsRequestOut)
async def extend_request(
    actor: ManagerActor, request_id: RequestId, data: RequestExtension
) -> RightsRequestOut:
    """Move the deadline by up to two months after the first one, with the reason."""
    return requests.present(await requests.extend_request(actor, request_id, data))


@router.post("/privacy/requests/{request_id}/close", response_model=RightsRequestOut)
async def close_request(
    actor: ManagerActor, request_id: RequestId, data: RequestClosing
) -> RightsRequestOut:
    """Done (with what was done) or refused (with the reason)."""
    return requests.present(await requests.close_request(actor, request_id, data))


@router.get("/privacy/retention", response_model=Page[FlaggedPerson])
async def retention(actor: ManagerActor, page: Paging) -> Page[FlaggedPerson]:
    """The people flagged for inactivity and the day each will be anonymised."""
    rows, total = await flagged_people(limit=page.limit, offset=page.offset)
    return Page[FlaggedPerson](items=[FlaggedPerson(**r) for r in rows], total=total)
