"""Field app: the agent's people (search and list) and one person's page with its quick
actions.

The stage, follow-up and interaction forms follow the field app's form convention
(`data-sync`, `data-base`, a server-made `client_id`): crm/static/field/app.js queues them
offline and sends them through /field/sync. The POST handlers here are the path without
JavaScript: they build the same single item and give it to the same service
(`crm.outreach.sync.apply_item`), so both paths store, refuse and detect conflicts alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import uuid4

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from crm.config import settings
from crm.errors import InvalidInput, NotFound
from crm.outreach import followups, sync
from crm.outreach.models import InteractionChannel, InteractionKind, Interest
from crm.people import service as people
from crm.people.models import Lead, Stage
from crm.people.segments import label as segment_label
from crm.people.segments import vocabulary
from crm.people.timeline import timeline
from crm.privacy.view_audit import record_view
from crm.referrals import service as referrals
from crm.referrals.models import ReferralPurpose
from crm.web.csrf import checked_form
from crm.web.field.common import FieldUser, render_field
from crm.web.render import PageError, page_number, paging, path_id, staff_names
from crm.web.session import WebUser, is_local_path, ui_language

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 30
_MAX_QUERY = 100
_MAX_VALUE = 10_000
# The person's fields the field pages change, and the form each one belongs to.
UPDATE_FIELDS = ("stage", "lost_reason", "follow_up_on")
_FORM_OF_FIELD = {"stage": "stage", "lost_reason": "stage", "follow_up_on": "follow_up"}
_INTERACTION_FIELDS = ("kind", "channel", "notes", "interest", "event_id", "occurred_at")


# --- shared by the field pages ------------------------------------------------------------------


async def visible_lead(web_user: WebUser, raw_id: str) -> Lead:
    try:
        return await people.get_visible_lead(web_user.actor, path_id(raw_id))
    except NotFound:
        raise PageError(404) from None


def new_client_id() -> str:
    return str(uuid4())


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value[:_MAX_VALUE] if isinstance(value, str) else ""


def _or_none(value: str) -> str | None:
    value = value.strip()
    return value or None


def shown(value: Any) -> Any:
    """A field's value as a form shows it and sends it back in `base` (JSON-like)."""
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "value"):  # an enum member
        return value.value
    return value


# --- the list -----------------------------------------------------------------------------------


@router.get("/field/people", include_in_schema=False)
async def people_list(request: Request, web_user: FieldUser) -> HTMLResponse:
    params = request.query_params
    q = params.get("q", "").strip()[:_MAX_QUERY]
    page = page_number(params.get("page"))
    rows, total = await followups.recently_contacted(
        web_user.actor, q, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    pager = paging(total, page, PAGE_SIZE, "/field/people", {"q": q}, clamp=False)
    return render_field(
        request,
        "field/people_list.html",
        {
            "leads": rows,
            "total": total,
            "q": q,
            **pager.template_vars(),
        },
        section="people",
    )


# --- one person ---------------------------------------------------------------------------------


@dataclass
class FormError:
    form: str  # stage, follow_up, log or refer
    field: str
    detail: str


@dataclass
class PersonForms:
    """What the person's forms show: the values typed (kept after a refusal), their
    `client_id`s, and what went wrong."""

    stage: dict[str, Any] = field(default_factory=dict)
    follow_up: dict[str, Any] = field(default_factory=dict)
    log: dict[str, Any] = field(default_factory=dict)
    refer: dict[str, Any] = field(default_factory=dict)
    error: FormError | None = None
    conflict: dict[str, Any] | None = None


async def _person_page(
    request: Request,
    web_user: WebUser,
    lead: Lead,
    forms: PersonForms | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    actor = web_user.actor
    forms = forms or PersonForms()
    language = ui_language(request)
    vocab = await vocabulary()
    codes = (await people.segments_of([lead.id])).get(lead.id, [])
    consents = (await people.current_consents([lead.id])).get(lead.id, [])
    items = await timeline(lead, actor)
    names = await staff_names(
        {item.data.get("author_id") or item.data.get("by_user_id") for item in items}
    )
    stage_base = {"stage": shown(lead.stage), "lost_reason": lead.lost_reason}
    follow_base = {"follow_up_on": shown(lead.follow_up_on)}
    return render_field(
        request,
        "field/person.html",
        {
            "lead": lead,
            "segments": [segment_label(code, language, vocab) for code in codes],
            "consents": consents,
            "sharing_allowed": any(
                c.purpose == "share_with_partners" and c.granted for c in consents
            ),
            "timeline": items,
            "names": names,
            "sees_notes": actor.sees_notes,
            "our_name": settings.ORGANISATION_NAME,
            "stages": [s.value for s in Stage],
            "kinds": [k.value for k in InteractionKind],
            "channels": [c.value for c in InteractionChannel],
            "interests": [i.value for i in Interest],
            "purposes": [p.value for p in ReferralPurpose],
            "partners": await referrals.active_partners(),
            "events": await followups.recent_events(actor),
            "stage_form": {
                "client_id": new_client_id(),
                **stage_base,
                "base": stage_base,
                **forms.stage,
            },
            "follow_form": {
                "client_id": new_client_id(),
                "clear_client_id": new_client_id(),
                **follow_base,
                "base": follow_base,
                **forms.follow_up,
            },
            "log_form": {
                "client_id": new_client_id(),
                **dict.fromkeys(_INTERACTION_FIELDS, ""),
                **forms.log,
            },
            "refer_form": {"partner_id": "", "purpose": "", "notes": "", **forms.refer},
            "error": forms.error,
            "conflict": forms.conflict,
        },
        section="people",
        status_code=status_code,
    )


@router.get("/field/people/{lead_id}", include_in_schema=False)
async def person(request: Request, lead_id: str, web_user: FieldUser) -> HTMLResponse:
    lead = await visible_lead(web_user, lead_id)
    await record_view(web_user.actor, lead.id, "field")
    return await _person_page(request, web_user, lead)


def _done_url(form: FormData, lead: Lead) -> str:
    # Where a stored change leads: back to the field page the form was on, else the person.
    target = form.get("next")
    if is_local_path(target) and str(target).startswith("/field/"):
        return str(target)
    return f"/field/people/{lead.id}"


def _readable(name: str, value: Any) -> Any:
    # The sync answers JSON-like values; a date is shown as a date.
    if name == "follow_up_on" and isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    return value


def _error_field(result: sync.ItemResult) -> str:
    return (result.field or "item").removeprefix("changes.")


def _kept_client_id(client_id: str, error_field: str) -> str:
    # Nothing was stored under a refused item's client_id: the corrected form keeps it, so a
    # double tap on "save" still stores once. A client_id refused itself is replaced.
    return client_id if client_id and error_field != "client_id" else new_client_id()


@router.post("/field/people/{lead_id}/update", include_in_schema=False)
async def update(request: Request, lead_id: str, web_user: FieldUser) -> Response:
    form = await checked_form(request)
    lead = await visible_lead(web_user, lead_id)
    changes: dict[str, Any] = {
        name: _or_none(_text(form, name)) for name in UPDATE_FIELDS if name in form
    }
    base = {
        name: _or_none(_text(form, f"base_{name}")) for name in changes if f"base_{name}" in form
    }
    client_id = _text(form, "client_id").strip()
    item = {
        "type": "update",
        "client_id": client_id,
        "lead_id": lead.id,
        "changes": changes,
        "base": base,
    }
    result = await sync.apply_item(item, actor=web_user.actor)
    if result.done:
        return _redirect(_done_url(form, lead))
    which = next((_FORM_OF_FIELD[name] for name in changes), "stage")
    typed = {name: value or "" for name, value in changes.items()}
    if result.status == "conflict":
        await lead.refresh_from_db()
        server_base = {name: shown(getattr(lead, name)) for name in changes}
        conflict = {
            "conflicts": [
                {
                    "field": c["field"],
                    "yours": _readable(c["field"], c["yours"]),
                    "server": _readable(c["field"], c["server"]),
                }
                for c in result.conflicts
            ],
            "changes": typed,
            "base": server_base,
            "client_id": new_client_id(),
            "next": _done_url(form, lead),
        }
        return await _person_page(
            request, web_user, lead, PersonForms(conflict=conflict), status_code=409
        )
    error_field = _error_field(result)
    forms = PersonForms(error=FormError(which, error_field, result.detail or ""))
    # What was typed stays, and the base stays what the agent saw.
    kept = {**typed, "client_id": _kept_client_id(client_id, error_field), "base": base}
    if which == "stage":
        forms.stage = kept
    else:
        forms.follow_up = {**kept, "clear_client_id": new_client_id()}
    return await _person_page(request, web_user, lead, forms, status_code=422)


@router.post("/field/people/{lead_id}/interactions", include_in_schema=False)
async def log_interaction(request: Request, lead_id: str, web_user: FieldUser) -> Response:
    form = await checked_form(request)
    lead = await visible_lead(web_user, lead_id)
    typed = {name: _text(form, name) for name in _INTERACTION_FIELDS}
    client_id = _text(form, "client_id").strip()
    item: dict[str, Any] = {
        "type": "interaction",
        "client_id": client_id,
        "lead_id": lead.id,
        **{name: _or_none(value) for name, value in typed.items()},
    }
    result = await sync.apply_item(item, actor=web_user.actor)
    if result.done:
        return _redirect(_done_url(form, lead))
    forms = PersonForms(
        log={**typed, "client_id": _kept_client_id(client_id, _error_field(result))},
        error=FormError("log", _error_field(result), result.detail or ""),
    )
    return await _person_page(request, web_user, lead, forms, status_code=422)


@router.post("/field/people/{lead_id}/referrals", include_in_schema=False)
async def refer(request: Request, lead_id: str, web_user: FieldUser) -> Response:
    form = await checked_form(request)
    lead = await visible_lead(web_user, lead_id)
    typed = {name: _text(form, name) for name in ("partner_id", "purpose", "notes")}
    problem: FormError | None = None
    partner_id = typed["partner_id"].strip()
    purpose = typed["purpose"].strip()
    if not (partner_id.isascii() and partner_id.isdigit() and len(partner_id) < 10):
        problem = FormError("refer", "partner_id", "choose a partner")
    elif purpose not in {p.value for p in ReferralPurpose}:
        problem = FormError("refer", "purpose", "choose a purpose")
    elif len(typed["notes"]) > 5000:
        problem = FormError("refer", "notes", "at most 5000 characters")
    else:
        try:
            await referrals.refer_out(
                lead,
                partner_id=int(partner_id),
                purpose=ReferralPurpose(purpose),
                notes=_or_none(typed["notes"]),
                actor=web_user.actor,
            )
        except InvalidInput as exc:
            problem = FormError("refer", exc.field or "partner_id", exc.message)
    if problem is None:
        return _redirect(f"/field/people/{lead.id}#timeline")
    forms = PersonForms(refer=typed, error=problem)
    return await _person_page(request, web_user, lead, forms, status_code=422)
