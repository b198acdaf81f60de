"""Campaign results in the reports: the campaigns that sent messages in the period, with the
figures of their own results page (provided by the `campaigns` package, see dimensions)."""

from __future__ import annotations

from crm.reports.dimensions import campaign_hooks
from crm.reports.filters import ReportFilters
from crm.reports.funnel import _period
from crm.reports.schemas import CampaignResultsReport


async def campaign_results(filters: ReportFilters) -> CampaignResultsReport:
    hooks = campaign_hooks()
    rows = await hooks.results(filters) if hooks is not None else []
    return CampaignResultsReport(period=_period(filters), campaigns=rows)
