from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from crm.enums import Language


class Channel(StrEnum):
    SMS = "sms"
    TELEGRAM = "telegram"


class OutboxStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNDELIVERED = "undelivered"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"
    PAUSED = "paused"  # a campaign's row held while the campaign is paused (never claimed)


class MessageKind(StrEnum):
    CAMPAIGN = "campaign"  # held during quiet hours, needs the channel's consent
    REPLY = "reply"  # a staff member answering a person
    AUTO = "auto"  # greetings, acknowledgements and confirmations the product sends itself


class OutboxMessage(Model):
    # Every outbound message is a row here before it leaves; the dispatcher claims rows with a
    # lease and records what the provider said. The campaign id is a plain column: campaigns
    # depend on channels, never the reverse.

    id = fields.IntField(primary_key=True)
    lead = fields.ForeignKeyField("crm.Lead", related_name="outbox", on_delete=fields.RESTRICT)
    channel = fields.CharEnumField(Channel, max_length=10)
    address = fields.CharField(max_length=40)  # E.164 phone or Telegram chat id
    language = fields.CharEnumField(Language, max_length=2, null=True)
    body = fields.TextField()
    segments = fields.IntField(default=1)
    encoding = fields.CharField(max_length=5, default="gsm7")
    kind = fields.CharEnumField(MessageKind, max_length=10)
    status = fields.CharEnumField(OutboxStatus, max_length=12, default=OutboxStatus.QUEUED)
    provider = fields.CharField(max_length=10, null=True)  # twilio, telegram or console
    provider_id = fields.CharField(max_length=64, null=True, unique=True)
    error_code = fields.CharField(max_length=20, null=True)
    error_reason = fields.TextField(null=True)
    attempts = fields.IntField(default=0)
    due_at = fields.DatetimeField()
    lease_until = fields.DatetimeField(null=True)
    leased_by = fields.CharField(max_length=64, null=True)
    claimed_at = fields.DatetimeField(null=True)
    idempotency_key = fields.CharField(max_length=200, unique=True)
    campaign_id = fields.IntField(null=True)
    # Set by campaign runs (plain columns, as campaign_id): the run, the story told, the A/B
    # variant. A person's story history is read from here so nobody gets a story twice.
    run_id = fields.IntField(null=True)
    story_id = fields.IntField(null=True)
    variant = fields.CharField(max_length=8, null=True)
    author = fields.ForeignKeyField(
        "crm.User", related_name="messages_written", null=True, on_delete=fields.SET_NULL
    )
    # Telegram buttons (language choice, contact sharing) as the Bot API expects them.
    reply_markup: fields.Field[dict | None] = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)
    status_at = fields.DatetimeField(null=True)

    class Meta:
        table = "outbox_message"
        indexes = (
            ("status", "channel", "due_at"),
            ("lead_id", "created_at"),
            ("campaign_id", "status"),
            ("run_id", "status"),
        )


class InboundMessage(Model):
    # A message a person sent us. The provider's id is unique, so a webhook delivered twice is
    # stored once. `reply_to` is the last message we sent that person on that channel: a reply
    # to a campaign is attributed through it.

    id = fields.IntField(primary_key=True)
    lead = fields.ForeignKeyField("crm.Lead", related_name="inbound", on_delete=fields.RESTRICT)
    channel = fields.CharEnumField(Channel, max_length=10)
    address = fields.CharField(max_length=40)
    body = fields.TextField()
    provider_id = fields.CharField(max_length=64, unique=True)
    kind = fields.CharField(max_length=20, default="text")  # text, command, contact, button
    reply_to = fields.ForeignKeyField(
        "crm.OutboxMessage", related_name="replies", null=True, on_delete=fields.SET_NULL
    )
    campaign_id = fields.IntField(null=True)
    received_at = fields.DatetimeField()

    class Meta:
        table = "inbound_message"
        indexes = (("lead_id", "received_at"), ("campaign_id", "received_at"))


class Conversation(Model):
    # The inbox state of one person's thread across channels: what staff have not read yet and
    # who answers. The messages themselves stay in the outbox and inbound tables.

    id = fields.IntField(primary_key=True)
    lead = fields.OneToOneField("crm.Lead", related_name="conversation", on_delete=fields.RESTRICT)
    last_message_at = fields.DatetimeField()
    last_inbound_at = fields.DatetimeField(null=True)
    last_channel = fields.CharEnumField(Channel, max_length=10, null=True)
    preview = fields.CharField(max_length=160, default="")
    unread = fields.IntField(default=0)
    assigned_to = fields.ForeignKeyField(
        "crm.User", related_name="conversations", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        table = "conversation"
        indexes = (("last_message_at",), ("assigned_to_id", "last_message_at"))


class TelegramUpdate(Model):
    # Update ids already handled: Telegram redelivers an update it thinks we did not answer.

    update_id = fields.BigIntField(primary_key=True)
    received_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "telegram_update"


class WorkerHeartbeat(Model):
    # Live dispatchers: a provider's rate is shared between the workers seen in the last
    # minute, so that three workers together keep to SMS_RATE_PER_SECOND.

    worker_id = fields.CharField(max_length=64, primary_key=True)
    seen_at = fields.DatetimeField()

    class Meta:
        table = "worker_heartbeat"
