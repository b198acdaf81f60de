"""Field app: follow-ups: the follow-up dates that have come, the ones coming, and the
people nobody contacted for a while. An agent sees their own list; coordinators and admins
may look at an agent's (`?agent=<id>`)."""

from __future__ import annotations

from urllib.parse import urlencode
from uuid import uuid4

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from crm.outreach import followups
from crm.web.field.common import FieldUser, render_field

router = APIRouter(include_in_schema=False)

LIST_SIZE = 30  # per list: a phone page stays light (each row has its form; totals shown)


def _positive_int(raw: str | None) -> int | None:
    if raw and raw.isascii() and raw.isdigit() and len(raw) < 10 and int(raw) > 0:
        return int(raw)
    return None


@router.get("/field/followups", include_in_schema=False)
async def follow_ups(request: Request, web_user: FieldUser) -> HTMLResponse:
    actor = web_user.actor
    params = request.query_params
    days = _positive_int(params.get("days"))
    if days not in followups.NOT_CONTACTED_DAYS:
        days = followups.DEFAULT_NOT_CONTACTED_DAYS
    owner = await followups.list_owner(actor, _positive_int(params.get("agent")))
    leads = followups.people_worked_by(owner or 0)
    day = followups.local_today()
    due, due_total = await followups.due_follow_ups(leads, today=day, limit=LIST_SIZE)
    upcoming, upcoming_total = await followups.upcoming_follow_ups(
        leads, today=day, limit=LIST_SIZE
    )
    quiet, quiet_total = await followups.not_contacted_for(leads, days, limit=LIST_SIZE)
    query = {"days": str(days)} | ({"agent": str(owner)} if owner != actor.user_id else {})
    return render_field(
        request,
        "field/followups.html",
        {
            "day": day,
            "days": days,
            "day_choices": followups.NOT_CONTACTED_DAYS,
            "agents": await followups.field_workers() if actor.sees_everything else [],
            "owner": owner,
            "me": actor.user_id,
            "due": due,
            "due_total": due_total,
            "upcoming": upcoming,
            "upcoming_total": upcoming_total,
            "quiet": quiet,
            "quiet_total": quiet_total,
            "here": "/field/followups?" + urlencode(query),
            "fresh_id": lambda: str(uuid4()),
        },
        section="followups",
    )
