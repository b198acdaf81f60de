"""What the bot does with each Telegram update (the webhook feeds them through one Dispatcher).

Handlers never call the Bot API to talk to a person: every answer is an outbox row (kind AUTO,
keyed by the update id), so a redelivered update queues nothing twice and the dispatcher keeps
to Telegram's rates. They run inside the webhook's transaction; anything that must wait for the
commit (answering a button press) goes into the `after_commit` list the webhook passes in."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from aiogram import Dispatcher, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message, Update, User

from channels import outbox
from channels.consent import set_channel_consent
from channels.inbound import answer, fill_empty_attribution, find_or_create_sender, store
from channels.keywords import Keyword
from channels.models import Channel, InboundMessage, MessageKind, OutboxMessage
from channels.telegram_bot import provider_id
from channels.telegram_link import LANGUAGE_KEY, link_shared_phone
from channels.texts import LANGUAGE_NAMES, language_or_default, text
from crm.audit import service as audit
from crm.outreach.models import OutreachEvent
from crm.people.models import Lead
from crm.people.phones import normalize_phone
from crm.referrals.models import PartnerOrganisation

log = logging.getLogger("passerelle.telegram")

AfterCommit = list[Callable[[], Awaitable[None]]]
GREETING_KEY = "tg-greeting:"  # the prefix also tells whether a person was ever greeted here
LANGUAGE_KEYBOARD = {
    "inline_keyboard": [
        [{"text": name, "callback_data": f"lang:{code}"} for code, name in LANGUAGE_NAMES.items()]
    ]
}
_PAYLOAD = re.compile(r"^(ev|ref|c)_([A-Za-z0-9_-]{1,60})$")
_MAX_ID = 2**31 - 1  # event and campaign ids are 32-bit columns

router = Router(name="passerelle")
# People talk to the bot in a private chat; groups and channels are not an outreach channel.
router.message.filter(F.chat.type == ChatType.PRIVATE, F.from_user)


@cache
def get_dispatcher() -> Dispatcher:
    """Built once per process: a router can only belong to one Dispatcher."""
    dp = Dispatcher(name="passerelle-webhook")
    dp.include_router(router)
    return dp


# ---- helpers ----------------------------------------------------------------------------------


def telegram_language(user: User | None) -> str | None:
    """The user's Telegram interface language when we speak it ("nl-BE" counts as nl)."""
    code = ((user.language_code if user else None) or "").split("-")[0].lower()
    return code if code in LANGUAGE_NAMES else None


async def _sender(message: Message, attribution: dict[str, int] | None = None) -> tuple[Lead, bool]:
    user = message.from_user
    assert user is not None  # the router's filter
    return await find_or_create_sender(
        Channel.TELEGRAM,
        str(message.chat.id),
        first_name=user.first_name,
        last_name=user.last_name,
        language=telegram_language(user),
        attribution=attribution,
    )


async def _store(
    lead: Lead, message: Message, body: str, kind: str, campaign_id: int | None = None
) -> InboundMessage | None:
    return await store(
        lead,
        Channel.TELEGRAM,
        address=str(message.chat.id),
        body=body,
        provider_id=provider_id(message.chat.id, message.message_id),
        kind=kind,
        campaign_id=campaign_id,
        received_at=message.date,
    )


async def _queue(
    lead: Lead,
    key: str,
    body_key: str,
    language: str | None,
    markup: dict[str, Any] | None = None,
    **values: str,
) -> None:
    language = language_or_default(language)
    await outbox.enqueue(
        lead,
        Channel.TELEGRAM,
        text(body_key, language, **values),
        kind=MessageKind.AUTO,
        idempotency_key=key,
        language=language,
        reply_markup=markup,
    )


@dataclass
class Payload:
    event: OutreachEvent | None = None
    partner: PartnerOrganisation | None = None
    campaign_id: int | None = None

    def attribution(self) -> dict[str, int]:
        out = {}
        if self.event:
            out["event_id"] = self.event.id
        if self.partner:
            out["referring_partner_id"] = self.partner.id
        return out


async def parse_payload(args: str | None) -> Payload:
    """`ev_<id>`, `ref_<code>` or `c_<id>` (CONTRACT §3). Anything unknown is logged and ignored:
    a stale link must still greet the person."""
    found = _PAYLOAD.match((args or "").strip())
    if not found:
        if args:
            log.info("telegram /start: payload %r ignored (not ev_, ref_ or c_)", args[:64])
        return Payload()
    kind, value = found.groups()
    if kind == "ref":
        partner = await PartnerOrganisation.get_or_none(referral_code=value)
        if partner is None:
            log.info("telegram /start: no partner with referral code %r", value)
        return Payload(partner=partner)
    if not value.isdigit() or int(value) > _MAX_ID:
        log.info("telegram /start: %r is not an id", args)
        return Payload()
    if kind == "c":
        return Payload(campaign_id=int(value))
    event = await OutreachEvent.get_or_none(id=int(value))
    if event is None:
        log.info("telegram /start: no outreach event %s", value)
    return Payload(event=event)


# ---- handlers ---------------------------------------------------------------------------------


@router.message(CommandStart())
async def on_start(message: Message, command: CommandObject, event_update: Update) -> None:
    """First contact gets the greeting (and telegram consent); a person who had opted out and
    comes back gets the opt-in confirmation instead."""
    payload = await parse_payload(command.args)
    attribution = payload.attribution()
    lead, created = await _sender(message, attribution)
    if not created:
        await fill_empty_attribution(lead, attribution)
    stored = await _store(lead, message, message.text or "/start", "command", payload.campaign_id)
    if stored is None:
        return
    greeted = await OutboxMessage.exists(
        lead_id=lead.id, channel=Channel.TELEGRAM, idempotency_key__startswith=GREETING_KEY
    )
    if greeted:
        if await answer(lead, stored, Channel.TELEGRAM, keyword=Keyword.OPT_IN):
            return  # "welcome back"
    else:
        await set_channel_consent(lead, Channel.TELEGRAM, granted=True, method="telegram_start")
    # A person we know keeps their language; a newcomer gets the event's, then Telegram's.
    language = (
        (None if created else lead.language)
        or (payload.event.language if payload.event else None)
        or telegram_language(message.from_user)
    )
    await _queue(
        lead,
        f"{GREETING_KEY}{event_update.update_id}",
        "greeting",
        language,
        LANGUAGE_KEYBOARD,
        first_name=lead.first_name,
    )


@router.message(Command("stop"))
async def on_stop(message: Message) -> None:
    lead, _ = await _sender(message)
    stored = await _store(lead, message, message.text or "/stop", "command")
    if stored is not None:
        await answer(lead, stored, Channel.TELEGRAM, keyword=Keyword.OPT_OUT)


@router.message(F.contact)
async def on_contact(message: Message, event_update: Update) -> None:
    """The person's own number (Telegram vouches for it) links the chat to the person we may
    already know by phone. Someone else's contact card is kept as a message, never linked."""
    contact = message.contact
    assert contact is not None and message.from_user is not None
    lead, _ = await _sender(message)
    own = contact.user_id is not None and contact.user_id == message.from_user.id
    phone = _telegram_phone(contact.phone_number) if own else None
    body = f"[contact] {phone}" if phone else "[contact]"
    stored = await _store(lead, message, body, "contact")
    if stored is None:
        return
    if not own:
        await answer(lead, stored, Channel.TELEGRAM)
        return
    if phone:
        lead = await link_shared_phone(lead, phone, message.chat.id)
    else:
        log.warning("telegram contact of chat %s: unusable phone number", message.chat.id)
    await _queue(
        lead,
        f"tg-contact:{event_update.update_id}",
        "contact_thanks",
        lead.language,
        {"remove_keyboard": True},
    )


def _telegram_phone(raw: str) -> str | None:
    """Telegram gives international digits, usually without the `+`."""
    value = raw.strip()
    if value and value[0].isdigit() and not value.startswith("0"):
        value = "+" + value
    try:
        return normalize_phone(value)
    except ValueError:
        return None


@router.message(F.text)
async def on_text(message: Message) -> None:
    text_ = message.text or ""
    lead, _ = await _sender(message)
    stored = await _store(lead, message, text_, "command" if text_.startswith("/") else "text")
    if stored is not None:
        await answer(lead, stored, Channel.TELEGRAM)


@router.message()
async def on_other(message: Message) -> None:
    """Photos, voice notes, stickers…: staff see that something came, as "[photo] caption"."""
    kind = message.content_type
    body = f"[{getattr(kind, 'value', kind)}]"
    if message.caption:
        body += f" {message.caption}"
    lead, _ = await _sender(message)
    stored = await _store(lead, message, body[:4000], "media")
    if stored is not None:
        await answer(lead, stored, Channel.TELEGRAM)


@router.callback_query(F.data.startswith("lang:"))
async def on_language(
    callback: CallbackQuery, event_update: Update, after_commit: AfterCommit
) -> None:
    after_commit.append(lambda: _answer_callback(callback))
    language = (callback.data or "").removeprefix("lang:")
    if language not in LANGUAGE_NAMES:
        return
    user = callback.from_user
    lead, _ = await find_or_create_sender(
        Channel.TELEGRAM,
        str(user.id),
        first_name=user.first_name,
        last_name=user.last_name,
        language=language,
    )
    if lead.language != language:
        await Lead.filter(id=lead.id).update(language=language, updated_at=outbox.now())
        await audit.record(
            None,
            "lead.update",
            entity="lead",
            entity_id=lead.id,
            lead_id=lead.id,
            changes={"language": language, "by": "telegram language button"},
        )
        lead.language = language  # type: ignore[assignment]
    contact_keyboard = {
        "keyboard": [[{"text": text("share_contact_button", language), "request_contact": True}]],
        "one_time_keyboard": True,
        "resize_keyboard": True,
    }
    await _queue(
        lead, f"{LANGUAGE_KEY}{event_update.update_id}", "language_set", language, contact_keyboard
    )


@router.callback_query()
async def on_other_button(callback: CallbackQuery, after_commit: AfterCommit) -> None:
    """A button from an older keyboard: stop the spinner, nothing else."""
    after_commit.append(lambda: _answer_callback(callback))


async def _answer_callback(callback: CallbackQuery) -> None:
    try:
        await callback.answer()
    except Exception:  # noqa: BLE001 - a late or failed answer only leaves a spinner
        log.warning("could not answer callback query %s", callback.id, exc_info=True)
