"""The browser session: a signed cookie (Starlette's SessionMiddleware) holding the user's id,
the CSRF token and the UI language. The user is read again on every request, so a user made
inactive is signed out at their next click."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.requests import Request

from crm.auth.actor import Actor
from crm.auth.models import User
from crm.auth.service import actor_for_user
from crm.config import Settings
from crm.web import csrf
from crm.web.i18n import DEFAULT_LANGUAGE, is_ui_language, negotiate

SESSION_COOKIE = "passerelle_session"
USER_KEY = "uid"
LANGUAGE_KEY = "lang"
# Set when a visitor picks a language before signing in: the choice then becomes theirs.
LANGUAGE_CHOSEN_KEY = "lang_chosen"
_UNREAD = object()


def session_middleware_options(config: Settings) -> dict[str, Any]:
    """SessionMiddleware's arguments. Starlette always marks the cookie HttpOnly; it is
    Secure when the public URL is https."""
    return {
        "secret_key": config.SECRET_KEY,
        "session_cookie": SESSION_COOKIE,
        "max_age": config.SESSION_MAX_AGE_SECONDS,
        "same_site": "lax",
        "https_only": config.secure_cookies,
        "path": "/",
    }


@dataclass(frozen=True)
class WebUser:
    user: User
    actor: Actor


class LoginRequired(Exception):
    """The page needs a signed-in user; the visitor is sent to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def is_local_path(value: object) -> bool:
    """Only paths on this site are followed after login (no open redirect)."""
    return (
        isinstance(value, str)
        and value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and value.isprintable()
        and len(value) <= 2000
    )


def safe_next(value: object, default: str = "/") -> str:
    return value if is_local_path(value) else default  # type: ignore[return-value]


def login_url(next_path: str | None) -> str:
    if next_path and is_local_path(next_path) and next_path != "/":
        return "/login?next=" + quote(next_path, safe="/")
    return "/login"


async def signed_in(request: Request) -> WebUser | None:
    """The active user of this session (with their Actor), or None."""
    cached = getattr(request.state, "web_user", _UNREAD)  # read once per request
    if cached is not _UNREAD:
        return cached  # type: ignore[no-any-return]
    web_user = None
    user_id = request.session.get(USER_KEY)
    if isinstance(user_id, int) and 0 < user_id < 2**31:
        user = await User.get_or_none(id=user_id, is_active=True).prefetch_related("organisation")
        if user is not None:
            web_user = WebUser(user, actor_for_user(user))
        else:
            request.session.clear()  # removed or deactivated: sign out
    request.state.web_user = web_user
    return web_user


async def require_user(request: Request) -> WebUser:
    """FastAPI dependency of every signed-in page."""
    web_user = await signed_in(request)
    if web_user is None:
        path = request.url.path
        if request.url.query:
            path += "?" + request.url.query
        raise LoginRequired(path)
    return web_user


def ui_language(request: Request) -> str:
    """The page language: the user's own when signed in, else the session's choice, else the
    browser's Accept-Language, else French."""
    web_user: WebUser | None = getattr(request.state, "web_user", None)
    if web_user is not None and is_ui_language(web_user.user.ui_language):
        return web_user.user.ui_language
    chosen = request.session.get(LANGUAGE_KEY)
    if is_ui_language(chosen):
        return chosen
    return negotiate(request.headers.get("accept-language")) or DEFAULT_LANGUAGE


def start_session(request: Request, user: User, language: str) -> None:
    """A fresh session for a user who just proved who they are: the old one (and its CSRF
    token) is dropped, so a session fixed by someone else is useless."""
    request.session.clear()
    request.session[USER_KEY] = user.id
    request.session[LANGUAGE_KEY] = language
    request.session[csrf.SESSION_KEY] = csrf.new_token()


def end_session(request: Request, language: str) -> None:
    request.session.clear()
    request.session[LANGUAGE_KEY] = language
    request.session[csrf.SESSION_KEY] = csrf.new_token()
    request.state.web_user = None
