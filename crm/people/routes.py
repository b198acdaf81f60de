from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse, Response

from crm import geo
from crm.auth.actor import Actor
from crm.auth.deps import AnyActor, FieldActor, StaffActor
from crm.enums import Language
from crm.errors import NotFound
from crm.geo import Region
from crm.people import service
from crm.people.merge import merged_into_visible
from crm.people.models import ConsentRecord, Lead, Stage
from crm.people.schemas import (
    ConsentIn,
    ConsentOut,
    LeadCreate,
    LeadCreated,
    LeadOut,
    LeadUpdate,
    TimelineItem,
)
from crm.people.segments import vocabulary
from crm.people.timeline import timeline
from crm.privacy.view_audit import record_view
from crm.schemas import Page, PageParams, page_params

router = APIRouter(prefix="/api/v1", tags=["people"])

LeadId = Annotated[int, Path(ge=1, le=2**31 - 1)]


async def present(
    leads: list[Lead],
    actor: Actor,
    *,
    segments: dict[int, list[str]] | None = None,
    consents: dict[int, list[ConsentRecord]] | None = None,
) -> list[LeadOut]:
    """Shape people for this actor (free text only for those who may read it). Segments and
    consents already in hand (a person just created) are not read again."""
    ids = [lead.id for lead in leads]
    if segments is None:
        segments = await service.segments_of(ids)
    if consents is None:
        consents = await service.current_consents(ids)
    out = []
    for lead in leads:
        region = lead.region
        data = {
            **{k: getattr(lead, k) for k in LeadOut.model_fields if hasattr(lead, k)},
            "event_id": lead.event_id,  # type: ignore[attr-defined]
            "referring_partner_id": lead.referring_partner_id,  # type: ignore[attr-defined]
            "assigned_agent_id": lead.assigned_agent_id,  # type: ignore[attr-defined]
            "reached_by_id": lead.reached_by_id,  # type: ignore[attr-defined]
            "employment_service": geo.REGIONS[Region(region)].employment_service
            if region
            else None,
            "segments": segments.get(lead.id, []),
            "consents": [
                ConsentOut(
                    purpose=c.purpose,
                    granted=c.granted,
                    source=c.source,
                    method=c.method,
                    text_version=c.text_version,
                    recorded_at=c.recorded_at,
                )
                for c in consents.get(lead.id, [])
            ],
        }
        if not actor.sees_notes:
            data["notes"] = None
            data["project_summary"] = None
            # Self-declared migrant background (close to a GDPR special category): not for the
            # role that builds audiences, as in the people export.
            data["background"] = None
        out.append(LeadOut(**data))
    return out


@router.post(
    "/leads",
    response_model=LeadCreated,
    status_code=201,
    responses={200: {"model": LeadCreated, "description": "an existing person matched"}},
)
async def create_lead(data: LeadCreate, actor: FieldActor) -> JSONResponse:
    """Create a person, or find them by phone, e-mail or Telegram chat (then 200 and
    `duplicate: true`, with new facts added and nothing overwritten)."""
    result = await service.find_or_create_lead(data, actor=actor)
    known = {}
    if result.created:
        latest = {c.purpose: c for c in result.consents or []}  # the last word per purpose
        known = {
            "segments": {result.lead.id: result.segments or []},
            "consents": {result.lead.id: list(latest.values())},
        }
    (shaped,) = await present([result.lead], actor, **known)
    body = LeadCreated(**shaped.model_dump(), duplicate=not result.created)
    return JSONResponse(body.model_dump(mode="json"), status_code=201 if result.created else 200)


@router.get("/leads", response_model=Page[LeadOut])
async def list_leads(
    actor: StaffActor,
    page: Annotated[PageParams, Depends(page_params)],
    stage: Annotated[list[Stage] | None, Query()] = None,
    language: Annotated[list[Language] | None, Query()] = None,
    segment: Annotated[list[str] | None, Query(max_length=30)] = None,
    postcode: Annotated[list[str] | None, Query(max_length=50)] = None,
    region: Annotated[list[Region] | None, Query()] = None,
    event_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    partner_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    agent_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    created_since: Annotated[datetime | None, Query()] = None,
    follow_up_before: Annotated[date | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    filters = service.LeadFilters(
        stage=stage,
        language=language,
        segment=segment,
        postcode=postcode,
        region=region,
        event_id=event_id,
        partner_id=partner_id,
        agent_id=agent_id,
        created_since=created_since,
        follow_up_before=follow_up_before,
        q=q,
    )
    rows, total = await service.list_leads(actor, filters, limit=page.limit, offset=page.offset)
    body = Page[LeadOut](items=await present(rows, actor), total=total)
    # Serialised once here; returning the model would make FastAPI validate it all again.
    return Response(body.model_dump_json(), media_type="application/json")


@router.get("/leads/{lead_id}", response_model=LeadOut)
async def get_lead(lead_id: LeadId, actor: AnyActor) -> LeadOut:
    try:
        lead = await service.get_visible_lead(actor, lead_id)
    except NotFound:
        # A merged-away id says where the person went, to those who may see them there.
        kept = await merged_into_visible(actor, lead_id)
        if kept is not None:
            raise NotFound(f"person {lead_id} was merged into {kept}", field="id") from None
        raise
    await record_view(actor, lead.id, "api")
    if actor.is_partner:
        # A partner reads only what its referrals carry: never stage, segments, consents,
        # notes or anything else we know about the person.
        return JSONResponse(  # type: ignore[return-value]
            {k: getattr(lead, k) for k in PARTNER_PERSON_FIELDS}
        )
    (shaped,) = await present([lead], actor)
    return shaped


# The minimal person block a partner sees (the same as in its referrals, CONTRACT §4).
PARTNER_PERSON_FIELDS = ("id", "first_name", "last_name", "phone", "email", "language", "postcode")


@router.patch("/leads/{lead_id}", response_model=LeadOut)
async def update_lead(lead_id: LeadId, data: LeadUpdate, actor: FieldActor) -> LeadOut:
    lead = await service.get_visible_lead(actor, lead_id)
    lead = await service.update_lead(lead, data, actor=actor)
    (shaped,) = await present([lead], actor)
    return shaped


@router.post("/leads/{lead_id}/consents", response_model=LeadOut, status_code=201)
async def record_consent(lead_id: LeadId, data: ConsentIn, actor: FieldActor) -> LeadOut:
    """Append a consent given or withdrawn to the person's ledger."""
    lead = await service.get_visible_lead(actor, lead_id)
    await service.record_consent(lead, data, source=service.ConsentSource.API, actor=actor)
    (shaped,) = await present([lead], actor)
    return shaped


@router.get("/leads/{lead_id}/timeline", response_model=Page[TimelineItem])
async def lead_timeline(
    lead_id: LeadId, actor: StaffActor, page: Annotated[PageParams, Depends(page_params)]
) -> Page[TimelineItem]:
    lead = await service.get_visible_lead(actor, lead_id)
    await record_view(actor, lead.id, "timeline")
    items = await timeline(lead, actor)
    return Page(items=items[page.offset : page.offset + page.limit], total=len(items))


@router.get("/segments")
async def list_segments(actor: StaffActor) -> dict[str, dict[str, str]]:
    """The segment vocabulary with its labels in fr, nl, de and en."""
    return await vocabulary()
