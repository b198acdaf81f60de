"""What the field app shows about outreach events: an agent's events by period, and the tally
of one event (who was met, who came with it, what they consented to, how keen they were).

Every figure is read from the stored rows (interactions, people, the consent ledger, the audit
trail), never from a counter kept on the side."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tortoise.expressions import Q

from crm.audit.models import AuditEntry
from crm.auth.actor import Actor
from crm.config import settings
from crm.outreach.models import Interaction, Interest, OutreachEvent
from crm.outreach.service import visible_events
from crm.people import service as people
from crm.people.models import ConsentPurpose, Lead, LeadSource

RECENT_DAYS = 30
PERIOD_LIMIT = 30
MET_LIST_LIMIT = 300
# Audit actions by which a person who already existed got an event afterwards.
_LATER_ATTRIBUTIONS = ("lead.attribution", "lead.update", "lead.duplicate_match")


def local_today(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(settings.tz).date()


def _midnight(day: date) -> datetime:
    # In UTC: Tortoise stores UTC and, on SQLite, compares a filter's value as written
    # (a Brussels midnight "…+01:00" would be compared as text with "…+00:00").
    return datetime.combine(day, time.min, tzinfo=settings.tz).astimezone(UTC)


@dataclass
class EventsByPeriod:
    today: list[OutreachEvent]
    this_week: list[OutreachEvent]  # from tomorrow up to Sunday
    upcoming: list[OutreachEvent]  # from next Monday
    recent: list[OutreachEvent]  # ended before today, the last RECENT_DAYS days, latest first

    @property
    def empty(self) -> bool:
        return not (self.today or self.this_week or self.upcoming or self.recent)


async def events_by_period(actor: Actor, *, today: date | None = None) -> EventsByPeriod:
    """The events `actor` sees, by when they take place (business time zone). An event that
    started before today and still runs counts as today's."""
    today = today or local_today()
    start = _midnight(today)
    tomorrow = _midnight(today + timedelta(days=1))
    next_monday = _midnight(today + timedelta(days=7 - today.weekday()))
    since = _midnight(today - timedelta(days=RECENT_DAYS))
    seen = visible_events(actor)
    running_today = (Q(starts_at__gte=start) | Q(ends_at__gte=start)) & Q(starts_at__lt=tomorrow)
    ended_before = (Q(ends_at__isnull=True) | Q(ends_at__lt=start)) & Q(starts_at__lt=start)
    soonest, latest = ("starts_at", "id"), ("-starts_at", "-id")
    today_qs = seen.filter(running_today).order_by(*soonest)
    week_qs = seen.filter(starts_at__gte=tomorrow, starts_at__lt=next_monday).order_by(*soonest)
    upcoming_qs = seen.filter(starts_at__gte=next_monday).order_by(*soonest)
    recent_qs = seen.filter(ended_before, starts_at__gte=since).order_by(*latest)
    return EventsByPeriod(
        today=await today_qs.limit(PERIOD_LIMIT),
        this_week=await week_qs.limit(PERIOD_LIMIT),
        upcoming=await upcoming_qs.limit(PERIOD_LIMIT),
        recent=await recent_qs.limit(PERIOD_LIMIT),
    )


@dataclass
class PersonMet:
    lead: Lead
    last_met_at: datetime
    interest: Interest | None  # the latest one the agents noted at this event


@dataclass
class EventTally:
    people_met: int = 0
    new_people: int = 0
    wrote_in_sms: int = 0  # came with the event by texting its keyword
    wrote_in_telegram: int = 0  # came with the event through its QR code (Telegram link)
    # purpose → people met whose current consent for it is granted
    consents: dict[str, int] = field(default_factory=dict)
    # low/medium/high → people met; people met with no interest noted are `interest_unknown`
    interest: dict[str, int] = field(default_factory=dict)
    interest_unknown: int = 0
    met: list[PersonMet] = field(default_factory=list)  # those `actor` may see, latest first
    met_not_shown: int = 0  # met by colleagues, and not among the people `actor` sees

    @property
    def wrote_in(self) -> int:
        return self.wrote_in_sms + self.wrote_in_telegram


async def event_tally(event: OutreachEvent, *, actor: Actor) -> EventTally:
    """The figures of one event (already checked visible to `actor`). The figures cover
    everyone the event reached; the list of people met names only those `actor` may see."""
    tally = EventTally()
    rows = (
        await Interaction.filter(event_id=event.id)
        .order_by("occurred_at", "id")
        .values_list("lead_id", "occurred_at", "interest")
    )
    last_met: dict[int, datetime] = {}
    interest: dict[int, Interest | None] = {}
    for lead_id, occurred_at, noted in rows:
        last_met[lead_id] = occurred_at
        interest.setdefault(lead_id, None)
        if noted:
            interest[lead_id] = Interest(noted)
    met_ids = list(last_met)
    tally.people_met = len(met_ids)
    levels = Counter(level for level in interest.values() if level is not None)
    tally.interest = {level.value: levels.get(level, 0) for level in Interest}
    tally.interest_unknown = tally.people_met - sum(levels.values())

    granted: Counter[str] = Counter()
    for records in (await people.current_consents(met_ids)).values():
        granted.update(str(r.purpose) for r in records if r.granted)
    tally.consents = {purpose.value: granted.get(purpose.value, 0) for purpose in ConsentPurpose}

    came_with = await Lead.filter(event_id=event.id).values_list("id", "source")
    later = await _attributed_later(event.id, [lead_id for lead_id, _ in came_with])
    tally.new_people = sum(1 for lead_id, _ in came_with if lead_id not in later)
    tally.wrote_in_sms = sum(1 for _, source in came_with if source == LeadSource.SMS)
    tally.wrote_in_telegram = sum(1 for _, source in came_with if source == LeadSource.TELEGRAM)

    if met_ids:
        shown = await people.visible_leads(actor).filter(id__in=met_ids)
        shown.sort(key=lambda lead: (last_met[lead.id], lead.id), reverse=True)
        tally.met = [PersonMet(lead, last_met[lead.id], interest[lead.id]) for lead in shown]
        tally.met = tally.met[:MET_LIST_LIMIT]
        tally.met_not_shown = tally.people_met - len(shown)
    return tally


async def _attributed_later(event_id: int, lead_ids: list[int]) -> set[int]:
    """Of these people with the event, those who existed before and got it afterwards (a known
    person who followed the event's link or texted its keyword, a contact added to a person
    already known, an edit): they were not created with the event."""
    if not lead_ids:
        return set()
    entries = await AuditEntry.filter(
        lead_id__in=lead_ids, action__in=_LATER_ATTRIBUTIONS
    ).values_list("lead_id", "changes")
    return {lead_id for lead_id, changes in entries if _sets_event(changes, event_id)}


def _sets_event(changes: Any, event_id: int) -> bool:
    if not isinstance(changes, dict):
        return False
    added = changes.get("added")
    if isinstance(added, dict) and added.get("event_id") == event_id:
        return True
    return changes.get("event_id") == event_id
