"""What the report pages share: who may read them, the filters read from a page's query (with
field errors instead of a 500), the choices of the filter form, labels and chart series."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from babel import Locale
from babel.numbers import format_decimal, format_percent
from fastapi import Depends, Request
from starlette.datastructures import FormData, QueryParams

from crm.auth.models import User
from crm.enums import STAFF_ROLES, Language
from crm.errors import DomainError, InvalidInput
from crm.geo import Region
from crm.outreach.models import EventKind, InteractionChannel, OutreachEvent
from crm.people.models import LeadSource
from crm.people.segments import label as segment_label
from crm.people.segments import vocabulary
from crm.referrals.models import PartnerOrganisation
from crm.reports.access import PEOPLE_ROLES, REPORT_ROLES, TARGET_ROLES
from crm.reports.dimensions import Dimension, campaign_hooks, origin_kind
from crm.reports.filters import Basis, ReportFilters, check_filters, parse_filters, today
from crm.transfer.export_permission import user_may_export
from crm.web.i18n import DEFAULT_LANGUAGE, FORMAT_LOCALES, label_for
from crm.web.render import PageError
from crm.web.session import WebUser, require_user, ui_language

FILTERS = ("start", "end", "basis", "region", "postcode", "event_kind", "event_id")
FILTERS += ("partner_id", "agent_id", "language", "segment", "source", "channel", "campaign_id")
PEOPLE_PAGE = 50
_MAX_VALUE = 200
CODED = {
    Dimension.REGION: "region",
    Dimension.LANGUAGE: "language",
    Dimension.SOURCE: "source",
    Dimension.EVENT_KIND: "event_kind",
}
MEASURES = ("sent", "delivered", "replied", "went_further")


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


def quick_periods(page: Page) -> list[tuple[str, str]]:
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


async def choices(page: Page) -> dict[str, Any]:
    """The options of the filter form, filled from the database."""
    label = page.label
    vocab = await vocabulary()
    events = await OutreachEvent.all().order_by("-starts_at").limit(300)
    staff = await User.filter(role__in=list(STAFF_ROLES)).order_by("first_name", "last_name")
    return {
        "quick_periods": quick_periods(page),
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


def group_label(page: Page, dimension: Dimension, key: str | None, name: str, vocab) -> str:
    if key is None:
        return page.gettext("Not recorded")
    if key == "*":
        return page.gettext("Others (%(groups)s)") % {"groups": name.lstrip("+")}
    if dimension in CODED:
        return page.label(CODED[dimension], key)
    if dimension is Dimension.SEGMENT:
        return segment_label(key, page.language, vocab)
    if dimension is Dimension.ORIGIN:
        return name if ":" in key else page.label("source", key)
    return name


def source_labels(page: Page, rows: list[Any]) -> list[str]:
    # "event:12" and "partner:3" are named by the service; plain sources are translated codes.
    return [
        r.label if r.key and ":" in r.key else page.label("origin_kind", origin_kind(r.key))
        for r in rows
    ]


async def described(page: Page, filters: ReportFilters) -> list[tuple[str, str]]:
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


def series(page: Page, stages: list[str], rows: list[Any]) -> list[dict[str, Any]]:
    return [{"label": page.label("stage", s), "data": [r.stages[s] for r in rows]} for s in stages]


def export_fields(filters: ReportFilters | None, **extra: str) -> list[tuple[str, str]]:
    items = filters.query_items() if filters else []
    return items + [(k, v) for k, v in extra.items() if v]


def is_empty(report: Any) -> bool:
    return not any(s.people for s in report.stages) and not (report.redirected or report.lost)
