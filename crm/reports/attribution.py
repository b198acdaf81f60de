"""Attribution: where the people we coached or financed came from, and which sources bring the
people who go furthest.

First touch is the person's origin as recorded when they were reached (the event they were met
at, the partner that referred them, the message they sent us, a walk-in, an import). Campaign
messages they received before their milestone are listed beside it as touches, not as origins:
a campaign writes to people already known.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from crm.db import Sql
from crm.people.models import Stage
from crm.reports.dimensions import (
    ORIGIN_SQL,
    Dimension,
    campaign_hooks,
    origin_kind,
    origin_labels,
)
from crm.reports.filters import Basis, ReportFilters, people_conditions, where
from crm.reports.funnel import STAGES, _between, _period, _rows, compare
from crm.reports.schemas import AttributedPerson, AttributionReport, CampaignTouch, CompareRow

PEOPLE_LIMIT = 500


def _reached_outcome(filters: ReportFilters, p: Sql) -> list[str]:
    """People coached or financed during the period (whenever they were reached)."""
    return [
        f"(({_between('coached_at', filters, p)}) OR ({_between('financed_at', filters, p)}))",
        *people_conditions(filters, p),
    ]


def _furthest_first(rows: list[Any]) -> list[Any]:
    order = [s.value for s in reversed(STAGES)]
    return sorted(rows, key=lambda r: ([-r.stages[s] for s in order], r.label))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def brought_by_origin(filters: ReportFilters) -> list[CompareRow]:
    """Which outreach brought the people coached or financed in the period: their origins,
    with how many were coached and financed in it, most financed first."""
    activity = await compare(replace(filters, basis=Basis.ACTIVITY), Dimension.ORIGIN)
    brought = [
        r
        for r in [*activity.rows, *([activity.others] if activity.others else [])]
        if r.stages[Stage.COACHED.value] or r.stages[Stage.FINANCED.value]
    ]
    brought.sort(key=lambda r: (-r.stages[Stage.FINANCED.value], -r.stages[Stage.COACHED.value],
                                r.label))  # fmt: skip
    return brought


async def attribution(filters: ReportFilters, *, with_people: bool) -> AttributionReport:
    """Which outreach brought the people coached or financed in the period (their origins),
    which sources bring the people who go furthest (the people reached in the period, by
    origin), the campaigns that touched the coached and financed before they got there, and
    — for roles that may see names — the people themselves. The basis filter is not used:
    each view has its own."""
    brought = await brought_by_origin(filters)
    cohort = await compare(replace(filters, basis=Basis.COHORT), Dimension.ORIGIN)
    rows = [*cohort.rows, *([cohort.others] if cohort.others else [])]
    p = Sql()
    conditions = _reached_outcome(filters, p)
    people = await _rows(
        f"SELECT l.id, l.first_name, l.last_name, l.stage, l.created_at, l.coached_at,"
        f" l.financed_at, l.reached_by_id, l.jobs_created, {ORIGIN_SQL} AS origin"
        f" FROM lead l{where(conditions)} ORDER BY l.financed_at DESC, l.coached_at DESC, l.id",
        p.params,
    )
    ids = [r["id"] for r in people]
    touches = await _campaign_touches(people)
    counted: Counter[int] = Counter()
    for campaign_ids in touches.values():
        counted.update({c for c, _ in campaign_ids})
    hooks = campaign_hooks()
    names = await hooks.names(list(counted)) if hooks and counted else {}
    report = AttributionReport(
        period=_period(filters),
        filters=filters.applied(),
        brought=brought,
        sources=_furthest_first(rows),
        campaign_touches=[
            CampaignTouch(campaign_id=c, name=names.get(c, f"#{c}"), people=n)
            for c, n in sorted(counted.items(), key=lambda item: (-item[1], item[0]))
        ],
        people_total=len(ids),
    )
    if not with_people:
        return report
    shown = people[:PEOPLE_LIMIT]
    origins = await origin_labels({r["origin"] for r in shown})
    staff = await _staff([r["reached_by_id"] for r in shown])
    referrals = await _referrals([r["id"] for r in shown])
    report.people = [
        AttributedPerson(
            lead_id=r["id"],
            name=" ".join(x for x in (r["first_name"], r["last_name"]) if x),
            stage=str(getattr(r["stage"], "value", r["stage"])),
            coached_at=_text(r["coached_at"]),
            financed_at=_text(r["financed_at"]),
            origin=r["origin"],
            origin_kind=origin_kind(r["origin"]),
            origin_label=origins.get(r["origin"], r["origin"] or "—"),
            reached_at=_text(r["created_at"]) or "",
            reached_by=staff.get(r["reached_by_id"]),
            campaigns=[names.get(c, f"#{c}") for c, _ in touches.get(r["id"], [])],
            referrals=referrals.get(r["id"], []),
            jobs_created=r["jobs_created"],
        )
        for r in shown
    ]
    return report


async def _campaign_touches(people: list[dict[str, Any]]) -> dict[int, list[tuple[int, Any]]]:
    """Campaigns each person received before they were coached (or financed)."""
    hooks = campaign_hooks()
    if hooks is None or not people:
        return {}
    received = await hooks.touches([r["id"] for r in people])
    out: dict[int, list[tuple[int, Any]]] = {}
    for r in people:
        milestone = _aware(r["coached_at"]) or _aware(r["financed_at"])
        before = [
            (c, at)
            for c, at in received.get(r["id"], [])
            if milestone is None or _aware(at) <= milestone
        ]
        if before:
            out[r["id"]] = before
    return out


async def _staff(ids: list[int | None]) -> dict[int, str]:
    from crm.auth.models import User

    wanted = {i for i in ids if i}
    return {u.id: u.display_name for u in await User.filter(id__in=wanted)} if wanted else {}


async def _referrals(lead_ids: list[int]) -> dict[int, list[str]]:
    """ "CPAS Saint-Gilles → us (completed)" for each referral of these people."""
    from crm.referrals.models import Referral

    if not lead_ids:
        return {}
    out: dict[int, list[str]] = defaultdict(list)
    for referral in (
        await Referral.filter(lead_id__in=lead_ids)
        .prefetch_related("sender", "receiver")
        .order_by("created_at")
    ):
        sender = referral.sender.name if referral.sender else "us"
        receiver = referral.receiver.name if referral.receiver else "us"
        out[referral.lead_id].append(f"{sender} → {receiver} ({referral.status.value})")
    return dict(out)
