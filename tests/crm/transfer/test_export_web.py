"""The export page: only with the permission, a POST with the CSRF token, the people list's
filters carried over."""

from __future__ import annotations

import html

from crm.audit.models import AuditEntry
from crm.auth.models import User
from crm.enums import Role
from tests.crm.transfer.export_fixtures import person, read_csv, read_xlsx
from tests.crm.web.conftest import PASSWORD, csrf_from, login


async def _signed_in(client, make_caller, role: Role, *, can_export: bool) -> User:
    caller = await make_caller(role)  # its password is the web tests' PASSWORD
    if can_export:
        await User.filter(id=caller.user.id).update(can_export=True)
    response = await login(client, caller.user.email, PASSWORD)
    assert response.status_code == 303, response.text
    return caller.user


async def test_export_page_downloads_the_filtered_file(client, make_caller):
    await _signed_in(client, make_caller, Role.COORDINATOR, can_export=True)
    await person("Élodie", language="fr")
    await person("Jan", language="nl")

    page = await client.get("/exports", params={"dataset": "leads", "language": "fr"})
    assert page.status_code == 200
    assert '<option value="fr" selected>' in page.text
    response = await client.post(
        "/exports",
        data={
            "csrf_token": csrf_from(page.text),
            "dataset": "leads",
            "format": "csv",
            "delimiter": ";",
            "language": "fr",
        },
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"].startswith('attachment; filename="passerelle-')
    assert [r["first_name"] for r in read_csv(response.content)] == ["Élodie"]
    entry = await AuditEntry.get(action="export.leads")
    assert entry.changes["filters"] == {"language": ["fr"]}


async def test_export_page_gives_xlsx(client, make_caller):
    await _signed_in(client, make_caller, Role.ADMIN, can_export=False)  # admins always may
    await person("Amina", phone="+32470123456")

    page = await client.get("/exports")
    response = await client.post(
        "/exports",
        data={"csrf_token": csrf_from(page.text), "dataset": "leads", "format": "xlsx"},
    )

    header, rows = read_xlsx(response.content)
    assert rows[0][header.index("phone")].value == "+32470123456"


async def test_export_without_csrf_token_is_refused(client, make_caller):
    await _signed_in(client, make_caller, Role.COORDINATOR, can_export=True)
    await person()

    response = await client.post("/exports", data={"dataset": "leads", "format": "csv"})

    assert response.status_code == 403
    assert not await AuditEntry.filter(action__startswith="export.").exists()


async def test_export_page_is_closed_without_the_permission(client, make_caller):
    await _signed_in(client, make_caller, Role.COORDINATOR, can_export=False)

    assert (await client.get("/exports")).status_code == 403
    people = await client.get("/leads")
    assert 'href="/exports' not in people.text


async def test_people_list_export_button_carries_the_filters(client, make_caller):
    await _signed_in(client, make_caller, Role.MARKETING, can_export=True)

    page = await client.get("/leads", params={"stage": "lead", "language": "nl"})

    link = html.unescape(page.text.split('class="button" href="/exports?', 1)[1].split('"', 1)[0])
    assert "dataset=leads" in link and "stage=lead" in link and "language=nl" in link


async def test_bad_filter_on_the_page_is_shown_not_downloaded(client, make_caller):
    await _signed_in(client, make_caller, Role.COORDINATOR, can_export=True)

    page = await client.get("/exports")
    response = await client.post(
        "/exports",
        data={
            "csrf_token": csrf_from(page.text),
            "dataset": "leads",
            "format": "csv",
            "created_since": "yesterday",
        },
    )

    assert response.status_code == 422
    assert "created_since" in response.text and 'role="alert"' in response.text
