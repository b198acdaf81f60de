"""The record of processing activities (GDPR Art. 30(1)), generated, never written by hand: the
purposes and legal bases from `crm.privacy.purposes`, the categories of data from the models
themselves, the partner organisations from the database, the processors from the configured
channels, the retention periods from the settings and the security measures from what the code
does and the configuration says. Downloads (JSON, XLSX) are audited.

Every section is a list of flat rows with fixed keys (`COLUMNS`), so the JSON and the
spreadsheet hold the same content, one sheet per section."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

from openpyxl import Workbook

from crm.audit import service as audit
from crm.auth.actor import Actor
from crm.auth.models import ApiToken
from crm.config import settings
from crm.enums import Role
from crm.people.merge import PLAIN_LEAD_COLUMNS, lead_relations, model_named
from crm.people.models import Lead
from crm.privacy import purposes as declared
from crm.privacy import register_config as configured
from crm.privacy.purposes import N_
from crm.privacy.register_config import Translate, same
from crm.referrals.models import PartnerOrganisation
from crm.transfer.cells import safe_cell

FORMAT = "passerelle.art30-register/1"
JSON_MEDIA_TYPE = "application/json"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("json", "xlsx")
UNCATEGORISED = "uncategorised"

# The keys of every row of every section (and the columns of its sheet), in order.
COLUMNS: dict[str, tuple[str, ...]] = {
    "controller": ("name", "dpo_contact", "format", "generated_at"),
    "purposes": (
        "code",
        "name",
        "description",
        "legal_basis",
        "legal_basis_article",
        "legal_basis_name",
        "basis_reason",
        "special_category_basis",
        "special_category_article",
        "special_category_reason",
        "consent_purposes",
        "data_subjects",
        "data_categories",
        "recipients",
        "retention",
    ),
    "data_subjects": ("code", "name"),
    "data_categories": ("code", "name", "special", "lead_fields", "tables"),
    "recipients": ("code", "name"),
    "staff_roles": ("role", "sees"),
    "partners": ("name", "kind", "active", "api_key", "webhook"),
    "processors": ("code", "name", "service", "data", "location", "outside_eu", "safeguard"),
    "retention": ("code", "data", "rule", "settings"),
    "security_measures": ("code", "name", "detail"),
    "to_complete": ("code", "text"),
}
SECTIONS = tuple(COLUMNS)


async def build_register(translate: Translate | None = None) -> dict[str, Any]:
    """The Art. 30 record as a dict: `format`, `generated_at` and one list of rows per section
    of `COLUMNS` (`controller` is one row). Texts go through `translate` (English without)."""
    t = translate or same
    generated_at = datetime.now(UTC).isoformat()
    return {
        "format": FORMAT,
        "generated_at": generated_at,
        "controller": [
            {
                "name": settings.ORGANISATION_NAME,
                "dpo_contact": settings.DPO_CONTACT,
                "format": FORMAT,
                "generated_at": generated_at,
            }
        ],
        "purposes": [_purpose(p, t) for p in declared.PURPOSES],
        "data_subjects": [
            {"code": code, "name": t(name)} for code, name in declared.DATA_SUBJECTS.items()
        ],
        "data_categories": data_categories(t),
        "recipients": [
            {"code": code, "name": t(name)} for code, name in declared.RECIPIENTS.items()
        ],
        "staff_roles": [
            {"role": role.value, "sees": t(declared.ROLE_ACCESS[role])} for role in Role
        ],
        "partners": await partners(),
        "processors": configured.processors(t),
        "retention": configured.retention(t),
        "security_measures": configured.security_measures(t),
        "to_complete": configured.to_complete(t),
    }


def _purpose(p: declared.Purpose, t: Translate) -> dict[str, Any]:
    article, basis_name = declared.BASES[p.basis]
    special = declared.BASES[p.special_category_basis] if p.special_category_basis else None
    return {
        "code": p.code,
        "name": t(p.name),
        "description": t(p.description),
        "legal_basis": p.basis.value,
        "legal_basis_article": t(article),
        "legal_basis_name": t(basis_name),
        "basis_reason": t(p.basis_reason),
        "special_category_basis": p.special_category_basis.value
        if p.special_category_basis
        else None,
        "special_category_article": t(special[0]) if special else None,
        "special_category_reason": t(p.special_category_reason)
        if p.special_category_reason
        else None,
        "consent_purposes": [c.value for c in p.consent_purposes],
        "data_subjects": list(p.data_subjects),
        "data_categories": list(p.data_categories),
        "recipients": list(p.recipients),
        "retention": list(p.retention),
    }


# --- categories of data, from the models ---------------------------------------------------------


def lead_fields() -> list[str]:
    """Every stored field of a person's record (foreign keys as their `_id` column)."""
    return list(Lead._meta.fields_db_projection)


def lead_tables() -> list[str]:
    """Every table holding rows about a person: the ORM's relations to Lead and the plain
    lead-id columns the merge knows of."""
    tables = {relation.table for relation in lead_relations()}
    tables |= {model_named(name)._meta.db_table for name, _ in PLAIN_LEAD_COLUMNS}
    return sorted(tables)


def data_categories(t: Translate = same) -> list[dict[str, Any]]:
    """The categories of data with the fields of the person's record and the tables in each
    (the tables about a person, found from the models, then the staff's and the stories'); a
    field or table about a person not declared in `purposes` lands in an `uncategorised` row."""
    field_category = {f: c for c, names in declared.LEAD_FIELDS.items() for f in names}
    fields: dict[str, list[str]] = {}
    for name in lead_fields():
        fields.setdefault(field_category.get(name, UNCATEGORISED), []).append(name)
    tables: dict[str, list[str]] = {}
    for table in lead_tables():
        tables.setdefault(declared.LEAD_TABLES.get(table, UNCATEGORISED), []).append(table)
    for table, code in declared.OTHER_TABLES.items():
        tables.setdefault(code, []).append(table)
    names = dict(declared.DATA_CATEGORIES)
    if UNCATEGORISED in fields or UNCATEGORISED in tables:
        names[UNCATEGORISED] = N_("Not categorised yet")
    return [
        {
            "code": code,
            "name": t(name),
            "special": code in declared.SPECIAL_CATEGORIES,
            "lead_fields": fields.get(code, []),
            "tables": tables.get(code, []),
        }
        for code, name in names.items()
    ]


# --- recipients ----------------------------------------------------------------------------------


async def partners() -> list[dict[str, Any]]:
    """The partner organisations that receive people's data: name, kind, and whether their
    systems are connected (a live API key, an active webhook). Nothing about people."""
    now = datetime.now(UTC)
    keyed = set(
        await ApiToken.filter(organisation_id__not_isnull=True, revoked_at__isnull=True)
        .exclude(expires_at__lte=now)
        .values_list("organisation_id", flat=True)
    )
    rows = await PartnerOrganisation.all().order_by("name", "id")
    return [
        {
            "name": p.name,
            "kind": p.kind.value,
            "active": p.active,
            "api_key": p.id in keyed,
            "webhook": bool(p.webhook_url) and p.webhook_disabled_at is None,
        }
        for p in rows
    ]


# --- files ---------------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    # Lists and the settings of a retention row in one cell; text that looks like a formula is
    # escaped as in every export.
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value)
    elif isinstance(value, dict):
        value = "; ".join(f"{k}={v}" for k, v in value.items())
    return safe_cell(value)


def to_xlsx(register: dict[str, Any]) -> bytes:
    """One sheet per section, the row keys as the header."""
    workbook = Workbook(write_only=True)
    for section in SECTIONS:
        sheet = workbook.create_sheet(title=section)
        sheet.append(list(COLUMNS[section]))
        for row in register[section]:
            sheet.append([_cell(row[key]) for key in COLUMNS[section]])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def to_json(register: dict[str, Any]) -> bytes:
    return json.dumps(register, ensure_ascii=False, indent=2).encode("utf-8")


def filename(fmt: str) -> str:
    """`passerelle-register-2026-11-23.json` (the date in the organisation's time zone)."""
    return f"passerelle-register-{datetime.now(settings.tz):%Y-%m-%d}.{fmt}"


async def export_register(
    actor: Actor, fmt: str, *, via: str, translate: Translate | None = None
) -> tuple[bytes, str, str]:
    """The register as a file: (content, file name, media type). Audited
    (`privacy.register_export`, with the format and where it was taken from)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown register format {fmt!r}")
    register = await build_register(translate)
    if fmt == "xlsx":
        content, media_type = to_xlsx(register), XLSX_MEDIA_TYPE
    else:
        content, media_type = to_json(register), JSON_MEDIA_TYPE
    await audit.record(
        actor,
        "privacy.register_export",
        entity="privacy_register",
        entity_id=None,
        changes={"format": fmt, "via": via},
    )
    return content, filename(fmt), media_type
