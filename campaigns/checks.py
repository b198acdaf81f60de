"""What a marketing user sees before scheduling: who will get what, in which language and on
which channel, what it costs in SMS segments and how long it takes at the channel's rate.

The figures come from a dry run of the next run through the same planner as the real fan-out
(same audience query, same gates, same rendering), without writing anything."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from campaigns import audience as audience_sql
from campaigns import templating
from campaigns.fanout import SKIP_REASONS, dry_run
from campaigns.models import Campaign, CampaignChannel
from campaigns.schedule import parse
from campaigns.service import warnings
from channels.hours import in_quiet_hours, quiet_hours_end
from channels.sms_segments import count_segments
from channels.texts import text
from crm.config import settings
from crm.errors import InvalidInput


def _first_run(campaign: Campaign, at: datetime) -> datetime:
    if campaign.next_run_at is not None:
        return campaign.next_run_at
    if campaign.schedule:
        try:
            first = parse(campaign.schedule).next_fire(at)
        except InvalidInput:
            first = None
        if first is not None:
            return first
    return at


def sample(campaign: Campaign, language: str, channel: str) -> dict[str, Any]:
    """The message rendered with sample values, for languages nobody in the audience speaks."""
    context = templating.sample_context(language)
    context["opt_out"] = text(f"opt_out_hint_{channel}", language)
    template = templating.compile_messages({language: campaign.messages[language]})[language]
    body = templating.render(template, context)
    if channel == "sms":
        info = count_segments(body)
        return {"body": body, "segments": info.segments, "encoding": str(info.encoding)}
    return {"body": body, "segments": 1, "encoding": "text"}


async def pre_schedule_checks(campaign: Campaign, *, at: datetime | None = None) -> dict[str, Any]:
    at = at or datetime.now(UTC)
    planned = _first_run(campaign, at)
    result = await dry_run(campaign, planned_at=planned)
    schedule = parse(campaign.schedule) if campaign.schedule else None
    base_audience = None
    if schedule is not None and schedule.kind == "after":
        # A relative run only takes the people whose date falls on its day.
        condition = audience_sql.build_condition(campaign.audience or {}, now=at)
        base_audience = await audience_sql.count(condition)
    default_channel = "telegram" if campaign.channel == CampaignChannel.TELEGRAM else "sms"
    languages: dict[str, Any] = {}
    for lang in campaign.messages:
        real = result.samples.get(lang)
        shown = real or {**sample(campaign, lang, default_channel), "channel": default_channel}
        languages[lang] = {
            "people": result.by_language.get(lang, 0),
            "fallbacks": result.fallbacks.get(lang, 0),
            "segments": result.segments.get(lang, 0),
            "encodings": dict(result.encodings.get(lang, {})),
            "sample": {**shown, "from_audience": real is not None},
        }
    total_segments = sum(result.segments.values())
    sms_seconds = total_segments / settings.SMS_RATE_PER_SECOND
    telegram_seconds = result.telegram_messages / settings.TELEGRAM_RATE_PER_SECOND
    starts = quiet_hours_end(planned) if in_quiet_hours(planned) else planned
    return {
        "first_run_at": planned,
        "sending_starts_at": starts,
        "schedule": schedule.describe() if schedule else None,
        "audience": result.audience,
        "base_audience": base_audience,
        "will_send": result.audience - sum(result.skipped.values()),
        "skipped": dict(result.skipped),
        "skipped_reasons": {k: SKIP_REASONS.get(k, k) for k in result.skipped},
        "by_language": dict(result.by_language),
        "by_channel": dict(result.by_channel),
        "fallbacks": sum(result.fallbacks.values()),
        "languages": languages,
        "total_segments": total_segments,
        "telegram_messages": result.telegram_messages,
        # Channels send side by side, each at its own rate.
        "expected_seconds": round(max(sms_seconds, telegram_seconds), 1),
        "sms_rate_per_second": settings.SMS_RATE_PER_SECOND,
        "telegram_rate_per_second": settings.TELEGRAM_RATE_PER_SECOND,
        "warnings": await warnings(campaign),
    }
