"""Referring a person to a partner from their desktop page. When the person's consent to share
their details with partners is missing, it is recorded first, in the same transaction, with
the words they agreed to (the consent text in their language and its version); then the
referral goes through the same service as the field app and the API, so only the minimal data
for the purpose travels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from tortoise.transactions import in_transaction

from crm.auth.actor import Actor
from crm.enums import Language, Role
from crm.errors import DomainError, InvalidInput
from crm.people import consent_texts
from crm.people import service as people
from crm.people.models import ConsentPurpose, ConsentSource, Lead
from crm.people.schemas import ConsentIn
from crm.referrals import service as referrals
from crm.referrals.models import ReferralPurpose
from crm.web.csrf import checked_form
from crm.web.referral_forms import CONSENT_METHODS
from crm.web.render import PageError, path_id
from crm.web.session import WebUser, require_user

router = APIRouter(include_in_schema=False)

# Who refers people out: the roles that handle referrals for our organisation.
REFERRERS = (Role.ADMIN, Role.COORDINATOR, Role.AGENT)
_MAX_NOTES = 5000
_SHARE = ConsentPurpose.SHARE_WITH_PARTNERS


@dataclass
class ReferForm:
    """What was typed in the refer form, and the error to show beside it."""

    partner_id: str = ""
    purpose: str = ""
    notes: str = ""
    consent_agreed: bool = False
    consent_method: str = "verbal"
    consent_language: str = ""
    error_field: str | None = None
    error: str | None = None


async def refer_context(lead: Lead, actor: Actor, form: ReferForm | None) -> dict[str, Any]:
    """The refer box of the person's page (None for roles that do not refer people)."""
    if actor.role not in REFERRERS:
        return {"refer": None}
    form = form or ReferForm()
    if not form.consent_language:
        form.consent_language = str(lead.language or Language.FR)
    return {
        "refer": {
            "form": form,
            "partners": await referrals.active_partners(),
            "purposes": list(ReferralPurpose),
            "consent_granted": await referrals.sharing_consent_granted(lead.id),
            "consent_texts": {
                str(language): consent_texts.text(_SHARE, str(language)) for language in Language
            },
            "consent_version": consent_texts.CURRENT,
            "methods": CONSENT_METHODS,
        }
    }


def _typed(form: Any) -> ReferForm:
    return ReferForm(
        partner_id=str(form.get("partner_id") or "").strip()[:12],
        purpose=str(form.get("purpose") or "").strip()[:40],
        notes=str(form.get("notes") or "")[: _MAX_NOTES + 1],
        consent_agreed=form.get("consent_agreed") == "yes",
        consent_method=str(form.get("consent_method") or "verbal")[:40],
        consent_language=str(form.get("consent_language") or "")[:2],
    )


def _problem(typed: ReferForm) -> tuple[str, str] | None:
    if not typed.partner_id.isdigit() or not 0 < int(typed.partner_id) < 2**31:
        return "partner_id", "choose a partner"
    if typed.purpose not in set(ReferralPurpose):
        return "purpose", "choose a purpose"
    if len(typed.notes) > _MAX_NOTES:
        return "notes", f"at most {_MAX_NOTES} characters"
    if typed.consent_agreed:  # the consent part of the form is there only when it is missing
        if typed.consent_method not in CONSENT_METHODS:
            return "consent_method", "choose how the person agreed"
        if typed.consent_language not in set(Language):
            return "consent_language", "choose the language of the text the person agreed to"
    return None


@router.post("/leads/{lead_id}/referrals", include_in_schema=False)
async def refer(
    request: Request, lead_id: str, web_user: Annotated[WebUser, Depends(require_user)]
) -> Response:
    form = await checked_form(request)
    actor = web_user.actor
    if actor.role not in REFERRERS:
        raise PageError(403)
    lead = await people.visible_leads(actor).get_or_none(id=path_id(lead_id))
    if lead is None:
        raise PageError(404)
    typed = _typed(form)
    problem = _problem(typed)
    if problem is None:
        try:
            async with in_transaction():
                if not await referrals.sharing_consent_granted(lead.id):
                    if not typed.consent_agreed:
                        raise InvalidInput(
                            "the person must agree to their details being shared first",
                            field="consent_agreed",
                        )
                    await people.record_consent(
                        lead,
                        ConsentIn(
                            purpose=_SHARE,
                            granted=True,
                            method=typed.consent_method,
                            text_version=consent_texts.version_tag(typed.consent_language),
                        ),
                        source=ConsentSource.WEB,
                        actor=actor,
                    )
                result = await referrals.refer_out(
                    lead,
                    partner_id=int(typed.partner_id),
                    purpose=ReferralPurpose(typed.purpose),
                    notes=typed.notes.strip() or None,
                    actor=actor,
                )
        except DomainError as exc:
            problem = (exc.field or "partner_id", exc.message)
        else:
            return RedirectResponse(f"/referrals/{result.referral.id}", status_code=303)
    typed.error_field, typed.error = problem
    return await _again(request, lead, web_user, typed)


async def _again(request: Request, lead: Lead, web_user: WebUser, typed: ReferForm) -> HTMLResponse:
    from crm.web.leads import render_lead_page  # the page module imports this one

    return await render_lead_page(request, lead, web_user, refer=typed, status_code=422)
