"""Erasure (GDPR Art. 17) by anonymisation: the person's identifiers, message bodies, notes and
every free text about them are removed from every table; the facts the statistics need (stage
and milestones, dates, postcode and region, gender, birth year, funder fields, segments, the
consent ledger's purposes and answers, message counts and statuses) stay, so the funnel and the
funders' figures do not change when someone is erased.

What happens to each text field of each table holding rows about a person is written below,
field by field: `ERASED` (the value it gets) or `KEPT` (not personal, or needed for the
statistics). A test walks every model related to `Lead` (as the access answer and the merge do)
and fails when a text field is in neither, so a table or column added later needs a decision.

The erasure itself is audited (`privacy.erase`, with the rows touched per table and no personal
data), queued messages to the person are cancelled, every purpose of the consent ledger is
withdrawn, and the partner organisations that received the person in a referral are told
through their webhook (`referral.erased`, GDPR Art. 19) so they can erase their copy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.models import Model
from tortoise.transactions import in_transaction

from crm.audit import service as audit
from crm.auth.actor import Actor
from crm.errors import Conflict, NotFound
from crm.people.merge import model_named, no_such_person
from crm.people.models import ConsentPurpose, ConsentSource, Lead
from crm.people.schemas import ConsentIn
from crm.people.service import record_consent
from crm.privacy import requests
from crm.referrals import webhooks
from crm.referrals.models import Referral

ERASED_MARK = {"erased": True}

# Per model: field -> the value it takes when its person is erased.
ERASED: dict[str, dict[str, Any]] = {
    "Lead": {
        "first_name": "",
        "last_name": None,
        "phone": None,
        "email": None,
        "telegram_chat_id": None,
        "notes": None,
        "project_summary": None,
        "lost_reason": None,  # free text ("moved to Liège with …"); the stage stays
        "keep_reason": None,
        "keep_until": None,
        "inactive_flagged_at": None,
        "follow_up_on": None,
    },
    "Interaction": {"notes": None},
    "OutboxMessage": {
        "address": "",
        "body": "",
        "provider_id": None,  # the provider's log of the message is theirs to erase
        "error_reason": None,
        "reply_markup": None,
    },
    # provider_id is unique and required: it becomes "erased:<id>" (see _erase_inbound).
    "InboundMessage": {"address": "", "body": ""},
    "Conversation": {"preview": ""},
    "Referral": {"external_ref": None, "notes": None, "status_reason": None},
    "ReferralStatusChange": {"reason": None},
    "LeadStageChange": {"reason": None},
    "RightsRequest": {"requester": None, "notes": None},
    "AuditEntry": {"changes": ERASED_MARK},
    "LeadMerge": {"merged_snapshot": ERASED_MARK, "kept_snapshot": ERASED_MARK, "reason": None},
    "ImportRowReport": {"values": None, "message": None},
    "SyncReceipt": {"result": {}},
    "WebhookDelivery": {},  # the payload's free texts, see _erase_webhook_payloads
}

# Per model: the text fields that stay, because they hold no personal data (codes, statuses,
# staff labels) or are the statistics.
KEPT: dict[str, tuple[str, ...]] = {
    "Lead": (
        "language",
        "postcode",
        "region",
        "gender",
        "stage",
        "source",
        "employment_status",
        "background",
        "project_sector",
    ),
    "Interaction": ("kind", "channel", "interest", "client_id"),
    "OutboxMessage": (
        "channel",
        "language",
        "encoding",
        "kind",
        "status",
        "provider",
        "error_code",
        "leased_by",
        "idempotency_key",  # built from ids: reply:<lead>:<uuid>, campaign runs, …
        "variant",
    ),
    "InboundMessage": ("channel", "provider_id", "kind"),
    "Conversation": ("last_channel",),
    "Referral": (
        "purpose",
        "consent_method",
        "consent_text_version",
        "status",
        "reason_code",
        "outcome",
    ),
    "ReferralStatusChange": ("status", "reason_code", "outcome", "by_label", "organisation_label"),
    "LeadStageChange": ("from_stage", "to_stage"),
    "ConsentRecord": ("purpose", "source", "method", "text_version"),
    "LeadSegment": ("code",),
    "RightsRequest": ("kind", "status", "received_via", "extended_reason", "outcome"),
    "AuditEntry": ("actor_label", "action", "entity"),
    "LeadMerge": ("choices", "moved", "by_label"),
    "ImportRowReport": ("outcome", "field"),
    "SyncReceipt": ("client_id", "kind"),
    "WebhookDelivery": ("event", "delivery_id", "status", "leased_by", "last_error", "payload"),
    "EventRegistration": (),
    "DuplicateDismissal": (),
}

# How each model's rows are found for one person: a lead-id column, or through a referral.
_BY_LEAD = {
    "Interaction": "lead_id",
    "OutboxMessage": "lead_id",
    "InboundMessage": "lead_id",
    "Conversation": "lead_id",
    "Referral": "lead_id",
    "LeadStageChange": "lead_id",
    "RightsRequest": "lead_id",
    "AuditEntry": "lead_id",
    "ImportRowReport": "lead_id",
    "SyncReceipt": "lead_id",
}
_BY_REFERRAL = {"ReferralStatusChange": "referral_id", "WebhookDelivery": "referral_id"}

_CANCELLABLE = ("queued", "paused")
FINISHED_IMPORTS = ("done", "failed", "cancelled")
ERASED_CODE = "erased"


@dataclass
class ErasureReport:
    lead_id: int
    erased_at: datetime
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows anonymised
    cancelled_messages: int = 0
    partners_told: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "lead_id": self.lead_id,
            "erased_at": self.erased_at.isoformat(),
            "rows": self.rows,
            "cancelled_messages": self.cancelled_messages,
            "partners_told": self.partners_told,
        }


def _count(report: ErasureReport, model: type[Model], n: int) -> None:
    if n:
        table = model._meta.db_table
        report.rows[table] = report.rows.get(table, 0) + n


async def erase_person(
    actor: Actor,
    lead_id: int,
    *,
    reason: str,
    request_id: int | None = None,
    now: datetime | None = None,
) -> ErasureReport:
    """Anonymise one person everywhere, in one transaction; audited. `reason` is a code
    ("request", "retention"), never free text. Erasing twice is refused (409)."""
    now = now or datetime.now(UTC)
    async with in_transaction():
        lead = await Lead.select_for_update().get_or_none(id=lead_id)
        if lead is None:
            raise NotFound(await no_such_person(lead_id), field="lead_id")
        if lead.anonymised_at is not None:
            raise Conflict(f"person #{lead_id} was already erased on {lead.anonymised_at:%Y-%m-%d}")
        report = ErasureReport(lead_id=lead_id, erased_at=now)
        await requests.answered(
            actor, request_id, lead_id=lead_id, kind="erasure", outcome="erased (anonymised)"
        )

        # Nothing more leaves for them: queued messages cancelled, every purpose withdrawn
        # (the ledger keeps that it was; an erased person is never written to again).
        outbox = model_named("OutboxMessage")
        report.cancelled_messages = await outbox.filter(
            lead_id=lead_id, status__in=_CANCELLABLE
        ).update(status="skipped", error_code=ERASED_CODE, status_at=now)
        for purpose in ConsentPurpose:
            await record_consent(
                lead,
                ConsentIn(purpose=purpose, granted=False, method="erasure"),
                source=ConsentSource.WEB,
                actor=actor,
                at=now,
            )

        referrals = await Referral.filter(lead_id=lead_id).order_by("id")

        await _erase_inbound(lead_id, report)
        await _erase_imported_files(lead_id, report)
        for name, column in _BY_LEAD.items():
            model = model_named(name)
            _count(report, model, await model.filter(**{column: lead_id}).update(**ERASED[name]))
        referral_ids = [r.id for r in referrals]
        if referral_ids:
            for name, column in _BY_REFERRAL.items():
                model = model_named(name)
                if ERASED[name]:
                    n = await model.filter(**{f"{column}__in": referral_ids}).update(**ERASED[name])
                    _count(report, model, n)
            await _erase_webhook_payloads(referral_ids, report)
        report.partners_told = await _tell_partners(referrals, now)
        merge = model_named("LeadMerge")
        for column in ("kept_lead_id", "merged_lead_id"):
            n = await merge.filter(**{column: lead_id}).update(**ERASED["LeadMerge"])
            _count(report, merge, n)

        await Lead.filter(id=lead_id).update(**ERASED["Lead"], anonymised_at=now)
        _count(report, Lead, 1)
        # Written after the audit trail was scrubbed, so this entry keeps what it says.
        await audit.record(
            actor,
            "privacy.erase",
            entity="lead",
            entity_id=lead_id,
            lead_id=lead_id,
            changes={
                "reason": reason,
                "request_id": request_id,
                "rows": report.rows,
                "cancelled_messages": report.cancelled_messages,
                "partners_told": report.partners_told,
            },
        )
    return report


async def _erase_inbound(lead_id: int, report: ErasureReport) -> None:
    inbound = model_named("InboundMessage")
    rows = await inbound.filter(lead_id=lead_id).only("id")
    for row in rows:
        await inbound.filter(id=row.id).update(
            **ERASED["InboundMessage"], provider_id=f"erased:{row.id}"
        )
    _count(report, inbound, len(rows))


async def _erase_imported_files(lead_id: int, report: ErasureReport) -> None:
    # An uploaded file holds the person's row among others: a finished import's file is
    # deleted (its counts and report stay); one still running keeps it until it ends.
    job_ids = (
        await model_named("ImportRowReport")
        .filter(lead_id=lead_id)
        .values_list("job_id", flat=True)
    )
    if job_ids:
        jobs = model_named("ImportJob")
        n = await jobs.filter(id__in=list(set(job_ids)), status__in=FINISHED_IMPORTS).update(
            content=b""
        )
        _count(report, jobs, n)


async def _erase_webhook_payloads(referral_ids: list[int], report: ErasureReport) -> None:
    # The payloads hold no identifier, but a status reason or the partner's own reference may
    # name the person: those two are emptied in every delivery about the person's referrals.
    delivery = model_named("WebhookDelivery")
    rows = await delivery.filter(referral_id__in=referral_ids).only("id", "payload")
    for row in rows:
        payload = dict(row.payload or {})
        if isinstance(payload.get("referral"), dict):
            payload["referral"] = {
                **payload["referral"],
                "external_ref": None,
                "status_reason": None,
            }
        await delivery.filter(id=row.id).update(payload=payload)
    _count(report, delivery, len(rows))


async def _tell_partners(referrals: list[Referral], now: datetime) -> int:
    # The notice carries the referral's id and the partner's own reference (how they find
    # their copy), not the status reason.
    told = 0
    for referral in referrals:
        referral.status_reason = None
        sides = (referral.sender_id, referral.receiver_id)  # type: ignore[attr-defined]
        told += len(await webhooks.enqueue(referral, webhooks.ERASED, organisations=sides, at=now))
    return told
