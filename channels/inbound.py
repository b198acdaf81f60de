"""What happens when a person writes: the same steps for SMS and Telegram.

1. Find or create the person through the CRM's one `find_or_create_lead`.
2. Store the message once (the provider's id is unique), attributed to the last message we sent
   that person on that channel (which carries its campaign).
3. Mark the conversation unread for staff.
4. Opt-out and opt-in words go to the consent ledger and are confirmed once, in the person's
   language; an SMS that starts with an outreach event's keyword attributes the person to the
   event, records their SMS consent and is welcomed; any other message outside office hours
   gets one acknowledgement per night saying when someone will answer."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import phonenumbers

from channels import outbox
from channels.consent import set_channel_consent
from channels.dispatcher import OPT_OUT_CONFIRMATION_PREFIX
from channels.hours import in_office_hours, next_opening
from channels.keywords import Keyword, match_keyword
from channels.models import Channel, InboundMessage, MessageKind, OutboxMessage
from channels.sql import execute, is_postgres, rows
from channels.texts import channel_word, language_or_default, opening_phrase, text
from crm.audit import service as audit
from crm.enums import Language
from crm.outreach.keywords import OPT_OUT_WORDS, first_word_keyword, fold
from crm.outreach.models import OutreachEvent
from crm.people.models import Lead, LeadSource, Stage
from crm.people.schemas import LeadCreate
from crm.people.service import find_or_create_lead

log = logging.getLogger(__name__)

PREVIEW_LENGTH = 160
EVENT_WELCOME_PREFIX = "event-welcome:"  # + the inbound message's id
# After-hours acknowledgements already queued (by key), oldest first; bounded.
_ACKNOWLEDGED: dict[str, None] = {}
_ACKNOWLEDGED_MAX = 20_000


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
    ((column, value),) = key.items()
    # The hot path (someone we know writes again): one plain query.
    found = await rows(f"SELECT * FROM lead WHERE {column} = $1", [value])
    if found:
        return Lead._init_from_db(**found[0]), False
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


# One statement stores the message and finds what it answers: the last message we sent that
# person on that channel (a campaign's id travels with it). A provider id already stored inserts
# nothing and returns nothing. PostgreSQL needs the casts to type the SELECT's parameters.
_STORE = """
INSERT INTO inbound_message (lead_id, channel, address, body, provider_id, kind, reply_to_id,
    campaign_id, received_at)
SELECT {int}($1), {text}($2), {text}($3), {text}($4), {text}($5), {text}($6), last.id,
    COALESCE({int}($7), last.campaign_id), {time}($8)
FROM (SELECT 1 AS one) AS one
LEFT JOIN (SELECT id, campaign_id FROM outbox_message WHERE lead_id = $1 AND channel = $2
    AND status NOT IN ('queued', 'skipped', 'paused') ORDER BY id DESC LIMIT 1) AS last ON TRUE
WHERE TRUE
ON CONFLICT (provider_id) DO NOTHING
RETURNING id, reply_to_id, campaign_id"""

_CONVERSATION = """
INSERT INTO conversation (lead_id, last_message_at, last_channel, preview, last_inbound_at,
    unread)
{source}
ON CONFLICT (lead_id) DO UPDATE SET last_message_at = excluded.last_message_at,
    last_channel = excluded.last_channel, preview = excluded.preview,
    last_inbound_at = COALESCE(excluded.last_inbound_at, conversation.last_inbound_at),
    unread = conversation.unread + excluded.unread"""


def _store_sql(postgres: bool) -> str:
    if not postgres:
        return _STORE.format(int="", text="", time="")
    typed = (
        _STORE.replace("{int}($1)", "$1::int")
        .replace("{int}($7)", "$7::int")
        .replace("{time}($8)", "$8::timestamptz")
    )
    for n in range(2, 7):
        typed = typed.replace(f"{{text}}(${n})", f"${n}::varchar")
    # The thread is brought up in the same statement, only when a row was inserted.
    conversation = _CONVERSATION.format(
        source="SELECT $1::int, $8::timestamptz, $2::varchar, $9::varchar, $8::timestamptz, 1 "
        "FROM stored"
    )
    return (
        f"WITH stored AS ({typed}), thread AS ({conversation} RETURNING 1) "
        "SELECT id, reply_to_id, campaign_id FROM stored"
    )


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
    """Store one inbound message and mark the person's thread unread; None when this provider
    id is already stored (a webhook delivered twice). One statement on PostgreSQL, two on
    SQLite."""
    at = received_at or datetime.now(UTC)
    postgres = is_postgres()
    params = [lead.id, str(channel), address, body, provider_id, kind, campaign_id, at]
    if postgres:
        found = await rows(_store_sql(True), [*params, _preview(body)])
    else:
        found = await rows(_store_sql(False), params)
        if found:
            await touch_conversation(lead.id, channel, body, at, inbound=True)
    if not found:
        return None
    message = InboundMessage(
        id=found[0]["id"],
        lead_id=lead.id,
        channel=channel,
        address=address,
        body=body,
        provider_id=provider_id,
        kind=kind,
        reply_to_id=found[0]["reply_to_id"],
        campaign_id=found[0]["campaign_id"],
        received_at=at,
    )
    message._saved_in_db = True
    return message


def _preview(body: str) -> str:
    return " ".join(body.split())[:PREVIEW_LENGTH]


async def touch_conversation(
    lead_id: int, channel: Channel, body: str, at: datetime, *, inbound: bool
) -> None:
    """Bring the person's thread to the top of the inbox (one upsert on both engines); an
    inbound message also counts as unread."""
    source = "VALUES ($1, $2, $3, $4, $5, $6)"
    await execute(
        _CONVERSATION.format(source=source),
        [lead_id, at, str(channel), _preview(body), at if inbound else None, int(inbound)],
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
    if keyword_language and not lead.language:
        # "STOPPEN" from someone we knew nothing about: they read Dutch.
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
        # One per person per closed period: the key is the opening it announces. A person who
        # writes ten times in the night costs one lookup in this process, not ten queries
        # (the unique key still decides across processes).
        key = f"after-hours:{lead.id}:{opening.date().isoformat()}"
        if key not in _ACKNOWLEDGED:
            body = text("after_hours", language, opening=opening_phrase(opening, language))
            row = await _auto(lead, channel, body, key)
            _ACKNOWLEDGED[key] = None
            if len(_ACKNOWLEDGED) > _ACKNOWLEDGED_MAX:
                del _ACKNOWLEDGED[next(iter(_ACKNOWLEDGED))]
            queued.append(row)
    return queued


async def event_for_keyword(body: str) -> OutreachEvent | None:
    """The outreach event whose keyword a message starts with ("Marché12, bonjour" → the event
    with keyword MARCHE12); None for any other message. Opt-out and opt-in words keep
    priority: a message that is one, or that contains an opt-out word ("MARCHE12 STOP"), is no
    request for our news."""
    keyword = first_word_keyword(body)
    if keyword is None or match_keyword(body) is not None:
        return None
    if any(fold(word) in OPT_OUT_WORDS for word in body.split()):
        return None
    return await OutreachEvent.get_or_none(keyword=keyword)


async def fill_empty_attribution(lead: Lead, attribution: dict[str, int]) -> None:
    """A person we already know keeps their event and partner: a later link or keyword only
    fills what is empty (audited as "lead.attribution")."""
    added = {k: v for k, v in attribution.items() if getattr(lead, k) is None}
    if not added:
        return
    await Lead.filter(id=lead.id).update(**added, updated_at=outbox.now())
    for key, value in added.items():
        setattr(lead, key, value)
    await audit.record(
        None, "lead.attribution", entity="lead", entity_id=lead.id, lead_id=lead.id, changes=added
    )


async def welcome_from_event(
    lead: Lead, message: InboundMessage, event: OutreachEvent, *, created: bool
) -> list[OutboxMessage]:
    """Someone texted an event's keyword, as the stand page invited them to ("text MARCHE12 to
    receive our news by SMS"): they are attributed to the event (a new person was created
    with it; a person we knew only gets an empty event filled), their SMS consent is recorded
    and they get one welcome per message, in their language or else the event's."""
    if not created:
        await fill_empty_attribution(lead, {"event_id": event.id})
    await set_channel_consent(lead, Channel.SMS, granted=True, method="event_keyword")
    language = lead.language or event.language
    body = text("event_welcome", language)
    key = f"{EVENT_WELCOME_PREFIX}{message.id}"
    return [await _auto(lead, Channel.SMS, body, key, language=language)]


def forget_acknowledgements() -> None:
    """A fresh start (a new app, a restored database) trusts the database alone again."""
    _ACKNOWLEDGED.clear()


async def _auto(
    lead: Lead,
    channel: Channel,
    body: str,
    key: str,
    *,
    reply_markup: dict[str, Any] | None = None,
    language: str | None = None,
) -> OutboxMessage:
    row, _created = await outbox.enqueue(
        lead,
        channel,
        body,
        kind=MessageKind.AUTO,
        idempotency_key=key,
        language=language_or_default(language or lead.language),
        reply_markup=reply_markup,
    )
    return row
