"""The people pages: the filtered list and one person's page. Visibility is the API's own
(`people.service` with the signed-in Actor), so an agent sees exactly what the API shows them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import QueryParams

from crm import geo
from crm.auth.actor import Actor
from crm.config import settings
from crm.enums import STAFF_ROLES, Language, Role
from crm.errors import DomainError, NotFound
from crm.geo import Region
from crm.people import duplicates, merge, service
from crm.people.models import Background, EmploymentStatus, Gender, Lead, Stage
from crm.people.schemas import LeadUpdate
from crm.people.segments import label as segment_label
from crm.people.segments import vocabulary
from crm.people.timeline import timeline
from crm.privacy.models import RightsRequest
from crm.privacy.view_audit import record_view
from crm.referrals.models import PartnerOrganisation
from crm.web.csrf import checked_form
from crm.web.lead_referrals import ReferForm, refer_context
from crm.web.referral_forms import lead_referrals
from crm.web.render import PageError, page_number, paging, path_id, render, staff_names
from crm.web.session import WebUser, require_user, ui_language

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
_MAX_QUERY = 100

SignedIn = Annotated[WebUser, Depends(require_user)]


def _staff_only(web_user: WebUser) -> None:
    # Partner users get their own portal in a later issue; until then these pages are closed.
    if web_user.actor.role not in STAFF_ROLES:
        raise PageError(403)


@dataclass
class FilterForm:
    """What the filter form shows: only known values are kept, anything else is ignored."""

    q: str = ""
    stage: str = ""
    language: str = ""
    segment: str = ""
    region: str = ""

    def as_filters(self) -> service.LeadFilters:
        return service.LeadFilters(
            q=self.q or None,
            stage=[Stage(self.stage)] if self.stage else None,
            language=[self.language] if self.language else None,
            segment=[self.segment] if self.segment else None,
            region=[self.region] if self.region else None,
        )

    @property
    def active(self) -> bool:
        return any(self.__dict__.values())


def _one_of(params: QueryParams, name: str, allowed: set[str]) -> str:
    value = params.get(name, "")
    return value if value in allowed else ""


@router.get("/leads", include_in_schema=False)
async def lead_list(request: Request, web_user: SignedIn) -> HTMLResponse:
    _staff_only(web_user)
    params = request.query_params
    vocab = await vocabulary()
    form = FilterForm(
        q=params.get("q", "").strip()[:_MAX_QUERY],
        stage=_one_of(params, "stage", {s.value for s in Stage}),
        language=_one_of(params, "language", {lang.value for lang in Language}),
        segment=_one_of(params, "segment", set(vocab)),
        region=_one_of(params, "region", {r.value for r in Region}),
    )
    page = page_number(params.get("page"))
    leads, total = await service.list_leads(
        web_user.actor, form.as_filters(), limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    pager = paging(total, page, PAGE_SIZE, "/leads", asdict(form), clamp=False)
    language = ui_language(request)
    segments = sorted(
        ((code, segment_label(code, language, vocab)) for code in vocab),
        key=lambda pair: pair[1].casefold(),
    )
    return render(
        request,
        "leads/list.html",
        {
            "leads": leads,
            "total": total,
            **pager.template_vars(),
            "f": form,
            "filtered": form.active,
            "stages": [s.value for s in Stage],
            "languages": [lang.value for lang in Language],
            "segments": segments,
            "regions": [r.value for r in Region],
        },
    )


@router.get("/leads/{lead_id}", include_in_schema=False)
async def lead_page(request: Request, lead_id: str, web_user: SignedIn) -> HTMLResponse:
    _staff_only(web_user)
    actor = web_user.actor
    lead_pk = path_id(lead_id)
    try:
        lead = await service.get_visible_lead(actor, lead_pk)
    except NotFound:
        # A merged-away record's page leads to the person it became (if this user sees them).
        kept = await merge.merged_into_visible(actor, lead_pk)
        if kept is not None:
            return RedirectResponse(f"/leads/{kept}", status_code=303)  # type: ignore[return-value]
        raise PageError(404) from None
    await record_view(actor, lead.id, "page")
    return await render_lead_page(request, lead, web_user)


async def render_lead_page(
    request: Request,
    lead: Lead,
    web_user: WebUser,
    *,
    refer: ReferForm | None = None,
    funder: FunderForm | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """One person's page; `refer` and `funder` carry what was typed in the refer form or the
    funder details form, and its error."""
    actor = web_user.actor
    language = ui_language(request)
    vocab = await vocabulary()
    codes = (await service.segments_of([lead.id])).get(lead.id, [])
    consents = (await service.current_consents([lead.id])).get(lead.id, [])
    items = await timeline(lead, actor)
    people = await staff_names(
        {lead.assigned_agent_id}  # type: ignore[attr-defined]
        | {item.data.get("author_id") or item.data.get("by_user_id") for item in items}
    )
    partner_id = lead.referring_partner_id  # type: ignore[attr-defined]
    partner = await PartnerOrganisation.get_or_none(id=partner_id) if partner_id else None
    return render(
        request,
        "leads/detail.html",
        {
            "lead": lead,
            "segments": [segment_label(code, language, vocab) for code in codes],
            "consents": consents,
            "employment_service": geo.REGIONS[Region(lead.region)].employment_service
            if lead.region
            else None,
            "timeline": items,
            "people": people,
            "assigned_agent": people.get(lead.assigned_agent_id),  # type: ignore[attr-defined]
            "referring_partner": partner.name if partner else None,
            "sees_notes": actor.sees_notes,
            "our_name": settings.ORGANISATION_NAME,
            "referrals": await lead_referrals(actor, lead.id),
            # One person once: possible duplicates for those who review them, and the records
            # this one was merged from.
            "duplicate_matches": await duplicates.candidates_of(lead)
            if actor.sees_everything
            else [],
            "merged_from": await merge.merges_of(lead.id),
            # Admins and coordinators answer the person's rights requests.
            "answers_rights": actor.sees_everything,
            "rights_requests": await RightsRequest.filter(lead_id=lead.id).order_by("-received_at")
            if actor.sees_everything
            else [],
            **await refer_context(lead, actor, refer),
            **funder_context(lead, actor, funder),
        },
        status_code=status_code,
    )


# --- funder details --------------------------------------------------------------------------

# Who sees and edits the funder details: the roles the API lets change a person. Marketing
# builds audiences, and the self-declared background must never select one.
EDITORS = (Role.ADMIN, Role.COORDINATOR, Role.AGENT)
_YES_NO = {"": None, "yes": True, "no": False}
_MAX_TYPED = 40


@dataclass
class FunderForm:
    """The funder details as the form shows them (text as typed), and the error to show."""

    gender: str = ""
    birth_year: str = ""
    employment_status: str = ""
    background: str = ""
    social_assistance: str = ""  # "", "yes" or "no"
    jobs_created: str = ""
    jobs_kept: str = ""
    error_field: str | None = None
    error: str | None = None

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls) if not f.name.startswith("error")]

    @classmethod
    def of(cls, lead: Lead) -> FunderForm:
        def text(value: Any) -> str:
            if value is None:
                return ""
            if isinstance(value, bool):
                return "yes" if value else "no"
            return str(value)

        return cls(**{name: text(getattr(lead, name)) for name in cls.field_names()})

    @classmethod
    def typed(cls, form: Any) -> FunderForm:
        def text(name: str) -> str:
            value = str(form.get(name) or "").strip()
            # Shortened for showing again, never into something valid ("000…0012" is not 0).
            return value if len(value) <= _MAX_TYPED else value[:_MAX_TYPED] + "…"

        return cls(**{name: text(name) for name in cls.field_names()})

    def update(self) -> LeadUpdate:
        """The change to make (an empty field clears the value); raises ValidationError."""
        values: dict[str, Any] = {name: getattr(self, name) or None for name in self.field_names()}
        values["social_assistance"] = _YES_NO.get(self.social_assistance, self.social_assistance)
        return LeadUpdate.model_validate(values)


def funder_context(lead: Lead, actor: Actor, form: FunderForm | None) -> dict[str, Any]:
    """The funder details box of the person's page (None for roles that do not edit people)."""
    if actor.role not in EDITORS:
        return {"funder": None}
    return {
        "funder": {
            "form": form or FunderForm.of(lead),
            "genders": [g.value for g in Gender],
            "employment_statuses": [e.value for e in EmploymentStatus],
            "backgrounds": [b.value for b in Background],
        }
    }


@router.post("/leads/{lead_id}/funder-details", include_in_schema=False)
async def save_funder_details(request: Request, lead_id: str, web_user: SignedIn) -> Response:
    form = await checked_form(request)
    actor = web_user.actor
    if actor.role not in EDITORS:
        raise PageError(403)
    lead = await service.visible_leads(actor).get_or_none(id=path_id(lead_id))
    if lead is None:
        raise PageError(404)
    typed = FunderForm.typed(form)
    try:
        await service.update_lead(lead, typed.update(), actor=actor)
    except ValidationError as exc:
        error = exc.errors()[0]
        typed.error_field = str(error["loc"][0]) if error["loc"] else "form"
        typed.error = str(error["msg"]).removeprefix("Value error, ")
    except DomainError as exc:
        typed.error_field, typed.error = exc.field or "form", exc.message
    else:
        return RedirectResponse(f"/leads/{lead.id}#funder-title", status_code=303)
    # The row is unchanged; show it as stored, with the form as typed and its error.
    lead = await Lead.get(id=lead.id)
    return await render_lead_page(request, lead, web_user, funder=typed, status_code=422)
