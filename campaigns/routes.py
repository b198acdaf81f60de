from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from campaigns import service
from campaigns.checks import pre_schedule_checks
from campaigns.models import Campaign, CampaignRun, CampaignStatus
from campaigns.preview import preview
from campaigns.schedule import parse
from campaigns.schemas import CampaignCreate, CampaignOut, CampaignUpdate, PreviewIn
from campaigns.stats import campaign_stats
from campaigns.templating import VARIABLE_HELP
from crm.auth.deps import allow
from crm.enums import Role
from crm.errors import InvalidInput, NotFound
from crm.schemas import Page, PageParams, page_params

router = APIRouter(prefix="/api/v1", tags=["campaigns"])

# Campaigns are marketing's work, with coordinators and admins.
CampaignActor = allow(Role.ADMIN, Role.COORDINATOR, Role.MARKETING)
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


async def present(campaign: Campaign) -> CampaignOut:
    try:
        schedule_text = parse(campaign.schedule).describe() if campaign.schedule else None
    except InvalidInput:
        schedule_text = None
    return CampaignOut(
        id=campaign.id,
        name=campaign.name,
        goal=campaign.goal,
        channel=campaign.channel,
        audience=campaign.audience or {},
        messages=campaign.messages,
        default_language=campaign.default_language,
        story_id=campaign.story_id,  # type: ignore[attr-defined]
        story_mode=campaign.story_mode,
        variants=campaign.variants or [],
        schedule=campaign.schedule,
        schedule_text=schedule_text,
        status=campaign.status,
        next_run_at=campaign.next_run_at,
        conversion_days=campaign.conversion_days,
        warnings=await service.warnings(campaign),
        created_at=campaign.created_at,
        updated_at=campaign.updated_at,
    )


@router.get("/campaigns", response_model=Page[CampaignOut])
async def list_campaigns(
    actor: CampaignActor,
    page: Annotated[PageParams, Depends(page_params)],
    status: Annotated[CampaignStatus | None, Query()] = None,
) -> Page[CampaignOut]:
    qs = Campaign.all() if status is None else Campaign.filter(status=status)
    total = await qs.count()
    found = await qs.order_by("-id").offset(page.offset).limit(page.limit)
    return Page(items=[await present(c) for c in found], total=total)


@router.post("/campaigns", response_model=CampaignOut, status_code=201)
async def create_campaign(data: CampaignCreate, actor: CampaignActor) -> CampaignOut:
    return await present(await service.create_campaign(data, actor=actor))


@router.get("/campaigns/variables")
async def campaign_variables(actor: CampaignActor) -> dict[str, Any]:
    """The variables a message may use, with what each one holds."""
    return {"variables": [{"name": n, "description": d} for n, d in VARIABLE_HELP]}


@router.post("/campaigns/preview")
async def preview_messages(data: PreviewIn, actor: CampaignActor) -> dict[str, Any]:
    """Render unsaved messages for a sample person (or `lead_id`), problems shown per language."""
    return await preview(data)


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut)
async def get_campaign(campaign_id: Id, actor: CampaignActor) -> CampaignOut:
    return await present(await service.get_campaign(campaign_id))


@router.patch("/campaigns/{campaign_id}", response_model=CampaignOut)
async def update_campaign(
    campaign_id: Id, data: CampaignUpdate, actor: CampaignActor
) -> CampaignOut:
    campaign = await service.get_campaign(campaign_id)
    return await present(await service.update_campaign(campaign, data, actor=actor))


@router.get("/campaigns/{campaign_id}/checks")
async def campaign_checks(campaign_id: Id, actor: CampaignActor) -> dict[str, Any]:
    """Before scheduling: audience and its split, samples, SMS segments, expected duration."""
    return await pre_schedule_checks(await service.get_campaign(campaign_id))


@router.post("/campaigns/{campaign_id}/schedule", response_model=CampaignOut)
async def schedule_campaign(campaign_id: Id, actor: CampaignActor) -> CampaignOut:
    campaign = await service.get_campaign(campaign_id)
    return await present(await service.schedule_campaign(campaign, actor=actor))


@router.post("/campaigns/{campaign_id}/pause", response_model=CampaignOut)
async def pause_campaign(campaign_id: Id, actor: CampaignActor) -> CampaignOut:
    campaign = await service.get_campaign(campaign_id)
    return await present(await service.pause_campaign(campaign, actor=actor))


@router.post("/campaigns/{campaign_id}/resume", response_model=CampaignOut)
async def resume_campaign(campaign_id: Id, actor: CampaignActor) -> CampaignOut:
    campaign = await service.get_campaign(campaign_id)
    return await present(await service.resume_campaign(campaign, actor=actor))


@router.post("/campaigns/{campaign_id}/cancel", response_model=CampaignOut)
async def cancel_campaign(campaign_id: Id, actor: CampaignActor) -> CampaignOut:
    campaign = await service.get_campaign(campaign_id)
    return await present(await service.cancel_campaign(campaign, actor=actor))


@router.get("/campaigns/{campaign_id}/stats")
async def get_campaign_stats(
    campaign_id: Id,
    actor: CampaignActor,
    run_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> dict[str, Any]:
    """Audience, queued, sent, delivered, failed and skipped (with reasons), replies, opt-outs
    and conversions; per run and per A/B variant."""
    campaign = await service.get_campaign(campaign_id)
    if run_id is not None and not await CampaignRun.exists(id=run_id, campaign_id=campaign.id):
        raise NotFound(f"no run {run_id} in this campaign", field="run_id")
    return await campaign_stats(campaign, run_id=run_id)
