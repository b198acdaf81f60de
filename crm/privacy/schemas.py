"""Shapes of the privacy API: rights requests, erasure, objection and retention."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crm.people.models import ConsentPurpose
from crm.privacy.models import RequestChannel, RequestKind, RequestStatus

Requester = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Notes = Annotated[str, StringConstraints(max_length=5000)]
LeadRef = Annotated[int, Field(ge=1, le=2**31 - 1)]

_STRICT = ConfigDict(extra="forbid")

# The purposes an objection to marketing withdraws unless the caller names some.
MARKETING_PURPOSES: tuple[ConsentPurpose, ...] = (
    ConsentPurpose.SMS,
    ConsentPurpose.TELEGRAM,
    ConsentPurpose.EMAIL,
)


class RightsRequestIn(BaseModel):
    """A request received from a person (or someone acting for them)."""

    model_config = _STRICT
    kind: RequestKind
    received_via: RequestChannel
    lead_id: LeadRef | None = Field(None, description="the person, once found in the CRM")
    received_at: datetime | None = Field(None, description="default: now")
    requester: Requester | None = Field(None, description="who asked, when not the person themself")
    identity_checked: bool = False
    notes: Notes | None = None


class RightsRequestUpdate(BaseModel):
    """Link the person, record the identity check or add notes while the request is open."""

    model_config = _STRICT
    lead_id: LeadRef | None = None
    identity_checked: bool | None = None
    notes: Notes | None = None


class RequestExtension(BaseModel):
    """Art. 12(3): the deadline may move by up to two further months, with the reason told to
    the person within the first month."""

    model_config = _STRICT
    due_on: date
    reason: Reason


class RequestClosing(BaseModel):
    model_config = _STRICT
    status: Literal[RequestStatus.DONE, RequestStatus.REFUSED]
    outcome: Reason


class RightsRequestOut(BaseModel):
    id: int
    lead_id: int | None
    kind: RequestKind
    status: RequestStatus
    received_via: RequestChannel
    received_at: datetime
    requester: str | None
    identity_checked: bool
    due_on: date
    overdue: bool
    extended_reason: str | None
    notes: str | None
    outcome: str | None
    handled_by_id: int | None
    closed_at: datetime | None
    reminded_on: date | None
    created_at: datetime


class ErasureIn(BaseModel):
    model_config = _STRICT
    request_id: LeadRef | None = Field(None, description="the erasure request this answers")


class ErasureOut(BaseModel):
    lead_id: int
    erased_at: datetime
    rows: dict[str, int]
    cancelled_messages: int
    partners_told: int
    request_id: int | None


class ObjectionIn(BaseModel):
    model_config = _STRICT
    purposes: list[ConsentPurpose] = Field(
        default_factory=lambda: list(MARKETING_PURPOSES), min_length=1, max_length=10
    )
    request_id: LeadRef | None = None


class ObjectionOut(BaseModel):
    lead_id: int
    withdrawn: list[ConsentPurpose]
    cancelled_messages: int
    request_id: int | None


class KeepIn(BaseModel):
    """Keep a person flagged for inactivity until a date, with the reason (e.g. a loan still
    being repaid, a coaching pause)."""

    model_config = _STRICT
    until: date
    reason: Reason


class FlaggedPerson(BaseModel):
    lead_id: int
    flagged_at: datetime
    last_activity_at: datetime | None
    anonymise_on: date
    stage: str
