"""The privacy pages, for the admins and coordinators who answer rights requests: the register
of requests with their deadlines (`/privacy`), one request and the actions that answer it
(access, erasure, objection, extension, closing), and the people flagged by the retention rules
(`/privacy/retention`). Every action goes through the services the API uses."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from crm.errors import DomainError
from crm.people.models import Lead
from crm.privacy import requests
from crm.privacy.erasure import erase_person
from crm.privacy.models import RequestChannel, RequestKind, RightsRequest
from crm.privacy.objection import object_to_marketing
from crm.privacy.retention import flagged_count, flagged_people, keep_person
from crm.privacy.schemas import (
    MARKETING_PURPOSES,
    RequestClosing,
    RequestExtension,
    RightsRequestIn,
    RightsRequestUpdate,
)
from crm.web.csrf import checked_form
from crm.web.duplicates import Manager
from crm.web.render import PageError, page_number, paging, path_id, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
LISTINGS: tuple[requests.Listing, ...] = ("open", "overdue", "due_soon", "closed", "all")
NOTICE_KEY = "privacy_notice"


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _first_error(exc: ValidationError) -> tuple[str, str]:
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error.get("loc", ())) or "form"
    return field, error.get("msg", "invalid")


def _text(form: Any, name: str, limit: int = 5000) -> str:
    return str(form.get(name) or "").strip()[:limit]


def _optional_id(raw: str) -> int | str | None:
    # Left to the schema to refuse (naming the field) when it is not a number.
    raw = raw.strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 11 else (raw or None)


async def _list_context(request: Request, listing: requests.Listing) -> dict[str, Any]:
    on = requests.today()
    query = requests.listed(listing, on=on)
    total = await query.count()
    pager = paging(total, page_number(request.query_params.get("page")), PAGE_SIZE, "/privacy")
    rows = await query.offset(pager.offset).limit(pager.limit)
    names = await _names([r.lead_id for r in rows])  # type: ignore[attr-defined]
    return {
        "listing": listing,
        "listings": LISTINGS,
        "items": [(requests.present(r, on), names.get(r.lead_id)) for r in rows],  # type: ignore[attr-defined]
        "total": total,
        "summary": await requests.due_summary(on),
        "flagged": await flagged_count(),
        "kinds": list(RequestKind),
        "channels": list(RequestChannel),
        "today": on,
        **pager.template_vars(),
    }


async def _names(lead_ids: list[int | None]) -> dict[int, str]:
    ids = [i for i in lead_ids if i]
    rows = await Lead.filter(id__in=ids).values("id", "first_name", "last_name", "anonymised_at")
    return {
        r["id"]: ""
        if r["anonymised_at"]
        else " ".join(p for p in (r["first_name"], r["last_name"]) if p)
        for r in rows
    }


@router.get("/privacy", include_in_schema=False)
async def register_page(request: Request, web_user: Manager) -> HTMLResponse:
    raw = request.query_params.get("listing") or "open"
    listing: requests.Listing = raw if raw in LISTINGS else "open"  # type: ignore[assignment]
    context = await _list_context(request, listing)
    context["form"] = _form_values(lead_id=request.query_params.get("lead_id", "")[:10])
    context["notice"] = request.session.pop(NOTICE_KEY, None)
    return render(request, "privacy/requests.html", context)


@router.post("/privacy/requests", include_in_schema=False)
async def create_request(request: Request, web_user: Manager) -> Response:
    form = await checked_form(request)
    values = {
        "kind": _text(form, "kind", 20),
        "received_via": _text(form, "received_via", 20),
        "lead_id": _optional_id(_text(form, "lead_id", 20)),
        "received_at": _text(form, "received_at", 40) or None,
        "requester": _text(form, "requester", 200) or None,
        "identity_checked": form.get("identity_checked") == "yes",
        "notes": _text(form, "notes") or None,
    }
    try:
        created = await requests.create_request(
            web_user.actor, RightsRequestIn.model_validate(values)
        )
    except ValidationError as exc:
        field, message = _first_error(exc)
        return await _refused_create(request, values, field, message)
    except DomainError as exc:
        return await _refused_create(request, values, exc.field or "form", exc.message)
    return _redirect(f"/privacy/requests/{created.id}")


async def _refused_create(
    request: Request, values: dict[str, Any], field: str, message: str
) -> HTMLResponse:
    context = await _list_context(request, "open")
    context["form"] = _form_values(**values, error_field=field, error=message)
    return render(request, "privacy/requests.html", context, status_code=422)


def _form_values(**values: Any) -> dict[str, Any]:
    # Every field the new-request form shows, empty unless typed.
    fields = ("kind", "received_via", "lead_id", "received_at", "requester", "notes")
    blank = dict.fromkeys(fields, "") | {"identity_checked": False}
    return blank | {"error": None, "error_field": None} | values


async def _request_or_404(raw_id: str) -> RightsRequest:
    found = await RightsRequest.get_or_none(id=path_id(raw_id))
    if found is None:
        raise PageError(404)
    return found


async def _detail(
    request: Request, found: RightsRequest, *, error: tuple[str, str] | None = None
) -> HTMLResponse:
    lead = await Lead.get_or_none(id=found.lead_id) if found.lead_id else None  # type: ignore[attr-defined]
    view = requests.present(found)
    return render(
        request,
        "privacy/request.html",
        {
            "r": view,
            "lead": lead,
            "latest_deadline": requests.latest_deadline(found),
            "is_open": found.status in requests.OPEN_STATUSES,
            "marketing": MARKETING_PURPOSES,
            "error_field": error[0] if error else None,
            "error": error[1] if error else None,
            "notice": request.session.pop(NOTICE_KEY, None),
        },
        status_code=422 if error else 200,
    )


@router.get("/privacy/requests/{request_id}", include_in_schema=False)
async def request_page(request: Request, request_id: str, web_user: Manager) -> HTMLResponse:
    return await _detail(request, await _request_or_404(request_id))


@router.post("/privacy/requests/{request_id}/{action}", include_in_schema=False)
async def request_action(
    request: Request, request_id: str, action: str, web_user: Manager
) -> Response:
    found = await _request_or_404(request_id)
    form = await checked_form(request)
    actor = web_user.actor
    lead_id = found.lead_id  # type: ignore[attr-defined]
    try:
        if action == "update":
            data = RightsRequestUpdate.model_validate(
                {
                    "lead_id": _optional_id(_text(form, "lead_id", 20)),
                    "identity_checked": form.get("identity_checked") == "yes",
                }
            )
            await requests.update_request(actor, found.id, data)
        elif action == "extend":
            extension = RequestExtension.model_validate(
                {"due_on": _text(form, "due_on", 20), "reason": _text(form, "reason", 500)}
            )
            await requests.extend_request(actor, found.id, extension)
        elif action == "close":
            closing = RequestClosing.model_validate(
                {"status": _text(form, "status", 10), "outcome": _text(form, "outcome", 500)}
            )
            await requests.close_request(actor, found.id, closing)
        elif action == "erase":
            if lead_id is None:
                return await _detail(request, found, error=("lead_id", "link the person first"))
            if form.get("confirm") != "yes":
                return await _detail(request, found, error=("confirm", "confirm the erasure"))
            await erase_person(actor, lead_id, reason="request", request_id=found.id)
            request.session[NOTICE_KEY] = "erased"
        elif action == "objection":
            if lead_id is None:
                return await _detail(request, found, error=("lead_id", "link the person first"))
            await object_to_marketing(actor, lead_id, MARKETING_PURPOSES, request_id=found.id)
            request.session[NOTICE_KEY] = "objection"
        else:
            raise PageError(404)
    except ValidationError as exc:
        return await _detail(request, found, error=_first_error(exc))
    except DomainError as exc:
        await found.refresh_from_db()
        return await _detail(request, found, error=(exc.field or "form", exc.message))
    return _redirect(f"/privacy/requests/{found.id}")


@router.get("/privacy/retention", include_in_schema=False)
async def retention_page(request: Request, web_user: Manager) -> HTMLResponse:
    page = page_number(request.query_params.get("page"))
    items, total = await flagged_people(limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    pager = paging(total, page, PAGE_SIZE, "/privacy/retention")
    return render(
        request,
        "privacy/retention.html",
        {
            "items": items,
            "total": total,
            "notice": request.session.pop(NOTICE_KEY, None),
            "today": requests.today(),
            **pager.template_vars(),
        },
    )


@router.post("/privacy/retention/{lead_id}/keep", include_in_schema=False)
async def keep(request: Request, lead_id: str, web_user: Manager) -> Response:
    person = path_id(lead_id)
    form = await checked_form(request)
    reason = _text(form, "reason", 200)
    try:
        until = date.fromisoformat(_text(form, "until", 20))
        if not reason:
            raise ValueError
        await keep_person(web_user.actor, person, until, reason)
    except (ValueError, DomainError):
        request.session[NOTICE_KEY] = "keep_refused"
        return _redirect("/privacy/retention")
    request.session[NOTICE_KEY] = "kept"
    return _redirect("/privacy/retention")
