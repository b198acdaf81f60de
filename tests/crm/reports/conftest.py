"""A small world whose every figure is worked out by hand (see test_figures.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from crm.enums import Language, Role
from crm.geo import Region
from crm.outreach.models import EventKind, OutreachEvent
from crm.people import pathway
from crm.people.models import (
    Background,
    EmploymentStatus,
    Gender,
    Lead,
    LeadSegment,
    LeadSource,
    LeadStageChange,
    Stage,
)
from crm.referrals.models import PartnerOrganisation, Referral, ReferralPurpose

YEAR = {"start": "2026-01-01", "end": "2026-12-31"}


def at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T10:00:00+00:00").astimezone(UTC)


@dataclass
class World:
    e1: OutreachEvent
    e2: OutreachEvent
    a: PartnerOrganisation
    b: PartnerOrganisation
    people: dict[str, Lead]


async def _person(name: str, reached: str, steps: list[tuple[Stage, str]], **fields) -> Lead:
    stage = steps[-1][0] if steps else Stage.REACHED
    lead = await Lead.create(first_name=name, stage=stage, created_at=at(reached), **fields)
    await LeadStageChange.create(lead=lead, from_stage=None, to_stage=Stage.REACHED, at=at(reached))
    previous = Stage.REACHED
    for to_stage, day in steps:
        await LeadStageChange.create(
            lead=lead, from_stage=previous, to_stage=to_stage, at=at(day), reason=None
        )
        previous = to_stage
    return lead


@pytest.fixture
async def world(app, make_partner) -> World:
    a = await make_partner("CPAS de Saint-Gilles")
    b = await make_partner("Coaching Liège")
    e1 = await OutreachEvent.create(
        kind=EventKind.MARKET_STAND,
        title="Marché du Midi",
        starts_at=at("2026-02-02"),
        postcode="1060",
        region=Region.BRUSSELS,
    )
    e2 = await OutreachEvent.create(
        kind=EventKind.INFO_SESSION,
        title="Infoabend Eupen",
        starts_at=at("2026-05-05"),
        postcode="4700",
        region=Region.GERMAN_SPEAKING,
    )
    people = {
        "p1": await _person(
            "Amina",
            "2026-02-02",
            [
                (Stage.LEAD, "2026-02-04"),
                (Stage.CONTACTED, "2026-02-06"),
                (Stage.INFO_SESSION, "2026-02-12"),
                (Stage.APPLICATION, "2026-02-20"),
                (Stage.COACHED, "2026-03-01"),
                (Stage.FINANCED, "2026-04-01"),
            ],
            source=LeadSource.EVENT,
            event=e1,
            postcode="1060",
            region=Region.BRUSSELS,
            language=Language.FR,
            gender=Gender.FEMALE,
            birth_year=1990,
            employment_status=EmploymentStatus.JOBSEEKER,
            background=Background.MIGRANT_NON_EU,
            social_assistance=True,
            jobs_created=2,
        ),
        "p2": await _person(
            "Bram",
            "2026-03-10",
            [
                (Stage.LEAD, "2026-03-11"),
                (Stage.CONTACTED, "2026-03-15"),
                (Stage.INFO_SESSION, "2026-03-20"),
                (Stage.APPLICATION, "2026-04-10"),
                (Stage.COACHED, "2026-05-10"),
            ],
            source=LeadSource.REFERRAL,
            referring_partner=a,
            postcode="9000",
            region=Region.FLANDERS,
            language=Language.NL,
            gender=Gender.MALE,
            birth_year=2003,
            employment_status=EmploymentStatus.JOBSEEKER,
            background=Background.BELGIAN,
            social_assistance=False,
        ),
        "p3": await _person(
            "Chloé",
            "2026-04-01",
            [(Stage.LEAD, "2026-04-03"), (Stage.LOST, "2026-04-20")],
            source=LeadSource.WALK_IN,
            postcode="4000",
            region=Region.WALLONIA,
            language=Language.FR,
            gender=Gender.FEMALE,
            birth_year=1970,
            employment_status=EmploymentStatus.EMPLOYED,
            lost_reason="found a job",
        ),
        "p4": await _person(
            "Dieter",
            "2026-05-05",
            [(Stage.APPLICATION, "2026-05-06"), (Stage.REDIRECTED, "2026-05-20")],
            source=LeadSource.EVENT,
            event=e2,
            postcode="4700",
            region=Region.GERMAN_SPEAKING,
            language=Language.DE,
            gender=Gender.MALE,
            birth_year=1975,
            background=Background.UNDISCLOSED,
        ),
        "p5": await _person(
            "Eva",
            "2025-11-15",
            [
                (Stage.LEAD, "2025-11-20"),
                (Stage.CONTACTED, "2026-01-10"),
                (Stage.COACHED, "2026-02-15"),
                (Stage.FINANCED, "2026-03-15"),
            ],
            source=LeadSource.SMS,
            postcode="1030",
            region=Region.BRUSSELS,
            language=Language.FR,
            gender=Gender.FEMALE,
            birth_year=2001,
            background=Background.MIGRANT_EU,
            jobs_created=1,
        ),
        "p6": await _person(
            "Farid",
            "2026-06-01",
            [],
            source=LeadSource.WALK_IN,
            postcode="1000",
            region=Region.BRUSSELS,
            language=Language.FR,
            gender=Gender.MALE,
        ),
    }
    await LeadSegment.create(lead=people["p1"], code="women")
    await LeadSegment.create(lead=people["p3"], code="women")
    for sender, receiver, lead, day in (
        (a, None, people["p2"], "2026-03-10"),
        (None, b, people["p4"], "2026-05-20"),
        (a, None, people["p5"], "2025-11-16"),
    ):
        referral = await Referral.create(
            sender=sender,
            receiver=receiver,
            lead=lead,
            purpose=ReferralPurpose.MICROCREDIT,
            consent_given_at=at(day),
            consent_method="signed_form",
        )
        await Referral.filter(id=referral.id).update(created_at=at(day))
    await pathway.rebuild()
    return World(e1=e1, e2=e2, a=a, b=b, people=people)


@pytest.fixture
async def coordinator(make_caller):
    return await make_caller(Role.COORDINATOR)
