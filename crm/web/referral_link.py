"""The signed answer link (`/r/<token>`): a receiving partner without an account reads the
referral's minimal data and answers it (accept, reject with a coded reason, in progress,
complete with an outcome). Whoever opens the link acts for that partner on that one referral:
the history says "<partner> (signed link)". A forged, expired or stale link is a 404 page that
says to ask the sender for a new one."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm.auth.actor import Actor
from crm.enums import Role
from crm.referrals import service
from crm.referrals.links import AnswerLink, read_token
from crm.referrals.models import Referral, ReferralStatus, ReferralStatusChange
from crm.web.csrf import checked_form
from crm.web.referral_forms import (
    OUTCOMES,
    REASONS,
    MoveError,
    MoveForm,
    MoveResult,
    apply_move,
    party_name,
    read_move,
)
from crm.web.render import render

router = APIRouter(include_in_schema=False)

S = ReferralStatus
# What a link may do: answer, not redirect to another partner (that needs the portal or API).
LINK_MOVES = (S.ACCEPTED, S.IN_PROGRESS, S.COMPLETED, S.REJECTED)


def link_actor(link: AnswerLink) -> Actor:
    return Actor(
        role=Role.PARTNER,
        label=f"{link.partner.name} (signed link)",
        organisation_id=link.partner.id,
        organisation_name=link.partner.name,
    )


def _expired_page(request: Request) -> HTMLResponse:
    return render(request, "partners/answer_link.html", {"invalid": True}, status_code=404)


async def _page(
    request: Request,
    link: AnswerLink,
    *,
    result: MoveResult | None = None,
    status_code: int = 200,
    done: bool = False,
) -> HTMLResponse:
    referral: Referral = link.referral
    await referral.fetch_related("lead", "sender")
    moves = service.allowed_moves(referral, link_actor(link))
    history = await ReferralStatusChange.filter(referral_id=referral.id).order_by("id")
    return render(
        request,
        "partners/answer_link.html",
        {
            "invalid": False,
            "referral": referral,
            "lead": referral.lead,
            "partner": link.partner,
            "sender_name": party_name(referral.sender),
            "history": history,
            "moves": [m.value for m in LINK_MOVES if m in moves],
            "reasons": REASONS,
            "outcomes": OUTCOMES,
            "error": result.error if result else None,
            "typed": result.typed if result and result.error else MoveForm(),
            "move_action": f"/r/{request.path_params['token']}",
            "done": done,
        },
        status_code=status_code,
    )


@router.get("/r/{token}", include_in_schema=False)
async def answer_page(request: Request, token: str) -> HTMLResponse:
    link = await read_token(token)
    if link is None:
        return _expired_page(request)
    return await _page(request, link, done=request.query_params.get("done") == "1")


@router.post("/r/{token}", include_in_schema=False)
async def answer(request: Request, token: str) -> Response:
    form = await checked_form(request)
    link = await read_token(token)
    if link is None:
        return _expired_page(request)
    typed = read_move(form)
    if typed.status not in {m.value for m in LINK_MOVES} or typed.redirect_to_partner_id:
        error = MoveError(typed.status, "status", "this link cannot make that move", 409)
        return await _page(
            request, link, result=MoveResult(error=error, typed=typed), status_code=409
        )
    result = await apply_move(link.referral, typed, link_actor(link))
    if result.error is not None:  # apply_move has reloaded the referral
        return await _page(request, link, result=result, status_code=result.error.status_code)
    # Post/redirect/get: a reload does not post the answer again.
    return RedirectResponse(f"/r/{token}?done=1", status_code=303)
