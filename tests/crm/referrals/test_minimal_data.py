"""A partner reads only the minimal person block of its referrals, nothing else about them."""

from __future__ import annotations

MINIMAL = {"id", "first_name", "last_name", "phone", "email", "language", "postcode"}


async def test_a_partner_reads_only_the_minimal_person_block(client, world):
    await world.referral(sender=world.a, receiver=None)
    cpas = world.callers["partner_a"].headers
    lead = world.lead.id
    person = await client.get(f"/api/v1/leads/{lead}", headers=cpas)
    assert person.status_code == 200
    assert set(person.json()) == MINIMAL
    assert person.json()["first_name"] == "Fatou"
    for hidden in ("private note", "contacted", "share_with_partners"):
        assert hidden not in person.text
    for path in (f"/api/v1/leads/{lead}/timeline", f"/api/v1/leads/{lead}/messages"):
        assert (await client.get(path, headers=cpas)).status_code == 403
    # Staff still read the whole person.
    staff = await client.get(f"/api/v1/leads/{lead}", headers=world.callers["admin"].headers)
    assert {"stage", "segments", "consents", "notes"} <= set(staff.json())


async def test_a_partner_sees_none_of_the_persons_other_referrals(client, world):
    mine = await world.referral(sender=world.a, receiver=None)
    await world.referral(sender=None, receiver=world.b)
    listed = await client.get(
        f"/api/v1/referrals?lead_id={world.lead.id}", headers=world.callers["partner_a"].headers
    )
    assert [r["id"] for r in listed.json()["items"]] == [mine.id]
    (item,) = listed.json()["items"]
    assert set(item["person"]) == {"lead_id"} | (MINIMAL - {"id"})
    # A partner with no referral of this person does not see them at all.
    other = await client.get(
        f"/api/v1/leads/{world.lead.id}", headers=world.callers["partner_c"].headers
    )
    assert other.status_code == 404
