"""The role matrix of the HTML pages (and the few JSON endpoints on the page session), generated
from the app's own route list like the API's (tests/crm/test_roles.py): a new page route without
an entry here fails the suite, and every entry is tried for real, signed out and as each role:

- a signed-out visitor is sent to /login (the JSON endpoints answer 401);
- a role that is not allowed gets 403;
- an allowed role is let in (no 403, no 5xx);
- a state-changing route refuses a request without the session's CSRF token (403), even from
  an allowed role.

Public routes and provider webhooks are listed too: the webhooks must refuse a request that
is not signed."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from crm.auth import service as auth
from crm.auth.models import User
from crm.enums import Role

from ..crm.test_roles import api_routes

A, C, M, G, P = Role.ADMIN, Role.COORDINATOR, Role.MARKETING, Role.AGENT, Role.PARTNER
STAFF = {A, C, M, G}
FIELD = {A, C, G}
MANAGERS = {A, C}
CAMPAIGNERS = {A, C, M}
PUBLIC = "public"
# Answered in JSON (401 signed out; a state change takes the token in X-CSRF-Token).
JSON = "json"

EXPECTED: dict[tuple[str, str], set[Role] | str] = {
    # Signing in and out, the language switch, the signed answer link (its token is its key).
    ("GET", "/"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("POST", "/language"): PUBLIC,
    ("GET", "/r/{token}"): PUBLIC,
    ("POST", "/r/{token}"): PUBLIC,
    # The field app's service worker and manifest: no personal data, needed before sign-in.
    ("GET", "/field/sw.js"): PUBLIC,
    ("GET", "/field/manifest.webmanifest"): PUBLIC,
    ("GET", "/inbox"): STAFF,
    ("GET", "/inbox/{lead_id}"): STAFF,
    ("POST", "/inbox/{lead_id}/reply"): FIELD,
    ("POST", "/inbox/{lead_id}/assign"): FIELD,
    ("POST", "/inbox/{lead_id}/resend"): FIELD,
    ("POST", "/inbox/segments"): STAFF,
    ("GET", "/leads/duplicates"): MANAGERS,
    ("POST", "/leads/duplicates/dismiss"): MANAGERS,
    ("GET", "/leads/merge"): MANAGERS,
    ("POST", "/leads/merge"): MANAGERS,
    ("GET", "/leads/{lead_id}/data"): MANAGERS,
    ("GET", "/leads/{lead_id}/data.json"): MANAGERS,
    ("GET", "/leads"): STAFF,
    ("GET", "/leads/{lead_id}"): STAFF,
    ("POST", "/leads/{lead_id}/funder-details"): FIELD,
    ("POST", "/leads/{lead_id}/referrals"): FIELD,
    # Exporting is a permission of its own: of the default users, only the admin has it.
    ("GET", "/exports"): {A},
    ("POST", "/exports"): {A},
    ("GET", "/imports"): MANAGERS,
    ("POST", "/imports"): MANAGERS,
    ("GET", "/imports/{job_id}/mapping"): MANAGERS,
    ("POST", "/imports/{job_id}/mapping"): MANAGERS,
    ("GET", "/imports/{job_id}"): MANAGERS,
    ("POST", "/imports/{job_id}/run"): MANAGERS,
    ("GET", "/imports/{job_id}/refused.csv"): MANAGERS,
    ("GET", "/field/"): FIELD,
    ("GET", "/field/log"): FIELD,
    ("POST", "/field/log"): FIELD,
    ("GET", "/field/people"): FIELD,
    ("GET", "/field/people/{lead_id}"): FIELD,
    ("POST", "/field/people/{lead_id}/update"): FIELD,
    ("POST", "/field/people/{lead_id}/interactions"): FIELD,
    ("POST", "/field/people/{lead_id}/referrals"): FIELD,
    ("GET", "/field/events"): FIELD,
    ("GET", "/field/events/new"): FIELD,
    ("POST", "/field/events/new"): FIELD,
    ("GET", "/field/events/{event_id}/edit"): FIELD,
    ("POST", "/field/events/{event_id}/edit"): FIELD,
    ("GET", "/field/events/{event_id}/stand"): FIELD,
    ("GET", "/field/events/{event_id}"): FIELD,
    ("GET", "/field/followups"): FIELD,
    ("GET", "/field/queue"): FIELD,
    ("GET", "/field/offline"): FIELD,
    ("POST", "/field/sync"): FIELD,
    ("GET", "/field/lookup"): FIELD,
    ("GET", "/referrals"): FIELD,
    ("GET", "/referrals/{referral_id}"): FIELD,
    ("POST", "/referrals/{referral_id}/status"): FIELD,
    ("GET", "/partner"): {P},
    ("GET", "/partner/"): {P},
    ("GET", "/partner/referrals/new"): {P},
    ("POST", "/partner/referrals/new"): {P},
    ("GET", "/partner/referrals/{referral_id}"): {P},
    ("POST", "/partner/referrals/{referral_id}/status"): {P},
    ("GET", "/reports"): CAMPAIGNERS,
    ("GET", "/reports/attribution"): CAMPAIGNERS,
    ("POST", "/reports/export/{name}.{fmt}"): CAMPAIGNERS,
    ("GET", "/reports/indicators"): CAMPAIGNERS,
    ("POST", "/reports/indicators/targets"): MANAGERS,
    ("POST", "/reports/indicators/targets/{target_id}/delete"): MANAGERS,
    ("GET", "/reports/funder"): CAMPAIGNERS,
    # The rights requests register and the retention list (the DPO's pages).
    ("GET", "/privacy"): MANAGERS,
    ("POST", "/privacy/requests"): MANAGERS,
    ("GET", "/privacy/requests/{request_id}"): MANAGERS,
    ("POST", "/privacy/requests/{request_id}/{action}"): MANAGERS,
    ("GET", "/privacy/retention"): MANAGERS,
    ("POST", "/privacy/retention/{lead_id}/keep"): MANAGERS,
    ("GET", "/privacy/register"): MANAGERS,
    ("POST", "/privacy/register.{fmt}"): MANAGERS,
    ("GET", "/campaigns"): CAMPAIGNERS,
    ("GET", "/campaigns/new"): CAMPAIGNERS,
    ("POST", "/campaigns/new"): CAMPAIGNERS,
    ("GET", "/campaigns/{campaign_id}/edit"): CAMPAIGNERS,
    ("POST", "/campaigns/{campaign_id}/edit"): CAMPAIGNERS,
    ("POST", "/campaigns/preview"): CAMPAIGNERS,
    ("GET", "/campaigns/{campaign_id}"): CAMPAIGNERS,
    ("POST", "/campaigns/{campaign_id}/{action}"): CAMPAIGNERS,
    ("GET", "/stories"): CAMPAIGNERS,
    ("GET", "/stories/new"): CAMPAIGNERS,
    ("POST", "/stories/new"): CAMPAIGNERS,
    ("GET", "/stories/{story_id}/edit"): CAMPAIGNERS,
    ("POST", "/stories/{story_id}/edit"): CAMPAIGNERS,
}
# The routes on the page session that answer JSON rather than pages.
JSON_ROUTES = {
    ("POST", "/field/sync"),
    ("GET", "/field/lookup"),
    ("POST", "/campaigns/preview"),
}
# Provider webhooks: no session, no role; a request without the provider's signature (or
# secret) is refused with this status.
WEBHOOKS = {
    ("POST", "/webhooks/twilio/sms"): 403,
    ("POST", "/webhooks/twilio/status"): 403,
    ("POST", "/webhooks/telegram"): 401,
}
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "correct horse battery"


def page_routes(app) -> set[tuple[str, str]]:
    """Every route of the app outside the API schema (pages, JSON on the page session,
    webhooks), as (method, path)."""
    return {
        (method, route.path)
        for route in api_routes(app)
        if not route.include_in_schema
        for method in route.methods
    }


def _concrete(path: str) -> str:
    path = path.replace("{name}.{fmt}", "funnel.csv").replace("{token}", "not-a-signed-token")
    path = path.replace("{action}", "update" if path.startswith("/privacy/") else "pause")
    path = path.replace("{fmt}", "json")
    return re.sub(r"\{[a-z_]+\}", "999999", path)


def test_every_page_route_is_in_the_matrix(app):
    routes = page_routes(app)
    listed = set(EXPECTED) | set(WEBHOOKS)
    assert routes == listed, (
        f"not in the page matrix: {sorted(routes - listed)}; gone: {sorted(listed - routes)}"
    )
    assert JSON_ROUTES <= set(EXPECTED)


@pytest.mark.parametrize("key", sorted(WEBHOOKS))
async def test_webhooks_refuse_unsigned_requests(key, client):
    method, path = key
    response = await client.request(method, path, data={"From": "+32470000000", "Body": "x"})
    assert response.status_code == WEBHOOKS[key], response.text


async def _csrf(client: httpx.AsyncClient, page: str) -> str:
    response = await client.get(page, follow_redirects=True)
    match = _CSRF.search(response.text)
    assert match, f"no CSRF token on {page} ({response.status_code})"
    return match.group(1)


async def _request(
    client: httpx.AsyncClient, key: tuple[str, str], token: str | None
) -> httpx.Response:
    method, path = key
    if method not in STATE_CHANGING:
        return await client.request(method, _concrete(path))
    if key in JSON_ROUTES:
        headers = {"X-CSRF-Token": token} if token else {}
        return await client.request(method, _concrete(path), json={}, headers=headers)
    data = {"csrf_token": token} if token else {}
    return await client.request(method, _concrete(path), data=data)


async def test_signed_out_visitors_are_sent_to_sign_in(client):
    token = await _csrf(client, "/login")
    wrong = []
    for key, allowed in sorted(EXPECTED.items()):
        if allowed == PUBLIC:
            continue
        response = await _request(client, key, token)
        if key in JSON_ROUTES:
            if response.status_code != 401:
                wrong.append((key, response.status_code))
        elif response.status_code != 303 or not response.headers["location"].startswith("/login"):
            wrong.append((key, response.status_code, response.headers.get("location")))
    assert not wrong, wrong


async def _signed_in_as(client: httpx.AsyncClient, role: Role, make_partner) -> User:
    organisation = await make_partner() if role is Role.PARTNER else None
    user = await auth.create_user(
        f"{role.value}@example.org",
        role,
        password=PASSWORD,
        organisation_name=organisation.name if organisation else None,
    )
    token = await _csrf(client, "/login")
    response = await client.post(
        "/login", data={"csrf_token": token, "email": user.email, "password": PASSWORD}
    )
    assert response.status_code == 303, response.text
    return user


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
async def test_each_role_gets_exactly_its_pages(role, client, make_partner):
    await _signed_in_as(client, role, make_partner)
    token = await _csrf(client, "/")
    wrong = []
    for key, allowed in sorted(EXPECTED.items()):
        if allowed == PUBLIC or key == ("POST", "/logout"):
            continue
        response = await _request(client, key, token)
        if role in allowed:
            if response.status_code == 403 or response.status_code >= 500:
                wrong.append(("refused or failed", key, response.status_code))
        elif response.status_code != 403:
            wrong.append(("not refused", key, response.status_code))
    assert not wrong, wrong


@pytest.fixture
async def demo_rows(app) -> dict[str, int]:
    """The demo data set, an import waiting for its mapping and a rights request: a real row
    behind each path parameter, so that no route stops at a 404 before its CSRF check."""
    from campaigns.demo import load_demo_campaigns
    from campaigns.models import Campaign
    from crm.demo import load_demo
    from crm.outreach.models import OutreachEvent
    from crm.people.models import Lead
    from crm.privacy.models import RequestChannel, RequestKind, RightsRequest
    from crm.reports.models import IndicatorTarget
    from crm.stories.models import SuccessStory
    from crm.transfer import imports

    await load_demo()
    await load_demo_campaigns()
    job = await imports.create_job(
        filename="people.csv",
        content=b"first_name;phone\nAmina;0470123456\n",
        actor=None,
        hold=True,
    )
    lead = await Lead.all().order_by("id").first()
    rights = await RightsRequest.create(
        lead=lead,
        kind=RequestKind.ACCESS,
        received_via=RequestChannel.EMAIL,
        received_at=datetime.now(UTC),
        due_on=date.today() + timedelta(days=30),
    )
    first = {
        "lead_id": lead.id,
        "event_id": (await OutreachEvent.all().order_by("id").first()).id,
        "campaign_id": (await Campaign.all().order_by("id").first()).id,
        "story_id": (await SuccessStory.all().order_by("id").first()).id,
        "target_id": (await IndicatorTarget.all().order_by("id").first()).id,
        "job_id": job.id,
        "request_id": rights.id,
    }
    return first


def _with_rows(path: str, rows: dict[str, int], referral_id: int) -> str:
    path = path.replace("{name}.{fmt}", "funnel.csv").replace("{token}", "not-a-signed-token")
    path = path.replace("{referral_id}", str(referral_id))
    action = "update" if path.startswith("/privacy/") else "pause"
    path = path.replace("{action}", action).replace("{fmt}", "json")
    return re.sub(r"\{([a-z_]+)\}", lambda m: str(rows[m.group(1)]), path)


async def _without_token(client: httpx.AsyncClient, method: str, path: str) -> httpx.Response:
    if (method, path) in JSON_ROUTES:
        return await client.request(method, path, json={})
    return await client.request(method, path, data={"first_name": "X"})


async def test_state_changes_without_the_csrf_token_are_refused(client, demo_rows):
    """Every state-changing route, as a role it allows (the admin; a partner's user for the
    portal), on rows that exist: 403 without the token, and nothing changed."""
    from crm.demo import DEMO_PASSWORD, PARTNERS, partner_user_email
    from crm.referrals.models import Referral

    admin = await auth.create_user("csrf.admin@example.org", Role.ADMIN, password=PASSWORD)
    portal_email = partner_user_email(PARTNERS[0])
    portal_user = await User.get(email=portal_email)
    received = await Referral.filter(receiver_id=portal_user.organisation_id).first()
    assert received is not None
    wrong = []
    for email, password, role in (
        (admin.email, PASSWORD, Role.ADMIN),
        (portal_email, DEMO_PASSWORD, Role.PARTNER),
    ):
        token = await _csrf(client, "/login")
        signed = await client.post(
            "/login", data={"csrf_token": token, "email": email, "password": password}
        )
        assert signed.status_code == 303, signed.text
        for (method, path), allowed in sorted(EXPECTED.items()):
            if method not in STATE_CHANGING or (allowed != PUBLIC and role not in allowed):
                continue
            if allowed == PUBLIC and role is Role.PARTNER:
                continue  # tried as the admin
            concrete = _with_rows(path, demo_rows, received.id)
            response = await _without_token(client, method, concrete)
            if response.status_code != 403:
                wrong.append((role.value, method, concrete, response.status_code))
        await client.post("/logout", data={"csrf_token": await _csrf(client, "/")})
    assert not wrong, wrong
