"""The export page: choose a dataset, a format and filters, download the file.

The download is a POST with the CSRF token, not a link: an export writes an audit entry and
hands people's data out, so another site must not be able to start one in a signed-in
browser (a GET could be triggered by an <img> or a link). The people list links here with its
filters filled in."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from crm.enums import STAFF_ROLES, Language
from crm.errors import DomainError
from crm.geo import Region
from crm.people.models import Stage
from crm.people.segments import label as segment_label
from crm.people.segments import vocabulary
from crm.referrals.models import PartnerOrganisation
from crm.transfer import exports
from crm.transfer.export_filters import DATE_FILTERS, ID_FILTERS, LIST_FILTERS, parse_filters
from crm.transfer.export_permission import user_may_export
from crm.transfer.export_routes import download_response
from crm.web.csrf import checked_form
from crm.web.render import PageError, render
from crm.web.session import WebUser, require_user, ui_language

router = APIRouter(include_in_schema=False)

SignedIn = Annotated[WebUser, Depends(require_user)]
FILTER_FIELDS = ("q", *LIST_FILTERS, *ID_FILTERS, *DATE_FILTERS)
FIELDS = ("dataset", "format", "delimiter", *FILTER_FIELDS)
_MAX_VALUE = 100


def _allowed(web_user: WebUser) -> None:
    if web_user.actor.role not in STAFF_ROLES or not user_may_export(web_user.user):
        raise PageError(403)


def _values(source: Any) -> dict[str, str]:
    # One value per field (the form has one control each), cut to a sane length.
    return {name: str(source.get(name) or "").strip()[:_MAX_VALUE] for name in FIELDS}


async def _page(
    request: Request,
    web_user: WebUser,
    values: dict[str, str],
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    language = ui_language(request)
    vocab = await vocabulary()
    datasets = [d.name for d in exports.datasets_for(web_user.actor)]
    if values.get("dataset") not in datasets:
        values["dataset"] = datasets[0] if datasets else ""
    return render(
        request,
        "transfer/export.html",
        {
            "v": values,
            "error": error,
            "datasets": datasets,
            "stages": [s.value for s in Stage],
            "languages": [lang.value for lang in Language],
            "regions": [r.value for r in Region],
            "segments": sorted(
                ((code, segment_label(code, language, vocab)) for code in vocab),
                key=lambda pair: pair[1].casefold(),
            ),
            "partners": await PartnerOrganisation.all().order_by("name").values_list("id", "name"),
        },
        status_code=status_code,
    )


@router.get("/exports", include_in_schema=False)
async def export_page(request: Request, web_user: SignedIn) -> Response:
    _allowed(web_user)
    values = _values(request.query_params)
    values["format"] = values["format"] if values["format"] in exports.FORMATS else "xlsx"
    values["delimiter"] = values["delimiter"] if values["delimiter"] in exports.DELIMITERS else ";"
    return await _page(request, web_user, values)


@router.post("/exports", include_in_schema=False)
async def export_download(request: Request, web_user: SignedIn) -> Response:
    form = await checked_form(request)
    _allowed(web_user)
    values = _values(form)
    try:
        filters = parse_filters({name: values[name] for name in FILTER_FIELDS})
        request_ = exports.ExportRequest(
            values["dataset"], values["format"], filters, values["delimiter"] or ";"
        )
        prepared = await exports.prepare_download(web_user.actor, request_)
    except DomainError as exc:
        detail = f"{exc.field}: {exc.message}" if exc.field else exc.message
        return await _page(request, web_user, values, error=detail, status_code=422)
    return download_response(prepared)
