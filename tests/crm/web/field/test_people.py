"""The field app's people: the agent's list and search, the person's page with its timeline
and quick actions, and the no-JavaScript path of its forms (the same sync service as the
offline queue: refused in place, conflicts shown, a double submit stored once)."""

from __future__ import annotations

import html as html_lib
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from channels.models import Channel, InboundMessage, MessageKind, OutboxMessage
from crm.enums import Role
from crm.outreach.models import Interaction
from crm.people.models import (
    ConsentPurpose,
    ConsentRecord,
    ConsentSource,
    Lead,
    LeadSource,
    LeadStageChange,
    Stage,
)
from crm.referrals.models import Referral, ReferralStatus
from tests.crm.web.conftest import csrf_from

_FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.S)
_INPUT = re.compile(r"<(?:input|select|textarea)\b[^>]*\bname=\"([^\"]+)\"[^>]*>", re.S)


# --- helpers shared by the field page tests (test_today, test_followups import them) ------------


async def make_person(agent_user, first_name: str = "Amina", **fields) -> Lead:
    """A real person row, reached by `agent_user` (so that agent sees them)."""
    fields.setdefault("source", LeadSource.WALK_IN)
    return await Lead.create(
        first_name=first_name,
        reached_by_id=agent_user.id if agent_user else None,
        **fields,
    )


async def grant(lead: Lead, purpose: ConsentPurpose, granted: bool = True, at=None) -> None:
    await ConsentRecord.create(
        lead=lead,
        purpose=purpose,
        granted=granted,
        source=ConsentSource.EVENT,
        method="verbal",
        text_version="2026-11/fr",
        recorded_at=at or datetime.now(UTC),
    )


def form_of(page: str, marker: str) -> str:
    """The first form of the page whose opening tag or content contains `marker`."""
    for form in _FORM.findall(page):
        if marker in form:
            return form
    raise AssertionError(f"no form with {marker!r}")


def fields_of(form: str) -> dict[str, str]:
    """What the browser would post: inputs' values, the selected option of selects."""
    out: dict[str, str] = {}
    for tag in re.finditer(r"<input\b[^>]*>", form):
        name = re.search(r'\bname="([^"]+)"', tag.group(0))
        value = re.search(r'\bvalue="([^"]*)"', tag.group(0))
        if name:
            out[name.group(1)] = html_lib.unescape(value.group(1)) if value else ""
    for select in re.finditer(r'<select\b[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)"[^>]*\bselected', select.group(2))
        first = re.search(r'<option value="([^"]*)"', select.group(2))
        out[select.group(1)] = (chosen or first).group(1) if (chosen or first) else ""
    for area in re.finditer(r'<textarea\b[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        out[area.group(1)] = html_lib.unescape(area.group(2))
    return out


def data_base(form: str) -> dict:
    match = re.search(r"data-base='([^']*)'", form)
    assert match, "no data-base attribute"
    return json.loads(html_lib.unescape(match.group(1)))


@pytest.fixture
async def agent(app, make_caller):
    return await make_caller(Role.AGENT, ui_language="en")


@pytest.fixture
async def other_agent(app, make_caller):
    return await make_caller(Role.AGENT, ui_language="en")


def _names_listed(page: str) -> list[str]:
    return re.findall(r'<span class="fp-name">([^<]+)</span>', page)


# --- the list -----------------------------------------------------------------------------------


async def test_the_list_shows_only_the_agents_people_most_recently_contacted_first(
    client, agent, other_agent, sign_in
):
    now = datetime.now(UTC)
    await make_person(agent.user, "Old", last_contacted_at=now - timedelta(days=20))
    await make_person(agent.user, "Never")
    await make_person(agent.user, "Recent", last_contacted_at=now - timedelta(hours=2))
    await make_person(other_agent.user, "Hidden", last_contacted_at=now)
    await sign_in(agent.user)
    page = await client.get("/field/people")
    assert page.status_code == 200
    assert _names_listed(page.text) == ["Recent", "Old", "Never"]
    assert "3 people" in page.text
    assert 'aria-current="page">People' in page.text


async def test_search_finds_people_by_name_or_phone_digits(client, agent, sign_in):
    await make_person(agent.user, "Amina", last_name="Benali", phone="+32470123456")
    await make_person(agent.user, "Jan", last_name="Peeters", phone="+32486998877")
    await sign_in(agent.user)
    by_name = await client.get("/field/people", params={"q": "bena"})
    assert _names_listed(by_name.text) == ["Amina Benali"]
    by_phone = await client.get("/field/people", params={"q": "0486 99 88"})
    assert _names_listed(by_phone.text) == ["Jan Peeters"]
    nobody = await client.get("/field/people", params={"q": "zzz"})
    assert _names_listed(nobody.text) == [] and "Nobody matches this search." in nobody.text


async def test_the_list_is_paged_and_people_never_contacted_come_last(client, agent, sign_in):
    now = datetime.now(UTC)
    for n in range(29):
        await make_person(agent.user, f"P{n:02d}", last_contacted_at=now - timedelta(hours=n))
    await make_person(agent.user, "OlderNever")
    await make_person(agent.user, "NewerNever")
    await sign_in(agent.user)
    first = await client.get("/field/people")
    names = _names_listed(first.text)
    assert names == [f"P{n:02d}" for n in range(29)] + ["NewerNever"]
    assert 'href="/field/people?page=2"' in first.text
    second = await client.get("/field/people?page=2")
    assert _names_listed(second.text) == ["OlderNever"]
    assert (await client.get("/field/people?page=abc")).status_code == 200


# --- who may see what ---------------------------------------------------------------------------


async def test_a_person_the_agent_may_not_see_is_a_404_page(client, agent, other_agent, sign_in):
    hidden = await make_person(other_agent.user, "Karim")
    await sign_in(agent.user)
    for path in (f"/field/people/{hidden.id}", "/field/people/abc", "/field/people/99999999"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
    page = await client.get(f"/field/people/{(await make_person(agent.user)).id}")
    token = csrf_from(page.text)
    posted = await client.post(
        f"/field/people/{hidden.id}/update",
        data={"csrf_token": token, "client_id": str(uuid.uuid4()), "stage": "lost"},
    )
    assert posted.status_code == 404
    assert (await Lead.get(id=hidden.id)).stage == Stage.REACHED


async def test_forms_without_the_csrf_token_are_refused(client, agent, sign_in):
    lead = await make_person(agent.user)
    await sign_in(agent.user)
    response = await client.post(
        f"/field/people/{lead.id}/interactions",
        data={"client_id": str(uuid.uuid4()), "kind": "call", "channel": "phone"},
    )
    assert response.status_code == 403
    assert await Interaction.all().count() == 0


# --- the person's page --------------------------------------------------------------------------


async def test_the_page_shows_facts_consents_quick_actions_and_the_timeline(
    client, agent, make_partner, sign_in
):
    lead = await make_person(
        agent.user,
        "Amina",
        last_name="Benali",
        phone="+32470123456",
        language="fr",
        telegram_chat_id=555001,
        follow_up_on=date(2026, 12, 1),
    )
    base = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    await grant(lead, ConsentPurpose.SMS, at=base)
    await Interaction.create(
        lead=lead,
        kind="call",
        channel="phone",
        occurred_at=base + timedelta(hours=1),
        notes="Called about the bakery",
        author_id=agent.user.id,
    )
    change = await LeadStageChange.create(
        lead=lead, from_stage="reached", to_stage="contacted", by_user_id=agent.user.id
    )
    await LeadStageChange.filter(id=change.id).update(at=base + timedelta(hours=2))
    await InboundMessage.create(
        lead=lead,
        channel=Channel.SMS,
        address="+32470123456",
        body="Bonjour, je suis intéressée",
        provider_id="SM-in-1",
        received_at=base + timedelta(hours=3),
    )
    sent = await OutboxMessage.create(
        lead=lead,
        channel=Channel.TELEGRAM,
        address="555001",
        body="Merci Amina, à lundi",
        kind=MessageKind.REPLY,
        due_at=base,
        idempotency_key="test:1",
    )
    await OutboxMessage.filter(id=sent.id).update(created_at=base + timedelta(hours=4))
    partner = await make_partner(name="CPAS de Forest")
    referral = await Referral.create(
        receiver=partner,
        lead=lead,
        purpose="social_support",
        consent_given_at=base,
        consent_method="verbal",
    )
    await Referral.filter(id=referral.id).update(created_at=base + timedelta(hours=5))

    await sign_in(agent.user)
    page = await client.get(f"/field/people/{lead.id}")
    assert page.status_code == 200
    text = page.text
    assert "Amina Benali" in text and "+32 470 12 34 56" in text
    assert 'href="tel:+32470123456"' in text and 'href="sms:+32470123456"' in text
    assert f'href="/inbox/{lead.id}">Reply in the app' in text
    assert f'href="/inbox/{lead.id}">Telegram chat' in text
    assert re.search(r"SMS messages</strong>:\s*granted", text)
    assert "1 Dec 2026" in text  # the follow-up date
    assert 'href="' + "/static/field/people.css" in text
    timeline = text[text.index('id="timeline"') :]
    order = [
        "CPAS de Forest",
        "Merci Amina, à lundi",
        "Bonjour, je suis intéressée",
        "Reached → Contacted",
        "Phone call · Phone",
        "Called about the bakery",
        "SMS messages: granted",
    ]
    positions = [timeline.index(marker) for marker in order]
    assert positions == sorted(positions)


async def test_no_telegram_action_without_a_chat_and_no_call_without_a_phone(
    client, agent, sign_in
):
    lead = await make_person(agent.user, "Jan")
    await sign_in(agent.user)
    text = (await client.get(f"/field/people/{lead.id}")).text
    assert "Telegram chat" not in text and "tel:" not in text and "sms:" not in text
    assert "Reply in the app" in text


async def test_the_forms_follow_the_field_app_convention(client, agent, sign_in):
    lead = await make_person(agent.user, stage=Stage.LEAD, follow_up_on=date(2026, 12, 1))
    await sign_in(agent.user)
    page = (await client.get(f"/field/people/{lead.id}")).text
    stage = form_of(page, 'name="base_stage"')
    assert f'action="/field/people/{lead.id}/update"' in stage
    assert 'data-sync="update"' in stage and f'data-lead-id="{lead.id}"' in stage
    assert f'data-done="/field/people/{lead.id}"' in stage
    assert data_base(stage) == {"stage": "lead", "lost_reason": None}
    values = fields_of(stage)
    assert values["stage"] == "lead" and values["base_stage"] == "lead"
    assert values["csrf_token"] and uuid.UUID(values["client_id"])
    follow = form_of(page, 'type="date"')
    assert data_base(follow) == {"follow_up_on": "2026-12-01"}
    interaction = form_of(page, 'data-sync="interaction"')
    assert f'action="/field/people/{lead.id}/interactions"' in interaction
    assert set(fields_of(interaction)) >= {
        "csrf_token",
        "client_id",
        "kind",
        "channel",
        "notes",
        "interest",
        "occurred_at",
    }
    # Every input has a label.
    for form in (stage, follow, interaction):
        for tag in re.finditer(r'<(input|select|textarea)\b[^>]*\bid="([^"]+)"', form):
            assert f'for="{tag.group(2)}"' in page, tag.group(2)
    # A fresh client_id for every rendering.
    again = fields_of(form_of((await client.get(f"/field/people/{lead.id}")).text, "base_stage"))
    assert again["client_id"] != values["client_id"]


# --- moving the stage, the follow-up date -------------------------------------------------------


async def _page_form(client, lead: Lead, marker: str) -> dict[str, str]:
    page = await client.get(f"/field/people/{lead.id}")
    assert page.status_code == 200
    return fields_of(form_of(page.text, marker))


async def test_lost_without_a_reason_is_refused_in_place_with_what_was_typed_kept(
    client, agent, sign_in
):
    lead = await make_person(agent.user, stage=Stage.LEAD)
    await sign_in(agent.user)
    form = await _page_form(client, lead, "base_stage")
    form.update(stage="lost", lost_reason="   ")
    refused = await client.post(f"/field/people/{lead.id}/update", data=form)
    assert refused.status_code == 422
    again = form_of(refused.text, "base_stage")
    kept = fields_of(again)
    assert kept["stage"] == "lost" and kept["base_stage"] == "lead"
    assert kept["client_id"] == form["client_id"]
    assert 'id="err-stage-lost_reason"' in again and 'aria-invalid="true"' in again
    assert "Give a reason" in again
    assert '<details class="fp-action" open>\n  <summary>Move stage' in refused.text
    lead = await Lead.get(id=lead.id)
    assert lead.stage == Stage.LEAD and await LeadStageChange.all().count() == 0

    # Typed with a reason, the same form is stored and leads back to the person.
    kept["lost_reason"] = "Moved to Liège"
    stored = await client.post(f"/field/people/{lead.id}/update", data=kept)
    assert stored.status_code == 303 and stored.headers["location"] == f"/field/people/{lead.id}"
    lead = await Lead.get(id=lead.id)
    assert (lead.stage, lead.lost_reason) == (Stage.LOST, "Moved to Liège")
    assert await LeadStageChange.filter(lead_id=lead.id, to_stage="lost").count() == 1


async def test_a_follow_up_date_is_set_then_cleared(client, agent, sign_in):
    lead = await make_person(agent.user)
    await sign_in(agent.user)
    form = await _page_form(client, lead, 'type="date"')
    assert form["base_follow_up_on"] == ""
    form["follow_up_on"] = "2026-12-15"
    set_ = await client.post(f"/field/people/{lead.id}/update", data=form)
    assert set_.status_code == 303
    assert (await Lead.get(id=lead.id)).follow_up_on == date(2026, 12, 15)

    clear = await _page_form(client, lead, "Clear the follow-up")
    assert clear["follow_up_on"] == "" and clear["base_follow_up_on"] == "2026-12-15"
    cleared = await client.post(f"/field/people/{lead.id}/update", data=clear)
    assert cleared.status_code == 303
    assert (await Lead.get(id=lead.id)).follow_up_on is None


async def test_an_impossible_date_is_refused_next_to_the_field(client, agent, sign_in):
    lead = await make_person(agent.user)
    await sign_in(agent.user)
    form = await _page_form(client, lead, 'type="date"')
    form["follow_up_on"] = "2026-13-45"
    refused = await client.post(f"/field/people/{lead.id}/update", data=form)
    assert refused.status_code == 422
    assert 'id="err-follow_up-follow_up_on"' in refused.text
    assert (await Lead.get(id=lead.id)).follow_up_on is None


async def test_a_stage_changed_on_the_server_meanwhile_is_a_conflict_and_nothing_is_overwritten(
    client, agent, make_caller, sign_in
):
    lead = await make_person(agent.user, stage=Stage.LEAD)
    coordinator = await make_caller(Role.COORDINATOR)
    await sign_in(agent.user)
    form = await _page_form(client, lead, "base_stage")
    # Meanwhile a coordinator moves the person on.
    moved = await client.patch(
        f"/api/v1/leads/{lead.id}", headers=coordinator.headers, json={"stage": "coached"}
    )
    assert moved.status_code == 200, moved.text
    form.update(stage="lost", lost_reason="No longer interested")
    conflict = await client.post(f"/field/people/{lead.id}/update", data=form)
    assert conflict.status_code == 409
    text = conflict.text
    assert "Changed meanwhile on the server" in text
    assert re.search(r"Stage</strong>:\s*yours <span class=\"fp-value\">Lost</span>", text)
    assert re.search(r"theirs <span class=\"fp-value\">Coached</span>", text)
    assert f'href="/field/people/{lead.id}">Keep theirs' in text
    lead = await Lead.get(id=lead.id)
    assert (lead.stage, lead.lost_reason) == (Stage.COACHED, None)

    # "Use mine" sends the agent's values again, with the server's values as the base.
    mine = form_of(text, "Use mine")
    assert data_base(mine) == {"stage": "coached", "lost_reason": None}
    values = fields_of(mine)
    assert values["stage"] == "lost" and values["base_stage"] == "coached"
    assert values["client_id"] != form["client_id"]
    used = await client.post(f"/field/people/{lead.id}/update", data=values)
    assert used.status_code == 303
    lead = await Lead.get(id=lead.id)
    assert (lead.stage, lead.lost_reason) == (Stage.LOST, "No longer interested")


# --- logging an interaction ---------------------------------------------------------------------


async def test_a_double_submit_with_the_same_client_id_stores_one_interaction(
    client, agent, sign_in
):
    lead = await make_person(agent.user)
    await sign_in(agent.user)
    form = await _page_form(client, lead, 'data-sync="interaction"')
    form.update(kind="call", channel="phone", notes="Wants to start in March", interest="high")
    first = await client.post(f"/field/people/{lead.id}/interactions", data=form)
    second = await client.post(f"/field/people/{lead.id}/interactions", data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == f"/field/people/{lead.id}"
    rows = await Interaction.filter(lead_id=lead.id)
    assert len(rows) == 1
    assert (rows[0].kind, rows[0].channel, rows[0].interest) == ("call", "phone", "high")
    assert rows[0].author_id == agent.user.id
    assert (await Lead.get(id=lead.id)).last_contacted_at is not None
    page = await client.get(f"/field/people/{lead.id}")
    assert "Wants to start in March" in page.text


async def test_a_bad_interaction_is_refused_in_place_with_the_notes_kept(client, agent, sign_in):
    lead = await make_person(agent.user)
    await sign_in(agent.user)
    form = await _page_form(client, lead, 'data-sync="interaction"')
    form.update(kind="gossip", notes="Met at the market")
    refused = await client.post(f"/field/people/{lead.id}/interactions", data=form)
    assert refused.status_code == 422
    again = form_of(refused.text, 'data-sync="interaction"')
    assert 'id="err-log-kind"' in again
    assert fields_of(again)["notes"] == "Met at the market"
    form.update(kind="meeting", occurred_at="yesterday")
    refused = await client.post(f"/field/people/{lead.id}/interactions", data=form)
    assert refused.status_code == 422 and 'id="err-log-occurred_at"' in refused.text
    assert await Interaction.all().count() == 0


async def test_an_interaction_may_name_one_of_the_agents_events(client, agent, sign_in):
    from crm.outreach.models import OutreachEvent

    event = await OutreachEvent.create(
        kind="market_stand", title="Marché du Midi", starts_at=datetime.now(UTC)
    )
    await event.agents.add(agent.user)
    lead = await make_person(agent.user)
    await sign_in(agent.user)
    form = await _page_form(client, lead, 'data-sync="interaction"')
    assert "Marché du Midi" in (await client.get(f"/field/people/{lead.id}")).text
    form.update(kind="contact", channel="in_person", event_id=str(event.id))
    stored = await client.post(f"/field/people/{lead.id}/interactions", data=form)
    assert stored.status_code == 303
    assert (await Interaction.get(lead_id=lead.id)).event_id == event.id


# --- referring to a partner ---------------------------------------------------------------------


async def test_a_referral_is_refused_without_the_sharing_consent(
    client, agent, make_partner, sign_in
):
    partner = await make_partner(name="Forem Liège")
    lead = await make_person(agent.user)
    await grant(lead, ConsentPurpose.SHARE_WITH_PARTNERS, granted=False)
    await sign_in(agent.user)
    page = await client.get(f"/field/people/{lead.id}")
    assert "has not agreed to their details being shared with partners" in page.text
    assert f'action="/field/people/{lead.id}/referrals"' not in page.text
    refused = await client.post(
        f"/field/people/{lead.id}/referrals",
        data={
            "csrf_token": csrf_from(page.text),
            "partner_id": str(partner.id),
            "purpose": "employment",
        },
    )
    assert refused.status_code == 422
    assert "ask them first" in refused.text
    assert await Referral.all().count() == 0


async def test_a_referral_is_created_with_the_sharing_consent(client, agent, make_partner, sign_in):
    partner = await make_partner(name="Forem Liège")
    lead = await make_person(agent.user)
    await grant(lead, ConsentPurpose.SHARE_WITH_PARTNERS)
    await sign_in(agent.user)
    page = await client.get(f"/field/people/{lead.id}")
    form = fields_of(form_of(page.text, 'name="partner_id"'))
    form.update(partner_id=str(partner.id), purpose="employment", notes="Looks for training")
    created = await client.post(f"/field/people/{lead.id}/referrals", data=form)
    assert created.status_code == 303
    again = await client.post(f"/field/people/{lead.id}/referrals", data=form)
    assert again.status_code == 303
    (referral,) = await Referral.all()
    assert referral.sender_id is None and referral.receiver_id == partner.id
    assert (referral.purpose, referral.status) == ("employment", ReferralStatus.REQUESTED)
    assert referral.consent_method == "verbal" and referral.created_by_id == agent.user.id
    assert await referral.history.all().count() == 1
    text = (await client.get(f"/field/people/{lead.id}")).text
    assert "Passerelle → Forem Liège: Employment (requested)" in text
    bad = await client.post(
        f"/field/people/{lead.id}/referrals", data={**form, "partner_id": "99999"}
    )
    assert bad.status_code == 422 and 'id="err-refer-partner_id"' in bad.text


async def test_bad_or_tampered_forms_are_answered_in_the_page_never_a_server_error(
    client, agent, sign_in
):
    lead = await make_person(agent.user, stage=Stage.LEAD)
    await sign_in(agent.user)
    token = csrf_from((await client.get(f"/field/people/{lead.id}")).text)
    posts = [
        ("update", {"stage": "nonsense", "base_stage": "lead", "client_id": str(uuid.uuid4())}),
        ("update", {"stage": "lost", "lost_reason": "x"}),  # no client_id, no base
        ("update", {"client_id": str(uuid.uuid4())}),  # nothing to change
        ("update", {"follow_up_on": "2026-12-01", "client_id": "not-a-uuid"}),
        ("interactions", {"client_id": str(uuid.uuid4()), "kind": "call", "event_id": "x"}),
        ("interactions", {"client_id": str(uuid.uuid4()), "channel": "phone", "notes": "a"}),
        ("referrals", {"partner_id": "abc", "purpose": "coaching"}),
        ("referrals", {"partner_id": "1", "purpose": "holiday"}),
    ]
    for action, data in posts:
        response = await client.post(
            f"/field/people/{lead.id}/{action}", data={"csrf_token": token, **data}
        )
        assert response.status_code == 422, (action, data, response.status_code)
        assert response.headers["content-type"].startswith("text/html")
    lead = await Lead.get(id=lead.id)
    assert (lead.stage, lead.follow_up_on) == (Stage.LEAD, None)
    assert await Interaction.all().count() == 0 and await Referral.all().count() == 0
