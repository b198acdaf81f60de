"""The audit trail: every change that matters to a person is written here with who and when."""

from __future__ import annotations

from typing import Any

from crm.audit.models import AuditEntry
from crm.auth.actor import Actor


async def record(
    actor: Actor | None,
    action: str,
    *,
    entity: str,
    entity_id: int | None,
    lead_id: int | None = None,
    changes: dict[str, Any] | None = None,
) -> AuditEntry:
    return await AuditEntry.create(
        actor_user_id=actor.user_id if actor else None,
        actor_organisation_id=actor.organisation_id if actor else None,
        actor_label=actor.label if actor else "system",
        action=action,
        entity=entity,
        entity_id=entity_id,
        lead_id=lead_id,
        changes=_jsonable(changes) if changes else None,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
