"""Who is acting: a signed-in user or a partner API key. Services take it explicitly."""

from __future__ import annotations

from dataclasses import dataclass

from crm.enums import Role


@dataclass(frozen=True)
class Actor:
    role: Role
    label: str
    user_id: int | None = None
    organisation_id: int | None = None
    organisation_name: str | None = None
    token_id: int | None = None
    ui_language: str = "fr"

    @property
    def is_partner(self) -> bool:
        return self.role is Role.PARTNER

    @property
    def sees_everything(self) -> bool:
        return self.role in (Role.ADMIN, Role.COORDINATOR)

    @property
    def sees_notes(self) -> bool:
        # Marketing works on audiences and messages, never on the free text about a person.
        return self.role in (Role.ADMIN, Role.COORDINATOR, Role.AGENT)

    @property
    def organisation_label(self) -> str:
        # A staff member acts for our own organisation.
        from crm.config import settings

        return self.organisation_name or settings.ORGANISATION_NAME


SYSTEM = Actor(role=Role.ADMIN, label="system")
