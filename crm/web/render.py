"""Rendering a page in the visitor's language, with what every page needs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse

import crm
from crm.web import csrf
from crm.web.i18n import WebI18n
from crm.web.labels import UI_LANGUAGE_NAMES
from crm.web.session import ui_language

STATIC_DIR = Path(crm.__file__).resolve().parent / "static"

# The security headers (no-store, CSP, no framing…) are added to every answer, pages included,
# by crm.security.SecurityHeadersMiddleware: one source for all of them.


def _static_versions() -> dict[str, str]:
    # A short content hash in the asset URL, so a new release is never served an old file.
    versions = {}
    for path in STATIC_DIR.rglob("*"):
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
            versions[path.relative_to(STATIC_DIR).as_posix()] = digest
    return versions


class PageError(Exception):
    """Answer with an HTML error page (403, 404…) instead of the API's JSON."""

    def __init__(self, status_code: int) -> None:
        super().__init__(status_code)
        self.status_code = status_code


def install_renderer(app: Any) -> None:
    app.state.web_i18n = WebI18n()
    app.state.static_versions = _static_versions()


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    language = ui_language(request)
    i18n: WebI18n = request.app.state.web_i18n
    versions: dict[str, str] = request.app.state.static_versions
    root = request.scope.get("root_path", "").rstrip("/")

    def static(path: str) -> str:
        version = versions.get(path)
        return f"{root}/static/{path}" + (f"?v={version}" if version else "")

    current = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    page = {
        "request": request,
        "csrf_field": csrf.CSRF_FIELD,
        "csrf_token": csrf.csrf_token(request),
        "web_user": getattr(request.state, "web_user", None),
        "current_path": current if request.method == "GET" else request.url.path,
        "ui_languages": list(UI_LANGUAGE_NAMES.items()),
        "static": static,
        **(context or {}),
    }
    html = i18n.environment(language).get_template(template).render(page)
    return HTMLResponse(html, status_code=status_code, headers=headers)


def render_error(request: Request, status_code: int) -> HTMLResponse:
    return render(request, "base/error.html", {"status": status_code}, status_code=status_code)


_MAX_PAGE = 100_000


def path_id(raw: str) -> int:
    """An id from a page's path, parsed here rather than by FastAPI so that a bad one is an
    HTML 404 and not a JSON 422."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10 or not 0 < int(raw) < 2**31:
        raise PageError(404)
    return int(raw)


def page_number(raw: str | None) -> int:
    """`?page=` as a list shows it: anything that is not a small positive number is page 1."""
    if raw and raw.isascii() and raw.isdigit() and len(raw) < 7 and int(raw) > 0:
        return min(int(raw), _MAX_PAGE)
    return 1


def page_count(total: int, page_size: int) -> int:
    """How many pages `total` rows fill; an empty list still has its one (empty) page."""
    return max(1, -(-total // page_size))


@dataclass(frozen=True)
class Paging:
    """Where a list page stands, and the links to the pages either side of it."""

    page: int
    pages: int
    limit: int
    prev_url: str | None
    next_url: str | None

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    def template_vars(self) -> dict[str, Any]:
        """What templates/base/pager.html reads."""
        return {
            "page": self.page,
            "pages": self.pages,
            "prev_url": self.prev_url,
            "next_url": self.next_url,
        }


def paging(
    total: int,
    requested_page: int,
    page_size: int,
    path: str,
    query: dict[str, str] | None = None,
    *,
    clamp: bool = True,
) -> Paging:
    """The paging of a list of `total` rows at `path`, its filters in `query` (empty ones are left
    out of the links). With `clamp`, a page past the end shows the last one; without (pages whose
    rows were fetched before the total was known), it keeps its number and links back to the
    last page."""
    pages = page_count(total, page_size)
    page = min(requested_page, pages) if clamp else requested_page

    def url(n: int) -> str:
        values = {k: v for k, v in (query or {}).items() if v}
        if n > 1:
            values["page"] = str(n)
        return path + ("?" + urlencode(values) if values else "")

    return Paging(
        page=page,
        pages=pages,
        limit=page_size,
        prev_url=url(min(page - 1, pages)) if page > 1 else None,
        next_url=url(page + 1) if page < pages else None,
    )


async def staff_names(user_ids: set[int | None]) -> dict[int, str]:
    """Display names of the staff a page mentions (authors in a timeline…), in one query."""
    from crm.auth.models import User

    ids = [i for i in user_ids if i]
    if not ids:
        return {}
    return {user.id: user.display_name for user in await User.filter(id__in=ids)}
