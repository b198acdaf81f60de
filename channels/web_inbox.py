"""The inbox pages: the threads staff answer, one person's messages across channels, and the
reply form. Signed in by session (crm.web), every form carries the CSRF token, and every rule
is the API's own (`channels.conversations` with the signed-in Actor).

Every staff role may read; only those who answer people (admin, coordinator, agent) see the
reply, assign and resend forms, and only their visit marks a thread read, so a marketing
colleague looking at replies does not hide them from the agents.

The live SMS counter is `crm/static/inbox.js` (no inline script, for the CSP): it posts the
draft to `/inbox/segments`, which answers the counter as an HTML fragment in the user's
language. Without script, the count appears after a refused send, and every sent SMS shows
what it cost. Strings shown to users live in the templates (the catalogue extracts them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from channels import conversations as service
from channels.models import Channel, Conversation, OutboxMessage
from channels.outbox import address_of
from channels.runtime import wake_dispatcher
from channels.sms_segments import MAX_BODY_CHARACTERS
from crm.auth.models import User
from crm.enums import STAFF_ROLES
from crm.errors import NotFound
from crm.people.models import Lead
from crm.people.service import get_visible_lead
from crm.privacy.view_audit import record_view
from crm.web.csrf import checked_form
from crm.web.render import PageError, page_count, page_number, paging, render
from crm.web.session import WebUser, require_user

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
THREAD_SIZE = 100
_MAX_BODY = 10_000

SignedIn = Annotated[WebUser, Depends(require_user)]


def _staff(web_user: WebUser) -> None:
    if web_user.actor.role not in STAFF_ROLES:
        raise PageError(403)


def _responder(web_user: WebUser) -> None:
    if web_user.actor.role not in service.RESPONDERS:
        raise PageError(403)


def _lead_id(raw: str) -> int:
    # Parsed here rather than by FastAPI, so a bad id is an HTML 404 and not a JSON 422.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10 or not 0 < int(raw) < 2**31:
        raise PageError(404)
    return int(raw)


async def _visible(web_user: WebUser, lead_id: str) -> Lead:
    try:
        return await get_visible_lead(web_user.actor, _lead_id(lead_id))
    except NotFound:
        raise PageError(404) from None


async def _names(user_ids: set[int | None]) -> dict[int, str]:
    ids = [i for i in user_ids if i]
    if not ids:
        return {}
    return {user.id: user.display_name for user in await User.filter(id__in=ids)}


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# ---- the list ---------------------------------------------------------------------------------


@router.get("/inbox", include_in_schema=False)
async def inbox(request: Request, web_user: SignedIn) -> HTMLResponse:
    _staff(web_user)
    params = request.query_params
    unread, mine = params.get("unread") == "1", params.get("mine") == "1"
    filters = service.ConversationFilters(
        unread=True if unread else None, assigned_to="me" if mine else None
    )
    page = page_number(params.get("page"))
    threads, total = await service.list_conversations(
        web_user.actor, filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    query = {k: "1" for k, on in (("unread", unread), ("mine", mine)) if on}
    pager = paging(total, page, PAGE_SIZE, "/inbox", query, clamp=False)
    return render(
        request,
        "inbox/list.html",
        {
            "threads": threads,
            "total": total,
            "names": await _names({t.assigned_to_id for t in threads}),
            "me": web_user.user.id,
            "unread": unread,
            "mine": mine,
            "filtered": unread or mine,
            **pager.template_vars(),
        },
    )


# ---- one thread -------------------------------------------------------------------------------


async def _thread(
    request: Request,
    web_user: WebUser,
    lead: Lead,
    *,
    form: dict[str, object] | None = None,
    error: service.MessageRefused | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    actor = web_user.actor
    can_act = actor.role in service.RESPONDERS
    conversation = await Conversation.get_or_none(lead_id=lead.id)
    if can_act and conversation is not None and conversation.unread and request.method == "GET":
        # Opening the thread reads it; only what had arrived by now.
        await service.mark_read(lead.id, seen_at=datetime.now(UTC))
    page = page_number(request.query_params.get("page"))
    messages, total = await service.list_messages(
        lead.id, limit=THREAD_SIZE, offset=(page - 1) * THREAD_SIZE
    )
    messages.reverse()  # read top to bottom, the newest next to the reply form
    pages = page_count(total, THREAD_SIZE)
    closed = await service.opted_out(lead.id)
    channels = [
        {"code": c.value, "reachable": address_of(lead, c) is not None, "opted_out": c in closed}
        for c in Channel
    ]
    try:
        default = (await service.choose_channel(lead, None)).value
    except service.MessageRefused:
        default = None
    form = {"channel": default, "body": "", "lookalikes": False, **(form or {})}
    assigned = conversation.assigned_to_id if conversation else None  # type: ignore[attr-defined]
    names = await _names({m.author_id for m in messages} | {assigned})
    resent = await OutboxMessage.filter(
        lead_id=lead.id, idempotency_key__startswith="resend:"
    ).values_list("idempotency_key", flat=True)
    return render(
        request,
        "inbox/thread.html",
        {
            "lead": lead,
            "messages": messages,
            "total": total,
            "older_url": f"/inbox/{lead.id}?page={page + 1}" if page < pages else None,
            "newer_url": (f"/inbox/{lead.id}" + (f"?page={page - 1}" if page > 2 else ""))
            if page > 1
            else None,
            "names": names,
            "conversation": conversation,
            "assigned": assigned,
            "me": web_user.user.id,
            "can_act": can_act,
            "channels": channels,
            "reachable": any(c["reachable"] for c in channels),
            "sendable": any(c["reachable"] and not c["opted_out"] for c in channels),
            "resent": {"out-" + str(key).split(":", 1)[1] for key in resent},
            "form": form,
            "client_id": str(uuid4()),
            "error": error.reason if error else None,
            "error_channel": error.channel.value if error and error.channel else None,
            "seg": service.segment_report(str(form["body"])) if form["body"] else None,
            "max_sms": MAX_BODY_CHARACTERS,
        },
        status_code=status_code,
    )


@router.get("/inbox/{lead_id}", include_in_schema=False)
async def thread(request: Request, lead_id: str, web_user: SignedIn) -> HTMLResponse:
    _staff(web_user)
    lead = await _visible(web_user, lead_id)
    await record_view(web_user.actor, lead.id, "inbox")
    return await _thread(request, web_user, lead)


@router.post("/inbox/{lead_id}/reply", include_in_schema=False)
async def reply(request: Request, lead_id: str, web_user: SignedIn) -> Response:
    _responder(web_user)
    form = await checked_form(request)
    lead = await _visible(web_user, lead_id)
    body = str(form.get("body") or "")[:_MAX_BODY].replace("\r\n", "\n")
    raw_channel = str(form.get("channel") or "")
    channel = Channel(raw_channel) if raw_channel in {c.value for c in Channel} else None
    lookalikes = form.get("lookalikes") == "1"
    try:
        client_id = UUID(str(form.get("client_id") or ""))
    except ValueError:
        client_id = None
    try:
        _row, created = await service.send_reply(
            lead,
            web_user.actor,
            body=body,
            channel=channel,
            client_id=client_id,
            lookalikes=lookalikes,
        )
    except service.MessageRefused as refused:
        kept = {
            "body": body,
            "lookalikes": lookalikes,
            **({"channel": raw_channel} if channel else {}),
        }
        return await _thread(
            request, web_user, lead, form=kept, error=refused, status_code=refused.status_code
        )
    if created:
        wake_dispatcher(request)
    return _redirect(f"/inbox/{lead.id}#reply")


@router.post("/inbox/{lead_id}/assign", include_in_schema=False)
async def assign(request: Request, lead_id: str, web_user: SignedIn) -> Response:
    _responder(web_user)
    form = await checked_form(request)
    lead = await _visible(web_user, lead_id)
    target = web_user.user.id if form.get("to") == "me" else None
    try:
        await service.assign(web_user.actor, lead.id, target)
    except NotFound:
        raise PageError(404) from None
    except service.MessageRefused as refused:
        return await _thread(request, web_user, lead, error=refused, status_code=422)
    return _redirect(f"/inbox/{lead.id}")


@router.post("/inbox/{lead_id}/resend", include_in_schema=False)
async def resend(request: Request, lead_id: str, web_user: SignedIn) -> Response:
    _responder(web_user)
    form = await checked_form(request)
    lead = await _visible(web_user, lead_id)
    message_id = str(form.get("message_id") or "")[:20]
    try:
        original = service.outbox_id(message_id)
        if not await OutboxMessage.exists(id=original, lead_id=lead.id):
            raise PageError(404)
        _row, created = await service.resend(web_user.actor, message_id)
    except NotFound:
        raise PageError(404) from None
    except service.MessageRefused as refused:
        return await _thread(
            request, web_user, lead, error=refused, status_code=refused.status_code
        )
    if created:
        wake_dispatcher(request)
    return _redirect(f"/inbox/{lead.id}#reply")


@router.post("/inbox/segments", include_in_schema=False)
async def segments(request: Request, web_user: SignedIn) -> HTMLResponse:
    """The live counter of the reply form, as a fragment in the user's language."""
    _staff(web_user)
    form = await checked_form(request)
    body = str(form.get("body") or "")[:_MAX_BODY].replace("\r\n", "\n")
    return render(
        request,
        "inbox/segments.html",
        {
            "seg": service.segment_report(body) if body else None,
            "max_sms": MAX_BODY_CHARACTERS,
        },
    )
