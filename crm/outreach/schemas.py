from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from crm.enums import Language
from crm.geo import Region
from crm.outreach.models import EventKind, InteractionChannel, InteractionKind, Interest
from crm.schemas import LocalDatetime

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Place = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
PostcodeIn = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10)]
Text = Annotated[str, StringConstraints(max_length=5000)]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
# Normalised and checked by the service (upper case, no accents, not a reserved word, unused).
KeywordIn = Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)]


class EventFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ends_at: LocalDatetime | None = None
    place: Place | None = None
    postcode: PostcodeIn | None = None
    language: Language | None = None
    partner_id: Id | None = None
    agent_ids: list[Id] | None = Field(None, max_length=50)
    notes: Text | None = None
    keyword: KeywordIn | None = Field(
        None,
        description="the word people text to the SMS number to be attributed to the event "
        "(3-20 letters or digits, stored upper case without accents); made from the title "
        "when not given at creation; null removes it",
    )


class EventCreate(EventFields):
    kind: EventKind
    title: Title
    starts_at: LocalDatetime

    @model_validator(mode="after")
    def _ends_after_start(self) -> EventCreate:
        if self.ends_at and self.ends_at < self.starts_at:
            raise ValueError("ends_at must not be before starts_at")
        return self


class EventUpdate(EventFields):
    kind: EventKind | None = None
    title: Title | None = None
    starts_at: LocalDatetime | None = None


class EventOut(BaseModel):
    id: int
    kind: EventKind
    title: str
    starts_at: datetime
    ends_at: datetime | None
    place: str | None
    postcode: str | None
    region: Region | None
    language: Language | None
    partner_id: int | None
    agent_ids: list[int]
    notes: str | None = None
    keyword: str | None = None
    telegram_link: str | None
    created_at: datetime


class InteractionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: InteractionKind
    channel: InteractionChannel
    occurred_at: LocalDatetime | None = Field(None, description="defaults to now")
    notes: Text | None = None
    client_id: UUID | None = Field(
        None, description="made by the device; the same client_id twice is stored once"
    )
    event_id: Id | None = None
    interest: Interest | None = Field(None, description="how keen the person seemed")


class InteractionOut(BaseModel):
    id: int
    lead_id: int
    kind: InteractionKind
    channel: InteractionChannel
    occurred_at: datetime
    notes: str | None = None
    client_id: UUID | None
    event_id: int | None
    interest: Interest | None = None
    author_id: int | None
    created_at: datetime


class RegistrationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lead_id: Id


class RegistrationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attended: bool | None = Field(description="null sets it back to unknown")


class RegistrationOut(BaseModel):
    id: int
    event_id: int
    lead_id: int
    registered_at: datetime
    registered_by: int | None = Field(description="the id of the staff member who registered")
    attended: bool | None


class RegistrationListItem(RegistrationOut):
    first_name: str
    last_name: str | None
    phone: str | None
