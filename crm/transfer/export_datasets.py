"""The CRM's own exports: people, interactions and referrals, each filtered like its list and
limited to what the actor may see (an agent exports only the people they may open)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.functions import Max
from tortoise.queryset import QuerySet

from crm.auth.actor import Actor
from crm.auth.models import User
from crm.config import settings
from crm.enums import Role
from crm.outreach.models import Interaction, OutreachEvent
from crm.people import service as people
from crm.people.models import ConsentPurpose, Lead
from crm.referrals.models import (
    PartnerOrganisation,
    Referral,
    ReferralStatus,
    ReferralStatusChange,
)
from crm.referrals.service import visible_referrals
from crm.transfer.export_filters import PERSON_FILTERS, ExportFilters
from crm.transfer.exports import Column, Dataset, register_dataset

STAFF = frozenset({Role.ADMIN, Role.COORDINATOR, Role.MARKETING, Role.AGENT})
FIELD = frozenset({Role.ADMIN, Role.COORDINATOR, Role.AGENT})
DATE_FILTERS = frozenset({"created_since", "created_until"})


async def _names(kind: str, ids: set[int | None]) -> dict[int, str]:
    """Names of the events, partners or staff one batch mentions, in one query."""
    wanted = [i for i in ids if i]
    if not wanted:
        return {}
    if kind == "event":
        return dict(await OutreachEvent.filter(id__in=wanted).values_list("id", "title"))
    if kind == "partner":
        return dict(await PartnerOrganisation.filter(id__in=wanted).values_list("id", "name"))
    return {user.id: user.display_name for user in await User.filter(id__in=wanted)}


def _people_subquery(actor: Actor, filters: ExportFilters) -> Subquery | None:
    """The ids of the people the rows may be about, or None when every person is allowed."""
    if not filters.has_person_filters() and actor.sees_everything:
        return None
    # The person filters only: event, partner and agent mean something else on these rows.
    only_people = replace(filters.lead_filters(), event_id=None, partner_id=None, agent_id=None)
    return Subquery(people.filtered_leads(actor, only_people).values("id"))


# --- people --------------------------------------------------------------------------------------

CONSENT_PURPOSES = [p.value for p in ConsentPurpose]


def lead_columns(actor: Actor) -> list[Column]:
    columns = [
        Column("id", "number"),
        Column("first_name"),
        Column("last_name"),
        Column("phone", "phone"),
        Column("email"),
        Column("language"),
        Column("postcode"),
        Column("region"),
        Column("gender"),
        Column("birth_year", "number"),
        Column("employment_status"),
    ]
    if actor.sees_notes:
        # Self-declared migrant background: close to a GDPR special category, so not for the
        # role that builds audiences (it never selects one).
        columns.append(Column("background"))
    columns += [
        Column("social_assistance"),
        Column("jobs_created", "number"),
        Column("jobs_kept", "number"),
        Column("stage"),
        Column("lost_reason"),
        Column("source"),
        Column("event_id", "number"),
        Column("event"),
        Column("referring_partner_id", "number"),
        Column("referring_partner"),
        Column("assigned_agent_id", "number"),
        Column("assigned_agent"),
        Column("segments"),
        Column("project_sector"),
    ]
    for purpose in CONSENT_PURPOSES:
        columns += [Column(f"consent_{purpose}"), Column(f"consent_{purpose}_at", "datetime")]
    columns += [
        Column("created_at", "datetime"),
        Column("last_contacted_at", "datetime"),
        Column("follow_up_on", "date"),
    ]
    if actor.sees_notes:
        columns += [Column("project_summary"), Column("notes")]
    return columns


def lead_query(actor: Actor, filters: ExportFilters) -> QuerySet[Lead]:
    qs = people.filtered_leads(actor, filters.lead_filters())
    return filters.in_range(qs, "created_at")


async def lead_rows(actor: Actor, leads: list[Lead], filters: ExportFilters) -> list[list[Any]]:
    ids = [lead.id for lead in leads]
    segments = await people.segments_of(ids)
    consents = await people.current_consents(ids)
    events = await _names("event", {lead.event_id for lead in leads})  # type: ignore[attr-defined]
    partners = await _names("partner", {lead.referring_partner_id for lead in leads})  # type: ignore[attr-defined]
    agents = await _names("user", {lead.assigned_agent_id for lead in leads})  # type: ignore[attr-defined]
    out = []
    for lead in leads:
        by_purpose = {str(r.purpose): r for r in consents.get(lead.id, [])}
        row: list[Any] = [
            lead.id,
            lead.first_name,
            lead.last_name,
            lead.phone,
            lead.email,
            lead.language,
            lead.postcode,
            lead.region,
            lead.gender,
            lead.birth_year,
            lead.employment_status,
        ]
        if actor.sees_notes:
            row.append(lead.background)
        row += [
            lead.social_assistance,
            lead.jobs_created,
            lead.jobs_kept,
            lead.stage,
            lead.lost_reason,
            lead.source,
            lead.event_id,  # type: ignore[attr-defined]
            events.get(lead.event_id),  # type: ignore[attr-defined]
            lead.referring_partner_id,  # type: ignore[attr-defined]
            partners.get(lead.referring_partner_id),  # type: ignore[attr-defined]
            lead.assigned_agent_id,  # type: ignore[attr-defined]
            agents.get(lead.assigned_agent_id),  # type: ignore[attr-defined]
            "|".join(segments.get(lead.id, [])),
            lead.project_sector,
        ]
        for purpose in CONSENT_PURPOSES:
            record = by_purpose.get(purpose)
            if record is None:
                row += [None, None]
            else:
                row += ["granted" if record.granted else "withdrawn", record.recorded_at]
        row += [lead.created_at, lead.last_contacted_at, lead.follow_up_on]
        if actor.sees_notes:
            row += [lead.project_summary, lead.notes]
        out.append(row)
    return out


# --- interactions --------------------------------------------------------------------------------


def interaction_columns(actor: Actor) -> list[Column]:
    columns = [
        Column("id", "number"),
        Column("person_id", "number"),
        Column("first_name"),
        Column("last_name"),
        Column("kind"),
        Column("channel"),
        Column("occurred_at", "datetime"),
        Column("author_id", "number"),
        Column("author"),
        Column("event_id", "number"),
        Column("event"),
        Column("interest"),
    ]
    if actor.sees_notes:
        columns.append(Column("notes"))
    return columns


def interaction_query(actor: Actor, filters: ExportFilters) -> QuerySet[Interaction]:
    qs = Interaction.all()
    subquery = _people_subquery(actor, filters)
    if subquery is not None:
        qs = qs.filter(lead_id__in=subquery)
    if filters.event_id is not None:
        qs = qs.filter(event_id=filters.event_id)
    if filters.agent_id is not None:
        qs = qs.filter(author_id=filters.agent_id)
    return filters.in_range(qs, "occurred_at")


async def interaction_rows(
    actor: Actor, items: list[Interaction], filters: ExportFilters
) -> list[list[Any]]:
    lead_ids = {i.lead_id for i in items}  # type: ignore[attr-defined]
    persons = {
        row[0]: row[1:]
        for row in await Lead.filter(id__in=lead_ids).values_list("id", "first_name", "last_name")
    }
    authors = await _names("user", {i.author_id for i in items})  # type: ignore[attr-defined]
    events = await _names("event", {i.event_id for i in items})  # type: ignore[attr-defined]
    out = []
    for item in items:
        first, last = persons.get(item.lead_id, (None, None))  # type: ignore[attr-defined]
        row: list[Any] = [
            item.id,
            item.lead_id,  # type: ignore[attr-defined]
            first,
            last,
            item.kind,
            item.channel,
            item.occurred_at,
            item.author_id,  # type: ignore[attr-defined]
            authors.get(item.author_id),  # type: ignore[attr-defined]
            item.event_id,  # type: ignore[attr-defined]
            events.get(item.event_id),  # type: ignore[attr-defined]
            item.interest,
        ]
        if actor.sees_notes:
            row.append(item.notes)
        out.append(row)
    return out


# --- referrals -----------------------------------------------------------------------------------


def referral_columns(actor: Actor) -> list[Column]:
    return [
        Column("id", "number"),
        Column("external_ref"),
        Column("direction"),
        Column("sender_id", "number"),
        Column("sender"),
        Column("receiver_id", "number"),
        Column("receiver"),
        Column("person_id", "number"),
        Column("first_name"),
        Column("last_name"),
        Column("purpose"),
        Column("status"),
        Column("reason_code"),
        Column("outcome"),
        Column("status_reason"),
        Column("created_at", "datetime"),
        Column("last_change_at", "datetime"),
        Column("expires_at", "datetime"),
        Column("redirected_from_id", "number"),
    ]


def referral_query(actor: Actor, filters: ExportFilters) -> QuerySet[Referral]:
    qs = visible_referrals(actor)
    subquery = _people_subquery(actor, filters) if filters.has_person_filters() else None
    if subquery is not None:
        qs = qs.filter(lead_id__in=subquery)
    if filters.partner_id is not None:
        qs = qs.filter(Q(sender_id=filters.partner_id) | Q(receiver_id=filters.partner_id))
    if filters.status:
        qs = qs.filter(status__in=filters.status)
    return filters.in_range(qs, "created_at")


def _direction(referral: Referral) -> str:
    if referral.sender_id is None:  # type: ignore[attr-defined]
        return "out"  # from us to a partner
    if referral.receiver_id is None:  # type: ignore[attr-defined]
        return "in"  # from a partner to us
    return "between_partners"  # a partner redirected to another partner


async def referral_rows(
    actor: Actor, items: list[Referral], filters: ExportFilters
) -> list[list[Any]]:
    ids = [r.id for r in items]
    last_change = dict(
        await ReferralStatusChange.filter(referral_id__in=ids)
        .annotate(last=Max("at"))
        .group_by("referral_id")
        .values_list("referral_id", "last")
    )
    persons = {
        row[0]: row[1:]
        for row in await Lead.filter(id__in={r.lead_id for r in items}).values_list(  # type: ignore[attr-defined]
            "id", "first_name", "last_name"
        )
    }
    partners = await _names(
        "partner",
        {r.sender_id for r in items} | {r.receiver_id for r in items},  # type: ignore[attr-defined]
    )
    ours = settings.ORGANISATION_NAME
    out = []
    for r in items:
        first, last = persons.get(r.lead_id, (None, None))  # type: ignore[attr-defined]
        sender_id, receiver_id = r.sender_id, r.receiver_id  # type: ignore[attr-defined]
        out.append(
            [
                r.id,
                r.external_ref,
                _direction(r),
                sender_id,
                partners.get(sender_id, ours) if sender_id else ours,
                receiver_id,
                partners.get(receiver_id, ours) if receiver_id else ours,
                r.lead_id,  # type: ignore[attr-defined]
                first,
                last,
                r.purpose,
                r.status,
                r.reason_code,
                r.outcome,
                r.status_reason,
                r.created_at,
                last_change.get(r.id) or r.updated_at,
                r.expires_at,
                r.redirected_from_id,  # type: ignore[attr-defined]
            ]
        )
    return out


def register() -> None:
    """Register the CRM's datasets (idempotent)."""
    register_dataset(
        Dataset(
            name="leads",
            roles=STAFF,
            columns=lead_columns,
            query=lead_query,
            convert=lead_rows,
            filters=PERSON_FILTERS | DATE_FILTERS | {"event_id", "partner_id", "agent_id"},
            unit="people",
        )
    )
    register_dataset(
        Dataset(
            name="interactions",
            roles=FIELD,
            columns=interaction_columns,
            query=interaction_query,
            convert=interaction_rows,
            filters=PERSON_FILTERS | DATE_FILTERS | {"event_id", "agent_id"},
            unit="interactions",
        )
    )
    register_dataset(
        Dataset(
            name="referrals",
            roles=FIELD,
            columns=referral_columns,
            query=referral_query,
            convert=referral_rows,
            filters=PERSON_FILTERS | DATE_FILTERS | {"partner_id", "status"},
            statuses=frozenset(s.value for s in ReferralStatus),
            unit="referrals",
        )
    )


register()
