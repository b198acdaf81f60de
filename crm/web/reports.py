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

from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal, format_percent
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, QueryParams

from crm.auth.models import User
from crm.config import settings
from crm.enums import STAFF_ROLES, Language
from crm.errors import DomainError, InvalidInput
from crm.geo import Region
from crm.outreach.models import EventKind, InteractionChannel, OutreachEvent
from crm.people.models import LeadSource, Stage
from crm.people.segments import label as segment_label
from crm.people.segments import vocabulary
from crm.referrals.models import PartnerOrganisation
from crm.reports import export, targets
from crm.reports.access import PEOPLE_ROLES, REPORT_ROLES, TARGET_ROLES
from crm.reports.attribution import attribution
from crm.reports.campaign_results import campaign_results
from crm.reports.dimensions import Dimension, campaign_hooks, origin_kind, parse_dimension
from crm.reports.filters import Basis, ReportFilters, check_filters, parse_filters, today
from crm.reports.funnel import compare, funnel, trends
from crm.reports.indicators import POPULATIONS, breakdowns, indicators
from crm.reports.models import Indicator
from crm.transfer.export_permission import user_may_export
from crm.web.csrf import checked_form
from crm.web.i18n import DEFAULT_LANGUAGE, FORMAT_LOCALES, label_for
from crm.web.render import PageError, page_number, paging, path_id, render
from crm.web.session import WebUser, require_user, ui_language

router = APIRouter(include_in_schema=False)

FILTERS = ("start", "end", "basis", "region", "postcode", "event_kind", "event_id")
FILTERS += ("partner_id", "agent_id", "language", "segment", "source", "channel", "campaign_id")
PEOPLE_PAGE = 50
_MAX_VALUE = 200
_CODED = {
    Dimension.REGION: "region",
    Dimension.LANGUAGE: "language",
    Dimension.SOURCE: "source",
    Dimension.EVENT_KIND: "event_kind",
}
_MEASURES = ("sent", "delivered", "replied", "went_further")


async def require_reader(request: Request) -> WebUser:
    web_user = await require_user(request)
    if web_user.actor.role not in REPORT_ROLES:
        raise PageError(403)
    return web_user


Reader = Annotated[WebUser, Depends(require_reader)]


class Page:
    """What every report page needs: the request's filters (raw, for the form), the texts in
    the reader's language, and number formats."""

    def __init__(self, request: Request, web_user: WebUser, source: QueryParams | FormData):
        self.request = request
        self.web_user = web_user
        self.source = source
        language = ui_language(request)
        i18n = request.app.state.web_i18n
        translations = i18n.translations.get(language) or i18n.translations[DEFAULT_LANGUAGE]
        self.language = language
        self.gettext = translations.gettext
        self.label = label_for(translations)
        self.locale = FORMAT_LOCALES.get(language, FORMAT_LOCALES[DEFAULT_LANGUAGE])
        self.errors: dict[str, str] = {}
        self.values = {name: str(source.get(name) or "").strip()[:_MAX_VALUE] for name in FILTERS}
        self.values["postcode"] = ", ".join(source.getlist("postcode"))[:_MAX_VALUE]
        self.by = str(source.get("by") or "").strip()[:40]

    @property
    def filter_errors(self) -> dict[str, str]:
        # The errors of the report's filters (not of the target form below them).
        return {k: e for k, e in self.errors.items() if not k.startswith("target.")}

    def fail(self, exc: DomainError) -> None:
        self.errors[exc.field or "form"] = exc.message

    async def filters(self) -> ReportFilters | None:
        """The filters, checked against the database; None (and the error kept) if refused."""
        try:
            filters = parse_filters(self.source, self.source.getlist)
            await check_filters(filters)
        except InvalidInput as exc:
            self.fail(exc)
            return None
        self.values["start"], self.values["end"] = (
            filters.start.isoformat(),
            filters.end.isoformat(),
        )
        self.values["basis"] = filters.basis.value
        return filters

    def pct(self, value: float | None) -> str:
        # The locale's own percent pattern ("66,7 %", "66,7%"), with one decimal.
        if value is None:
            return "—"
        pattern = Locale.parse(self.locale).percent_formats[None].pattern.replace("0", "0.0", 1)
        return format_percent(value, pattern, locale=self.locale)

    def num(self, value: Any, digits: int = 0) -> str:
        if value is None:
            return "—"
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(float(value), pattern, locale=self.locale)

    def link(self, path: str, **changes: str | None) -> str:
        """This page's query with some values changed (None removes one)."""
        items = [(k, v) for k, v in self.source.multi_items() if k not in changes and v]
        items += [(k, v) for k, v in changes.items() if v]
        return path + ("?" + urlencode(items) if items else "")

    def context(self, **extra: Any) -> dict[str, Any]:
        actor = self.web_user.actor
        return {
            "v": {**self.values, "by": self.by},
            "errors": self.errors,
            "filter_errors": self.filter_errors,
            "pct": self.pct,
            "num": self.num,
            "link": self.link,
            "may_set_targets": actor.role in TARGET_ROLES,
            "may_see_people": actor.role in PEOPLE_ROLES,
            "may_export_people": actor.role in PEOPLE_ROLES and user_may_export(self.web_user.user),
            **extra,
        }


def _quick_periods(page: Page) -> list[tuple[str, str]]:
    now = today()
    quarter = date(now.year, 3 * ((now.month - 1) // 3) + 1, 1)
    year_ago = now - timedelta(days=364)  # 365 days, today included
    periods = (
        (page.gettext("This year"), date(now.year, 1, 1), now),
        (page.gettext("Last year"), date(now.year - 1, 1, 1), date(now.year - 1, 12, 31)),
        (page.gettext("Last 12 months"), year_ago, now),
        (page.gettext("This quarter"), quarter, now),
    )
    path = page.request.url.path
    return [
        (name, page.link(path, start=a.isoformat(), end=b.isoformat())) for name, a, b in periods
    ]


async def _campaign_choices() -> list[tuple[int, str]]:
    # The campaigns package owns its table and says which campaigns there are.
    hooks = campaign_hooks()
    return await hooks.choices() if hooks is not None else []


async def _choices(page: Page) -> dict[str, Any]:
    """The options of the filter form, filled from the database."""
    label = page.label
    vocab = await vocabulary()
    events = await OutreachEvent.all().order_by("-starts_at").limit(300)
    staff = await User.filter(role__in=list(STAFF_ROLES)).order_by("first_name", "last_name")
    return {
        "quick_periods": _quick_periods(page),
        "bases": [(b.value, label("basis", b.value)) for b in Basis],
        "regions": [(r.value, label("region", r.value)) for r in Region],
        "event_kinds": [(k.value, label("event_kind", k.value)) for k in EventKind],
        "events": [(e.id, f"{e.title} ({e.starts_at:%d/%m/%Y})") for e in events],
        "partners": await PartnerOrganisation.all().order_by("name").values_list("id", "name"),
        "agents": [(u.id, u.display_name) for u in staff],
        "languages": [(lang.value, label("language", lang.value)) for lang in Language],
        "segments": sorted(
            ((c, segment_label(c, page.language, vocab)) for c in vocab),
            key=lambda pair: pair[1].casefold(),
        ),
        "sources": [(s.value, label("source", s.value)) for s in LeadSource],
        "channels": [(c.value, label("channel", c.value)) for c in InteractionChannel],
        "campaigns": await _campaign_choices(),
        "dimensions": [(d.value, label("dimension", d.value)) for d in Dimension],
    }


def _group_label(page: Page, dimension: Dimension, key: str | None, name: str, vocab) -> str:
    if key is None:
        return page.gettext("Not recorded")
    if key == "*":
        return page.gettext("Others (%(groups)s)") % {"groups": name.lstrip("+")}
    if dimension in _CODED:
        return page.label(_CODED[dimension], key)
    if dimension is Dimension.SEGMENT:
        return segment_label(key, page.language, vocab)
    if dimension is Dimension.ORIGIN:
        return name if ":" in key else page.label("source", key)
    return name


def _source_labels(page: Page, rows: list[Any]) -> list[str]:
    # "event:12" and "partner:3" are named by the service; plain sources are translated codes.
    return [
        r.label if r.key and ":" in r.key else page.label("origin_kind", origin_kind(r.key))
        for r in rows
    ]


async def _described(page: Page, filters: ReportFilters) -> list[tuple[str, str]]:
    """The filters set, in words, for the funder report's header."""
    from crm.reports.dimensions import labels as dimension_labels

    out = []
    coded = {"region": "region", "language": "language", "source": "source"}
    coded |= {"channel": "channel", "event_kind": "event_kind"}
    named = {"event_id": Dimension.EVENT, "partner_id": Dimension.PARTNER}
    named |= {"agent_id": Dimension.AGENT, "campaign_id": Dimension.CAMPAIGN}
    for key, value in filters.applied().items():
        name = page.label("dimension", key.removesuffix("_id"))
        if key in coded:
            value = page.label(coded[key], value)
        elif key in named:
            value = (await dimension_labels(named[key], [value])).get(value, value)
        elif isinstance(value, list):
            value = ", ".join(value)
        out.append((name, str(value)))
    return out


def _series(page: Page, stages: list[str], rows: list[Any]) -> list[dict[str, Any]]:
    return [{"label": page.label("stage", s), "data": [r.stages[s] for r in rows]} for s in stages]


def _export_fields(filters: ReportFilters | None, **extra: str) -> list[tuple[str, str]]:
    items = filters.query_items() if filters else []
    return items + [(k, v) for k, v in extra.items() if v]


def _empty(report: Any) -> bool:
    return not any(s.people for s in report.stages) and not (report.redirected or report.lost)


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
        labels = [_group_label(page, dimension, r.key, r.label, vocab) for r in groups]
        main = [Stage.REACHED.value, Stage.COACHED.value, Stage.FINANCED.value]
        context.update(
            report=report,
            empty=_empty(report),
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
                    "series": _series(page, main, groups),
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
                        for m in _MEASURES
                    ],
                },
            },
        )
    context["export_fields"] = _export_fields(filters, by=page.by)
    return render(
        request,
        "reports/dashboard.html",
        page.context(**context, **await _choices(page), by=page.by),
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
        labels = _source_labels(page, report.sources)
        brought = list(zip(_source_labels(page, report.brought), report.brought, strict=True))
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
                    "series": _series(page, ["coached", "financed"], [r for _, r in brought]),
                }
            },
        )
    context["export_fields"] = _export_fields(filters)
    return render(
        request,
        "reports/attribution.html",
        page.context(**context, **await _choices(page)),
        status_code=422 if page.errors else 200,
    )


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
    context["export_fields"] = _export_fields(
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
            **await _choices(page),
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
async def indicators_page(request: Request, web_user: Reader) -> HTMLResponse:
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
        brought = (await attribution(filters, with_people=False)).brought
        labels = _source_labels(page, brought)
        context.update(
            report=report,
            empty=_empty(report),
            brought_rows=list(zip(labels, brought, strict=True)),
            described=await _described(page, filters),
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
