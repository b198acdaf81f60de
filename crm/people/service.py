"""People: one find-or-create for every entry point, updates, stages, consent and visibility."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from crm import geo
from crm.audit import service as audit
from crm.auth.actor import Actor
from crm.auth.models import User
from crm.enums import Role
from crm.errors import Conflict, InvalidInput, NotFound
from crm.outreach.models import Interaction, OutreachEvent
from crm.people import pathway
from crm.people.models import (
    ConsentRecord,
    ConsentSource,
    Lead,
    LeadSegment,
    LeadSource,
    LeadStageChange,
    Stage,
)
from crm.people.phones import normalize_phone
from crm.people.schemas import ConsentIn, LeadCreate, LeadUpdate
from crm.people.segments import validate_segments
from crm.referrals.models import PartnerOrganisation, Referral

# Fields copied as they are from the input to the row (after normalisation).
_PLAIN_FIELDS = (
    "first_name",
    "last_name",
    "phone",
    "email",
    "telegram_chat_id",
    "language",
    "postcode",
    "region",
    "gender",
    "birth_year",
    "employment_status",
    "background",
    "social_assistance",
    "jobs_created",
    "jobs_kept",
    "event_id",
    "referring_partner_id",
    "assigned_agent_id",
    "project_summary",
    "project_sector",
    "notes",
    "follow_up_on",
)


def _now() -> datetime:
    return datetime.now(UTC)


async def normalise(values: dict[str, Any]) -> dict[str, Any]:
    """Normalise what a caller sent: E.164 phone, lower-case e-mail, postcode → region and
    default language, known segments, existing event/partner/agent. Raises InvalidInput."""
    out = dict(values)
    if out.get("phone") is not None:
        try:
            out["phone"] = normalize_phone(out["phone"])
        except ValueError as exc:
            raise InvalidInput(f"{out['phone']!r} {exc}", field="phone") from None
    if out.get("email") is not None:
        out["email"] = str(out["email"]).strip().lower()
    geo.apply_postcode(out)
    if out.get("segments") is not None:
        out["segments"] = await validate_segments(out["segments"])
    if out.get("event_id") is not None and not await OutreachEvent.exists(id=out["event_id"]):
        raise InvalidInput(f"no outreach event with id {out['event_id']}", field="event_id")
    partner_id = out.get("referring_partner_id")
    if partner_id is not None and not await PartnerOrganisation.exists(id=partner_id):
        raise InvalidInput(f"no partner with id {partner_id}", field="referring_partner_id")
    agent_id = out.get("assigned_agent_id")
    if agent_id is not None and not await User.exists(
        id=agent_id, role__in=[Role.AGENT, Role.COORDINATOR, Role.ADMIN], is_active=True
    ):
        raise InvalidInput(f"no active staff member with id {agent_id}", field="assigned_agent_id")
    if out.get("stage") == Stage.LOST and not out.get("lost_reason"):
        raise InvalidInput("a reason is required when the stage is lost", field="lost_reason")
    return out


async def find_match(
    *, phone: str | None = None, email: str | None = None, telegram_chat_id: int | None = None
) -> Lead | None:
    """The existing person for these identifiers: by E.164 phone, then e-mail, then chat id."""
    conditions = []
    if phone:
        conditions.append(Q(phone=phone))
    if email:
        conditions.append(Q(email=email))
    if telegram_chat_id is not None:
        conditions.append(Q(telegram_chat_id=telegram_chat_id))
    if not conditions:
        return None
    # One query for the three keys; the order of preference is applied here.
    candidates = await Lead.filter(Q(*conditions, join_type="OR")).order_by("id").limit(10)
    for key, value in (("phone", phone), ("email", email), ("telegram_chat_id", telegram_chat_id)):
        if value is None or value == "":
            continue
        for lead in candidates:
            if getattr(lead, key) == value:
                return lead
    return None


@dataclass
class LeadResult:
    lead: Lead
    created: bool
    # Known without a query when the person was just created.
    segments: list[str] | None = None
    consents: list[ConsentRecord] | None = None


async def find_or_create_lead(
    data: LeadCreate,
    *,
    actor: Actor | None,
    consent_source: ConsentSource = ConsentSource.API,
    default_source: LeadSource | None = None,
) -> LeadResult:
    """The one entry for a person, from every channel. A match on phone, e-mail or Telegram chat
    adds the new facts to the existing person without overwriting what is already filled."""
    values = await normalise(data.model_dump(exclude={"consents"}, exclude_unset=False))
    if values.get("source") is None:
        values["source"] = default_source or (
            LeadSource.EVENT if values.get("event_id") else LeadSource.WALK_IN
        )
    for _attempt in range(2):
        existing = await find_match(
            phone=values.get("phone"),
            email=values.get("email"),
            telegram_chat_id=values.get("telegram_chat_id"),
        )
        if existing:
            await _merge_new_facts(existing, values, data.consents, actor, consent_source)
            return LeadResult(existing, created=False)
        try:
            lead, consents = await _create(values, data.consents, actor, consent_source)
            return LeadResult(lead, True, sorted(set(values.get("segments") or [])), consents)
        except IntegrityError:
            # Another request created the same person a moment ago: use theirs.
            continue
    raise InvalidInput("could not store this person; try again", field="phone")


async def _create(
    values: dict[str, Any],
    consents: list[ConsentIn],
    actor: Actor | None,
    consent_source: ConsentSource,
) -> tuple[Lead, list[ConsentRecord]]:
    segments = values.get("segments") or []
    now = _now()
    async with in_transaction():
        lead = await Lead.create(
            **{k: values.get(k) for k in _PLAIN_FIELDS},
            stage=values["stage"],
            lost_reason=values.get("lost_reason"),
            source=values["source"],
            reached_by_id=actor.user_id if actor and actor.role != Role.PARTNER else None,
            created_at=now,
            **pathway.initial(values["stage"], now),
        )
        if segments:
            await LeadSegment.bulk_create([LeadSegment(lead=lead, code=c) for c in segments])
        await LeadStageChange.create(
            lead=lead,
            from_stage=None,
            to_stage=lead.stage,
            reason=lead.lost_reason,
            by_user_id=actor.user_id if actor else None,
            at=now,
        )
        records = [
            await record_consent(lead, consent, source=consent_source, actor=actor)
            for consent in consents
        ]
        await audit.record(
            actor,
            "lead.create",
            entity="lead",
            entity_id=lead.id,
            lead_id=lead.id,
            changes={
                **{k: values.get(k) for k in _PLAIN_FIELDS if values.get(k) is not None},
                "segments": segments,
                "stage": lead.stage,
                "source": lead.source,
            },
        )
    return lead, records


async def add_new_facts(
    lead: Lead,
    data: LeadCreate,
    *,
    actor: Actor | None,
    consent_source: ConsentSource = ConsentSource.API,
) -> dict[str, Any]:
    """Add what a caller knows to a person they chose (the existing person offered while an
    agent types a phone): empty fields filled, new segments and consents recorded, nothing
    overwritten. Returns the normalised values the caller sent."""
    values = await normalise(data.model_dump(exclude={"consents"}, exclude_unset=False))
    phone = values.get("phone")
    if phone and phone != lead.phone:
        owner = await Lead.get_or_none(phone=phone)
        if owner is not None and owner.id != lead.id:
            raise InvalidInput(f"already belongs to person {owner.id}", field="phone")
        if lead.phone:
            values["phone"] = None  # the person keeps their number; nothing is overwritten
    await _merge_new_facts(lead, values, data.consents, actor, consent_source)
    return values


async def _merge_new_facts(
    lead: Lead,
    values: dict[str, Any],
    consents: list[ConsentIn],
    actor: Actor | None,
    consent_source: ConsentSource,
) -> None:
    added: dict[str, Any] = {}
    for key in _PLAIN_FIELDS:
        new = values.get(key)
        if new is not None and new != "" and getattr(lead, key) in (None, ""):
            added[key] = new
    async with in_transaction():
        if added:
            await Lead.filter(id=lead.id).update(**added, updated_at=_now())
            for key, value in added.items():
                setattr(lead, key, value)
        current = set(await LeadSegment.filter(lead_id=lead.id).values_list("code", flat=True))
        new_segments = [c for c in values.get("segments") or [] if c not in current]
        if new_segments:
            await LeadSegment.bulk_create([LeadSegment(lead=lead, code=c) for c in new_segments])
            added["segments"] = new_segments
        for consent in consents:
            await record_consent(lead, consent, source=consent_source, actor=actor)
        await audit.record(
            actor,
            "lead.duplicate_match",
            entity="lead",
            entity_id=lead.id,
            lead_id=lead.id,
            changes={"added": added, "consents": [c.model_dump() for c in consents]},
        )


async def record_consent(
    lead: Lead,
    consent: ConsentIn,
    *,
    source: ConsentSource,
    actor: Actor | None,
    at: datetime | None = None,
) -> ConsentRecord:
    """Append to the consent ledger (never overwrite: the history is the evidence)."""
    record = await ConsentRecord.create(
        lead=lead,
        purpose=consent.purpose,
        granted=consent.granted,
        source=source,
        method=consent.method,
        text_version=consent.text_version,
        recorded_by_id=actor.user_id if actor else None,
        recorded_by_organisation_id=actor.organisation_id if actor else None,
        recorded_at=at or _now(),
    )
    await audit.record(
        actor,
        "consent.granted" if consent.granted else "consent.withdrawn",
        entity="consent",
        entity_id=record.id,
        lead_id=lead.id,
        changes={
            "purpose": consent.purpose,
            "source": source,
            "method": consent.method,
            "text_version": consent.text_version,
        },
    )
    return record


async def current_consents(lead_ids: Iterable[int]) -> dict[int, list[ConsentRecord]]:
    """The latest ledger entry per purpose for each person."""
    latest: dict[int, dict[str, ConsentRecord]] = defaultdict(dict)
    ids = list(lead_ids)
    if not ids:
        return {}
    for record in await ConsentRecord.filter(lead_id__in=ids).order_by("recorded_at", "id"):
        latest[record.lead_id][record.purpose] = record  # type: ignore[attr-defined]
    return {lead_id: list(by_purpose.values()) for lead_id, by_purpose in latest.items()}


async def segments_of(lead_ids: Iterable[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    ids = list(lead_ids)
    if ids:
        for lead_id, code in (
            await LeadSegment.filter(lead_id__in=ids)
            .order_by("code")
            .values_list("lead_id", "code")
        ):
            out[lead_id].append(code)
    return out


async def update_lead(lead: Lead, data: LeadUpdate, *, actor: Actor) -> Lead:
    if lead.anonymised_at is not None:
        # An erased record is never filled in again: a person who comes back is a new record.
        raise Conflict(f"person #{lead.id} was erased and cannot be changed")
    raw = data.model_dump(exclude_unset=True)
    if "first_name" in raw and raw["first_name"] is None:
        raise InvalidInput("cannot be empty", field="first_name")
    values = await normalise(
        {
            **raw,
            "stage": raw.get("stage") or lead.stage,
            "lost_reason": raw.get("lost_reason", lead.lost_reason),
        }
    )
    if values.get("phone") and values["phone"] != lead.phone:
        other = await Lead.get_or_none(phone=values["phone"])
        if other and other.id != lead.id:
            raise InvalidInput(f"already belongs to person {other.id}", field="phone")
    touched = set(raw) & {*_PLAIN_FIELDS, "lost_reason"}
    if "postcode" in raw:
        touched.add("region")
        if lead.language is None and "language" not in raw and values.get("language"):
            touched.add("language")  # the postcode's default language fills an empty one
    changes: dict[str, Any] = {}
    for key in sorted(touched):
        new = values.get(key)
        if getattr(lead, key) != new:
            changes[key] = {"from": getattr(lead, key), "to": new}
            setattr(lead, key, new)
    async with in_transaction():
        if "segments" in raw:
            new_codes = values.get("segments") or []
            old_codes = sorted(
                await LeadSegment.filter(lead_id=lead.id).values_list("code", flat=True)
            )
            if old_codes != new_codes:
                await LeadSegment.filter(lead_id=lead.id).delete()
                await LeadSegment.bulk_create([LeadSegment(lead=lead, code=c) for c in new_codes])
                changes["segments"] = {"from": old_codes, "to": new_codes}
        fields = [k for k in changes if k != "segments"]
        if fields:
            await lead.save(update_fields=[*fields, "updated_at"])
        if raw.get("stage") and raw["stage"] != lead.stage:
            changes["stage"] = {"from": lead.stage, "to": raw["stage"]}
            await _move_stage(lead, raw["stage"], values.get("lost_reason"), actor)
        if changes:
            await audit.record(
                actor,
                "lead.update",
                entity="lead",
                entity_id=lead.id,
                lead_id=lead.id,
                changes=changes,
            )
    return lead


async def _move_stage(lead: Lead, stage: Stage, reason: str | None, actor: Actor) -> None:
    previous = lead.stage
    lead.stage = stage
    lead.lost_reason = reason if stage == Stage.LOST else None
    # Only what this change touches: the object may be older than the row.
    await lead.save(update_fields=["stage", "lost_reason", "updated_at"])
    change = await LeadStageChange.create(
        lead=lead,
        from_stage=previous,
        to_stage=stage,
        reason=reason,
        by_user_id=actor.user_id,
        at=_now(),
    )
    await pathway.advance(lead.id, stage, change.at)


# --- who sees whom -----------------------------------------------------------------------------


def visible_leads(actor: Actor) -> QuerySet[Lead]:
    """The people this actor may see."""
    if actor.sees_everything or actor.role == Role.MARKETING:
        return Lead.all()
    if actor.role == Role.AGENT:
        return Lead.filter(
            Q(reached_by_id=actor.user_id)
            | Q(assigned_agent_id=actor.user_id)
            | Q(id__in=Subquery(Interaction.filter(author_id=actor.user_id).values("lead_id")))
        )
    if actor.role == Role.PARTNER:
        return Lead.filter(
            id__in=Subquery(
                Referral.filter(
                    Q(sender_id=actor.organisation_id) | Q(receiver_id=actor.organisation_id)
                ).values("lead_id")
            )
        )
    return Lead.filter(id=-1)


async def get_visible_lead(actor: Actor, lead_id: int) -> Lead:
    lead = await visible_leads(actor).get_or_none(id=lead_id)
    if lead is None:
        raise NotFound(f"no person with id {lead_id}", field="id")
    return lead


@dataclass
class LeadFilters:
    stage: list[Stage] | None = None
    language: list[str] | None = None
    segment: list[str] | None = None
    postcode: list[str] | None = None
    region: list[str] | None = None
    event_id: int | None = None
    partner_id: int | None = None
    agent_id: int | None = None
    created_since: datetime | None = None
    follow_up_before: date | None = None
    q: str | None = None


def filtered_leads(actor: Actor, f: LeadFilters) -> QuerySet[Lead]:
    qs = visible_leads(actor)
    if f.stage:
        qs = qs.filter(stage__in=f.stage)
    if f.language:
        qs = qs.filter(language__in=f.language)
    if f.postcode:
        qs = qs.filter(postcode__in=f.postcode)
    if f.region:
        qs = qs.filter(region__in=f.region)
    if f.event_id is not None:
        qs = qs.filter(event_id=f.event_id)
    if f.partner_id is not None:
        qs = qs.filter(referring_partner_id=f.partner_id)
    if f.agent_id is not None:
        qs = qs.filter(assigned_agent_id=f.agent_id)
    if f.created_since is not None:
        qs = qs.filter(created_at__gte=f.created_since)
    if f.follow_up_before is not None:
        qs = qs.filter(follow_up_on__lte=f.follow_up_before)
    if f.segment:
        qs = qs.filter(id__in=Subquery(LeadSegment.filter(code__in=f.segment).values("lead_id")))
    if f.q:
        term = f.q.strip()
        cond = (
            Q(first_name__icontains=term) | Q(last_name__icontains=term) | Q(email__icontains=term)
        )
        words = term.split()
        if len(words) > 1:
            # "Amina Benali": every word in the first or the last name.
            cond |= Q(
                *(Q(first_name__icontains=w) | Q(last_name__icontains=w) for w in words[:5]),
                join_type="AND",
            )
        digits = "".join(ch for ch in term if ch.isdigit())
        if len(digits) >= 4:
            cond |= Q(phone__contains=digits.lstrip("0"))
        qs = qs.filter(cond)
    return qs


async def list_leads(
    actor: Actor, f: LeadFilters, *, limit: int, offset: int
) -> tuple[list[Lead], int]:
    qs = filtered_leads(actor, f)
    total = await qs.count()
    rows = await qs.order_by("-created_at", "-id").offset(offset).limit(limit)
    return rows, total
