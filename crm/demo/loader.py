"""Writes the demo plan through the services, so that the data looks like the product was used.

Everything is written in one transaction. Rows the services stamp with "now" (creation times,
stage changes, consent entries, referral history) are then moved back to the planned time, so
that timelines and weekly reports read naturally.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from crm.auth import service as auth
from crm.auth.actor import SYSTEM, Actor
from crm.auth.models import User
from crm.config import settings
from crm.demo import data as D
from crm.demo.plan import CONSENT_TEXT, STAFF_BY_KEY, Person, Planner
from crm.enums import Role
from crm.errors import Conflict, Forbidden
from crm.outreach import service as outreach
from crm.outreach.models import Interaction, InteractionKind, OutreachEvent
from crm.outreach.schemas import EventCreate, InteractionCreate
from crm.people import pathway
from crm.people import service as people
from crm.people.models import (
    ConsentPurpose,
    ConsentRecord,
    ConsentSource,
    Lead,
    LeadStageChange,
)
from crm.people.schemas import ConsentIn, LeadCreate, LeadUpdate
from crm.privacy import requests as privacy_requests
from crm.privacy.models import RequestChannel, RequestKind
from crm.privacy.objection import object_to_marketing
from crm.privacy.schemas import MARKETING_PURPOSES, RightsRequestIn
from crm.referrals import service as referrals
from crm.referrals.models import (
    PartnerOrganisation,
    Referral,
    ReferralOutcome,
    ReferralReason,
    ReferralStatus,
    ReferralStatusChange,
)
from crm.referrals.schemas import (
    PartnerCreate,
    ReferralConsent,
    ReferralCreate,
    ReferralPerson,
    ReferralStatusUpdate,
)
from crm.reports import targets as report_targets
from crm.stories import service as stories
from crm.stories.schemas import StoryCreate, StoryTexts


class Writer:
    """Writes the plan through the services, then moves service timestamps to planned times."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.counts: Counter[str] = Counter()
        self.users: dict[str, User] = {}
        self.actors: dict[str, Actor] = {}
        self.partners: dict[str, PartnerOrganisation] = {}
        self.partner_actors: dict[str, Actor] = {}
        self.events: dict[int, OutreachEvent] = {}
        self.stage_times: dict[int, list[datetime]] = {}
        self.referral_times: dict[int, list[datetime]] = {}
        self.lead_created: dict[int, datetime] = {}

    async def user(self, email: str, role: Role, **fields: object) -> User:
        existing = await User.get_or_none(email=email)
        if existing is not None:
            return existing
        self.counts["users"] += 1
        return await auth.create_user(email, role, password=D.DEMO_PASSWORD, actor=SYSTEM, **fields)  # type: ignore[arg-type]

    async def staff_and_partners(self) -> None:
        for s in D.STAFF:
            user = await self.user(
                s.email,
                s.role,
                first_name=s.first_name,
                last_name=s.last_name,
                languages=list(s.languages),
                ui_language=s.ui_language,
            )
            self.users[s.key] = user
            self.actors[s.key] = auth.actor_for_user(user)
        admin = self.actors["admin"]
        for p in D.PARTNERS:
            org = await PartnerOrganisation.get_or_none(name=p.name)
            if org is None:
                org = await referrals.create_partner(
                    PartnerCreate(
                        name=p.name,
                        kind=p.kind,
                        postcode=p.postcode,
                        contact_email=f"contact@{p.key.replace('_', '-')}.example.org",
                    ),
                    actor=admin,
                )
                self.counts["partners"] += 1
            self.partners[p.key] = org
            user = await self.user(
                D.partner_user_email(p),
                Role.PARTNER,
                organisation_name=p.name,
                first_name=p.contact_first,
                last_name=p.contact_last,
                languages=[p.language],
                ui_language=p.language,
            )
            self.partner_actors[p.key] = Actor(
                role=Role.PARTNER,
                label=user.display_name,
                user_id=user.id,
                organisation_id=org.id,
                organisation_name=org.name,
                ui_language=p.language,
            )

    async def events_(self, today: date) -> None:
        for index, ev in enumerate(D.EVENTS):
            day = today - timedelta(days=ev.days_ago)
            starts = datetime.combine(day, time(*ev.start), tzinfo=settings.tz)
            event = await outreach.create_event(
                EventCreate(
                    kind=ev.kind,
                    title=ev.title,
                    starts_at=starts,
                    ends_at=starts + timedelta(hours=ev.hours),
                    place=ev.place,
                    postcode=ev.postcode,
                    language=ev.language,  # type: ignore[arg-type]
                    partner_id=self.partners[ev.partner].id if ev.partner else None,
                    agent_ids=[self.users[a].id for a in ev.agents],
                    notes=ev.notes,
                ),
                actor=self.actors["coordinator"],
            )
            # Planned a couple of weeks ahead, like real events.
            await OutreachEvent.filter(id=event.id).update(
                created_at=min(starts - timedelta(days=12), self.now)
            )
            self.events[index] = event
            self.counts["events"] += 1

    def _lead_fields(self, p: Person) -> dict:
        project = D.PROJECTS[p.project] if p.project is not None else None
        lang = STAFF_BY_KEY[p.agent].note_language
        return {
            "gender": p.gender,
            "birth_year": p.birth_year,
            "employment_status": p.employment_status,
            "background": p.background,
            "social_assistance": p.social_assistance,
            "segments": p.segments,
            "assigned_agent_id": self.users[p.agent].id,
            "project_sector": project[0][lang] if project else None,
            "project_summary": project[1][lang] if project else None,
            "follow_up_on": p.follow_up_on,
        }

    async def person(self, p: Person) -> Lead:
        reacher = self.actors[p.reached_by]
        result = await people.find_or_create_lead(
            LeadCreate(
                first_name=p.first_name,
                last_name=p.last_name,
                phone=p.phone,
                email=p.email,
                telegram_chat_id=p.telegram_chat_id,
                language=p.language,  # type: ignore[arg-type]
                postcode=p.postcode,
                consents=p.consents,
                event_id=self.events[p.event].id if p.event is not None else None,
                **self._lead_fields(p),
            ),
            actor=reacher,
            consent_source=ConsentSource.EVENT if p.event is not None else ConsentSource.WEB,
        )
        if not result.created:
            raise RuntimeError(f"demo person {p.first_name} {p.last_name} matched another one")
        self.counts["people"] += 1
        await self.follow(result.lead, p, [p.reached_at])
        return result.lead

    async def follow(self, lead: Lead, p: Person, stage_times: list[datetime]) -> None:
        agent = self.actors[p.agent]
        for step in p.steps:
            author = self.actors[p.reached_by] if step.kind is InteractionKind.CONTACT else agent
            await outreach.log_interaction(
                lead,
                InteractionCreate(
                    kind=step.kind,
                    channel=step.channel,
                    occurred_at=step.at,
                    notes=step.notes,
                    event_id=self.events[p.event].id
                    if p.event is not None and step.kind is InteractionKind.CONTACT
                    else None,
                ),
                actor=author,
            )
            # log_interaction updates last_contacted_at in the table only; keep this instance in
            # step, or the next update_lead (which saves the whole row) would write it back.
            if lead.last_contacted_at is None or step.at > lead.last_contacted_at:
                lead.last_contacted_at = step.at
            self.counts["interactions"] += 1
            if step.stage is not None:
                update = LeadUpdate(stage=step.stage)
                if step.reason:
                    update = LeadUpdate(stage=step.stage, lost_reason=step.reason)
                await people.update_lead(lead, update, actor=agent)
                stage_times.append(step.at)
        if p.jobs_created is not None:
            # Known once the business runs: the agent records it after the financing.
            jobs = {"jobs_created": p.jobs_created}
            if p.jobs_kept is not None:
                jobs["jobs_kept"] = p.jobs_kept
            await people.update_lead(lead, LeadUpdate(**jobs), actor=agent)
        if p.opt_out_at is not None:
            # The person answered STOP to an SMS: the ledger keeps both entries.
            await people.record_consent(
                lead,
                ConsentIn(purpose=ConsentPurpose.SMS, granted=False, method="keyword"),
                source=ConsentSource.SMS,
                actor=None,
                at=p.opt_out_at,
            )
        self.stage_times[lead.id] = stage_times
        self.lead_created[lead.id] = p.reached_at

    async def referral(self, p: Person) -> None:
        partner = next(x for x in D.PARTNERS if x.key == p.partner)
        actor = self.partner_actors[partner.key]
        seq = self.counts["referrals"] + 1
        given = p.reached_at - timedelta(days=1, hours=2)
        result = await referrals.intake(
            ReferralCreate(
                external_ref=f"{partner.ref_prefix}{self.now.year}-{1000 + seq * 7}",
                person=ReferralPerson(
                    first_name=p.first_name,
                    last_name=p.last_name,
                    phone=p.phone,
                    email=p.email,
                    language=p.language,  # type: ignore[arg-type]
                    postcode=p.postcode,
                ),
                purpose=partner.purposes[seq % len(partner.purposes)],
                notes=random.Random(seq).choice(D.REFERRAL_NOTES[partner.language]),
                consent=ReferralConsent(
                    given_at=given, method="signed_form", text_version=CONSENT_TEXT
                ),
            ),
            actor=actor,
        )
        if not result.created:
            raise RuntimeError(f"demo referral {partner.ref_prefix}{seq} already existed")
        referral = result.referral
        self.counts["referrals"] += 1
        self.counts["people"] += 1
        lead = await Lead.get(id=referral.lead_id)  # type: ignore[attr-defined]
        times = [p.reached_at]
        for status, at, reason in p.referral_steps:
            if status is ReferralStatus.CANCELLED:
                by = actor
            elif status is ReferralStatus.ACCEPTED or status is ReferralStatus.REJECTED:
                by = self.actors["coordinator"]
            else:
                by = self.actors[p.agent]
            referral = await referrals.change_status(
                referral,
                ReferralStatusUpdate(
                    status=status, status_reason=reason, **self._move_details(status, seq, partner)
                ),
                actor=by,
            )
            if status is ReferralStatus.REDIRECTED:
                self.counts["referrals"] += 1  # the linked referral to the next partner
            times.append(at)
        self.referral_times[referral.id] = times
        # Staff complete what the partner could not know, and follow the person up.
        await people.update_lead(
            lead, LeadUpdate(**self._lead_fields(p)), actor=self.actors["coordinator"]
        )
        for extra in p.consents:
            await people.record_consent(
                lead,
                extra,
                source=ConsentSource.REFERRAL,
                actor=self.actors[p.agent],
                at=p.reached_at,
            )
        await self.follow(lead, p, [times[0]])

    def _move_details(
        self, status: ReferralStatus, seq: int, partner: D.DemoPartner
    ) -> dict[str, Any]:
        """What a move needs besides its text: a coded reason to reject, an outcome to
        complete, the next partner to redirect to (each varied by the referral's number)."""
        if status is ReferralStatus.REJECTED:
            codes = (ReferralReason.NOT_ELIGIBLE, ReferralReason.NO_CAPACITY, ReferralReason.OTHER)
            return {"reason_code": codes[seq % len(codes)]}
        if status is ReferralStatus.COMPLETED:
            outcomes = (ReferralOutcome.FINANCED, ReferralOutcome.COACHED)
            return {"outcome": outcomes[seq % len(outcomes)]}
        if status is ReferralStatus.REDIRECTED:
            others = [x for x in D.PARTNERS if x.key != partner.key]
            target = self.partner_actors[others[seq % len(others)].key]
            return {"redirect_to_partner_id": target.organisation_id}
        return {}

    async def stories_(self, today: date) -> None:
        for s in D.STORIES:
            await stories.create_story(
                StoryCreate(
                    title=s.title,
                    entrepreneur=s.entrepreneur,
                    sector=s.sector,
                    town=s.town,
                    texts=StoryTexts(**s.texts),
                    segments=list(s.segments),
                    consent_expires_at=today + timedelta(days=s.consent_days),
                ),
                actor=self.actors["marketing"],
            )
            self.counts["stories"] += 1

    async def targets(self, today: date) -> None:
        """What the organisation promised its funder for this calendar year: the indicators
        page opens on "announced / achieved" with something to compare."""
        programme = f"FSE+ {today.year} — Wallonie-Bruxelles"
        for indicator, target in DEMO_TARGETS.items():
            await report_targets.save_target(
                self.actors["coordinator"],
                indicator=indicator,
                programme=programme,
                period_start=date(today.year, 1, 1),
                period_end=date(today.year, 12, 31),
                target=target,
            )
            self.counts["targets"] += 1

    async def rights_requests(self, now: datetime) -> None:
        """A DPO's register as it looks on an ordinary week: an access request due within a week,
        an objection answered, and an erasure request received by letter, not yet matched to
        a person."""
        coordinator = self.actors["coordinator"]
        people = await Lead.all().order_by("id").limit(2).values_list("id", flat=True)
        access = RightsRequestIn(
            kind=RequestKind.ACCESS,
            received_via=RequestChannel.EMAIL,
            lead_id=people[0],
            received_at=now - timedelta(days=26),
            identity_checked=True,
        )
        await privacy_requests.create_request(coordinator, access)
        objection = await privacy_requests.create_request(
            coordinator,
            RightsRequestIn(
                kind=RequestKind.OBJECTION,
                received_via=RequestChannel.SMS,
                lead_id=people[1],
                received_at=now - timedelta(days=6),
                identity_checked=True,
            ),
        )
        await object_to_marketing(
            coordinator, people[1], MARKETING_PURPOSES, request_id=objection.id
        )
        erasure = RightsRequestIn(
            kind=RequestKind.ERASURE,
            received_via=RequestChannel.LETTER,
            received_at=now - timedelta(days=2),
            requester="Signed letter from a former participant (name in the letter)",
        )
        await privacy_requests.create_request(coordinator, erasure)
        self.counts["rights_requests"] = 3

    async def backdate(self) -> None:
        for lead_id, at in self.lead_created.items():
            await Lead.filter(id=lead_id).update(created_at=at)
            # The consents given when the person was met (the services stamped them "now").
            await ConsentRecord.filter(
                lead_id=lead_id, source__in=(ConsentSource.EVENT, ConsentSource.WEB)
            ).update(recorded_at=at)
        rows = await LeadStageChange.all().order_by("id").values_list("id", "lead_id")
        seen: Counter[int] = Counter()
        for row_id, lead_id in rows:
            times = self.stage_times.get(lead_id)
            if times is not None and seen[lead_id] < len(times):
                await LeadStageChange.filter(id=row_id).update(at=times[seen[lead_id]])
            seen[lead_id] += 1
        # The stage log was rewritten in the past: the milestones follow it.
        await pathway.rebuild()
        for referral_id, times in self.referral_times.items():
            await Referral.filter(id=referral_id).update(created_at=times[0], updated_at=times[-1])
            history = (
                await ReferralStatusChange.filter(referral_id=referral_id)
                .order_by("id")
                .values_list("id", flat=True)
            )
            for row_id, at in zip(history, times, strict=False):
                await ReferralStatusChange.filter(id=row_id).update(at=at)
        await Interaction.all().update(created_at=F("occurred_at"))


# The year's targets of the demo organisation (counts; percentages for the shares): some met by
# the demo's people, some not, as in a real year.
DEMO_TARGETS: dict[str, int] = {
    "people_reached": 350,
    "leads": 200,
    "info_sessions": 80,
    "coached": 30,
    "financed": 15,
    "jobs_created": 20,
    "referrals_received": 30,
    "share_women": 50,
    "share_under_26": 20,
    "share_over_50": 15,
    "share_migrant_background": 40,
    "share_social_assistance": 30,
}


async def load_demo() -> dict[str, int]:
    """Load the demo data set into an empty database; return what was created, by kind.

    All demo accounts share the password `passerelle-demo` (see crm.demo.data.DEMO_PASSWORD):
    never load this into a database that real people use.
    """
    if settings.ENVIRONMENT == "production":
        raise Forbidden(
            "the demo data set is never loaded when ENVIRONMENT=production "
            "(its accounts share a published password)"
        )
    existing = await Lead.all().count()
    if existing:
        raise Conflict(
            f"the database already holds {existing} people; the demo data set is "
            "loaded only into a database without people"
        )
    now = datetime.now(settings.tz).replace(microsecond=0)
    planner = Planner(now)
    event_people = planner.event_people()
    walk_ins = planner.walk_ins()
    referred = planner.referred_people()
    writer = Writer(now)
    async with in_transaction():
        await writer.staff_and_partners()
        await writer.events_(planner.today)
        for person in event_people + walk_ins:
            await writer.person(person)
        for person in referred:
            await writer.referral(person)
        await writer.stories_(planner.today)
        await writer.targets(planner.today)
        writer.counts["consents"] = await ConsentRecord.all().count()
        writer.counts["stage_changes"] = await LeadStageChange.all().count()
        await writer.backdate()
        # After the backdating, so that the objection's withdrawals stay the latest entries.
        await writer.rights_requests(now)
        writer.counts["consents"] = await ConsentRecord.all().count()
    keys = (
        "users",
        "partners",
        "events",
        "people",
        "interactions",
        "referrals",
        "stories",
        "consents",
        "stage_changes",
        "targets",
        "rights_requests",
    )
    return {k: writer.counts.get(k, 0) for k in keys}
