"""Success stories: entrepreneurs' testimonies, usable only while their consent runs."""

from __future__ import annotations

from datetime import date, datetime

from crm.audit import service as audit
from crm.auth.actor import Actor
from crm.config import settings
from crm.errors import InvalidInput
from crm.people.segments import validate_segments
from crm.stories.models import SuccessStory
from crm.stories.schemas import StoryCreate, StoryUpdate


def today() -> date:
    return datetime.now(settings.tz).date()


def consent_valid(story: SuccessStory, on: date | None = None) -> bool:
    return story.consent_expires_at >= (on or today())


async def create_story(data: StoryCreate, *, actor: Actor) -> SuccessStory:
    if data.consent_expires_at < today():
        raise InvalidInput("the consent has already expired", field="consent_expires_at")
    story = await SuccessStory.create(
        title=data.title,
        entrepreneur_first_name=data.entrepreneur,
        sector=data.sector,
        town=data.town,
        texts=data.texts.model_dump(exclude_none=True),
        segments=await validate_segments(data.segments or []),
        consent_expires_at=data.consent_expires_at,
        active=True if data.active is None else data.active,
    )
    await audit.record(
        actor, "story.create", entity="story", entity_id=story.id, changes={"title": data.title}
    )
    return story


async def update_story(story: SuccessStory, data: StoryUpdate, *, actor: Actor) -> SuccessStory:
    values = data.model_dump(exclude_unset=True)
    for key in ("title", "entrepreneur", "texts", "consent_expires_at"):
        if key in values and values[key] is None:
            raise InvalidInput("cannot be empty", field=key)
    if "entrepreneur" in values:
        values["entrepreneur_first_name"] = values.pop("entrepreneur")
    if "texts" in values:
        texts = {k: v for k, v in values["texts"].items() if v}
        if not texts:
            raise InvalidInput("give the story in at least one of fr, nl, de", field="texts")
        values["texts"] = texts
    if "segments" in values:
        values["segments"] = await validate_segments(values["segments"] or [])
    for key, value in values.items():
        setattr(story, key, value)
    await story.save()
    await audit.record(
        actor,
        "story.update",
        entity="story",
        entity_id=story.id,
        changes=data.model_dump(mode="json", exclude_unset=True),
    )
    return story
