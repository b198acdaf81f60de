"""A person's data as a page and as JSON (access and portability), for admins and coordinators."""

from __future__ import annotations

import json

from crm.audit.models import AuditEntry
from crm.enums import Role
from tests.crm.people.test_merge import rich_pair


async def test_the_person_page_links_to_everything_about_them(
    client, make_partner, make_caller, sign_in
):
    pair = await rich_pair(make_partner)
    coordinator = await make_caller(Role.COORDINATOR)
    await sign_in(coordinator.user)
    person = await client.get(f"/leads/{pair.merged.id}")
    assert f'href="/leads/{pair.merged.id}/data"' in person.text
    page = await client.get(f"/leads/{pair.merged.id}/data")
    assert page.status_code == 200
    for table in ("consent_record", "interaction", "outbox_message", "inbound_message"):
        assert f'id="table-{table}"' in page.text, table
    assert "+32470123456" in page.text
    download = await client.get(f"/leads/{pair.merged.id}/data.json")
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    data = json.loads(download.content)
    assert data["person"]["id"] == pair.merged.id
    assert len(data["records"]["interaction"]) == 2
    assert await AuditEntry.filter(action="privacy.access", lead_id=pair.merged.id).count() == 2


async def test_marketing_and_agents_neither_see_the_link_nor_open_the_page(
    client, make_partner, make_caller, sign_in
):
    pair = await rich_pair(make_partner)
    marketing = await make_caller(Role.MARKETING)
    await sign_in(marketing.user)
    person = await client.get(f"/leads/{pair.kept.id}")
    assert 'id="person-data-link"' not in person.text
    assert (await client.get(f"/leads/{pair.kept.id}/data")).status_code == 403
    assert (await client.get(f"/leads/{pair.kept.id}/data.json")).status_code == 403


async def test_an_unknown_person_is_a_404_page(client, make_caller, sign_in):
    admin = await make_caller(Role.ADMIN)
    await sign_in(admin.user)
    assert (await client.get("/leads/999999/data")).status_code == 404
    assert (await client.get("/leads/abc/data")).status_code == 404
