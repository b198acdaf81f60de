"""What a report can be compared by: one grouping expression over `lead l` per dimension.

Campaigns are another package's (`campaigns` depends on `crm`, never the reverse): it registers
how to tell a campaign's recipients and names at start-up (`register_campaigns`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from crm.db import Sql
from crm.errors import InvalidInput


class Dimension(StrEnum):
    REGION = "region"
    POSTCODE = "postcode"
    EVENT = "event"
    EVENT_KIND = "event_kind"
    PARTNER = "partner"
    AGENT = "agent"
    LANGUAGE = "language"
    SEGMENT = "segment"
    SOURCE = "source"
    ORIGIN = "origin"
    CAMPAIGN = "campaign"


# Where a person came from, first touch: the event they were met at (in person, or by texting
# the stand's keyword or opening its Telegram link), the partner that referred them (by a
# referral, or by its Telegram link), a message they sent us on their own, or how else they were
# recorded. Keys: "event:<id>", "partner:<id>", "sms", "telegram", "walk_in", "import", and
# "event" / "referral" when the event or partner is not known.
ORIGIN_SQL = (
    "CASE"
    " WHEN l.event_id IS NOT NULL AND l.source IN ('event', 'sms', 'telegram')"
    " THEN 'event:' || CAST(l.event_id AS TEXT)"
    " WHEN l.referring_partner_id IS NOT NULL AND l.source IN ('referral', 'sms', 'telegram')"
    " THEN 'partner:' || CAST(l.referring_partner_id AS TEXT)"
    " ELSE l.source END"
)

# Dimension -> (grouping expression, joins it needs).
_GROUPING: dict[Dimension, tuple[str, str]] = {
    Dimension.REGION: ("l.region", ""),
    Dimension.POSTCODE: ("l.postcode", ""),
    Dimension.EVENT: ("l.event_id", ""),
    Dimension.EVENT_KIND: ("e.kind", " LEFT JOIN outreach_event e ON e.id = l.event_id"),
    Dimension.PARTNER: ("l.referring_partner_id", ""),
    Dimension.AGENT: ("l.reached_by_id", ""),
    Dimension.LANGUAGE: ("l.language", ""),
    Dimension.SEGMENT: ("s.code", " LEFT JOIN lead_segment s ON s.lead_id = l.id"),
    Dimension.SOURCE: ("l.source", ""),
    Dimension.ORIGIN: (ORIGIN_SQL, ""),
}


@dataclass(frozen=True)
class CampaignHooks:
    exists: Callable[[int], Awaitable[bool]]
    # SQL condition on `l.id` for "received a message of campaign N".
    condition: Callable[[int, Sql], str]
    # (grouping expression, join) for comparing by campaign.
    grouping: tuple[str, str]
    names: Callable[[list[int]], Awaitable[dict[int, str]]]
    # lead id -> [(campaign id, first time a message of it was sent to them)].
    touches: Callable[[list[int]], Awaitable[dict[int, list[tuple[int, datetime]]]]]
    # The campaigns that sent messages in the period, with their figures.
    results: Callable[[Any], Awaitable[list[Any]]]
    # (id, name) of the campaigns a filter may name, for the report pages' select.
    choices: Callable[[], Awaitable[list[tuple[int, str]]]]


_campaigns: CampaignHooks | None = None


def register_campaigns(hooks: CampaignHooks) -> None:
    global _campaigns
    _campaigns = hooks


async def campaign_exists(campaign_id: int) -> bool:
    return _campaigns is not None and await _campaigns.exists(campaign_id)


def campaign_condition(campaign_id: int, p: Sql) -> str:
    if _campaigns is None:
        raise InvalidInput("campaigns are not installed", field="campaign_id")
    return _campaigns.condition(campaign_id, p)


def grouping(dimension: Dimension) -> tuple[str, str]:
    if dimension is Dimension.CAMPAIGN:
        if _campaigns is None:
            raise InvalidInput("campaigns are not installed", field="by")
        return _campaigns.grouping
    return _GROUPING[dimension]


def parse_dimension(raw: str | None, name: str = "by") -> Dimension | None:
    if raw is None or not raw.strip():
        return None
    try:
        return Dimension(raw.strip())
    except ValueError:
        allowed = ", ".join(d.value for d in Dimension)
        raise InvalidInput(f"{raw!r} is not one of: {allowed}", field=name) from None


def _key_text(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


async def labels(dimension: Dimension, keys: Iterable[Any]) -> dict[str | None, str]:
    """Names for the keys of a dimension: titles, partner and staff names; codes otherwise
    (the pages translate codes). The missing value is labelled "—"."""
    texts = {_key_text(k) for k in keys}
    out: dict[str | None, str] = {None: "—"}
    ids = sorted(int(k) for k in texts if k is not None and k.isdigit())
    if dimension is Dimension.EVENT:
        from crm.outreach.models import OutreachEvent

        for event in await OutreachEvent.filter(id__in=ids):
            out[str(event.id)] = f"{event.title} ({event.starts_at:%d/%m/%Y})"
    elif dimension is Dimension.PARTNER:
        out.update(await _partner_names(ids))
    elif dimension is Dimension.AGENT:
        from crm.auth.models import User

        for user in await User.filter(id__in=ids):
            out[str(user.id)] = user.display_name
    elif dimension is Dimension.CAMPAIGN and _campaigns is not None:
        out.update({str(k): v for k, v in (await _campaigns.names(ids)).items()})
    elif dimension is Dimension.ORIGIN:
        out.update(await origin_labels(texts))
    numbered = dimension in (
        Dimension.EVENT,
        Dimension.PARTNER,
        Dimension.AGENT,
        Dimension.CAMPAIGN,
    )
    for key in texts:
        out.setdefault(key, f"#{key}" if numbered else str(key))
    return out


async def _partner_names(ids: list[int]) -> dict[str, str]:
    from crm.referrals.models import PartnerOrganisation

    return {str(p.id): p.name for p in await PartnerOrganisation.filter(id__in=ids)}


async def origin_labels(keys: Iterable[str | None]) -> dict[str | None, str]:
    """ "event:12" -> "Event: Marché du Midi (12/10/2026)", "partner:3" -> "Partner: CPAS…";
    plain sources stay codes (translated by the page)."""
    from crm.outreach.models import OutreachEvent

    keys = [k for k in keys if k]
    events = [int(k.split(":")[1]) for k in keys if k.startswith("event:")]
    partners = [int(k.split(":")[1]) for k in keys if k.startswith("partner:")]
    out: dict[str | None, str] = {}
    for event in await OutreachEvent.filter(id__in=events):
        out[f"event:{event.id}"] = f"{event.title} ({event.starts_at:%d/%m/%Y})"
    for key, name in (await _partner_names(partners)).items():
        out[f"partner:{key}"] = name
    return out


def origin_kind(key: str | None) -> str:
    """The family of an origin key: event, partner, sms, telegram, walk_in, import…"""
    if not key:
        return "unknown"
    return key.split(":")[0].replace("partner", "referral")


def campaign_hooks() -> CampaignHooks | None:
    return _campaigns
