from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
StoryText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
SegmentCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
LANGS = ("fr", "nl", "de")


class StoryTexts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fr: StoryText | None = None
    nl: StoryText | None = None
    de: StoryText | None = None


class StoryFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sector: Short | None = None
    town: Short | None = None
    segments: list[SegmentCode] | None = Field(None, max_length=20)
    active: bool | None = None


class StoryCreate(StoryFields):
    title: Title
    entrepreneur: Short = Field(description="the entrepreneur's first name")
    texts: StoryTexts
    consent_expires_at: date = Field(description="end of the image and testimony consent")

    @field_validator("texts")
    @classmethod
    def _one_language_at_least(cls, texts: StoryTexts) -> StoryTexts:
        if not any(getattr(texts, lang) for lang in LANGS):
            raise ValueError("give the story in at least one of fr, nl, de")
        return texts


class StoryUpdate(StoryFields):
    title: Title | None = None
    entrepreneur: Short | None = None
    texts: StoryTexts | None = None
    consent_expires_at: date | None = None


class StoryOut(BaseModel):
    id: int
    title: str
    entrepreneur: str
    sector: str | None
    town: str | None
    texts: dict[str, str]
    segments: list[str]
    consent_expires_at: date
    consent_valid: bool
    active: bool
    created_at: datetime
    updated_at: datetime
