"""What happens when a person writes: the same steps for SMS and Telegram.

1. Find or create the person through the CRM's one `find_or_create_lead`.
2. Store the message once (the provider's id is unique), attributed to the last message we sent
   that person on that channel (which carries its campaign).
3. Mark the conversation unread for staff.
4. Opt-out and opt-in words go to the consent ledger and are confirmed once, in the person's
   language; any other message outside office hours gets one acknowledgement per night saying
   when someone will answer."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import phonenumbers
from tortoise import connections
from tortoise.exceptions import IntegrityError

from channels import outbox
from channels.consent import set_channel_consent
from channels.dispatcher import OPT_OUT_CONFIRMATION_PREFIX
from channels.hours import in_office_hours, next_opening
from channels.keywords import Keyword, match_keyword
from channels.models import Channel, InboundMessage, MessageKind, OutboxMessage, OutboxStatus
from channels.texts import channel_word, language_or_default, opening_phrase, text
from crm.enums import Language
from crm.people.models import Lead, LeadSource, Stage
from crm.people.schemas import LeadCreate
from crm.people.service import find_or_create_lead

log = logging.getLogger(__name__)

PREVIEW_LENGTH = 160


@dataclass
class Received:
    lead: Lead
    message: InboundMessage | None  # None when this provider id was already stored
    lead_created: bool = False

    @property
    def duplicate(self) -> bool:
        return self.message is None


async def find_or_create_sender(
    channel: Channel,
    address: str,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    language: str | None = None,
    attribution: dict[str, Any] | None = None,
) -> tuple[Lead, bool]:
    """The person behind a phone number or a Telegram chat. Someone who writes to us on their
    own initiative is a lead; their language is kept when it is one we speak."""
    key = {"phone": address} if channel == Channel.SMS else {"telegram_chat_id": int(address)}
    existing = await Lead.get_or_none(**key)
    if existing:
        return existing, False
    if channel == Channel.SMS and not first_name:
        # Nobody wrote a name in an SMS: show the number until staff learn it.
        first_name = _display_number(address)
    data = LeadCreate(
        first_name=(first_name or "Telegram")[:100],
        last_name=(last_name or None) and last_name[:100],
        language=language if language in set(Language) else None,
        stage=Stage.LEAD,
        source=LeadSource.SMS if channel == Channel.SMS else LeadSource.TELEGRAM,
        **key,
        **(attribution or {}),
    )
    result = await find_or_create_lead(data, actor=None, default_source=data.source)
    return result.lead, result.created


def _display_number(e164: str) -> str:
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


async def store(
    lead: Lead,
    channel: Channel,
    *,
    address: str,
    body: str,
    provider_id: str,
    kind: str = "text",
    campaign_id: int | None = None,
    received_at: datetime | None = None,
) -> InboundMessage | None:
    """Store one inbound message, or None when this provider id is already stored."""
    at = received_at or datetime.now(UTC)
    last_out = (
        await OutboxMessage.filter(lead_id=lead.id, channel=channel)
        .exclude(status__in=[OutboxStatus.QUEUED, OutboxStatus.SKIPPED])
        .order_by("-id")
        .first()
        .values("id", "campaign_id")
    )
    try:
        message = await InboundMessage.create(
            lead=lead,
            channel=channel,
            address=address,
            body=body,
            provider_id=provider_id,
            kind=kind,
            reply_to_id=last_out["id"] if last_out else None,
            campaign_id=campaign_id or (last_out["campaign_id"] if last_out else None),
            received_at=at,
        )
    except IntegrityError:
        return None
    await touch_conversation(lead.id, channel, body, at, inbound=True)
    return message


async def touch_conversation(
    lead_id: int, channel: Channel, body: str, at: datetime, *, inbound: bool
) -> None:
    """Bring the person's thread to the top of the inbox (one upsert on both engines)."""
    preview = " ".join(body.split())[:PREVIEW_LENGTH]
    postgres = connections.get("default").capabilities.dialect == "postgres"
    p = (lambda i: f"${i}") if postgres else (lambda i: "?")
    unread = "conversation.unread + 1" if inbound else "conversation.unread"
    last_inbound = f"{p(5)}" if inbound else "conversation.last_inbound_at"
    sql = (
        "INSERT INTO conversation (lead_id, last_message_at, last_channel, preview, "
        f"last_inbound_at, unread) VALUES ({p(1)}, {p(2)}, {p(3)}, {p(4)}, {p(5)}, {p(6)}) "
        "ON CONFLICT (lead_id) DO UPDATE SET last_message_at = excluded.last_message_at, "
        "last_channel = excluded.last_channel, preview = excluded.preview, "
        f"last_inbound_at = {last_inbound.replace(p(5), 'excluded.last_inbound_at')}, "
        f"unread = {unread}"
    )
    await connections.get("default").execute_query(
        sql, [lead_id, at, str(channel), preview, at if inbound else None, 1 if inbound else 0]
    )


async def answer(
    lead: Lead,
    message: InboundMessage,
    channel: Channel,
    *,
    keyword_language: str | None = None,
    keyword: Keyword | None = None,
) -> list[OutboxMessage]:
    """The product's own answer to a stored message: keyword confirmations or the after-hours
    acknowledgement. Returns the outbox rows queued (none when nothing is due)."""
    if keyword is None:
        found = match_keyword(message.body, telegram=channel == Channel.TELEGRAM)
        if found:
            keyword, keyword_language = found
    language = lead.language or keyword_language
    if language and not lead.language and keyword_language:
        await Lead.filter(id=lead.id).update(language=keyword_language)
        lead.language = keyword_language  # type: ignore[assignment]
    queued: list[OutboxMessage] = []
    if keyword is Keyword.OPT_OUT:
        if await set_channel_consent(lead, channel, granted=False, method="keyword"):
            body = text("opt_out_confirmed", language, channel=channel_word(channel, language))
            queued.append(
                await _auto(lead, channel, body, f"{OPT_OUT_CONFIRMATION_PREFIX}{message.id}")
            )
        return queued
    if keyword is Keyword.OPT_IN:
        if await set_channel_consent(lead, channel, granted=True, method="keyword"):
            body = text("opt_in_confirmed", language)
            queued.append(await _auto(lead, channel, body, f"optin-confirm:{message.id}"))
        return queued
    if not in_office_hours(message.received_at):
        opening = next_opening(message.received_at)
        body = text("after_hours", language, opening=opening_phrase(opening, language))
        # One per person per closed period: the key is the opening it announces.
        key = f"after-hours:{lead.id}:{opening.date().isoformat()}"
        row = await _auto(lead, channel, body, key)
        queued.append(row)
    return queued


async def _auto(
    lead: Lead,
    channel: Channel,
    body: str,
    key: str,
    *,
    reply_markup: dict[str, Any] | None = None,
) -> OutboxMessage:
    row, _created = await outbox.enqueue(
        lead,
        channel,
        body,
        kind=MessageKind.AUTO,
        idempotency_key=key,
        language=language_or_default(lead.language),
        reply_markup=reply_markup,
    )
    return row
