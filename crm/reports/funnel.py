"""The outreach funnel: how many people reached each stage, how fast, and where they left.

One scan of `lead` with its milestone columns (crm.people.pathway): "reached at least S" is a
count of S's milestone, so the funnel needs no grouping of the stage log. Every figure is a query
over the stored facts; nothing is counted by hand.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tortoise import connections

from crm.config import settings
from crm.db import Sql, is_postgres, numbered_sql
from crm.people.models import PATHWAY, Stage
from crm.people.pathway import MILESTONES
from crm.reports.dimensions import Dimension, grouping, labels
from crm.reports.filters import Basis, ReportFilters, people_conditions, where
from crm.reports.schemas import (
    CompareReport,
    CompareRow,
    FunnelReport,
    LostReason,
    Period,
    StageRow,
    TrendsReport,
    TrendWeek,
)

# Stage -> its milestone column; reached is when the person was recorded.
COLUMN: dict[Stage, str] = {Stage.REACHED: "created_at", **MILESTONES}
STAGES: tuple[Stage, ...] = PATHWAY
TREND_SERIES: tuple[Stage, ...] = (
    Stage.REACHED,
    Stage.LEAD,
    Stage.INFO_SESSION,
    Stage.COACHED,
    Stage.FINANCED,
)
MAX_GROUPS = 40


def _period(filters: ReportFilters) -> Period:
    return Period(start=filters.start, end=filters.end, basis=filters.basis.value)


def _between(column: str, filters: ReportFilters, p: Sql) -> str:
    return f"l.{column} >= {p(filters.starts_at)} AND l.{column} < {p(filters.ends_before)}"


def _population(filters: ReportFilters, p: Sql) -> list[str]:
    """Who the report is about: cohort → reached in the period; activity → anyone who could
    have reached a stage in it (recorded before its end)."""
    conditions = people_conditions(filters, p)
    if filters.basis is Basis.COHORT:
        conditions.insert(0, _between("created_at", filters, p))
    else:
        conditions.insert(0, f"l.created_at < {p(filters.ends_before)}")
    return conditions


def _counted(stage: Stage, filters: ReportFilters, p: Sql) -> str:
    column = COLUMN[stage] if stage in COLUMN else f"{stage.value}_at"
    if filters.basis is Basis.COHORT:
        return f"COUNT(l.{column})"
    return f"COUNT(*) FILTER (WHERE {_between(column, filters, p)})"


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def _rows(sql: str, params: list[Any]) -> list[dict[str, Any]]:
    _, rows = await connections.get("default").execute_query(numbered_sql(sql), params)
    return [dict(r) for r in rows]


def _seconds(later: str, earlier: str) -> str:
    if is_postgres():
        # date_part gives double precision; EXTRACT gives numeric (slow to sort) since PG 14.
        return f"date_part('epoch', l.{later} - l.{earlier})"
    return f"(julianday(l.{later}) - julianday(l.{earlier})) * 86400.0"


STEPS: list[tuple[Stage, Stage]] = list(zip(STAGES, STAGES[1:], strict=False))


def _durations(filters: ReportFilters, p: Sql) -> list[str]:
    """Seconds from each stage to the next, per person (NULL when the step was not made; in the
    activity basis, also when the later stage was not reached during the period)."""
    parts = []
    for earlier, later in STEPS:
        seconds = _seconds(COLUMN[later], COLUMN[earlier])
        if filters.basis is Basis.ACTIVITY:
            seconds = f"CASE WHEN {_between(COLUMN[later], filters, p)} THEN {seconds} END"
        parts.append(seconds)
    return parts


def _steps_made(filters: ReportFilters, p: Sql) -> list[str]:
    """The condition for "made this step" (counted without computing the duration again)."""
    parts = []
    for earlier, later in STEPS:
        made = f"l.{COLUMN[earlier]} IS NOT NULL AND l.{COLUMN[later]} IS NOT NULL"
        if filters.basis is Basis.ACTIVITY:
            made += f" AND {_between(COLUMN[later], filters, p)}"
        parts.append(made)
    return parts


def _days(seconds: Any) -> float | None:
    return None if seconds is None else round(float(seconds) / 86400, 1)


async def _sqlite_medians(filters: ReportFilters) -> dict[Stage, tuple[float | None, int]]:
    # SQLite has no percentile: the steps' durations are read and the median taken here
    # (SQLite serves one organisation's volumes; PostgreSQL computes it in the funnel's scan).
    p = Sql()
    columns = ", ".join(f"{s} AS d{i}" for i, s in enumerate(_durations(filters, p)))
    conditions = _population(filters, p)
    values: list[list[float]] = [[] for _ in STEPS]
    for row in await _rows(f"SELECT {columns} FROM lead l{where(conditions)}", p.params):
        for i in range(len(STEPS)):
            if row[f"d{i}"] is not None:
                values[i].append(float(row[f"d{i}"]))
    return {
        later: (_days(statistics.median(values[i])) if values[i] else None, len(values[i]))
        for i, (_, later) in enumerate(STEPS)
    }


async def funnel(filters: ReportFilters) -> FunnelReport:
    """People at each stage of the pathway, conversion from stage to stage, median days between
    stages, and the exits (redirected, lost with their reasons). On PostgreSQL, one scan of
    the people gives the counts and the medians together."""
    p = Sql()
    select = [f"{_counted(stage, filters, p)} AS {stage.value}" for stage in STAGES]
    select += [
        f"{_counted(Stage.REDIRECTED, filters, p)} AS redirected",
        f"{_counted(Stage.LOST, filters, p)} AS lost",
    ]
    postgres = is_postgres()
    if postgres:
        for i, (duration, made) in enumerate(
            zip(_durations(filters, p), _steps_made(filters, p), strict=True)
        ):
            select.append(
                f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {duration}) AS m{i},"
                f" COUNT(*) FILTER (WHERE {made}) AS n{i}"
            )
    conditions = _population(filters, p)
    row = (await _rows(f"SELECT {', '.join(select)} FROM lead l{where(conditions)}", p.params))[0]
    if postgres:
        medians = {
            later: (_days(row[f"m{i}"]), int(row[f"n{i}"] or 0))
            for i, (_, later) in enumerate(STEPS)
        }
    else:
        medians = await _sqlite_medians(filters)
    stages: list[StageRow] = []
    reached = int(row["reached"] or 0)
    previous: int | None = None
    cohort = filters.basis is Basis.COHORT
    for stage in STAGES:
        people = int(row[stage.value] or 0)
        median, timed = medians.get(stage, (None, 0))
        stages.append(
            StageRow(
                stage=stage.value,
                people=people,
                conversion=_ratio(people, previous) if cohort and previous is not None else None,
                of_reached=_ratio(people, reached) if cohort else None,
                median_days=median,
                timed=timed,
            )
        )
        previous = people
    return FunnelReport(
        period=_period(filters),
        filters=filters.applied(),
        stages=stages,
        redirected=int(row["redirected"] or 0),
        lost=int(row["lost"] or 0),
        lost_reasons=await _lost_reasons(filters),
    )


async def _lost_reasons(filters: ReportFilters) -> list[LostReason]:
    """Why the people who left were lost (those whose current stage is lost)."""
    p = Sql()
    conditions = _population(filters, p)
    conditions.append("l.stage = 'lost'")
    if filters.basis is Basis.ACTIVITY:
        conditions.append(_between("lost_at", filters, p))
    rows = await _rows(
        "SELECT l.lost_reason AS reason, COUNT(*) AS people FROM lead l"
        f"{where(conditions)} GROUP BY l.lost_reason ORDER BY people DESC, reason LIMIT 20",
        p.params,
    )
    return [LostReason(reason=r["reason"], people=int(r["people"])) for r in rows]


async def compare(filters: ReportFilters, by: Dimension) -> CompareReport:
    """The funnel side by side for each value of a dimension (region, partner, agent…), the
    groups with the most people reached first."""
    key_sql, joins = grouping(by)
    p = Sql()
    stage_counts = [f"{_counted(stage, filters, p)} AS {stage.value}" for stage in STAGES]
    exits = [
        f"{_counted(Stage.REDIRECTED, filters, p)} AS redirected",
        f"{_counted(Stage.LOST, filters, p)} AS lost",
    ]
    conditions = _population(filters, p)
    rows = await _rows(
        f"SELECT {key_sql} AS k, {', '.join(stage_counts + exits)} FROM lead l{joins}"
        f"{where(conditions)} GROUP BY {key_sql}",
        p.params,
    )
    names = await labels(by, [r["k"] for r in rows])
    built = [_compare_row(r, names, filters) for r in rows]
    built.sort(key=lambda r: (-r.stages[Stage.REACHED.value], -r.stages[Stage.FINANCED.value],
                              r.label))  # fmt: skip
    others = None
    if len(built) > MAX_GROUPS:
        rest = built[MAX_GROUPS:]
        built = built[:MAX_GROUPS]
        summed = {s.value: sum(r.stages[s.value] for r in rest) for s in STAGES}
        others = _finish(
            CompareRow(
                key="*",
                label=f"+{len(rest)}",
                stages=summed,
                redirected=sum(r.redirected for r in rest),
                lost=sum(r.lost for r in rest),
            ),
            filters,
        )
    return CompareReport(
        period=_period(filters), filters=filters.applied(), by=by.value, rows=built, others=others
    )


def _compare_row(row: dict[str, Any], names: dict[str | None, str], filters: ReportFilters):
    key = None if row["k"] is None else str(getattr(row["k"], "value", row["k"]))
    return _finish(
        CompareRow(
            key=key,
            label=names.get(key, key or "—"),
            stages={s.value: int(row[s.value] or 0) for s in STAGES},
            redirected=int(row["redirected"] or 0),
            lost=int(row["lost"] or 0),
        ),
        filters,
    )


def _finish(row: CompareRow, filters: ReportFilters) -> CompareRow:
    if filters.basis is Basis.COHORT:
        reached = row.stages[Stage.REACHED.value]
        row.coached_of_reached = _ratio(row.stages[Stage.COACHED.value], reached)
        row.financed_of_reached = _ratio(row.stages[Stage.FINANCED.value], reached)
    return row


# -- weekly trends ------------------------------------------------------------------------


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weeks_of(filters: ReportFilters) -> list[date]:
    first, last = _monday(filters.start), _monday(filters.end)
    return [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]


async def _week_counts_postgres(filters: ReportFilters, counts: dict[date, Any]) -> None:
    # One scan: each person gives one (series, instant) pair per milestone.
    p = Sql()
    pairs = ", ".join(f"('{stage.value}', l.{COLUMN[stage]})" for stage in TREND_SERIES)
    bucket = f"date_trunc('week', v.t AT TIME ZONE {p(settings.TIMEZONE)})::date"
    conditions = [
        # Nothing happens to a person before they are recorded.
        f"l.created_at < {p(filters.ends_before)}",
        *people_conditions(filters, p),
        f"v.t >= {p(filters.starts_at)} AND v.t < {p(filters.ends_before)}",
    ]
    sql = (
        f"SELECT v.s AS s, {bucket} AS b, COUNT(*) AS n FROM lead l"
        f" CROSS JOIN LATERAL (VALUES {pairs}) AS v(s, t){where(conditions)} GROUP BY v.s, b"
    )
    for row in await _rows(sql, p.params):
        if row["b"] in counts:
            counts[row["b"]][row["s"]] += int(row["n"])


async def _week_counts_sqlite(filters: ReportFilters, counts: dict[date, Any]) -> None:
    # SQLite keeps UTC text and knows no time zones: count per UTC hour, place each hour in its
    # local week here (Belgian offsets are whole hours, so this is exact).
    for stage in TREND_SERIES:
        column = COLUMN[stage]
        p = Sql()
        conditions = [_between(column, filters, p), *people_conditions(filters, p)]
        sql = (
            f"SELECT substr(l.{column}, 1, 13) AS b, COUNT(*) AS n FROM lead l"
            f"{where(conditions)} GROUP BY b"
        )
        for row in await _rows(sql, p.params):
            hour = datetime.strptime(row["b"], "%Y-%m-%d %H").replace(tzinfo=UTC)
            week = _monday(hour.astimezone(settings.tz).date())
            if week in counts:
                counts[week][stage.value] += int(row["n"])


async def trends(filters: ReportFilters) -> TrendsReport:
    """People reaching each main stage per week (Monday to Sunday, business time zone) in the
    period, whatever the basis: a trend is activity."""
    weeks = weeks_of(filters)
    counts: dict[date, dict[str, int]] = {w: defaultdict(int) for w in weeks}
    if is_postgres():
        await _week_counts_postgres(filters, counts)
    else:
        await _week_counts_sqlite(filters, counts)
    series = [s.value for s in TREND_SERIES]
    return TrendsReport(
        period=_period(filters),
        filters=filters.applied(),
        series=series,
        weeks=[TrendWeek(week=w, counts={s: counts[w].get(s, 0) for s in series}) for w in weeks],
    )
