"""What every field-app page shares: who may use it and how a page is rendered."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from crm.enums import Role
from crm.outreach import followups
from crm.web.render import PageError, render
from crm.web.session import WebUser, require_user

# The people who work in the field: agents, and the coordinators and admins who do it too.
FIELD_ROLES = frozenset({Role.ADMIN, Role.COORDINATOR, Role.AGENT})


async def require_field_user(request: Request) -> WebUser:
    web_user = await require_user(request)
    if web_user.actor.role not in FIELD_ROLES:
        raise PageError(403)
    # The reminder in the menu of every field page: follow-ups due today or overdue.
    request.state.followups_due = await followups.due_count(web_user.user.id)
    return web_user


FieldUser = Annotated[WebUser, Depends(require_field_user)]


def render_field(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    section: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    """A field page; `section` marks the bottom-navigation entry that is current
    (today, log, people, events, followups)."""
    due = getattr(request.state, "followups_due", 0)
    return render(
        request,
        template,
        {"section": section, "followups_due": due, **(context or {})},
        status_code=status_code,
    )
