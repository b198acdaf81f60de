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
    created_by = fields.ForeignKeyField(
        "crm.User", related_name="referrals_created", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "referral"
        unique_together = (("sender", "external_ref"),)
        indexes = (("status", "created_at"),)


class ReferralStatusChange(Model):
    id = fields.IntField(primary_key=True)
    referral = fields.ForeignKeyField(
        "crm.Referral", related_name="history", on_delete=fields.CASCADE
    )
    status = fields.CharEnumField(ReferralStatus, max_length=20)
    reason = fields.CharField(max_length=500, null=True)
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
