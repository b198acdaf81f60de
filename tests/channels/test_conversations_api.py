"""The messages and conversations API: staff replies through the outbox to the stand-ins, a
person's messages in and out, the inbox's threads, resends and the SMS segment counter."""

from __future__ import annotations

import uuid

import pytest

from channels import inbound
from channels.consent import set_channel_consent
from channels.models import Channel, Conversation, OutboxMessage, OutboxStatus
from crm.audit.models import AuditEntry
from crm.auth import service as auth
from crm.enums import Role

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

_sids = iter(range(1, 1_000_000))


async def receive(lead, body="Bonjour", channel=Channel.SMS):
    """A message from the person, stored as the webhooks store it."""
    address = lead.phone if channel == Channel.SMS else str(lead.telegram_chat_id)
    return await inbound.store(
        lead, channel, address=address, body=body, provider_id=f"SM{next(_sids):032x}"
    )


async def post_message(client, caller, lead_id, **payload):
    return await client.post(
        f"/api/v1/leads/{lead_id}/messages", headers=caller.headers, json=payload
    )


def fields_named(response) -> set[str]:
    return {error["field"] for error in response.json()["detail"]}


# ---- replying ---------------------------------------------------------------------------------


async def test_staff_reply_is_queued_then_sent_through_twilio(
    client, make_caller, make_lead, dispatcher, twilio_standin
):
    admin = await make_caller(Role.ADMIN)
    lead = await make_lead()
    response = await post_message(client, admin, lead.id, channel="sms", body="Bonjour Amina")
    assert response.status_code == 201, response.text
    queued = response.json()
    assert queued["status"] == "queued" and queued["direction"] == "out"
    assert queued["author_id"] == admin.user.id and queued["kind"] == "reply"
    await dispatcher.drain()
    [sent] = twilio_standin.messages()
    assert sent["to"] == lead.phone and sent["body"] == "Bonjour Amina"
    listed = (await client.get(f"/api/v1/leads/{lead.id}/messages", headers=admin.headers)).json()
    assert listed["items"][0]["id"] == queued["id"]
    assert listed["items"][0]["status"] == "sent" and listed["items"][0]["provider"] == "twilio"


async def test_reply_by_telegram_goes_through_the_bot(
    client, make_caller, make_lead, dispatcher, telegram_standin
):
    agent = await make_caller(Role.AGENT)
    lead = await make_lead(telegram_chat_id=880001, assigned_agent_id=agent.user.id)
    response = await post_message(client, agent, lead.id, channel="telegram", body="Hallo")
    assert response.status_code == 201, response.text
    await dispatcher.drain()
    assert [m["text"] for m in telegram_standin.messages()] == ["Hallo"]
    assert (await OutboxMessage.get(lead_id=lead.id)).status == OutboxStatus.SENT


async def test_default_channel_is_the_one_the_person_last_wrote_on(client, make_caller, make_lead):
    admin = await make_caller(Role.ADMIN)
    lead = await make_lead(telegram_chat_id=880002)
    await receive(lead, "Bonjour", Channel.SMS)
    response = await post_message(client, admin, lead.id, channel=None, body="Bonjour !")
    assert response.status_code == 201 and response.json()["channel"] == "sms"


async def test_default_channel_is_telegram_when_they_have_a_chat(client, make_caller, make_lead):
    admin = await make_caller(Role.ADMIN)
    with_chat = await make_lead(telegram_chat_id=880003)
    phone_only = await make_lead()
    assert (await post_message(client, admin, with_chat.id, body="Hi")).json()["channel"] == (
        "telegram"
    )
    assert (await post_message(client, admin, phone_only.id, body="Hi")).json()["channel"] == "sms"


async def test_same_client_id_twice_queues_one_message(client, make_caller, make_lead):
    admin = await make_caller(Role.ADMIN)
    lead = await make_lead()
    client_id = str(uuid.uuid4())
    first = await post_message(client, admin, lead.id, body="Bonjour", client_id=client_id)
    again = await post_message(client, admin, lead.id, body="Bonjour", client_id=client_id)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert await OutboxMessage.filter(lead_id=lead.id).count() == 1


async def test_empty_body_is_refused_naming_body(client, make_caller, make_lead):
    admin = await make_caller(Role.ADMIN)
    lead = await make_lead()
    response = await post_message(client, admin, lead.id, channel="sms", body="  ")
    assert response.status_code == 422 and fields_named(response) == {"body"}


async def test_sms_of_1601_characters_is_refused(client, make_caller, make_lead):
    admin = await make_caller(Role.ADMIN)
    lead = await make_lead()
    response = await post_message(client, admin, lead.id, channel="sms", body="a" * 1601)
    assert response.status_code == 422 and fields_named(response) == {"body"}
    assert "1600" in response.text
    assert await OutboxMessage.filter(lead_id=lead.id).count() == 0


async def test_sms_to_a_person_without_phone_is_refused_naming_channel(
    client, make_caller, make_lead
):
    admin = await make_caller(Role.ADMIN)
    lead = await make_lead(phone=None, telegram_chat_id=880004)
    response = await post_message(client, admin, lead.id, channel="sms", body="Bonjour")
    assert response.status_code == 422 and fields_named(response) == {"channel"}


async def test_reply_to_an_opted_out_channel_is_refused_at_once(client, make_caller, make_lead):
    admin = await make_caller(Role.ADMIN)
    lead = await make_lead()
    await set_channel_consent(lead, Channel.SMS, granted=False, method="keyword")
    response = await post_message(client, admin, lead.id, channel="sms", body="Bonjour")
    assert response.status_code == 409 and fields_named(response) == {"channel"}
    assert "opted out of sms" in response.text
    assert await OutboxMessage.filter(lead_id=lead.id).count() == 0


async def test_partner_key_never_sees_or_sends_messages(client, make_caller, make_lead):
    partner = await make_caller(Role.PARTNER)
    lead = await make_lead()
    listed = await client.get(f"/api/v1/leads/{lead.id}/messages", headers=partner.headers)
    sent = await post_message(client, partner, lead.id, body="Bonjour")
    assert (listed.status_code, sent.status_code) == (403, 403)


async def test_agent_cannot_reach_a_person_they_cannot_see(client, make_caller, make_lead):
    agent = await make_caller(Role.AGENT)
    lead = await make_lead()  # reached by nobody, assigned to nobody
    listed = await client.get(f"/api/v1/leads/{lead.id}/messages", headers=agent.headers)
    sent = await post_message(client, agent, lead.id, body="Bonjour")
    assert (listed.status_code, sent.status_code) == (404, 404)


# ---- reading ----------------------------------------------------------------------------------


async def test_messages_list_shows_in_and_out_newest_first(client, make_caller, make_lead):
    admin = await make_caller(Role.ADMIN)
    lead = await make_lead()
    first = (await post_message(client, admin, lead.id, channel="sms", body="Bonjour")).json()
    answer = await receive(lead, "Oui, merci")
    last = (await post_message(client, admin, lead.id, channel="sms", body="À demain")).json()
    response = await client.get(f"/api/v1/leads/{lead.id}/messages", headers=admin.headers)
    page = response.json()
    assert page["total"] == 3
    assert [m["id"] for m in page["items"]] == [last["id"], f"in-{answer.id}", first["id"]]
    received = page["items"][1]
    assert received["direction"] == "in" and received["status"] == "received"
    assert received["body"] == "Oui, merci" and received["channel"] == "sms"
    for message in page["items"]:
        for name in (
            "id",
            "direction",
            "channel",
            "body",
            "status",
            "provider_id",
            "campaign_id",
            "created_at",
            "provider",
            "error_code",
            "segments",
        ):
            assert name in message, name
    paged = await client.get(
        f"/api/v1/leads/{lead.id}/messages?limit=1&offset=1", headers=admin.headers
    )
    assert [m["id"] for m in paged.json()["items"]] == [f"in-{answer.id}"]


async def test_timeline_contains_messages_in_and_out(client, make_caller, make_lead):
    admin = await make_caller(Role.ADMIN)
    lead = await make_lead()
    await post_message(client, admin, lead.id, channel="sms", body="Bonjour")
    await receive(lead, "Merci")
    response = await client.get(f"/api/v1/leads/{lead.id}/timeline", headers=admin.headers)
    items = {item["type"]: item for item in response.json()["items"]}
    assert items["message_out"]["data"]["body"] == "Bonjour"
    assert items["message_out"]["data"]["status"] == "queued"
    received = items["message_in"]["data"]
    assert (received["direction"], received["status"], received["body"]) == (
        "in",
        "received",
        "Merci",
    )


async def test_conversations_filter_unread_and_assigned(client, make_caller, make_lead):
    admin = await make_caller(Role.ADMIN)
    waiting, answered = await make_lead(first_name="Amina"), await make_lead(first_name="Jan")
    await receive(waiting, "Bonjour ?")
    await post_message(client, admin, answered.id, channel="sms", body="Bonjour")
    await Conversation.filter(lead_id=answered.id).update(assigned_to_id=admin.user.id)

    async def names(query: str) -> list[str]:
        response = await client.get(f"/api/v1/conversations{query}", headers=admin.headers)
        assert response.status_code == 200, response.text
        return [c["name"] for c in response.json()["items"]]

    assert await names("") == ["Jan", "Amina"]  # newest first
    assert await names("?unread=true") == ["Amina"]
    assert await names("?assigned_to=me") == ["Jan"]
    assert await names(f"?assigned_to={admin.user.id}") == ["Jan"]
    assert await names("?assigned_to=none") == ["Amina"]
    bad = await client.get("/api/v1/conversations?assigned_to=her", headers=admin.headers)
    assert bad.status_code == 422 and fields_named(bad) == {"assigned_to"}


async def test_agent_sees_only_conversations_of_their_people(client, make_caller, make_lead):
    agent = await make_caller(Role.AGENT)
    mine = await make_lead(first_name="Amina", assigned_agent_id=agent.user.id)
    await receive(mine)
    await receive(await make_lead(first_name="Karim"))
    response = await client.get("/api/v1/conversations", headers=agent.headers)
    assert [c["lead_id"] for c in response.json()["items"]] == [mine.id]


async def test_read_resets_unread(client, make_caller, make_lead):
    admin = await make_caller(Role.ADMIN)
    lead = await make_lead()
    await receive(lead, "Un")
    await receive(lead, "Deux")
    assert (await Conversation.get(lead_id=lead.id)).unread == 2
    response = await client.post(f"/api/v1/conversations/{lead.id}/read", headers=admin.headers)
    assert response.status_code == 200 and response.json()["unread"] == 0
    assert (await Conversation.get(lead_id=lead.id)).unread == 0


async def test_assign_to_a_staff_member_is_audited(client, make_caller, make_lead):
    coordinator = await make_caller(Role.COORDINATOR)
    agent = await make_caller(Role.AGENT)
    lead = await make_lead(assigned_agent_id=agent.user.id)
    await receive(lead)
    response = await client.post(
        f"/api/v1/conversations/{lead.id}/assign",
        headers=coordinator.headers,
        json={"user_id": agent.user.id},
    )
    assert response.status_code == 200 and response.json()["assigned_to_id"] == agent.user.id
    entry = await AuditEntry.get(action="conversation.assign")
    assert entry.lead_id == lead.id and entry.actor_user_id == coordinator.user.id


async def test_assign_to_a_non_staff_user_is_refused(client, make_caller, make_lead, make_partner):
    admin = await make_caller(Role.ADMIN)
    org = await make_partner()
    partner_user = await auth.create_user(
        "lies@example.org",
        Role.PARTNER,
        password="correct horse battery",
        organisation_name=org.name,
    )
    lead = await make_lead()
    await receive(lead)
    response = await client.post(
        f"/api/v1/conversations/{lead.id}/assign",
        headers=admin.headers,
        json={"user_id": partner_user.id},
    )
    assert response.status_code == 422 and fields_named(response) == {"user_id"}
    assert (await Conversation.get(lead_id=lead.id)).assigned_to_id is None


# ---- resending --------------------------------------------------------------------------------


async def _sent_row(client, caller, lead, status: OutboxStatus) -> str:
    message = (await post_message(client, caller, lead.id, channel="sms", body="Bonjour")).json()
    row_id = int(message["id"].removeprefix("out-"))
    await OutboxMessage.filter(id=row_id).update(status=status, provider="twilio")
    return message["id"]


async def test_resend_of_an_unknown_message_creates_one_new_message(client, make_caller, make_lead):
    agent = await make_caller(Role.AGENT)
    lead = await make_lead(assigned_agent_id=agent.user.id)
    unknown = await _sent_row(client, agent, lead, OutboxStatus.UNKNOWN)
    first = await client.post(f"/api/v1/messages/{unknown}/resend", headers=agent.headers)
    again = await client.post(f"/api/v1/messages/{unknown}/resend", headers=agent.headers)
    assert (first.status_code, again.status_code) == (201, 200), first.text
    assert first.json()["id"] == again.json()["id"] != unknown
    assert first.json()["status"] == "queued" and first.json()["body"] == "Bonjour"
    assert await OutboxMessage.filter(lead_id=lead.id).count() == 2


async def test_resend_of_a_sent_message_is_refused(client, make_caller, make_lead):
    admin = await make_caller(Role.ADMIN)
    lead = await make_lead()
    sent = await _sent_row(client, admin, lead, OutboxStatus.SENT)
    response = await client.post(f"/api/v1/messages/{sent}/resend", headers=admin.headers)
    assert response.status_code == 409 and "sent" in response.text
    assert await OutboxMessage.filter(lead_id=lead.id).count() == 1


# ---- segments ---------------------------------------------------------------------------------


async def test_segments_say_gsm_for_e_acute_and_ucs2_with_lookalike_for_e_circumflex(
    client, make_caller
):
    marketing = await make_caller(Role.MARKETING)

    async def count(body: str) -> dict:
        response = await client.post(
            "/api/v1/sms/segments", headers=marketing.headers, json={"body": body}
        )
        assert response.status_code == 200, response.text
        return response.json()

    acute = await count("Café é" + "a" * 154)  # 160 characters, all GSM
    assert (acute["encoding"], acute["segments"], acute["lookalike"]) == ("gsm7", 1, None)
    circumflex = await count("Fête ê" + "a" * 154)
    assert (circumflex["encoding"], circumflex["segments"]) == ("ucs2", 3)
    assert circumflex["non_gsm"] == ["ê"] and circumflex["replacements"] == {"ê": "e"}
    lookalike = circumflex["lookalike"]
    assert lookalike["body"].startswith("Fete e") and lookalike["encoding"] == "gsm7"
    assert lookalike["segments"] == 1
