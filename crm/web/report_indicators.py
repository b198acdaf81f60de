"""The funders' pages: indicators beside the targets announced (with the target form for admins
and coordinators), the breakdown tables, and the printable funder report."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from crm.config import settings
from crm.errors import DomainError
from crm.reports import targets
from crm.reports.access import TARGET_ROLES
from crm.reports.attribution import brought_by_origin
from crm.reports.filters import ReportFilters, today
from crm.reports.funnel import funnel
from crm.reports.indicators import POPULATIONS, breakdowns, indicators
from crm.reports.models import Indicator
from crm.web.csrf import checked_form
from crm.web.render import PageError, path_id, render
from crm.web.report_page import (
    Page,
    Reader,
    choices,
    described,
    export_fields,
    is_empty,
    require_reader,
    source_labels,
)
from crm.web.session import WebUser

router = APIRouter(include_in_schema=False)


def _population(page: Page) -> str:
    raw = str(page.source.get("population") or "reached")
    if raw not in POPULATIONS:
        page.errors["population"] = page.gettext("Choose one of the populations offered.")
        return "reached"
    return raw


async def _indicator_context(page: Page, filters: ReportFilters | None) -> dict[str, Any]:
    programme = str(page.source.get("programme") or "").strip()[:120]
    population = _population(page)
    context: dict[str, Any] = {"filters": filters, "programme": programme}
    context["population"] = population
    if filters is not None and not page.filter_errors:
        context["indicators"] = await indicators(filters, programme)
        context["breakdowns"] = await breakdowns(filters, population)
    context["export_fields"] = export_fields(
        filters if not page.filter_errors else None, programme=programme, population=population
    )
    return context


def _target_form(source: Any, target: Any = None) -> dict[str, str]:
    if target is not None:
        return {
            "target_id": str(target.id),
            "indicator": str(getattr(target.indicator, "value", target.indicator)),
            "programme": target.programme,
            "period_start": target.period_start.isoformat(),
            "period_end": target.period_end.isoformat(),
            "target": f"{target.target.normalize():f}",
            "notes": target.notes or "",
        }
    names = ("target_id", "indicator", "programme", "period_start", "period_end", "target", "notes")
    return {n: str(source.get(n) or "").strip()[:500] for n in names}


async def _indicators_page(
    page: Page, form: dict[str, str] | None = None, status_code: int = 200
) -> HTMLResponse:
    filters = await page.filters()
    context = await _indicator_context(page, filters)
    programme = context["programme"]
    editing = None
    if form is None and page.web_user.actor.role in TARGET_ROLES:
        raw = str(page.source.get("edit") or "")
        if raw.isdigit() and len(raw) < 10:
            editing = await targets.IndicatorTarget.get_or_none(id=int(raw))
        form = _target_form({}, editing)
        if editing is None and filters is not None:
            form.update(period_start=filters.start.isoformat(), period_end=filters.end.isoformat())
            form["programme"] = programme
    label = page.label
    return render(
        page.request,
        "reports/indicators.html",
        page.context(
            **context,
            **await choices(page),
            programmes=await targets.programmes(),
            target_periods=await targets.periods(programme),
            target_list=await targets.list_targets(programme),
            indicator_choices=[(i.value, label("indicator", i.value)) for i in Indicator],
            populations=[(p, label("population", p)) for p in POPULATIONS],
            form=form or {},
        ),
        status_code=422 if page.errors and status_code == 200 else status_code,
    )


@router.get("/reports/indicators", include_in_schema=False)
async def indicators_page(request: Request, web_user: Reader) -> Response:
    if not request.query_params:
        # A first visit opens on the targets of the current period, if any were set.
        current = await targets.current(today())
        if current is not None:
            programme, start, end = current
            query = urlencode(
                {"start": start.isoformat(), "end": end.isoformat(), "programme": programme}
            )
            return RedirectResponse(f"/reports/indicators?{query}", status_code=303)
    return await _indicators_page(Page(request, web_user, request.query_params))


def _back(source: Any) -> str:
    # Back to the indicators of the target's period and programme.
    items = [(k, str(source.get(k) or "")) for k in ("start", "end", "programme")]
    return "/reports/indicators?" + urlencode([(k, v) for k, v in items if v]) + "#targets"


def _day(raw: str) -> date | str:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return raw  # refused by the service, naming the field


async def _target_writer(request: Request) -> tuple[FormData, WebUser]:
    form = await checked_form(request)
    web_user = await require_reader(request)
    if web_user.actor.role not in TARGET_ROLES:
        raise PageError(403)
    return form, web_user


@router.post("/reports/indicators/targets", include_in_schema=False)
async def save_target(request: Request) -> Response:
    form, web_user = await _target_writer(request)
    values = _target_form(form)
    try:
        target_id = int(values["target_id"]) if values["target_id"].isdigit() else None
        saved = await targets.save_target(
            web_user.actor,
            indicator=values["indicator"],
            programme=values["programme"],
            period_start=_day(values["period_start"]),
            period_end=_day(values["period_end"]),
            target=values["target"],
            notes=values["notes"],
            target_id=target_id,
        )
    except DomainError as exc:
        page = Page(request, web_user, form)
        page.errors["target." + (exc.field or "form")] = exc.message
        return await _indicators_page(page, values, status_code=exc.status_code)
    back = {"start": saved.period_start, "end": saved.period_end, "programme": saved.programme}
    return RedirectResponse(_back(back), status_code=303)


@router.post("/reports/indicators/targets/{target_id}/delete", include_in_schema=False)
async def delete_target(request: Request, target_id: str) -> Response:
    form, web_user = await _target_writer(request)
    try:
        await targets.delete_target(web_user.actor, path_id(target_id))
    except DomainError as exc:
        raise PageError(exc.status_code) from None
    return RedirectResponse(_back(form), status_code=303)


@router.get("/reports/funder", include_in_schema=False)
async def funder_report(request: Request, web_user: Reader) -> HTMLResponse:
    page = Page(request, web_user, request.query_params)
    filters = await page.filters()
    context = await _indicator_context(page, filters)
    if filters is not None and not page.errors:
        report = await funnel(filters)
        # Only the first view of the attribution (no cohort comparison, no people, no touches).
        brought = await brought_by_origin(filters)
        labels = source_labels(page, brought)
        context.update(
            report=report,
            empty=is_empty(report),
            brought_rows=list(zip(labels, brought, strict=True)),
            described=await described(page, filters),
        )
    return render(
        request,
        "reports/funder.html",
        page.context(
            **context,
            organisation=settings.ORGANISATION_NAME,
            computed_on=today(),
            populations=[(p, page.label("population", p)) for p in POPULATIONS],
            programmes=await targets.programmes(),
        ),
        status_code=422 if page.errors else 200,
    )
