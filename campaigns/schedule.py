"""When a campaign fires: once at a time, on a cron expression, or relative to a date of the
person (the day they were met, their event, the info session they registered for).

Everything is computed in the business time zone (`TIMEZONE`) with APScheduler's triggers, so
"every Monday at 10:00" stays 10:00 across daylight-saving changes. A schedule is checked when
it is saved and when the campaign is scheduled: past times, cron expressions that never fire
and relative fields that do not exist are refused with the field named."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from crm.config import settings
from crm.errors import InvalidInput

# Relative schedules: the date on the person (or their event) that a run counts from.
AFTER_FIELDS = {
    "created_at": "the day the person was recorded (met at a stand, referred, wrote in)",
    "last_contacted_at": "the day the person was last contacted",
    "event.starts_at": "the day of the event where the person was met",
    "registration.starts_at": "the day of an event the person registered for (info session)",
}
MIN_CRON_INTERVAL = timedelta(hours=1)
# A run planned longer ago than this (the workers were down) is not sent late: a message about
# "tomorrow's info session" must not arrive after it. One-off campaigns always run, late.
MISFIRE_GRACE = timedelta(hours=6)


@dataclass(frozen=True)
class Schedule:
    kind: str  # "at", "cron" or "after"
    at: datetime | None = None  # UTC
    cron: str | None = None
    field: str | None = None
    days: int = 0
    hour: time | None = None
    until: datetime | None = None  # UTC; recurring schedules stop after it

    def trigger(self) -> CronTrigger:
        if self.kind == "cron":
            assert self.cron is not None
            return cron_trigger(self.cron)
        assert self.hour is not None
        return CronTrigger(hour=self.hour.hour, minute=self.hour.minute, timezone=settings.tz)

    def next_fire(self, after: datetime) -> datetime | None:
        """The first planned time strictly after `after` (UTC), or None when none is left."""
        if self.kind == "at":
            assert self.at is not None
            return self.at if self.at > after else None
        fire = self.trigger().get_next_fire_time(None, after + timedelta(seconds=1))
        if fire is None:
            return None
        fire = fire.astimezone(UTC)
        if self.until is not None and fire > self.until:
            return None
        return fire

    def anchor_date(self, planned_at: datetime) -> date | None:
        """Relative schedules: the anchor day a run at `planned_at` serves."""
        if self.kind != "after":
            return None
        return planned_at.astimezone(settings.tz).date() - timedelta(days=self.days)

    def describe(self) -> str:
        if self.kind == "at":
            assert self.at is not None
            return f"once, {self.at.astimezone(settings.tz):%Y-%m-%d %H:%M}"
        if self.kind == "cron":
            return f"cron {self.cron} ({settings.TIMEZONE})"
        direction = "after" if self.days >= 0 else "before"
        return f"{abs(self.days)} day(s) {direction} {self.field}, at {self.hour:%H:%M}"


# Crontab counts weekdays from Sunday (0 or 7 = Sunday, 1 = Monday); APScheduler 3's
# CronTrigger, and its from_crontab, count 0-6 from Monday, so "0 10 * * 1" fired on Tuesdays.
# Weekday numbers are translated to names, which both read the same way.
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _cron_day(text: str) -> int:
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text in _CRON_DAYS:
        return _CRON_DAYS.index(text)
    raise ValueError(f"{text!r} is not a day of the week (0-7 or sun-sat)")


def _cron_weekdays(field: str) -> str:
    """A crontab day-of-week field as APScheduler names ("1-5" → "mon,tue,wed,thu,fri")."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        spec, slash, step_text = part.partition("/")
        if slash and not (step_text.isdigit() and int(step_text) >= 1):
            raise ValueError(f"{part!r}: the step must be a whole number from 1")
        step = int(step_text) if slash else 1
        if spec == "*":
            first, last = 0, 6
        elif "-" in spec:
            start, end = spec.split("-", 1)
            first, last = _cron_day(start), _cron_day(end)
            if last == 0 and first > 0:
                last = 7  # "fri-sun": Sunday as 7
        else:
            first = _cron_day(spec)
            last = 7 if slash else first
        if last < first:
            raise ValueError(f"{part!r}: the range ends before it starts")
        days.update(d % 7 for d in range(first, last + 1, step))
    return ",".join(_CRON_DAYS[d] for d in sorted(days))


def cron_trigger(expr: str) -> CronTrigger:
    """The trigger of a five-field crontab expression, in the business time zone."""
    minute, hour, day, month, weekday = expr.split()
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_cron_weekdays(weekday),
        timezone=settings.tz,
    )


def _aware(value: Any, field: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise InvalidInput(f"{value!r} is not an ISO-8601 date and time", field=field) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=settings.tz)  # local business time
    return moment.astimezone(UTC)


def parse(raw: dict[str, Any] | None, *, field: str = "schedule") -> Schedule:
    """Read a stored or submitted schedule; InvalidInput naming the field when it is wrong."""
    if not isinstance(raw, dict) or not raw:
        raise InvalidInput(
            'give {"at": ISO-8601}, {"cron": "…"} or {"after": {"field", "days"}}', field=field
        )
    kinds = [k for k in ("at", "cron", "after") if k in raw]
    unknown = set(raw) - {"at", "cron", "after", "until"}
    if unknown:
        raise InvalidInput(f"unknown key(s): {', '.join(sorted(unknown))}", field=field)
    if len(kinds) != 1:
        raise InvalidInput("give exactly one of at, cron or after", field=field)
    kind = kinds[0]
    until = _aware(raw["until"], f"{field}.until") if raw.get("until") is not None else None
    if kind == "at":
        if until is not None:
            raise InvalidInput("a one-off schedule has no end", field=f"{field}.until")
        return Schedule("at", at=_aware(raw["at"], f"{field}.at"))
    if kind == "cron":
        expr = raw["cron"]
        if not isinstance(expr, str) or len(expr.split()) != 5:
            raise InvalidInput(
                "a cron expression has five fields: minute hour day month weekday",
                field=f"{field}.cron",
            )
        try:
            cron_trigger(expr)
        except ValueError as exc:
            raise InvalidInput(f"invalid cron expression: {exc}", field=f"{field}.cron") from exc
        return Schedule("cron", cron=expr, until=until)
    after = raw["after"]
    if not isinstance(after, dict):
        raise InvalidInput('give {"field": …, "days": N, "at": "HH:MM"}', field=f"{field}.after")
    unknown = set(after) - {"field", "days", "at"}
    if unknown:
        raise InvalidInput(f"unknown key(s): {', '.join(sorted(unknown))}", field=f"{field}.after")
    name = after.get("field")
    if name not in AFTER_FIELDS:
        raise InvalidInput(
            f"unknown field {name!r}; one of {', '.join(AFTER_FIELDS)}",
            field=f"{field}.after.field",
        )
    days = after.get("days")
    if isinstance(days, bool) or not isinstance(days, int) or not -60 <= days <= 365:
        raise InvalidInput(
            "days must be a whole number from -60 (before) to 365 (after)",
            field=f"{field}.after.days",
        )
    if days < 0 and name in ("created_at", "last_contacted_at"):
        raise InvalidInput(
            f"{name} is in the past: a message can only come after it", field=f"{field}.after.days"
        )
    hour_text = after.get("at", "10:00")
    try:
        hour = time.fromisoformat(str(hour_text))
    except ValueError as exc:
        raise InvalidInput("at must be HH:MM", field=f"{field}.after.at") from exc
    return Schedule("after", field=name, days=days, hour=hour.replace(second=0), until=until)


def check_can_fire(schedule: Schedule, *, now: datetime, field: str = "schedule") -> datetime:
    """The first run time, refusing schedules in the past or that never (or too often) fire."""
    if schedule.kind == "at":
        assert schedule.at is not None
        if schedule.at <= now:
            raise InvalidInput("this time is in the past", field=f"{field}.at")
    if schedule.until is not None and schedule.until <= now:
        raise InvalidInput("the end of this schedule is in the past", field=f"{field}.until")
    first = schedule.next_fire(now)
    if first is None:
        raise InvalidInput(
            "this schedule never fires"
            + (" before its end" if schedule.until else " (no such date)"),
            field=f"{field}.cron" if schedule.kind == "cron" else field,
        )
    if schedule.kind == "cron":
        second = schedule.next_fire(first)
        if second is not None and second - first < MIN_CRON_INTERVAL:
            raise InvalidInput(
                "fires more often than once an hour; campaigns are not sent every minute",
                field=f"{field}.cron",
            )
    return first


def following(schedule: Schedule, planned_at: datetime, *, now: datetime) -> datetime | None:
    """The run after `planned_at`. Runs missed beyond the grace while workers were down are
    dropped (a recurring campaign resumes at its next time, as APScheduler's coalescing does)."""
    nxt = schedule.next_fire(planned_at)
    while nxt is not None and nxt < now - MISFIRE_GRACE:
        nxt = schedule.next_fire(nxt)
    return nxt


def anchor_window(day: date) -> tuple[datetime, datetime]:
    """The UTC instants bounding a local business day."""
    start = datetime.combine(day, time(0), tzinfo=settings.tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=settings.tz)
    return start.astimezone(UTC), end.astimezone(UTC)
