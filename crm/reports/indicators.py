"""Funders' indicators for a period, beside the targets announced, and the breakdown tables
(gender, age bracket, employment status, background, social assistance) funders ask for.

Definitions (the README lists them too):
- people reached: recorded in the period; leads, info sessions, applications, coached,
  financed: people who first reached that stage (or a later one) in the period;
- jobs created / kept: the jobs recorded on the people financed in the period;
- referrals received / sent: referrals made in the period to us by a partner / by us to one;
- shares: out of the people reached in the period (unknown values count in the denominator,
  so a share is never flattered by missing data); age is the year reached minus birth year:
  under 26 means 25 or younger, over 50 means 50 or older.
"""

from __future__ import annotations

from typing import Any

from crm.db import Sql, is_postgres
from crm.people.models import Background, EmploymentStatus, Gender
from crm.reports.filters import ReportFilters, people_conditions, where
from crm.reports.funnel import _between, _period, _rows
from crm.reports.models import Indicator, IndicatorTarget
from crm.reports.schemas import (
    BreakdownRow,
    BreakdownsReport,
    BreakdownTable,
    IndicatorRow,
    IndicatorsReport,
)

PERCENT = {
    Indicator.SHARE_WOMEN,
    Indicator.SHARE_UNDER_26,
    Indicator.SHARE_OVER_50,
    Indicator.SHARE_MIGRANT_BACKGROUND,
    Indicator.SHARE_SOCIAL_ASSISTANCE,
}
_UNITS = {
    Indicator.JOBS_CREATED: "jobs",
    Indicator.JOBS_KEPT: "jobs",
    Indicator.REFERRALS_RECEIVED: "referrals",
    Indicator.REFERRALS_SENT: "referrals",
}
_MILESTONE = {
    Indicator.LEADS: "lead_at",
    Indicator.INFO_SESSIONS: "info_session_at",
    Indicator.APPLICATIONS: "application_at",
    Indicator.COACHED: "coached_at",
    Indicator.FINANCED: "financed_at",
}
POPULATIONS = {"reached": "created_at", "coached": "coached_at", "financed": "financed_at"}


def unit(indicator: Indicator) -> str:
    return "percent" if indicator in PERCENT else _UNITS.get(indicator, "people")


def _age_sql() -> str:
    # Age in the year the person was reached (birth year only is recorded).
    year = (
        "CAST(EXTRACT(YEAR FROM l.created_at AT TIME ZONE 'UTC') AS INTEGER)"
        if is_postgres()
        else "CAST(substr(l.created_at, 1, 4) AS INTEGER)"
    )
    return f"({year} - l.birth_year)"


def _share_conditions() -> dict[Indicator, str]:
    age = _age_sql()
    migrant = f"('{Background.MIGRANT_EU.value}', '{Background.MIGRANT_NON_EU.value}')"
    return {
        Indicator.SHARE_WOMEN: f"l.gender = '{Gender.FEMALE.value}'",
        Indicator.SHARE_UNDER_26: f"l.birth_year IS NOT NULL AND {age} < 26",
        Indicator.SHARE_OVER_50: f"l.birth_year IS NOT NULL AND {age} >= 50",
        Indicator.SHARE_MIGRANT_BACKGROUND: f"l.background IN {migrant}",
        Indicator.SHARE_SOCIAL_ASSISTANCE: "l.social_assistance = TRUE",
    }


async def achieved(filters: ReportFilters) -> dict[Indicator, tuple[float, int | None, int | None]]:
    """Indicator -> (value, numerator, denominator) computed from the records."""
    p = Sql()
    reached = _between("created_at", filters, p)
    parts = [f"COUNT(*) FILTER (WHERE {reached}) AS {Indicator.PEOPLE_REACHED.value}"]
    for indicator, column in _MILESTONE.items():
        parts.append(f"COUNT(*) FILTER (WHERE {_between(column, filters, p)}) AS {indicator.value}")
    financed = _between("financed_at", filters, p)
    for indicator, column in ((Indicator.JOBS_CREATED, "jobs_created"),
                              (Indicator.JOBS_KEPT, "jobs_kept")):  # fmt: skip
        parts.append(
            f"COALESCE(SUM(CASE WHEN {financed} THEN l.{column} END), 0) AS {indicator.value}"
        )
    for indicator, condition in _share_conditions().items():
        parts.append(f"COUNT(*) FILTER (WHERE ({reached}) AND {condition}) AS {indicator.value}")
    conditions = [f"l.created_at < {p(filters.ends_before)}", *people_conditions(filters, p)]
    row = (await _rows(f"SELECT {', '.join(parts)} FROM lead l{where(conditions)}", p.params))[0]
    out: dict[Indicator, tuple[float, int | None, int | None]] = {}
    people = int(row[Indicator.PEOPLE_REACHED.value] or 0)
    for indicator in Indicator:
        if indicator in (Indicator.REFERRALS_RECEIVED, Indicator.REFERRALS_SENT):
            continue
        value = int(row[indicator.value] or 0)
        if indicator in PERCENT:
            share = round(100 * value / people, 1) if people else 0.0
            out[indicator] = (share, value, people)
        else:
            out[indicator] = (float(value), None, None)
    received, sent = await _referrals(filters)
    out[Indicator.REFERRALS_RECEIVED] = (float(received), None, None)
    out[Indicator.REFERRALS_SENT] = (float(sent), None, None)
    return out


async def _referrals(filters: ReportFilters) -> tuple[int, int]:
    p = Sql()
    made = f"r.created_at >= {p(filters.starts_at)} AND r.created_at < {p(filters.ends_before)}"
    people = people_conditions(filters, p)
    lead_filter = ""
    if people:
        lead_filter = f" AND r.lead_id IN (SELECT l.id FROM lead l{where(people)})"
    row = (
        await _rows(
            "SELECT COUNT(*) FILTER"
            " (WHERE r.receiver_id IS NULL AND r.sender_id IS NOT NULL) AS received,"
            " COUNT(*) FILTER (WHERE r.sender_id IS NULL AND r.receiver_id IS NOT NULL) AS sent"
            f" FROM referral r WHERE {made}{lead_filter}",
            p.params,
        )
    )[0]
    return int(row["received"] or 0), int(row["sent"] or 0)


async def indicators(filters: ReportFilters, programme: str = "") -> IndicatorsReport:
    """Every indicator for the period, with the target announced for exactly this period and
    programme (if any), the gap and the share of the target achieved."""
    values = await achieved(filters)
    targets = {
        t.indicator: t
        for t in await IndicatorTarget.filter(
            programme=programme, period_start=filters.start, period_end=filters.end
        )
    }
    rows = []
    for indicator in Indicator:
        value, numerator, denominator = values[indicator]
        target = targets.get(indicator)
        goal = target.target if target else None
        rows.append(
            IndicatorRow(
                indicator=indicator,
                unit=unit(indicator),
                achieved=value,
                numerator=numerator,
                denominator=denominator,
                target=goal,
                gap=None if goal is None else round(value - float(goal), 1),
                of_target=round(value / float(goal), 4) if goal else None,
                target_id=target.id if target else None,
            )
        )
    return IndicatorsReport(
        period=_period(filters), filters=filters.applied(), programme=programme, rows=rows
    )


# -- breakdowns -----------------------------------------------------------------------------


def _age_bracket_sql() -> str:
    age = _age_sql()
    return (
        f"CASE WHEN l.birth_year IS NULL THEN 'unknown' WHEN {age} < 26 THEN 'under_26'"
        f" WHEN {age} >= 50 THEN '50_plus' ELSE '26_49' END"
    )


def _tables() -> dict[str, tuple[str, list[str]]]:
    # name -> (grouping expression, the values in order; "unknown" is not recorded)
    return {
        "gender": (
            "COALESCE(l.gender, 'unknown')",
            [g.value for g in Gender] + ["unknown"],
        ),
        "age_bracket": (_age_bracket_sql(), ["under_26", "26_49", "50_plus", "unknown"]),
        "employment_status": (
            "COALESCE(l.employment_status, 'unknown')",
            [e.value for e in EmploymentStatus] + ["unknown"],
        ),
        "background": (
            "COALESCE(l.background, 'unknown')",
            [b.value for b in Background] + ["unknown"],
        ),
        "social_assistance": (
            "CASE WHEN l.social_assistance IS NULL THEN 'unknown'"
            " WHEN l.social_assistance THEN 'yes' ELSE 'no' END",
            ["yes", "no", "unknown"],
        ),
    }


async def breakdowns(filters: ReportFilters, population: str = "reached") -> BreakdownsReport:
    """The people of the period (reached, coached or financed in it) by gender, age bracket,
    employment status, background and social assistance, each split by gender."""
    column = POPULATIONS.get(population)
    if column is None:
        from crm.errors import InvalidInput

        raise InvalidInput(
            f"{population!r} is not one of: {', '.join(POPULATIONS)}", field="population"
        )
    tables = []
    total_people = 0
    for name, (expression, order) in _tables().items():
        p = Sql()
        conditions = [_between(column, filters, p), *people_conditions(filters, p)]
        rows = await _rows(
            f"SELECT {expression} AS v, l.gender AS g, COUNT(*) AS n FROM lead l"
            f"{where(conditions)} GROUP BY {expression}, l.gender",
            p.params,
        )
        cells: dict[str, dict[str, int]] = {value: {} for value in order}
        for row in rows:
            value = str(getattr(row["v"], "value", row["v"]))
            gender = str(getattr(row["g"], "value", row["g"])) if row["g"] else "unknown"
            side = gender if gender in ("female", "male") else "other"
            bucket = cells.setdefault(value, {})
            bucket[side] = bucket.get(side, 0) + int(row["n"])
        total = sum(sum(c.values()) for c in cells.values())
        total_people = total
        tables.append(
            BreakdownTable(
                name=name,
                rows=[_breakdown_row(value, cells[value], total) for value in cells],
            )
        )
    return BreakdownsReport(
        period=_period(filters),
        filters=filters.applied(),
        population=population,
        people=total_people,
        tables=tables,
    )


def _breakdown_row(value: str, cell: dict[str, Any], total: int) -> BreakdownRow:
    count = sum(cell.values())
    return BreakdownRow(
        value=value,
        female=cell.get("female", 0),
        male=cell.get("male", 0),
        other=cell.get("other", 0),
        total=count,
        share=round(count / total, 4) if total else None,
    )
