"""The staff referral pages (`/referrals`): referrals received from partners that wait for our
answer first, then the rest; one referral with the moves our side may make, the link to the
person's page, and the signed answer link for a partner that has no account.

Admins and coordinators see every referral, agents those of the people they may see
(`referrals.service.visible_referrals`); marketing staff and partner users get a 403."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from tortoise.expressions import Q

from crm.config import settings
from crm.enums import Role
from crm.privacy.view_audit import record_view
from crm.referrals import service
from crm.referrals.models import PartnerOrganisation, Referral, ReferralStatus
from crm.web.csrf import checked_form
from crm.web.referral_forms import (
    STATUSES,
    MoveResult,
    apply_move,
    detail_context,
    name_search,
    one_of,
    read_move,
    search_text,
    visible_referral,
    waiting_first,
    with_parties,
)
from crm.web.render import PageError, page_number, paging, render
from crm.web.session import WebUser, require_user

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
# received: from a partner to us; sent: from us to a partner.
DIRECTIONS = ("received", "sent")
HANDLERS = frozenset({Role.ADMIN, Role.COORDINATOR, Role.AGENT})


async def require_handler(request: Request) -> WebUser:
    web_user = await require_user(request)
    if web_user.actor.role not in HANDLERS:
        raise PageError(403)
    return web_user


Handler = Annotated[WebUser, Depends(require_handler)]


@router.get("/referrals", include_in_schema=False)
async def referral_list(request: Request, web_user: Handler) -> HTMLResponse:
    actor = web_user.actor
    params = request.query_params
    partners = await PartnerOrganisation.all().order_by("name", "id")
    f = {
        "status": one_of(params.get("status"), STATUSES),
        "partner": one_of(params.get("partner"), {str(p.id) for p in partners}),
        "direction": one_of(params.get("direction"), DIRECTIONS),
        "q": search_text(params.get("q")),
    }
    qs = service.visible_referrals(actor)
    if f["status"]:
        qs = qs.filter(status=f["status"])
    if f["partner"]:
        partner_id = int(f["partner"])
        qs = qs.filter(Q(sender_id=partner_id) | Q(receiver_id=partner_id))
    if f["direction"] == "received":
        qs = qs.filter(receiver_id__isnull=True)
    elif f["direction"] == "sent":
        qs = qs.filter(sender_id__isnull=True)
    qs = name_search(qs, f["q"])
    total = await qs.count()
    pager = paging(total, page_number(params.get("page")), PAGE_SIZE, "/referrals", f)
    waiting = Q(receiver_id__isnull=True, status=ReferralStatus.REQUESTED)
    rows = await waiting_first(qs, waiting).offset(pager.offset).limit(pager.limit)
    return render(
        request,
        "referrals/list.html",
        {
            "referrals": await with_parties(list(rows)),
            "total": total,
            **pager.template_vars(),
            "f": f,
            "filtered": any(f.values()),
            "our_name": settings.ORGANISATION_NAME,
            "statuses": STATUSES,
            "partners": partners,
        },
    )


def _answer_link(referral: Referral) -> str | None:
    """The signed link a partner without an account answers with, for a referral sent to a
    partner that is still open."""
    if referral.status not in service.OPEN:
        return None
    return service.answer_url(referral)  # None when we are the receiver


async def _page(
    request: Request, web_user: WebUser, referral: Referral, result: MoveResult | None = None
) -> HTMLResponse:
    context = await detail_context(referral, web_user.actor, result=result)
    return render(
        request,
        "referrals/detail.html",
        {
            **context,
            "answer_link": _answer_link(referral),
            "move_action": f"/referrals/{referral.id}/status",
            "referral_base": "/referrals/",
        },
        status_code=result.error.status_code if result and result.error else 200,
    )


@router.get("/referrals/{referral_id}", include_in_schema=False)
async def referral_page(request: Request, referral_id: str, web_user: Handler) -> HTMLResponse:
    referral = await visible_referral(web_user.actor, referral_id)
    await record_view(web_user.actor, referral.lead_id, "referral")  # type: ignore[attr-defined]
    return await _page(request, web_user, referral)


@router.post("/referrals/{referral_id}/status", include_in_schema=False)
async def move_referral(request: Request, referral_id: str, web_user: Handler) -> Response:
    form = await checked_form(request)
    referral = await visible_referral(web_user.actor, referral_id)
    result = await apply_move(referral, read_move(form), web_user.actor)
    if result.error is None:
        return RedirectResponse(f"/referrals/{referral.id}#history", status_code=303)
    return await _page(request, web_user, referral, result)
