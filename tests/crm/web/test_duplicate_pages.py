"""The duplicate review list and the merge page, through the real login and CSRF forms."""

from __future__ import annotations

import pytest

from crm.enums import Role
from crm.outreach.models import Interaction
from crm.people.models import DuplicateDismissal, Lead, LeadMerge, LeadSource
from tests.crm.web.conftest import csrf_from


async def person(first: str, last: str | None = None, **extra) -> Lead:
    return await Lead.create(first_name=first, last_name=last, source=LeadSource.WALK_IN, **extra)


async def test_review_list_shows_pairs_side_by_side(client, make_caller, sign_in):
    coordinator = await make_caller(Role.COORDINATOR)
    a = await person("Fatima", "Benali", postcode="1080", phone="+32470123456")
    b = await person("Fatma", "Benali", postcode="1080", email="fatma@example.org")
    await person("Jan", "Peeters", postcode="1080")
    await sign_in(coordinator.user)
    people = await client.get("/leads")
    assert 'href="/leads/duplicates"' in people.text
    page = await client.get("/leads/duplicates")
    assert page.status_code == 200
    assert f'href="/leads/merge?a={a.id}&amp;b={b.id}"' in page.text
    assert "fatma@example.org" in page.text and "Jan" not in page.text
    assert 'action="/leads/duplicates/dismiss"' in page.text


async def test_not_the_same_person_hides_the_pair(client, make_caller, sign_in):
    coordinator = await make_caller(Role.COORDINATOR)
    a = await person("Jan", "Peeters", postcode="2000")
    b = await person("Jan", "Peeters", postcode="2000")
    await sign_in(coordinator.user)
    page = await client.get("/leads/duplicates")
    response = await client.post(
        "/leads/duplicates/dismiss",
        data={"csrf_token": csrf_from(page.text), "a": a.id, "b": b.id},
    )
    assert response.status_code == 303
    assert await DuplicateDismissal.filter(lead_low_id=a.id, lead_high_id=b.id).exists()
    again = await client.get("/leads/duplicates")
    assert f"/leads/merge?a={a.id}" not in again.text


async def test_forms_without_csrf_token_are_refused(client, make_caller, sign_in):
    coordinator = await make_caller(Role.COORDINATOR)
    a, b = await person("Jan", "Peeters"), await person("Jan", "Peeters")
    await sign_in(coordinator.user)
    dismiss = await client.post("/leads/duplicates/dismiss", data={"a": a.id, "b": b.id})
    merged = await client.post("/leads/merge", data={"a": a.id, "b": b.id, "keep": "a"})
    assert dismiss.status_code == merged.status_code == 403
    assert await Lead.all().count() == 2 and await DuplicateDismissal.all().count() == 0


async def test_merge_page_shows_differences_counts_and_merges(client, make_caller, sign_in):
    coordinator = await make_caller(Role.COORDINATOR)
    a = await person("Amina", "Benali", postcode="1060", email="amina@example.org")
    b = await person("Amina", "Bénali", postcode="1060", phone="+32470123456")
    for lead, n in ((a, 2), (b, 3)):
        for _ in range(n):
            await Interaction.create(
                lead=lead, kind="call", channel="phone", occurred_at=a.created_at
            )
    await sign_in(coordinator.user)
    page = await client.get(f"/leads/merge?a={a.id}&b={b.id}")
    assert page.status_code == 200
    html = page.text
    # a radio per differing field, the kept (older) record's value chosen where it has one
    assert 'name="f_last_name" value="a" checked' in html
    assert 'name="f_phone" value="b" checked' in html  # a has none
    assert 'name="f_first_name"' not in html  # the same on both
    assert 'name="keep" value="a" checked' in html
    assert f'<td data-label="#{a.id}">2</td>' in html
    assert f'<td data-label="#{b.id}">3</td>' in html

    response = await client.post(
        "/leads/merge",
        data={
            "csrf_token": csrf_from(html),
            "a": a.id,
            "b": b.id,
            "keep": "a",
            "f_last_name": "b",
            "f_phone": "b",
            "reason": "She confirmed on the phone",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/leads/{a.id}"
    kept = await Lead.get(id=a.id)
    assert (kept.last_name, kept.phone) == ("Bénali", "+32470123456")
    assert await Interaction.filter(lead_id=a.id).count() == 5
    record = await LeadMerge.get()
    assert record.reason == "She confirmed on the phone"

    after = await client.get(f"/leads/{a.id}")
    assert f"#{b.id}" in after.text
    assert "She confirmed on the phone" in after.text  # the merge in the timeline
    assert 'class="notice"' in after.text
    assert 'class="notice"' not in (await client.get(f"/leads/{a.id}")).text  # shown once

    old = await client.get(f"/leads/{b.id}")
    assert old.status_code == 303 and old.headers["location"] == f"/leads/{a.id}"


async def test_keeping_the_other_record_reverses_the_sides(client, make_caller, sign_in):
    coordinator = await make_caller(Role.COORDINATOR)
    a = await person("Jan", "Peeters", postcode="2000", email="jan@example.be")
    b = await person("Jan", "Peters", postcode="2000")
    await sign_in(coordinator.user)
    page = await client.get(f"/leads/merge?a={a.id}&b={b.id}")
    response = await client.post(
        "/leads/merge",
        data={"csrf_token": csrf_from(page.text), "a": a.id, "b": b.id, "keep": "b"},
    )
    assert response.headers["location"] == f"/leads/{b.id}"
    kept = await Lead.get(id=b.id)
    assert kept.last_name == "Peters" and kept.email == "jan@example.be"
    assert not await Lead.exists(id=a.id)


async def test_person_page_hints_at_possible_duplicates(client, make_caller, sign_in):
    coordinator = await make_caller(Role.COORDINATOR)
    a = await person("Fatima", "Benali", postcode="1080")
    b = await person("Fatma", "Benali", postcode="1080")
    await sign_in(coordinator.user)
    page = await client.get(f"/leads/{a.id}")
    assert f'href="/leads/merge?a={a.id}&amp;b={b.id}"' in page.text


@pytest.mark.parametrize(
    "url", ["/leads/merge?a=1&b=1", "/leads/merge?a=999998&b=999999", "/leads/merge?a=x&b=2"]
)
async def test_merge_page_of_bad_ids_is_404(client, make_caller, sign_in, url):
    coordinator = await make_caller(Role.COORDINATOR)
    await person("Jan")
    await sign_in(coordinator.user)
    assert (await client.get(url)).status_code == 404


async def test_merging_a_record_already_merged_is_404(client, make_caller, sign_in):
    coordinator = await make_caller(Role.COORDINATOR)
    a, b = await person("Jan", "Peeters"), await person("Jan", "Peeters")
    await sign_in(coordinator.user)
    page = await client.get(f"/leads/merge?a={a.id}&b={b.id}")
    form = {"csrf_token": csrf_from(page.text), "a": a.id, "b": b.id, "keep": "a"}
    assert (await client.post("/leads/merge", data=form)).status_code == 303
    assert (await client.post("/leads/merge", data=form)).status_code == 404
    assert await LeadMerge.all().count() == 1


@pytest.mark.parametrize("role", [Role.AGENT, Role.MARKETING])
async def test_only_managers_open_the_duplicate_pages(client, make_caller, sign_in, role):
    caller = await make_caller(role)
    a, b = await person("Jan", "Peeters"), await person("Jan", "Peeters")
    await sign_in(caller.user)
    assert 'href="/leads/duplicates"' not in (await client.get("/leads")).text
    assert (await client.get("/leads/duplicates")).status_code == 403
    assert (await client.get(f"/leads/merge?a={a.id}&b={b.id}")).status_code == 403
    token = csrf_from((await client.get("/leads")).text)
    response = await client.post(
        "/leads/merge", data={"csrf_token": token, "a": a.id, "b": b.id, "keep": "a"}
    )
    assert response.status_code == 403
    assert await Lead.all().count() == 2
