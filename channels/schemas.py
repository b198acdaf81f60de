"""The JSON shapes of the messages and conversations API (CONTRACT §4, "messages of a person").

A person's messages come from two tables (what we sent, what they wrote). Each message's `id`
is a string that says which: `out-12` is outbox row 12, `in-7` is inbound message 7, so ids are
unique across the two and a client can pass one back (`POST /messages/out-12/resend`) without
also sending the direction."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from channels.models import Channel

_STRICT = ConfigDict(extra="forbid")

# Longer than any channel allows (SMS 1,600, Telegram 4,096): the channel's own limit is
# checked by the outbox, with a message that says which limit; this only bounds the request.
Body = Annotated[str, Field(max_length=10_000)]


class MessageOut(BaseModel):
    id: str = Field(description="`out-<n>` for a message we sent, `in-<n>` for one we received")
    direction: Literal["in", "out"]
    channel: Channel
    body: str
    status: str = Field(description="the outbound status, or `received` for an inbound message")
    provider: str | None = Field(
        description="twilio, telegram or console (console: recorded, not sent); null inbound"
    )
    provider_id: str | None
    campaign_id: int | None
    created_at: datetime = Field(description="queued at (out) or received at (in)")
    kind: str = Field(
        description="out: campaign, reply or auto; in: text, command, contact or button"
    )
    error_code: str | None = None
    error_reason: str | None = None
    segments: int | None = None
    encoding: str | None = None
    author_id: int | None = None
    sent_at: datetime | None = None
    status_at: datetime | None = None
    reply_to: str | None = Field(
        default=None, description="in: the `out-<n>` message this one answers, when known"
    )


class MessageCreate(BaseModel):
    model_config = _STRICT
    channel: Channel | None = Field(
        default=None,
        description="null: the channel the person last wrote on, else Telegram when they have "
        "a chat, else SMS",
    )
    body: Body
    client_id: UUID | None = Field(
        default=None, description="made by the device: the same client_id twice sends once"
    )


class ConversationOut(BaseModel):
    lead_id: int
    name: str
    first_name: str
    last_name: str | None
    language: str | None
    last_message_at: datetime
    last_inbound_at: datetime | None
    last_channel: Channel | None
    preview: str
    unread: int
    assigned_to_id: int | None


class AssignIn(BaseModel):
    model_config = _STRICT
    user_id: int | None = Field(ge=1, le=2**31 - 1, description="an active staff member; null")


class SegmentsIn(BaseModel):
    model_config = _STRICT
    body: Body


class SegmentCount(BaseModel):
    encoding: str
    units: int
    segments: int
    per_segment: int
    characters: int
    non_gsm: list[str]
    replacements: dict[str, str]
    fully_replaceable: bool


class Lookalike(SegmentCount):
    body: str = Field(description="the text with the look-alike letters put in")


class SegmentsOut(SegmentCount):
    max_characters: int
    too_long: bool
    lookalike: Lookalike | None = Field(
        description="what the message would cost with look-alike letters (ê → e), when any "
        "character has one; the author opts in"
    )
