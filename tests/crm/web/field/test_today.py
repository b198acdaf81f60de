"""Today, the agent's start page: their events today and this week, the follow-ups due, the
people waiting for an answer; and who may open the field pages at all."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from channels.models import Channel, Conversation
from crm.auth.service import actor_for_user
from crm.config import settings
from crm.enums import Role
from crm.outreach import followups
from crm.outreach.models import OutreachEvent
from tests.crm.web.field.test_people import make_person

FIELD_PAGES = ("/field/", "/field/people", "/field/followups")


@pytest.fixture
async def agent(app, make_caller):
    return await make_caller(Role.AGENT, ui_language="en")


@pytest.fixture
async def other_agent(app, make_caller):
    return await make_caller(Role.AGENT, ui_language="en")


def _local(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=settings.tz)


async def _event(title: str, starts_at: datetime, *agents, **fields) -> OutreachEvent:
    event = await OutreachEvent.create(
        kind="market_stand", title=title, starts_at=starts_at, **fields
    )
    for user in agents:
        await event.agents.add(user)
    return event


async def test_today_shows_the_agents_events_follow_ups_due_and_people_waiting(
    client, agent, other_agent, sign_in
):
    today = followups.local_today()
    await _event("Marché du Midi", _local(today, 8), agent.user, place="Gare du Midi")
    await _event("Someone else's market", _local(today, 9), other_agent.user)
    overdue = await make_person(agent.user, "Overdue", follow_up_on=today - timedelta(days=3))
    await make_person(agent.user, "DueToday", follow_up_on=today)
    await make_person(agent.user, "Later", follow_up_on=today + timedelta(days=2))
    await make_person(other_agent.user, "NotMine", follow_up_on=today)
    writer = await make_person(agent.user, "Writer")
    hidden = await make_person(other_agent.user, "HiddenWriter")
    quiet = await make_person(agent.user, "AlreadyRead")
    now = datetime.now(UTC)
    for lead, unread in ((writer, 2), (hidden, 1), (quiet, 0)):
        await Conversation.create(
            lead=lead,
            last_message_at=now,
            last_inbound_at=now,
            last_channel=Channel.SMS,
            preview=f"hello from {lead.first_name}",
            unread=unread,
        )

    await sign_in(agent.user)
    page = await client.get("/field/")
    assert page.status_code == 200
    text = page.text
    assert 'href="/field/log"' in text and "Log a contact" in text
    assert "Marché du Midi" in text and "Gare du Midi" in text
    assert "Someone else&#39;s market" not in text
    event = await OutreachEvent.get(title="Marché du Midi")
    assert f'href="/field/events/{event.id}"' in text
    assert f'href="/field/events/{event.id}/stand"' in text
    follow = text[text.index('id="today-followups"') : text.index('id="today-inbox"')]
    assert follow.index("Overdue") < follow.index("DueToday")
    assert "overdue since" in follow
    assert f'href="/field/people/{overdue.id}"' in follow
    assert "Later" not in follow and "NotMine" not in follow
    inbox = text[text.index('id="today-inbox"') :]
    assert f'href="/inbox/{writer.id}"' in inbox and "hello from Writer" in inbox
    assert "2 unread" in inbox
    assert "HiddenWriter" not in inbox and "AlreadyRead" not in inbox
    assert 'aria-current="page">Today' in text


async def test_today_with_nothing_planned_says_so(client, agent, sign_in):
    await sign_in(agent.user)
    text = (await client.get("/field/")).text
    assert "No event today." in text
    assert "No follow-up due." in text
    assert "Nobody is waiting for an answer." in text


async def test_the_week_lists_events_running_today_and_later_until_sunday(agent, other_agent):
    wednesday = date(2026, 11, 18)
    await _event(
        "Since yesterday",
        _local(wednesday - timedelta(days=1), 18),
        agent.user,
        ends_at=_local(wednesday, 1),
    )
    await _event("Ended yesterday", _local(wednesday - timedelta(days=1), 9), agent.user)
    await _event("Tonight", _local(wednesday, 23), agent.user)
    await _event("Sunday", _local(date(2026, 11, 22), 10), agent.user)
    await _event("Next Monday", _local(date(2026, 11, 23), 10), agent.user)
    await _event("Not theirs", _local(wednesday, 10), other_agent.user)
    week = await followups.week_events(actor_for_user(agent.user), today=wednesday)
    assert [e.title for e in week.today] == ["Since yesterday", "Tonight"]
    assert [e.title for e in week.later_this_week] == ["Sunday"]


async def test_marketing_and_partner_users_get_403_on_field_pages(
    client, make_caller, make_partner_user, sign_in, agent
):
    lead = await make_person(agent.user)
    marketing = await make_caller(Role.MARKETING)
    await sign_in(marketing.user)
    for path in (*FIELD_PAGES, f"/field/people/{lead.id}"):
        response = await client.get(path)
        assert response.status_code == 403, path
        assert response.headers["content-type"].startswith("text/html")
    client.cookies.clear()
    partner = await make_partner_user()
    await sign_in(partner)
    for path in (*FIELD_PAGES, f"/field/people/{lead.id}"):
        assert (await client.get(path)).status_code == 403, path


async def test_a_signed_out_visitor_is_sent_to_sign_in(client):
    response = await client.get("/field/people")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/field/people"
