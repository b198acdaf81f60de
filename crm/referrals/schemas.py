from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from crm.enums import Language
from crm.geo import Region
from crm.referrals.models import (
    PartnerKind,
    ReferralOutcome,
    ReferralPurpose,
    ReferralReason,
    ReferralStatus,
)
from crm.schemas import LocalDatetime

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
OptName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
Ref = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Text = Annotated[str, StringConstraints(max_length=5000)]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
_STRICT = ConfigDict(extra="forbid")


class PartnerCreate(BaseModel):
    model_config = _STRICT
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]
    kind: PartnerKind
    postcode: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10)] | None = None
    contact_email: EmailStr | None = None
    contact_phone: Annotated[str, StringConstraints(max_length=40)] | None = None


class PartnerOut(BaseModel):
    id: int
    name: str
    kind: PartnerKind
    region: Region | None
    postcode: str | None
    contact_email: str | None
    contact_phone: str | None
    referral_code: str
    telegram_link: str | None
    active: bool


class ReferralPerson(BaseModel):
    model_config = _STRICT
    first_name: Name
    last_name: OptName | None = None
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = None
    email: EmailStr | None = Field(None, max_length=254)
    language: Language | None = None
    postcode: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10)] | None = None


class ReferralConsent(BaseModel):
    model_config = _STRICT
    given_at: LocalDatetime
    method: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    text_version: Annotated[str, StringConstraints(max_length=40)] | None = None


class ReferralCreate(BaseModel):
    model_config = _STRICT
    external_ref: Ref | None = None
    person: ReferralPerson
    purpose: ReferralPurpose
    notes: Text | None = None
    consent: ReferralConsent | None = Field(
        None, description="required: the person's consent to be referred and their data shared"
    )
    sender_id: Id | None = Field(
        None, description="staff recording a referral a partner made by phone or mail"
    )


class ReferralStatusUpdate(BaseModel):
    model_config = _STRICT
    status: ReferralStatus
    status_reason: Reason | None = Field(
        None, description="free text told to the other organisation"
    )
    reason_code: ReferralReason | None = Field(
        None, description="required to reject; optional when cancelling or redirecting"
    )
    outcome: ReferralOutcome | None = Field(None, description="required to complete")
    redirect_to_partner_id: Id | None = Field(
        None, description="required to redirect: the partner the person is sent on to"
    )


class HistoryOut(BaseModel):
    status: ReferralStatus
    reason: str | None
    reason_code: ReferralReason | None = None
    outcome: ReferralOutcome | None = None
    by: str
    organisation: str
    organisation_id: int | None = Field(None, description="null: our own organisation")
    at: datetime


class ConsentOut(BaseModel):
    given_at: datetime
    method: str
    text_version: str | None


class PersonOut(BaseModel):
    lead_id: int
    first_name: str
    last_name: str | None
    phone: str | None
    email: str | None
    language: Language | None
    postcode: str | None


class RedirectedTo(BaseModel):
    id: int
    receiver_id: int | None
    receiver: str


class ReferralOut(BaseModel):
    id: int
    external_ref: str | None
    sender_id: int | None
    sender: str
    receiver_id: int | None
    receiver: str
    person: PersonOut
    purpose: ReferralPurpose
    notes: str | None
    consent: ConsentOut
    status: ReferralStatus
    status_reason: str | None
    reason_code: ReferralReason | None = None
    outcome: ReferralOutcome | None = None
    redirected_from_id: int | None = None
    redirected_to: RedirectedTo | None = Field(
        None, description="the referral this one was redirected to, if any"
    )
    expires_at: datetime | None = Field(
        None, description="when an unanswered referral expires (null once answered)"
    )
    allowed_moves: list[ReferralStatus] = Field(
        default_factory=list, description="the statuses the caller may move it to now"
    )
    answer_link: str | None = Field(
        None, description="staff only: the receiving partner's signed answer page"
    )
    history: list[HistoryOut]
    created_at: datetime
    updated_at: datetime


# --- partner webhooks ---------------------------------------------------------------------------


class WebhookIn(BaseModel):
    model_config = _STRICT
    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class WebhookCreated(BaseModel):
    url: str
    secret: str = Field(description="signs every delivery; shown only now, keep it safe")
    enabled: bool


class WebhookState(BaseModel):
    url: str | None
    enabled: bool
    disabled_at: datetime | None
    consecutive_failures: int


class WebhookAttemptOut(BaseModel):
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class WebhookDeliveryOut(BaseModel):
    delivery_id: str
    event: str
    referral_id: int | None
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: list[WebhookAttemptOut]
