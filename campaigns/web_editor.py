"""The campaign editor's form: a campaign as form values and back, with the fields a
person typed kept as they were when the service refuses them."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from starlette.datastructures import FormData

from campaigns.models import Campaign, StoryMode
from campaigns.schedule import parse
from crm.config import settings
from crm.errors import InvalidInput

LANGS = ("fr", "nl", "de")
_MAX_TEXT = 10_000
_KEPT_AUDIENCE = ("event_ids", "partner_ids", "agent_ids", "contacted_after", "contacted_before")


def text_of(form: FormData, name: str, limit: int = _MAX_TEXT) -> str:
    return str(form.get(name) or "")[:limit].replace("\r\n", "\n").strip()


def list_of(form: FormData, name: str) -> list[str]:
    return [str(v).strip()[:100] for v in form.getlist(name) if str(v).strip()]


def schedule_view(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    """The schedule as the templates write it out in the user's language."""
    if not raw:
        return None
    try:
        s = parse(raw)
    except InvalidInput:
        return {"kind": "invalid", "raw": raw}
    return {
        "kind": s.kind, "at": s.at, "cron": s.cron, "until": s.until, "field": s.field,
        "days": abs(s.days), "before": s.days < 0, "hour": f"{s.hour:%H:%M}" if s.hour else "",
    }  # fmt: skip


# ---- the editor -------------------------------------------------------------------------------


def _local(value: Any) -> datetime | None:
    if not value:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (moment if moment.tzinfo else moment.replace(tzinfo=settings.tz)).astimezone(settings.tz)


def _day(value: Any) -> str:
    local = _local(value)
    return local.date().isoformat() if local else ""


def blank_values() -> dict[str, Any]:
    return {
        "name": "", "goal": "", "channel": "sms", "default_language": "fr", "segments": [],
        "languages": [], "stages": [], "postcodes": "", "regions": [], "event_kinds": [],
        "not_messaged_days": "", "created_after": "", "created_before": "",
        "story_mode": "none", "story_id": "", "schedule_kind": "", "at_date": "", "at_time": "",
        "cron": "", "cron_until": "", "after_field": "created_at", "after_days": "2",
        "after_hour": "10:00", "after_until": "",
        "conversion_days": str(settings.CAMPAIGN_CONVERSION_DAYS),
        "messages": dict.fromkeys(LANGS, ""),
    }  # fmt: skip


def values_of(campaign: Campaign) -> dict[str, Any]:
    """The editor's fields filled from a stored campaign."""
    aud = campaign.audience or {}
    values = blank_values() | {
        "name": campaign.name, "goal": campaign.goal or "", "channel": str(campaign.channel),
        "default_language": str(campaign.default_language),
        "segments": aud.get("segments") or [], "languages": aud.get("languages") or [],
        "stages": aud.get("stages") or [], "postcodes": ", ".join(aud.get("postcodes") or []),
        "regions": aud.get("regions") or [], "event_kinds": aud.get("event_kinds") or [],
        "not_messaged_days": str(aud.get("not_messaged_days") or ""),
        "created_after": _day(aud.get("created_after")),
        "created_before": _day(aud.get("created_before")),
        "story_mode": str(campaign.story_mode),
        "story_id": str(campaign.story_id or ""),  # type: ignore[attr-defined]
        "conversion_days": str(campaign.conversion_days),
        "messages": {lang: campaign.messages.get(lang, "") for lang in LANGS},
    }  # fmt: skip
    try:
        s = parse(campaign.schedule) if campaign.schedule else None
    except InvalidInput:
        s = None
    if s is not None:
        values["schedule_kind"] = s.kind
        until = _day(s.until) if s.until else ""
        if s.kind == "at" and s.at:
            local = _local(s.at)
            values |= {"at_date": local.date().isoformat(), "at_time": f"{local:%H:%M}"}  # type: ignore[union-attr]
        elif s.kind == "cron":
            values |= {"cron": s.cron or "", "cron_until": until}
        else:
            values |= {
                "after_field": s.field, "after_days": str(s.days),
                "after_hour": f"{s.hour:%H:%M}" if s.hour else "10:00", "after_until": until,
            }  # fmt: skip
    return values


def values_from(form: FormData) -> dict[str, Any]:
    """The editor's fields as posted, kept as typed to show them again."""
    values = {key: text_of(form, key, 2000) for key in blank_values() if key != "messages"}
    for key in ("segments", "languages", "stages", "regions", "event_kinds"):
        values[key] = list_of(form, key)
    values["name"] = text_of(form, "name", 300)
    values["messages"] = {lang: text_of(form, f"message_{lang}") for lang in LANGS}
    return values


def _whole(value: str, field: str, errors: dict[str, str]) -> int | None:
    if not value:
        return None
    if re.fullmatch(r"-?\d{1,6}", value):
        return int(value)
    errors[field] = "give a whole number"
    return None


def payload_of(values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    """What the service takes (CampaignCreate/Update fields) from the editor's fields."""
    audience: dict[str, Any] = {
        key: values[key] or None
        for key in ("segments", "languages", "stages", "regions", "event_kinds")
    }
    audience["postcodes"] = [p for p in re.split(r"[\s,;]+", values["postcodes"]) if p] or None
    days = _whole(values["not_messaged_days"], "audience.not_messaged_days", errors)
    audience["not_messaged_days"] = days
    audience["created_after"] = values["created_after"] or None
    audience["created_before"] = values["created_before"] or None
    kind, schedule = values["schedule_kind"], None
    if kind == "at":
        if not (values["at_date"] and values["at_time"]):
            errors["schedule.at"] = "give the date and the time"
        schedule = {"at": f"{values['at_date']}T{values['at_time']}"}
    elif kind == "cron":
        schedule = {"cron": values["cron"]}
        if values["cron_until"]:
            schedule["until"] = f"{values['cron_until']}T23:59"
    elif kind == "after":
        after_days = _whole(values["after_days"], "schedule.after.days", errors)
        schedule = {
            "after": {
                "field": values["after_field"],
                "days": after_days if after_days is not None else 0,
                "at": values["after_hour"] or "10:00",
            }
        }
        if values["after_until"]:
            schedule["until"] = f"{values['after_until']}T23:59"
    mode = values["story_mode"] if values["story_mode"] in {m.value for m in StoryMode} else "none"
    story_id = _whole(values["story_id"], "story_id", errors) if mode == "fixed" else None
    if mode == "fixed" and story_id is None:
        errors.setdefault("story_id", "choose a story")
    return {
        "name": values["name"],
        "goal": values["goal"] or None,
        "channel": values["channel"],
        "default_language": values["default_language"] or None,
        "audience": {k: v for k, v in audience.items() if v is not None},
        "messages": {lang: values["messages"][lang] or None for lang in LANGS},
        "story_mode": mode,
        "story_id": story_id,
        "schedule": schedule,
        "conversion_days": _whole(values["conversion_days"], "conversion_days", errors),
    }
