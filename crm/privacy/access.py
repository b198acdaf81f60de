"""Access and portability (GDPR Art. 15 and 20): everything the CRM holds about one person, as
one JSON document a DPO can hand over.

Nothing is listed by hand: the rows are found by walking every relation to `Lead` from the ORM's
own registry (as the merge does), plus the plain lead-id columns the merge knows of, so a table
added later is in the answer without code here (a test fails if one is missed). Secrets are
never in it: the person's rows hold none (tokens, keys and password hashes belong to staff and
partner accounts)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crm.audit import service as audit
from crm.auth.actor import Actor
from crm.errors import NotFound
from crm.people.merge import (
    PLAIN_LEAD_COLUMNS,
    jsonable,
    lead_relations,
    model_named,
    no_such_person,
)
from crm.people.models import Lead

FORMAT = "passerelle.person-data/1"


def _rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: jsonable(value) for key, value in row.items()} for row in rows]


async def person_data(actor: Actor, lead_id: int) -> dict[str, Any]:
    """The person's record and every row about them, table by table; audited."""
    lead = await Lead.get_or_none(id=lead_id)
    if lead is None:
        raise NotFound(await no_such_person(lead_id), field="lead_id")
    tables: dict[str, list[dict[str, Any]]] = {}
    for relation in lead_relations():
        rows = await relation.model.filter(**{relation.column: lead_id}).order_by("id").values()
        tables.setdefault(relation.table, []).extend(_rows(rows))
    for (model_name, column), _rule in PLAIN_LEAD_COLUMNS.items():
        model = model_named(model_name)
        rows = await model.filter(**{column: lead_id}).order_by("id").values()
        table = model._meta.db_table
        seen = {row.get("id") for row in tables.get(table, [])}
        tables.setdefault(table, []).extend(r for r in _rows(rows) if r.get("id") not in seen)
    person = (await Lead.filter(id=lead_id).values())[0]
    await audit.record(
        actor,
        "privacy.access",
        entity="lead",
        entity_id=lead_id,
        lead_id=lead_id,
        changes={"tables": {name: len(rows) for name, rows in tables.items() if rows}},
    )
    return {
        "format": FORMAT,
        "generated_at": datetime.now(UTC).isoformat(),
        "person": _rows([person])[0],
        "records": {name: rows for name, rows in sorted(tables.items()) if rows},
    }
