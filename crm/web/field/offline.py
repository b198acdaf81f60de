"""Field app offline: the service worker, the web app manifest, the queue page and the page
shown offline when the one asked for was never saved on the phone.

The service worker's source is crm/static/field/sw.js; this route prepends what it must know
of this release (the versioned URLs of the assets the pages load, and a hash of all of it used
in the cache names), so a release with any changed asset installs a new worker, which
replaces the old caches."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from crm.web.field.common import FieldUser, render_field
from crm.web.render import STATIC_DIR

router = APIRouter(include_in_schema=False)

SW_SOURCE = STATIC_DIR / "field" / "sw.js"
# The assets every field page loads (templates/field/layout.html), precached at install, with
# the other field stylesheets and scripts (a page's own CSS). Anything else under /static/ is
# kept the first time a page loads it.
SHELL_ASSETS = ("app.css", "logo.svg", "favicon.svg")
# The pages kept for offline use as soon as the worker runs (each also refreshed on visits).
SHELL_PAGES = ("/field/", "/field/log", "/field/queue", "/field/offline")


def shell_assets() -> list[str]:
    field_assets = sorted(
        f"field/{path.name}"
        for path in (STATIC_DIR / "field").iterdir()
        if path.suffix in (".css", ".js") and path.name != "sw.js"
    )
    return [*SHELL_ASSETS, *field_assets]


def _static_url(request: Request, path: str) -> str:
    # The same URL as the pages' `static()` (crm.web.render), ?v= included.
    versions: dict[str, str] = request.app.state.static_versions
    root = request.scope.get("root_path", "").rstrip("/")
    version = versions.get(path)
    return f"{root}/static/{path}" + (f"?v={version}" if version else "")


def service_worker_source(request: Request) -> str:
    root = request.scope.get("root_path", "").rstrip("/")
    config: dict[str, Any] = {
        "static": [_static_url(request, path) for path in shell_assets()],
        "pages": [root + page for page in SHELL_PAGES],
        "offline": root + "/field/offline",
        "root": root,
    }
    source = SW_SOURCE.read_text(encoding="utf-8")
    version = hashlib.sha256(
        (json.dumps(config, sort_keys=True) + source).encode("utf-8")
    ).hexdigest()[:12]
    config["version"] = version
    return f"self.FIELD_CONFIG = {json.dumps(config, sort_keys=True)};\n{source}"


@router.get("/field/sw.js", include_in_schema=False)
async def service_worker(request: Request) -> Response:
    return Response(
        service_worker_source(request),
        media_type="application/javascript",
        headers={
            "Service-Worker-Allowed": "/field/",
            # Always asked again (the browser also checks at most every 24 h by itself).
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/field/manifest.webmanifest", include_in_schema=False)
async def manifest(request: Request) -> Response:
    root = request.scope.get("root_path", "").rstrip("/")
    body = {
        "name": "Passerelle",
        "short_name": "Passerelle",
        "description": "Log the people you meet, with or without a connection.",
        "start_url": f"{root}/field/",
        "scope": f"{root}/field/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#f4f6f8",
        "theme_color": "#0a5a9c",
        "icons": [
            {"src": _static_url(request, "logo.svg"), "sizes": "any", "type": "image/svg+xml"}
        ],
    }
    return Response(
        json.dumps(body),
        media_type="application/manifest+json",
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/field/queue", include_in_schema=False)
async def queue_page(request: Request, web_user: FieldUser) -> Response:
    # A shell: app.js fills it from the phone's own storage (IndexedDB).
    return render_field(request, "field/queue.html")


@router.get("/field/offline", include_in_schema=False)
async def offline_page(request: Request, web_user: FieldUser) -> Response:
    return render_field(request, "field/queue_offline.html")
