"""The privacy pages: a DPO records a request, answers it (data, erasure, objection), extends or
closes it, and keeps people flagged by the retention rules, all from the browser's forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm.audit.models import AuditEntry
from crm.enums import Role
from crm.people.models import ConsentRecord, Lead, LeadSource
from crm.privacy.models import RightsRequest
from crm.privacy.retention import run_retention
from tests.crm.web.conftest import csrf_from


async def post(client, page_url: str, action: str, data: dict) -> object:
    page = await client.get(page_url)
    return await client.post(action, data={"csrf_token": csrf_from(page.text), **data})


async def test_a_dpo_answers_an_erasure_request_within_minutes(client, make_caller, sign_in):
    dpo = await make_caller(Role.COORDINATOR)
    await sign_in(dpo.user)
    lead = await Lead.create(
        first_name="Nadia", last_name="Verhoeven", phone="+32470555444", source=LeadSource.EVENT
    )
    person = await client.get(f"/leads/{lead.id}")
    assert f'href="/privacy?lead_id={lead.id}#new"' in person.text

    created = await post(
        client,
        f"/privacy?lead_id={lead.id}",
        "/privacy/requests",
        {"kind": "erasure", "received_via": "email", "lead_id": str(lead.id)},
    )
    assert created.status_code == 303, created.text
    request = await RightsRequest.get(lead_id=lead.id)
    url = f"/privacy/requests/{request.id}"
    assert created.headers["location"] == url
    page = await client.get(url)
    assert 'id="erase-form"' in page.text and "Nadia" in page.text

    unconfirmed = await post(client, url, f"{url}/erase", {})
    assert unconfirmed.status_code == 422
    assert (await Lead.get(id=lead.id)).anonymised_at is None

    erased = await post(client, url, f"{url}/erase", {"confirm": "yes"})
    assert erased.status_code == 303
    after = await client.get(url)
    assert 'id="notice"' in after.text and "Nadia" not in after.text
    lead_now = await Lead.get(id=lead.id)
    assert lead_now.anonymised_at is not None and lead_now.phone is None
    assert (await RightsRequest.get(id=request.id)).status == "done"
    person_now = await client.get(f"/leads/{lead.id}")
    assert 'id="erased-notice"' in person_now.text and "Verhoeven" not in person_now.text


async def test_the_register_shows_overdue_requests_first_and_warns(client, make_caller, sign_in):
    dpo = await make_caller(Role.ADMIN)
    await sign_in(dpo.user)
    now = datetime.now(UTC)
    old = await RightsRequest.create(
        kind="access",
        received_via="letter",
        received_at=now - timedelta(days=40),
        due_on=(now - timedelta(days=9)).date(),
    )
    await RightsRequest.create(
        kind="objection",
        received_via="sms",
        received_at=now,
        due_on=(now + timedelta(days=30)).date(),
    )
    page = await client.get("/privacy")
    assert page.status_code == 200
    assert 'id="due-alert"' in page.text
    rows = page.text.split("<tbody>")[1]
    first_row = rows.split("</tr>")[0]
    assert f"/privacy/requests/{old.id}" in first_row and 'class="overdue"' in first_row


async def test_a_bad_request_form_names_the_field_and_records_nothing(client, make_caller, sign_in):
    dpo = await make_caller(Role.COORDINATOR)
    await sign_in(dpo.user)
    response = await post(
        client,
        "/privacy",
        "/privacy/requests",
        {"kind": "erasure", "received_via": "email", "lead_id": "999999"},
    )
    assert response.status_code == 422 and 'id="form-error"' in response.text
    assert "lead_id" in response.text
    assert await RightsRequest.all().count() == 0


async def test_objection_from_the_request_page_withdraws_marketing(client, make_caller, sign_in):
    dpo = await make_caller(Role.COORDINATOR)
    await sign_in(dpo.user)
    lead = await Lead.create(first_name="Piet", phone="+32470777888", source=LeadSource.EVENT)
    await ConsentRecord.create(
        lead=lead,
        purpose="sms",
        granted=True,
        source="event",
        method="verbal",
        recorded_at=datetime.now(UTC),
    )
    request = await RightsRequest.create(
        kind="objection",
        lead=lead,
        received_via="sms",
        received_at=datetime.now(UTC),
        due_on=datetime.now(UTC).date() + timedelta(days=30),
    )
    url = f"/privacy/requests/{request.id}"
    response = await post(client, url, f"{url}/objection", {})
    assert response.status_code == 303
    latest = await ConsentRecord.filter(lead=lead, purpose="sms").order_by("-id").first()
    assert latest.granted is False and latest.method == "objection"
    assert (await RightsRequest.get(id=request.id)).status == "done"


async def test_extend_and_close_from_the_page(client, make_caller, sign_in):
    dpo = await make_caller(Role.COORDINATOR)
    await sign_in(dpo.user)
    received = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
    request = await RightsRequest.create(
        kind="access", received_via="letter", received_at=received, due_on="2026-11-01"
    )
    url = f"/privacy/requests/{request.id}"
    too_far = await post(client, url, f"{url}/extend", {"due_on": "2027-02-01", "reason": "x"})
    assert too_far.status_code == 422 and "due_on" in too_far.text
    ok = await post(client, url, f"{url}/extend", {"due_on": "2026-12-15", "reason": "archives"})
    assert ok.status_code == 303
    closed = await post(client, url, f"{url}/close", {"status": "done", "outcome": "copy sent"})
    assert closed.status_code == 303
    request = await RightsRequest.get(id=request.id)
    assert (request.status, str(request.due_on), request.outcome) == (
        "done",
        "2026-12-15",
        "copy sent",
    )


async def test_flagged_people_can_be_kept_with_a_reason(client, make_caller, sign_in):
    dpo = await make_caller(Role.COORDINATOR)
    await sign_in(dpo.user)
    lead = await Lead.create(first_name="Old", source=LeadSource.WALK_IN)
    await Lead.filter(id=lead.id).update(created_at=datetime.now(UTC) - timedelta(days=900))
    await run_retention()
    page = await client.get("/privacy/retention")
    assert f"/leads/{lead.id}" in page.text
    until = (datetime.now(UTC) + timedelta(days=100)).date().isoformat()
    response = await post(
        client,
        "/privacy/retention",
        f"/privacy/retention/{lead.id}/keep",
        {"until": until, "reason": "coaching pause"},
    )
    assert response.status_code == 303
    lead = await Lead.get(id=lead.id)
    assert str(lead.keep_until) == until and lead.inactive_flagged_at is None
    assert await AuditEntry.exists(action="privacy.retention_keep", lead_id=lead.id)


@pytest.mark.parametrize("role", [Role.MARKETING, Role.AGENT])
async def test_only_admins_and_coordinators_open_the_privacy_pages(
    client, make_caller, sign_in, role
):
    caller = await make_caller(role)
    await sign_in(caller.user)
    for url in ("/privacy", "/privacy/retention", "/privacy/requests/1"):
        assert (await client.get(url)).status_code == 403, url
    page = await client.get("/leads")
    assert 'href="/privacy"' not in page.text
