"""Every report as a file, CSV or XLSX, written from the same service call the page and the API
make, so the three show the same figures.

The files follow the exports' conventions (crm.transfer.exports): UTF-8 with a BOM and `;` for
CSV (Excel in a Belgian locale), openpyxl's write-only workbook for XLSX, stable English column
names, codes rather than translated labels, and formula-leading text escaped. Rates are
fractions (0.25), shown as percentages in XLSX. Aggregates are for the report roles; the named
list of the people behind the attribution needs a role that sees names and the export
permission. Every export writes one audit entry.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from crm.audit import service as audit
from crm.auth.actor import Actor
from crm.errors import Forbidden, InvalidInput, NotFound
from crm.people.models import PATHWAY
from crm.reports.access import PEOPLE_ROLES, REPORT_ROLES
from crm.reports.dimensions import Dimension, parse_dimension
from crm.reports.filters import ReportFilters, check_filters
from crm.transfer.export_permission import may_export
from crm.transfer.exports import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, Column, csv_value, xlsx_cell

REPORTS = (
    "funnel",
    "compare",
    "trends",
    "attribution",
    "attribution_people",
    "indicators",
    "breakdowns",
    "campaigns",
)
FORMATS = ("csv", "xlsx")
NAMED = frozenset({"attribution_people"})
_BOM = "\ufeff"
_STAGES = [s.value for s in PATHWAY]


@dataclass(frozen=True)
class Table:
    """A report as one table: the columns (`ratio` columns hold fractions) and the rows."""

    columns: list[Column]
    rows: list[list[Any]]


def _columns(*names: str, ratios: Sequence[str] = (), dates: Sequence[str] = ()) -> list[Column]:
    def kind(name: str) -> str:
        return "ratio" if name in ratios else "datetime" if name in dates else "text"

    return [Column(name, kind(name)) for name in names]


async def authorize(actor: Actor, name: str) -> None:
    """Forbidden unless the actor may read this report (and, for names, export people)."""
    if name not in REPORTS:
        raise NotFound(f"no report named {name!r} (known: {', '.join(REPORTS)})", field="name")
    if actor.role not in REPORT_ROLES:
        raise Forbidden(f"the {actor.role.value} role may not read reports", field="role")
    if name in NAMED:
        if actor.role not in PEOPLE_ROLES:
            raise Forbidden(f"the {actor.role.value} role may not list people", field="role")
        if not await may_export(actor):
            raise Forbidden("exporting people needs the export permission", field="can_export")


def _stage_cells(stages: dict[str, int]) -> list[int]:
    return [stages.get(s, 0) for s in _STAGES]


def _when(text: str | None) -> datetime | None:
    # The services give instants as ISO text (UTC); the file shows them in TIMEZONE.
    return datetime.fromisoformat(text) if text else None


async def _funnel(filters: ReportFilters) -> Table:
    from crm.reports.funnel import funnel

    report = await funnel(filters)
    rows: list[list[Any]] = [
        ["stage", s.stage, s.people, s.conversion, s.of_reached, s.median_days, s.timed]
        for s in report.stages
    ]
    rows.append(["exit", "redirected", report.redirected, None, None, None, None])
    rows.append(["exit", "lost", report.lost, None, None, None, None])
    rows += [
        ["lost_reason", r.reason, r.people, None, None, None, None] for r in report.lost_reasons
    ]
    names = ("section", "item", "people", "conversion", "of_reached", "median_days", "timed")
    return Table(_columns(*names, ratios=("conversion", "of_reached")), rows)


_COMPARE = (*_STAGES, "redirected", "lost", "coached_of_reached", "financed_of_reached")


def _compare_rows(rows: list[Any]) -> list[list[Any]]:
    return [
        [r.key, r.label, *_stage_cells(r.stages), r.redirected, r.lost]
        + [r.coached_of_reached, r.financed_of_reached]
        for r in rows
    ]


async def _compare(filters: ReportFilters, by: Dimension) -> Table:
    from crm.reports.funnel import compare

    report = await compare(filters, by)
    rows = _compare_rows(report.rows + ([report.others] if report.others else []))
    columns = _columns(
        "by", "key", "label", *_COMPARE, ratios=("coached_of_reached", "financed_of_reached")
    )
    return Table(columns, [[report.by, *row] for row in rows])


async def _trends(filters: ReportFilters) -> Table:
    from crm.reports.funnel import trends

    report = await trends(filters)
    rows = [[w.week, *(w.counts.get(s, 0) for s in report.series)] for w in report.weeks]
    return Table(_columns("week", *report.series), rows)


async def _attribution(filters: ReportFilters) -> Table:
    from crm.reports.attribution import attribution
    from crm.reports.dimensions import origin_kind

    report = await attribution(filters, with_people=False)
    # Both views, each row saying which: "brought" (the people coached or financed in the
    # period, by origin) and "reached" (the people reached in it, by origin, how far they went).
    rows = [
        [view, origin_kind(row[0]), *row]
        for view, part in (("brought", report.brought), ("reached", report.sources))
        for row in _compare_rows(part)
    ]
    columns = _columns(
        "view",
        "origin_kind",
        "origin",
        "label",
        *_COMPARE,
        ratios=("coached_of_reached", "financed_of_reached"),
    )
    return Table(columns, rows)


async def _attribution_people(filters: ReportFilters) -> Table:
    from crm.reports.attribution import attribution

    report = await attribution(filters, with_people=True)
    rows = [
        [
            p.lead_id,
            p.name,
            p.stage,
            p.origin_kind,
            p.origin,
            p.origin_label,
            _when(p.reached_at),
            p.reached_by,
            _when(p.coached_at),
            _when(p.financed_at),
            " | ".join(p.campaigns),
            " | ".join(p.referrals),
            p.jobs_created,
        ]
        for p in report.people or []
    ]
    names = (
        "lead_id",
        "name",
        "stage",
        "origin_kind",
        "origin",
        "origin_label",
        "reached_at",
        "reached_by",
        "coached_at",
        "financed_at",
        "campaigns",
        "referrals",
        "jobs_created",
    )
    return Table(_columns(*names, dates=("reached_at", "coached_at", "financed_at")), rows)


def _number(value: Decimal | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


async def _indicators(filters: ReportFilters, programme: str) -> Table:
    from crm.reports.indicators import indicators

    report = await indicators(filters, programme)
    period = [report.programme, filters.start, filters.end]
    rows = [
        [*period, r.indicator.value, r.unit, _number(r.target), r.achieved, r.gap, r.of_target]
        + [r.numerator, r.denominator]
        for r in report.rows
    ]
    names = ("programme", "period_start", "period_end", "indicator", "unit", "target")
    names += ("achieved", "gap", "of_target", "numerator", "denominator")
    return Table(_columns(*names, ratios=("of_target",)), rows)


async def _breakdowns(filters: ReportFilters, population: str) -> Table:
    from crm.reports.indicators import breakdowns

    report = await breakdowns(filters, population)
    rows = [
        [report.population, t.name, r.value, r.female, r.male, r.other, r.total, r.share]
        for t in report.tables
        for r in t.rows
    ]
    names = ("population", "table", "value", "female", "male", "other", "total", "share")
    return Table(_columns(*names, ratios=("share",)), rows)


async def _campaigns(filters: ReportFilters) -> Table:
    from crm.reports.campaign_results import campaign_results
    from crm.reports.schemas import CampaignResult

    report = await campaign_results(filters)
    # The columns are the result's fields, in their order; instants end in "_at".
    names = tuple(CampaignResult.model_fields)
    instants = [n for n in names if n.endswith("_at")]
    rows = [
        [_when(getattr(c, n)) if n in instants else getattr(c, n) for n in names]
        for c in report.campaigns
    ]
    return Table(_columns(*names, dates=instants), rows)


async def report_table(
    name: str,
    filters: ReportFilters,
    *,
    by: Dimension | None = None,
    population: str = "reached",
    programme: str = "",
) -> Table:
    """The report `name` as a table (no permission check: `export_report` does it)."""
    if name == "funnel":
        return await _funnel(filters)
    if name == "compare":
        return await _compare(filters, by or Dimension.REGION)
    if name == "trends":
        return await _trends(filters)
    if name == "attribution":
        return await _attribution(filters)
    if name == "attribution_people":
        return await _attribution_people(filters)
    if name == "indicators":
        return await _indicators(filters, programme)
    if name == "breakdowns":
        return await _breakdowns(filters, population)
    if name == "campaigns":
        return await _campaigns(filters)
    raise NotFound(f"no report named {name!r}", field="name")


# --- writers -------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    return _number(value) if isinstance(value, Decimal) else value


def to_csv(table: Table) -> bytes:
    """UTF-8 with a BOM, `;`-separated, CRLF, formula-leading text escaped."""
    buffer = io.StringIO()
    buffer.write(_BOM)
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([c.name for c in table.columns])
    for row in table.rows:
        writer.writerow([csv_value(_plain(v)) for _, v in zip(table.columns, row, strict=True)])
    return buffer.getvalue().encode("utf-8")


def _xlsx_value(sheet: Any, column: Column, value: Any) -> Any:
    value = _plain(value)
    if column.kind == "ratio" and isinstance(value, (int, float)):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "0.0%"
        return cell
    return xlsx_cell(sheet, column, value)


def to_xlsx(table: Table, title: str) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append([c.name for c in table.columns])
    for row in table.rows:
        sheet.append([_xlsx_value(sheet, c, v) for c, v in zip(table.columns, row, strict=True)])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def filename(name: str, fmt: str, filters: ReportFilters) -> str:
    """`passerelle-report-funnel-2026-01-01_2026-11-23.csv`."""
    slug = name.replace("_", "-")
    return f"passerelle-report-{slug}-{filters.start}_{filters.end}.{fmt}"


async def export_report(
    name: str,
    fmt: str,
    filters: ReportFilters,
    *,
    actor: Actor,
    by: Dimension | str | None = None,
    population: str = "reached",
    programme: str = "",
) -> tuple[bytes, str, str]:
    """The report as a file: (content, file name, media type). Checks the actor, the format and
    the filters (ids that name nothing are refused, naming the filter) before reading; audited."""
    if fmt not in FORMATS:
        raise InvalidInput(f"must be one of {', '.join(FORMATS)}", field="format")
    await authorize(actor, name)
    dimension = parse_dimension(by) if isinstance(by, str) else by
    await check_filters(filters)
    table = await report_table(
        name, filters, by=dimension, population=population, programme=programme
    )
    if fmt == "csv":
        content, media_type = to_csv(table), CSV_MEDIA_TYPE
    else:
        content = await asyncio.to_thread(to_xlsx, table, name)
        media_type = XLSX_MEDIA_TYPE
    extra: dict[str, Any] = {}
    if name == "compare":
        extra["by"] = (dimension or Dimension.REGION).value
    elif name == "breakdowns":
        extra["population"] = population
    elif name == "indicators":
        extra["programme"] = programme
    await audit.record(
        actor,
        f"export.report.{name}",
        entity="report",
        entity_id=None,
        changes={
            "format": fmt,
            "period": {"start": filters.start, "end": filters.end, "basis": filters.basis.value},
            "filters": filters.applied(),
            "rows": len(table.rows),
            **extra,
        },
    )
    return content, filename(name, fmt, filters), media_type
