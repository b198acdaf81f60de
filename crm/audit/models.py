from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class AuditEntry(Model):
    # Who did what to which record, and when. Plain ids (no foreign keys) so that entries
    # outlive merges, erasure and the removal of users.

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField(auto_now_add=True)
    actor_user_id = fields.IntField(null=True)
    actor_organisation_id = fields.IntField(null=True)
    actor_label = fields.CharField(max_length=200)
    action = fields.CharField(max_length=60)
    entity = fields.CharField(max_length=40)
    entity_id = fields.IntField(null=True)
    lead_id = fields.IntField(null=True, db_index=True)
    changes: fields.Field[dict | None] = fields.JSONField(null=True)

    class Meta:
        table = "audit_entry"
        indexes = (("entity", "entity_id"),)
