"""The role matrix, generated from the app's own route list: a new API route without an entry
here, or without a role check, fails the suite. The pages have theirs, built the same way, in
tests/security/test_page_roles.py."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from crm.auth.deps import RoleCheck
from crm.enums import Role

A, C, M, G, P = Role.ADMIN, Role.COORDINATOR, Role.MARKETING, Role.AGENT, Role.PARTNER
STAFF = {A, C, M, G}
FIELD = {A, C, G}
PUBLIC = None

EXPECTED: dict[tuple[str, str], set[Role] | None] = {
    ("GET", "/healthz"): PUBLIC,
    ("POST", "/api/v1/auth/token"): PUBLIC,
    ("POST", "/api/v1/leads"): FIELD,
    ("GET", "/api/v1/leads"): STAFF,
    ("GET", "/api/v1/leads/{lead_id}"): STAFF | {P},
    ("PATCH", "/api/v1/leads/{lead_id}"): FIELD,
    ("POST", "/api/v1/leads/{lead_id}/consents"): FIELD,
    ("GET", "/api/v1/leads/{lead_id}/timeline"): STAFF,
    ("GET", "/api/v1/duplicates"): {A, C},
    ("POST", "/api/v1/duplicates/dismiss"): {A, C},
    ("GET", "/api/v1/leads/{lead_id}/duplicates"): {A, C},
    ("POST", "/api/v1/leads/{lead_id}/merge"): {A, C},
    ("GET", "/api/v1/leads/{lead_id}/merges"): {A, C},
    ("GET", "/api/v1/segments"): STAFF,
    ("GET", "/api/v1/events"): STAFF,
    ("POST", "/api/v1/events"): FIELD,
    ("GET", "/api/v1/events/{event_id}"): STAFF,
    ("PATCH", "/api/v1/events/{event_id}"): FIELD,
    ("GET", "/api/v1/events/{event_id}/registrations"): STAFF,
    ("POST", "/api/v1/events/{event_id}/registrations"): FIELD,
    ("PATCH", "/api/v1/events/{event_id}/registrations/{lead_id}"): FIELD,
    ("DELETE", "/api/v1/events/{event_id}/registrations/{lead_id}"): FIELD,
    ("GET", "/api/v1/leads/{lead_id}/interactions"): FIELD,
    ("POST", "/api/v1/leads/{lead_id}/interactions"): FIELD,
    ("POST", "/api/v1/sync"): FIELD,
    ("GET", "/api/v1/partners"): STAFF,
    ("POST", "/api/v1/partners"): {A, C},
    ("GET", "/api/v1/partners/{partner_id}"): STAFF,
    # A partner reaches only its own webhook (another partner's id is a 404, not a 403).
    ("GET", "/api/v1/partners/{partner_id}/webhook"): {A, C, P},
    ("PUT", "/api/v1/partners/{partner_id}/webhook"): {A, C, P},
    ("DELETE", "/api/v1/partners/{partner_id}/webhook"): {A, C, P},
    ("GET", "/api/v1/partners/{partner_id}/webhook/deliveries"): {A, C, P},
    ("POST", "/api/v1/partners/{partner_id}/webhook/deliveries/{delivery_id}/retry"): {A, C, P},
    ("POST", "/api/v1/referrals"): FIELD | {P},
    ("GET", "/api/v1/referrals"): FIELD | {P},
    ("GET", "/api/v1/referrals/{referral_id}"): FIELD | {P},
    ("PATCH", "/api/v1/referrals/{referral_id}"): FIELD | {P},
    ("GET", "/api/v1/stories"): STAFF,
    ("POST", "/api/v1/stories"): {A, C, M},
    ("GET", "/api/v1/stories/{story_id}"): STAFF,
    ("PATCH", "/api/v1/stories/{story_id}"): {A, C, M},
    ("GET", "/api/v1/leads/{lead_id}/messages"): STAFF,
    ("POST", "/api/v1/leads/{lead_id}/messages"): FIELD,
    ("POST", "/api/v1/messages/{message_id}/resend"): FIELD,
    ("GET", "/api/v1/conversations"): STAFF,
    ("POST", "/api/v1/conversations/{lead_id}/read"): FIELD,
    ("POST", "/api/v1/conversations/{lead_id}/assign"): FIELD,
    ("POST", "/api/v1/sms/segments"): STAFF,
    ("GET", "/api/v1/campaigns"): {A, C, M},
    ("POST", "/api/v1/campaigns"): {A, C, M},
    ("GET", "/api/v1/campaigns/variables"): {A, C, M},
    ("POST", "/api/v1/campaigns/preview"): {A, C, M},
    ("GET", "/api/v1/campaigns/{campaign_id}"): {A, C, M},
    ("PATCH", "/api/v1/campaigns/{campaign_id}"): {A, C, M},
    ("GET", "/api/v1/campaigns/{campaign_id}/checks"): {A, C, M},
    ("POST", "/api/v1/campaigns/{campaign_id}/schedule"): {A, C, M},
    ("POST", "/api/v1/campaigns/{campaign_id}/pause"): {A, C, M},
    ("POST", "/api/v1/campaigns/{campaign_id}/resume"): {A, C, M},
    ("POST", "/api/v1/campaigns/{campaign_id}/cancel"): {A, C, M},
    ("GET", "/api/v1/campaigns/{campaign_id}/stats"): {A, C, M},
    ("GET", "/api/v1/exports/{dataset}.{fmt}"): STAFF,
    ("POST", "/api/v1/imports"): {A, C},
    ("GET", "/api/v1/imports"): {A, C},
    ("GET", "/api/v1/imports/{job_id}"): {A, C},
    ("GET", "/api/v1/imports/{job_id}/rows"): {A, C},
    ("GET", "/api/v1/import-presets"): {A, C},
    ("POST", "/api/v1/import-presets"): {A, C},
    ("GET", "/api/v1/leads/{lead_id}/data"): {A, C},
    ("POST", "/api/v1/leads/{lead_id}/erase"): {A, C},
    ("POST", "/api/v1/leads/{lead_id}/objection"): {A, C},
    ("POST", "/api/v1/leads/{lead_id}/keep"): {A, C},
    ("GET", "/api/v1/privacy/requests"): {A, C},
    ("POST", "/api/v1/privacy/requests"): {A, C},
    ("GET", "/api/v1/privacy/requests/{request_id}"): {A, C},
    ("PATCH", "/api/v1/privacy/requests/{request_id}"): {A, C},
    ("POST", "/api/v1/privacy/requests/{request_id}/extend"): {A, C},
    ("POST", "/api/v1/privacy/requests/{request_id}/close"): {A, C},
    ("GET", "/api/v1/privacy/retention"): {A, C},
    ("GET", "/api/v1/privacy/register"): {A, C},
    ("GET", "/api/v1/reports/funnel"): {A, C, M},
    ("GET", "/api/v1/reports/compare"): {A, C, M},
    ("GET", "/api/v1/reports/trends"): {A, C, M},
    ("GET", "/api/v1/reports/attribution"): {A, C, M},
    ("GET", "/api/v1/reports/indicators"): {A, C, M},
    ("GET", "/api/v1/reports/breakdowns"): {A, C, M},
    ("GET", "/api/v1/reports/campaigns"): {A, C, M},
    ("GET", "/api/v1/reports/targets"): {A, C, M},
    ("POST", "/api/v1/reports/targets"): {A, C},
    ("PATCH", "/api/v1/reports/targets/{target_id}"): {A, C},
    ("DELETE", "/api/v1/reports/targets/{target_id}"): {A, C},
    ("GET", "/api/v1/reports/{name}.{fmt}"): {A, C, M},
}


def api_routes(app) -> list[APIRoute]:
    """Every APIRoute of the app, including those of included routers."""
    found: list[APIRoute] = []

    def walk(routes) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                found.append(route)
            elif hasattr(route, "original_router"):
                walk(route.original_router.routes)
            elif hasattr(route, "routes"):
                walk(route.routes)

    walk(app.router.routes)
    return found


def role_checks(dependant) -> list[RoleCheck]:
    checks = [dependant.call] if isinstance(dependant.call, RoleCheck) else []
    for sub in dependant.dependencies:
        checks.extend(role_checks(sub))
    return checks


def documented_api(app) -> set[tuple[str, str]]:
    return {
        (method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops
    }


async def test_every_api_route_is_in_the_matrix_and_checks_roles(app):
    routes = {(m, r.path): r for r in api_routes(app) if r.include_in_schema for m in r.methods}
    assert set(routes) == documented_api(app)
    assert set(routes) == set(EXPECTED), (
        f"not in the matrix: {set(routes) - set(EXPECTED)}; gone: {set(EXPECTED) - set(routes)}"
    )
    for key, route in routes.items():
        checks = role_checks(route.dependant)
        if EXPECTED[key] is PUBLIC:
            assert not checks, f"{key} is public but has a role check"
        else:
            assert checks, f"{key} has no role check"
            assert set(checks[0].roles) == EXPECTED[key], key


@pytest.fixture
async def callers(app, make_caller):
    return {role: await make_caller(role) for role in Role}


def _concrete(path: str) -> str:
    for name in (
        "lead_id",
        "event_id",
        "partner_id",
        "referral_id",
        "story_id",
        "message_id",
        "campaign_id",
        "job_id",
        "target_id",
    ):
        path = path.replace("{" + name + "}", "999999")
    return path.replace("{name}.{fmt}", "funnel.csv")


@pytest.mark.parametrize("key", sorted(k for k, v in EXPECTED.items() if v is not PUBLIC))
async def test_role_matrix_is_enforced(key, client, callers):
    method, path = key
    allowed = EXPECTED[key]
    anonymous = await client.request(method, _concrete(path), json={})
    assert anonymous.status_code == 401, (key, anonymous.text)
    for role, caller in callers.items():
        response = await client.request(method, _concrete(path), json={}, headers=caller.headers)
        if role in allowed:
            assert response.status_code != 403, (key, role, response.text)
            assert response.status_code < 500, (key, role, response.text)
        else:
            assert response.status_code == 403, (key, role, response.status_code, response.text)
