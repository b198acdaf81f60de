from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from crm.enums import Role


class User(Model):
    # A person who signs in: staff (admin, coordinator, marketing, agent) or a partner's user.

    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)
    password_hash = fields.CharField(max_length=255, null=True)
    role = fields.CharEnumField(Role, max_length=20)
    first_name = fields.CharField(max_length=100, default="")
    last_name = fields.CharField(max_length=100, default="")
    # Languages the person speaks with prospects (agents), and the UI language they prefer.
    languages: fields.Field[list[str]] = fields.JSONField(default=list)
    ui_language = fields.CharField(max_length=2, default="fr")
    organisation = fields.ForeignKeyField(
        "crm.PartnerOrganisation", related_name="users", null=True, on_delete=fields.RESTRICT
    )
    is_active = fields.BooleanField(default=True)
    # Exporting people's data to files is a permission of its own (admins always have it).
    can_export = fields.BooleanField(default=False, db_default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_login_at = fields.DatetimeField(null=True)

    class Meta:
        table = "app_user"

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.email


class TokenKind(StrEnum):
    STAFF = "staff"
    PARTNER = "partner"


class ApiToken(Model):
    # A bearer secret. Only its SHA-256 is stored; the secret is shown once at creation.

    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(TokenKind, max_length=10)
    name = fields.CharField(max_length=100, default="")
    prefix = fields.CharField(max_length=16, db_index=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    user = fields.ForeignKeyField(
        "crm.User", related_name="tokens", null=True, on_delete=fields.CASCADE
    )
    organisation = fields.ForeignKeyField(
        "crm.PartnerOrganisation", related_name="api_keys", null=True, on_delete=fields.CASCADE
    )
    created_by = fields.ForeignKeyField(
        "crm.User", related_name="tokens_created", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_token"


class LoginThrottle(Model):
    # Failed sign-ins counted per key, shared by every web process through the database:
    # "account:<email>" locks one account, "address:<ip>" slows one source. A success on an
    # account clears its key.

    key = fields.CharField(max_length=300, primary_key=True)
    failures = fields.IntField(default=0)
    window_started_at = fields.DatetimeField()
    last_failure_at = fields.DatetimeField(null=True)
    locked_until = fields.DatetimeField(null=True)

    class Meta:
        table = "login_throttle"
