from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from crm.auth.actor import Actor
from crm.auth.deps import FieldActor, StaffActor
from crm.outreach import service, sync
from crm.outreach.models import EventKind, EventRegistration, Interaction, OutreachEvent
from crm.outreach.schemas import (
    EventCreate,
    EventOut,
    EventUpdate,
    InteractionCreate,
    InteractionOut,
    RegistrationCreate,
    RegistrationListItem,
    RegistrationOut,
    RegistrationUpdate,
)
from crm.people.service import get_visible_lead
from crm.schemas import Page, PageParams, page_params

router = APIRouter(prefix="/api/v1", tags=["outreach"])

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


async def present_events(events: list[OutreachEvent], actor: Actor) -> list[EventOut]:
    agents = await service.agent_ids_of([e.id for e in events])
    return [
        EventOut(
            id=e.id,
            kind=e.kind,
            title=e.title,
            starts_at=e.starts_at,
            ends_at=e.ends_at,
            place=e.place,
            postcode=e.postcode,
            region=e.region,
            language=e.language,
            partner_id=e.partner_id,  # type: ignore[attr-defined]
            agent_ids=agents.get(e.id, []),
            notes=e.notes if actor.sees_notes else None,
            keyword=e.keyword,
            telegram_link=service.telegram_link(e.id),
            created_at=e.created_at,
        )
        for e in events
    ]


def present_interaction(i: Interaction, actor: Actor) -> InteractionOut:
    return InteractionOut(
        id=i.id,
        lead_id=i.lead_id,  # type: ignore[attr-defined]
        kind=i.kind,
        channel=i.channel,
        occurred_at=i.occurred_at,
        notes=i.notes if actor.sees_notes else None,
        client_id=i.client_id,
        event_id=i.event_id,  # type: ignore[attr-defined]
        interest=i.interest,
        author_id=i.author_id,  # type: ignore[attr-defined]
        created_at=i.created_at,
    )


def present_registration(r: EventRegistration) -> RegistrationOut:
    return RegistrationOut(
        id=r.id,
        event_id=r.event_id,  # type: ignore[attr-defined]
        lead_id=r.lead_id,  # type: ignore[attr-defined]
        registered_at=r.registered_at,
        registered_by=r.registered_by_id,  # type: ignore[attr-defined]
        attended=r.attended,
    )


@router.get("/events", response_model=Page[EventOut])
async def list_events(
    actor: StaffActor,
    page: Annotated[PageParams, Depends(page_params)],
    kind: Annotated[list[EventKind] | None, Query()] = None,
    starts_after: Annotated[datetime | None, Query()] = None,
    starts_before: Annotated[datetime | None, Query()] = None,
    partner_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Page[EventOut]:
    qs = service.visible_events(actor)
    if kind:
        qs = qs.filter(kind__in=kind)
    if starts_after:
        qs = qs.filter(starts_at__gte=starts_after)
    if starts_before:
        qs = qs.filter(starts_at__lt=starts_before)
    if partner_id:
        qs = qs.filter(partner_id=partner_id)
    total = await qs.count()
    rows = await qs.order_by("-starts_at", "-id").offset(page.offset).limit(page.limit)
    return Page(items=await present_events(rows, actor), total=total)


@router.post("/events", response_model=EventOut, status_code=201)
async def create_event(data: EventCreate, actor: FieldActor) -> EventOut:
    event = await service.create_event(data, actor=actor)
    (shaped,) = await present_events([event], actor)
    return shaped


@router.get("/events/{event_id}", response_model=EventOut)
async def get_event(event_id: Id, actor: StaffActor) -> EventOut:
    event = await service.get_visible_event(actor, event_id)
    (shaped,) = await present_events([event], actor)
    return shaped


@router.patch("/events/{event_id}", response_model=EventOut)
async def update_event(event_id: Id, data: EventUpdate, actor: FieldActor) -> EventOut:
    event = await service.get_visible_event(actor, event_id)
    event = await service.update_event(event, data, actor=actor)
    (shaped,) = await present_events([event], actor)
    return shaped


@router.get("/events/{event_id}/registrations", response_model=Page[RegistrationListItem])
async def list_registrations(
    event_id: Id, actor: StaffActor, page: Annotated[PageParams, Depends(page_params)]
) -> Page[RegistrationListItem]:
    event = await service.get_visible_event(actor, event_id)
    qs = service.visible_registrations(actor, event)
    total = await qs.count()
    rows = (
        await qs.order_by("registered_at", "id")
        .offset(page.offset)
        .limit(page.limit)
        .prefetch_related("lead")
    )
    return Page(
        items=[
            RegistrationListItem(
                **present_registration(r).model_dump(),
                first_name=r.lead.first_name,
                last_name=r.lead.last_name,
                phone=r.lead.phone,
            )
            for r in rows
        ],
        total=total,
    )


@router.post(
    "/events/{event_id}/registrations",
    response_model=RegistrationOut,
    status_code=201,
    responses={
        200: {"model": RegistrationOut, "description": "this person was already registered"}
    },
)
async def register_for_event(
    event_id: Id, data: RegistrationCreate, actor: FieldActor
) -> JSONResponse:
    event = await service.get_visible_event(actor, event_id)
    result = await service.register(event, lead_id=data.lead_id, actor=actor)
    body = present_registration(result.registration).model_dump(mode="json")
    return JSONResponse(body, status_code=201 if result.created else 200)


@router.patch("/events/{event_id}/registrations/{lead_id}", response_model=RegistrationOut)
async def update_registration(
    event_id: Id, lead_id: Id, data: RegistrationUpdate, actor: FieldActor
) -> RegistrationOut:
    event = await service.get_visible_event(actor, event_id)
    registration = await service.get_registration(event, lead_id=lead_id, actor=actor)
    registration = await service.mark_attendance(registration, attended=data.attended, actor=actor)
    return present_registration(registration)


@router.delete("/events/{event_id}/registrations/{lead_id}", status_code=204)
async def delete_registration(event_id: Id, lead_id: Id, actor: FieldActor) -> Response:
    event = await service.get_visible_event(actor, event_id)
    registration = await service.get_registration(event, lead_id=lead_id, actor=actor)
    await service.unregister(registration, actor=actor)
    return Response(status_code=204)


@router.get("/leads/{lead_id}/interactions", response_model=Page[InteractionOut])
async def list_interactions(
    lead_id: Id, actor: FieldActor, page: Annotated[PageParams, Depends(page_params)]
) -> Page[InteractionOut]:
    lead = await get_visible_lead(actor, lead_id)
    qs = Interaction.filter(lead_id=lead.id)
    total = await qs.count()
    rows = await qs.order_by("-occurred_at", "-id").offset(page.offset).limit(page.limit)
    return Page(items=[present_interaction(i, actor) for i in rows], total=total)


@router.post(
    "/leads/{lead_id}/interactions",
    response_model=InteractionOut,
    status_code=201,
    responses={200: {"model": InteractionOut, "description": "this client_id was already stored"}},
)
async def log_interaction(lead_id: Id, data: InteractionCreate, actor: FieldActor) -> JSONResponse:
    lead = await get_visible_lead(actor, lead_id)
    result = await service.log_interaction(lead, data, actor=actor)
    body = present_interaction(result.interaction, actor).model_dump(mode="json")
    return JSONResponse(body, status_code=201 if result.created else 200)


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[dict[str, Any]] = Field(min_length=1, max_length=sync.MAX_ITEMS)


class SyncResult(BaseModel):
    client_id: str | None
    type: str | None
    status: str = Field(description="stored, already_stored, conflict, refused or error")
    lead_id: int | None = None
    interaction_id: int | None = None
    duplicate: bool = False
    differences: list[dict[str, Any]] = []
    conflicts: list[dict[str, Any]] = []
    detail: str | None = None
    field: str | None = None


class SyncAnswer(BaseModel):
    results: list[SyncResult]


@router.post("/sync", response_model=SyncAnswer)
async def sync_items(data: SyncRequest, actor: FieldActor) -> SyncAnswer:
    """The field app's queue: contacts, interactions and updates made on a device, each with a
    `client_id`, applied in order. Sending an item again is answered `already_stored`; an
    update whose fields changed on the server since the device saw them is a `conflict` and is
    not applied; bad input refuses that item alone, naming the field."""
    results = await sync.apply_items(data.items, actor=actor)
    return SyncAnswer(results=[SyncResult(**r.as_json()) for r in results])
