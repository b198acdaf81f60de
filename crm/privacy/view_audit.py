"""Who looked at a person, and when: every view of one person's record (the person page, the
API, the timeline, the messages, the field app, the partner portal) writes one audit entry,
`lead.view`, with the way it was seen. Lists of many people are not per-person views."""

from __future__ import annotations

from typing import Literal

from crm.audit import service as audit
from crm.auth.actor import Actor

VIEW_ACTION = "lead.view"
View = Literal[
    "page", "api", "timeline", "messages", "field", "partner_portal", "inbox", "referral"
]


async def record_view(actor: Actor, lead_id: int, view: View) -> None:
    """One insert: the actor, the person and the view (`changes.view`); `at` is the time."""
    await audit.record(
        actor,
        VIEW_ACTION,
        entity="lead",
        entity_id=lead_id,
        lead_id=lead_id,
        changes={"view": view},
    )
