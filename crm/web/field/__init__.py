"""The field app: phone-first pages for community agents (Today, log a contact, people,
events, follow-ups), usable with a poor connection or none (see crm/static/field/)."""

from __future__ import annotations

from fastapi import APIRouter

from crm.web.field import contacts, events, followups, offline, people, sync_routes, today

router = APIRouter(include_in_schema=False)
for _module in (today, contacts, people, events, followups, offline, sync_routes):
    router.include_router(_module.router)
