"""Path traversal: no request path, however encoded, serves a file from outside crm/static.

httpx would normalise `..` away, so these requests are handed to the ASGI app as a server would
after reading them off the wire: the raw path as sent, the path percent-decoded."""

from __future__ import annotations

import asyncio
from urllib.parse import unquote

import pytest

ATTEMPTS = [
    "/static/../crm/config.py",
    "/static/../config.py",
    "/static/../../pyproject.toml",
    "/static/%2e%2e/config.py",
    "/static/%2e%2e/%2e%2e/pyproject.toml",
    "/static/..%2fconfig.py",
    "/static/..%2f..%2fpyproject.toml",
    "/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
    "/static/..%5cconfig.py",
    "/static/..\\config.py",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/field/../../config.py",
    "/static/%252e%252e/config.py",
    "/static/.%2e/config.py",
    "/static/app.css%00../../config.py",
    "/static/....//....//config.py",
    "/field/../crm/config.py",
    "/../pyproject.toml",
]
# Text that appears in the files a traversal would reach, and never in a static file.
SECRETS_OF_THE_TREE = (b"class Settings", b"[build-system]", b"root:x:0:0", b"SECRET_KEY")


async def raw_get(app, raw_path: str) -> tuple[int, bytes]:
    path, _, query = raw_path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(path),
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict] = []
    requested = False

    async def receive() -> dict:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)  # the client waits for the answer (a response may listen)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), timeout=30)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


async def test_a_static_file_is_served_through_the_same_path(app):
    status, body = await raw_get(app, "/static/app.css")
    assert status == 200 and body


@pytest.mark.parametrize("raw_path", ATTEMPTS)
async def test_no_path_reaches_a_file_outside_static(app, raw_path):
    status, body = await raw_get(app, raw_path)
    assert status in (400, 404, 405, 422), (status, body[:200])
    assert not any(secret in body for secret in SECRETS_OF_THE_TREE), body[:200]
