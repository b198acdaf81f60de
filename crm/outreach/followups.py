"""What an agent works through in the field: the events they work, the people whose
follow-up date has come, the people nobody contacted for a while, the people list ordered by
the last contact, and sending a person on to a partner.

Visibility is always `people.service.visible_leads` / `outreach.service.visible_events`;
"an agent's people" is what that agent sees, so a coordinator looking at an agent's list
sees exactly what the agent sees."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tortoise.expressions import F, Q, Subquery
from tortoise.functions import Coalesce
from tortoise.queryset import QuerySet

from crm.auth.actor import Actor
from crm.auth.models import User
from crm.config import settings
from crm.enums import Role
from crm.outreach.models import OutreachEvent
from crm.outreach.service import visible_events
from crm.people import service as people
from crm.people.models import Lead, Stage

# People in these stages need no more follow-up: their pathway with us has ended.
CLOSED_STAGES = (Stage.FINANCED, Stage.LOST, Stage.REDIRECTED)
NOT_CONTACTED_DAYS = (7, 14, 30, 60, 90)
DEFAULT_NOT_CONTACTED_DAYS = 30
# Who has a list of people of their own (agents, and coordinators and admins who go out too).
FIELD_WORKERS = (Role.ADMIN, Role.COORDINATOR, Role.AGENT)


def local_today(now: datetime | None = None) -> date:
    """Today in the business time zone."""
    return (now or datetime.now(UTC)).astimezone(settings.tz).date()


def _local_midnight(day: date) -> datetime:
    # In UTC: SQLite compares the stored UTC text with the parameter as text, so a bound
    # with another offset would compare wrong.
    return datetime.combine(day, time.min, tzinfo=settings.tz).astimezone(UTC)


# --- whose people -------------------------------------------------------------------------------


def people_worked_by(user_id: int) -> QuerySet[Lead]:
    """The people one staff member works with in the field: those they reached, are assigned
    or logged a contact with. It is the agent rule of `visible_leads`, applied to this user
    whatever their role, so a coordinator's own list is built like an agent's."""
    return people.visible_leads(Actor(role=Role.AGENT, label="", user_id=user_id))


async def field_workers() -> list[User]:
    """The staff whose list a coordinator may look at, by name."""
    rows = await User.filter(role__in=FIELD_WORKERS, is_active=True)
    return sorted(rows, key=lambda u: (u.display_name.casefold(), u.id))


async def list_owner(actor: Actor, requested: int | None) -> int | None:
    """Whose list `actor` looks at: their own, or (coordinators and admins only) the active
    field worker they asked for. An agent always gets their own."""
    if requested is None or not actor.sees_everything or requested == actor.user_id:
        return actor.user_id
    if await User.exists(id=requested, role__in=FIELD_WORKERS, is_active=True):
        return requested
    return actor.user_id


# --- the people list ----------------------------------------------------------------------------


async def recently_contacted(
    actor: Actor, q: str | None, *, limit: int, offset: int
) -> tuple[list[Lead], int]:
    """The people `actor` sees (matching `q`: a name or phone digits), the most recently
    contacted first, then those never contacted, newest first."""
    qs = people.filtered_leads(actor, people.LeadFilters(q=q or None))
    # Two ordered parts read one after the other: SQLite and PostgreSQL put NULLs at opposite
    # ends of a descending order, and Tortoise has no NULLS LAST.
    contacted = qs.filter(last_contacted_at__isnull=False)
    never = qs.filter(last_contacted_at__isnull=True)
    contacted_total = await contacted.count()
    total = contacted_total + await never.count()
    rows: list[Lead] = []
    if offset < contacted_total:
        rows = await contacted.order_by("-last_contacted_at", "-id").offset(offset).limit(limit)
    if len(rows) < limit:
        rows += (
            await never.order_by("-created_at", "-id")
            .offset(max(0, offset - contacted_total))
            .limit(limit - len(rows))
        )
    return rows, total


# --- follow-ups ---------------------------------------------------------------------------------


@dataclass
class FollowUp:
    lead: Lead
    # Whole days since the last contact (local dates); None when never contacted.
    days_since_contact: int | None
    overdue: bool = False


def _follow_up(lead: Lead, today: date) -> FollowUp:
    last = lead.last_contacted_at
    days = (today - local_today(last)).days if last else None
    overdue = lead.follow_up_on is not None and lead.follow_up_on < today
    return FollowUp(lead, days, overdue)


async def due_follow_ups(
    leads: QuerySet[Lead], *, today: date | None = None, limit: int = 100
) -> tuple[list[FollowUp], int]:
    """People whose follow-up date is today or past, the most overdue first."""
    today = today or local_today()
    qs = leads.filter(follow_up_on__lte=today)
    total = await qs.count()
    rows = await qs.order_by("follow_up_on", "id").limit(limit)
    return [_follow_up(lead, today) for lead in rows], total


async def due_count(user_id: int, *, today: date | None = None) -> int:
    """How many of this person's people are due a follow-up (the reminder on every page)."""
    return await people_worked_by(user_id).filter(follow_up_on__lte=today or local_today()).count()


async def upcoming_follow_ups(
    leads: QuerySet[Lead], *, today: date | None = None, limit: int = 100
) -> tuple[list[FollowUp], int]:
    """People with a follow-up date after today, the soonest first."""
    today = today or local_today()
    qs = leads.filter(follow_up_on__gt=today)
    total = await qs.count()
    rows = await qs.order_by("follow_up_on", "id").limit(limit)
    return [_follow_up(lead, today) for lead in rows], total


async def not_contacted_for(
    leads: QuerySet[Lead],
    days: int,
    *,
    now: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[FollowUp], int]:
    """People last contacted more than `days` days ago, or never contacted and added more
    than `days` days ago; people whose pathway ended (financed, lost, redirected) are left
    out. The longest without contact first."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    cutoff = now - timedelta(days=days)
    qs = leads.filter(
        Q(last_contacted_at__lt=cutoff) | Q(last_contacted_at__isnull=True, created_at__lt=cutoff)
    ).exclude(stage__in=CLOSED_STAGES)
    total = await qs.count()
    rows = (
        await qs.annotate(since=Coalesce("last_contacted_at", F("created_at")))
        .order_by("since", "id")
        .offset(offset)
        .limit(limit)
    )
    today = local_today(now)
    return [_follow_up(lead, today) for lead in rows], total


# --- events -------------------------------------------------------------------------------------


def events_worked_by(actor: Actor) -> QuerySet[OutreachEvent]:
    """The events `actor` may see and works at (is one of the event's agents)."""
    worked = OutreachEvent.filter(agents__id=actor.user_id).values("id")
    return visible_events(actor).filter(id__in=Subquery(worked))


@dataclass
class WeekEvents:
    today: list[OutreachEvent]
    later_this_week: list[OutreachEvent]


async def week_events(actor: Actor, *, today: date | None = None) -> WeekEvents:
    """The events `actor` works today (also one still running since yesterday), and those
    starting later this week (up to Sunday)."""
    today = today or local_today()
    start, tomorrow = _local_midnight(today), _local_midnight(today + timedelta(days=1))
    next_monday = _local_midnight(today + timedelta(days=7 - today.weekday()))
    worked = events_worked_by(actor)
    running_today = await worked.filter(
        Q(starts_at__gte=start) | Q(ends_at__gte=start), starts_at__lt=tomorrow
    ).order_by("starts_at", "id")
    later = await worked.filter(starts_at__gte=tomorrow, starts_at__lt=next_monday).order_by(
        "starts_at", "id"
    )
    return WeekEvents(running_today, later)


async def recent_events(
    actor: Actor, *, now: datetime | None = None, days: int = 14, limit: int = 10
) -> list[OutreachEvent]:
    """The events `actor` worked in the last `days` days or works today, the latest first:
    the choices when they log a contact after the fact."""
    today = local_today(now)
    since = _local_midnight(today - timedelta(days=days))
    until = _local_midnight(today + timedelta(days=1))
    return (
        await events_worked_by(actor)
        .filter(starts_at__gte=since, starts_at__lt=until)
        .order_by("-starts_at", "-id")
        .limit(limit)
    )


# --- people waiting for an answer ----------------------------------------------------------------

# The inbox belongs to `channels`, which registers how to find the threads waiting for an answer
# when the app is wired (`crm` never imports `channels`): Today and /inbox then agree.
WaitingSource = Callable[[Actor, int], Awaitable[tuple[list[Any], int]]]
_waiting_sources: list[WaitingSource] = []


def register_waiting_source(source: WaitingSource) -> None:
    if source not in _waiting_sources:
        _waiting_sources.append(source)


async def waiting_for_answer(actor: Actor, *, limit: int) -> tuple[list[Any], int]:
    """The threads with unread messages of people `actor` sees (at most `limit`), and how many
    there are; nothing when no inbox is installed."""
    if not _waiting_sources:
        return [], 0
    return await _waiting_sources[0](actor, limit)
