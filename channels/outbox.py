"""The outbox: every outbound message is a row before it leaves.

`enqueue` is the only way to send anything (campaigns, staff replies, automatic answers). The
dispatcher claims rows with one statement and a lease, and records the outcome with a
statement that only applies while it still holds that lease, so a worker that lost its lease
cannot overwrite what another worker did."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError

from channels.models import Channel, MessageKind, OutboxMessage, OutboxStatus
from channels.sms_segments import MAX_BODY_CHARACTERS, count_segments
from channels.sql import execute, is_postgres
from channels.sql import rows as fetch
from crm.errors import InvalidInput
from crm.people.models import Lead

TELEGRAM_MAX_CHARACTERS = 4096

# Provider statuses in the order a message lives them: a callback may only move a row forward.
STATUS_RANK = {
    OutboxStatus.QUEUED: 0,
    OutboxStatus.SENDING: 1,
    OutboxStatus.UNKNOWN: 1,
    OutboxStatus.SENT: 2,
    OutboxStatus.DELIVERED: 3,
    OutboxStatus.UNDELIVERED: 3,
    OutboxStatus.FAILED: 3,
    OutboxStatus.SKIPPED: 3,
}

_CLAIM_COLUMNS = (
    "id, lead_id, channel, address, body, segments, kind, reply_markup, attempts, "
    "error_code, campaign_id, claimed_at, created_at, idempotency_key, provider"
)


def now() -> datetime:
    return datetime.now(UTC)


def address_of(lead: Lead, channel: Channel) -> str | None:
    if channel == Channel.SMS:
        return lead.phone
    return str(lead.telegram_chat_id) if lead.telegram_chat_id is not None else None


def check_body(channel: Channel, body: str) -> str:
    if not body or not body.strip():
        raise InvalidInput("a message cannot be empty", field="body")
    limit = MAX_BODY_CHARACTERS if channel == Channel.SMS else TELEGRAM_MAX_CHARACTERS
    if len(body) > limit:
        raise InvalidInput(
            f"{len(body)} characters; at most {limit} fit in one {channel} message", field="body"
        )
    return body


async def enqueue(
    lead: Lead,
    channel: Channel,
    body: str,
    *,
    kind: MessageKind,
    idempotency_key: str,
    language: str | None = None,
    campaign_id: int | None = None,
    author_id: int | None = None,
    reply_markup: dict[str, Any] | None = None,
    due_at: datetime | None = None,
) -> tuple[OutboxMessage, bool]:
    """Queue one message; the same idempotency key twice gives back the first row (False)."""
    existing = await OutboxMessage.get_or_none(idempotency_key=idempotency_key)
    if existing:
        return existing, False
    address = address_of(lead, channel)
    if address is None:
        what = "phone number" if channel == Channel.SMS else "Telegram chat"
        raise InvalidInput(f"this person has no {what}", field="channel")
    check_body(channel, body)
    if channel == Channel.SMS:
        info = count_segments(body)
        segments, encoding = info.segments, str(info.encoding)
    else:
        segments, encoding = 1, "text"
    try:
        row = await OutboxMessage.create(
            lead=lead,
            channel=channel,
            address=address,
            language=language or lead.language,
            body=body,
            segments=segments,
            encoding=encoding,
            kind=kind,
            idempotency_key=idempotency_key,
            campaign_id=campaign_id,
            author_id=author_id,
            reply_markup=reply_markup,
            due_at=due_at or now(),
        )
    except IntegrityError:
        # Another request queued the same key a moment ago.
        row = await OutboxMessage.get(idempotency_key=idempotency_key)
        return row, False
    return row, True


# ---- claims and outcomes (raw SQL: one statement each, on both engines) ---------------------


@dataclass
class Claimed:
    id: int
    lead_id: int
    channel: str
    address: str
    body: str
    segments: int
    kind: str
    reply_markup: dict[str, Any] | None
    attempts: int
    error_code: str | None
    campaign_id: int | None
    claimed_at: datetime
    created_at: datetime
    idempotency_key: str
    # Set when the send started (see mark_started); None: the provider never saw this try.
    provider: str | None = None


def _claimed(row: dict[str, Any]) -> Claimed:
    markup = row["reply_markup"]
    if isinstance(markup, str):
        markup = json.loads(markup)
    claimed_at, created_at = _datetime(row["claimed_at"]), _datetime(row["created_at"])
    return Claimed(
        id=row["id"],
        lead_id=row["lead_id"],
        channel=row["channel"],
        address=row["address"],
        body=row["body"],
        segments=row["segments"],
        kind=row["kind"],
        reply_markup=markup,
        attempts=row["attempts"],
        error_code=row["error_code"],
        campaign_id=row["campaign_id"],
        claimed_at=claimed_at,
        created_at=created_at,
        idempotency_key=row["idempotency_key"],
        provider=row["provider"],
    )


def _datetime(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def claim(
    channel: Channel,
    worker_id: str,
    limit: int,
    *,
    lease_seconds: int,
    include_campaigns: bool,
    at: datetime | None = None,
) -> list[Claimed]:
    """Claim up to `limit` due rows of one channel in one statement. On PostgreSQL the inner
    select skips rows another worker is claiming; on SQLite the single UPDATE is atomic."""
    at = at or now()
    lock = " FOR UPDATE SKIP LOCKED" if is_postgres() else ""
    campaign_filter = "" if include_campaigns else f" AND kind <> '{MessageKind.CAMPAIGN}'"
    statement = (
        "UPDATE outbox_message SET status = 'sending', lease_until = $1, leased_by = $2, "
        "claimed_at = $3, attempts = attempts + 1 "
        "WHERE id IN (SELECT id FROM outbox_message WHERE status = 'queued' AND channel = $4 "
        f"AND due_at <= $5{campaign_filter} ORDER BY due_at, id LIMIT $6{lock}) "
        f"RETURNING {_CLAIM_COLUMNS}"
    )
    lease = at + timedelta(seconds=lease_seconds)
    rows = await fetch(statement, [lease, worker_id, at, str(channel), at, limit])
    claimed = [_claimed(r) for r in rows]
    claimed.sort(key=lambda c: c.id)
    return claimed


async def claim_expired(
    channel: Channel, worker_id: str, limit: int, *, lease_seconds: int, at: datetime | None = None
) -> list[Claimed]:
    """Take over rows whose worker died (or hung) while sending them. `claimed_at` keeps the
    first claim's time: the reconciliation looks for the message from then on."""
    at = at or now()
    lock = " FOR UPDATE SKIP LOCKED" if is_postgres() else ""
    statement = (
        "UPDATE outbox_message SET lease_until = $1, leased_by = $2 "
        "WHERE id IN (SELECT id FROM outbox_message WHERE status = 'sending' AND channel = $3 "
        f"AND lease_until < $4 ORDER BY lease_until LIMIT $5{lock}) "
        f"RETURNING {_CLAIM_COLUMNS}"
    )
    lease = at + timedelta(seconds=lease_seconds)
    rows = await fetch(statement, [lease, worker_id, str(channel), at, limit])
    return [_claimed(r) for r in rows]


async def _finish(row_id: int, worker_id: str, assignments: str, params: list[Any]) -> bool:
    n = len(params)
    statement = (
        f"UPDATE outbox_message SET {assignments}, lease_until = NULL "
        f"WHERE id = ${n + 1} AND leased_by = ${n + 2} AND status = 'sending'"
    )
    count = await execute(statement, [*params, row_id, worker_id])
    return bool(count)


async def mark_sent(
    row_id: int, worker_id: str, *, provider: str, provider_id: str, provider_status: str | None
) -> bool:
    at = now()
    status = OutboxStatus.DELIVERED if provider_status == "delivered" else OutboxStatus.SENT
    return await _finish(
        row_id,
        worker_id,
        "status = $1, provider = $2, provider_id = $3, sent_at = $4, status_at = $5, "
        "error_code = NULL, error_reason = NULL",
        [str(status), provider, provider_id, at, at],
    )


async def mark_retry(
    row_id: int, worker_id: str, *, due_at: datetime, code: str | None, reason: str | None
) -> bool:
    return await _finish(
        row_id,
        worker_id,
        "status = 'queued', due_at = $1, error_code = $2, error_reason = $3, leased_by = NULL, "
        "provider = NULL",
        [due_at, code, reason],
    )


async def mark_final(
    row_id: int,
    worker_id: str,
    status: OutboxStatus,
    *,
    provider: str | None,
    code: str | None,
    reason: str | None,
) -> bool:
    """Failed, skipped or unknown: the row will not be sent by the dispatcher again."""
    return await _finish(
        row_id,
        worker_id,
        "status = $1, provider = $2, error_code = $3, error_reason = $4, status_at = $5",
        [str(status), provider, code, reason, now()],
    )


async def release(row_ids: list[int], worker_id: str) -> int:
    """Give back rows this worker claimed but never handed to a provider (it is stopping)."""
    if not row_ids:
        return 0
    marks = ", ".join(f"${i}" for i in range(2, 2 + len(row_ids)))
    statement = (
        "UPDATE outbox_message SET status = 'queued', leased_by = NULL, lease_until = NULL, "
        "provider = NULL, attempts = attempts - 1 "
        f"WHERE leased_by = $1 AND status = 'sending' AND id IN ({marks})"
    )
    count = await execute(statement, [worker_id, *row_ids])
    return count


async def mark_started(row_id: int, worker_id: str, *, provider: str) -> bool:
    """Record that this try reaches the provider now. A row left `sending` without it was
    never handed over and is safe to send again; with it, only the provider can tell. False
    when the worker no longer holds the row: it must not send it."""
    statement = (
        "UPDATE outbox_message SET provider = $1 WHERE id = $2 AND leased_by = $3 "
        "AND status = 'sending'"
    )
    return bool(await execute(statement, [provider, row_id, worker_id]))


async def extend_lease(row_id: int, worker_id: str, *, lease_seconds: int) -> bool:
    """False when the lease was lost (it expired and another worker took the row over): the
    row is that worker's now, and sending it too could send it twice."""
    statement = (
        "UPDATE outbox_message SET lease_until = $1 WHERE id = $2 AND leased_by = $3 "
        "AND status = 'sending'"
    )
    count = await execute(statement, [now() + timedelta(seconds=lease_seconds), row_id, worker_id])
    return bool(count)


async def extend_leases(row_ids: list[int], worker_id: str, *, lease_seconds: int) -> int:
    """Keep the rows a live worker holds in memory (waiting for their turn at the rate or for
    a provider to come back): only a dead worker's rows expire and get reconciled."""
    if not row_ids:
        return 0
    marks = ", ".join(f"${i}" for i in range(3, 3 + len(row_ids)))
    statement = (
        "UPDATE outbox_message SET lease_until = $1 "
        f"WHERE status = 'sending' AND leased_by = $2 AND id IN ({marks})"
    )
    lease = now() + timedelta(seconds=lease_seconds)
    return await execute(statement, [lease, worker_id, *row_ids])


async def apply_provider_status(
    provider_id: str, status: OutboxStatus, *, code: str | None = None, reason: str | None = None
) -> bool:
    """A status callback: move the row forward only (a late `sent` never replaces
    `delivered`). Returns False for an unknown provider id or a backward move."""
    lower = [str(s) for s, rank in STATUS_RANK.items() if rank < STATUS_RANK[status]]
    lower = [s for s in lower if s != OutboxStatus.SKIPPED]
    placeholders = ", ".join(f"${i}" for i in range(5, 5 + len(lower)))
    statement = (
        "UPDATE outbox_message SET status = $1, error_code = COALESCE($2, error_code), "
        "error_reason = COALESCE($3, error_reason), status_at = $4 "
        f"WHERE provider_id = ${5 + len(lower)} AND status IN ({placeholders})"
    )
    count = await execute(statement, [str(status), code, reason, now(), *lower, provider_id])
    return bool(count)
