"""The editor's live preview: unsaved messages rendered for a sample person or a real one, with
the template problems of each language shown in place instead of refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from campaigns import templating
from campaigns.audience import LEAD_COLUMNS
from campaigns.models import Campaign, CampaignChannel, StoryMode
from campaigns.personalise import Personaliser
from campaigns.schemas import PreviewIn
from channels.models import Channel
from channels.sms_segments import count_segments
from channels.sql import rows
from channels.texts import text
from crm.config import settings
from crm.errors import InvalidInput
from crm.stories.models import SuccessStory


def _measure(body: str, channel: str) -> dict[str, Any]:
    if channel == "sms":
        info = count_segments(body)
        return {"segments": info.segments, "encoding": str(info.encoding), "characters": len(body)}
    return {"segments": 1, "encoding": "text", "characters": len(body)}


async def preview(data: PreviewIn) -> dict[str, Any]:
    messages = data.messages.present()
    channel = "telegram" if data.channel == CampaignChannel.TELEGRAM else "sms"
    story = await SuccessStory.get_or_none(id=data.story_id) if data.story_id else None
    if data.story_id and story is None:
        raise InvalidInput(f"no story with id {data.story_id}", field="story_id")
    person = None
    if data.lead_id:
        found = await rows(f"SELECT {LEAD_COLUMNS} FROM lead l WHERE l.id = $1", [data.lead_id])
        if not found:
            raise InvalidInput(f"no person with id {data.lead_id}", field="lead_id")
        person = found[0]
    out: dict[str, Any] = {}
    for lang, source in messages.items():
        problems = templating.check_message(lang, source)
        if problems:
            out[lang] = {"problems": [{"line": p.line, "message": p.message} for p in problems]}
            continue
        if person is None:
            context = templating.sample_context(lang)
            context["opt_out"] = text(f"opt_out_hint_{channel}", lang)
            if story is not None:
                context["story"] = templating.story_variables(
                    title=story.title,
                    text=story.texts.get(lang) or next(iter(story.texts.values()), ""),
                    entrepreneur=story.entrepreneur_first_name,
                    sector=story.sector,
                    town=story.town,
                )
            template = templating.compile_messages({lang: source})[lang]
            body = templating.render(template, context)
        else:
            body = await _for_person(person, lang, source, channel, story)
        out[lang] = {"body": body, "problems": [], **_measure(body, channel)}
    return {"channel": channel, "lead_id": data.lead_id, "languages": out}


async def _for_person(
    person: dict[str, Any], lang: str, source: str, channel: str, story: SuccessStory | None
) -> str:
    campaign = Campaign(
        id=0,
        messages={lang: source},
        default_language=lang,
        variants=[],
        story_mode=StoryMode.FIXED if story else StoryMode.NONE,
        story_id=story.id if story else None,
    )
    on = datetime.now(UTC).astimezone(settings.tz).date()
    personaliser = Personaliser(campaign, on=on, run_id=None)
    if story is not None:
        personaliser.stories = {story.id: story}
    await personaliser.prepare([person], None)
    return personaliser.render(
        person, variant="A", language=lang, channel=Channel(channel),
        story_id=story.id if story and personaliser.uses_story else None,
    )  # fmt: skip
