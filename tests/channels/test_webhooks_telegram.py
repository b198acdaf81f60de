"""The Telegram webhook against the real app and the Bot API stand-in: secret, idempotency,
deep links, language buttons, shared contacts and opt-out/opt-in."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from channels import outbox
from channels.consent import channel_consent
from channels.models import (
    Channel,
    Conversation,
    InboundMessage,
    MessageKind,
    OutboxMessage,
    OutboxStatus,
    TelegramUpdate,
)
from channels.telegram_cli import set_webhook
from crm.audit.models import AuditEntry
from crm.config import settings
from crm.outreach.models import (
    EventKind,
    Interaction,
    InteractionChannel,
    InteractionKind,
    OutreachEvent,
)
from crm.people.models import ConsentPurpose, ConsentRecord, Lead, LeadSource, Stage
from tests.channels.conftest import TELEGRAM_SECRET, post_telegram
from tests.standins.updates import callback_update, contact_update, message_update

CHAT = 555001


async def make_event(language: str = "nl") -> OutreachEvent:
    return await OutreachEvent.create(
        kind=EventKind.MARKET_STAND,
        title="Marché du Midi",
        starts_at=datetime.now(UTC),
        language=language,
    )


async def sent_out(lead_id: int | None = None) -> list[OutboxMessage]:
    rows = OutboxMessage.all() if lead_id is None else OutboxMessage.filter(lead_id=lead_id)
    return await rows.order_by("id")


async def post_ok(client, update: dict) -> None:
    response = await post_telegram(client, update)
    assert response.status_code == 200, response.text


# ---- the door -------------------------------------------------------------------------------


async def test_wrong_secret_is_refused(client):
    response = await post_telegram(client, message_update(1, CHAT, "/start"), secret="wrong")
    assert response.status_code == 401
    assert await TelegramUpdate.all().count() == 0


async def test_missing_secret_is_refused(client):
    response = await post_telegram(client, message_update(1, CHAT, "/start"), secret=None)
    assert response.status_code == 401
    assert await InboundMessage.all().count() == 0


async def test_unset_secret_refuses_everything(client, monkeypatch):
    monkeypatch.setattr(settings, "TELEGRAM_WEBHOOK_SECRET", None)
    response = await post_telegram(client, message_update(1, CHAT, "/start"))
    assert response.status_code == 401


async def test_malformed_json_is_acknowledged_and_ignored(client):
    response = await client.post(
        "/webhooks/telegram",
        content=b'{"update_id": 1, "message": ',
        headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET},
    )
    assert response.status_code == 200
    assert await TelegramUpdate.all().count() == 0
    assert await InboundMessage.all().count() == 0


async def test_body_that_is_not_an_update_is_acknowledged(client):
    update = {"update_id": 7, "message": {"message_id": "not a number"}}
    await post_ok(client, update)
    assert await TelegramUpdate.all().count() == 0 and await Lead.all().count() == 0


async def test_same_update_twice_is_handled_once(client):
    update = message_update(10, CHAT, "/start")
    await post_ok(client, update)
    await post_ok(client, update)
    assert await InboundMessage.all().count() == 1
    assert len(await sent_out()) == 1


async def test_concurrent_deliveries_of_one_update_are_handled_once(client):
    update = message_update(15, CHAT, "/start")
    responses = await asyncio.gather(*(post_telegram(client, update) for _ in range(3)))
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert await InboundMessage.all().count() == 1 and len(await sent_out()) == 1


async def test_failed_update_is_rolled_back_and_handled_on_redelivery(client, monkeypatch):
    real_enqueue = outbox.enqueue

    async def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(outbox, "enqueue", broken)
    update = message_update(11, CHAT, "/start")
    assert (await post_telegram(client, update)).status_code == 500
    assert await TelegramUpdate.all().count() == 0 and await Lead.all().count() == 0
    monkeypatch.setattr(outbox, "enqueue", real_enqueue)
    await post_ok(client, update)
    assert await InboundMessage.all().count() == 1 and len(await sent_out()) == 1


async def test_group_messages_and_edits_are_ignored(client):
    group = message_update(12, CHAT, "hello")
    group["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "Quartier"}
    await post_ok(client, group)
    edited = message_update(13, CHAT, "hello again")
    edited["edited_message"] = edited.pop("message")
    await post_ok(client, edited)
    assert await Lead.all().count() == 0


async def test_photo_is_stored_as_a_placeholder(client):
    update = message_update(14, CHAT, "x")
    del update["message"]["text"]
    update["message"]["photo"] = [
        {"file_id": "AgAD", "file_unique_id": "u1", "width": 90, "height": 90}
    ]
    update["message"]["caption"] = "mon stand"
    await post_ok(client, update)
    [message] = await InboundMessage.all()
    assert message.body == "[photo] mon stand"


# ---- /start and deep links ------------------------------------------------------------------


async def test_start_with_event_greets_in_the_events_language(client, dispatcher, telegram_standin):
    event = await make_event("nl")
    await post_ok(client, message_update(20, CHAT, f"/start ev_{event.id}", first_name="Awa"))
    lead = await Lead.get(telegram_chat_id=CHAT)
    assert lead.source == LeadSource.TELEGRAM and lead.event_id == event.id
    assert (await channel_consent([lead.id], Channel.TELEGRAM)) == {lead.id: True}
    [greeting] = await sent_out(lead.id)
    assert greeting.kind == MessageKind.AUTO and greeting.language == "nl"
    assert greeting.body.startswith("Hallo Awa!")
    buttons = greeting.reply_markup["inline_keyboard"][0]
    assert [b["callback_data"] for b in buttons] == ["lang:fr", "lang:nl", "lang:de"]
    await dispatcher.drain()
    [received] = telegram_standin.messages()
    assert received["chat_id"] == CHAT and received["text"] == greeting.body
    assert received["reply_markup"] == greeting.reply_markup


async def test_start_with_unknown_event_still_greets(client):
    await post_ok(client, message_update(21, CHAT, "/start ev_999"))
    lead = await Lead.get(telegram_chat_id=CHAT)
    assert lead.event_id is None and len(await sent_out(lead.id)) == 1


async def test_start_with_referral_code_attributes_the_partner(client, make_partner):
    partner = await make_partner()
    await post_ok(client, message_update(22, CHAT, f"/start ref_{partner.referral_code}"))
    lead = await Lead.get(telegram_chat_id=CHAT)
    assert lead.referring_partner_id == partner.id


async def test_start_with_campaign_stores_the_campaign_on_the_message(client):
    await post_ok(client, message_update(23, CHAT, "/start c_12"))
    [message] = await InboundMessage.all()
    assert message.campaign_id == 12 and message.kind == "command"


async def test_attribution_never_overwrites_a_known_event(client, make_lead):
    first, second = await make_event("fr"), await make_event("de")
    lead = await make_lead(telegram_chat_id=CHAT, event_id=first.id)
    await post_ok(client, message_update(24, CHAT, f"/start ev_{second.id}"))
    await lead.refresh_from_db()
    assert lead.event_id == first.id


@pytest.mark.parametrize(("code", "opening"), [("nl", "Hallo"), ("en", "Bonjour")])
async def test_greeting_follows_telegram_language_when_we_speak_it(client, code, opening):
    await post_ok(client, message_update(25, CHAT, "/start", language_code=code))
    [greeting] = await sent_out()
    assert greeting.body.startswith(opening)


# ---- language button and shared contact -----------------------------------------------------


async def test_language_button_sets_language_and_asks_for_the_number(client, telegram_standin):
    await post_ok(client, message_update(30, CHAT, "/start"))
    await post_ok(client, callback_update(31, CHAT, "lang:de"))
    lead = await Lead.get(telegram_chat_id=CHAT)
    assert lead.language == "de"
    last = (await sent_out(lead.id))[-1]
    assert last.language == "de" and last.body.startswith("Gut, wir schreiben Ihnen auf Deutsch")
    markup = last.reply_markup
    assert markup["keyboard"] == [[{"text": "📞 Meine Nummer teilen", "request_contact": True}]]
    assert markup["one_time_keyboard"] and markup["resize_keyboard"]
    assert [c["method"] for c in telegram_standin.calls()][-1].lower() == "answercallbackquery"


async def test_shared_contact_links_the_chat_to_the_known_person(client, make_lead):
    known = await make_lead(phone="+32470000091", language="nl")
    # They wrote to us by SMS before: one inbox thread, with both channels' unread messages.
    await Conversation.create(lead=known, last_message_at=datetime.now(UTC), unread=1)
    await post_ok(client, message_update(40, CHAT, "/start"))
    provisional = await Lead.get(telegram_chat_id=CHAT)
    await post_ok(client, contact_update(41, CHAT, "32470000091"))

    assert await Lead.all().count() == 1  # the bot's provisional record is gone
    await known.refresh_from_db()
    assert known.telegram_chat_id == CHAT
    assert await InboundMessage.filter(lead_id=known.id).count() == 2
    assert await OutboxMessage.filter(lead_id=known.id).count() == 2  # greeting + thanks
    assert await ConsentRecord.filter(lead_id=known.id, purpose=ConsentPurpose.TELEGRAM).exists()
    [thread] = await Conversation.all()
    assert thread.lead_id == known.id and thread.unread == 3
    entry = await AuditEntry.get(action="lead.telegram_linked", lead_id=known.id)
    assert entry.changes["from_lead"] == provisional.id
    assert entry.changes["provisional_lead"] == "deleted"
    thanks = (await sent_out(known.id))[-1]
    assert thanks.body.startswith("Bedankt") and thanks.reply_markup == {"remove_keyboard": True}


async def test_language_picked_on_telegram_wins_when_linking(client, make_lead):
    known = await make_lead(phone="+32470000095", language="nl")
    await post_ok(client, message_update(48, CHAT, "/start"))
    await post_ok(client, callback_update(49, CHAT, "lang:de"))
    await post_ok(client, contact_update(50, CHAT, "+32470000095"))
    await known.refresh_from_db()
    assert known.language == "de" and known.telegram_chat_id == CHAT
    assert (await sent_out(known.id))[-1].body.startswith("Danke!")


async def test_provisional_person_with_staff_work_is_kept_as_lost(client, make_lead):
    known = await make_lead(phone="+32470000092")
    await post_ok(client, message_update(42, CHAT, "/start"))
    provisional = await Lead.get(telegram_chat_id=CHAT)
    await Interaction.create(
        lead=provisional,
        kind=InteractionKind.MESSAGE,
        channel=InteractionChannel.TELEGRAM,
        occurred_at=datetime.now(UTC),
    )
    await post_ok(client, contact_update(43, CHAT, "+32470000092"))
    await provisional.refresh_from_db()
    assert provisional.stage == Stage.LOST and provisional.telegram_chat_id is None
    assert provisional.lost_reason == f"merged into lead {known.id} (shared contact)"
    assert (await Lead.get(id=known.id)).telegram_chat_id == CHAT


async def test_shared_contact_with_a_new_number_sets_the_phone(client):
    await post_ok(client, message_update(44, CHAT, "/start"))
    await post_ok(client, contact_update(45, CHAT, "+32 470 00 00 93"))
    lead = await Lead.get(telegram_chat_id=CHAT)
    assert lead.phone == "+32470000093"
    thanks = (await sent_out(lead.id))[-1]
    assert thanks.body.startswith("Merci !") and thanks.reply_markup == {"remove_keyboard": True}


async def test_contact_of_someone_else_is_not_used(client, make_lead):
    known = await make_lead(phone="+32470000094")
    await post_ok(client, message_update(46, CHAT, "/start"))
    await post_ok(client, contact_update(47, CHAT, "+32470000094", user_id=999))
    await known.refresh_from_db()
    lead = await Lead.get(telegram_chat_id=CHAT)
    assert known.telegram_chat_id is None and lead.phone is None
    assert (await InboundMessage.filter(lead_id=lead.id, kind="contact").get()).body == "[contact]"


# ---- opt-out and opt-in ---------------------------------------------------------------------


async def test_stop_withdraws_consent_once_and_blocks_campaigns(client, dispatcher):
    await post_ok(client, message_update(50, CHAT, "/start"))
    await post_ok(client, message_update(51, CHAT, "/stop"))
    await post_ok(client, message_update(52, CHAT, "/stop"))
    lead = await Lead.get(telegram_chat_id=CHAT)
    assert (await channel_consent([lead.id], Channel.TELEGRAM)) == {lead.id: False}
    rows = await sent_out(lead.id)
    assert [r.body.startswith("C'est noté") for r in rows] == [False, True]
    campaign, _ = await outbox.enqueue(
        lead, Channel.TELEGRAM, "Promo", kind=MessageKind.CAMPAIGN, idempotency_key="camp:1"
    )
    await dispatcher.drain()
    await campaign.refresh_from_db()
    assert campaign.status == OutboxStatus.SKIPPED and campaign.error_code == "opted_out"


async def test_start_after_stop_opts_back_in_with_welcome_back(client):
    await post_ok(client, message_update(60, CHAT, "/start"))
    await post_ok(client, message_update(61, CHAT, "/stop"))
    await post_ok(client, message_update(62, CHAT, "/start"))
    lead = await Lead.get(telegram_chat_id=CHAT)
    assert (await channel_consent([lead.id], Channel.TELEGRAM)) == {lead.id: True}
    last = (await sent_out(lead.id))[-1]
    assert last.body.startswith("Bienvenue à nouveau") and len(await sent_out(lead.id)) == 3


# ---- set-webhook ----------------------------------------------------------------------------


async def test_set_webhook_registers_url_and_secret(providers, telegram_standin):
    url = await set_webhook()
    assert url == settings.PUBLIC_BASE_URL + "/webhooks/telegram"
    hook = telegram_standin.webhook
    assert hook["url"] == url and hook["secret_token"] == TELEGRAM_SECRET
    assert set(hook["allowed_updates"]) == {"message", "callback_query"}


async def test_set_webhook_refuses_a_secret_telegram_would_refuse(providers, monkeypatch):
    monkeypatch.setattr(settings, "TELEGRAM_WEBHOOK_SECRET", "not allowed!")
    with pytest.raises(ValueError, match="TELEGRAM_WEBHOOK_SECRET"):
        await set_webhook()


async def test_set_webhook_refuses_plain_http_in_production(providers, monkeypatch):
    monkeypatch.setattr(settings, "ENVIRONMENT", "production")
    with pytest.raises(ValueError, match="https"):
        await set_webhook()
