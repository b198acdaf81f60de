import re

from crm.enums import Role


async def _lead(client, caller, **fields):
    response = await client.post("/api/v1/leads", headers=caller.headers, json=fields)
    assert response.status_code == 201, response.text
    return response.json()


def _names_listed(html: str) -> set[str]:
    return set(re.findall(r'<a href="/leads/\d+">([^<]+)</a>', html))


async def test_agent_sees_only_their_own_leads(client, make_caller, sign_in):
    agent = await make_caller(Role.AGENT)
    other = await make_caller(Role.AGENT)
    await _lead(client, agent, first_name="Amina", last_name="Benali", phone="0470 12 34 56")
    await _lead(client, agent, first_name="Jan", last_name="Peeters", phone="0470 12 34 57")
    hidden = await _lead(
        client, other, first_name="Karim", last_name="Haddad", phone="0470 99 99 99"
    )
    await sign_in(agent.user)
    page = await client.get("/leads")
    assert page.status_code == 200
    assert _names_listed(page.text) == {"Amina Benali", "Jan Peeters"}
    assert "2 personnes" in page.text
    assert (await client.get(f"/leads/{hidden['id']}")).status_code == 404


async def test_coordinator_sees_everyone_and_filters_work(client, make_caller, sign_in):
    agent = await make_caller(Role.AGENT)
    coordinator = await make_caller(Role.COORDINATOR)
    await _lead(
        client,
        agent,
        first_name="Amina",
        phone="0470 12 34 56",
        postcode="1080",
        language="fr",
        segments=["women"],
    )
    await _lead(client, agent, first_name="Jan", phone="0470 12 34 57", postcode="9000")
    await _lead(client, agent, first_name="Monika", phone="0470 12 34 58", postcode="4700")
    await sign_in(coordinator.user)
    assert _names_listed((await client.get("/leads")).text) == {"Amina", "Jan", "Monika"}
    assert _names_listed((await client.get("/leads?region=flanders")).text) == {"Jan"}
    assert _names_listed((await client.get("/leads?language=de")).text) == {"Monika"}
    assert _names_listed((await client.get("/leads?segment=women")).text) == {"Amina"}
    assert _names_listed((await client.get("/leads?q=mon")).text) == {"Monika"}
    assert _names_listed((await client.get("/leads?stage=financed")).text) == set()
    # Unknown filter values are ignored rather than failing.
    page = await client.get("/leads?stage=nope&region=mars&page=abc")
    assert page.status_code == 200 and len(_names_listed(page.text)) == 3


async def test_list_pages_by_fifty(client, make_caller, sign_in):
    admin = await make_caller(Role.ADMIN)
    for n in range(51):
        await _lead(client, admin, first_name=f"Person{n:02d}", phone=f"0470 00 00 {n:02d}")
    await sign_in(admin.user)
    first = await client.get("/leads?q=person")
    assert len(_names_listed(first.text)) == 50
    assert 'href="/leads?q=person&amp;page=2"' in first.text
    second = await client.get("/leads?q=person&page=2")
    assert _names_listed(second.text) == {"Person00"}
    assert 'href="/leads?q=person"' in second.text  # previous page


async def test_lead_page_shows_facts_and_timeline(client, make_caller, sign_in):
    agent = await make_caller(Role.AGENT)
    lead = await _lead(
        client,
        agent,
        first_name="Amina",
        last_name="Benali",
        phone="0470 12 34 56",
        postcode="1080",
        language="fr",
        segments=["women", "job_seeker"],
        notes="Wants to open a bakery",
        consents=[{"purpose": "sms", "granted": True}],
    )
    logged = await client.post(
        f"/api/v1/leads/{lead['id']}/interactions",
        headers=agent.headers,
        json={"kind": "call", "channel": "phone", "notes": "Called back on Monday"},
    )
    assert logged.status_code == 201, logged.text
    moved = await client.patch(
        f"/api/v1/leads/{lead['id']}", headers=agent.headers, json={"stage": "contacted"}
    )
    assert moved.status_code == 200, moved.text
    await sign_in(agent.user)
    page = await client.get(f"/leads/{lead['id']}")
    assert page.status_code == 200
    html = page.text
    assert "Amina Benali" in html
    assert 'href="tel:+32470123456"' in html
    assert "Actiris" in html and "Bruxelles-Capitale" in html
    assert "Femmes" in html and "Demandeur·se d&#39;emploi" in html
    assert "Messages SMS" in html and "donné" in html
    assert "Wants to open a bakery" in html and "Called back on Monday" in html
    # Timeline, newest first: the stage change, then the call, then the creation.
    timeline = html[html.index('class="timeline"') :]
    assert timeline.index("Rencontré·e → Contacté·e") < timeline.index("Appel · Téléphone")
    assert timeline.index("Appel · Téléphone") < timeline.rindex("Rencontré·e")


async def test_marketing_does_not_see_notes(client, make_caller, sign_in):
    agent = await make_caller(Role.AGENT)
    marketing = await make_caller(Role.MARKETING)
    lead = await _lead(
        client, agent, first_name="Amina", phone="0470 12 34 56", notes="Private remark"
    )
    await client.post(
        f"/api/v1/leads/{lead['id']}/interactions",
        headers=agent.headers,
        json={"kind": "call", "channel": "phone", "notes": "Call notes"},
    )
    await sign_in(marketing.user)
    page = await client.get(f"/leads/{lead['id']}")
    assert page.status_code == 200
    assert "Amina" in page.text
    assert "Private remark" not in page.text and "Call notes" not in page.text


async def test_unknown_lead_is_a_404_page(client, make_caller, sign_in):
    admin = await make_caller(Role.ADMIN)
    await sign_in(admin.user)
    for path in ("/leads/999999", "/leads/abc", "/leads/99999999999", "/leads/0"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "text/html" in response.headers["content-type"]
        assert "Page introuvable" in response.text


async def test_partner_user_goes_to_the_partner_portal_and_sees_no_leads(
    client, make_caller, make_partner_user, sign_in
):
    partner = await make_partner_user()
    await sign_in(partner)
    home = await client.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/partner/"
    response = await client.get("/leads")
    assert response.status_code == 403
    assert "Accès refusé" in response.text
    assert (await client.get("/leads/1")).status_code == 403


async def test_pages_are_not_cached_and_not_framed(client):
    response = await client.get("/login")
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert '<meta name="viewport"' in response.text
