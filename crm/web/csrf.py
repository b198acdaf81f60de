"""CSRF protection for the HTML forms: one random token per session, sent back in every form.

The session cookie is SameSite=lax already; the token also covers older browsers and
same-site subdomains."""

from __future__ import annotations

import hmac
import secrets

from starlette.datastructures import FormData
from starlette.requests import Request

CSRF_FIELD = "csrf_token"
SESSION_KEY = "csrf"
# Forms here are small: refuse file uploads and long lists of fields.
_MAX_FIELDS = 50


class CsrfRefused(Exception):
    """A form came without the session's token (or with a wrong one)."""


def new_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(request: Request) -> str:
    """The session's token, created on first use."""
    token = request.session.get(SESSION_KEY)
    if not isinstance(token, str) or len(token) < 32:
        token = new_token()
        request.session[SESSION_KEY] = token
    return token


def token_matches(request: Request, submitted: object) -> bool:
    expected = request.session.get(SESSION_KEY)
    if not isinstance(expected, str) or not isinstance(submitted, str) or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())


async def checked_form(request: Request, *, max_fields: int = _MAX_FIELDS) -> FormData:
    """The posted form, once its CSRF token is proven right; raises CsrfRefused otherwise.
    `max_fields` bounds what a form may post (forms with many checkboxes raise it)."""
    form = await request.form(max_files=0, max_fields=max_fields)
    if not token_matches(request, form.get(CSRF_FIELD)):
        raise CsrfRefused
    return form
