"""The record of processing activities (GDPR Art. 30) as a printable page, with its downloads
(JSON, XLSX), for admins and coordinators. Page and files come from the same
`crm.privacy.register.build_register`, in the reader's language.

The downloads are POSTs with the CSRF token, as every export here: each one writes an audit entry,
so another site must not be able to start one in a signed-in browser."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from crm.privacy.register import FORMATS, Translate, build_register, export_register
from crm.web.csrf import checked_form
from crm.web.duplicates import Manager
from crm.web.i18n import WebI18n
from crm.web.labels import N_
from crm.web.render import PageError, render
from crm.web.session import ui_language

router = APIRouter(include_in_schema=False)

PARTNER_KINDS = {
    "cpas": N_("CPAS / OCMW / ÖSHZ"),
    "employment_service": N_("Employment service"),
    "ngo": N_("NGO"),
    "municipality": N_("Municipality"),
    "support_structure": N_("Business support structure"),
    "other": N_("Other"),
}
ROLES = {
    "admin": N_("Administrator"),
    "coordinator": N_("Coordinator"),
    "marketing": N_("Marketing"),
    "agent": N_("Community agent"),
    "partner": N_("Partner organisation user"),
}


def _translate(request: Request) -> Translate:
    i18n: WebI18n = request.app.state.web_i18n
    return partial(i18n.gettext, ui_language(request))


def _names(register: dict[str, Any]) -> dict[str, dict[str, str]]:
    # The codes a purpose refers to, by section, with their (translated) names.
    return {
        section: {row["code"]: row.get("name") or row.get("data") for row in register[section]}
        for section in ("data_subjects", "data_categories", "recipients", "retention")
    }


@router.get("/privacy/register", include_in_schema=False)
async def register_page(request: Request, web_user: Manager) -> HTMLResponse:
    register = await build_register(_translate(request))
    return render(
        request,
        "privacy/register.html",
        {
            "register": register,
            "controller": register["controller"][0],
            "generated": datetime.fromisoformat(register["generated_at"]),
            "names": _names(register),
            "partner_kinds": PARTNER_KINDS,
            "roles": ROLES,
            "formats": FORMATS,
        },
    )


@router.post("/privacy/register.{fmt}", include_in_schema=False)
async def register_download(request: Request, fmt: str, web_user: Manager) -> Response:
    await checked_form(request)
    if fmt not in FORMATS:
        raise PageError(404)
    content, filename, media_type = await export_register(
        web_user.actor, fmt, via="page", translate=_translate(request)
    )
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
