"""Helpers shared by the export tests: people rows, callers with the export permission, and
readers that open the files the way a spreadsheet or a script would."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from openpyxl import load_workbook

from crm.auth.models import User
from crm.enums import Role
from crm.people.models import ConsentPurpose, ConsentRecord, ConsentSource, Lead, LeadSegment

EXPORT = "/api/v1/exports"


async def person(first_name: str = "Amina", **fields: Any) -> Lead:
    segments = fields.pop("segments", [])
    fields.setdefault("source", "walk_in")
    lead = await Lead.create(first_name=first_name, **fields)
    for code in segments:
        await LeadSegment.create(lead=lead, code=code)
    return lead


async def consent(lead: Lead, purpose: str, granted: bool, at: datetime) -> None:
    await ConsentRecord.create(
        lead=lead,
        purpose=ConsentPurpose(purpose),
        granted=granted,
        source=ConsentSource.EVENT,
        method="checkbox",
        recorded_at=at,
    )


async def exporter(make_caller, role: Role = Role.COORDINATOR, **fields: Any):
    """A caller of `role` who was granted the export permission."""
    caller = await make_caller(role, **fields)
    await User.filter(id=caller.user.id).update(can_export=True)
    return caller


def read_csv(content: bytes, delimiter: str = ";") -> list[dict[str, str]]:
    assert content.startswith(b"\xef\xbb\xbf"), "no UTF-8 BOM"
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig")), delimiter=delimiter))


def read_xlsx(content: bytes) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of cells (openpyxl Cell objects, to check their types)."""
    sheet = load_workbook(io.BytesIO(content)).active
    rows = list(sheet.iter_rows())
    return [c.value for c in rows[0]], [list(r) for r in rows[1:]]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
