"""Business time: quiet hours (no campaign message) and office hours (someone answers)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from crm.config import settings


def _within(local: time, start: time, end: time) -> bool:
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # the window wraps midnight


def in_quiet_hours(at: datetime | None = None) -> bool:
    window = settings.quiet_hours
    if window is None:
        return False
    local = (at or datetime.now(UTC)).astimezone(settings.tz)
    return _within(local.time(), *window)


def quiet_hours_end(at: datetime | None = None) -> datetime:
    """When campaign messages may go again (now when outside quiet hours)."""
    at = at or datetime.now(UTC)
    window = settings.quiet_hours
    if window is None or not in_quiet_hours(at):
        return at
    local = at.astimezone(settings.tz)
    end = datetime.combine(local.date(), window[1], tzinfo=settings.tz)
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(UTC)


def in_office_hours(at: datetime | None = None) -> bool:
    local = (at or datetime.now(UTC)).astimezone(settings.tz)
    start, end = settings.office_hours
    return local.isoweekday() in settings.office_days and _within(local.time(), start, end)


def next_opening(at: datetime | None = None) -> datetime:
    """The next time someone is at the office (local time zone), strictly after `at` when
    outside office hours."""
    local = (at or datetime.now(UTC)).astimezone(settings.tz)
    start, _end = settings.office_hours
    for days in range(0, 8):
        day = local.date() + timedelta(days=days)
        opening = datetime.combine(day, start, tzinfo=settings.tz)
        if day.isoweekday() in settings.office_days and opening > local:
            return opening
    return local  # OFFICE_DAYS is never empty; unreachable
