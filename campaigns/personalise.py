"""What each person reads: their language (with fallback), their A/B variant, their story,
their event and agent, rendered once per distinct set of values.

A `Personaliser` is built once per run (templates compiled, usable stories loaded) and then
asked batch by batch; its lookups are one query per batch, never one per person."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from jinja2 import Template

from campaigns import templating
from campaigns.audience import id_filter
from campaigns.models import Campaign, StoryMode
from campaigns.schedule import anchor_window
from channels.models import Channel
from channels.sms_segments import count_segments
from channels.sql import rows
from channels.texts import text
from crm.stories.models import SuccessStory

RENDER_CACHE_LIMIT = 50_000


@dataclass(frozen=True)
class StoryChoice:
    story_id: int | None
    problem: str | None = None  # a skip reason when the person cannot have a story


NO_STORY = StoryChoice(None)


@dataclass(frozen=True)
class BatchLookups:
    segments: dict[int, set[str]]  # person -> segment codes (matched stories)
    seen: dict[int, set[int]]  # person -> stories already received
    person_event: dict[int, int | None]  # person -> the event their message speaks of


@dataclass(frozen=True)
class Rendered:
    body: str
    segments: int
    encoding: str


def variant_of(lead_id: int, campaign_id: int, variants: list[dict[str, Any]]) -> str:
    """A stable split: the same person always lands in the same variant of a campaign."""
    if not variants:
        return "A"
    bucket = zlib.crc32(f"{campaign_id}:{lead_id}".encode()) % 100
    edge = 0
    for variant in variants:
        edge += int(variant["share"])
        if bucket < edge:
            return str(variant["name"])
    return "A"


def _marks(values: list[Any], start: int = 1) -> str:
    return ", ".join(f"${i}" for i in range(start, start + len(values)))


class Personaliser:
    def __init__(self, campaign: Campaign, *, on: date, run_id: int | None) -> None:
        self.campaign = campaign
        self.run_id = run_id or 0
        self.on = on  # the local day the messages go out: story consent must cover it
        messages_by_variant = {"A": campaign.messages}
        for variant in campaign.variants or []:
            messages_by_variant[variant["name"]] = variant["messages"]
        self.templates: dict[str, dict[str, Template]] = {
            name: templating.compile_messages(msgs) for name, msgs in messages_by_variant.items()
        }
        used: set[str] = set()
        for msgs in messages_by_variant.values():
            used |= templating.used_variables(msgs)
        self.uses_story = "story" in used and campaign.story_mode != StoryMode.NONE
        self.uses_event = "event" in used
        self.uses_agent = "agent" in used
        self.uses_first_name = "first_name" in used
        self.uses_last_name = "last_name" in used
        self.stories: dict[int, SuccessStory] = {}
        self._agents: dict[int, str] = {}
        self._events: dict[int, dict[str, Any]] = {}
        self._event_vars: dict[tuple[int, str], dict[str, str]] = {}
        self._story_vars: dict[tuple[int, str], dict[str, str]] = {}
        self._rendered: dict[tuple[Any, ...], Rendered] = {}
        self.fallbacks = 0
        # The current batch's lookups (see `use`).
        self.segments: dict[int, set[str]] = {}
        self.seen: dict[int, set[int]] = {}
        self.person_event: dict[int, int | None] = {}

    async def load(self) -> None:
        if not self.uses_story:
            return
        if self.campaign.story_mode == StoryMode.FIXED:
            story = await SuccessStory.get_or_none(id=self.campaign.story_id)
            stories = [story] if story else []
        else:
            stories = await SuccessStory.filter(active=True, consent_expires_at__gte=self.on)
        self.stories = {s.id: s for s in stories}

    # ---- language ---------------------------------------------------------------------------

    def language(self, variant: str, person_language: str | None) -> tuple[str, bool]:
        """The message language and whether it is a fallback to the campaign default."""
        available = self.templates[variant]
        if person_language in available:
            return person_language, False
        return str(self.campaign.default_language), True

    # ---- batch lookups ----------------------------------------------------------------------

    async def prepare(self, people: list[dict[str, Any]], anchor: tuple[str, date] | None) -> None:
        """Load what this batch needs and use it for the next `story_for` / `render` calls."""
        self.use(await self.lookups(people, anchor))

    def use(self, found: BatchLookups) -> None:
        self.segments, self.seen, self.person_event = (
            found.segments, found.seen, found.person_event
        )  # fmt: skip

    async def lookups(
        self, people: list[dict[str, Any]], anchor: tuple[str, date] | None
    ) -> BatchLookups:
        """What a batch needs: the people's segments, stories seen and events, and the agents
        and events not cached yet. It only reads (and adds to the run's caches), so the next
        batch's lookups may run while this batch is being planned and written."""
        found = BatchLookups({}, {}, {})
        ids = [p["id"] for p in people]
        if not ids:
            return found
        if self.uses_agent:
            wanted = {p["assigned_agent_id"] for p in people if p["assigned_agent_id"]}
            missing = [a for a in wanted if a not in self._agents]
            if missing:
                for row in await rows(
                    f"SELECT id, first_name FROM app_user WHERE id IN ({_marks(missing)})", missing
                ):
                    self._agents[row["id"]] = row["first_name"] or ""
        if self.uses_story:
            where, params = id_filter("lead_id", ids, 1)
            for row in await rows(
                "SELECT lead_id, story_id FROM outbox_message WHERE story_id IS NOT NULL "
                f"AND status NOT IN ('skipped', 'failed', 'undelivered') AND {where}",
                params,
            ):
                found.seen.setdefault(row["lead_id"], set()).add(row["story_id"])
            if self.campaign.story_mode == StoryMode.MATCHED:
                for row in await rows(
                    f"SELECT lead_id, code FROM lead_segment WHERE {where}", params
                ):
                    found.segments.setdefault(row["lead_id"], set()).add(row["code"])
        if self.uses_event:
            await self._event_lookups(people, ids, anchor, found.person_event)
        return found

    async def _event_lookups(
        self,
        people: list[dict[str, Any]],
        ids: list[int],
        anchor: tuple[str, date] | None,
        person_event: dict[int, int | None],
    ) -> None:
        # The person's event: the one a relative run counts from, else the next event they
        # registered for, else the event where they were met.
        where, params = id_filter("r.lead_id", ids, 1)
        registered = await rows(
            "SELECT r.lead_id, e.id, e.starts_at FROM event_registration r "
            "JOIN outreach_event e ON e.id = r.event_id "
            f"WHERE {where} AND e.starts_at >= ${len(params) + 1} "
            "ORDER BY e.starts_at DESC",
            [*params, _day_start(anchor[1] if anchor else self.on)],
        )
        batch = set(ids)
        for row in registered:  # earliest last, so it wins
            if row["lead_id"] in batch:
                person_event[row["lead_id"]] = row["id"]
        for person in people:
            if anchor is None or anchor[0] != "registration.starts_at":
                person_event.setdefault(person["id"], person["event_id"])
            if anchor and anchor[0] == "event.starts_at":
                person_event[person["id"]] = person["event_id"]
        wanted = {e for e in person_event.values() if e and e not in self._events}
        if wanted:
            ev = list(wanted)
            for row in await rows(
                "SELECT id, title, starts_at, place FROM outreach_event "
                f"WHERE id IN ({_marks(ev)})",
                ev,
            ):
                self._events[row["id"]] = row

    # ---- per person -------------------------------------------------------------------------

    def story_for(self, person: dict[str, Any], language: str) -> StoryChoice:
        if not self.uses_story:
            return NO_STORY
        seen = self.seen.get(person["id"], set())
        if self.campaign.story_mode == StoryMode.FIXED:
            story = self.stories.get(self.campaign.story_id or 0)
            if story is None or not story.active:
                return StoryChoice(None, "story_withdrawn")
            if story.consent_expires_at < self.on:
                return StoryChoice(None, "story_expired")
            if story.id in seen:
                return StoryChoice(None, "story_seen")
            return StoryChoice(story.id)
        mine = self.segments.get(person["id"], set())
        best: list[SuccessStory] = []
        best_overlap = -1
        for story in self.stories.values():
            if story.id in seen or not story.texts.get(language):
                continue
            overlap = len(mine & set(story.segments))
            if overlap > best_overlap:
                best, best_overlap = [story], overlap
            elif overlap == best_overlap:
                best.append(story)
        if not best:
            return StoryChoice(None, "no_story")
        best.sort(key=lambda s: s.id)
        return StoryChoice(best[(person["id"] + self.run_id) % len(best)].id)

    def render(
        self,
        person: dict[str, Any],
        *,
        variant: str,
        language: str,
        channel: Channel,
        story_id: int | None,
    ) -> Rendered:
        agent_id = person["assigned_agent_id"] if self.uses_agent else None
        event_id = self.person_event.get(person["id"]) if self.uses_event else None
        # Keyed by the values the templates use only: most people then share a rendering.
        key = (
            variant, language, channel,
            person["first_name"] if self.uses_first_name else None,
            person["last_name"] if self.uses_last_name else None,
            agent_id, event_id, story_id,
        )  # fmt: skip
        hit = self._rendered.get(key)
        if hit is not None:
            return hit
        context = templating.person_context(
            first_name=person["first_name"] or "",
            last_name=person["last_name"],
            agent_first_name=self._agents.get(agent_id) if agent_id else None,
            event=self._event_variables(event_id, language),
            story=self._story_variables(story_id, language),
            opt_out=text(f"opt_out_hint_{channel}", language),
        )
        body = templating.render(self.templates[variant][language], context)
        if channel == Channel.SMS:
            info = count_segments(body)
            rendered = Rendered(body, info.segments, str(info.encoding))
        else:
            rendered = Rendered(body, 1, "text")
        if len(self._rendered) >= RENDER_CACHE_LIMIT:
            self._rendered.clear()
        self._rendered[key] = rendered
        return rendered

    def _event_variables(self, event_id: int | None, language: str) -> dict[str, str] | None:
        if not event_id or event_id not in self._events:
            return None
        key = (event_id, language)
        if key not in self._event_vars:
            ev = self._events[event_id]
            self._event_vars[key] = templating.event_variables(
                title=ev["title"],
                starts_at=_as_datetime(ev["starts_at"]),
                place=ev["place"],
                language=language,
            )
        return self._event_vars[key]

    def _story_variables(self, story_id: int | None, language: str) -> dict[str, str] | None:
        if story_id is None:
            return None
        key = (story_id, language)
        if key not in self._story_vars:
            story = self.stories[story_id]
            texts = story.texts
            self._story_vars[key] = templating.story_variables(
                title=story.title,
                text=texts.get(language) or texts.get(str(self.campaign.default_language)) or "",
                entrepreneur=story.entrepreneur_first_name,
                sector=story.sector,
                town=story.town,
            )
        return self._story_vars[key]


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _day_start(day: date) -> datetime:
    return anchor_window(day)[0]
