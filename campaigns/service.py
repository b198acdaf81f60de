"""Campaigns: create, change, schedule, pause, resume and cancel, with every rule checked.

Messages are checked at every save (template errors refused with the language and the line);
a schedule in the past, a cron that never fires, an empty audience or a default language
without a message are refused before anything is scheduled."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from campaigns import audience as audience_sql
from campaigns import templating
from campaigns.models import Campaign, CampaignRun, CampaignStatus, RunStatus, StoryMode
from campaigns.schedule import MISFIRE_GRACE, check_can_fire, following, parse
from campaigns.schemas import CampaignCreate, CampaignUpdate
from channels.hours import in_quiet_hours
from channels.sql import execute
from crm.audit import service as audit
from crm.auth.actor import Actor
from crm.auth.models import User
from crm.config import settings
from crm.errors import Conflict, InvalidInput, NotFound
from crm.outreach.models import OutreachEvent
from crm.people.segments import validate_segments
from crm.referrals.models import PartnerOrganisation
from crm.stories.models import SuccessStory

LANGUAGES = ("fr", "nl", "de")
EDITABLE = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED)


def now() -> datetime:
    return datetime.now(UTC)


async def get_campaign(campaign_id: int) -> Campaign:
    campaign = await Campaign.get_or_none(id=campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign with id {campaign_id}", field="id")
    return campaign


# ---- checks shared by create and update -----------------------------------------------------


async def _check_audience(audience: dict[str, Any]) -> dict[str, Any]:
    if audience.get("segments"):
        audience["segments"] = await validate_segments(audience["segments"], "audience.segments")
    for key, model, what in (
        ("event_ids", OutreachEvent, "event"),
        ("partner_ids", PartnerOrganisation, "partner"),
        ("agent_ids", User, "user"),
    ):
        ids = sorted(set(audience.get(key) or []))
        if ids:
            found = set(await model.filter(id__in=ids).values_list("id", flat=True))
            missing = [str(i) for i in ids if i not in found]
            if missing:
                raise InvalidInput(
                    f"unknown {what}(s): {', '.join(missing)}", field=f"audience.{key}"
                )
            audience[key] = ids
    for key in ("created_after", "created_before", "contacted_after", "contacted_before"):
        if isinstance(audience.get(key), datetime):
            audience[key] = audience[key].astimezone(UTC).isoformat()
    return {k: v for k, v in audience.items() if v not in (None, [])}


def _check_messages(messages: dict[str, str], default_language: str, field: str) -> None:
    if not messages:
        raise InvalidInput("give the message in at least one of fr, nl, de", field=field)
    templating.check_messages(messages)  # raises naming messages.<lang> and the line
    if default_language not in messages:
        raise InvalidInput(
            f"there is no {default_language} message for the default language; people whose "
            "language has no message would get nothing",
            field="default_language" if field == "messages" else field,
        )


async def _validate(values: dict[str, Any], *, at: datetime) -> dict[str, Any]:
    """The whole campaign as it would be saved, checked; returns the values to store."""
    messages = values["messages"]
    default = values.get("default_language") or next(
        (lang for lang in LANGUAGES if lang in messages), "fr"
    )
    values["default_language"] = default
    _check_messages(messages, default, "messages")
    total_share = 0
    for i, variant in enumerate(values.get("variants") or []):
        variant_messages = variant["messages"]
        try:
            templating.check_messages(variant_messages)
        except InvalidInput as exc:
            raise InvalidInput(exc.message, field=f"variants.{i}.{exc.field}") from exc
        if default not in variant_messages:
            raise InvalidInput(
                f"variant {variant['name']} has no {default} message (the default language)",
                field=f"variants.{i}.messages",
            )
        total_share += variant["share"]
    names = [v["name"] for v in values.get("variants") or []]
    if len(names) != len(set(names)):
        raise InvalidInput("two variants have the same name", field="variants")
    if total_share > 99:
        raise InvalidInput("variants share more than 99% of the audience", field="variants")
    story_id = values.get("story_id")
    mode = values.get("story_mode") or (StoryMode.FIXED if story_id else StoryMode.NONE)
    values["story_mode"] = mode
    if mode == StoryMode.FIXED:
        if not story_id:
            raise InvalidInput("a fixed story needs story_id", field="story_id")
        if not await SuccessStory.exists(id=story_id):
            raise InvalidInput(f"no story with id {story_id}", field="story_id")
    elif story_id:
        raise InvalidInput(f"story_id is only for story_mode fixed, not {mode}", field="story_id")
    values["audience"] = await _check_audience(dict(values.get("audience") or {}))
    if values.get("schedule") is not None:
        check_can_fire(parse(values["schedule"]), now=at)
    return values


def _incoming(data: CampaignCreate | CampaignUpdate) -> dict[str, Any]:
    raw = data.model_dump(exclude_unset=True)
    if "messages" in raw and raw["messages"] is not None:
        raw["messages"] = data.messages.present()  # type: ignore[union-attr]
    if raw.get("variants") is not None:
        raw["variants"] = [
            {"name": v.name, "share": v.share, "messages": v.messages.present()}
            for v in data.variants or []
        ]
    if raw.get("audience") is not None:
        raw["audience"] = data.audience.model_dump(exclude_none=True)  # type: ignore[union-attr]
    return raw


async def create_campaign(data: CampaignCreate, *, actor: Actor) -> Campaign:
    values = await _validate(_incoming(data), at=now())
    values.setdefault("conversion_days", settings.CAMPAIGN_CONVERSION_DAYS)
    if values.get("conversion_days") is None:
        values["conversion_days"] = settings.CAMPAIGN_CONVERSION_DAYS
    campaign = await Campaign.create(**values, created_by_id=actor.user_id)
    await audit.record(
        actor, "campaign.create", entity="campaign", entity_id=campaign.id,
        changes={"name": campaign.name},
    )  # fmt: skip
    return campaign


async def update_campaign(campaign: Campaign, data: CampaignUpdate, *, actor: Actor) -> Campaign:
    if campaign.status not in EDITABLE:
        raise Conflict(
            f"a {campaign.status} campaign cannot be changed"
            + ("; pause it first" if campaign.status == CampaignStatus.RUNNING else ""),
            field="status",
        )
    changes = _incoming(data)
    for key in ("name", "channel", "messages"):
        if key in changes and changes[key] is None:
            raise InvalidInput("cannot be empty", field=key)
    current = {
        "name": campaign.name, "goal": campaign.goal, "channel": campaign.channel,
        "audience": campaign.audience, "messages": campaign.messages,
        "default_language": campaign.default_language, "story_id": campaign.story_id,  # type: ignore[attr-defined]
        "story_mode": campaign.story_mode, "variants": campaign.variants,
        "schedule": campaign.schedule, "conversion_days": campaign.conversion_days,
    }  # fmt: skip
    if "story_id" in changes and "story_mode" not in changes:
        current["story_mode"] = None  # re-derived from the new story_id
    merged = {**current, **changes}
    if merged.get("conversion_days") is None:
        merged["conversion_days"] = settings.CAMPAIGN_CONVERSION_DAYS
    values = await _validate(merged, at=now())
    # A paused campaign with a run still to come resumes on its new schedule too: before, its
    # old next_run_at was kept, and a schedule set to null broke the worker's tick on resume.
    waiting = campaign.status == CampaignStatus.PAUSED and campaign.next_run_at is not None
    if (campaign.status == CampaignStatus.SCHEDULED or waiting) and "schedule" in changes:
        if values["schedule"] is None:
            raise InvalidInput(f"a {campaign.status} campaign needs a schedule", field="schedule")
        values["next_run_at"] = check_can_fire(parse(values["schedule"]), now=now())
    for key, value in values.items():
        setattr(campaign, key, value)
    await campaign.save()
    await audit.record(
        actor, "campaign.update", entity="campaign", entity_id=campaign.id,
        changes=data.model_dump(mode="json", exclude_unset=True),
    )  # fmt: skip
    return campaign


# ---- actions ---------------------------------------------------------------------------------


async def schedule_campaign(campaign: Campaign, *, actor: Actor) -> Campaign:
    if campaign.status in (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING):
        raise Conflict(f"the campaign is already {campaign.status}", field="status")
    if campaign.status == CampaignStatus.PAUSED:
        raise Conflict("the campaign is paused: resume it instead", field="status")
    if campaign.status != CampaignStatus.DRAFT:
        raise Conflict(
            f"a {campaign.status} campaign cannot be scheduled again; copy it", field="status"
        )
    if not campaign.schedule:
        raise InvalidInput("set a schedule first", field="schedule")
    at = now()
    schedule = parse(campaign.schedule)
    first = check_can_fire(schedule, now=at)
    if campaign.story_mode == StoryMode.FIXED:
        story = await SuccessStory.get(id=campaign.story_id)  # type: ignore[attr-defined]
        first_day = first.astimezone(settings.tz).date()
        if not story.active:
            raise InvalidInput("the story is withdrawn", field="story_id")
        if story.consent_expires_at < first_day:
            raise InvalidInput(
                f"the story's consent ends on {story.consent_expires_at}, before the first run",
                field="story_id",
            )
        missing = [lang for lang in campaign.messages if not story.texts.get(lang)]
        if missing:
            raise InvalidInput(f"the story has no text in {', '.join(missing)}", field="story_id")
    condition = audience_sql.build_condition(campaign.audience or {}, now=at)
    if await audience_sql.count(condition) == 0:
        raise InvalidInput("nobody matches this audience", field="audience")
    updated = await Campaign.filter(id=campaign.id, status=CampaignStatus.DRAFT).update(
        status=CampaignStatus.SCHEDULED, next_run_at=first, scheduled_at=at
    )
    if not updated:
        raise Conflict("the campaign changed meanwhile; reload it", field="status")
    await campaign.refresh_from_db()
    await audit.record(
        actor, "campaign.schedule", entity="campaign", entity_id=campaign.id,
        changes={"next_run_at": first.isoformat()},
    )  # fmt: skip
    return campaign


async def pause_campaign(campaign: Campaign, *, actor: Actor) -> Campaign:
    if campaign.status not in (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING):
        raise Conflict(f"a {campaign.status} campaign cannot be paused", field="status")
    async with in_transaction():
        moved = await Campaign.filter(
            id=campaign.id, status__in=(CampaignStatus.SCHEDULED, CampaignStatus.RUNNING)
        ).update(status=CampaignStatus.PAUSED)
        if not moved:
            raise Conflict("the campaign changed meanwhile; reload it", field="status")
        # Runs first: on PostgreSQL this waits for a batch being written, so the outbox update
        # below also holds the rows of that batch back.
        await CampaignRun.filter(
            campaign_id=campaign.id, status__in=(RunStatus.PENDING, RunStatus.FANNING_OUT)
        ).update(status=RunStatus.PAUSED, leased_by=None, lease_until=None)
    held = await execute(
        "UPDATE outbox_message SET status = 'paused' WHERE campaign_id = $1 AND status = 'queued'",
        [campaign.id],
    )
    await campaign.refresh_from_db()
    await audit.record(
        actor, "campaign.pause", entity="campaign", entity_id=campaign.id,
        changes={"messages_held": held},
    )  # fmt: skip
    return campaign


async def resume_campaign(campaign: Campaign, *, actor: Actor) -> Campaign:
    if campaign.status != CampaignStatus.PAUSED:
        raise Conflict(f"a {campaign.status} campaign is not paused", field="status")
    at = now()
    next_run = campaign.next_run_at
    if next_run is not None and next_run < at - MISFIRE_GRACE and campaign.schedule:
        schedule = parse(campaign.schedule)
        # One-off campaigns always run, late (see MISFIRE_GRACE): `following` has no time
        # after a one-off's own, so it used to complete the campaign without sending it.
        if schedule.kind != "at":
            next_run = following(schedule, next_run, now=at)
    await CampaignRun.filter(campaign_id=campaign.id, status=RunStatus.PAUSED).update(
        status=RunStatus.PENDING
    )
    released = await execute(
        "UPDATE outbox_message SET status = 'queued', due_at = $1 "
        "WHERE campaign_id = $2 AND status = 'paused'",
        [at, campaign.id],
    )
    await Campaign.filter(id=campaign.id, status=CampaignStatus.PAUSED).update(
        status=CampaignStatus.RUNNING, next_run_at=next_run
    )
    await campaign.refresh_from_db()
    await audit.record(
        actor, "campaign.resume", entity="campaign", entity_id=campaign.id,
        changes={"messages_released": released},
    )  # fmt: skip
    return campaign


async def cancel_campaign(campaign: Campaign, *, actor: Actor) -> Campaign:
    if campaign.status in (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED):
        raise Conflict(f"the campaign is already {campaign.status}", field="status")
    at = now()
    async with in_transaction():
        await Campaign.filter(id=campaign.id).update(
            status=CampaignStatus.CANCELLED, next_run_at=None, finished_at=at
        )
        await CampaignRun.filter(
            campaign_id=campaign.id,
            status__in=(RunStatus.PENDING, RunStatus.FANNING_OUT, RunStatus.PAUSED),
        ).update(status=RunStatus.CANCELLED, leased_by=None, lease_until=None, finished_at=at)
    removed = await execute(
        "UPDATE outbox_message SET status = 'skipped', error_code = 'cancelled', "
        "error_reason = $1, status_at = $2 "
        "WHERE campaign_id = $3 AND status IN ('queued', 'paused')",
        ["the campaign was cancelled before this message was sent", at, campaign.id],
    )
    await campaign.refresh_from_db()
    await audit.record(
        actor, "campaign.cancel", entity="campaign", entity_id=campaign.id,
        changes={"messages_removed": removed},
    )  # fmt: skip
    return campaign


# ---- warnings shown with the campaign --------------------------------------------------------


async def warnings(campaign: Campaign, *, today: date | None = None) -> list[str]:
    today = today or datetime.now(settings.tz).date()
    out: list[str] = []
    used = templating.used_variables(campaign.messages)
    if campaign.story_mode != StoryMode.NONE and "story" not in used:
        out.append("a story is chosen but no message uses {{ story.… }}")
    if campaign.story_mode == StoryMode.NONE and "story" in used:
        out.append("the messages use {{ story.… }} but no story is chosen: it will be empty")
    if campaign.story_mode == StoryMode.FIXED and campaign.story_id:  # type: ignore[attr-defined]
        story = await SuccessStory.get_or_none(id=campaign.story_id)  # type: ignore[attr-defined]
        if story is not None:
            ends = story.consent_expires_at
            if ends < today:
                out.append(f"the story's consent ended on {ends}: nobody will receive it")
            elif ends <= today + timedelta(days=settings.STORY_EXPIRY_WARNING_DAYS):
                out.append(f"the story's consent ends on {ends}: renew it or choose another story")
            missing = [lang for lang in campaign.messages if not story.texts.get(lang)]
            if missing:
                out.append(f"the story has no text in {', '.join(missing)}")
    for lang in (campaign.audience or {}).get("languages") or []:
        if lang not in campaign.messages:
            out.append(
                f"no {lang} message: people speaking {lang} get the {campaign.default_language} one"
            )
    if campaign.schedule:
        try:
            schedule = parse(campaign.schedule)
        except InvalidInput:
            schedule = None
        first = campaign.next_run_at or (schedule.next_fire(now()) if schedule else None)
        if first is not None and in_quiet_hours(first):
            out.append(
                f"the first run falls in quiet hours ({settings.QUIET_HOURS}): messages wait "
                "until they end"
            )
    return out
