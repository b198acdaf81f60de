"""The duplicate pages: the review list of possible duplicates, and the merge page that shows two
records side by side. Admins and coordinators only (the API's own rule)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from tortoise.functions import Count

from crm.auth.deps import MANAGERS
from crm.errors import Conflict, InvalidInput, NotFound
from crm.outreach.models import OutreachEvent
from crm.people import duplicates, merge
from crm.people.models import Lead
from crm.referrals.models import PartnerOrganisation
from crm.web.csrf import checked_form
from crm.web.render import PageError, page_number, paging, path_id, render, staff_names
from crm.web.session import WebUser, require_user

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
NOTICE_KEY = "lead_notice"  # shown once on the kept person's page after a merge
# Rows that tell a reviewer how much each record holds, in this order (any other table that
# points at a person is shown after them under its own name).
_COUNTED = (
    "interaction",
    "outbox_message",
    "inbound_message",
    "referral",
    "consent_record",
    "event_registration",
)


async def require_manager(request: Request) -> WebUser:
    web_user = await require_user(request)
    if web_user.actor.role not in MANAGERS:
        raise PageError(403)
    return web_user


Manager = Annotated[WebUser, Depends(require_manager)]


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/leads/duplicates", include_in_schema=False)
async def duplicate_list(request: Request, web_user: Manager) -> HTMLResponse:
    found = await duplicates.find_candidates()
    total = len(found)
    pager = paging(
        total, page_number(request.query_params.get("page")), PAGE_SIZE, "/leads/duplicates"
    )
    shown = found[pager.offset : pager.offset + pager.limit]
    pairs = [
        {"a": low, "b": high, "reasons": c.ordered_reasons, "score": c.score}
        for c, low, high in await duplicates.with_people(shown)
    ]
    return render(
        request,
        "leads/duplicates.html",
        {
            "pairs": pairs,
            "total": total,
            **pager.template_vars(),
        },
    )


def _form_id(raw: object) -> int:
    return path_id(str(raw or ""))


@router.post("/leads/duplicates/dismiss", include_in_schema=False)
async def dismiss_pair(request: Request, web_user: Manager) -> Response:
    form = await checked_form(request)
    a, b = _form_id(form.get("a")), _form_id(form.get("b"))
    try:
        await duplicates.dismiss([a, b], actor=web_user.actor)
    except (InvalidInput, NotFound):
        raise PageError(404) from None
    page = page_number(str(form.get("page") or ""))
    return _redirect("/leads/duplicates" + (f"?page={page}" if page > 1 else ""))


# --- the merge page ------------------------------------------------------------------------------


# Rows every person has or that only mirror other rows: not worth a line on the page.
_HIDDEN = {"lead_stage_change", "lead_segment", "conversation"}


async def _counts(a_id: int, b_id: int) -> list[tuple[str, int, int]]:
    """(table, rows of a, rows of b): the usual tables first, then any other that has rows."""
    found: dict[str, list[int]] = {}
    for relation in merge.lead_relations():
        pair = found.setdefault(relation.table, [0, 0])
        column = relation.column
        rows = await (
            relation.model.filter(**{f"{column}__in": [a_id, b_id]})
            .annotate(n=Count(relation.model._meta.pk_attr))
            .group_by(column)
            .values_list(column, "n")
        )
        for lead_id, n in rows:
            pair[0 if lead_id == a_id else 1] += n
    rows = [(table, *found.pop(table, [0, 0])) for table in _COUNTED]
    rest = sorted((t, a, b) for t, (a, b) in found.items() if (a or b) and t not in _HIDDEN)
    return rows + rest  # type: ignore[return-value]


async def _display(leads: list[Lead]) -> dict[str, dict[int, str]]:
    """Names for the ids a person holds (event, partner, staff)."""
    events = {x for lead in leads if (x := lead.event_id)}  # type: ignore[attr-defined]
    partners = {x for lead in leads if (x := lead.referring_partner_id)}  # type: ignore[attr-defined]
    staff = {
        x
        for lead in leads
        for x in (lead.assigned_agent_id, lead.reached_by_id)  # type: ignore[attr-defined]
        if x
    }
    names = await staff_names(staff)
    return {
        "event_id": {e.id: e.title for e in await OutreachEvent.filter(id__in=list(events))},
        "referring_partner_id": {
            p.id: p.name for p in await PartnerOrganisation.filter(id__in=list(partners))
        },
        "assigned_agent_id": names,
        "reached_by_id": names,
    }


def _value(lead: Lead, name: str, names: dict[str, dict[int, str]]) -> Any:
    value = getattr(lead, name)
    if name in names and value:
        return names[name].get(value, f"#{value}")
    return value


async def _pair(request: Request) -> tuple[Lead, Lead]:
    params = request.query_params
    a, b = _form_id(params.get("a")), _form_id(params.get("b"))
    if a == b:
        raise PageError(404)
    found = {lead.id: lead for lead in await Lead.filter(id__in=[a, b])}
    if a not in found or b not in found:
        raise PageError(404)
    return found[a], found[b]


async def _reasons(a: Lead, b: Lead) -> list[str]:
    for match in await duplicates.candidates_of(a):
        if match.lead.id == b.id:
            return match.ordered_reasons
    return []


async def _merge_page(
    request: Request,
    a: Lead,
    b: Lead,
    *,
    keep: str,
) -> HTMLResponse:
    names = await _display([a, b])
    kept, merged = (a, b) if keep == "a" else (b, a)
    defaults = merge.default_choices(kept, merged)
    rows = []
    for name in merge.CHOOSABLE:
        va, vb = _value(a, name, names), _value(b, name, names)
        side = keep if defaults[name] == "kept" else ("b" if keep == "a" else "a")
        rows.append({"name": name, "a": va, "b": vb, "differs": va != vb, "side": side})
    return render(
        request,
        "leads/merge.html",
        {
            "a": a,
            "b": b,
            "keep": keep,
            "rows": rows,
            "counts": await _counts(a.id, b.id),
            "reasons": await _reasons(a, b),
        },
    )


@router.get("/leads/merge", include_in_schema=False)
async def merge_page(request: Request, web_user: Manager) -> HTMLResponse:
    a, b = await _pair(request)
    # The older record stays by default: its id is the one already written on paper and in
    # partners' systems.
    keep = "a" if (a.created_at, a.id) <= (b.created_at, b.id) else "b"
    return await _merge_page(request, a, b, keep=keep)


@router.post("/leads/merge", include_in_schema=False)
async def merge_submit(request: Request, web_user: Manager) -> Response:
    form = await checked_form(request, max_fields=len(merge.CHOOSABLE) + 10)
    a_id, b_id = _form_id(form.get("a")), _form_id(form.get("b"))
    keep = "b" if form.get("keep") == "b" else "a"
    kept_id, merged_id = (a_id, b_id) if keep == "a" else (b_id, a_id)
    merged_side = "b" if keep == "a" else "a"
    picked = {
        name: str(form.get(f"f_{name}"))
        for name in merge.CHOOSABLE
        if form.get(f"f_{name}") in ("a", "b")
    }
    choices = {name: "merged" if side == merged_side else "kept" for name, side in picked.items()}
    reason = str(form.get("reason") or "").strip()[:500]
    try:
        kept, _record = await merge.merge_leads(
            kept_id, merged_id, choices=choices, reason=reason or None, actor=web_user.actor
        )
    except NotFound:
        raise PageError(404) from None
    except Conflict:  # the same record on both sides (the choices are valid by construction)
        raise PageError(409) from None
    request.session[NOTICE_KEY] = {"merged_id": merged_id}
    return _redirect(f"/leads/{kept.id}")
