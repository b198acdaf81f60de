"""A run's fan-out: the audience, batch by batch, through the gates and into the outbox.

Every person of the audience gets exactly one outbox row per run, keyed
`campaign:<id>:run:<run>:lead:<person>`: `queued` with their rendered message, or `skipped`
with the gate that stopped it (no consent, opted out, the per-person cap, a closed stage, no
address, no story left). Results are counted from these rows. A batch's rows and the run's
cursor are written in one transaction that first checks the run is still ours and still
fanning out, so a pause or a cancel never races a batch into the outbox, and a worker that
dies mid-run leaves a cursor another worker resumes from (the keys make a replayed batch a
no-op)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from campaigns import audience as audience_sql
from campaigns.models import Campaign, CampaignChannel, CampaignRun
from campaigns.personalise import BatchLookups, Personaliser, variant_of
from campaigns.schedule import parse
from channels.models import Channel
from channels.outbox import TELEGRAM_MAX_CHARACTERS
from channels.sms_segments import MAX_BODY_CHARACTERS
from channels.sql import execute, is_postgres, rows, tuples
from crm.config import settings
from crm.people.models import Stage

CLOSED_STAGES = (Stage.FINANCED.value, Stage.LOST.value)

SKIP_REASONS = {
    "closed_stage": "the person is financed or lost and the audience does not ask for them",
    "no_address": "no phone number or Telegram chat for this channel",
    "opted_out": "the person opted out of this channel",
    "no_consent": "no consent for campaign messages on this channel",
    "cap": "the per-person cap of campaign messages is reached",
    "story_seen": "the person already received this story",
    "no_story": "no story left that this person has not received",
    "story_expired": "the story's consent has expired",
    "story_withdrawn": "the story was withdrawn",
    "too_long": "the rendered message is too long for the channel",
    "render_error": "the message could not be rendered for this person",
    "cancelled": "the campaign was cancelled before this message was sent",
}

_COLUMNS = (
    "lead_id", "channel", "address", "language", "body", "segments", "encoding", "kind",
    "status", "error_code", "error_reason", "attempts", "due_at", "idempotency_key",
    "campaign_id", "run_id", "story_id", "variant", "created_at", "status_at",
)  # fmt: skip


_YIELD_EVERY = 100


@dataclass
class Fetched:
    people: list[dict[str, Any]]
    consent: dict[tuple[int, str], bool]
    capped: set[int]
    lookups: BatchLookups


_CHANNEL_TEXT = {channel: channel.value for channel in Channel}


@dataclass(slots=True)
class Planned:
    lead_id: int
    channel: Channel
    address: str
    language: str | None
    variant: str
    fallback: bool
    body: str = ""
    segments: int = 0
    encoding: str = ""
    skip: str | None = None
    story_id: int | None = None


def idempotency_key(campaign_id: int, run_id: int, lead_id: int) -> str:
    return f"campaign:{campaign_id}:run:{run_id}:lead:{lead_id}"


class RunPlanner:
    """The gates and personalisation of one run, applied a batch at a time."""

    def __init__(self, campaign: Campaign, *, run_id: int | None, planned_at: datetime) -> None:
        self.campaign = campaign
        self.run_id = run_id
        self.planned_at = planned_at
        schedule = parse(campaign.schedule) if campaign.schedule else None
        anchor_day = schedule.anchor_date(planned_at) if schedule else None
        self.anchor = (schedule.field, anchor_day) if schedule and anchor_day else None
        assert self.anchor is None or self.anchor[0] is not None
        self.condition = audience_sql.build_condition(
            campaign.audience or {},
            now=planned_at,
            anchor=self.anchor,  # type: ignore[arg-type]
        )
        asked = set((campaign.audience or {}).get("stages") or [])
        self.closed = {s for s in CLOSED_STAGES if s not in asked}
        self.personaliser = Personaliser(
            campaign, on=planned_at.astimezone(settings.tz).date(), run_id=run_id
        )
        # Per-person work runs 100,000 times in a large run: what does not depend on the
        # person is decided once here.
        preferred = campaign.channel == CampaignChannel.PREFERRED
        self._fixed_channel = None if preferred else Channel(str(campaign.channel))
        self._variants = campaign.variants or []

    async def load(self) -> None:
        await self.personaliser.load()

    async def batches(self, after_id: int = 0) -> AsyncIterator[list[dict[str, Any]]]:
        cursor = after_id
        while True:
            people = await audience_sql.batch(
                self.condition, after_id=cursor, limit=settings.CAMPAIGN_FANOUT_BATCH
            )
            if not people:
                return
            yield people
            cursor = people[-1]["id"]

    async def fetch(self, people: list[dict[str, Any]]) -> Fetched:
        """Everything a batch's planning reads from the database (reads only)."""
        ids = [p["id"] for p in people]
        consent = await _consents(ids)
        capped = await _capped(ids, self.planned_at, exclude_run=self.run_id)
        found = await self.personaliser.lookups(people, self.anchor)
        return Fetched(people, consent, capped, found)

    async def fetch_after(self, cursor: int) -> Fetched | None:
        """The next batch of the audience after `cursor`, with its lookups; None at the end."""
        people = await audience_sql.batch(
            self.condition, after_id=cursor, limit=settings.CAMPAIGN_FANOUT_BATCH
        )
        return await self.fetch(people) if people else None

    async def plan(self, people: list[dict[str, Any]]) -> list[Planned]:
        return await self.plan_fetched(await self.fetch(people))

    async def plan_fetched(self, fetched: Fetched) -> list[Planned]:
        """The gates and messages of one batch. Pure Python; it lets the event loop run every
        `_YIELD_EVERY` people so that the reads and the write under way keep going."""
        self.personaliser.use(fetched.lookups)
        out = []
        consent, capped = fetched.consent, fetched.capped
        for i, person in enumerate(fetched.people, 1):
            out.append(self._plan_one(person, consent, capped))
            if i % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
        return out

    def _channel(self, person: dict[str, Any], consent: dict[tuple[int, str], bool]) -> Channel:
        if self._fixed_channel is not None:
            return self._fixed_channel
        chat = person["telegram_chat_id"] is not None
        if chat and (consent.get((person["id"], "telegram")) or not person["phone"]):
            return Channel.TELEGRAM
        return Channel.SMS

    def _plan_one(
        self, person: dict[str, Any], consent: dict[tuple[int, str], bool], capped: set[int]
    ) -> Planned:
        pid = person["id"]
        channel = self._channel(person, consent)
        if channel == Channel.SMS:
            address = person["phone"] or ""
        else:
            chat = person["telegram_chat_id"]
            address = str(chat) if chat is not None else ""
        variant = variant_of(pid, self.campaign.id, self._variants) if self._variants else "A"
        language, fallback = self.personaliser.language(variant, person["language"])
        p = Planned(pid, channel, address, language, variant, fallback)
        granted = consent.get((pid, channel))  # a StrEnum: the same key as its text
        if person["stage"] in self.closed:
            p.skip = "closed_stage"
        elif not address:
            p.skip = "no_address"
        elif granted is False:
            p.skip = "opted_out"
        elif granted is None:
            p.skip = "no_consent"
        elif pid in capped:
            p.skip = "cap"
        if p.skip:
            return p
        story = self.personaliser.story_for(person, language)
        if story.problem:
            p.skip = story.problem
            return p
        p.story_id = story.story_id
        try:
            rendered = self.personaliser.render(
                person, variant=variant, language=language, channel=channel, story_id=p.story_id
            )
        except Exception:  # noqa: BLE001 - checked templates; one person's data must not stop a run
            p.skip = "render_error"
            return p
        limit = MAX_BODY_CHARACTERS if channel == Channel.SMS else TELEGRAM_MAX_CHARACTERS
        # An empty text (every line of it under an {% if %} that is false for this person)
        # is a rendering problem, not a message too long: say so in the stats.
        if not rendered.body:
            p.skip = "render_error"
            return p
        if len(rendered.body) > limit:
            p.skip = "too_long"
            return p
        p.body, p.segments, p.encoding = rendered.body, rendered.segments, rendered.encoding
        return p


async def _consents(ids: list[int]) -> dict[tuple[int, str], bool]:
    """The latest ledger entry per person for SMS and Telegram consent (people next to the
    batch may come along with a range filter: their entries are never looked up)."""
    latest: dict[tuple[int, str], bool] = {}
    where, params = audience_sql.id_filter("lead_id", ids, 1)
    for lead_id, purpose, granted in await tuples(
        "SELECT lead_id, purpose, granted FROM consent_record "
        f"WHERE purpose IN ('sms', 'telegram') AND {where} ORDER BY recorded_at, id",
        params,
    ):
        latest[(lead_id, purpose)] = bool(granted)
    return latest


async def _capped(ids: list[int], at: datetime, *, exclude_run: int | None) -> set[int]:
    """People who already have the cap's number of campaign messages in its window."""
    where, params = audience_sql.id_filter("lead_id", ids, 1)
    n = len(params)
    statuses = ", ".join(f"'{s}'" for s in audience_sql.LIVE_STATUSES)
    since = at - timedelta(days=settings.CAMPAIGN_CAP_DAYS)
    found = await rows(
        "SELECT lead_id FROM outbox_message "
        f"WHERE {where} AND kind = 'campaign' AND status IN ({statuses}) "
        f"AND due_at >= ${n + 1} AND due_at <= ${n + 2} "
        f"AND (run_id IS NULL OR run_id <> ${n + 3}) "
        f"GROUP BY lead_id HAVING count(*) >= ${n + 4}",
        [*params, since, at + timedelta(days=settings.CAMPAIGN_CAP_DAYS), exclude_run or 0,
         settings.CAMPAIGN_CAP_MESSAGES],
    )  # fmt: skip
    return {r["lead_id"] for r in found}


_INSERT_CACHE: dict[tuple[int, bool], str] = {}


def _insert_statement(count: int) -> str:
    """The batch INSERT in the engine's own placeholders: SQLite prepares plain `?` about 80
    times faster than numbered `?n` on a 20,000-parameter statement."""
    postgres = is_postgres()
    key = (count, postgres)
    if key not in _INSERT_CACHE:
        width = len(_COLUMNS)
        if postgres:
            groups = ", ".join(
                "(" + ", ".join(f"${r * width + c + 1}" for c in range(width)) + ")"
                for r in range(count)
            )
        else:
            groups = ", ".join(["(" + ", ".join(["?"] * width) + ")"] * count)
        _INSERT_CACHE[key] = (
            f"INSERT INTO outbox_message ({', '.join(_COLUMNS)}) VALUES {groups} "
            "ON CONFLICT (idempotency_key) DO NOTHING"
        )
    return _INSERT_CACHE[key]


def row_values(
    campaign_id: int, run_id: int, due_at: datetime, p: Planned, now: datetime
) -> list[Any]:
    skipped = p.skip is not None
    return [
        p.lead_id, _CHANNEL_TEXT[p.channel], p.address, p.language, p.body, p.segments or 1,
        p.encoding or "gsm7", "campaign", "skipped" if skipped else "queued", p.skip,
        SKIP_REASONS.get(p.skip) if skipped else None, 0, due_at,
        idempotency_key(campaign_id, run_id, p.lead_id), campaign_id, run_id, p.story_id,
        p.variant, now, now if skipped else None,
    ]  # fmt: skip


async def write_batch(
    run: CampaignRun, worker_id: str, planned: list[Planned], *, cursor: int, lease_seconds: int
) -> bool:
    """Rows and cursor together, only while the run is still ours; False when it is not."""
    values: list[Any] = []
    now = datetime.now(UTC)
    due_at = min(run.planned_at, now)  # never later than the run's own time
    for p in planned:
        values.extend(row_values(run.campaign_id, run.id, due_at, p, now))  # type: ignore[attr-defined]
    async with in_transaction():
        moved = await execute(
            "UPDATE campaign_run SET cursor = $1, lease_until = $2 "
            "WHERE id = $3 AND leased_by = $4 AND status = 'fanning_out'",
            [cursor, datetime.now(UTC) + timedelta(seconds=lease_seconds), run.id, worker_id],
        )
        if not moved:
            return False
        if planned:
            # SQLite allows 32,766 parameters per statement; 20 columns x 1,000 rows fit.
            # Already in the engine's placeholders: straight to the connection.
            await connections.get("default").execute_query(_insert_statement(len(planned)), values)
    return True


@dataclass
class DryRun:
    """The pre-schedule picture of a run: the same gates without writing anything."""

    audience: int = 0
    by_language: Counter[str] = None  # type: ignore[assignment]
    by_channel: Counter[str] = None  # type: ignore[assignment]
    skipped: Counter[str] = None  # type: ignore[assignment]
    fallbacks: Counter[str] = None  # type: ignore[assignment]
    segments: Counter[str] = None  # type: ignore[assignment]  # SMS segments per language
    telegram_messages: int = 0
    encodings: dict[str, Counter[str]] = None  # type: ignore[assignment]
    samples: dict[str, dict[str, Any]] = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.by_language, self.by_channel = Counter(), Counter()
        self.skipped, self.fallbacks, self.segments = Counter(), Counter(), Counter()
        self.encodings, self.samples = {}, {}


async def dry_run(campaign: Campaign, *, planned_at: datetime) -> DryRun:
    planner = RunPlanner(campaign, run_id=None, planned_at=planned_at)
    await planner.load()
    result = DryRun()
    async for people in planner.batches():
        for p in await planner.plan(people):
            result.audience += 1
            if p.skip:
                result.skipped[p.skip] += 1
                continue
            lang = p.language or str(campaign.default_language)
            result.by_language[lang] += 1
            result.by_channel[str(p.channel)] += 1
            if p.fallback:
                result.fallbacks[lang] += 1
            if p.channel == Channel.SMS:
                result.segments[lang] += p.segments
                result.encodings.setdefault(lang, Counter())[p.encoding] += 1
            else:
                result.telegram_messages += 1
            result.samples.setdefault(
                lang, {"lead_id": p.lead_id, "body": p.body, "channel": str(p.channel),
                       "segments": p.segments, "encoding": p.encoding}
            )  # fmt: skip
    return result


def local_day(moment: datetime) -> date:
    return moment.astimezone(settings.tz).date()
