"""Open redirects and header injection: a `next=` never leaves the site, and nothing a visitor
types (a path, a query, an uploaded file's name) reaches a response header with CR or LF."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from crm.enums import Role
from tests.crm.web.conftest import PASSWORD, csrf_from

OFF_SITE = [
    "//evil.example",
    "///evil.example",
    "https://evil.example",
    "http:evil.example",
    "javascript:alert(1)",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/%0d%0aLocation:%20https://evil.example",
    "/\r\nLocation: https://evil.example",
    "\r\n/leads",
    " //evil.example",
    "evil.example",
]


def _assert_stays_on_site(response: httpx.Response) -> None:
    location = response.headers["location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\")), location
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc, location
    assert location.isprintable() and "\\" not in location, location
    _assert_clean_headers(response)


def _assert_clean_headers(response: httpx.Response) -> None:
    for name, value in response.headers.raw:
        assert b"\r" not in value and b"\n" not in value, (name, value)
        assert name.lower() not in (b"x-injected",), name


async def _login(client: httpx.AsyncClient, email: str, next_path: str) -> httpx.Response:
    page = await client.get("/login")
    form = {"csrf_token": csrf_from(page.text), "email": email, "password": PASSWORD}
    return await client.post("/login", data={**form, "next": next_path})


async def test_a_local_next_is_followed_after_login(client, make_caller):
    agent = await make_caller(Role.AGENT)
    response = await _login(client, agent.user.email, "/leads?stage=lead")
    assert response.status_code == 303
    assert response.headers["location"] == "/leads?stage=lead"


@pytest.mark.parametrize("next_path", OFF_SITE)
async def test_next_never_leaves_the_site_after_login(client, make_caller, next_path):
    agent = await make_caller(Role.AGENT)
    response = await _login(client, agent.user.email, next_path)
    assert response.status_code == 303
    _assert_stays_on_site(response)


@pytest.mark.parametrize("next_path", OFF_SITE)
async def test_next_never_leaves_the_site_from_the_login_page_or_language_switch(
    client, make_caller, next_path
):
    agent = await make_caller(Role.AGENT)
    await _login(client, agent.user.email, "/")
    signed_in = await client.get("/login", params={"next": next_path})
    assert signed_in.status_code == 303
    _assert_stays_on_site(signed_in)
    page = await client.get("/leads")
    switched = await client.post(
        "/language", data={"csrf_token": csrf_from(page.text), "language": "nl", "next": next_path}
    )
    assert switched.status_code == 303
    _assert_stays_on_site(switched)


async def test_the_login_form_does_not_carry_an_off_site_next(client):
    page = await client.get("/login", params={"next": "//evil.example"})
    assert 'name="next" value="//' not in page.text
    local = await client.get("/login", params={"next": "/leads"})
    assert '<input type="hidden" name="next" value="/leads">' in local.text


async def test_a_crlf_in_the_address_does_not_reach_the_login_redirect(client):
    response = await client.get("/leads?q=%0D%0ASet-Cookie:%20stolen=1%0D%0AX-Injected:%201")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")
    assert "set-cookie" not in {k.lower() for k in response.headers} or all(
        "stolen" not in c for c in response.headers.get_list("set-cookie")
    )
    _assert_clean_headers(response)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/exports/leads%0D%0AX-Injected:%201.csv",
        "/api/v1/exports/leads.csv%0D%0AX-Injected:%201",
        "/api/v1/reports/funnel%0D%0AX-Injected:%201.csv",
        "/api/v1/reports/funnel.csv%0D%0AX-Injected:%201",
    ],
)
async def test_file_names_from_the_path_cannot_carry_headers(client, admin, path):
    response = await client.get(path, headers=admin.headers)
    assert response.status_code in (404, 422), response.text
    _assert_clean_headers(response)


async def test_an_uploaded_file_name_cannot_carry_headers_into_its_download(client, make_caller):
    from crm.transfer import imports

    coordinator = await make_caller(Role.COORDINATOR)
    job = await imports.create_job(
        filename='people"\r\nX-Injected: 1\r\n\r\n<script>.csv',
        content=b"first_name;phone\nAmina;0470123456\n",
        actor=None,
        hold=True,
    )
    page = await client.get("/login")
    await client.post(
        "/login",
        data={
            "csrf_token": csrf_from(page.text),
            "email": coordinator.user.email,
            "password": PASSWORD,
        },
    )
    response = await client.get(f"/imports/{job.id}/refused.csv")
    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; filename*=UTF-8''")
    assert '"' not in disposition.split("''", 1)[1]
    _assert_clean_headers(response)
