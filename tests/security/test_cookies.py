"""The one cookie the app sets (the signed session, which also holds the CSRF token): HttpOnly,
SameSite=Lax, Secure in production (https), read from the real app's Set-Cookie header."""

from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager

from crm.app import create_app
from crm.config import reload_settings
from crm.web.session import SESSION_COOKIE
from tests.conftest import DATABASE_URL


def _attributes(set_cookie: str) -> dict[str, str]:
    parts = [part.strip() for part in set_cookie.split(";")]
    return {p.split("=", 1)[0].lower(): (p.split("=", 1) + [""])[1].lower() for p in parts[1:]}


@pytest.fixture
async def https_client():
    """The app as production runs it: PUBLIC_BASE_URL is https."""
    reload_settings(PUBLIC_BASE_URL="https://crm.example.be")
    try:
        application = create_app(database_url=DATABASE_URL)
        async with LifespanManager(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(
                transport=transport, base_url="https://crm.example.be"
            ) as client:
                yield client
    finally:
        reload_settings()


async def test_in_production_the_session_cookie_is_secure_http_only_and_same_site(
    https_client,
):
    response = await https_client.get("/login")
    cookies = response.headers.get_list("set-cookie")
    assert len(cookies) == 1, cookies  # no second, script-readable CSRF cookie
    assert cookies[0].startswith(f"{SESSION_COOKIE}=")
    attributes = _attributes(cookies[0])
    assert "secure" in attributes
    assert "httponly" in attributes
    assert attributes["samesite"] == "lax"
    assert attributes["path"] == "/"


async def test_the_csrf_token_is_not_in_any_cookie_in_clear(client):
    page = await client.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    assert all(token not in cookie for cookie in page.headers.get_list("set-cookie"))


async def test_api_answers_set_no_cookie(client, admin):
    response = await client.get("/api/v1/leads", headers=admin.headers)
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
