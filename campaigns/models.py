from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from crm.enums import Language


class CampaignChannel(StrEnum):
    SMS = "sms"
    TELEGRAM = "telegram"
    PREFERRED = "preferred"  # Telegram when the person has a chat with the bot, else SMS


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class StoryMode(StrEnum):
    NONE = "none"
    FIXED = "fixed"  # the campaign's story_id for everyone
    MATCHED = "matched"  # per person: their language and segments, never a story twice


class Campaign(Model):
    # What to say to whom and when. Messages are Jinja2 texts per language, checked at every
    # save; the schedule is {"at"}, {"cron"} or {"after"} (see campaigns.schedule).

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    goal = fields.TextField(null=True)
    channel = fields.CharEnumField(CampaignChannel, max_length=10)
    audience: fields.Field[dict] = fields.JSONField(default=dict)
    messages: fields.Field[dict[str, str]] = fields.JSONField(default=dict)
    default_language = fields.CharEnumField(Language, max_length=2)
    story_mode = fields.CharEnumField(StoryMode, max_length=10, default=StoryMode.NONE)
    story = fields.ForeignKeyField(
        "crm.SuccessStory", related_name="campaigns", null=True, on_delete=fields.RESTRICT
    )
    # A/B: [{"name": "B", "share": 50, "messages": {...}}]; the rest of the audience gets "A",
    # the campaign's own messages.
    variants: fields.Field[list] = fields.JSONField(default=list)
    schedule: fields.Field[dict | None] = fields.JSONField(null=True)
    status = fields.CharEnumField(CampaignStatus, max_length=10, default=CampaignStatus.DRAFT)
    # When the worker should plan the next run (None: nothing to plan).
    next_run_at = fields.DatetimeField(null=True)
    conversion_days = fields.IntField(default=14)
    created_by = fields.ForeignKeyField(
        "crm.User", related_name="campaigns_created", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    scheduled_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "campaign"
        indexes = (("status", "next_run_at"),)


class RunStatus(StrEnum):
    PENDING = "pending"  # planned, not fanned out yet
    FANNING_OUT = "fanning_out"  # a worker holds the lease and writes the outbox rows
    DONE = "done"  # every person of the audience has a row
    PAUSED = "paused"
    CANCELLED = "cancelled"


class CampaignRun(Model):
    # One firing of a campaign's schedule. Unique per campaign and planned time: two workers
    # (or a trigger fired twice) planning the same run insert one row. The fan-out resumes
    # from `cursor` (the last person id written) after a crash. Its figures are not kept here:
    # every person of the audience gets one outbox row (queued or skipped with the reason), and
    # the results are counted from those rows.

    id = fields.IntField(primary_key=True)
    campaign = fields.ForeignKeyField(
        "crm.Campaign", related_name="runs", on_delete=fields.RESTRICT
    )
    planned_at = fields.DatetimeField()
    # Relative schedules: the day whose anchors this run serves (person met on that day…).
    anchor_date = fields.DateField(null=True)
    status = fields.CharEnumField(RunStatus, max_length=12, default=RunStatus.PENDING)
    cursor = fields.IntField(default=0)
    lease_until = fields.DatetimeField(null=True)
    leased_by = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "campaign_run"
        unique_together = (("campaign", "planned_at"),)
        indexes = (("status", "planned_at"),)
