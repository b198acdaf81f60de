"""Follow-ups: the dates that have come (overdue first), the ones coming, the people not
contacted for N days; an agent's own list, which coordinators may look at."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from crm.enums import Role
from crm.outreach import followups
from crm.people.models import Lead, Stage
from tests.crm.web.field.test_people import fields_of, form_of, make_person

TODAY = date(2026, 11, 18)
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)


@pytest.fixture
async def agent(app, make_caller):
    return await make_caller(Role.AGENT, ui_language="en")


@pytest.fixture
async def other_agent(app, make_caller):
    return await make_caller(Role.AGENT, ui_language="en")


async def _aged(lead: Lead, *, created: datetime) -> Lead:
    # created_at is set by the database when the row is made: a person added long ago is
    # written back with its date.
    await Lead.filter(id=lead.id).update(created_at=created)
    return await Lead.get(id=lead.id)


def _names(rows) -> list[str]:
    return [row.lead.first_name for row in rows]


async def test_due_follow_ups_are_today_and_past_the_most_overdue_first(agent, other_agent):
    await make_person(agent.user, "Today", follow_up_on=TODAY)
    await make_person(agent.user, "LastWeek", follow_up_on=TODAY - timedelta(days=7))
    await make_person(agent.user, "Yesterday", follow_up_on=TODAY - timedelta(days=1))
    await make_person(agent.user, "Tomorrow", follow_up_on=TODAY + timedelta(days=1))
    await make_person(agent.user, "NoDate")
    await make_person(other_agent.user, "Theirs", follow_up_on=TODAY - timedelta(days=2))
    mine = followups.people_worked_by(agent.user.id)
    due, total = await followups.due_follow_ups(mine, today=TODAY)
    assert _names(due) == ["LastWeek", "Yesterday", "Today"] and total == 3
    assert [row.overdue for row in due] == [True, True, False]
    upcoming, _ = await followups.upcoming_follow_ups(mine, today=TODAY)
    assert _names(upcoming) == ["Tomorrow"]


async def test_not_contacted_for_n_days_counts_the_last_contact_or_the_creation(agent):
    long_ago = NOW - timedelta(days=45)
    await _aged(
        await make_person(agent.user, "Quiet45", last_contacted_at=NOW - timedelta(days=40)),
        created=long_ago,
    )
    await _aged(
        await make_person(agent.user, "Recent10", last_contacted_at=NOW - timedelta(days=10)),
        created=long_ago,
    )
    await _aged(await make_person(agent.user, "NeverOld"), created=NOW - timedelta(days=35))
    await _aged(await make_person(agent.user, "NeverNew"), created=NOW - timedelta(days=5))
    for stage in (Stage.LOST, Stage.FINANCED, Stage.REDIRECTED):
        await _aged(
            await make_person(
                agent.user,
                f"Closed{stage.value}",
                stage=stage,
                last_contacted_at=NOW - timedelta(days=60),
            ),
            created=long_ago,
        )
    mine = followups.people_worked_by(agent.user.id)
    quiet, total = await followups.not_contacted_for(mine, 30, now=NOW)
    # The longest without contact first: never contacted since day -45 counts from creation.
    assert _names(quiet) == ["Quiet45", "NeverOld"] and total == 2
    assert [row.days_since_contact for row in quiet] == [40, None]
    week, _ = await followups.not_contacted_for(mine, 7, now=NOW)
    assert _names(week) == ["Quiet45", "NeverOld", "Recent10"]
    assert _names((await followups.not_contacted_for(mine, 90, now=NOW))[0]) == []


async def test_the_page_shows_the_agents_lists(client, agent, other_agent, sign_in):
    today = followups.local_today()
    now = datetime.now(UTC)
    await make_person(agent.user, "Overdue", follow_up_on=today - timedelta(days=2))
    await make_person(agent.user, "Soon", follow_up_on=today + timedelta(days=3))
    await _aged(
        await make_person(agent.user, "Quiet", last_contacted_at=now - timedelta(days=20)),
        created=now - timedelta(days=90),
    )
    await make_person(other_agent.user, "NotMine", follow_up_on=today)
    await sign_in(agent.user)
    page = await client.get("/field/followups")
    assert page.status_code == 200
    text = page.text
    due = text[text.index('id="fu-due"') : text.index('id="fu-upcoming"')]
    upcoming = text[text.index('id="fu-upcoming"') : text.index('id="fu-quiet"')]
    quiet = text[text.index('id="fu-quiet"') :]
    assert "Overdue" in due and "Soon" in upcoming
    assert "NotMine" not in text
    # 30 days by default: contacted 20 days ago is not quiet enough yet; 14 days is.
    assert "Not contacted for 30 days" in quiet and "Quiet" not in quiet.split("</h2>", 1)[1]
    two_weeks = (await client.get("/field/followups?days=14")).text
    assert "last contact 20 days ago" in two_weeks[two_weeks.index('id="fu-quiet"') :]
    # An unknown number of days falls back to 30; an agent cannot pick someone else's list.
    odd = await client.get(f"/field/followups?days=13&agent={other_agent.user.id}")
    assert odd.status_code == 200 and "Not contacted for 30 days" in odd.text
    assert "NotMine" not in odd.text and 'name="agent"' not in odd.text


async def test_a_coordinator_looks_at_an_agents_list(
    client, agent, other_agent, make_caller, sign_in
):
    today = followups.local_today()
    await make_person(agent.user, "AgentsPerson", follow_up_on=today)
    await make_person(other_agent.user, "OthersPerson", follow_up_on=today)
    coordinator = await make_caller(Role.COORDINATOR, ui_language="en")
    await sign_in(coordinator.user)
    own = (await client.get("/field/followups")).text
    assert "AgentsPerson" not in own and "OthersPerson" not in own
    assert 'name="agent"' in own
    chosen = (await client.get(f"/field/followups?agent={agent.user.id}")).text
    assert "AgentsPerson" in chosen and "OthersPerson" not in chosen
    assert re.search(rf'<option value="{agent.user.id}" selected', chosen)


async def test_done_clears_the_follow_up_and_comes_back_to_the_list(client, agent, sign_in):
    today = followups.local_today()
    lead = await make_person(agent.user, "Overdue", follow_up_on=today - timedelta(days=1))
    await sign_in(agent.user)
    page = (await client.get("/field/followups?days=60")).text
    done = form_of(page, f'action="/field/people/{lead.id}/update"')
    assert 'data-sync="update"' in done and 'data-base=\'{"follow_up_on": ' in done
    form = fields_of(done)
    assert form["follow_up_on"] == "" and form["base_follow_up_on"] == lead.follow_up_on.isoformat()
    response = await client.post(f"/field/people/{lead.id}/update", data=form)
    assert response.status_code == 303
    assert response.headers["location"] == "/field/followups?days=60"
    assert (await Lead.get(id=lead.id)).follow_up_on is None
    again = await client.post(f"/field/people/{lead.id}/update", data=form)
    assert again.status_code == 303  # the same client_id: already stored, nothing more


async def test_every_field_page_reminds_of_the_follow_ups_due(client, agent, other_agent, sign_in):
    today = followups.local_today()
    await make_person(agent.user, "Overdue", follow_up_on=today - timedelta(days=3))
    await make_person(agent.user, "Today", follow_up_on=today)
    await make_person(agent.user, "Later", follow_up_on=today + timedelta(days=2))
    await make_person(other_agent.user, "Theirs", follow_up_on=today)
    assert await followups.due_count(agent.user.id) == 2
    await sign_in(agent.user)
    badge = re.compile(r'<span class="nav-due">(\d+)<span class="visually-hidden"> due</span>')
    for path in ("/field/", "/field/log", "/field/people", "/field/events", "/field/queue"):
        page = await client.get(path)
        assert page.status_code == 200, path
        assert badge.findall(page.text) == ["2"], path
    assert await followups.due_count(other_agent.user.id) == 1
