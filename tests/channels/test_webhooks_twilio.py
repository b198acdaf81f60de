"""The Twilio webhooks (CONTRACT §3), signed with twilio's own RequestValidator, against the real
app and the Twilio stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from channels import outbox
from channels.consent import channel_consent, set_channel_consent
from channels.models import (
    Channel,
    Conversation,
    InboundMessage,
    MessageKind,
    OutboxMessage,
    OutboxStatus,
)
from channels.texts import channel_word, text
from crm.config import reload_settings, settings
from crm.people.models import Lead, LeadSource, Stage
from tests.channels.conftest import post_twilio, sms_form, twilio_signature

SMS = "/webhooks/twilio/sms"
STATUS = "/webhooks/twilio/status"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _office(*, open_now: bool) -> None:
    """Office hours every day, in a window around now (open) or after now (closed), on top of
    the stand-in settings the `providers` fixture loaded."""
    now = datetime.now(settings.tz)
    start, end = (now - timedelta(hours=2), now + timedelta(hours=2))
    if not open_now:
        start, end = now + timedelta(hours=2), now + timedelta(hours=4)
    current = settings.model_dump()
    current.update(OFFICE_DAYS="1-7", OFFICE_HOURS=f"{start:%H:%M}-{end:%H:%M}")
    reload_settings(**current)


@pytest.fixture(autouse=True)
def office_open(providers) -> Iterator[None]:
    """Every test runs during office hours unless it says otherwise (no stray
    acknowledgements); the stand-in settings are restored afterwards."""
    saved = settings.model_dump()
    _office(open_now=True)
    yield
    reload_settings(**saved)


async def sms(client, sid: str, from_: str, body: str = "Bonjour"):
    return await post_twilio(client, SMS, sms_form(sid, from_, body))


def sid(n: int) -> str:
    return f"SM{n:032x}"


async def queued(lead: Lead) -> list[OutboxMessage]:
    return await OutboxMessage.filter(lead_id=lead.id).order_by("id")


async def sent_message(lead: Lead, dispatcher, **extra) -> OutboxMessage:
    row, _ = await outbox.enqueue(
        lead, Channel.SMS, "Bonjour", kind=MessageKind.REPLY, idempotency_key="t", **extra
    )
    await dispatcher.drain()
    await row.refresh_from_db()
    assert row.status == OutboxStatus.SENT
    return row


async def status(client, twilio_standin, row: OutboxMessage, reported: str, error_code=None):
    url, form = twilio_standin.status_callback_form(row.provider_id, reported, error_code)
    assert url == settings.PUBLIC_BASE_URL + STATUS
    return await post_twilio(client, STATUS, form)


# ---- inbound SMS ------------------------------------------------------------------------------


async def test_unknown_number_creates_a_lead_a_message_and_an_unread_conversation(client):
    response = await sms(client, sid(1), "0470 12 34 56", "Bonjour, je voudrais des infos")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text == EMPTY_TWIML
    [lead] = await Lead.all()
    assert (lead.phone, lead.source, lead.stage) == ("+32470123456", LeadSource.SMS, Stage.LEAD)
    [message] = await InboundMessage.all()
    assert message.lead_id == lead.id and message.provider_id == sid(1)
    assert message.channel == Channel.SMS and message.address == "+32470123456"
    assert message.body == "Bonjour, je voudrais des infos"
    conversation = await Conversation.get(lead_id=lead.id)
    assert conversation.unread == 1 and conversation.last_channel == Channel.SMS


async def test_known_number_attaches_to_that_lead(client, make_lead):
    lead = await make_lead()
    assert (await sms(client, sid(1), lead.phone)).status_code == 200
    assert await Lead.all().count() == 1
    [message] = await InboundMessage.all()
    assert message.lead_id == lead.id


async def test_same_message_sid_twice_is_stored_once(client, make_lead):
    lead = await make_lead()
    for _ in range(2):
        assert (await sms(client, sid(1), lead.phone)).text == EMPTY_TWIML
    assert await InboundMessage.all().count() == 1
    assert (await Conversation.get(lead_id=lead.id)).unread == 1


async def test_forged_signature_is_refused_and_nothing_stored(client):
    form = sms_form(sid(1), "+32470123456", "Bonjour")
    response = await post_twilio(client, SMS, form, signature="bm90IGEgc2lnbmF0dXJl")
    assert response.status_code == 403 and "detail" in response.json()
    assert await Lead.all().count() == 0 and await InboundMessage.all().count() == 0


async def test_signature_for_another_url_is_refused(client):
    form = sms_form(sid(1), "+32470123456", "Bonjour")
    response = await post_twilio(client, SMS, form, signature=twilio_signature(STATUS, form))
    assert response.status_code == 403
    assert await InboundMessage.all().count() == 0


async def test_signature_over_other_fields_is_refused(client):
    form = sms_form(sid(1), "+32470123456", "Bonjour")
    signature = twilio_signature(SMS, form)
    response = await post_twilio(client, SMS, {**form, "Body": "STOP"}, signature=signature)
    assert response.status_code == 403


async def test_missing_signature_is_refused(client):
    response = await client.post(SMS, data=sms_form(sid(1), "+32470123456", "Bonjour"))
    assert response.status_code == 403 and "detail" in response.json()
    assert await InboundMessage.all().count() == 0


async def test_unconfigured_twilio_refuses_every_webhook(client):
    form = sms_form(sid(1), "+32470123456", "Bonjour")
    signature = twilio_signature(SMS, form)
    reload_settings(**{**settings.model_dump(), "TWILIO_AUTH_TOKEN": None})
    response = await post_twilio(client, SMS, form, signature=signature)
    assert response.status_code == 403 and "not configured" in response.json()["detail"]


async def test_signature_covers_the_query_string(client):
    form = sms_form(sid(1), "+32470123456", "Bonjour")
    path = SMS + "?tenant=brussels"
    assert (await post_twilio(client, path, form)).status_code == 200
    signature = twilio_signature(SMS, form)  # signed without the query
    assert (await post_twilio(client, path, form, signature=signature)).status_code == 403
    assert await InboundMessage.all().count() == 1


@pytest.mark.parametrize("missing", ["MessageSid", "From"])
async def test_missing_sid_or_sender_is_answered_200_and_nothing_stored(client, missing):
    form = sms_form(sid(1), "+32470123456", "Bonjour")
    del form[missing]
    response = await post_twilio(client, SMS, form)
    assert response.status_code == 200 and response.text == EMPTY_TWIML
    assert await Lead.all().count() == 0 and await InboundMessage.all().count() == 0


async def test_sender_that_is_not_a_phone_number_is_answered_200(client):
    response = await sms(client, sid(1), "PASSERELLE")
    assert response.status_code == 200 and response.text == EMPTY_TWIML
    assert await Lead.all().count() == 0


async def test_emoji_and_1600_characters_are_stored_intact(client, make_lead):
    lead = await make_lead()
    emoji = "Merci 🙏🏽 à bientôt 👩‍👧 ✨"
    long = ("Je m'appelle Zoë et j'ai un projet de boulangerie à Liège. " * 30)[:1600]
    await sms(client, sid(1), lead.phone, emoji)
    await sms(client, sid(2), lead.phone, long)
    bodies = [m.body for m in await InboundMessage.all().order_by("id")]
    assert bodies == [emoji, long] and len(long) == 1600


async def test_media_only_message_is_stored_with_an_empty_body(client, make_lead):
    lead = await make_lead()
    form = {**sms_form(sid(1), lead.phone, ""), "NumMedia": "1", "MediaUrl0": "https://x/1.jpg"}
    assert (await post_twilio(client, SMS, form)).status_code == 200
    [message] = await InboundMessage.all()
    assert message.body == "" and message.kind == "media"


async def test_foreign_number_works(client):
    assert (await sms(client, sid(1), "+33 6 12 34 56 78")).status_code == 200
    [lead] = await Lead.all()
    assert lead.phone == "+33612345678"


async def test_reply_is_attributed_to_the_last_message_sent(client, make_lead, dispatcher):
    lead = await make_lead()
    await set_channel_consent(lead, Channel.SMS, granted=True, method="test")
    row, _ = await outbox.enqueue(
        lead, Channel.SMS, "Atelier mardi !", kind=MessageKind.CAMPAIGN,
        idempotency_key="campaign:42", campaign_id=42,
    )  # fmt: skip
    await dispatcher.drain()
    await sms(client, sid(1), lead.phone, "Oui, je viens")
    [message] = await InboundMessage.all()
    assert message.reply_to_id == row.id and message.campaign_id == 42


# ---- opt-out and opt-in keywords --------------------------------------------------------------


async def test_stop_withdraws_sms_consent_and_is_confirmed_once(client, make_lead):
    lead = await make_lead(language="fr")
    await sms(client, sid(1), lead.phone, "STOP")
    await sms(client, sid(2), lead.phone, "STOP")
    assert await channel_consent([lead.id], Channel.SMS) == {lead.id: False}
    [confirmation] = await queued(lead)
    assert confirmation.body == text("opt_out_confirmed", "fr", channel="SMS")
    assert confirmation.kind == MessageKind.AUTO and confirmation.address == lead.phone


async def test_stop_is_confirmed_in_dutch_to_a_dutch_lead(client, make_lead):
    lead = await make_lead(language="nl")
    await sms(client, sid(1), lead.phone, "stop")
    [confirmation] = await queued(lead)
    assert confirmation.body == text("opt_out_confirmed", "nl", channel=channel_word("sms", "nl"))


async def test_stoppen_from_an_unknown_number_answers_in_dutch(client):
    await sms(client, sid(1), "+32470998877", "Stoppen")
    [lead] = await Lead.all()
    assert lead.language == "nl"
    assert await channel_consent([lead.id], Channel.SMS) == {lead.id: False}
    [confirmation] = await queued(lead)
    assert confirmation.body.startswith("Genoteerd")


@pytest.mark.parametrize("word", ["ARRÊTER", "arreter", "Stop.", " stop "])
async def test_opt_out_words_ignore_case_accents_and_punctuation(client, make_lead, word):
    lead = await make_lead()
    await sms(client, sid(1), lead.phone, word)
    assert await channel_consent([lead.id], Channel.SMS) == {lead.id: False}
    assert len(await queued(lead)) == 1


async def test_stop_inside_a_sentence_is_not_an_opt_out(client, make_lead):
    lead = await make_lead()
    await sms(client, sid(1), lead.phone, "stop please")
    assert await channel_consent([lead.id], Channel.SMS) == {}
    assert await queued(lead) == []


async def test_start_after_stop_grants_again_with_one_confirmation(client, make_lead):
    lead = await make_lead(language="fr")
    await sms(client, sid(1), lead.phone, "STOP")
    await sms(client, sid(2), lead.phone, "START")
    await sms(client, sid(3), lead.phone, "START")
    assert await channel_consent([lead.id], Channel.SMS) == {lead.id: True}
    bodies = [row.body for row in await queued(lead)]
    assert bodies == [
        text("opt_out_confirmed", "fr", channel="SMS"),
        text("opt_in_confirmed", "fr"),
    ]


async def test_stop_confirmation_reaches_twilio(client, make_lead, dispatcher, twilio_standin):
    lead = await make_lead(language="fr")
    await sms(client, sid(1), lead.phone, "STOP")
    await dispatcher.drain()
    [sent] = twilio_standin.messages()
    assert sent["to"] == lead.phone
    assert sent["body"] == text("opt_out_confirmed", "fr", channel="SMS")
    [row] = await queued(lead)
    assert row.status == OutboxStatus.SENT and row.provider_id == sent["sid"]


# ---- office hours -----------------------------------------------------------------------------


async def test_after_hours_message_is_acknowledged_once_per_night(client, make_lead):
    _office(open_now=False)
    lead = await make_lead(language="fr")
    await sms(client, sid(1), lead.phone, "Bonsoir")
    await sms(client, sid(2), lead.phone, "Vous êtes là ?")
    [ack] = await queued(lead)
    assert ack.kind == MessageKind.AUTO and ack.body.startswith("Merci pour votre message")
    assert await InboundMessage.filter(lead_id=lead.id).count() == 2


async def test_message_during_office_hours_is_not_acknowledged(client, make_lead):
    lead = await make_lead()
    await sms(client, sid(1), lead.phone, "Bonjour")
    assert await queued(lead) == []


# ---- status callbacks -------------------------------------------------------------------------


async def test_delivered_after_sent_moves_forward_and_a_late_sent_does_not_undo_it(
    client, make_lead, dispatcher, twilio_standin
):
    row = await sent_message(await make_lead(), dispatcher)
    response = await status(client, twilio_standin, row, "delivered")
    assert response.status_code in (200, 204) and response.content == b""
    await row.refresh_from_db()
    assert row.status == OutboxStatus.DELIVERED
    assert (await status(client, twilio_standin, row, "sent")).status_code in (200, 204)
    await row.refresh_from_db()
    assert row.status == OutboxStatus.DELIVERED


async def test_intermediate_statuses_change_nothing(client, make_lead, dispatcher, twilio_standin):
    row = await sent_message(await make_lead(), dispatcher)
    for reported in ("queued", "sending", "accepted"):
        assert (await status(client, twilio_standin, row, reported)).status_code in (200, 204)
    await row.refresh_from_db()
    assert row.status == OutboxStatus.SENT


async def test_undelivered_keeps_the_error_code(client, make_lead, dispatcher, twilio_standin):
    row = await sent_message(await make_lead(), dispatcher)
    await status(client, twilio_standin, row, "undelivered", 30003)
    await row.refresh_from_db()
    assert row.status == OutboxStatus.UNDELIVERED and row.error_code == "30003"


async def test_status_for_an_unknown_message_changes_nothing(
    client, make_lead, dispatcher, twilio_standin
):
    row = await sent_message(await make_lead(), dispatcher)
    _url, form = twilio_standin.status_callback_form(row.provider_id, "delivered")
    form = {**form, "MessageSid": sid(999), "SmsSid": sid(999)}
    assert (await post_twilio(client, STATUS, form)).status_code in (200, 204)
    await row.refresh_from_db()
    assert row.status == OutboxStatus.SENT


async def test_failed_with_21610_records_the_sms_opt_out(
    client, make_lead, dispatcher, twilio_standin
):
    lead = await make_lead()
    row = await sent_message(lead, dispatcher)
    await status(client, twilio_standin, row, "failed", 21610)
    await row.refresh_from_db()
    assert row.status == OutboxStatus.FAILED and row.error_code == "21610"
    assert await channel_consent([lead.id], Channel.SMS) == {lead.id: False}


async def test_failed_with_another_code_keeps_consent(
    client, make_lead, dispatcher, twilio_standin
):
    lead = await make_lead()
    row = await sent_message(lead, dispatcher)
    await status(client, twilio_standin, row, "failed", 30004)
    assert await channel_consent([lead.id], Channel.SMS) == {}


async def test_forged_status_callback_is_refused(client, make_lead, dispatcher, twilio_standin):
    row = await sent_message(await make_lead(), dispatcher)
    _url, form = twilio_standin.status_callback_form(row.provider_id, "delivered")
    response = await post_twilio(client, STATUS, form, signature=twilio_signature(SMS, form))
    assert response.status_code == 403
    await row.refresh_from_db()
    assert row.status == OutboxStatus.SENT
