"""The shapes of the reports: the same objects feed the page, the API and the exports."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from crm.reports.models import Indicator


class Period(BaseModel):
    start: date
    end: date
    basis: str


class StageRow(BaseModel):
    stage: str
    people: int
    # Share of the previous stage's people who reached this one (cohort basis only).
    conversion: float | None = None
    # Share of the people reached who got this far (cohort basis only).
    of_reached: float | None = None
    # Median days from the previous stage to this one, over the people who made that step.
    median_days: float | None = None
    # How many steps the median is over.
    timed: int = 0


class LostReason(BaseModel):
    reason: str | None
    people: int


class FunnelReport(BaseModel):
    period: Period
    filters: dict[str, Any]
    stages: list[StageRow]
    redirected: int
    lost: int
    lost_reasons: list[LostReason]


class CompareRow(BaseModel):
    key: str | None
    label: str
    stages: dict[str, int]
    # Financed (or the furthest stage) out of the people reached, cohort basis.
    financed_of_reached: float | None = None
    coached_of_reached: float | None = None
    redirected: int = 0
    lost: int = 0


class CompareReport(BaseModel):
    period: Period
    filters: dict[str, Any]
    by: str
    rows: list[CompareRow]
    # More groups than shown: the rest (by people reached) are summed in `others`.
    others: CompareRow | None = None


class TrendWeek(BaseModel):
    week: date  # the Monday
    counts: dict[str, int]


class TrendsReport(BaseModel):
    period: Period
    filters: dict[str, Any]
    series: list[str]
    weeks: list[TrendWeek]


class AttributedPerson(BaseModel):
    lead_id: int
    name: str
    stage: str
    coached_at: str | None
    financed_at: str | None
    origin: str | None
    origin_kind: str
    origin_label: str
    reached_at: str
    reached_by: str | None
    campaigns: list[str] = Field(default_factory=list)
    referrals: list[str] = Field(default_factory=list)
    jobs_created: int | None = None


class AttributionReport(BaseModel):
    period: Period
    filters: dict[str, Any]
    # Which outreach brought the people coached or financed in the period: their origins, with
    # how many were coached and financed in it (activity counts), most financed first.
    brought: list[CompareRow]
    # Which sources bring people who go furthest: the people reached in the period by origin
    # and how far they have gone (cohort counts), furthest first.
    sources: list[CompareRow]
    campaign_touches: list[CampaignTouch] = Field(default_factory=list)
    people: list[AttributedPerson] | None = None
    people_total: int = 0


class IndicatorRow(BaseModel):
    indicator: Indicator
    unit: str  # "people", "jobs", "referrals" or "percent"
    achieved: float
    numerator: int | None = None  # shares: the people counted…
    denominator: int | None = None  # …out of these
    target: Decimal | None = None
    gap: float | None = None  # achieved - target
    of_target: float | None = None  # achieved / target
    target_id: int | None = None


class IndicatorsReport(BaseModel):
    period: Period
    filters: dict[str, Any]
    programme: str
    rows: list[IndicatorRow]


class BreakdownRow(BaseModel):
    value: str
    female: int
    male: int
    other: int  # other, undisclosed or not recorded
    total: int
    share: float | None


class BreakdownTable(BaseModel):
    name: str
    rows: list[BreakdownRow]


class BreakdownsReport(BaseModel):
    period: Period
    filters: dict[str, Any]
    population: str
    people: int
    tables: list[BreakdownTable]


class CampaignTouch(BaseModel):
    campaign_id: int
    name: str
    people: int  # coached or financed people who got it before their milestone


class CampaignResult(BaseModel):
    campaign_id: int
    name: str
    channel: str
    status: str
    first_message_at: str | None  # when it first wrote to someone in the period
    audience: int
    sent: int
    delivered: int
    failed: int
    replied: int
    opted_out: int
    # People who moved forward on the pathway within the campaign's conversion window.
    went_further: int


class CampaignResultsReport(BaseModel):
    period: Period
    campaigns: list[CampaignResult]


AttributionReport.model_rebuild()
