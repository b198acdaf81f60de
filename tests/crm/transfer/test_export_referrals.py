"""The referrals export: both directions, the organisations by name, the coded answers, and
only the referrals the caller may see."""

from __future__ import annotations

from crm.enums import Role
from crm.referrals.models import Referral, ReferralStatusChange
from tests.crm.transfer.export_fixtures import EXPORT, exporter, person, read_csv, utc


async def _referral(lead, **fields) -> Referral:
    referral = await Referral.create(
        lead=lead,
        purpose=fields.pop("purpose", "microcredit"),
        consent_given_at=utc(2026, 3, 1, 9, 0),
        consent_method="signed_form",
        **fields,
    )
    await ReferralStatusChange.create(
        referral=referral,
        status=referral.status,
        by_label="test",
        organisation_label="test",
    )
    return referral


async def test_referrals_export_names_both_sides_and_the_answer(client, admin, make_partner):
    cpas = await make_partner(name="CPAS de Saint-Gilles")
    forem = await make_partner(name="Forem Charleroi")
    lead = await person("Nadia", last_name="Haddad")
    incoming = await _referral(lead, sender=cpas, external_ref="SG-2026-0042")
    await _referral(
        lead,
        receiver=forem,
        purpose="employment",
        status="rejected",
        reason_code="out_of_area",
        status_reason="Charleroi only",
        redirected_from=incoming,
    )

    response = await client.get(f"{EXPORT}/referrals.csv", headers=admin.headers)

    first, second = read_csv(response.content)
    assert (first["direction"], first["sender"], first["receiver"]) == (
        "in",
        "CPAS de Saint-Gilles",
        "Passerelle",
    )
    assert first["external_ref"] == "SG-2026-0042" and first["first_name"] == "Nadia"
    assert (second["direction"], second["receiver"], second["status"]) == (
        "out",
        "Forem Charleroi",
        "rejected",
    )
    assert (second["reason_code"], second["redirected_from_id"]) == (
        "out_of_area",
        str(incoming.id),
    )
    assert second["last_change_at"] != ""


async def test_referrals_filtered_by_partner_and_status(client, admin, make_partner):
    cpas = await make_partner()
    other = await make_partner()
    lead = await person()
    keep = await _referral(lead, sender=cpas, status="completed", outcome="financed")
    await _referral(lead, sender=cpas, status="requested")
    await _referral(lead, sender=other, status="completed")

    response = await client.get(
        f"{EXPORT}/referrals.csv",
        params={"partner_id": cpas.id, "status": "completed"},
        headers=admin.headers,
    )

    assert [(r["id"], r["outcome"]) for r in read_csv(response.content)] == [
        (str(keep.id), "financed")
    ]


async def test_agent_exports_only_referrals_of_people_they_see(client, make_caller, make_partner):
    agent = await exporter(make_caller, Role.AGENT)
    cpas = await make_partner()
    mine = await _referral(await person("Mine", reached_by_id=agent.user.id), sender=cpas)
    await _referral(await person("Not mine"), sender=cpas)

    response = await client.get(f"{EXPORT}/referrals.csv", headers=agent.headers)

    assert [r["id"] for r in read_csv(response.content)] == [str(mine.id)]
