from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from crm.enums import Language
from crm.geo import Region


class EventKind(StrEnum):
    MARKET_STAND = "market_stand"
    SHOP_VISIT = "shop_visit"
    FREE_COFFEE = "free_coffee"
    INFO_SESSION = "info_session"
    PARTNER_SESSION = "partner_session"
    COMMUNITY_EVENT = "community_event"
    OTHER = "other"


class OutreachEvent(Model):
    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(EventKind, max_length=30)
    title = fields.CharField(max_length=200)
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField(null=True)
    place = fields.CharField(max_length=200, null=True)
    postcode = fields.CharField(max_length=4, null=True)
    region = fields.CharEnumField(Region, max_length=20, null=True)
    language = fields.CharEnumField(Language, max_length=2, null=True)
    partner = fields.ForeignKeyField(
        "crm.PartnerOrganisation", related_name="events", null=True, on_delete=fields.SET_NULL
    )
    agents: fields.ManyToManyRelation = fields.ManyToManyField(
        "crm.User", related_name="events_worked", through="outreach_event_agent"
    )
    notes = fields.TextField(null=True)
    # The word a prospect texts to the SMS number at the stand ("MARCHE12"), upper case. Unique
    # through the index below (SQLite cannot add a UNIQUE column without rebuilding the table).
    keyword = fields.CharField(max_length=20, null=True)
    created_by = fields.ForeignKeyField(
        "crm.User", related_name="events_created", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "outreach_event"
        indexes = (("starts_at",),)
        unique_together = (("keyword",),)


class InteractionKind(StrEnum):
    CONTACT = "contact"  # met in person (market, shop, coffee…)
    CALL = "call"
    MESSAGE = "message"
    MEETING = "meeting"
    INFO_SESSION = "info_session"
    FOLLOW_UP = "follow_up"
    NOTE = "note"


class InteractionChannel(StrEnum):
    IN_PERSON = "in_person"
    PHONE = "phone"
    SMS = "sms"
    TELEGRAM = "telegram"
    EMAIL = "email"
    OTHER = "other"


class Interest(StrEnum):
    # How keen the person seemed when the agent met them.
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Interaction(Model):
    # An append-only log entry of contact with a person. Never updated in place.

    id = fields.IntField(primary_key=True)
    lead = fields.ForeignKeyField(
        "crm.Lead", related_name="interactions", on_delete=fields.RESTRICT
    )
    kind = fields.CharEnumField(InteractionKind, max_length=20)
    channel = fields.CharEnumField(InteractionChannel, max_length=20)
    occurred_at = fields.DatetimeField()
    notes = fields.TextField(null=True)
    interest = fields.CharEnumField(Interest, max_length=10, null=True)
    # Made by the device that logged it, so a retried sync is stored once.
    client_id = fields.UUIDField(null=True, unique=True)
    event = fields.ForeignKeyField(
        "crm.OutreachEvent", related_name="interactions", null=True, on_delete=fields.SET_NULL
    )
    author = fields.ForeignKeyField(
        "crm.User", related_name="interactions", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "interaction"
        indexes = (("lead_id", "occurred_at"),)


class EventRegistration(Model):
    # A person registered for an event (usually an info session): campaigns can write to them
    # relative to the event ("the day before the info session you registered for").

    id = fields.IntField(primary_key=True)
    event = fields.ForeignKeyField(
        "crm.OutreachEvent", related_name="registrations", on_delete=fields.RESTRICT
    )
    lead = fields.ForeignKeyField(
        "crm.Lead", related_name="registrations", on_delete=fields.RESTRICT
    )
    registered_at = fields.DatetimeField(auto_now_add=True)
    registered_by = fields.ForeignKeyField(
        "crm.User", related_name="registrations_made", null=True, on_delete=fields.SET_NULL
    )
    attended = fields.BooleanField(null=True)  # unknown until the event took place

    class Meta:
        table = "event_registration"
        unique_together = (("event", "lead"),)
        indexes = (("lead_id", "event_id"),)


class SyncKind(StrEnum):
    CONTACT = "contact"
    INTERACTION = "interaction"
    UPDATE = "update"


class SyncReceipt(Model):
    # What the field app's sync did with one item the device made (by its client_id): the same
    # item sent again gets this answer back instead of being applied twice. Written in the same
    # transaction as the change itself.

    id = fields.IntField(primary_key=True)
    client_id = fields.UUIDField(unique=True)
    kind = fields.CharEnumField(SyncKind, max_length=20)
    user = fields.ForeignKeyField(
        "crm.User", related_name="sync_receipts", null=True, on_delete=fields.SET_NULL
    )
    lead_id = fields.IntField(null=True)
    result: fields.Field[dict] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "sync_receipt"
