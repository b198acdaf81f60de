"""Talking with one person: their messages in and out, staff replies, resends, and the inbox
state of their thread (unread, assigned). Used by the JSON API and the inbox pages alike, with
the caller's Actor, so both see exactly the same people (`people.service.visible_leads`).

Decisions worth knowing:
- A reply to a channel the person opted out of is refused at once (409 naming the channel):
  the dispatcher would only skip it later, and staff should learn it while they are typing.
- A resend is a new outbox row keyed `resend:<id>`: pressing the button twice sends once.
- Marking a thread read only clears what had arrived when the reader looked, so a message that
  lands at that moment stays unread."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from channels import outbox
from channels.consent import channel_consent
from channels.inbound import touch_conversation
from channels.models import Channel, Conversation, InboundMessage, MessageKind, OutboxMessage
from channels.models import OutboxStatus as Status
from channels.schemas import ConversationOut, Lookalike, MessageOut, SegmentsOut
from channels.sms_segments import MAX_BODY_CHARACTERS, count_segments, to_gsm_lookalikes
from crm.audit import service as audit
from crm.auth.actor import Actor
from crm.auth.models import User
from crm.auth.service import actor_for_user
from crm.enums import Role
from crm.errors import DomainError, NotFound
from crm.outreach.followups import register_waiting_source
from crm.people.models import Lead
from crm.people.schemas import TimelineItem
from crm.people.service import get_visible_lead, visible_leads
from crm.people.timeline import register_source

RESENDABLE = (Status.UNKNOWN, Status.FAILED)
# Who may answer people (and so be assigned a thread): marketing staff run campaigns instead.
RESPONDERS = (Role.ADMIN, Role.COORDINATOR, Role.AGENT)
_LIMITS = {Channel.SMS: MAX_BODY_CHARACTERS, Channel.TELEGRAM: outbox.TELEGRAM_MAX_CHARACTERS}


class MessageRefused(DomainError):
    """Why a message cannot be queued. `reason` is a stable code the inbox page translates:
    no_address, empty, too_long, opted_out, not_resendable, inbound."""

    def __init__(
        self,
        message: str,
        field: str,
        reason: str,
        status: int = 422,
        channel: Channel | None = None,
    ) -> None:
        super().__init__(message, field=field)
        self.reason = reason
        self.status_code = status
        self.channel = channel


# ---- a person's messages ----------------------------------------------------------------------


def present_outbound(m: OutboxMessage) -> MessageOut:
    return MessageOut(
        id=f"out-{m.id}",
        direction="out",
        channel=m.channel,
        body=m.body,
        status=str(m.status),
        provider=m.provider,
        provider_id=m.provider_id,
        campaign_id=m.campaign_id,
        created_at=m.created_at,
        kind=str(m.kind),
        error_code=m.error_code,
        error_reason=m.error_reason,
        segments=m.segments,
        encoding=m.encoding,
        author_id=m.author_id,  # type: ignore[attr-defined]
        sent_at=m.sent_at,
        status_at=m.status_at,
    )


def present_inbound(m: InboundMessage) -> MessageOut:
    reply_to = m.reply_to_id  # type: ignore[attr-defined]
    return MessageOut(
        id=f"in-{m.id}",
        direction="in",
        channel=m.channel,
        body=m.body,
        status="received",
        provider=None,
        provider_id=m.provider_id,
        campaign_id=m.campaign_id,
        created_at=m.received_at,
        kind=m.kind,
        reply_to=f"out-{reply_to}" if reply_to else None,
    )


async def list_messages(lead_id: int, *, limit: int, offset: int) -> tuple[list[MessageOut], int]:
    """Every message in and out, newest first. The two tables are read up to the end of the
    page and merged: one person's messages are few, and this keeps both engines on plain
    ORM queries."""
    window = offset + limit
    total = (
        await OutboxMessage.filter(lead_id=lead_id).count()
        + await InboundMessage.filter(lead_id=lead_id).count()
    )
    sent = await OutboxMessage.filter(lead_id=lead_id).order_by("-created_at", "-id").limit(window)
    received = (
        await InboundMessage.filter(lead_id=lead_id).order_by("-received_at", "-id").limit(window)
    )
    merged = [present_outbound(m) for m in sent] + [present_inbound(m) for m in received]
    merged.sort(key=lambda m: (m.created_at, m.direction, int(m.id.split("-")[1])), reverse=True)
    return merged[offset:window], total


# ---- sending ----------------------------------------------------------------------------------


async def opted_out(lead_id: int) -> set[Channel]:
    """The channels whose latest consent entry is a withdrawal."""
    return {
        channel
        for channel in Channel
        if (await channel_consent([lead_id], channel)).get(lead_id) is False
    }


async def choose_channel(lead: Lead, requested: Channel | None) -> Channel:
    """The requested channel, or: the one the person last wrote on, else Telegram when they
    have a chat, else SMS — skipping channels they opted out of while another one is open."""
    if requested is not None:
        return requested
    last = (
        await InboundMessage.filter(lead_id=lead.id)
        .order_by("-received_at", "-id")
        .first()
        .values_list("channel", flat=True)
    )
    order = dict.fromkeys([*([Channel(last)] if last else []), Channel.TELEGRAM, Channel.SMS])
    reachable = [c for c in order if outbox.address_of(lead, c) is not None]
    if not reachable:
        why = "this person has no phone number and no Telegram chat"
        raise MessageRefused(why, "channel", "no_address")
    closed = await opted_out(lead.id)
    return next((c for c in reachable if c not in closed), reachable[0])


async def check_sendable(lead: Lead, channel: Channel, body: str) -> None:
    """The checks of `outbox.enqueue`, plus the opt-out, each with a reason code."""
    if outbox.address_of(lead, channel) is None:
        what = "phone number" if channel == Channel.SMS else "Telegram chat"
        raise MessageRefused(f"this person has no {what}", "channel", "no_address", 422, channel)
    if not body.strip():
        raise MessageRefused("a message cannot be empty", "body", "empty")
    if len(body) > _LIMITS[channel]:
        why = f"{len(body)} characters; at most {_LIMITS[channel]} fit in one {channel} message"
        raise MessageRefused(why, "body", "too_long", 422, channel)
    if channel in await opted_out(lead.id):
        why = f"this person opted out of {channel} messages; sending START opts them in again"
        raise MessageRefused(why, "channel", "opted_out", 409, channel)


async def send_reply(
    lead: Lead,
    actor: Actor,
    *,
    body: str,
    channel: Channel | None = None,
    client_id: UUID | None = None,
    lookalikes: bool = False,
) -> tuple[OutboxMessage, bool]:
    """Queue a staff member's message to a person; (row, False) when this client_id was
    already used for this person. `lookalikes` (SMS only) puts e for ê and the like, as the
    author chose, so the message stays in the cheaper GSM alphabet."""
    # Scoped by person: a client_id reused for someone else is a new message, never a leak.
    key = f"reply:{lead.id}:{client_id or uuid4()}"
    if client_id is not None and (existing := await OutboxMessage.get_or_none(idempotency_key=key)):
        return existing, False
    chosen = await choose_channel(lead, channel)
    if lookalikes and chosen == Channel.SMS:
        body = to_gsm_lookalikes(body)
    await check_sendable(lead, chosen, body)
    row, created = await outbox.enqueue(
        lead, chosen, body, kind=MessageKind.REPLY, idempotency_key=key, author_id=actor.user_id
    )
    if created:
        await touch_conversation(lead.id, chosen, body, outbox.now(), inbound=False)
    return row, created


def outbox_id(raw: str) -> int:
    """`out-12` (or plain `12`) → 12. An inbound id cannot be resent: 409 says why."""
    if raw.startswith("in-") and raw[3:].isdigit():
        why = "only a message we sent can be sent again"
        raise MessageRefused(why, "message_id", "inbound", 409)
    digits = raw.removeprefix("out-")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 10 or int(digits) >= 2**31:
        raise NotFound(f"no message with id {raw}", field="message_id")
    return int(digits)


async def resend(actor: Actor, raw_id: str) -> tuple[OutboxMessage, bool]:
    """Send again a message whose outcome is unknown or failed, as a new row (same kind,
    campaign and channel); the same message resent twice gives back the first resend."""
    row_id = outbox_id(raw_id)
    original = await OutboxMessage.get_or_none(id=row_id)
    if original is None:
        raise NotFound(f"no message with id {raw_id}", field="message_id")
    try:
        lead = await get_visible_lead(actor, original.lead_id)  # type: ignore[attr-defined]
    except NotFound:
        raise NotFound(f"no message with id {raw_id}", field="message_id") from None
    key = f"resend:{original.id}"
    if existing := await OutboxMessage.get_or_none(idempotency_key=key):
        return existing, False
    if original.status not in RESENDABLE:
        why = f"this message is {original.status}; only an unknown or failed one can be resent"
        raise MessageRefused(why, "message_id", "not_resendable", 409)
    channel = Channel(original.channel)
    await check_sendable(lead, channel, original.body)
    row, created = await outbox.enqueue(
        lead,
        channel,
        original.body,
        kind=MessageKind(original.kind),
        idempotency_key=key,
        language=original.language,
        campaign_id=original.campaign_id,
        author_id=actor.user_id,
    )
    if created:
        await touch_conversation(lead.id, channel, original.body, outbox.now(), inbound=False)
        await audit.record(
            actor,
            "message.resend",
            entity="outbox_message",
            entity_id=row.id,
            lead_id=lead.id,
            changes={"resends": original.id, "previous_status": original.status},
        )
    return row, created


def segment_report(body: str) -> SegmentsOut:
    """What an SMS body costs, and what it would cost with look-alike letters (opt-in)."""
    info = count_segments(body)
    lookalike = None
    if info.replacements:
        replaced = to_gsm_lookalikes(body)
        lookalike = Lookalike(body=replaced, **count_segments(replaced).to_dict())
    return SegmentsOut(
        **info.to_dict(),
        max_characters=MAX_BODY_CHARACTERS,
        too_long=len(body) > MAX_BODY_CHARACTERS,
        lookalike=lookalike,
    )


# ---- the inbox --------------------------------------------------------------------------------


@dataclass
class ConversationFilters:
    unread: bool | None = None
    assigned_to: str | None = None  # "me", "none" or a user id
    channel: Channel | None = None  # the thread's last channel


def visible_conversations(actor: Actor) -> QuerySet[Conversation]:
    if actor.sees_everything or actor.role == Role.MARKETING:
        return Conversation.all()
    return Conversation.filter(lead_id__in=Subquery(visible_leads(actor).values("id")))


async def list_conversations(
    actor: Actor, f: ConversationFilters, *, limit: int, offset: int
) -> tuple[list[ConversationOut], int]:
    """Threads newest first, as far as this actor may see the people in them."""
    qs = visible_conversations(actor)
    if f.unread is not None:
        qs = qs.filter(unread__gt=0) if f.unread else qs.filter(unread=0)
    if f.assigned_to == "me":
        qs = qs.filter(assigned_to_id=actor.user_id)
    elif f.assigned_to == "none":
        qs = qs.filter(assigned_to_id__isnull=True)
    elif f.assigned_to is not None:
        qs = qs.filter(assigned_to_id=int(f.assigned_to))
    if f.channel is not None:
        qs = qs.filter(last_channel=f.channel)
    total = await qs.count()
    rows = await qs.order_by("-last_message_at", "-id").offset(offset).limit(limit)
    leads = {lead.id: lead for lead in await Lead.filter(id__in=[r.lead_id for r in rows])}  # type: ignore[attr-defined]
    return [present_conversation(r, leads[r.lead_id]) for r in rows], total  # type: ignore[attr-defined]


def present_conversation(c: Conversation, lead: Lead) -> ConversationOut:
    return ConversationOut(
        lead_id=lead.id,
        name=" ".join(p for p in (lead.first_name, lead.last_name) if p),
        first_name=lead.first_name,
        last_name=lead.last_name,
        language=lead.language,
        last_message_at=c.last_message_at,
        last_inbound_at=c.last_inbound_at,
        last_channel=c.last_channel,
        preview=c.preview,
        unread=c.unread,
        assigned_to_id=c.assigned_to_id,  # type: ignore[attr-defined]
    )


async def get_conversation(actor: Actor, lead_id: int) -> tuple[Conversation, Lead]:
    lead = await get_visible_lead(actor, lead_id)
    conversation = await Conversation.get_or_none(lead_id=lead.id)
    if conversation is None:
        raise NotFound(f"no conversation with person {lead_id} yet", field="lead_id")
    return conversation, lead


async def mark_read(lead_id: int, *, seen_at: datetime) -> None:
    """Clear the unread count of what had arrived by `seen_at` (a later message stays)."""
    await Conversation.filter(
        Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lte=seen_at), lead_id=lead_id
    ).update(unread=0)


async def assign(actor: Actor, lead_id: int, user_id: int | None) -> tuple[Conversation, Lead]:
    """Give the thread to a staff member who answers people (or to nobody). An agent must be
    able to see the person, or the thread would vanish from their inbox."""
    conversation, lead = await get_conversation(actor, lead_id)
    if user_id is not None:
        user = await User.get_or_none(id=user_id, is_active=True, role__in=RESPONDERS)
        if user is None:
            raise MessageRefused(
                f"no active admin, coordinator or agent with id {user_id}", "user_id", "not_staff"
            )
        if not await visible_leads(actor_for_user(user)).filter(id=lead.id).exists():
            raise MessageRefused(
                f"user {user_id} cannot see this person; assign the person to them first",
                "user_id",
                "cannot_see",
            )
    previous = conversation.assigned_to_id  # type: ignore[attr-defined]
    if previous != user_id:
        await Conversation.filter(id=conversation.id).update(assigned_to_id=user_id)
        conversation.assigned_to_id = user_id  # type: ignore[attr-defined]
        await audit.record(
            actor,
            "conversation.assign",
            entity="conversation",
            entity_id=conversation.id,
            lead_id=lead.id,
            changes={"assigned_to_id": {"from": previous, "to": user_id}},
        )
    return conversation, lead


# ---- the person's timeline --------------------------------------------------------------------


def _snippet(body: str) -> str:
    text = " ".join(body.split())
    return text if len(text) <= 80 else text[:79] + "…"


_TIMELINE_DATA = {
    "direction",
    "channel",
    "status",
    "body",
    "kind",
    "provider",
    "campaign_id",
    "author_id",
    "error_code",
}


async def timeline_messages(lead: Lead, actor: Actor) -> list[TimelineItem]:
    """`message_in` and `message_out` entries of a person's timeline, with the same fields as
    the messages list."""
    messages = [present_outbound(m) for m in await OutboxMessage.filter(lead_id=lead.id)]
    messages += [present_inbound(m) for m in await InboundMessage.filter(lead_id=lead.id)]
    return [
        TimelineItem(
            type=f"message_{m.direction}",
            at=m.created_at,
            id=int(m.id.split("-")[1]),
            summary=f"{m.channel} {'→' if m.direction == 'out' else '←'} ({m.status}) "
            + _snippet(m.body),
            data=m.model_dump(mode="json", include=_TIMELINE_DATA),
        )
        for m in messages
    ]


async def waiting_threads(actor: Actor, limit: int) -> tuple[list[ConversationOut], int]:
    """The threads with unread messages, for the field app's Today page."""
    return await list_conversations(actor, ConversationFilters(unread=True), limit=limit, offset=0)


def register_timeline() -> None:
    """Add the messages to every person's timeline and the waiting threads to the field app's
    Today (idempotent; called when the API is set up, since `crm` never imports `channels`)."""
    register_source(timeline_messages)
    register_waiting_source(waiting_threads)
