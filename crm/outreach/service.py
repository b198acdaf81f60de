"""Outreach events, the people registered for them, and the interaction log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from crm import geo
from crm.audit import service as audit
from crm.auth.actor import Actor
from crm.auth.models import User
from crm.config import settings
from crm.enums import Role
from crm.errors import InvalidInput, NotFound
from crm.outreach.keywords import keyword_candidates, keyword_problem, normalise_keyword
from crm.outreach.models import EventRegistration, Interaction, OutreachEvent
from crm.outreach.schemas import EventCreate, EventUpdate, InteractionCreate
from crm.people import service as people
from crm.people.models import Lead
from crm.referrals.models import PartnerOrganisation


def telegram_link(event_id: int) -> str | None:
    if not settings.TELEGRAM_BOT_USERNAME:
        return None
    return f"https://t.me/{settings.TELEGRAM_BOT_USERNAME}?start=ev_{event_id}"


def visible_events(actor: Actor) -> QuerySet[OutreachEvent]:
    if actor.role == Role.AGENT:
        return OutreachEvent.filter(agents__id=actor.user_id).distinct()
    if actor.role == Role.PARTNER:
        return OutreachEvent.filter(id=-1)
    return OutreachEvent.all()


async def get_visible_event(actor: Actor, event_id: int) -> OutreachEvent:
    event = await visible_events(actor).get_or_none(id=event_id)
    if event is None:
        raise NotFound(f"no outreach event with id {event_id}", field="id")
    return event


async def _check_refs(values: dict[str, Any]) -> list[User] | None:
    geo.apply_postcode(values)
    partner_id = values.get("partner_id")
    if partner_id is not None and not await PartnerOrganisation.exists(id=partner_id):
        raise InvalidInput(f"no partner with id {partner_id}", field="partner_id")
    agent_ids = values.pop("agent_ids", None)
    if agent_ids is None:
        return None
    agents = await User.filter(id__in=agent_ids, is_active=True).exclude(role=Role.PARTNER)
    missing = sorted(set(agent_ids) - {a.id for a in agents})
    if missing:
        raise InvalidInput(f"no staff member with id {missing}", field="agent_ids")
    return list(agents)


async def _checked_keyword(raw: str, *, event_id: int | None = None) -> str:
    """The keyword as stored ("marché12" → "MARCHE12"), once it is valid and no other event
    uses it; InvalidInput naming `keyword` otherwise."""
    keyword = normalise_keyword(raw)
    problem = keyword_problem(keyword)
    if problem:
        raise InvalidInput(problem, field="keyword")
    await _refuse_if_taken(keyword, event_id=event_id)
    return keyword


async def _refuse_if_taken(keyword: str, *, event_id: int | None) -> None:
    other = OutreachEvent.filter(keyword=keyword)
    if event_id is not None:
        other = other.exclude(id=event_id)
    if await other.exists():
        raise InvalidInput(f"{keyword} is already the keyword of another event", field="keyword")


async def _free_generated_keyword(event: OutreachEvent) -> str | None:
    candidates = keyword_candidates(event.title, event.id)
    used = OutreachEvent.filter(keyword__in=candidates).values_list("keyword", flat=True)
    taken = set(await used)
    return next((c for c in candidates if c not in taken), None)


async def create_event(data: EventCreate, *, actor: Actor) -> OutreachEvent:
    """Create an event. Without a keyword, one is made from the title and the id
    ("Marché du Midi" → "MARCHE12")."""
    values = data.model_dump()
    agents = await _check_refs(values)
    wanted = values.pop("keyword", None)
    keyword = await _checked_keyword(wanted) if wanted is not None else None
    if agents is None and actor.role == Role.AGENT:
        agents = [await User.get(id=actor.user_id)]  # an agent works the events they create
    for attempt in range(2):
        try:
            async with in_transaction():
                event = await OutreachEvent.create(
                    **values, keyword=keyword, created_by_id=actor.user_id
                )
                if keyword is None:
                    event.keyword = await _free_generated_keyword(event)
                    if event.keyword:
                        await event.save(update_fields=["keyword"])
                if agents:
                    await event.agents.add(*agents)
                await audit.record(
                    actor,
                    "event.create",
                    entity="event",
                    entity_id=event.id,
                    changes={**data.model_dump(mode="json"), "keyword": event.keyword},
                )
            return event
        except IntegrityError:
            # Another request took the keyword between the check and the insert.
            if keyword is not None:
                await _refuse_if_taken(keyword, event_id=None)
            if attempt:
                raise
    raise AssertionError("unreachable")


async def give_generated_keyword(event: OutreachEvent, *, actor: Actor) -> OutreachEvent:
    """Give an event without a keyword one made from its title (nothing when it has one)."""
    if event.keyword:
        return event
    keyword = await _free_generated_keyword(event)
    if keyword is None:
        return event
    try:
        async with in_transaction():
            await OutreachEvent.filter(id=event.id, keyword=None).update(keyword=keyword)
            await audit.record(
                actor,
                "event.update",
                entity="event",
                entity_id=event.id,
                changes={"keyword": keyword},
            )
    except IntegrityError:
        return event  # taken a moment ago by another event: the event stays without one
    await event.refresh_from_db(fields=["keyword"])
    return event


async def update_event(event: OutreachEvent, data: EventUpdate, *, actor: Actor) -> OutreachEvent:
    values = data.model_dump(exclude_unset=True)
    if any(values.get(k) is None for k in ("kind", "title", "starts_at") if k in values):
        field = next(k for k in ("kind", "title", "starts_at") if k in values and values[k] is None)
        raise InvalidInput("cannot be empty", field=field)
    agents = await _check_refs(values)
    starts = values.get("starts_at", event.starts_at)
    ends = values.get("ends_at", event.ends_at)
    if ends and starts and ends < starts:
        raise InvalidInput("must not be before starts_at", field="ends_at")
    keyword = values.get("keyword")
    if keyword is not None:
        values["keyword"] = keyword = await _checked_keyword(keyword, event_id=event.id)
    try:
        async with in_transaction():
            for key, value in values.items():
                setattr(event, key, value)
            await event.save()
            if agents is not None:
                await event.agents.clear()
                if agents:
                    await event.agents.add(*agents)
            changes = data.model_dump(mode="json", exclude_unset=True)
            if "keyword" in values:
                changes["keyword"] = keyword
            await audit.record(
                actor, "event.update", entity="event", entity_id=event.id, changes=changes
            )
    except IntegrityError:
        # Another request took the keyword between the check and the save.
        if keyword is not None:
            await _refuse_if_taken(keyword, event_id=event.id)
        raise
    return event


async def agent_ids_of(event_ids: list[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {i: [] for i in event_ids}
    if event_ids:
        rows = await OutreachEvent.filter(id__in=event_ids).values_list("id", "agents__id")
        for event_id, agent_id in rows:
            if agent_id is not None:
                out[event_id].append(agent_id)
    return out


@dataclass
class InteractionResult:
    interaction: Interaction
    created: bool


async def log_interaction(
    lead: Lead, data: InteractionCreate, *, actor: Actor
) -> InteractionResult:
    """Append to the person's log. The same `client_id` twice gives back the first entry."""
    if data.client_id is not None:
        existing = await Interaction.get_or_none(client_id=data.client_id)
        if existing is not None:
            if existing.lead_id != lead.id:  # type: ignore[attr-defined]
                raise InvalidInput(
                    "this client_id was already used for another person", field="client_id"
                )
            return InteractionResult(existing, created=False)
    if data.event_id is not None and not await OutreachEvent.exists(id=data.event_id):
        raise InvalidInput(f"no outreach event with id {data.event_id}", field="event_id")
    occurred = data.occurred_at or datetime.now(UTC)
    try:
        async with in_transaction():
            interaction = await Interaction.create(
                lead=lead,
                kind=data.kind,
                channel=data.channel,
                occurred_at=occurred,
                notes=data.notes,
                client_id=data.client_id,
                event_id=data.event_id,
                interest=data.interest,
                author_id=actor.user_id,
            )
            if lead.last_contacted_at is None or occurred > lead.last_contacted_at:
                await Lead.filter(id=lead.id).update(last_contacted_at=occurred)
                lead.last_contacted_at = occurred
            await audit.record(
                actor,
                "interaction.create",
                entity="interaction",
                entity_id=interaction.id,
                lead_id=lead.id,
                changes={"kind": data.kind, "channel": data.channel},
            )
    except IntegrityError:
        # The same device sync raced itself: the other request stored it.
        existing = await Interaction.get_or_none(client_id=data.client_id)
        if existing is None:
            raise
        return InteractionResult(existing, created=False)
    return InteractionResult(interaction, created=True)


# --- registrations -----------------------------------------------------------------------------


@dataclass
class RegistrationResult:
    registration: EventRegistration
    created: bool


def visible_registrations(actor: Actor, event: OutreachEvent) -> QuerySet[EventRegistration]:
    """The registrations for an event (already checked visible) of the people this actor sees."""
    qs = EventRegistration.filter(event_id=event.id)
    if not actor.sees_everything:
        qs = qs.filter(lead_id__in=Subquery(people.visible_leads(actor).values("id")))
    return qs


async def register(event: OutreachEvent, *, lead_id: int, actor: Actor) -> RegistrationResult:
    """Register a person for an event. Registering them again gives back the first registration."""
    lead = await people.visible_leads(actor).get_or_none(id=lead_id)
    if lead is None:
        raise InvalidInput(f"no person with id {lead_id}", field="lead_id")
    existing = await EventRegistration.get_or_none(event_id=event.id, lead_id=lead.id)
    if existing is not None:
        return RegistrationResult(existing, created=False)
    try:
        async with in_transaction():
            registration = await EventRegistration.create(
                event_id=event.id, lead_id=lead.id, registered_by_id=actor.user_id
            )
            await audit.record(
                actor,
                "registration.create",
                entity="registration",
                entity_id=registration.id,
                lead_id=lead.id,
                changes={"event_id": event.id},
            )
    except IntegrityError:
        # Two requests registered the same person at once: the other one stored it.
        existing = await EventRegistration.get_or_none(event_id=event.id, lead_id=lead.id)
        if existing is None:
            raise
        return RegistrationResult(existing, created=False)
    return RegistrationResult(registration, created=True)


async def get_registration(
    event: OutreachEvent, *, lead_id: int, actor: Actor
) -> EventRegistration:
    registration = await visible_registrations(actor, event).get_or_none(lead_id=lead_id)
    if registration is None:
        raise NotFound(f"person {lead_id} is not registered for event {event.id}", field="lead_id")
    return registration


async def mark_attendance(
    registration: EventRegistration, *, attended: bool | None, actor: Actor
) -> EventRegistration:
    async with in_transaction():
        registration.attended = attended
        await registration.save(update_fields=["attended"])
        await audit.record(
            actor,
            "registration.update",
            entity="registration",
            entity_id=registration.id,
            lead_id=registration.lead_id,  # type: ignore[attr-defined]
            changes={"event_id": registration.event_id, "attended": attended},  # type: ignore[attr-defined]
        )
    return registration


async def unregister(registration: EventRegistration, *, actor: Actor) -> None:
    async with in_transaction():
        await registration.delete()
        await audit.record(
            actor,
            "registration.delete",
            entity="registration",
            entity_id=registration.id,
            lead_id=registration.lead_id,  # type: ignore[attr-defined]
            changes={"event_id": registration.event_id},  # type: ignore[attr-defined]
        )
