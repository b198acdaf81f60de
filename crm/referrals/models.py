from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from crm.geo import Region


class PartnerKind(StrEnum):
    CPAS = "cpas"
    EMPLOYMENT_SERVICE = "employment_service"
    NGO = "ngo"
    MUNICIPALITY = "municipality"
    SUPPORT_STRUCTURE = "support_structure"
    OTHER = "other"


class PartnerOrganisation(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200, unique=True)
    kind = fields.CharEnumField(PartnerKind, max_length=30)
    region = fields.CharEnumField(Region, max_length=20, null=True)
    postcode = fields.CharField(max_length=4, null=True)
    contact_email = fields.CharField(max_length=254, null=True)
    contact_phone = fields.CharField(max_length=20, null=True)
    # Short public code for Telegram deep links (`/start ref_<code>`).
    referral_code = fields.CharField(max_length=32, unique=True)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    # Feedback to the partner's system: signed webhooks on every change of its referrals.
    webhook_url = fields.CharField(max_length=500, null=True)
    # Kept in clear: it signs every delivery (HMAC-SHA256), as the partner verifies with it.
    webhook_secret = fields.CharField(max_length=100, null=True)
    # Consecutive failed attempts; the endpoint is disabled past WEBHOOK_DISABLE_AFTER_FAILURES.
    webhook_failures = fields.IntField(default=0, db_default=0)
    webhook_disabled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "partner_organisation"


class ReferralStatus(StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REDIRECTED = "redirected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class ReferralPurpose(StrEnum):
    BUSINESS_CREATION = "business_creation"
    MICROCREDIT = "microcredit"
    COACHING = "coaching"
    SOCIAL_SUPPORT = "social_support"
    EMPLOYMENT = "employment"
    TRAINING = "training"
    OTHER = "other"


class ReferralReason(StrEnum):
    # Why a referral was turned down, cancelled or redirected (coded, for the reports).
    NOT_ELIGIBLE = "not_eligible"
    NO_CAPACITY = "no_capacity"
    COULD_NOT_CONTACT = "could_not_contact"
    OUT_OF_AREA = "out_of_area"
    PERSON_DECLINED = "person_declined"
    OTHER = "other"


class ReferralOutcome(StrEnum):
    # What became of the person, told back to the sender when a referral is completed.
    FINANCED = "financed"
    COACHED = "coached"
    BUSINESS_STARTED = "business_started"
    EMPLOYED = "employed"
    TRAINING = "training"
    SOCIAL_SUPPORT = "social_support"
    NO_FURTHER_ACTION = "no_further_action"
    OTHER = "other"


class Referral(Model):
    # A person sent from one organisation to another. `None` on either side is our organisation.

    id = fields.IntField(primary_key=True)
    external_ref = fields.CharField(max_length=100, null=True)
    sender = fields.ForeignKeyField(
        "crm.PartnerOrganisation",
        related_name="referrals_sent",
        null=True,
        on_delete=fields.RESTRICT,
    )
    receiver = fields.ForeignKeyField(
        "crm.PartnerOrganisation",
        related_name="referrals_received",
        null=True,
        on_delete=fields.RESTRICT,
    )
    lead = fields.ForeignKeyField("crm.Lead", related_name="referrals", on_delete=fields.RESTRICT)
    purpose = fields.CharEnumField(ReferralPurpose, max_length=30)
    notes = fields.TextField(null=True)
    consent_given_at = fields.DatetimeField()
    consent_method = fields.CharField(max_length=40)
    consent_text_version = fields.CharField(max_length=40, null=True)
    status = fields.CharEnumField(ReferralStatus, max_length=20, default=ReferralStatus.REQUESTED)
    status_reason = fields.CharField(max_length=500, null=True)
    reason_code = fields.CharEnumField(ReferralReason, max_length=30, null=True)
    outcome = fields.CharEnumField(ReferralOutcome, max_length=30, null=True)
    # A redirected referral points to the one it came from (the chain reads both ways).
    redirected_from = fields.ForeignKeyField(
        "crm.Referral", related_name="redirects", null=True, on_delete=fields.SET_NULL
    )
    # An unanswered referral expires then (REFERRAL_EXPIRY_DAYS); a reminder goes out before.
    expires_at = fields.DatetimeField(null=True)
    reminded_at = fields.DatetimeField(null=True)
    created_by = fields.ForeignKeyField(
        "crm.User", related_name="referrals_created", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "referral"
        unique_together = (("sender", "external_ref"),)
        indexes = (("status", "created_at"), ("status", "expires_at"))


class ReferralStatusChange(Model):
    id = fields.IntField(primary_key=True)
    referral = fields.ForeignKeyField(
        "crm.Referral", related_name="history", on_delete=fields.CASCADE
    )
    status = fields.CharEnumField(ReferralStatus, max_length=20)
    reason = fields.CharField(max_length=500, null=True)
    reason_code = fields.CharEnumField(ReferralReason, max_length=30, null=True)
    outcome = fields.CharEnumField(ReferralOutcome, max_length=30, null=True)
    # The acting organisation (None: ours), beside the label snapshot below.
    organisation_id = fields.IntField(null=True)
    by_user = fields.ForeignKeyField(
        "crm.User", related_name="referral_changes", null=True, on_delete=fields.SET_NULL
    )
    # Snapshots, so the history still reads right after a user or partner is renamed or removed.
    by_label = fields.CharField(max_length=200)
    organisation_label = fields.CharField(max_length=200)
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "referral_status_change"
        ordering = ["id"]


class WebhookDeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its first or next attempt
    DELIVERED = "delivered"  # the partner answered 2xx
    FAILED = "failed"  # every attempt failed, or the endpoint was disabled meanwhile


class WebhookDelivery(Model):
    # One event for one partner's endpoint, retried with backoff until delivered or failed.
    # Claimed by a worker with a lease, like the outbox, so several workers send it once.

    id = fields.IntField(primary_key=True)
    delivery_id = fields.UUIDField(unique=True)  # the X-Passerelle-Delivery header
    partner = fields.ForeignKeyField(
        "crm.PartnerOrganisation", related_name="webhook_deliveries", on_delete=fields.CASCADE
    )
    event = fields.CharField(max_length=40)  # referral.created, referral.status_changed, …
    referral = fields.ForeignKeyField(
        "crm.Referral", related_name="webhook_deliveries", null=True, on_delete=fields.SET_NULL
    )
    payload: fields.Field[dict] = fields.JSONField()
    status = fields.CharEnumField(
        WebhookDeliveryStatus, max_length=12, default=WebhookDeliveryStatus.PENDING
    )
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    lease_until = fields.DatetimeField(null=True)
    leased_by = fields.CharField(max_length=64, null=True)
    last_status_code = fields.IntField(null=True)
    last_error = fields.CharField(max_length=500, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    delivered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook_delivery"
        indexes = (("status", "next_attempt_at"), ("partner_id", "created_at"))


class WebhookAttempt(Model):
    # The delivery log: every attempt, its answer or error, and how long it took.

    id = fields.IntField(primary_key=True)
    delivery = fields.ForeignKeyField(
        "crm.WebhookDelivery", related_name="attempt_log", on_delete=fields.CASCADE
    )
    at = fields.DatetimeField()
    status_code = fields.IntField(null=True)
    error = fields.CharField(max_length=500, null=True)
    duration_ms = fields.IntField()

    class Meta:
        table = "webhook_attempt"
        ordering = ["id"]
