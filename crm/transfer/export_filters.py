"""The filters of an export, read the same way from the API's query, the web form and the CLI."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from crm.config import settings
from crm.enums import Language
from crm.errors import InvalidInput
from crm.geo import Region
from crm.people.models import Stage
from crm.people.service import LeadFilters

QuerySetT = TypeVar("QuerySetT")

_POSTCODE = re.compile(r"^[1-9][0-9]{3}$")
_SEGMENT = re.compile(r"^[^\x00-\x1f]{1,40}$")
_MAX_VALUES = 50
_MAX_ID = 2**31 - 1

LIST_FILTERS = ("stage", "language", "segment", "postcode", "region", "status")
ID_FILTERS = ("event_id", "partner_id", "agent_id", "campaign_id")
DATE_FILTERS = ("created_since", "created_until")
# The filters on the person a row is about (a person, or the person of an interaction…).
PERSON_FILTERS = frozenset({"stage", "language", "segment", "postcode", "region", "q"})


@dataclass
class ExportFilters:
    """What to export. Lists combine with OR inside one filter and AND between filters, like
    the people list. `created_since`/`created_until` are days in the organisation's time zone,
    both included, on the dataset's own date (a person's creation, an interaction's date, a
    referral's creation, a campaign's creation)."""

    stage: list[str] | None = None
    language: list[str] | None = None
    segment: list[str] | None = None
    postcode: list[str] | None = None
    region: list[str] | None = None
    status: list[str] | None = None
    event_id: int | None = None
    partner_id: int | None = None
    agent_id: int | None = None
    campaign_id: int | None = None
    created_since: date | None = None
    created_until: date | None = None
    q: str | None = None

    def given(self) -> list[str]:
        """Names of the filters that are set."""
        return [f.name for f in fields(self) if getattr(self, f.name) not in (None, [], "")]

    def as_audit(self) -> dict[str, Any]:
        return {name: _jsonable(getattr(self, name)) for name in self.given()}

    def lead_filters(self) -> LeadFilters:
        """The people-list filters among these (visibility is added by `filtered_leads`)."""
        return LeadFilters(
            stage=[Stage(s) for s in self.stage] if self.stage else None,
            language=self.language or None,
            segment=self.segment or None,
            postcode=self.postcode or None,
            region=self.region or None,
            event_id=self.event_id,
            partner_id=self.partner_id,
            agent_id=self.agent_id,
            q=self.q or None,
        )

    def has_person_filters(self) -> bool:
        return any(getattr(self, n) for n in PERSON_FILTERS)

    def since(self) -> datetime | None:
        """`created_since` as the first instant of that day in TIMEZONE."""
        if self.created_since is None:
            return None
        return datetime.combine(self.created_since, time(), settings.tz).astimezone(UTC)

    def before(self) -> datetime | None:
        """The first instant after `created_until` (the whole day is included)."""
        if self.created_until is None:
            return None
        day = self.created_until + timedelta(days=1)
        return datetime.combine(day, time(), settings.tz).astimezone(UTC)

    def in_range(self, qs: QuerySetT, field: str) -> QuerySetT:
        """`qs` kept to the rows whose `field` falls in the chosen days."""
        since, before = self.since(), self.before()
        if since is not None:
            qs = qs.filter(**{f"{field}__gte": since})
        if before is not None:
            qs = qs.filter(**{f"{field}__lt": before})
        return qs


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _values(raw: Iterable[str] | str | None) -> list[str]:
    # Repeated (`?stage=a&stage=b`) or comma-separated (`--stage a,b`): both read the same.
    if raw is None:
        return []
    items = [raw] if isinstance(raw, str) else list(raw)
    out: list[str] = []
    for item in items:
        out.extend(part.strip() for part in str(item).split(",") if part.strip())
    return out


def _allowed(name: str, values: list[str], allowed: Iterable[str]) -> list[str]:
    known = set(allowed)
    for value in values:
        if value not in known:
            raise InvalidInput(f"{value!r} is not one of {', '.join(sorted(known))}", field=name)
    return values


def _id(name: str, raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) <= _MAX_ID:
        raise InvalidInput(f"{raw!r} is not an id (a whole number from 1)", field=name)
    return int(raw)


def _date(name: str, raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{raw!r} is not a date (YYYY-MM-DD)", field=name) from None


def parse_filters(values: Mapping[str, Iterable[str] | str | None]) -> ExportFilters:
    """ExportFilters from text values (query string, form, command line); empty values are
    ignored, bad ones raise InvalidInput naming the filter. `status` is checked against the
    dataset later (`exports.check_filters`)."""
    out = ExportFilters()
    for name in LIST_FILTERS:
        items = _values(values.get(name))
        if not items:
            continue
        if len(items) > _MAX_VALUES:
            raise InvalidInput(f"at most {_MAX_VALUES} values", field=name)
        if name == "stage":
            _allowed(name, items, (s.value for s in Stage))
        elif name == "language":
            _allowed(name, items, (lang.value for lang in Language))
        elif name == "region":
            _allowed(name, items, (r.value for r in Region))
        elif name == "postcode":
            for item in items:
                if not _POSTCODE.match(item):
                    raise InvalidInput(f"{item!r} is not a Belgian postcode", field=name)
        elif name == "segment":
            for item in items:
                if not _SEGMENT.match(item):
                    raise InvalidInput(f"{item!r} is not a segment code", field=name)
        setattr(out, name, list(dict.fromkeys(items)))
    for name in ID_FILTERS:
        items = _values(values.get(name))
        if len(items) > 1:
            raise InvalidInput("one id only", field=name)
        if items:
            setattr(out, name, _id(name, items[0]))
    for name in DATE_FILTERS:
        items = _values(values.get(name))
        if len(items) > 1:
            raise InvalidInput("one date only", field=name)
        if items:
            setattr(out, name, _date(name, items[0]))
    if out.created_since and out.created_until and out.created_until < out.created_since:
        raise InvalidInput("is before created_since", field="created_until")
    q = values.get("q")
    text = (q if isinstance(q, str) else " ".join(q or [])).strip()
    if len(text) > 100:
        raise InvalidInput("at most 100 characters", field="q")
    out.q = text or None
    return out
