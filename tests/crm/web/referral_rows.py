"""Real referral rows for the page tests (partner portal and staff referral pages), made through
the services the API uses."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from crm.auth import service as auth
from crm.auth.actor import Actor
from crm.auth.models import User
from crm.enums import Role
from crm.people import service as people
from crm.people.models import ConsentPurpose
from crm.people.schemas import ConsentIn, LeadCreate
from crm.referrals import service
from crm.referrals.models import PartnerOrganisation, Referral, ReferralPurpose
from crm.referrals.schemas import ReferralCreate

from .conftest import PASSWORD


def listed_names(html: str) -> list[str]:
    """The people's names in a referral list, top to bottom."""
    return re.findall(r'<th scope="row" class="name"><a href="[^"]+">([^<]+)</a>', html)


async def partner_user(org: PartnerOrganisation, email: str, first_name: str = "Lies") -> User:
    return await auth.create_user(
        email,
        Role.PARTNER,
        password=PASSWORD,
        organisation_name=org.name,
        first_name=first_name,
        ui_language="en",
    )


async def actor_of(user: User) -> Actor:
    await user.fetch_related("organisation")
    return auth.actor_for_user(user)


async def sent_by_partner(
    user: User,
    first_name: str,
    *,
    phone: str,
    last_name: str = "Ndiaye",
    external_ref: str | None = None,
    purpose: str = "microcredit",
) -> Referral:
    """A referral the partner user's organisation sent to us."""
    data = ReferralCreate(
        external_ref=external_ref,
        person={  # type: ignore[arg-type]
            "first_name": first_name,
            "last_name": last_name,
            "phone": phone,
            "language": "fr",
            "postcode": "1060",
        },
        purpose=purpose,  # type: ignore[arg-type]
        notes="wants to open a bakery",
        consent={  # type: ignore[arg-type]
            "given_at": datetime(2026, 11, 20, 13, 0, tzinfo=UTC),
            "method": "signed_form",
            "text_version": "2026-11/fr",
        },
    )
    return (await service.intake(data, actor=await actor_of(user))).referral


async def sent_to_partner(
    staff: User, org: PartnerOrganisation, first_name: str, *, phone: str
) -> Referral:
    """A referral from us to the partner, for a person who agreed to the sharing."""
    actor = await actor_of(staff)
    lead = (
        await people.find_or_create_lead(
            LeadCreate(
                first_name=first_name,
                last_name="Peeters",
                phone=phone,
                language="nl",
                consents=[ConsentIn(purpose=ConsentPurpose.SHARE_WITH_PARTNERS, granted=True)],
            ),
            actor=actor,
        )
    ).lead
    result = await service.refer_out(
        lead,
        partner_id=org.id,
        purpose=ReferralPurpose.SOCIAL_SUPPORT,
        notes="needs help with housing first",
        actor=actor,
    )
    return result.referral
