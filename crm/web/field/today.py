"""Field app: Today, the agent's start page on the phone: the events they work today and
this week, the follow-ups that are due, the people waiting for an answer in the inbox, and
the big "Log a contact" button."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from crm.outreach import followups
from crm.web.field.common import FieldUser, render_field

router = APIRouter(include_in_schema=False)

SHORT_LIST = 10


@router.get("/field/", include_in_schema=False)
async def today(request: Request, web_user: FieldUser) -> HTMLResponse:
    actor = web_user.actor
    day = followups.local_today()
    events = await followups.week_events(actor, today=day)
    mine = followups.people_worked_by(actor.user_id or 0)
    due, due_total = await followups.due_follow_ups(mine, today=day, limit=SHORT_LIST)
    waiting, waiting_total = await followups.waiting_for_answer(actor, limit=SHORT_LIST)
    return render_field(
        request,
        "field/today.html",
        {
            "day": day,
            "events_today": events.today,
            "events_later": events.later_this_week,
            "due": due,
            "due_total": due_total,
            "waiting": waiting,
            "waiting_total": waiting_total,
        },
        section="today",
    )
