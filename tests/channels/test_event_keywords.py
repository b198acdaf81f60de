"""An SMS that starts with an outreach event's keyword ("text MARCHE12 to receive our news by
SMS", says the stand page) attributes the person to the event, records their SMS consent and is
welcomed once; driven through the signed Twilio webhook like Twilio does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from channels.consent import channel_consent, set_channel_consent
from channels.inbound import EVENT_WELCOME_PREFIX
from channels.models import Channel, InboundMessage, MessageKind, OutboxMessage
from channels.texts import text
from crm.audit.models import AuditEntry
from crm.config import reload_settings, settings
from crm.outreach.models import EventKind, OutreachEvent
from crm.people.models import ConsentRecord, ConsentSource, Lead, LeadSource, Stage
from tests.channels.conftest import post_twilio, sms_form

SMS = "/webhooks/twilio/sms"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(autouse=True)
def office_open(providers) -> Iterator[None]:
    """Office hours all day every day: no after-hours acknowledgement gets in the way."""
    saved = settings.model_dump()
    reload_settings(**{**saved, "OFFICE_DAYS": "1-7", "OFFICE_HOURS": "00:00-23:59"})
    yield
    reload_settings(**saved)


def sid(n: int) -> str:
    return f"SM{n:032x}"


async def sms(client, n: int, from_: str, body: str):
    response = await post_twilio(client, SMS, sms_form(sid(n), from_, body))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    return response


async def make_event(keyword: str = "MARCHE12", language: str | None = "nl", **fields):
    fields.setdefault("title", "Marché du Midi")
    return await OutreachEvent.create(
        kind=EventKind.MARKET_STAND,
        starts_at=datetime(2026, 11, 29, 8, tzinfo=UTC),
        keyword=keyword,
        language=language,
        **fields,
    )


async def sms_consents(lead: Lead) -> list[ConsentRecord]:
    return await ConsentRecord.filter(lead_id=lead.id, purpose="sms").order_by("id")


async def welcomes(lead: Lead) -> list[OutboxMessage]:
    return await OutboxMessage.filter(
        lead_id=lead.id, idempotency_key__startswith=EVENT_WELCOME_PREFIX
    ).order_by("id")


async def test_a_new_number_texting_the_keyword_becomes_a_lead_of_the_event(client):
    event = await make_event(language="nl")
    await sms(client, 1, "0470 12 34 56", "MARCHE12")
    [lead] = await Lead.all()
    assert (lead.phone, lead.event_id, lead.source) == ("+32470123456", event.id, LeadSource.SMS)
    assert lead.stage == Stage.LEAD
    [consent] = await sms_consents(lead)
    assert consent.granted and consent.method == "event_keyword"
    assert consent.source == ConsentSource.SMS
    [message] = await InboundMessage.all()
    assert message.body == "MARCHE12"
    [welcome] = await welcomes(lead)
    # Nobody knew their language: the event's (the stand spoke Dutch to them).
    assert welcome.body == text("event_welcome", "nl")
    assert welcome.channel == Channel.SMS and welcome.kind == MessageKind.AUTO
    assert welcome.idempotency_key == f"{EVENT_WELCOME_PREFIX}{message.id}"


async def test_the_keyword_is_found_whatever_the_case_accents_and_punctuation(client):
    event = await make_event()
    for n, body in enumerate(["marché12", " #Marche12 !", "Marche12, bonjour je suis Amina"]):
        await sms(client, n, f"+3247000000{n}", body)
    assert await Lead.filter(event_id=event.id).count() == 3
    assert await ConsentRecord.filter(purpose="sms", granted=True).count() == 3


async def test_a_known_person_without_an_event_gets_it_filled_and_audited(client, make_lead):
    lead = await make_lead(phone="+32470123456", language="fr", source=LeadSource.WALK_IN)
    event = await make_event(language="nl")
    await sms(client, 1, lead.phone, "MARCHE12")
    await lead.refresh_from_db()
    assert (lead.event_id, lead.source) == (event.id, LeadSource.WALK_IN)
    [entry] = await AuditEntry.filter(action="lead.attribution", lead_id=lead.id)
    assert entry.changes == {"event_id": event.id}
    # We know they read French: they are welcomed in French, not in the event's Dutch.
    [welcome] = await welcomes(lead)
    assert welcome.body == text("event_welcome", "fr")
    assert [c.granted for c in await sms_consents(lead)] == [True]


async def test_a_known_person_keeps_the_event_they_came_with(client, make_lead):
    first = await make_event(keyword="GARE", title="Gare")
    lead = await make_lead(event_id=first.id)
    await make_event(keyword="MARCHE12")
    await sms(client, 1, lead.phone, "MARCHE12")
    await lead.refresh_from_db()
    assert lead.event_id == first.id
    assert not await AuditEntry.filter(action="lead.attribution").exists()
    assert len(await welcomes(lead)) == 1


async def test_the_same_message_sid_twice_is_handled_once(client):
    await make_event()
    for _ in range(2):
        await sms(client, 1, "+32470123456", "MARCHE12")
    [lead] = await Lead.all()
    assert await InboundMessage.all().count() == 1
    assert len(await sms_consents(lead)) == 1
    assert len(await welcomes(lead)) == 1


async def test_each_new_keyword_message_is_welcomed_but_consent_is_recorded_once(client):
    await make_event()
    await sms(client, 1, "+32470123456", "MARCHE12")
    await sms(client, 2, "+32470123456", "marche12")
    [lead] = await Lead.all()
    assert len(await welcomes(lead)) == 2
    assert len(await sms_consents(lead)) == 1


async def test_a_person_who_had_opted_out_opts_in_again_with_the_keyword(client, make_lead):
    lead = await make_lead()
    await set_channel_consent(lead, Channel.SMS, granted=False, method="keyword")
    await make_event()
    await sms(client, 1, lead.phone, "MARCHE12")
    assert (await channel_consent([lead.id], Channel.SMS))[lead.id] is True
    assert (await sms_consents(lead))[-1].method == "event_keyword"


async def test_an_opt_out_word_in_the_message_wins_over_the_keyword(client, make_lead):
    lead = await make_lead()
    await set_channel_consent(lead, Channel.SMS, granted=True, method="verbal")
    await make_event()
    await sms(client, 1, lead.phone, "MARCHE12 STOP")
    await lead.refresh_from_db()
    assert lead.event_id is None
    assert [c.method for c in await sms_consents(lead)] == ["verbal"]
    assert await welcomes(lead) == []
    # STOP alone still opts out, and is confirmed as before.
    await sms(client, 2, lead.phone, "Stop")
    assert (await channel_consent([lead.id], Channel.SMS))[lead.id] is False
    assert await welcomes(lead) == []


async def test_other_messages_attribute_nothing(client):
    await make_event()
    for n, body in enumerate(["Bonjour", "MARCHE123", "Je viens du MARCHE12", "", "12"]):
        await sms(client, n, f"+3247000000{n}", body)
    assert await Lead.filter(event_id__isnull=False).count() == 0
    assert await ConsentRecord.all().count() == 0
    assert await OutboxMessage.all().count() == 0


async def test_the_welcome_is_sent_through_twilio(client, dispatcher, twilio_standin):
    await make_event(language="de")
    await sms(client, 1, "+32470123456", "MARCHE12")
    await dispatcher.drain()
    [sent] = twilio_standin.messages()
    assert sent["to"] == "+32470123456"
    assert sent["body"] == text("event_welcome", "de")
