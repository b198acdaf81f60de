"""The dispatcher against the stand-ins: outcomes, retries, opt-outs, reconciliation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from channels import outbox
from channels.consent import channel_consent
from channels.models import Channel, MessageKind, OutboxMessage, OutboxStatus


async def queue(lead, channel=Channel.SMS, body="Bonjour", kind=MessageKind.REPLY, key=None):
    row, _ = await outbox.enqueue(
        lead, channel, body, kind=kind, idempotency_key=key or f"test:{lead.id}:{channel}:{body}"
    )
    return row


async def test_sms_is_sent_through_twilio_with_status_callback(
    dispatcher, make_lead, twilio_standin
):
    lead = await make_lead()
    row = await queue(lead)
    assert await dispatcher.drain() == 1
    await row.refresh_from_db()
    assert row.status == OutboxStatus.SENT
    assert row.provider == "twilio" and row.provider_id.startswith("SM")
    [sent] = twilio_standin.messages()
    assert sent["to"] == lead.phone and sent["body"] == "Bonjour"
    assert sent["status_callback"].endswith("/webhooks/twilio/status")


async def test_telegram_message_is_sent_through_aiogram(dispatcher, make_lead, telegram_standin):
    lead = await make_lead(telegram_chat_id=777001)
    row = await queue(lead, Channel.TELEGRAM, "Hallo")
    await dispatcher.drain()
    await row.refresh_from_db()
    assert row.status == OutboxStatus.SENT and row.provider_id.startswith("tg:777001:")
    assert [m["text"] for m in telegram_standin.messages()] == ["Hallo"]


async def test_server_error_is_retried_then_sent(dispatcher, make_lead, twilio_standin):
    lead = await make_lead()
    twilio_standin.add_faults(lead.phone, [{"status": 500}, {"status": 429}])
    row = await queue(lead)
    for _ in range(20):
        await dispatcher.drain()
        await row.refresh_from_db()
        if row.status != OutboxStatus.QUEUED:
            break
        await _sleep(0.1)
    assert row.status == OutboxStatus.SENT and row.attempts == 3
    assert len(twilio_standin.messages()) == 1


async def test_unsubscribed_number_fails_and_records_the_opt_out(
    dispatcher, make_lead, twilio_standin
):
    lead = await make_lead()
    twilio_standin.add_faults(lead.phone, [{"status": 400, "code": 21610}])
    row = await queue(lead)
    await dispatcher.drain()
    await row.refresh_from_db()
    assert row.status == OutboxStatus.FAILED and row.error_code == "21610"
    assert (await channel_consent([lead.id], Channel.SMS)) == {lead.id: False}


async def test_blocked_bot_records_the_telegram_opt_out(dispatcher, make_lead, telegram_standin):
    lead = await make_lead(telegram_chat_id=777002)
    telegram_standin.add_faults(777002, [{"status": 403}])
    row = await queue(lead, Channel.TELEGRAM)
    await dispatcher.drain()
    await row.refresh_from_db()
    assert row.status == OutboxStatus.FAILED and row.error_code == "403"
    assert (await channel_consent([lead.id], Channel.TELEGRAM)) == {lead.id: False}


async def test_timeout_after_acceptance_is_reconciled_not_resent(
    dispatcher, make_lead, twilio_standin
):
    lead = await make_lead()
    twilio_standin.add_faults(lead.phone, [{"accept_then_hang": 3}])
    row = await queue(lead)
    await dispatcher.drain()
    await row.refresh_from_db()
    assert row.status == OutboxStatus.QUEUED and row.error_code == "timeout"
    for _ in range(20):
        await dispatcher.drain()
        await row.refresh_from_db()
        if row.status != OutboxStatus.QUEUED:
            break
        await _sleep(0.1)
    assert row.status == OutboxStatus.SENT
    assert len(twilio_standin.messages()) == 1
    assert row.provider_id == twilio_standin.messages()[0]["sid"]


async def _died_while_sending(row, *, handed_over: bool) -> None:
    # A worker claimed the row (and maybe handed it to the provider), then died.
    await OutboxMessage.filter(id=row.id).update(
        status=OutboxStatus.SENDING,
        leased_by="dead-worker",
        lease_until=datetime.now(UTC) - timedelta(seconds=1),
        claimed_at=datetime.now(UTC) - timedelta(minutes=3),
        attempts=1,
        provider="telegram" if handed_over else None,
    )


async def test_expired_lease_during_a_telegram_send_becomes_unknown(
    dispatcher, make_lead, telegram_standin
):
    lead = await make_lead(telegram_chat_id=777003)
    row = await queue(lead, Channel.TELEGRAM)
    await _died_while_sending(row, handed_over=True)
    await dispatcher.drain()
    await row.refresh_from_db()
    assert row.status == OutboxStatus.UNKNOWN and row.error_code == "lease_expired"
    assert telegram_standin.messages() == []


async def test_expired_lease_before_the_telegram_send_is_sent_once(
    dispatcher, make_lead, telegram_standin
):
    lead = await make_lead(telegram_chat_id=777004)
    row = await queue(lead, Channel.TELEGRAM)
    await _died_while_sending(row, handed_over=False)
    await dispatcher.drain()
    await row.refresh_from_db()
    assert row.status == OutboxStatus.SENT
    assert len(telegram_standin.messages()) == 1


async def test_expired_lease_on_twilio_is_found_by_lookup_not_resent(
    dispatcher, make_lead, twilio_standin
):
    lead = await make_lead()
    row = await queue(lead)
    # Twilio took the message, and the worker died before recording the answer.
    await dispatcher.drain()
    await row.refresh_from_db()
    sid = row.provider_id
    await OutboxMessage.filter(id=row.id).update(provider_id=None)
    await _died_while_sending(row, handed_over=True)
    await dispatcher.drain()
    await row.refresh_from_db()
    assert row.status == OutboxStatus.SENT and row.provider_id == sid
    assert len(twilio_standin.messages()) == 1


async def test_expired_lease_on_twilio_not_found_is_sent_again(
    dispatcher, make_lead, twilio_standin
):
    lead = await make_lead()
    row = await queue(lead)
    await _died_while_sending(row, handed_over=True)
    await dispatcher.drain()
    await row.refresh_from_db()
    assert row.status == OutboxStatus.SENT
    assert len(twilio_standin.messages()) == 1


async def test_campaign_message_without_consent_is_skipped(dispatcher, make_lead, twilio_standin):
    lead = await make_lead()
    row = await queue(lead, kind=MessageKind.CAMPAIGN)
    await dispatcher.drain()
    await row.refresh_from_db()
    assert row.status == OutboxStatus.SKIPPED and row.error_code == "no_consent"
    assert twilio_standin.messages() == []


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


async def test_stopping_puts_back_what_waits_for_its_turn(app, make_lead, twilio_standin):
    import asyncio

    from channels.dispatcher import Dispatcher

    slow = Dispatcher(app.state.channels, sms_rate=1, idle_seconds=0.05)
    leads = [await make_lead() for _ in range(5)]
    rows = [await queue(lead) for lead in leads]
    stop = asyncio.Event()
    running = asyncio.create_task(slow.run(stop))
    for _ in range(100):
        await asyncio.sleep(0.05)
        if twilio_standin.messages():
            break
    stop.set()
    await asyncio.wait_for(running, timeout=20)
    statuses = []
    for row in rows:
        await row.refresh_from_db()
        statuses.append((row.status, row.attempts))
    sent = [s for s in statuses if s[0] == OutboxStatus.SENT]
    assert len(sent) == len(twilio_standin.messages()) >= 1
    # The others never reached Twilio: queued again at once, the try not counted.
    assert all(s == (OutboxStatus.QUEUED, 0) for s in statuses if s[0] != OutboxStatus.SENT)
