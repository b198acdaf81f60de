"""Results of a campaign, per run and per A/B variant, counted from the stored rows.

Every person of a run's audience has one outbox row (queued or skipped with its reason), so
the figures are GROUP BY queries over those rows; replies come from the inbound messages that
answer them, opt-outs from those replies, and conversions from the stage changes that
followed a message within the campaign's window. Nothing is counted by hand."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from campaigns.fanout import SKIP_REASONS
from campaigns.models import Campaign, CampaignRun
from channels.hours import in_quiet_hours
from channels.keywords import Keyword, match_keyword
from channels.sql import rows
from crm.people.models import Stage

FORWARD = [
    Stage.REACHED, Stage.LEAD, Stage.CONTACTED, Stage.INFO_SESSION, Stage.APPLICATION,
    Stage.COACHED, Stage.FINANCED,
]  # fmt: skip
RANK = {str(s): i for i, s in enumerate(FORWARD)}
WAITING = ("queued", "sending", "paused")
ACCEPTED = ("sent", "delivered", "undelivered")
FAILED = ("failed", "undelivered")


def _dt(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _empty() -> dict[str, Any]:
    return {
        "audience": 0, "queued": 0, "waiting": 0, "sent": 0, "delivered": 0, "failed": 0,
        "skipped": 0, "unknown": 0, "replied": 0, "opted_out": 0, "conversions": 0,
        "segments": 0, "failed_reasons": {}, "skipped_reasons": {},
    }  # fmt: skip


def _add(figures: dict[str, Any], status: str, code: str | None, n: int, segments: int) -> None:
    figures["audience"] += n
    if status == "skipped":
        figures["skipped"] += n
        key = code or "other"
        figures["skipped_reasons"][key] = figures["skipped_reasons"].get(key, 0) + n
        return
    figures["queued"] += n  # written to the outbox to be sent
    figures["segments"] += segments
    if status in WAITING:
        figures["waiting"] += n
    if status in ACCEPTED:
        figures["sent"] += n
    if status == "delivered":
        figures["delivered"] += n
    if status == "unknown":
        figures["unknown"] += n
    if status in FAILED:
        figures["failed"] += n
        key = code or "other"
        figures["failed_reasons"][key] = figures["failed_reasons"].get(key, 0) + n


async def campaign_stats(campaign: Campaign, *, run_id: int | None = None) -> dict[str, Any]:
    """Figures for the whole campaign (or one run), with per-variant and per-run breakdowns."""
    where = "o.campaign_id = $1" + (" AND o.run_id = $2" if run_id else "")
    params: list[Any] = [campaign.id] + ([run_id] if run_id else [])
    total = _empty()
    by_variant: dict[str, dict[str, Any]] = defaultdict(_empty)
    by_run: dict[int, dict[str, Any]] = defaultdict(_empty)
    for row in await rows(
        "SELECT o.status, o.error_code, o.variant, o.run_id, count(*) AS n, "
        f"sum(o.segments) AS segs FROM outbox_message o WHERE {where} "
        "GROUP BY o.status, o.error_code, o.variant, o.run_id",
        params,
    ):
        n, segs = int(row["n"]), int(row["segs"] or 0)
        for figures in (total, by_variant[row["variant"] or "A"], by_run[row["run_id"] or 0]):
            _add(figures, row["status"], row["error_code"], n, segs)

    # Replies: inbound messages answering one of this campaign's messages.
    replied: dict[str, set[int]] = defaultdict(set)
    opted: dict[str, set[int]] = defaultdict(set)
    run_replied: dict[int, set[int]] = defaultdict(set)
    run_opted: dict[int, set[int]] = defaultdict(set)
    for row in await rows(
        "SELECT i.lead_id, i.body, i.channel, o.variant, o.run_id FROM inbound_message i "
        f"JOIN outbox_message o ON o.id = i.reply_to_id WHERE {where}",
        params,
    ):
        variant, lead = row["variant"] or "A", row["lead_id"]
        found = match_keyword(row["body"] or "", telegram=row["channel"] == "telegram")
        if found and found[0] == Keyword.OPT_OUT:
            opted[variant].add(lead)
            run_opted[row["run_id"] or 0].add(lead)
        else:
            replied[variant].add(lead)
            run_replied[row["run_id"] or 0].add(lead)

    # Conversions: a stage change forward within conversion_days after a message was sent.
    window = timedelta(days=campaign.conversion_days)
    converted: dict[str, set[int]] = defaultdict(set)
    run_converted: dict[int, set[int]] = defaultdict(set)
    for row in await rows(
        "SELECT c.lead_id, c.from_stage, c.to_stage, c.at, o.sent_at, o.variant, o.run_id "
        "FROM lead_stage_change c JOIN outbox_message o ON o.lead_id = c.lead_id "
        f"WHERE {where} AND o.sent_at IS NOT NULL AND c.at >= o.sent_at",
        params,
    ):
        if _dt(row["at"]) > _dt(row["sent_at"]) + window:
            continue
        before = RANK.get(row["from_stage"] or "")
        after = RANK.get(row["to_stage"])
        if before is not None and after is not None and after > before:
            converted[row["variant"] or "A"].add(row["lead_id"])
            run_converted[row["run_id"] or 0].add(row["lead_id"])

    def people(groups: dict[Any, set[int]]) -> int:
        return len(set().union(*groups.values())) if groups else 0

    total["replied"], total["opted_out"] = people(replied), people(opted)
    total["conversions"] = people(converted)
    for name, figures in by_variant.items():
        figures["replied"] = len(replied.get(name, ()))
        figures["opted_out"] = len(opted.get(name, ()))
        figures["conversions"] = len(converted.get(name, ()))
    for run, figures in by_run.items():
        figures["replied"] = len(run_replied.get(run, ()))
        figures["opted_out"] = len(run_opted.get(run, ()))
        figures["conversions"] = len(run_converted.get(run, ()))

    total["reasons"] = {k: SKIP_REASONS.get(k, k) for k in total["skipped_reasons"]}
    total["waiting_for_quiet_hours_end"] = total["waiting"] if in_quiet_hours() else 0
    total["conversion_days"] = campaign.conversion_days
    total["variants"] = {
        name: {**figures, "share": _share(campaign, name)}
        for name, figures in sorted(by_variant.items())
    }
    if run_id is None:
        runs = await CampaignRun.filter(campaign_id=campaign.id).order_by("-planned_at")
        total["runs"] = [
            {
                "id": run.id,
                "planned_at": run.planned_at,
                "status": str(run.status),
                "started_at": run.started_at,
                "finished_at": run.finished_at,
                **{k: v for k, v in by_run.get(run.id, _empty()).items() if k != "failed_reasons"},
            }
            for run in runs
        ]
    return total


def _share(campaign: Campaign, name: str) -> int:
    variants = campaign.variants or []
    if name == "A":
        return 100 - sum(int(v["share"]) for v in variants)
    return next((int(v["share"]) for v in variants if v["name"] == name), 0)
