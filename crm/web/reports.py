"""The report pages (`/reports`): the funnel dashboard with its charts, the attribution ("which
outreach brought the people we coached or financed"), the funders' indicators beside the
targets announced, the printable funder report, and every report as a CSV or XLSX file.

The pages only read the filters, call the report services (crm.reports) and shape their
answers for the templates; the files are made by `crm.reports.export` from the same calls, so
the page, the file and the API show the same figures. Charts are drawn by the vendored Chart.js
from JSON blocks in the page (crm/static/reports.js): no inline script. Downloads are POST forms
with the CSRF token, like /exports: an export is audited and must not start from another site.

Admins, coordinators and marketing staff read the reports; the named list of people is for
admins and coordinators; agents and partners get a 403."""

from __future__ import annotations

from typing import Any

from babel.dates import format_date
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from crm.errors import DomainError, InvalidInput
from crm.people.models import Stage
from crm.people.segments import vocabulary
from crm.reports import export
from crm.reports.access import PEOPLE_ROLES
from crm.reports.attribution import attribution
from crm.reports.campaign_results import campaign_results
from crm.reports.dimensions import Dimension, parse_dimension
from crm.reports.filters import parse_filters
from crm.reports.funnel import compare, funnel, trends
from crm.web.csrf import checked_form
from crm.web.render import PageError, page_number, paging, render
from crm.web.report_page import (
    MEASURES,
    PEOPLE_PAGE,
    Page,
    Reader,
    choices,
    export_fields,
    group_label,
    is_empty,
    require_reader,
    series,
    source_labels,
)

router = APIRouter(include_in_schema=False)


@router.get("/reports", include_in_schema=False)
async def dashboard(request: Request, web_user: Reader) -> HTMLResponse:
    page = Page(request, web_user, request.query_params)
    filters = await page.filters()
    context: dict[str, Any] = {"filters": filters}
    if filters is not None:
        try:
            dimension = parse_dimension(page.by) or Dimension.REGION
            page.by = dimension.value
            report = await funnel(filters)
            compared = await compare(filters, dimension)
            trend = await trends(filters)
            campaigns = await campaign_results(filters)
        except InvalidInput as exc:
            page.fail(exc)
            filters = context["filters"] = None
    if filters is not None:
        vocab = await vocabulary()
        groups = compared.rows + ([compared.others] if compared.others else [])
        labels = [group_label(page, dimension, r.key, r.label, vocab) for r in groups]
        main = [Stage.REACHED.value, Stage.COACHED.value, Stage.FINANCED.value]
        context.update(
            report=report,
            empty=is_empty(report),
            dimension=dimension.value,
            compare_rows=list(zip(labels, groups, strict=True)),
            trends=trend,
            campaign_rows=campaigns.campaigns,
            charts={
                "funnel-data": {
                    "type": "bar",
                    "horizontal": True,
                    "labels": [page.label("stage", s.stage) for s in report.stages],
                    "series": [
                        {"label": page.gettext("People"), "data": [s.people for s in report.stages]}
                    ],
                },
                "trends-data": {
                    "type": "line",
                    "labels": [
                        format_date(w.week, "d MMM yy", locale=page.locale) for w in trend.weeks
                    ],
                    "series": [
                        {
                            "label": page.label("stage", s),
                            "data": [w.counts[s] for w in trend.weeks],
                        }
                        for s in trend.series
                    ],
                },
                "compare-data": {
                    "type": "bar",
                    "horizontal": True,
                    "labels": labels,
                    "series": series(page, main, groups),
                },
                "campaigns-data": {
                    "type": "bar",
                    "horizontal": True,
                    "labels": [c.name for c in campaigns.campaigns],
                    "series": [
                        {
                            "label": page.label("campaign_measure", m),
                            "data": [getattr(c, m) for c in campaigns.campaigns],
                        }
                        for m in MEASURES
                    ],
                },
            },
        )
    context["export_fields"] = export_fields(filters, by=page.by)
    return render(
        request,
        "reports/dashboard.html",
        page.context(**context, **await choices(page), by=page.by),
        status_code=422 if page.errors else 200,
    )


@router.get("/reports/attribution", include_in_schema=False)
async def attribution_page(request: Request, web_user: Reader) -> HTMLResponse:
    page = Page(request, web_user, request.query_params)
    filters = await page.filters()
    context: dict[str, Any] = {"filters": filters}
    if filters is not None:
        with_people = web_user.actor.role in PEOPLE_ROLES
        report = await attribution(filters, with_people=with_people)
        labels = source_labels(page, report.sources)
        brought = list(zip(source_labels(page, report.brought), report.brought, strict=True))
        people = report.people or []
        pager = paging(
            len(people),
            page_number(request.query_params.get("page")),
            PEOPLE_PAGE,
            "/reports/attribution",
            dict(filters.query_items()),
        )
        context.update(
            report=report,
            source_rows=list(zip(labels, report.sources, strict=True)),
            brought_rows=brought,
            people=people[pager.offset : pager.offset + pager.limit],
            people_shown=len(people),
            **pager.template_vars(),
            charts={
                "sources-data": {
                    "type": "bar",
                    "horizontal": True,
                    "labels": [t for t, _ in brought],
                    "series": series(page, ["coached", "financed"], [r for _, r in brought]),
                }
            },
        )
    context["export_fields"] = export_fields(filters)
    return render(
        request,
        "reports/attribution.html",
        page.context(**context, **await choices(page)),
        status_code=422 if page.errors else 200,
    )


@router.post("/reports/export/{name}.{fmt}", include_in_schema=False)
async def export_file(request: Request, name: str, fmt: str) -> Response:
    form = await checked_form(request)
    web_user = await require_reader(request)
    try:
        filters = parse_filters(form, form.getlist)
        content, filename, media_type = await export.export_report(
            name,
            fmt,
            filters,
            actor=web_user.actor,
            by=str(form.get("by") or "") or None,
            population=str(form.get("population") or "reached"),
            programme=str(form.get("programme") or "").strip()[:120],
        )
    except DomainError as exc:
        raise PageError(exc.status_code) from None
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(content, media_type=media_type, headers=headers)
