"""What a field device sends to the sync (crm.outreach.sync): one pydantic model per item type,
told apart by `type`. Strict: an unknown field refuses the item, naming it."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from crm.enums import Language
from crm.outreach.models import InteractionChannel, InteractionKind, Interest
from crm.people import consent_texts
from crm.people.models import ConsentPurpose, Stage
from crm.people.schemas import Name, OptName, PhoneIn, PostcodeIn, SegmentCode, Short, Text
from crm.schemas import LocalDatetime

MAX_ITEMS = 100

Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
STRICT = ConfigDict(extra="forbid")


class PersonIn(BaseModel):
    model_config = STRICT
    first_name: Name
    last_name: OptName | None = None
    phone: PhoneIn | None = None
    language: Language | None = None
    postcode: PostcodeIn | None = None
    segments: list[SegmentCode] | None = Field(None, max_length=30)


class ConsentTick(BaseModel):
    model_config = STRICT
    purpose: ConsentPurpose
    granted: bool


class ContactItem(BaseModel):
    model_config = STRICT
    type: Literal["contact"]
    client_id: UUID
    occurred_at: LocalDatetime | None = None
    event_id: Id | None = None
    lead_id: Id | None = Field(None, description="add to this existing person")
    person: PersonIn
    interest: Interest | None = None
    consents: list[ConsentTick] = Field(default_factory=list, max_length=10)
    consent_text_version: Annotated[str, Field(max_length=40)] | None = None
    notes: Text | None = None

    @model_validator(mode="after")
    def _consent_text_named(self) -> ContactItem:
        if self.consents:
            if not self.consent_text_version:
                raise ValueError("consent_text_version: the consent text shown must be named")
            if not consent_texts.is_known_version(self.consent_text_version):
                raise ValueError(
                    f"consent_text_version: unknown version {self.consent_text_version!r}"
                )
        purposes = [c.purpose for c in self.consents]
        if len(purposes) != len(set(purposes)):
            raise ValueError("consents: a purpose appears twice")
        return self


class _ForAPerson(BaseModel):
    model_config = STRICT
    client_id: UUID
    lead_id: Id | None = None
    lead_client_id: UUID | None = Field(
        None, description="the client_id of the contact item that created the person"
    )

    @model_validator(mode="after")
    def _one_person(self) -> _ForAPerson:
        if (self.lead_id is None) == (self.lead_client_id is None):
            raise ValueError("lead_id: give either lead_id or lead_client_id")
        return self


class InteractionItem(_ForAPerson):
    type: Literal["interaction"]
    kind: InteractionKind
    channel: InteractionChannel
    occurred_at: LocalDatetime | None = None
    notes: Text | None = None
    event_id: Id | None = None
    interest: Interest | None = None


class PersonChanges(BaseModel):
    model_config = STRICT
    first_name: Name | None = None
    last_name: OptName | None = None
    language: Language | None = None
    postcode: PostcodeIn | None = None
    segments: list[SegmentCode] | None = Field(None, max_length=30)
    stage: Stage | None = None
    lost_reason: Short | None = None
    follow_up_on: date | None = None


class UpdateItem(_ForAPerson):
    type: Literal["update"]
    changes: PersonChanges
    base: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _base_for_every_change(self) -> UpdateItem:
        changed = self.changes.model_fields_set
        if not changed:
            raise ValueError("changes: nothing to change")
        missing = sorted(changed - set(self.base))
        if missing:
            raise ValueError(f"base.{missing[0]}: the value the agent saw is missing")
        return self


SyncItem = Annotated[ContactItem | InteractionItem | UpdateItem, Field(discriminator="type")]
ITEM = TypeAdapter(SyncItem)
