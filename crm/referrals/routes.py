from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from tortoise.expressions import Q

from crm.auth.actor import Actor
from crm.auth.deps import ManagerActor, ReferralActor, StaffActor
from crm.config import settings
from crm.errors import NotFound
from crm.referrals import service
from crm.referrals.models import PartnerKind, PartnerOrganisation, Referral, ReferralStatus
from crm.referrals.schemas import (
    ConsentOut,
    HistoryOut,
    PartnerCreate,
    PartnerOut,
    PersonOut,
    RedirectedTo,
    ReferralCreate,
    ReferralOut,
    ReferralStatusUpdate,
)
from crm.schemas import Page, PageParams, page_params

router = APIRouter(prefix="/api/v1", tags=["partners and referrals"])

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


def present_partner(p: PartnerOrganisation) -> PartnerOut:
    return PartnerOut(
        id=p.id,
        name=p.name,
        kind=p.kind,
        region=p.region,
        postcode=p.postcode,
        contact_email=p.contact_email,
        contact_phone=p.contact_phone,
        referral_code=p.referral_code,
        telegram_link=service.partner_telegram_link(p.referral_code),
        active=p.active,
    )


async def present_referrals(rows: list[Referral], actor: Actor) -> list[ReferralOut]:
    """Shape referrals for this actor: what it may do next, the link a follow-on redirect
    made, and (staff only) the receiving partner's signed answer link."""
    await Referral.fetch_for_list(rows, "lead", "sender", "receiver", "history")
    ours = settings.ORGANISATION_NAME
    follow_ons = {
        r.redirected_from_id: r  # type: ignore[attr-defined]
        for r in await Referral.filter(
            redirected_from_id__in=[r.id for r in rows]
        ).prefetch_related("receiver")
    }
    out = []
    for r in rows:
        lead = r.lead
        follow_on = follow_ons.get(r.id)
        out.append(
            ReferralOut(
                id=r.id,
                external_ref=r.external_ref,
                sender_id=r.sender_id,
                sender=r.sender.name if r.sender else ours,  # type: ignore[attr-defined]
                receiver_id=r.receiver_id,  # type: ignore[attr-defined]
                receiver=r.receiver.name if r.receiver else ours,
                person=PersonOut(
                    lead_id=lead.id,
                    first_name=lead.first_name,
                    last_name=lead.last_name,
                    phone=lead.phone,
                    email=lead.email,
                    language=lead.language,
                    postcode=lead.postcode,
                ),
                purpose=r.purpose,
                notes=r.notes if (actor.sees_notes or actor.is_partner) else None,
                consent=ConsentOut(
                    given_at=r.consent_given_at,
                    method=r.consent_method,
                    text_version=r.consent_text_version,
                ),
                status=r.status,
                status_reason=r.status_reason,
                reason_code=r.reason_code,
                outcome=r.outcome,
                redirected_from_id=r.redirected_from_id,  # type: ignore[attr-defined]
                redirected_to=RedirectedTo(
                    id=follow_on.id,
                    receiver_id=follow_on.receiver_id,  # type: ignore[attr-defined]
                    receiver=follow_on.receiver.name if follow_on.receiver else ours,
                )
                if follow_on
                else None,
                expires_at=r.expires_at,
                allowed_moves=sorted(service.allowed_moves(r, actor)),
                answer_link=None if actor.is_partner else service.answer_url(r),
                history=[
                    HistoryOut(
                        status=h.status,
                        reason=h.reason,
                        reason_code=h.reason_code,
                        outcome=h.outcome,
                        by=h.by_label,
                        organisation=h.organisation_label,
                        organisation_id=h.organisation_id,
                        at=h.at,
                    )
                    for h in sorted(r.history, key=lambda h: h.id)
                ],
                created_at=r.created_at,
                updated_at=r.updated_at,
            )
        )
    return out


@router.get("/partners", response_model=Page[PartnerOut])
async def list_partners(
    actor: StaffActor,
    page: Annotated[PageParams, Depends(page_params)],
    kind: Annotated[list[PartnerKind] | None, Query()] = None,
) -> Page[PartnerOut]:
    qs = PartnerOrganisation.all()
    if kind:
        qs = qs.filter(kind__in=kind)
    total = await qs.count()
    rows = await qs.order_by("name").offset(page.offset).limit(page.limit)
    return Page(items=[present_partner(p) for p in rows], total=total)


@router.post("/partners", response_model=PartnerOut, status_code=201)
async def create_partner(data: PartnerCreate, actor: ManagerActor) -> PartnerOut:
    return present_partner(await service.create_partner(data, actor=actor))


@router.get("/partners/{partner_id}", response_model=PartnerOut)
async def get_partner(partner_id: Id, actor: StaffActor) -> PartnerOut:
    partner = await PartnerOrganisation.get_or_none(id=partner_id)
    if partner is None:
        raise NotFound(f"no partner with id {partner_id}", field="id")
    return present_partner(partner)


@router.post(
    "/referrals",
    response_model=ReferralOut,
    status_code=201,
    responses={200: {"model": ReferralOut, "description": "this external_ref was already used"}},
)
async def create_referral(data: ReferralCreate, actor: ReferralActor) -> JSONResponse:
    """Partner intake: refer a person, with their consent. The same `external_ref` twice gives
    back the first referral (200)."""
    result = await service.intake(data, actor=actor)
    (shaped,) = await present_referrals([result.referral], actor)
    return JSONResponse(shaped.model_dump(mode="json"), status_code=201 if result.created else 200)


@router.get("/referrals", response_model=Page[ReferralOut])
async def list_referrals(
    actor: ReferralActor,
    page: Annotated[PageParams, Depends(page_params)],
    status: Annotated[list[ReferralStatus] | None, Query()] = None,
    partner_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    lead_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Page[ReferralOut]:
    qs = service.visible_referrals(actor)
    if status:
        qs = qs.filter(status__in=status)
    if partner_id:
        qs = qs.filter(Q(sender_id=partner_id) | Q(receiver_id=partner_id))
    if lead_id:
        qs = qs.filter(lead_id=lead_id)
    total = await qs.count()
    rows = await qs.order_by("-created_at", "-id").offset(page.offset).limit(page.limit)
    return Page(items=await present_referrals(list(rows), actor), total=total)


@router.get("/referrals/{referral_id}", response_model=ReferralOut)
async def get_referral(referral_id: Id, actor: ReferralActor) -> ReferralOut:
    referral = await service.get_visible_referral(actor, referral_id)
    (shaped,) = await present_referrals([referral], actor)
    return shaped


@router.patch("/referrals/{referral_id}", response_model=ReferralOut)
async def change_referral_status(
    referral_id: Id, data: ReferralStatusUpdate, actor: ReferralActor
) -> ReferralOut:
    """Move a referral along its lifecycle. 403 when the caller's side may not make this move,
    409 when the current status does not allow it."""
    referral = await service.get_visible_referral(actor, referral_id)
    referral = await service.change_status(referral, data, actor=actor)
    (shaped,) = await present_referrals([referral], actor)
    return shaped
