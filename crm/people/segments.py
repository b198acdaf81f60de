"""The segment vocabulary: built-in codes with their labels, extended by the organisation."""

from __future__ import annotations

from crm.errors import InvalidInput
from crm.people.models import Segment

BUILTIN_SEGMENTS: dict[str, dict[str, str]] = {
    "women": {"fr": "Femmes", "nl": "Vrouwen", "de": "Frauen", "en": "Women"},
    "single_parent": {
        "fr": "Parent solo",
        "nl": "Alleenstaande ouder",
        "de": "Alleinerziehend",
        "en": "Single parent",
    },
    "youth": {
        "fr": "Jeunes (-26 ans)",
        "nl": "Jongeren (-26)",
        "de": "Jugendliche (-26)",
        "en": "Youth (under 26)",
    },
    "over_50": {"fr": "Plus de 50 ans", "nl": "50-plussers", "de": "Über 50", "en": "Over 50"},
    "migrant_background": {
        "fr": "Issu·e de l'immigration",
        "nl": "Migratieachtergrond",
        "de": "Migrationshintergrund",
        "en": "Migrant background",
    },
    "low_education": {
        "fr": "Peu diplômé·e",
        "nl": "Laaggeschoold",
        "de": "Geringe Schulbildung",
        "en": "Low education",
    },
    "social_assistance": {
        "fr": "Revenu d'intégration (CPAS)",
        "nl": "Leefloon (OCMW)",
        "de": "Eingliederungseinkommen (ÖSHZ)",
        "en": "Social assistance",
    },
    "job_seeker": {
        "fr": "Demandeur·se d'emploi",
        "nl": "Werkzoekende",
        "de": "Arbeitsuchend",
        "en": "Job seeker",
    },
    "no_income": {
        "fr": "Sans revenu",
        "nl": "Geen inkomen",
        "de": "Ohne Einkommen",
        "en": "No income",
    },
}


async def vocabulary() -> dict[str, dict[str, str]]:
    custom = {s.code: s.labels for s in await Segment.all()}
    return {**BUILTIN_SEGMENTS, **custom}


async def validate_segments(codes: list[str], field: str = "segments") -> list[str]:
    cleaned = sorted({c.strip() for c in codes if c.strip()})
    unknown = [c for c in cleaned if c not in BUILTIN_SEGMENTS]
    if unknown:
        known_custom = set(await Segment.filter(code__in=unknown).values_list("code", flat=True))
        unknown = [c for c in unknown if c not in known_custom]
    if unknown:
        raise InvalidInput(f"unknown segment(s): {', '.join(unknown)}", field=field)
    return cleaned


def label(code: str, language: str, vocab: dict[str, dict[str, str]]) -> str:
    labels = vocab.get(code, {})
    return labels.get(language) or labels.get("en") or code
