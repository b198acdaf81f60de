"""A person's timeline: everything that happened to them, newest first.

Other packages (the channels' messages) add their own entries through `register_source`, so
that `crm` does not import them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from crm.auth.actor import Actor
from crm.config import settings
from crm.outreach.models import EventRegistration, Interaction
from crm.people.models import ConsentRecord, Lead, LeadMerge, LeadStageChange
from crm.people.schemas import TimelineItem
from crm.referrals.models import Referral

TimelineSource = Callable[[Lead, Actor], Awaitable[list[TimelineItem]]]
_sources: list[TimelineSource] = []


def register_source(source: TimelineSource) -> None:
    if source not in _sources:
        _sources.append(source)


async def _interactions(lead: Lead, actor: Actor) -> list[TimelineItem]:
    return [
        TimelineItem(
            type="interaction",
            at=i.occurred_at,
            id=i.id,
            summary=f"{i.kind} ({i.channel})",
            data={
                "kind": i.kind,
                "channel": i.channel,
                "event_id": i.event_id,  # type: ignore[attr-defined]
                "author_id": i.author_id,  # type: ignore[attr-defined]
                **({"notes": i.notes} if actor.sees_notes else {}),
            },
        )
        for i in await Interaction.filter(lead_id=lead.id)
    ]


async def _stages(lead: Lead, actor: Actor) -> list[TimelineItem]:
    return [
        TimelineItem(
            type="stage_change",
            at=c.at,
            id=c.id,
            summary=f"{c.from_stage or '—'} → {c.to_stage}",
            data={
                "from": c.from_stage,
                "to": c.to_stage,
                "reason": c.reason,
                "by_user_id": c.by_user_id,
            },  # type: ignore[attr-defined]
        )
        for c in await LeadStageChange.filter(lead_id=lead.id)
    ]


async def _consents(lead: Lead, actor: Actor) -> list[TimelineItem]:
    return [
        TimelineItem(
            type="consent",
            at=c.recorded_at,
            id=c.id,
            summary=f"{c.purpose}: {'granted' if c.granted else 'withdrawn'}",
            data={
                "purpose": c.purpose,
                "granted": c.granted,
                "source": c.source,
                "method": c.method,
                "text_version": c.text_version,
            },
        )
        for c in await ConsentRecord.filter(lead_id=lead.id)
    ]


async def _referrals(lead: Lead, actor: Actor) -> list[TimelineItem]:
    items = []
    for r in await Referral.filter(lead_id=lead.id).prefetch_related("sender", "receiver"):
        sender = r.sender.name if r.sender else settings.ORGANISATION_NAME
        receiver = r.receiver.name if r.receiver else settings.ORGANISATION_NAME
        items.append(
            TimelineItem(
                type="referral",
                at=r.created_at,
                id=r.id,
                summary=f"{sender} → {receiver}: {r.purpose} ({r.status})",
                data={
                    "purpose": r.purpose,
                    "status": r.status,
                    "sender": sender,
                    "receiver": receiver,
                },
            )
        )
    return items


async def _registrations(lead: Lead, actor: Actor) -> list[TimelineItem]:
    return [
        TimelineItem(
            type="registration",
            at=r.registered_at,
            id=r.id,
            summary=f"registered for {r.event.title}",
            data={
                "event_id": r.event.id,
                "event_title": r.event.title,
                "event_starts_at": r.event.starts_at,
                "attended": r.attended,
                "registered_by": r.registered_by_id,  # type: ignore[attr-defined]
            },
        )
        for r in await EventRegistration.filter(lead_id=lead.id).prefetch_related("event")
    ]


async def _merges(lead: Lead, actor: Actor) -> list[TimelineItem]:
    items = []
    for m in await LeadMerge.filter(kept_lead_id=lead.id):
        snap = m.merged_snapshot or {}
        name = " ".join(p for p in (snap.get("first_name"), snap.get("last_name")) if p)
        items.append(
            TimelineItem(
                type="merge",
                at=m.at,
                id=m.id,
                summary=f"merged with #{m.merged_lead_id} ({name}) by {m.by_label}",
                data={
                    "merged_lead_id": m.merged_lead_id,
                    "merged_name": name,
                    "by": m.by_label,
                    "by_user_id": m.by_user_id,  # type: ignore[attr-defined]
                    "reason": m.reason,
                },
            )
        )
    return items


async def timeline(lead: Lead, actor: Actor) -> list[TimelineItem]:
    items: list[TimelineItem] = []
    sources = (_interactions, _stages, _consents, _referrals, _registrations, _merges)
    for source in (*sources, *_sources):
        items.extend(await source(lead, actor))
    items.sort(key=lambda item: (item.at, item.type, item.id), reverse=True)
    return items
