"""Objection to marketing (GDPR Art. 21(2) and (3)): honoured at once and without a reason. The
consent ledger records the withdrawal of each purpose (by the person, through staff), and the
campaign messages still waiting for the person are cancelled; replies to what the person writes
are not marketing and still go out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from crm.audit import service as audit
from crm.auth.actor import Actor
from crm.errors import Conflict, NotFound
from crm.people.merge import model_named, no_such_person
from crm.people.models import ConsentPurpose, ConsentSource, Lead
from crm.people.schemas import ConsentIn
from crm.people.service import record_consent
from crm.privacy import requests

OBJECTION_CODE = "objection"


@dataclass
class ObjectionReport:
    lead_id: int
    withdrawn: list[ConsentPurpose]
    cancelled_messages: int


async def object_to_marketing(
    actor: Actor,
    lead_id: int,
    purposes: Sequence[ConsentPurpose],
    *,
    request_id: int | None = None,
    now: datetime | None = None,
) -> ObjectionReport:
    """Withdraw `purposes` in the consent ledger and cancel the queued campaign messages of the
    channels withdrawn; audited; closes the objection request it answers."""
    now = now or datetime.now(UTC)
    chosen = list(dict.fromkeys(purposes))
    async with in_transaction():
        lead = await Lead.select_for_update().get_or_none(id=lead_id)
        if lead is None:
            raise NotFound(await no_such_person(lead_id), field="lead_id")
        if lead.anonymised_at is not None:
            raise Conflict(f"person #{lead_id} was erased: nothing is sent to them any more")
        await requests.answered(
            actor,
            request_id,
            lead_id=lead_id,
            kind="objection",
            outcome="withdrawn: " + ", ".join(p.value for p in chosen),
        )
        for purpose in chosen:
            await record_consent(
                lead,
                ConsentIn(purpose=purpose, granted=False, method=OBJECTION_CODE),
                source=ConsentSource.WEB,
                actor=actor,
                at=now,
            )
        channels = [p.value for p in chosen if p.value in ("sms", "telegram")]
        cancelled = 0
        if channels:
            cancelled = (
                await model_named("OutboxMessage")
                .filter(
                    lead_id=lead_id,
                    kind="campaign",
                    channel__in=channels,
                    status__in=("queued", "paused"),
                )
                .update(status="skipped", error_code=OBJECTION_CODE, status_at=now)
            )
        await audit.record(
            actor,
            "privacy.objection",
            entity="lead",
            entity_id=lead_id,
            lead_id=lead_id,
            changes={
                "purposes": [p.value for p in chosen],
                "cancelled_messages": cancelled,
                "request_id": request_id,
            },
        )
    return ObjectionReport(lead_id=lead_id, withdrawn=chosen, cancelled_messages=cancelled)
