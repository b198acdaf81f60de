"""The demo data set: believable, complete, deterministic, and usable to sign in."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from crm.auth.models import User
from crm.config import settings
from crm.demo import DEMO_PASSWORD, load_demo
from crm.demo.plan import Planner
from crm.enums import Role
from crm.errors import Conflict
from crm.geo import Region
from crm.outreach.models import EventKind, Interaction, OutreachEvent
from crm.people import duplicates
from crm.people.models import ConsentPurpose, ConsentRecord, Lead, LeadStageChange, Stage
from crm.privacy.models import RightsRequest
from crm.referrals.models import PartnerOrganisation, Referral, ReferralStatus
from crm.reports.models import IndicatorTarget
from crm.stories.models import SuccessStory
from tests.conftest import truncate_all


async def _names() -> list[tuple]:
    return (
        await Lead.all()
        .order_by("id")
        .values_list("first_name", "last_name", "phone", "language", "postcode", "stage")
    )


async def test_demo_holds_what_it_claims(client):
    started = time.perf_counter()
    counts = await load_demo()
    elapsed = time.perf_counter() - started
    assert elapsed < 20, f"loading the demo took {elapsed:.1f} s"

    assert counts["people"] == await Lead.all().count() == 300
    assert counts["users"] == await User.all().count()
    assert counts["partners"] == await PartnerOrganisation.all().count() >= 7
    assert counts["events"] == await OutreachEvent.all().count() >= 12
    assert counts["interactions"] == await Interaction.all().count() > 300
    assert counts["referrals"] == await Referral.all().count() >= 30
    assert counts["stories"] == await SuccessStory.all().count() == 6
    assert counts["consents"] == await ConsentRecord.all().count()
    assert counts["stage_changes"] == await LeadStageChange.all().count()
    assert counts["targets"] == await IndicatorTarget.all().count() == 12
    # Two planted pairs give the duplicate review something to show (a typo, swapped names).
    pairs = await duplicates.find_candidates()
    assert len(pairs) >= 2
    reasons = set().union(*(pair.reasons for pair in pairs))
    assert {"similar_name", "same_name"} <= {str(r) for r in reasons}

    # Staff: an admin, a coordinator, marketing, four agents; one portal user per partner.
    roles = Counter(await User.all().values_list("role", flat=True))
    assert roles[Role.ADMIN] == 1 and roles[Role.COORDINATOR] == 1 and roles[Role.MARKETING] == 1
    assert roles[Role.AGENT] == 4
    assert roles[Role.PARTNER] == counts["partners"]
    assert await User.filter(email="admin@passerelle.local", role=Role.ADMIN).exists()
    kinds = dict(await PartnerOrganisation.all().values_list("name", "kind"))
    assert kinds["CPAS de Saint-Gilles"] == "cpas"
    assert kinds["Forem Charleroi"] == "employment_service"
    assert kinds["Atlas Antwerpen vzw"] == "ngo"
    assert kinds["ADG Eupen"] == "employment_service"
    assert "support_structure" in kinds.values()

    # Events of the kinds agents run, each with an agent, in the four regions.
    events = await OutreachEvent.all().prefetch_related("agents")
    assert {
        EventKind.MARKET_STAND,
        EventKind.SHOP_VISIT,
        EventKind.FREE_COFFEE,
        EventKind.INFO_SESSION,
        EventKind.PARTNER_SESSION,
    } <= {e.kind for e in events}
    assert all(len(e.agents) >= 1 for e in events)
    assert {e.region for e in events} == set(Region)

    # People: every stage, most of them early; three languages; Belgian mobiles in E.164.
    leads = await Lead.all()
    stages = Counter(lead.stage for lead in leads)
    assert set(stages) == set(Stage)
    early = stages[Stage.REACHED] + stages[Stage.LEAD] + stages[Stage.CONTACTED]
    assert early > len(leads) / 2
    assert stages[Stage.FINANCED] < stages[Stage.CONTACTED]
    assert {lead.language for lead in leads} == {"fr", "nl", "de"}
    assert {lead.region for lead in leads} == set(Region)
    phones = [lead.phone for lead in leads if lead.phone]
    assert len(phones) > 250
    assert all(p.startswith(("+3247", "+3248", "+3249")) and len(p) == 12 for p in phones)
    assert all(lead.lost_reason for lead in leads if lead.stage == Stage.LOST)
    by_region = Counter((lead.region, lead.language) for lead in leads)
    assert by_region[(Region.FLANDERS, "fr")] == 0
    assert by_region[(Region.BRUSSELS, "fr")] > by_region[(Region.BRUSSELS, "nl")] > 0
    assert by_region[(Region.GERMAN_SPEAKING, "de")] > 0

    # Every person has a first stage entry, an interaction, and was met in the past.
    with_changes = set(await LeadStageChange.all().values_list("lead_id", flat=True))
    with_interactions = set(await Interaction.all().values_list("lead_id", flat=True))
    ids = {lead.id for lead in leads}
    assert with_changes == ids
    assert len(with_interactions) >= len(ids) - 20  # people referred but not yet called
    now = datetime.now(UTC) + timedelta(minutes=1)
    assert all(lead.created_at <= now for lead in leads)
    assert all(at <= now for at in await Interaction.all().values_list("occurred_at", flat=True))
    assert all(at <= now for at in await LeadStageChange.all().values_list("at", flat=True))
    assert min(lead.created_at for lead in leads) < now - timedelta(days=30)

    # The consent ledger: SMS consents, a few opt-outs kept as a second entry.
    ledger = await ConsentRecord.all()
    granted_sms = {c.lead_id for c in ledger if c.purpose == ConsentPurpose.SMS and c.granted}
    assert len(granted_sms) > 200
    withdrawn = [c for c in ledger if not c.granted]
    assert withdrawn and all(c.lead_id in granted_sms for c in withdrawn)
    assert {c.purpose for c in ledger} == set(ConsentPurpose)

    # Referrals in several statuses; the reasons are kept where a reason is required.
    referrals = await Referral.all().prefetch_related("history")
    statuses = Counter(r.status for r in referrals)
    assert {
        ReferralStatus.REQUESTED,
        ReferralStatus.ACCEPTED,
        ReferralStatus.IN_PROGRESS,
        ReferralStatus.COMPLETED,
        ReferralStatus.REJECTED,
        ReferralStatus.REDIRECTED,
    } <= set(statuses)
    for r in referrals:
        if r.status in (ReferralStatus.REJECTED, ReferralStatus.REDIRECTED):
            assert r.status_reason
        assert r.history[0].status == ReferralStatus.REQUESTED
        assert r.history[-1].status == r.status
        if r.redirected_from_id is None:
            assert r.sender_id is not None and r.external_ref
        else:  # a redirect's linked referral, from us to the next partner
            assert r.receiver_id is not None and r.status == ReferralStatus.REQUESTED
    assert statuses[ReferralStatus.REDIRECTED] == sum(1 for r in referrals if r.redirected_from_id)

    # Stories in the three languages, consent running, one of them soon to expire.
    today = datetime.now(settings.tz).date()
    stories = await SuccessStory.all()
    assert all(set(s.texts) == {"fr", "nl", "de"} and all(s.texts.values()) for s in stories)
    assert all(s.consent_expires_at > today for s in stories)
    assert any(s.consent_expires_at <= today + timedelta(days=31) for s in stories)
    assert len({s.sector for s in stories}) == 6

    # A demo user signs in with the demo password, and sees the people they follow.
    response = await client.post(
        "/api/v1/auth/token", json={"email": "fatima@passerelle.local", "password": DEMO_PASSWORD}
    )
    assert response.status_code == 200, response.text
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    mine = await client.get("/api/v1/leads", headers=headers)
    assert mine.status_code == 200, mine.text
    assert 0 < mine.json()["total"] < 300
    admin = await client.post(
        "/api/v1/auth/token", json={"email": "admin@passerelle.local", "password": DEMO_PASSWORD}
    )
    assert admin.status_code == 200, admin.text

    # Loading again into a database with people is refused, and changes nothing.
    with pytest.raises(Conflict):
        await load_demo()
    assert await Lead.all().count() == 300


async def test_demo_is_the_same_on_every_load(app):
    await load_demo()
    first = await _names()
    first_events = await OutreachEvent.all().order_by("id").values_list("title", "kind")
    await truncate_all()
    await load_demo()
    assert await _names() == first
    assert await OutreachEvent.all().order_by("id").values_list("title", "kind") == first_events


def test_demo_plan_does_not_depend_on_the_day_or_hour():
    def plan(now: datetime) -> list[tuple]:
        planner = Planner(now)
        everybody = planner.event_people() + planner.walk_ins() + planner.referred_people()
        return [
            (p.first_name, p.last_name, p.phone, p.stage, len(p.steps), p.outcome)
            for p in everybody
        ]

    early = plan(datetime(2026, 1, 5, 3, 10, tzinfo=settings.tz))
    late = plan(datetime(2027, 7, 19, 22, 55, tzinfo=settings.tz))
    assert early == late
    assert len(early) == 300
    assert len({(p[0], p[1]) for p in early}) > 200  # varied names, not a handful repeated


async def test_the_demo_register_has_a_request_of_each_state(app):
    counts = await load_demo()
    assert counts["rights_requests"] == await RightsRequest.all().count() == 3
    statuses = sorted(await RightsRequest.all().values_list("status", flat=True))
    assert statuses == ["done", "open", "open"]
    assert await RightsRequest.filter(lead_id__isnull=True).count() == 1
