"""The partner portal (`/partner/`): a partner organisation's users send us people, with the
consent text the person agreed to, and follow what became of the referrals they sent and of
those they received. Everything is scoped by `referrals.service.visible_referrals`: a partner
sees its own organisation's referrals and nothing else (another one's is a 404)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData
from tortoise.expressions import Q

from crm.config import settings
from crm.enums import Language
from crm.errors import DomainError
from crm.people import consent_texts
from crm.privacy.view_audit import record_view
from crm.referrals import service
from crm.referrals.models import ReferralPurpose, ReferralStatus
from crm.referrals.schemas import ReferralCreate
from crm.web.csrf import checked_form
from crm.web.labels import UI_LANGUAGE_NAMES
from crm.web.referral_forms import (
    CONSENT_METHODS,
    STATUSES,
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
from crm.web.session import WebUser, require_user, ui_language

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
DIRECTIONS = ("sent", "received")
PERSON_LANGUAGES = tuple(language.value for language in Language)
PURPOSES = tuple(p.value for p in ReferralPurpose)
_LIMITS = {
    "first_name": 100,
    "last_name": 100,
    "phone": 40,
    "email": 254,
    "postcode": 10,
    "external_ref": 100,
    "notes": 5000,
}


async def require_partner_user(request: Request) -> WebUser:
    web_user = await require_user(request)
    if not web_user.actor.is_partner or web_user.actor.organisation_id is None:
        raise PageError(403)
    return web_user


PartnerUser = Annotated[WebUser, Depends(require_partner_user)]


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# --- the list -----------------------------------------------------------------------------------


@router.get("/partner", include_in_schema=False)
async def portal_root(web_user: PartnerUser) -> Response:
    return _redirect("/partner/")


@router.get("/partner/", include_in_schema=False)
async def portal(request: Request, web_user: PartnerUser) -> HTMLResponse:
    """The organisation's referrals, both directions: received ones waiting for an answer
    first, then the others by their last change."""
    actor = web_user.actor
    org = actor.organisation_id
    params = request.query_params
    f = {
        "status": one_of(params.get("status"), STATUSES),
        "direction": one_of(params.get("direction"), DIRECTIONS),
        "q": search_text(params.get("q")),
    }
    qs = service.visible_referrals(actor)
    if f["direction"] == "sent":
        qs = qs.filter(sender_id=org)
    elif f["direction"] == "received":
        qs = qs.filter(receiver_id=org)
    if f["status"]:
        qs = qs.filter(status=f["status"])
    qs = name_search(qs, f["q"])
    total = await qs.count()
    pager = paging(total, page_number(params.get("page")), PAGE_SIZE, "/partner/", f)
    waiting = Q(receiver_id=org, status=ReferralStatus.REQUESTED)
    rows = await waiting_first(qs, waiting).offset(pager.offset).limit(pager.limit)
    return render(
        request,
        "partners/list.html",
        {
            "referrals": await with_parties(list(rows)),
            "organisation_id": org,
            "total": total,
            **pager.template_vars(),
            "f": f,
            "filtered": any(f.values()),
            "our_name": settings.ORGANISATION_NAME,
            "statuses": STATUSES,
        },
    )


# --- sending a referral -------------------------------------------------------------------------


@dataclass
class NewReferralForm:
    """The referral form: empty, or as typed when it was refused."""

    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    email: str = ""
    language: str = ""
    postcode: str = ""
    purpose: str = ""
    notes: str = ""
    external_ref: str = ""
    consent_agreed: bool = False
    consent_date: str = ""
    consent_method: str = ""
    # field name in the form → the service's or the validator's message
    errors: dict[str, str] = field(default_factory=dict)


def _read_new(form: FormData) -> NewReferralForm:
    def text(name: str, limit: int) -> str:
        value = form.get(name)
        return value.strip()[:limit] if isinstance(value, str) else ""

    # One character past each limit: the validator then says "too long" rather than the
    # form cutting what was typed.
    return NewReferralForm(
        **{name: text(name, limit + 1) for name, limit in _LIMITS.items()},
        language=one_of(text("language", 2), PERSON_LANGUAGES),
        purpose=one_of(text("purpose", 30), PURPOSES),
        consent_agreed=form.get("consent_agreed") == "yes",
        consent_date=text("consent_date", 10),
        consent_method=one_of(text("consent_method", 20), CONSENT_METHODS),
    )


def _given_at(data: NewReferralForm) -> datetime | None:
    """When the person agreed: the day given, at the current time when it is today (else at
    noon), in the business time zone. None when the day is not a date or in the future."""
    try:
        day = date.fromisoformat(data.consent_date)
    except ValueError:
        return None
    now = datetime.now(settings.tz)
    if day > now.date():
        return None
    if day == now.date():
        return now
    return datetime.combine(day, time(12), tzinfo=settings.tz)


# Where an error about a field of ReferralCreate is shown in the form.
_FORM_FIELD = {
    "person.first_name": "first_name",
    "person.last_name": "last_name",
    "person.phone": "phone",
    "person.email": "email",
    "person.language": "language",
    "person.postcode": "postcode",
    "purpose": "purpose",
    "notes": "notes",
    "external_ref": "external_ref",
    "consent": "consent_agreed",
    "consent.given_at": "consent_date",
    "consent.method": "consent_method",
    "consent.text_version": "language",
}


def _form_field(name: str) -> str:
    # The people service names a person's field without the "person." prefix.
    for key in (name, f"person.{name}", name.split(".")[0]):
        if key in _FORM_FIELD:
            return _FORM_FIELD[key]
    return "form"


def _checks(data: NewReferralForm) -> dict[str, str]:
    """What the form itself asks beyond the API: the consent text is shown in the person's
    language, so a language is needed to know which words they agreed to."""
    errors = {}
    if not data.language:
        errors["language"] = "choose the person's language"
    if not data.consent_agreed:
        errors["consent_agreed"] = "the person's consent is required"
    if _given_at(data) is None:
        errors["consent_date"] = "a date, today or before"
    if not data.consent_method:
        errors["consent_method"] = "choose how the person agreed"
    if not data.purpose:
        errors["purpose"] = "choose what the referral is for"
    return errors


def _as_create(data: NewReferralForm) -> ReferralCreate:
    person: dict[str, Any] = {
        "first_name": data.first_name,
        "last_name": data.last_name or None,
        "phone": data.phone or None,
        "email": data.email or None,
        "language": data.language or None,
        "postcode": data.postcode or None,
    }
    return ReferralCreate(
        external_ref=data.external_ref or None,
        person=person,  # type: ignore[arg-type]
        purpose=data.purpose,  # type: ignore[arg-type]
        notes=data.notes or None,
        consent={  # type: ignore[arg-type]
            "given_at": _given_at(data),
            "method": data.consent_method,
            "text_version": consent_texts.version_tag(data.language, consent_texts.INTAKE),
        },
    )


def _render_new(request: Request, data: NewReferralForm, *, status_code: int = 200) -> HTMLResponse:
    return render(
        request,
        "partners/new.html",
        {
            "form": data,
            # Each language under its own name: the person reads the consent text in it.
            "person_languages": [(code, UI_LANGUAGE_NAMES[code]) for code in PERSON_LANGUAGES],
            "consent_texts": {
                code: consent_texts.text("share_with_partners", code, consent_texts.INTAKE)
                for code in PERSON_LANGUAGES
            },
            "purposes": PURPOSES,
            "methods": CONSENT_METHODS,
            "today": datetime.now(settings.tz).date().isoformat(),
        },
        status_code=status_code,
    )


@router.get("/partner/referrals/new", include_in_schema=False)
async def new_referral_page(request: Request, web_user: PartnerUser) -> HTMLResponse:
    ui = ui_language(request)
    data = NewReferralForm(
        language=ui if ui in PERSON_LANGUAGES else "",
        consent_date=datetime.now(settings.tz).date().isoformat(),
    )
    return _render_new(request, data)


@router.post("/partner/referrals/new", include_in_schema=False)
async def send_referral(request: Request, web_user: PartnerUser) -> Response:
    form = await checked_form(request)
    data = _read_new(form)
    data.errors = _checks(data)
    if not data.errors:
        try:
            result = await service.intake(_as_create(data), actor=web_user.actor)
        except ValidationError as exc:
            for error in exc.errors():
                name = ".".join(str(part) for part in error["loc"])
                data.errors.setdefault(_form_field(name), error["msg"])
        except DomainError as exc:
            data.errors[_form_field(exc.field or "form")] = exc.message
        else:
            target = f"/partner/referrals/{result.referral.id}"
            # The same reference twice: the referral sent before, not a second one.
            return _redirect(target if result.created else f"{target}?existing=1")
    return _render_new(request, data, status_code=422)


# --- one referral -------------------------------------------------------------------------------


@router.get("/partner/referrals/{referral_id}", include_in_schema=False)
async def referral_page(
    request: Request, referral_id: str, web_user: PartnerUser, existing: str | None = None
) -> HTMLResponse:
    referral = await visible_referral(web_user.actor, referral_id)
    lead_id: int = referral.lead_id  # type: ignore[attr-defined]
    await record_view(web_user.actor, lead_id, "partner_portal")
    context = await detail_context(referral, web_user.actor)
    return render(
        request,
        "partners/detail.html",
        {**context, "existing": existing == "1", **_urls(referral.id)},
    )


def _urls(referral_id: int) -> dict[str, str]:
    return {
        "move_action": f"/partner/referrals/{referral_id}/status",
        "referral_base": "/partner/referrals/",
    }


@router.post("/partner/referrals/{referral_id}/status", include_in_schema=False)
async def move_referral(request: Request, referral_id: str, web_user: PartnerUser) -> Response:
    form = await checked_form(request)
    referral = await visible_referral(web_user.actor, referral_id)
    result = await apply_move(referral, read_move(form), web_user.actor)
    if result.error is None:
        return _redirect(f"/partner/referrals/{referral.id}#history")
    context = await detail_context(referral, web_user.actor, result=result)
    return render(
        request,
        "partners/detail.html",
        {**context, "existing": False, **_urls(referral.id)},
        status_code=result.error.status_code,
    )
