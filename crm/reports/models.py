from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Indicator(StrEnum):
    # What an organisation promises its funders, computed from the records for a period.
    PEOPLE_REACHED = "people_reached"
    LEADS = "leads"
    INFO_SESSIONS = "info_sessions"
    APPLICATIONS = "applications"
    COACHED = "coached"
    FINANCED = "financed"
    JOBS_CREATED = "jobs_created"
    JOBS_KEPT = "jobs_kept"
    REFERRALS_RECEIVED = "referrals_received"
    REFERRALS_SENT = "referrals_sent"
    SHARE_WOMEN = "share_women"
    SHARE_UNDER_26 = "share_under_26"
    SHARE_OVER_50 = "share_over_50"
    SHARE_MIGRANT_BACKGROUND = "share_migrant_background"
    SHARE_SOCIAL_ASSISTANCE = "share_social_assistance"


class IndicatorTarget(Model):
    # "Results announced": what the organisation promised a funder for a period. The achieved
    # side is never stored; it is computed from the records whenever it is read.

    id = fields.IntField(primary_key=True)
    indicator = fields.CharEnumField(Indicator, max_length=40)
    # The funder's programme or convention, e.g. "FSE+ 2026 — Wallonie" ("" when there is one).
    programme = fields.CharField(max_length=120, default="", db_default="")
    period_start = fields.DateField()
    period_end = fields.DateField()  # inclusive
    # A count, or a percentage (0–100) for the share_* indicators.
    target = fields.DecimalField(max_digits=12, decimal_places=2)
    notes = fields.CharField(max_length=500, null=True)
    created_by = fields.ForeignKeyField(
        "crm.User", related_name="indicator_targets", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "indicator_target"
        unique_together = (("indicator", "programme", "period_start", "period_end"),)
