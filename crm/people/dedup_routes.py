"""HTTP for one person once: duplicate candidates, dismissing a pair, merging and its
explanation. Admins and coordinators only: reviewing duplicates means seeing everybody."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from crm.auth.deps import ManagerActor
from crm.errors import NotFound
from crm.people import duplicates, merge
from crm.people.models import Lead, LeadMerge, Stage
from crm.people.routes import present
from crm.people.schemas import LeadOut
from crm.schemas import Page, PageParams, page_params

router = APIRouter(prefix="/api/v1", tags=["duplicates"])

LeadId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class PersonBrief(BaseModel):
    id: int
    first_name: str
    last_name: str | None
    phone: str | None
    email: str | None
    postcode: str | None
    stage: Stage
    created_at: datetime


class DuplicatePair(BaseModel):
    people: list[PersonBrief] = Field(description="the two people, lower id first")
    reasons: list[duplicates.Reason]
    score: int = Field(description="0–100: how sure the reasons together make us")


class PersonMatch(BaseModel):
    person: PersonBrief
    reasons: list[duplicates.Reason]
    score: int


class DismissIn(BaseModel):
    lead_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(
        min_length=2, max_length=2, description="the two people who are not the same person"
    )


class Dismissed(BaseModel):
    lead_ids: list[int]


class MergeIn(BaseModel):
    merged_id: int = Field(ge=1, le=2**31 - 1, description="the record that disappears")
    choices: dict[str, str] = Field(
        default_factory=dict,
        max_length=len(merge.CHOOSABLE),
        description='field → "kept" or "merged": whose value the person keeps (default: the '
        "kept record's, or the merged one's where the kept one is empty)",
    )
    reason: str | None = Field(default=None, max_length=500)


class MergeOut(BaseModel):
    id: int
    kept_lead_id: int
    merged_lead_id: int
    at: datetime
    by: str
    reason: str | None
    choices: dict[str, str]
    moved: dict[str, int]
    merged_snapshot: dict[str, Any]
    kept_snapshot: dict[str, Any]


def brief(lead: Lead) -> PersonBrief:
    return PersonBrief(
        id=lead.id,
        first_name=lead.first_name,
        last_name=lead.last_name,
        phone=lead.phone,
        email=lead.email,
        postcode=lead.postcode,
        stage=lead.stage,
        created_at=lead.created_at,
    )


def merge_out(record: LeadMerge) -> MergeOut:
    return MergeOut(
        id=record.id,
        kept_lead_id=record.kept_lead_id,
        merged_lead_id=record.merged_lead_id,
        at=record.at,
        by=record.by_label,
        reason=record.reason,
        choices=record.choices,
        moved=record.moved,
        merged_snapshot=record.merged_snapshot,
        kept_snapshot=record.kept_snapshot,
    )


async def candidate_page(limit: int, offset: int) -> tuple[list[DuplicatePair], int]:
    """One page of the review list with both people of each pair."""
    found = await duplicates.find_candidates()
    items = [
        DuplicatePair(
            people=[brief(low), brief(high)],
            reasons=c.ordered_reasons,  # type: ignore[arg-type]
            score=c.score,
        )
        for c, low, high in await duplicates.with_people(found[offset : offset + limit])
    ]
    return items, len(found)


@router.get("/duplicates", response_model=Page[DuplicatePair])
async def list_duplicates(
    actor: ManagerActor, page: Annotated[PageParams, Depends(page_params)]
) -> Page[DuplicatePair]:
    """Pairs of people who may be the same person, surest first (dismissed pairs left out)."""
    items, total = await candidate_page(page.limit, page.offset)
    return Page(items=items, total=total)


@router.post("/duplicates/dismiss", response_model=Dismissed)
async def dismiss_pair(data: DismissIn, actor: ManagerActor) -> Dismissed:
    """Two people who are not the same person: the pair is not proposed again."""
    low, high = await duplicates.dismiss(data.lead_ids, actor=actor)
    return Dismissed(lead_ids=[low, high])


@router.get("/leads/{lead_id}/duplicates", response_model=Page[PersonMatch])
async def lead_duplicates(lead_id: LeadId, actor: ManagerActor) -> Page[PersonMatch]:
    """The people this person may also be, with the reasons."""
    lead = await _living(lead_id)
    matches = await duplicates.candidates_of(lead)
    items = [
        PersonMatch(person=brief(m.lead), reasons=m.ordered_reasons, score=m.score)  # type: ignore[arg-type]
        for m in matches
    ]
    return Page(items=items, total=len(items))


@router.post("/leads/{lead_id}/merge", response_model=LeadOut)
async def merge_lead(lead_id: LeadId, data: MergeIn, actor: ManagerActor) -> LeadOut:
    """Merge `merged_id` into this person: every interaction, message, referral, consent and
    registration of both is kept here; the merged record disappears and its id answers 404
    "merged into …". 409 for the same id, 404 for an unknown one, 422 for a bad choice."""
    kept, _record = await merge.merge_leads(
        lead_id, data.merged_id, choices=data.choices, reason=data.reason, actor=actor
    )
    (shaped,) = await present([kept], actor)
    return shaped


@router.get("/leads/{lead_id}/merges", response_model=Page[MergeOut])
async def lead_merges(lead_id: LeadId, actor: ManagerActor) -> Page[MergeOut]:
    """The merges that made this person (both records' snapshots, the choices, what moved,
    why and who), newest first."""
    await _living(lead_id)
    items = [merge_out(m) for m in await merge.merges_of(lead_id)]
    return Page(items=items, total=len(items))


async def _living(lead_id: int) -> Lead:
    lead = await Lead.get_or_none(id=lead_id)
    if lead is None:
        kept = await merge.merged_into(lead_id)
        if kept is not None:
            raise NotFound(f"person {lead_id} was merged into {kept}", field="id")
        raise NotFound(f"no person with id {lead_id}", field="id")
    return lead
