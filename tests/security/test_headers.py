"""Security headers on every answer (pages, API, errors, files), from crm/security.py alone."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest

from crm.config import reload_settings
from crm.enums import Role
from crm.security import CONTENT_SECURITY_POLICY, HSTS

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def _assert_protected(response, *, cache: bool = False) -> None:
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    policy = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy
    if not cache:
        assert headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "path", ["/healthz", "/api/v1/leads", "/login", "/leads", "/nowhere", "/openapi.json"]
)
async def test_answers_signed_out_carry_the_security_headers(client, path):
    response = await client.get(path)
    _assert_protected(response)
    assert "Strict-Transport-Security" not in response.headers  # the tests use http://


async def test_api_answers_with_personal_data_are_not_stored(client, admin):
    response = await client.get("/api/v1/leads", headers=admin.headers)
    assert response.status_code == 200
    _assert_protected(response)


async def test_pages_use_the_one_content_security_policy(client, make_caller):
    from tests.crm.web.conftest import login

    agent = await make_caller(Role.AGENT)
    await login(client, agent.user.email)
    page = await client.get("/field/")
    assert page.status_code == 200
    _assert_protected(page)
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src" not in CONTENT_SECURITY_POLICY  # default-src 'self': no inline script


async def test_static_files_keep_their_caching_and_get_nosniff(client):
    response = await client.get("/static/app.css")
    assert response.status_code == 200
    _assert_protected(response, cache=True)
    assert "no-store" not in response.headers.get("Cache-Control", "")


async def test_a_route_that_sets_its_own_cache_control_keeps_it(client):
    response = await client.get("/field/sw.js")
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_hsts_is_sent_when_the_public_url_is_https(client):
    reload_settings(PUBLIC_BASE_URL="https://crm.example.be")
    try:
        response = await client.get("/healthz")
    finally:
        reload_settings()
    assert response.headers["Strict-Transport-Security"] == HSTS
    assert HSTS == "max-age=63072000; includeSubDomains"


async def test_the_api_docs_allow_only_their_own_inline_script_by_hash(client):
    response = await client.get("/docs")
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    scripts = re.findall(r"<script>(.*?)</script>", response.text, re.S)
    assert scripts, "the Swagger UI page starts with an inline script"
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert "script-src 'self' https://cdn.jsdelivr.net 'sha256-" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]


def test_templates_have_no_inline_script_handler_or_style():
    """What the policy would block, so that nothing breaks: no inline <script> (JSON data
    blocks aside), no on…= handler, no javascript: URL, no style= attribute or <style>."""
    found = []
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        for match in re.finditer(r"<script\b([^>]*)>", text):
            attributes = match.group(1)
            if "src=" not in attributes and 'type="application/json"' not in attributes:
                found.append((template.name, match.group(0)))
        for pattern in (r"\son[a-z]+\s*=", r"javascript:", r"\sstyle\s*=", r"<style\b"):
            found += [(template.name, m.group(0)) for m in re.finditer(pattern, text, re.I)]
    assert not found, found
