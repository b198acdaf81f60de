from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class SuccessStory(Model):
    # An entrepreneur's story told in campaigns, usable only while their consent is valid.

    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=200)
    entrepreneur_first_name = fields.CharField(max_length=100)
    sector = fields.CharField(max_length=100, null=True)
    town = fields.CharField(max_length=100, null=True)
    texts: fields.Field[dict[str, str]] = fields.JSONField(default=dict)  # {"fr", "nl", "de"}
    segments: fields.Field[list[str]] = fields.JSONField(default=list)
    # Image and testimony consent of the entrepreneur ends on this date.
    consent_expires_at = fields.DateField()
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "success_story"
