"""Request bodies over MAX_REQUEST_BYTES are refused with 413 (JSON), whether the length is
declared or the body streams in without one; the import uploads have IMPORT_MAX_BYTES."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from crm.config import reload_settings
from crm.enums import Role
from crm.security import UPLOAD_FORM_OVERHEAD

KIB = 1024
GENERAL = 64 * KIB
IMPORTS = 256 * KIB


@pytest.fixture
def limits():
    reload_settings(MAX_REQUEST_BYTES=GENERAL, IMPORT_MAX_BYTES=IMPORTS)
    yield
    reload_settings()


def _lead(notes_bytes: int) -> dict:
    return {"first_name": "Amina", "phone": "0470123456", "notes": "x" * notes_bytes}


async def _chunks(body: bytes, size: int = 8 * KIB) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _csv(size: int) -> bytes:
    rows = [b"first_name;phone"]
    n = 0
    while sum(len(r) + 1 for r in rows) < size:
        rows.append(b"Amina;+3247%07d" % n)
        n += 1
    return b"\n".join(rows) + b"\n"


def _assert_too_large(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 413, response.text[:200]
    assert response.headers["content-type"].startswith("application/json")
    assert str(limit) in response.json()["detail"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_a_body_declared_over_the_limit_is_refused_unread(client, admin, limits):
    response = await client.post("/api/v1/leads", json=_lead(GENERAL), headers=admin.headers)
    _assert_too_large(response, GENERAL)


async def test_the_limit_applies_before_authentication(client, limits):
    response = await client.post("/api/v1/leads", json=_lead(GENERAL))
    _assert_too_large(response, GENERAL)


async def test_a_body_streamed_without_a_length_is_cut_at_the_limit(client, admin, limits):
    body = httpx.Request("POST", "http://x", json=_lead(2 * GENERAL)).read()
    response = await client.post(
        "/api/v1/leads",
        content=_chunks(body),
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    assert "content-length" not in {k.lower() for k in response.request.headers}
    _assert_too_large(response, GENERAL)


async def test_a_body_under_the_limit_is_read(client, admin, limits):
    response = await client.post("/api/v1/leads", json=_lead(GENERAL // 8), headers=admin.headers)
    assert response.status_code != 413
    assert response.status_code < 500


async def test_a_form_page_is_held_to_the_general_limit(client, limits):
    response = await client.post("/login", data={"email": "x" * GENERAL, "password": "y"})
    _assert_too_large(response, GENERAL)


async def test_an_import_upload_may_pass_the_general_limit_up_to_its_own(client, admin, limits):
    content = _csv(2 * GENERAL)
    assert GENERAL < len(content) < IMPORTS
    response = await client.post(
        "/api/v1/imports",
        files={"file": ("people.csv", content, "text/csv")},
        data={"dry_run": "true"},
        headers=admin.headers,
    )
    assert response.status_code == 202, response.text


async def test_an_import_upload_over_its_own_limit_is_refused(client, admin, limits):
    response = await client.post(
        "/api/v1/imports",
        files={"file": ("people.csv", _csv(IMPORTS + 80 * KIB), "text/csv")},
        headers=admin.headers,
    )
    assert response.status_code == 413
    assert "detail" in response.json()


async def test_a_streamed_import_upload_over_its_limit_is_cut(client, admin, limits):
    request = httpx.Request(
        "POST", "http://x", files={"file": ("people.csv", _csv(IMPORTS + 128 * KIB), "text/csv")}
    )
    body = request.read()
    response = await client.post(
        "/api/v1/imports",
        content=_chunks(body),
        headers={**admin.headers, "Content-Type": request.headers["Content-Type"]},
    )
    _assert_too_large(response, IMPORTS + UPLOAD_FORM_OVERHEAD)  # cut while it streamed


async def test_the_import_page_answers_its_own_413_page(client, make_caller, limits):
    from tests.crm.web.conftest import login

    coordinator = await make_caller(Role.COORDINATOR)
    await login(client, coordinator.user.email)
    response = await client.post(
        "/imports", files={"file": ("people.csv", _csv(IMPORTS + 80 * KIB), "text/csv")}
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
