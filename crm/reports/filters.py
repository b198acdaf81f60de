"""What a report is about: a period, a basis, filters on people and a dimension to compare by.

One `ReportFilters` serves the page, the API and the exports, so the three count the same. It
turns into one SQL `WHERE` over `lead` (aliased `l`): every report starts from the people.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from crm.config import settings
from crm.db import Sql
from crm.enums import Language
from crm.errors import InvalidInput
from crm.geo import Region
from crm.outreach.models import EventKind, InteractionChannel
from crm.people.models import LeadSource

MAX_DAYS = 3660  # ten years: longer periods are refused rather than scanned
_POSTCODE = re.compile(r"^\d{4}$")


class Basis(StrEnum):
    # cohort: the people reached in the period, and how far they have gone since.
    COHORT = "cohort"
    # activity: at each stage, the people who reached it during the period.
    ACTIVITY = "activity"


@dataclass(frozen=True)
class ReportFilters:
    """A report's period (inclusive local dates) and filters; `None` means "all"."""

    start: date
    end: date
    basis: Basis = Basis.COHORT
    postcode: tuple[str, ...] = ()
    region: Region | None = None
    event_id: int | None = None
    event_kind: EventKind | None = None
    partner_id: int | None = None
    agent_id: int | None = None
    language: Language | None = None
    segment: str | None = None
    source: LeadSource | None = None
    channel: InteractionChannel | None = None
    campaign_id: int | None = None

    @property
    def starts_at(self) -> datetime:
        """The first instant of the period (UTC), from the business time zone."""
        return _local_midnight(self.start)

    @property
    def ends_before(self) -> datetime:
        """The first instant after the period (UTC)."""
        return _local_midnight(self.end + timedelta(days=1))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def query_items(self) -> list[tuple[str, str]]:
        """The filters as query-string pairs (links to the same report elsewhere)."""
        items: list[tuple[str, str]] = [
            ("start", self.start.isoformat()),
            ("end", self.end.isoformat()),
            ("basis", self.basis.value),
        ]
        for f in fields(self):
            if f.name in ("start", "end", "basis"):
                continue
            value = getattr(self, f.name)
            if f.name == "postcode":
                items += [("postcode", p) for p in value]
            elif value is not None:
                items.append((f.name, str(value.value if isinstance(value, StrEnum) else value)))
        return items

    def applied(self) -> dict[str, Any]:
        """The filters set (for the API's answer and the export's header)."""
        out: dict[str, Any] = {}
        for key, value in self.query_items():
            if key in ("start", "end", "basis"):
                continue
            if key == "postcode":
                out.setdefault("postcode", []).append(value)
            else:
                out[key] = value
        return out

    def with_period(self, start: date, end: date) -> ReportFilters:
        return replace(self, start=start, end=end)


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=settings.tz).astimezone(UTC)


def today() -> date:
    return datetime.now(settings.tz).date()


def default_period() -> tuple[date, date]:
    """This year so far (1 January to today, business time zone)."""
    now = today()
    return date(now.year, 1, 1), now


# -- parsing (query strings of the page, the API and the export: one reader) ------------------

_ENUMS: dict[str, type[StrEnum]] = {
    "basis": Basis,
    "region": Region,
    "event_kind": EventKind,
    "language": Language,
    "source": LeadSource,
    "channel": InteractionChannel,
}
_IDS = ("event_id", "partner_id", "agent_id", "campaign_id")


def _date(name: str, raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput(f"{raw!r} is not a date (YYYY-MM-DD)", field=name) from None


def _id(name: str, raw: str) -> int:
    text = raw.strip()
    if not text.isdigit() or not 0 < int(text) < 2**31:
        raise InvalidInput(f"{raw!r} is not an id", field=name)
    return int(text)


def parse_filters(params: Mapping[str, Any], getlist: Callable[[str], list[str]]) -> ReportFilters:
    """Read filters from query parameters. Empty values mean "not set". Raises InvalidInput
    naming the parameter; ids are checked against the database by `check_filters`."""

    def one(name: str) -> str | None:
        value = params.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    default_start, default_end = default_period()
    start = _date("start", one("start")) if one("start") else default_start
    end = _date("end", one("end")) if one("end") else max(default_end, start)
    if end < start:
        raise InvalidInput("the end of the period is before its start", field="end")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput(f"the period is longer than {MAX_DAYS} days", field="end")
    values: dict[str, Any] = {"start": start, "end": end}
    for name, enum in _ENUMS.items():
        raw = one(name)
        if raw is not None:
            try:
                values[name] = enum(raw)
            except ValueError:
                allowed = ", ".join(e.value for e in enum)
                raise InvalidInput(f"{raw!r} is not one of: {allowed}", field=name) from None
    for name in _IDS:
        raw = one(name)
        if raw is not None:
            values[name] = _id(name, raw)
    codes = []
    for raw in getlist("postcode"):
        for part in raw.replace(",", " ").split():
            if not _POSTCODE.match(part):
                raise InvalidInput(f"{part!r} is not a Belgian postcode", field="postcode")
            codes.append(part)
    values["postcode"] = tuple(sorted(set(codes)))[:50]
    segment = one("segment")
    if segment is not None:
        values["segment"] = segment[:40]
    return ReportFilters(**values)


async def check_filters(filters: ReportFilters) -> None:
    """Refuse ids that name nothing (a clear 422 naming the filter, not an empty report that
    looks like a real zero)."""
    from crm.auth.models import User
    from crm.outreach.models import OutreachEvent
    from crm.people.segments import validate_segments
    from crm.referrals.models import PartnerOrganisation

    checks: list[tuple[str, Any, Any]] = [
        ("event_id", filters.event_id, OutreachEvent),
        ("partner_id", filters.partner_id, PartnerOrganisation),
        ("agent_id", filters.agent_id, User),
    ]
    for name, value, model in checks:
        if value is not None and not await model.filter(id=value).exists():
            raise InvalidInput(f"there is no {name.removesuffix('_id')} #{value}", field=name)
    if filters.campaign_id is not None:
        from crm.reports.dimensions import campaign_exists

        if not await campaign_exists(filters.campaign_id):
            raise InvalidInput(f"there is no campaign #{filters.campaign_id}", field="campaign_id")
    if filters.segment is not None:
        await validate_segments([filters.segment], field="segment")


# -- SQL ------------------------------------------------------------------------------------


def people_conditions(filters: ReportFilters, p: Sql) -> list[str]:
    """The conditions on `lead l` for the filters (the period is up to each report)."""
    out: list[str] = []
    if filters.postcode:
        out.append(f"l.postcode IN ({', '.join(p(c) for c in filters.postcode)})")
    if filters.region is not None:
        out.append(f"l.region = {p(filters.region.value)}")
    if filters.event_id is not None:
        out.append(f"l.event_id = {p(filters.event_id)}")
    if filters.event_kind is not None:
        kind = p(filters.event_kind.value)
        out.append(f"l.event_id IN (SELECT id FROM outreach_event WHERE kind = {kind})")
    if filters.partner_id is not None:
        # Referred by the partner (its referral, or recorded as the referring partner).
        mark = p(filters.partner_id)
        out.append(
            f"(l.referring_partner_id = {mark} OR l.id IN"
            f" (SELECT lead_id FROM referral WHERE sender_id = {mark}))"
        )
    if filters.agent_id is not None:
        # Reached by the agent, or met by them (an interaction they logged).
        mark = p(filters.agent_id)
        out.append(
            f"(l.reached_by_id = {mark} OR l.id IN"
            f" (SELECT lead_id FROM interaction WHERE author_id = {mark}))"
        )
    if filters.language is not None:
        out.append(f"l.language = {p(filters.language.value)}")
    if filters.segment is not None:
        out.append(f"l.id IN (SELECT lead_id FROM lead_segment WHERE code = {p(filters.segment)})")
    if filters.source is not None:
        out.append(f"l.source = {p(filters.source.value)}")
    if filters.channel is not None:
        # Contacted on that channel (a logged interaction), or came in through it.
        mark = p(filters.channel.value)
        came_in = ""
        if filters.channel.value in (LeadSource.SMS.value, LeadSource.TELEGRAM.value):
            came_in = f" OR l.source = {mark}"
        out.append(f"(l.id IN (SELECT lead_id FROM interaction WHERE channel = {mark}){came_in})")
    if filters.campaign_id is not None:
        from crm.reports.dimensions import campaign_condition

        out.append(campaign_condition(filters.campaign_id, p))
    return out


def where(conditions: list[str]) -> str:
    return " WHERE " + " AND ".join(conditions) if conditions else ""
