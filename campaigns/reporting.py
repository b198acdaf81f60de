"""What the reports (`crm.reports`) need to know of campaigns: who received which campaign,
their names, and each campaign's results. Registered at start-up; `crm` never imports
`campaigns`."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from campaigns.models import Campaign
from campaigns.stats import campaign_stats
from channels.sql import rows
from crm.db import Sql
from crm.reports.dimensions import CampaignHooks, register_campaigns
from crm.reports.filters import ReportFilters
from crm.reports.schemas import CampaignResult

# Every person a campaign wrote to (queued, sent or not), once per campaign.
_RECIPIENTS = (
    " JOIN (SELECT DISTINCT lead_id, campaign_id FROM outbox_message"
    " WHERE campaign_id IS NOT NULL) o ON o.lead_id = l.id"
)


async def _exists(campaign_id: int) -> bool:
    return await Campaign.filter(id=campaign_id).exists()


def _condition(campaign_id: int, p: Sql) -> str:
    return f"l.id IN (SELECT lead_id FROM outbox_message WHERE campaign_id = {p(campaign_id)})"


async def _names(ids: list[int]) -> dict[int, str]:
    return {c.id: c.name for c in await Campaign.filter(id__in=ids)} if ids else {}


async def _touches(lead_ids: list[int]) -> dict[int, list[tuple[int, datetime]]]:
    """lead id -> campaigns sent to them, with the first time one of their messages left."""
    out: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    for start in range(0, len(lead_ids), 500):
        chunk = lead_ids[start : start + 500]
        marks = ", ".join(f"${i + 1}" for i in range(len(chunk)))
        for row in await rows(
            "SELECT lead_id, campaign_id, MIN(sent_at) AS first_sent FROM outbox_message"
            f" WHERE lead_id IN ({marks}) AND campaign_id IS NOT NULL AND sent_at IS NOT NULL"
            " GROUP BY lead_id, campaign_id ORDER BY first_sent",
            list(chunk),
        ):
            out[row["lead_id"]].append((row["campaign_id"], row["first_sent"]))
    return dict(out)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


async def _results(filters: ReportFilters) -> list[CampaignResult]:
    """The campaigns that wrote to people in the period (messages queued then), newest first,
    with their whole figures (those of the campaign's results page)."""
    sent = await rows(
        "SELECT campaign_id, MIN(created_at) AS first_sent FROM outbox_message"
        " WHERE campaign_id IS NOT NULL AND created_at >= $1 AND created_at < $2"
        " GROUP BY campaign_id",
        [filters.starts_at, filters.ends_before],
    )
    first = {r["campaign_id"]: r["first_sent"] for r in sent}
    out = []
    for campaign in await Campaign.filter(id__in=list(first)):
        stats = await campaign_stats(campaign)
        out.append(
            CampaignResult(
                campaign_id=campaign.id,
                name=campaign.name,
                channel=str(getattr(campaign.channel, "value", campaign.channel)),
                status=str(getattr(campaign.status, "value", campaign.status)),
                first_message_at=_text(first[campaign.id]),
                audience=int(stats.get("audience", 0)),
                sent=int(stats.get("sent", 0)),
                delivered=int(stats.get("delivered", 0)),
                failed=int(stats.get("failed", 0)),
                replied=int(stats.get("replied", 0)),
                opted_out=int(stats.get("opted_out", 0)),
                went_further=int(stats.get("conversions", 0)),
            )
        )
    out.sort(key=lambda r: r.first_message_at or "", reverse=True)
    return out


async def _choices() -> list[tuple[int, str]]:
    return [
        (c["id"], c["name"])
        for c in await Campaign.all().order_by("name", "id").limit(500).values("id", "name")
    ]


def install() -> None:
    register_campaigns(
        CampaignHooks(
            exists=_exists,
            condition=_condition,
            grouping=("o.campaign_id", _RECIPIENTS),
            names=_names,
            touches=_touches,
            results=_results,
            choices=_choices,
        )
    )


install()
