"""`/api/v1/reports/...`: the funnel, comparisons, trends, attribution, indicators against
targets, breakdowns and campaign results, as JSON and as CSV/XLSX files — the same service calls
as the pages, so the figures agree. Staff roles that read reports; partners never."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from crm.auth.deps import allow
from crm.errors import InvalidInput, NotFound
from crm.reports import targets as target_service
from crm.reports.access import PEOPLE_ROLES, REPORT_ROLES, TARGET_ROLES
from crm.reports.attribution import attribution
from crm.reports.campaign_results import campaign_results
from crm.reports.dimensions import Dimension, parse_dimension
from crm.reports.export import REPORTS, export_report
from crm.reports.filters import ReportFilters, check_filters, parse_filters
from crm.reports.funnel import compare, funnel, trends
from crm.reports.indicators import breakdowns, indicators
from crm.reports.models import Indicator, IndicatorTarget
from crm.reports.schemas import (
    AttributionReport,
    BreakdownsReport,
    CampaignResultsReport,
    CompareReport,
    FunnelReport,
    IndicatorsReport,
    TrendsReport,
)

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

ReportActor = allow(*REPORT_ROLES)
TargetActor = allow(*TARGET_ROLES)
Text = Annotated[str | None, Query(max_length=40)]
Id = Annotated[str | None, Query(max_length=12)]


async def report_filters(
    request: Request,
    start: Annotated[str | None, Query(max_length=10, description="YYYY-MM-DD, inclusive")] = None,
    end: Annotated[str | None, Query(max_length=10, description="YYYY-MM-DD, inclusive")] = None,
    basis: Annotated[
        str | None,
        Query(
            max_length=10,
            description="`cohort` (people reached in the period, how far they went) or "
            "`activity` (people who reached each stage in the period)",
        ),
    ] = None,
    postcode: Annotated[list[str] | None, Query(max_length=50)] = None,
    region: Text = None,
    event_id: Id = None,
    event_kind: Text = None,
    partner_id: Id = None,
    agent_id: Id = None,
    language: Text = None,
    segment: Text = None,
    source: Text = None,
    channel: Text = None,
    campaign_id: Id = None,
) -> ReportFilters:
    """The period (default: this year so far) and filters of every report."""
    params = request.query_params
    filters = parse_filters(params, params.getlist)
    await check_filters(filters)
    return filters


Filters = Annotated[ReportFilters, Depends(report_filters)]


@router.get("/funnel", response_model=FunnelReport)
async def get_funnel(actor: ReportActor, filters: Filters) -> FunnelReport:
    """People at each stage, conversion and median days between stages, exits with reasons."""
    return await funnel(filters)


@router.get("/compare", response_model=CompareReport)
async def get_compare(
    actor: ReportActor,
    filters: Filters,
    by: Annotated[str, Query(max_length=20, description=", ".join(d.value for d in Dimension))],
) -> CompareReport:
    """The funnel side by side per region, postcode, event, event kind, partner, agent,
    language, segment, source, origin or campaign."""
    dimension = parse_dimension(by)
    if dimension is None:
        raise InvalidInput("a dimension is needed", field="by")
    return await compare(filters, dimension)


@router.get("/trends", response_model=TrendsReport)
async def get_trends(actor: ReportActor, filters: Filters) -> TrendsReport:
    """People reaching the main stages, per week of the period."""
    return await trends(filters)


@router.get("/attribution", response_model=AttributionReport)
async def get_attribution(
    actor: ReportActor,
    filters: Filters,
    people: Annotated[
        bool, Query(description="include the named people (admin, coordinator)")
    ] = True,
) -> AttributionReport:
    """Where the people coached or financed in the period came from; the sources whose people
    go furthest; campaigns that reached them before."""
    return await attribution(filters, with_people=people and actor.role in PEOPLE_ROLES)


@router.get("/indicators", response_model=IndicatorsReport)
async def get_indicators(
    actor: ReportActor,
    filters: Filters,
    programme: Annotated[str, Query(max_length=120)] = "",
) -> IndicatorsReport:
    """Funders' indicators for the period beside the targets set for exactly that period and
    programme: announced, achieved, gap."""
    return await indicators(filters, programme.strip())


@router.get("/breakdowns", response_model=BreakdownsReport)
async def get_breakdowns(
    actor: ReportActor,
    filters: Filters,
    population: Annotated[
        str, Query(max_length=10, description="reached, coached or financed")
    ] = "reached",
) -> BreakdownsReport:
    """The period's people by gender, age bracket, employment status, background and social
    assistance, each split by gender."""
    return await breakdowns(filters, population)


@router.get("/campaigns", response_model=CampaignResultsReport)
async def get_campaigns(actor: ReportActor, filters: Filters) -> CampaignResultsReport:
    """Campaigns that wrote to people in the period, with their results."""
    return await campaign_results(filters)


# -- targets --------------------------------------------------------------------------------


class TargetIn(BaseModel):
    indicator: Indicator
    programme: str = Field("", max_length=120)
    period_start: date
    period_end: date
    target: float = Field(ge=0, le=999_999_999)
    notes: str | None = Field(None, max_length=500)


class TargetPatch(BaseModel):
    indicator: Indicator | None = None
    programme: str | None = Field(None, max_length=120)
    period_start: date | None = None
    period_end: date | None = None
    target: float | None = Field(None, ge=0, le=999_999_999)
    notes: str | None = Field(None, max_length=500)


class TargetOut(BaseModel):
    id: int
    indicator: Indicator
    programme: str
    period_start: date
    period_end: date
    target: float
    notes: str | None


def _out(row: IndicatorTarget) -> TargetOut:
    return TargetOut(
        id=row.id,
        indicator=row.indicator,
        programme=row.programme,
        period_start=row.period_start,
        period_end=row.period_end,
        target=float(row.target),
        notes=row.notes,
    )


@router.get("/targets", response_model=list[TargetOut])
async def get_targets(
    actor: ReportActor, programme: Annotated[str | None, Query(max_length=120)] = None
) -> list[TargetOut]:
    return [_out(t) for t in await target_service.list_targets(programme)]


@router.post("/targets", response_model=TargetOut, status_code=201)
async def post_target(actor: TargetActor, body: TargetIn) -> TargetOut:
    row = await target_service.save_target(actor, **body.model_dump())
    return _out(row)


TargetId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.patch("/targets/{target_id}", response_model=TargetOut)
async def patch_target(actor: TargetActor, target_id: TargetId, body: TargetPatch) -> TargetOut:
    row = await IndicatorTarget.get_or_none(id=target_id)
    if row is None:
        raise NotFound(f"there is no target #{target_id}", field="target_id")
    current: dict[str, Any] = {
        "indicator": row.indicator,
        "programme": row.programme,
        "period_start": row.period_start,
        "period_end": row.period_end,
        "target": row.target,
        "notes": row.notes,
    }
    current.update(body.model_dump(exclude_unset=True))
    row = await target_service.save_target(actor, **current, target_id=target_id)
    return _out(row)


@router.delete("/targets/{target_id}", status_code=204)
async def delete_target(actor: TargetActor, target_id: TargetId) -> Response:
    await target_service.delete_target(actor, target_id)
    return Response(status_code=204)


# -- files ----------------------------------------------------------------------------------

# The names `crm.reports.export` makes files of (listed in the OpenAPI schema).
ReportName = Literal[REPORTS]  # type: ignore[valid-type]


@router.get(
    "/{name}.{fmt}",
    responses={200: {"description": "the report as a CSV (UTF-8 with BOM, `;`) or XLSX file"}},
)
async def get_report_file(
    actor: ReportActor,
    filters: Filters,
    name: ReportName,
    fmt: Literal["csv", "xlsx"],
    by: Annotated[str | None, Query(max_length=20)] = None,
    population: Annotated[str, Query(max_length=10)] = "reached",
    programme: Annotated[str, Query(max_length=120)] = "",
) -> Response:
    """Any report as a file, with the figures the JSON gives."""
    content, filename, media_type = await export_report(
        name,
        fmt,
        filters,
        actor=actor,
        by=parse_dimension(by),
        population=population,
        programme=programme.strip(),
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
