"""Vocabularies shared by several domains (values are part of the API contract)."""

from enum import StrEnum


class Language(StrEnum):
    FR = "fr"
    NL = "nl"
    DE = "de"


UI_LANGUAGES = ("fr", "nl", "de", "en")


class Role(StrEnum):
    ADMIN = "admin"
    COORDINATOR = "coordinator"
    MARKETING = "marketing"
    AGENT = "agent"
    PARTNER = "partner"


STAFF_ROLES = (Role.ADMIN, Role.COORDINATOR, Role.MARKETING, Role.AGENT)
