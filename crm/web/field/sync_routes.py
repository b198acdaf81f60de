"""The field app's JSON endpoints, on the page session: the offline queue's sync and the
duplicate lookup while an agent types a phone. They answer JSON errors (401, 403, 422), never a
redirect to the login page, so the app keeps its queue and says why."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from crm.outreach import sync
from crm.people.models import Lead
from crm.people.phones import normalize_phone
from crm.people.service import visible_leads
from crm.web import csrf
from crm.web.field.common import FIELD_ROLES
from crm.web.session import WebUser, signed_in

router = APIRouter(include_in_schema=False)

CSRF_HEADER = "x-csrf-token"
# 100 items of a few kilobytes at most.
MAX_BODY_BYTES = 1_000_000
_NO_STORE = {"Cache-Control": "no-store"}


def _error(status: int, detail: Any) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=_NO_STORE)


async def _field_user(request: Request) -> WebUser | JSONResponse:
    web_user = await signed_in(request)
    if web_user is None:
        return _error(401, "not signed in: sign in again to send")
    if web_user.actor.role not in FIELD_ROLES:
        return _error(403, f"the {web_user.actor.role.value} role may not do this")
    return web_user


@router.post("/field/sync", include_in_schema=False)
async def field_sync(request: Request) -> JSONResponse:
    web_user = await _field_user(request)
    if isinstance(web_user, JSONResponse):
        return web_user
    if not csrf.token_matches(request, request.headers.get(CSRF_HEADER)):
        return _error(403, "the page's security token is missing or old: reload the page")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return _error(413, f"at most {MAX_BODY_BYTES} bytes per request")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _error(422, [{"field": "body", "msg": "is not JSON"}])
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= sync.MAX_ITEMS:
        return _error(
            422, [{"field": "items", "msg": f"must be a list of 1 to {sync.MAX_ITEMS} items"}]
        )
    results = await sync.apply_items(items, actor=web_user.actor)
    return JSONResponse({"results": [r.as_json() for r in results]}, headers=_NO_STORE)


@router.get("/field/lookup", include_in_schema=False)
async def field_lookup(request: Request, phone: str = "") -> JSONResponse:
    """Is this phone possible, and does it belong to someone already? Offered to the agent
    while typing so a person is added to, not created twice."""
    web_user = await _field_user(request)
    if isinstance(web_user, JSONResponse):
        return web_user
    try:
        e164 = normalize_phone(phone[:40])
    except ValueError as exc:
        return JSONResponse({"valid": False, "reason": str(exc)}, headers=_NO_STORE)
    lead = await Lead.get_or_none(phone=e164)
    match = None
    if lead is not None:
        visible = await visible_leads(web_user.actor).filter(id=lead.id).exists()
        initial = f" {lead.last_name[0]}." if lead.last_name else ""
        match = {
            "id": lead.id,
            "name": f"{lead.first_name}{initial}",
            "stage": lead.stage.value if hasattr(lead.stage, "value") else lead.stage,
            "url": f"/field/people/{lead.id}" if visible else None,
        }
    return JSONResponse({"valid": True, "e164": e164, "match": match}, headers=_NO_STORE)
