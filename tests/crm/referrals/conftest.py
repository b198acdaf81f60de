"""A small world for the referral tests: four partners, staff of every role, one person with
consent to share, and referrals put straight into any status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from crm.enums import Role
from crm.people.models import ConsentPurpose, ConsentRecord, ConsentSource, Lead, LeadSource
from crm.referrals.models import (
    PartnerOrganisation,
    Referral,
    ReferralPurpose,
    ReferralStatus,
    ReferralStatusChange,
)
from tests.conftest import Caller


@dataclass
class World:
    a: PartnerOrganisation  # sends to us, or to B
    b: PartnerOrganisation  # receives from us, or from A
    c: PartnerOrganisation  # unrelated
    d: PartnerOrganisation  # where redirects go
    lead: Lead
    callers: dict[str, Caller]

    async def referral(
        self,
        *,
        sender: PartnerOrganisation | None,
        receiver: PartnerOrganisation | None,
        status: ReferralStatus = ReferralStatus.REQUESTED,
        **extra,
    ) -> Referral:
        created = datetime.now(UTC)
        referral = await Referral.create(
            sender=sender,
            receiver=receiver,
            lead=self.lead,
            purpose=ReferralPurpose.MICROCREDIT,
            notes="wants to open a bakery",
            consent_given_at=created,
            consent_method="signed_form",
            consent_text_version="v1",
            status=status,
            expires_at=extra.pop("expires_at", created + timedelta(days=14)),
            **extra,
        )
        await ReferralStatusChange.create(
            referral=referral, status=status, by_label="setup", organisation_label="setup"
        )
        return referral


async def grant_sharing(lead: Lead, granted: bool = True) -> None:
    await ConsentRecord.create(
        lead=lead,
        purpose=ConsentPurpose.SHARE_WITH_PARTNERS,
        granted=granted,
        source=ConsentSource.API,
        method="signed_form",
        recorded_at=datetime.now(UTC),
    )


@pytest.fixture
async def world(app, make_partner, make_caller) -> World:
    a = await make_partner("CPAS de Saint-Gilles")
    b = await make_partner("Forem Charleroi")
    c = await make_partner("Atlas Antwerpen vzw")
    d = await make_partner("ADG Eupen")
    agent = await make_caller(Role.AGENT)
    lead = await Lead.create(
        first_name="Fatou",
        last_name="Ndiaye",
        phone="+32489123456",
        email="fatou@example.org",
        language="fr",
        postcode="1060",
        source=LeadSource.REFERRAL,
        stage="contacted",
        notes="private note about Fatou",
        reached_by_id=agent.user.id,  # so the agent may see the person and her referrals
    )
    await grant_sharing(lead)
    callers = {
        "admin": await make_caller(Role.ADMIN),
        "coordinator": await make_caller(Role.COORDINATOR),
        "agent": agent,
        "marketing": await make_caller(Role.MARKETING),
        "partner_a": await make_caller(Role.PARTNER, organisation=a),
        "partner_b": await make_caller(Role.PARTNER, organisation=b),
        "partner_c": await make_caller(Role.PARTNER, organisation=c),
    }
    return World(a, b, c, d, lead, callers)
