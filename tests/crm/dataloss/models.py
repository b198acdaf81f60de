# A two-table app used only to prove the SQLite table-rebuild guard in crm.db.run_migrations.
from tortoise import fields
from tortoise.models import Model


class Household(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=120)

    class Meta:
        table = "household"


class Member(Model):
    id = fields.IntField(primary_key=True)
    household = fields.ForeignKeyField(
        "crm.Household", related_name="members", on_delete=fields.CASCADE
    )
    first_name = fields.CharField(max_length=120)

    class Meta:
        table = "member"
