from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from campaigns.models import CampaignChannel, CampaignStatus, StoryMode
from crm.enums import Language
from crm.geo import Region
from crm.outreach.models import EventKind
from crm.people.models import Stage
from crm.schemas import LocalDatetime

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Postcode = Annotated[str, StringConstraints(pattern=r"^\d{4}$")]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
MessageText = Annotated[str, StringConstraints(max_length=4000)]


class Audience(BaseModel):
    """Who a campaign speaks to. Conditions combine with AND, the values inside one key with OR.
    People in stage financed or lost are skipped (and counted) unless `stages` names them."""

    model_config = ConfigDict(extra="forbid")
    segments: list[Code] | None = Field(None, max_length=50)
    languages: list[Language] | None = None
    stages: list[Stage] | None = None
    postcodes: list[Postcode] | None = Field(None, max_length=500)
    regions: list[Region] | None = None
    event_ids: list[Id] | None = Field(
        None, max_length=200, description="met at, registered for or seen at one of these events"
    )
    event_kinds: list[EventKind] | None = Field(
        None, description="met at an event of one of these kinds (market stand…)"
    )
    partner_ids: list[Id] | None = Field(
        None, max_length=200, description="referred by one of these partners"
    )
    agent_ids: list[Id] | None = Field(
        None, max_length=200, description="assigned to or reached by one of these agents"
    )
    created_after: LocalDatetime | None = None
    created_before: LocalDatetime | None = None
    contacted_after: LocalDatetime | None = None
    contacted_before: LocalDatetime | None = None
    not_messaged_days: int | None = Field(
        None, ge=1, le=365, description="leave out people sent any message in the last N days"
    )


class Messages(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fr: MessageText | None = None
    nl: MessageText | None = None
    de: MessageText | None = None

    def present(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None and v.strip()}


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(pattern=r"^[B-H]$")] = Field(
        description="B to H; the campaign's own messages are variant A"
    )
    share: int = Field(ge=1, le=99, description="per cent of the audience")
    messages: Messages


class CampaignFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    goal: Annotated[str, StringConstraints(max_length=2000)] | None = None
    audience: Audience | None = None
    default_language: Language | None = None
    story_id: Id | None = None
    story_mode: StoryMode | None = None
    variants: list[Variant] | None = Field(None, max_length=7)
    schedule: dict[str, Any] | None = Field(
        None,
        description='{"at": ISO-8601} or {"cron": "m h dom mon dow", "until"?} or '
        '{"after": {"field", "days", "at": "HH:MM"}, "until"?}',
    )
    conversion_days: int | None = Field(None, ge=1, le=365)


class CampaignCreate(CampaignFields):
    name: Name
    channel: CampaignChannel
    messages: Messages


class CampaignUpdate(CampaignFields):
    name: Name | None = None
    channel: CampaignChannel | None = None
    messages: Messages | None = None


class CampaignOut(BaseModel):
    id: int
    name: str
    goal: str | None
    channel: CampaignChannel
    audience: dict[str, Any]
    messages: dict[str, str]
    default_language: Language
    story_id: int | None
    story_mode: StoryMode
    variants: list[dict[str, Any]]
    schedule: dict[str, Any] | None
    schedule_text: str | None
    status: CampaignStatus
    next_run_at: datetime | None
    conversion_days: int
    warnings: list[str]
    created_at: datetime
    updated_at: datetime


class PreviewIn(BaseModel):
    """Render unsaved messages, for the editor's live preview."""

    model_config = ConfigDict(extra="forbid")
    messages: Messages
    channel: CampaignChannel = CampaignChannel.SMS
    lead_id: Id | None = Field(None, description="render for this person instead of a sample")
    story_id: Id | None = None
