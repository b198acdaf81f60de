"""What every HTTP answer carries and every request is held to, in three small ASGI middlewares
installed around the whole app (`install_security`):

- the client's address: the socket's peer, or the X-Forwarded-For client when the peer is a
  proxy listed in TRUSTED_PROXIES (uvicorn's ProxyHeadersMiddleware does the reading);
- the security headers, on pages, API answers, errors and files alike (one source: the pages'
  renderer sets none of its own): no sniffing, no framing, a Content-Security-Policy without
  inline script, no referrer to other sites, `Cache-Control: no-store` except on /static, and
  HSTS when the public URL is https;
- a request body limit (MAX_REQUEST_BYTES; the import uploads IMPORT_MAX_BYTES), from
  Content-Length before anything is read and while a body without one streams in: 413;
- no NUL character in the path, the query or a JSON or form body: 422 naming where."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from crm.config import Settings, settings

# Pages and answers: scripts, styles, images and forms from this site only (no inline script or
# style: the templates have none, and a test keeps it so), never framed, nothing else loaded.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=63072000; includeSubDomains"
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Personal data is never kept by a browser or a proxy; the versioned static files are.
NO_STORE = "no-store"
STATIC_PREFIX = "/static/"

# The API documentation pages (FastAPI's Swagger UI and ReDoc) load their code from a CDN and
# start it with one inline script: allowed by its hash, computed from the page itself.
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
_DOCS_POLICY = (
    "default-src 'self'; script-src 'self' https://cdn.jsdelivr.net {hashes}; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)

# The uploads that take a whole file, up to IMPORT_MAX_BYTES and the form around it; their
# routes refuse a too-large Content-Length themselves (the page with an HTML page).
UPLOAD_PATHS = frozenset({("POST", "/api/v1/imports"), ("POST", "/imports")})
UPLOAD_FORM_OVERHEAD = 64 * 1024


def security_headers(path: str, config: Settings = settings) -> dict[str, str]:
    """The headers an answer to `path` gets (unless the route set its own)."""
    headers = dict(HEADERS)
    if not path.startswith(STATIC_PREFIX):
        headers["Cache-Control"] = NO_STORE
    if config.secure_cookies:  # the public URL is https: browsers stay on https
        headers["Strict-Transport-Security"] = HSTS
    return headers


def _docs_policy(body: bytes) -> str:
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(body)
    )
    return _DOCS_POLICY.format(hashes=hashes)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, config: Settings = settings) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path in DOCS_PATHS:
            await self._docs(scope, receive, send)
            return
        wanted = security_headers(path, self.config)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                _add_headers(message, wanted)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A small page: held whole, so that its inline script's hash goes into its policy.
        start: Message = {}
        body: list[bytes] = []

        async def hold(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    content = b"".join(body)
                    wanted = security_headers(scope["path"], self.config)
                    wanted["Content-Security-Policy"] = _docs_policy(content)
                    _add_headers(start, wanted)
                    await send(start)
                    await send({"type": "http.response.body", "body": content})

        await self.app(scope, receive, hold)


def _add_headers(message: Message, wanted: dict[str, str]) -> None:
    message["headers"] = list(message.get("headers", []))
    headers = MutableHeaders(scope=message)
    for name, value in wanted.items():
        if name not in headers:
            headers[name] = value


class BodyTooLarge(Exception):
    """The request body passed its limit while it was read."""


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, config: Settings = settings) -> None:
        self.app = app
        self.config = config

    def limit(self, scope: Scope) -> tuple[int, bool]:
        """The most bytes this request may send, and whether its route checks Content-Length
        itself."""
        if (scope["method"], scope["path"]) in UPLOAD_PATHS:
            return self.config.IMPORT_MAX_BYTES + UPLOAD_FORM_OVERHEAD, True
        return self.config.MAX_REQUEST_BYTES, False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, route_checks_length = self.limit(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit and not route_checks_length:
            await _too_large(send, limit)
            return

        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            # Whatever the app made of the cut-off body (FastAPI answers 400), the answer is 413.
            if exceeded and not started:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            pass
        if exceeded and not started:
            await _too_large(send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _too_large(send: Send, limit: int) -> None:
    # The rest of the body is not read: the connection is not reused for another request.
    detail = {"detail": f"the request body is larger than {limit} bytes"}
    await _json_answer(send, 413, detail, close=True)


async def _json_answer(
    send: Send, status: int, content: dict[str, Any], *, close: bool = False
) -> None:
    body = json.dumps(content).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class NulCharacterMiddleware:
    """Text with a NUL character (U+0000) is refused with 422, naming where it was: PostgreSQL
    cannot store it (asyncpg raises, a 500), and no real input has one. Checked in the path,
    the query string, and JSON or URL-encoded bodies (held here, within the body limit);
    multipart bodies (an uploaded XLSX is binary) and provider webhooks are left alone."""

    _CHECKED_BODIES = (b"application/json", b"application/x-www-form-urlencoded")
    # A JSON "\u0000" escape (not an escaped backslash followed by "u0000"): parsed only then.
    _JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.I)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        field = self._in_address(scope)
        # Provider webhooks keep their own handling: a 4xx would make Telegram retry forever.
        if field is None and not scope["path"].startswith("/webhooks/"):
            content_type = _header(scope, b"content-type").split(b";")[0].strip().lower()
            if content_type in self._CHECKED_BODIES:
                body, receive = await _held_body(receive)
                if content_type == b"application/json":
                    if self._JSON_NUL.search(body):
                        field = _nul_in_json(body)
                elif b"%00" in body:
                    field = _nul_in_query(body)
        if field is None:
            await self.app(scope, receive, send)
            return
        detail = [{"field": field, "msg": "must not contain the NUL character", "loc": [field]}]
        await _json_answer(send, 422, {"detail": detail})

    @staticmethod
    def _in_address(scope: Scope) -> str | None:
        if "\x00" in scope["path"]:
            return "path"
        query = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            return _nul_in_query(query)
        return None


def _nul_in_query(text: bytes) -> str | None:
    """The name of the first field of a query string or form body whose name or value holds a
    NUL character."""
    for name, value in parse_qsl(text.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "") or "query"
    return None


def _nul_in_json(body: bytes) -> str | None:
    """Where in a JSON body a string holds a NUL character ("consents.0.purpose"), or None
    (also for a body that is not JSON: the app says so itself)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None

    def walk(value: Any, path: str) -> str | None:
        if isinstance(value, str):
            return (path or "body") if "\x00" in value else None
        if isinstance(value, dict):
            pairs: Any = value.items()
        elif isinstance(value, list):
            pairs = enumerate(value)
        else:
            return None
        for key, item in pairs:
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in where:
                return where.replace("\x00", "") or "body"
            found = walk(item, where)
            if found:
                return found
        return None

    return walk(data, "")


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key == name:
            return value  # type: ignore[no-any-return]
    return b""


async def _held_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole body, and a `receive` that hands it to the app again."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), receive
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def client_address(request: Any) -> str:
    """Who is asking, as the throttles count it: the peer (already the forwarded client when
    the peer is a trusted proxy)."""
    client = request.client
    return client.host if client and client.host else "unknown"


def install_security(app: Any, config: Settings = settings) -> None:
    """Around everything else: the real client address first, then the headers (so that a 413
    carries them too), then the body limit, then the NUL check (which holds a body whole)."""
    app.add_middleware(NulCharacterMiddleware)
    app.add_middleware(BodyLimitMiddleware, config=config)
    app.add_middleware(SecurityHeadersMiddleware, config=config)
    trusted = [entry for entry in config.TRUSTED_PROXIES.split(",") if entry]
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)
