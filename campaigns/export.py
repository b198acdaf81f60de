"""Campaign results as exports: one row per campaign (the figures of `campaigns.stats`, so the
file and the results page never disagree), and one row per recipient of one campaign.

Registered into `crm.transfer.exports` when imported (the app and the CLI import it): `crm`
never imports `campaigns`."""

from __future__ import annotations

from typing import Any

from campaigns.models import Campaign, CampaignStatus
from campaigns.stats import campaign_stats
from channels.keywords import Keyword, match_keyword
from channels.models import InboundMessage, OutboxMessage, OutboxStatus
from crm.auth.actor import Actor
from crm.enums import Role
from crm.transfer.export_filters import ExportFilters
from crm.transfer.exports import Column, Dataset, register_dataset

ROLES = frozenset({Role.ADMIN, Role.COORDINATOR, Role.MARKETING})
FIGURES = (
    "audience",
    "queued",
    "sent",
    "delivered",
    "failed",
    "skipped",
    "replied",
    "opted_out",
    "conversions",
)


# --- one row per campaign ------------------------------------------------------------------------


def result_columns(actor: Actor) -> list[Column]:
    return [
        Column("campaign_id", "number"),
        Column("name"),
        Column("channel"),
        Column("status"),
        Column("default_language"),
        Column("created_at", "datetime"),
        Column("scheduled_at", "datetime"),
        Column("finished_at", "datetime"),
        *(Column(name, "number") for name in FIGURES),
    ]


def result_query(actor: Actor, filters: ExportFilters) -> Any:
    qs = Campaign.all()
    if filters.campaign_id is not None:
        qs = qs.filter(id=filters.campaign_id)
    if filters.status:
        qs = qs.filter(status__in=filters.status)
    return filters.in_range(qs, "created_at")


async def result_rows(
    actor: Actor, campaigns: list[Campaign], filters: ExportFilters
) -> list[list[Any]]:
    out = []
    for campaign in campaigns:
        stats = await campaign_stats(campaign)
        out.append(
            [
                campaign.id,
                campaign.name,
                campaign.channel,
                campaign.status,
                campaign.default_language,
                campaign.created_at,
                campaign.scheduled_at,
                campaign.finished_at,
                *(stats[name] for name in FIGURES),
            ]
        )
    return out


# --- one row per recipient of one campaign -------------------------------------------------------


def recipient_columns(actor: Actor) -> list[Column]:
    return [
        Column("message_id", "number"),
        Column("campaign_id", "number"),
        Column("run_id", "number"),
        Column("variant"),
        Column("person_id", "number"),
        Column("language"),
        Column("channel"),
        Column("status"),
        Column("reason"),
        Column("sent_at", "datetime"),
        Column("delivered_at", "datetime"),
        Column("replied"),
        Column("opted_out"),
    ]


def recipient_query(actor: Actor, filters: ExportFilters) -> Any:
    qs = OutboxMessage.filter(campaign_id=filters.campaign_id)
    if filters.status:
        qs = qs.filter(status__in=filters.status)
    if filters.language:
        qs = qs.filter(language__in=filters.language)
    return filters.in_range(qs, "created_at")


async def recipient_rows(
    actor: Actor, messages: list[OutboxMessage], filters: ExportFilters
) -> list[list[Any]]:
    replied: set[int] = set()
    opted_out: set[int] = set()
    for reply_to, body, channel in await InboundMessage.filter(
        reply_to_id__in=[m.id for m in messages]
    ).values_list("reply_to_id", "body", "channel"):
        # The same reading as the stats: an opt-out word is an opt-out, anything else a reply.
        found = match_keyword(body or "", telegram=str(channel) == "telegram")
        (opted_out if found and found[0] == Keyword.OPT_OUT else replied).add(reply_to)
    out = []
    for m in messages:
        status = str(m.status)
        out.append(
            [
                m.id,
                m.campaign_id,
                m.run_id,
                m.variant or "A",
                m.lead_id,  # type: ignore[attr-defined]
                m.language,
                m.channel,
                status,
                m.error_code,
                m.sent_at,
                m.status_at if status == OutboxStatus.DELIVERED else None,
                m.id in replied,
                m.id in opted_out,
            ]
        )
    return out


def register() -> None:
    """Make the campaign exports available (idempotent)."""
    register_dataset(
        Dataset(
            name="campaign-results",
            roles=ROLES,
            columns=result_columns,
            query=result_query,
            convert=result_rows,
            filters=frozenset({"campaign_id", "status", "created_since", "created_until"}),
            statuses=frozenset(s.value for s in CampaignStatus),
            unit="campaigns",
        )
    )
    register_dataset(
        Dataset(
            name="campaign-recipients",
            roles=ROLES,
            columns=recipient_columns,
            query=recipient_query,
            convert=recipient_rows,
            filters=frozenset(
                {"campaign_id", "status", "language", "created_since", "created_until"}
            ),
            statuses=frozenset(s.value for s in OutboxStatus),
            required=frozenset({"campaign_id"}),
            unit="messages",
        )
    )


register()
