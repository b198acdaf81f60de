"""The inbox pages, signed in through the real login form: the list, one thread, the reply
form with its CSRF token, and the live segment counter's fragment."""

from __future__ import annotations

import re

import pytest

from channels import inbound, outbox
from channels.models import Channel, Conversation, MessageKind, OutboxMessage, OutboxStatus
from crm.auth import service as auth
from crm.enums import Role
from tests.crm.web.conftest import PASSWORD, csrf_from, login

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

_sids = iter(range(1, 1_000_000))


@pytest.fixture
def sign_in(client):
    async def _sign_in(user) -> None:
        response = await login(client, user.email)
        assert response.status_code == 303, response.text

    return _sign_in


async def receive(lead, body="Bonjour"):
    return await inbound.store(
        lead, Channel.SMS, address=lead.phone, body=body, provider_id=f"SM{next(_sids):032x}"
    )


async def test_inbox_renders_for_an_agent_in_french(client, make_caller, make_lead, sign_in):
    agent = await make_caller(Role.AGENT)
    lead = await make_lead(first_name="Amina", assigned_agent_id=agent.user.id)
    await receive(lead, "Je voudrais ouvrir un salon de coiffure")
    await sign_in(agent.user)
    page = await client.get("/inbox")
    assert page.status_code == 200
    assert '<html lang="fr">' in page.text and "Messagerie" in page.text
    assert f'href="/inbox/{lead.id}"' in page.text and "1 nouveau message" in page.text
    assert "Je voudrais ouvrir un salon de coiffure" in page.text and "Non attribuée" in page.text


async def test_thread_renders_for_an_agent_in_dutch(client, make_caller, make_lead, sign_in):
    agent = await make_caller(Role.AGENT, ui_language="nl")
    lead = await make_lead(first_name="Jan", language="nl", assigned_agent_id=agent.user.id)
    await receive(lead, "Hallo, ik heb een vraag")
    await sign_in(agent.user)
    page = await client.get(f"/inbox/{lead.id}")
    assert page.status_code == 200
    assert '<html lang="nl">' in page.text and "Berichten" in page.text
    assert "Hallo, ik heb een vraag" in page.text and "Antwoorden" in page.text
    assert "Aan mij toewijzen" in page.text


async def test_opening_a_thread_marks_it_read(client, make_caller, make_lead, sign_in):
    agent = await make_caller(Role.AGENT)
    lead = await make_lead(assigned_agent_id=agent.user.id)
    await receive(lead)
    await sign_in(agent.user)
    assert (await client.get(f"/inbox/{lead.id}")).status_code == 200
    assert (await Conversation.get(lead_id=lead.id)).unread == 0


async def test_console_message_is_shown_as_not_sent(client, make_caller, make_lead, sign_in):
    agent = await make_caller(Role.AGENT)
    lead = await make_lead(assigned_agent_id=agent.user.id)
    row, _ = await outbox.enqueue(
        lead, Channel.SMS, "Rendez-vous jeudi", kind=MessageKind.REPLY, idempotency_key="t:1"
    )
    await OutboxMessage.filter(id=row.id).update(
        status=OutboxStatus.SENT, provider="console", provider_id=f"console-{row.id}"
    )
    await sign_in(agent.user)
    page = await client.get(f"/inbox/{lead.id}")
    assert "Rendez-vous jeudi" in page.text and "Non envoyé (console)" in page.text


async def test_unknown_message_offers_a_resend(client, make_caller, make_lead, sign_in):
    agent = await make_caller(Role.AGENT)
    lead = await make_lead(assigned_agent_id=agent.user.id)
    row, _ = await outbox.enqueue(
        lead, Channel.SMS, "Bonjour", kind=MessageKind.REPLY, idempotency_key="t:2"
    )
    await OutboxMessage.filter(id=row.id).update(status=OutboxStatus.UNKNOWN, provider="twilio")
    await sign_in(agent.user)
    page = await client.get(f"/inbox/{lead.id}")
    assert "Sort inconnu" in page.text and f'value="out-{row.id}"' in page.text
    response = await client.post(
        f"/inbox/{lead.id}/resend",
        data={"csrf_token": csrf_from(page.text), "message_id": f"out-{row.id}"},
    )
    assert response.status_code == 303
    assert await OutboxMessage.filter(idempotency_key=f"resend:{row.id}").count() == 1


async def test_posting_a_reply_with_csrf_queues_it(client, make_caller, make_lead, sign_in):
    agent = await make_caller(Role.AGENT)
    lead = await make_lead(assigned_agent_id=agent.user.id)
    await sign_in(agent.user)
    page = await client.get(f"/inbox/{lead.id}")
    client_id = re.search(r'name="client_id" value="([^"]+)"', page.text).group(1)
    form = {
        "csrf_token": csrf_from(page.text),
        "client_id": client_id,
        "channel": "sms",
        "body": "Bonjour, êtes-vous libre jeudi ?",
        "lookalikes": "1",
    }
    response = await client.post(f"/inbox/{lead.id}/reply", data=form)
    again = await client.post(f"/inbox/{lead.id}/reply", data=form)  # a double click
    assert (response.status_code, again.status_code) == (303, 303)
    [row] = await OutboxMessage.filter(lead_id=lead.id)
    assert row.body == "Bonjour, etes-vous libre jeudi ?" and row.encoding == "gsm7"
    assert row.author_id == agent.user.id and row.status == OutboxStatus.QUEUED


async def test_posting_a_reply_without_csrf_is_refused(client, make_caller, make_lead, sign_in):
    agent = await make_caller(Role.AGENT)
    lead = await make_lead(assigned_agent_id=agent.user.id)
    await sign_in(agent.user)
    response = await client.post(
        f"/inbox/{lead.id}/reply", data={"channel": "sms", "body": "Bonjour"}
    )
    assert response.status_code == 403
    assert await OutboxMessage.filter(lead_id=lead.id).count() == 0


async def test_refused_reply_is_explained_and_keeps_the_draft(
    client, make_caller, make_lead, sign_in
):
    agent = await make_caller(Role.AGENT)
    lead = await make_lead(assigned_agent_id=agent.user.id)
    await sign_in(agent.user)
    page = await client.get(f"/inbox/{lead.id}")
    draft = "Bonjour " + "a" * 1600
    response = await client.post(
        f"/inbox/{lead.id}/reply",
        data={"csrf_token": csrf_from(page.text), "channel": "sms", "body": draft},
    )
    assert response.status_code == 422
    assert "Trop long pour un SMS" in response.text and draft in response.text


async def test_assign_to_me_from_the_thread(client, make_caller, make_lead, sign_in):
    agent = await make_caller(Role.AGENT)
    lead = await make_lead(assigned_agent_id=agent.user.id)
    await receive(lead)
    await sign_in(agent.user)
    page = await client.get(f"/inbox/{lead.id}")
    response = await client.post(
        f"/inbox/{lead.id}/assign", data={"csrf_token": csrf_from(page.text), "to": "me"}
    )
    assert response.status_code == 303
    assert (await Conversation.get(lead_id=lead.id)).assigned_to_id == agent.user.id
    mine = await client.get("/inbox?mine=1")
    assert f'href="/inbox/{lead.id}"' in mine.text and "Attribuée à moi" in mine.text


async def test_segment_counter_fragment_counts_in_the_users_language(client, make_caller, sign_in):
    agent = await make_caller(Role.AGENT, ui_language="de")
    await sign_in(agent.user)
    page = await client.get("/inbox")
    response = await client.post(
        "/inbox/segments", data={"csrf_token": csrf_from(page.text), "body": "Schöne Grüße, ê"}
    )
    assert response.status_code == 200
    assert "1 SMS-Segment" in response.text and "Nicht im SMS-Alphabet: ê" in response.text
    assert "ê → e" in response.text


async def test_partner_user_gets_403_on_the_inbox(client, make_partner, sign_in):
    org = await make_partner()
    user = await auth.create_user(
        "lies@example.org", Role.PARTNER, password=PASSWORD, organisation_name=org.name
    )
    await sign_in(user)
    assert (await client.get("/inbox")).status_code == 403
