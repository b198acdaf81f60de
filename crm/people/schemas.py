from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

from crm.enums import Language
from crm.geo import Region
from crm.people.models import (
    Background,
    ConsentPurpose,
    EmploymentStatus,
    Gender,
    LeadSource,
    Stage,
)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
OptName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=5000)]
PhoneIn = Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)]
PostcodeIn = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10)]
Version = Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)]
Method = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
SegmentCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
# Jobs a person's business created or kept (funders' reports); stored in a small integer.
Jobs = Annotated[int, Field(ge=0, le=10_000)]

_STRICT = ConfigDict(extra="forbid")


class ConsentIn(BaseModel):
    model_config = _STRICT
    purpose: ConsentPurpose
    granted: bool
    method: Method = "verbal"
    text_version: Version | None = None


class ConsentOut(BaseModel):
    purpose: ConsentPurpose
    granted: bool
    source: str
    method: str
    text_version: str | None
    recorded_at: datetime


class LeadFields(BaseModel):
    """Fields a caller may set on a person (all optional, for create and update)."""

    model_config = _STRICT
    last_name: OptName | None = None
    phone: PhoneIn | None = Field(None, description="Belgian national formats accepted")
    email: EmailStr | None = Field(None, max_length=254)
    telegram_chat_id: int | None = Field(None, ge=-(2**53), le=2**53)
    language: Language | None = None
    postcode: PostcodeIn | None = None
    gender: Gender | None = None
    birth_year: int | None = Field(None, ge=1900, le=2100)
    employment_status: EmploymentStatus | None = None
    background: Background | None = Field(
        None,
        description="self-declared and optional, asked only where a funder requires it; "
        "never used to select an audience",
    )
    social_assistance: bool | None = Field(
        None, description="receives the integration income (or equivalent) from a CPAS/OCMW/ÖSHZ"
    )
    jobs_created: Jobs | None = Field(
        None, description="jobs the person's business created, the owner's included"
    )
    jobs_kept: Jobs | None = Field(None, description="jobs the person's business kept")
    segments: list[SegmentCode] | None = Field(None, max_length=30)
    event_id: int | None = Field(None, ge=1, le=2**31 - 1)
    referring_partner_id: int | None = Field(None, ge=1, le=2**31 - 1)
    assigned_agent_id: int | None = Field(None, ge=1, le=2**31 - 1)
    project_summary: Text | None = None
    project_sector: Short | None = None
    notes: Text | None = None
    follow_up_on: date | None = None

    @field_validator("birth_year")
    @classmethod
    def _not_future(cls, value: int | None) -> int | None:
        if value is not None and value > date.today().year:
            raise ValueError("is in the future")
        return value


class LeadCreate(LeadFields):
    first_name: Name
    stage: Stage = Stage.REACHED
    lost_reason: Short | None = None
    source: LeadSource | None = Field(
        None, description="defaults to `event` when event_id is given, else `walk_in`"
    )
    consents: list[ConsentIn] = Field(default_factory=list, max_length=10)


class LeadUpdate(LeadFields):
    first_name: Name | None = None
    stage: Stage | None = None
    lost_reason: Short | None = None


class LeadOut(BaseModel):
    id: int
    first_name: str
    last_name: str | None
    phone: str | None
    email: str | None
    telegram_chat_id: int | None
    language: Language | None
    postcode: str | None
    region: Region | None
    employment_service: str | None
    gender: Gender | None
    birth_year: int | None
    employment_status: EmploymentStatus | None
    background: Background | None
    social_assistance: bool | None
    jobs_created: int | None
    jobs_kept: int | None
    segments: list[str]
    stage: Stage
    lost_reason: str | None
    source: LeadSource
    event_id: int | None
    referring_partner_id: int | None
    assigned_agent_id: int | None
    reached_by_id: int | None
    project_summary: str | None = None
    project_sector: str | None
    notes: str | None = None
    follow_up_on: date | None
    last_contacted_at: datetime | None
    consents: list[ConsentOut]
    created_at: datetime
    updated_at: datetime


class LeadCreated(LeadOut):
    duplicate: bool = False


class TimelineItem(BaseModel):
    type: str
    at: datetime
    id: int
    summary: str
    data: dict
