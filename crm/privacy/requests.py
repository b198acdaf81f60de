"""The register of rights requests and its deadlines (GDPR Art. 12(3)): an answer is due one
month after the request was received, extendable by two further months with a reason. The
worker reminds the people answering them (audit entry and log) when a request comes within
PRIVACY_REQUEST_REMINDER_DAYS of its deadline, and every day once it is overdue."""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from crm.audit import service as audit
from crm.auth.actor import SYSTEM, Actor
from crm.config import settings
from crm.errors import Conflict, InvalidInput, NotFound
from crm.people.merge import no_such_person
from crm.people.models import Lead
from crm.privacy.models import RequestStatus, RightsRequest
from crm.privacy.schemas import (
    RequestClosing,
    RequestExtension,
    RightsRequestIn,
    RightsRequestOut,
    RightsRequestUpdate,
)

log = logging.getLogger("passerelle.privacy")

OPEN_STATUSES = (RequestStatus.OPEN, RequestStatus.EXTENDED)
MAX_EXTENSION_MONTHS = 2
Listing = Literal["open", "overdue", "due_soon", "closed", "all"]


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it has none (31 Jan + 1 month
    is 28/29 Feb): how a period "of one month" is counted (Regulation 1182/71, Art. 3)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def local_day(moment: datetime) -> date:
    return moment.astimezone(settings.tz).date()


def today(now: datetime | None = None) -> date:
    return local_day(now or datetime.now(UTC))


def first_deadline(request: RightsRequest) -> date:
    return add_months(local_day(request.received_at), 1)


def latest_deadline(request: RightsRequest) -> date:
    return add_months(local_day(request.received_at), 1 + MAX_EXTENSION_MONTHS)


def present(request: RightsRequest, on: date | None = None) -> RightsRequestOut:
    on = on or today()
    is_open = request.status in OPEN_STATUSES
    return RightsRequestOut(
        id=request.id,
        lead_id=request.lead_id,  # type: ignore[attr-defined]
        kind=request.kind,
        status=request.status,
        received_via=request.received_via,
        received_at=request.received_at,
        requester=request.requester,
        identity_checked=request.identity_checked,
        due_on=request.due_on,
        overdue=is_open and request.due_on < on,
        extended_reason=request.extended_reason,
        notes=request.notes,
        outcome=request.outcome,
        handled_by_id=request.handled_by_id,  # type: ignore[attr-defined]
        closed_at=request.closed_at,
        reminded_on=request.reminded_on,
        created_at=request.created_at,
    )


async def _check_lead(lead_id: int) -> None:
    if not await Lead.exists(id=lead_id):
        raise InvalidInput(await no_such_person(lead_id), field="lead_id")


async def create_request(actor: Actor, data: RightsRequestIn) -> RightsRequest:
    """Record a request as received; its deadline is one month from receipt."""
    now = datetime.now(UTC)
    received = data.received_at or now
    if received.tzinfo is None:
        received = received.replace(tzinfo=settings.tz)
    if received > now:
        raise InvalidInput("a request cannot be received in the future", field="received_at")
    if data.lead_id is not None:
        await _check_lead(data.lead_id)
    request = await RightsRequest.create(
        lead_id=data.lead_id,
        kind=data.kind,
        received_via=data.received_via,
        received_at=received,
        requester=data.requester or None,
        identity_checked=data.identity_checked,
        notes=data.notes or None,
        due_on=add_months(local_day(received), 1),
        created_by_id=actor.user_id,
        handled_by_id=actor.user_id,
    )
    await audit.record(
        actor,
        "privacy.request",
        entity="rights_request",
        entity_id=request.id,
        lead_id=data.lead_id,
        changes={"kind": data.kind, "received_via": data.received_via, "due_on": request.due_on},
    )
    return request


async def get_request(request_id: int) -> RightsRequest:
    request = await RightsRequest.get_or_none(id=request_id)
    if request is None:
        raise NotFound(f"there is no request #{request_id}", field="request_id")
    return request


def listed(listing: Listing, *, on: date, lead_id: int | None = None) -> QuerySet[RightsRequest]:
    query = RightsRequest.all()
    if lead_id is not None:
        query = query.filter(lead_id=lead_id)
    if listing == "open":
        query = query.filter(status__in=OPEN_STATUSES)
    elif listing == "overdue":
        query = query.filter(status__in=OPEN_STATUSES, due_on__lt=on)
    elif listing == "due_soon":
        soon = date.fromordinal(on.toordinal() + settings.PRIVACY_REQUEST_REMINDER_DAYS)
        query = query.filter(status__in=OPEN_STATUSES, due_on__lte=soon)
    elif listing == "closed":
        query = query.filter(status__in=(RequestStatus.DONE, RequestStatus.REFUSED))
    if listing == "closed":
        return query.order_by("-closed_at", "-id")
    return query.order_by("due_on", "id")


async def list_requests(
    listing: Listing, *, lead_id: int | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[RightsRequest], int]:
    query = listed(listing, on=today(), lead_id=lead_id)
    return await query.offset(offset).limit(limit), await query.count()


def _open(request: RightsRequest) -> None:
    if request.status not in OPEN_STATUSES:
        raise Conflict(f"request #{request.id} is closed ({request.status})")


async def update_request(actor: Actor, request_id: int, data: RightsRequestUpdate) -> RightsRequest:
    request = await get_request(request_id)
    _open(request)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("lead_id") is not None:
        await _check_lead(changes["lead_id"])
    for name, value in changes.items():
        setattr(request, name, value)
    request.handled_by_id = actor.user_id  # type: ignore[attr-defined]
    await request.save()
    await audit.record(
        actor,
        "privacy.request_update",
        entity="rights_request",
        entity_id=request.id,
        lead_id=request.lead_id,  # type: ignore[attr-defined]
        changes={k: v for k, v in changes.items() if k != "notes"},
    )
    return request


async def extend_request(actor: Actor, request_id: int, data: RequestExtension) -> RightsRequest:
    """Move the deadline, at most two months after the first one, with the reason."""
    request = await get_request(request_id)
    _open(request)
    limit = latest_deadline(request)
    if data.due_on <= request.due_on:
        raise InvalidInput(f"the new deadline must be after {request.due_on}", field="due_on")
    if data.due_on > limit:
        raise InvalidInput(
            f"a deadline can be extended by two months at most: {limit} at the latest",
            field="due_on",
        )
    before = request.due_on
    request.due_on, request.extended_reason = data.due_on, data.reason
    request.status = RequestStatus.EXTENDED
    request.handled_by_id = actor.user_id  # type: ignore[attr-defined]
    await request.save()
    await audit.record(
        actor,
        "privacy.request_extend",
        entity="rights_request",
        entity_id=request.id,
        lead_id=request.lead_id,  # type: ignore[attr-defined]
        changes={"from": before, "to": data.due_on},
    )
    return request


async def close_request(
    actor: Actor, request_id: int, data: RequestClosing, *, now: datetime | None = None
) -> RightsRequest:
    """Done (what was done) or refused (why: e.g. identity not confirmed, a legal obligation to
    keep the data); the person must be told either way."""
    now = now or datetime.now(UTC)
    async with in_transaction():
        request = await RightsRequest.select_for_update().get_or_none(id=request_id)
        if request is None:
            raise NotFound(f"there is no request #{request_id}", field="request_id")
        _open(request)
        request.status, request.outcome, request.closed_at = data.status, data.outcome, now
        request.handled_by_id = actor.user_id  # type: ignore[attr-defined]
        await request.save()
        await audit.record(
            actor,
            "privacy.request_close",
            entity="rights_request",
            entity_id=request.id,
            lead_id=request.lead_id,  # type: ignore[attr-defined]
            changes={"status": data.status, "on_time": local_day(now) <= request.due_on},
        )
    return request


async def answered(
    actor: Actor, request_id: int | None, *, lead_id: int, kind: str, outcome: str
) -> RightsRequest | None:
    """Close the request an action (erasure, objection) answers, after checking it is open, of
    that kind and about this person (or not yet linked to anyone). Called inside the action's
    transaction, so a wrong id changes nothing."""
    if request_id is None:
        return None
    request = await get_request(request_id)
    _open(request)
    if request.lead_id not in (None, lead_id):  # type: ignore[attr-defined]
        raise InvalidInput(f"request #{request_id} is about another person", field="request_id")
    if request.kind != kind:
        raise InvalidInput(f"request #{request_id} is a {request.kind} request", field="request_id")
    request.lead_id = lead_id  # type: ignore[attr-defined]
    await request.save(update_fields=["lead_id"])
    closing = RequestClosing(status=RequestStatus.DONE, outcome=outcome)
    return await close_request(actor, request_id, closing)


@dataclass
class DueSummary:
    overdue: int
    due_soon: int  # within PRIVACY_REQUEST_REMINDER_DAYS, not overdue


async def due_summary(on: date | None = None) -> DueSummary:
    on = on or today()
    overdue = await listed("overdue", on=on).count()
    return DueSummary(overdue=overdue, due_soon=await listed("due_soon", on=on).count() - overdue)


async def remind_due(now: datetime | None = None) -> int:
    """Remind once a day of each open request due within the reminder window or overdue: a
    conditional update claims the day's reminder, so several workers remind once."""
    on = today(now)
    reminded = 0
    for request in await listed("due_soon", on=on):
        claimed = await RightsRequest.filter(
            Q(reminded_on__isnull=True) | Q(reminded_on__lt=on), id=request.id
        ).update(reminded_on=on)
        if not claimed:
            continue
        reminded += 1
        overdue = request.due_on < on
        log.warning(
            "rights request #%s (%s) is %s %s",
            request.id,
            request.kind,
            "overdue since" if overdue else "due on",
            request.due_on,
        )
        await audit.record(
            SYSTEM,
            "privacy.request_reminder",
            entity="rights_request",
            entity_id=request.id,
            lead_id=request.lead_id,  # type: ignore[attr-defined]
            changes={"due_on": request.due_on, "overdue": overdue},
        )
    return reminded
