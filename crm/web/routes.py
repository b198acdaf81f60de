"""HTML pages (the web shell): sessions, sign-in and out, the language switch, and the pages of
each area (see `crm.web.leads`). None of them is part of the API schema."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.middleware.sessions import SessionMiddleware

from crm.auth.models import User
from crm.auth.service import sign_in
from crm.auth.throttle import Refusal
from crm.config import settings
from crm.enums import Role
from crm.security import client_address
from crm.web.csrf import CsrfRefused, checked_form
from crm.web.i18n import DEFAULT_LANGUAGE, is_ui_language
from crm.web.render import PageError, install_renderer, render, render_error
from crm.web.session import (
    LANGUAGE_CHOSEN_KEY,
    LANGUAGE_KEY,
    LoginRequired,
    end_session,
    login_url,
    safe_next,
    session_middleware_options,
    signed_in,
    start_session,
    ui_language,
)

router = APIRouter(include_in_schema=False)

_MAX_EMAIL = 254
_MAX_PASSWORD = 1024


def _redirect(url: str) -> RedirectResponse:
    # 303: the browser follows with a GET, also after a POST.
    return RedirectResponse(url, status_code=303)


@router.get("/", include_in_schema=False)
async def home(request: Request) -> Response:
    web_user = await signed_in(request)
    if web_user is None:
        return _redirect("/login")
    if web_user.actor.is_partner:
        return _redirect("/partner/")  # the partner portal: their organisation's referrals
    if web_user.actor.role is Role.AGENT:
        return _redirect("/field/")  # community agents work from their phones
    return _redirect("/leads")


@router.get("/login", include_in_schema=False)
async def login_page(request: Request, next: str | None = None) -> Response:  # noqa: A002
    target = safe_next(next)
    if await signed_in(request) is not None:
        return _redirect(target)
    return render(
        request,
        "auth/login.html",
        {"email": "", "error": False, "locked_minutes": 0, "next": target if target != "/" else ""},
    )


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    form = await checked_form(request)
    email = str(form.get("email") or "").strip()[:_MAX_EMAIL]
    password = str(form.get("password") or "")[:_MAX_PASSWORD]
    target = safe_next(form.get("next"))
    # One answer for an unknown e-mail, a wrong password or an inactive account; and while the
    # account or this address is locked, one answer whatever the password.
    user = (
        await sign_in(email, password, address=client_address(request))
        if email and password
        else None
    )
    if isinstance(user, Refusal):
        return render(
            request,
            "auth/login.html",
            {
                "email": email,
                "error": False,
                "locked_minutes": user.minutes,
                "next": target if target != "/" else "",
            },
            status_code=429,
            headers={"Retry-After": str(user.retry_after)},
        )
    if user is None:
        return render(
            request,
            "auth/login.html",
            {
                "email": email,
                "error": True,
                "locked_minutes": 0,
                "next": target if target != "/" else "",
            },
        )
    language = user.ui_language if is_ui_language(user.ui_language) else DEFAULT_LANGUAGE
    chosen = request.session.get(LANGUAGE_KEY)
    if request.session.get(LANGUAGE_CHOSEN_KEY) and is_ui_language(chosen):
        # The language picked on the login page becomes the user's.
        language = chosen
        if chosen != user.ui_language:
            await User.filter(id=user.id).update(ui_language=chosen)
    start_session(request, user, language)
    return _redirect(target)


@router.post("/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    await checked_form(request)
    await signed_in(request)
    end_session(request, ui_language(request))
    return _redirect("/login")


@router.post("/language", include_in_schema=False)
async def set_language(request: Request) -> Response:
    form = await checked_form(request)
    language = form.get("language")
    target = safe_next(form.get("next"))
    if is_ui_language(language):
        web_user = await signed_in(request)
        request.session[LANGUAGE_KEY] = language
        if web_user is not None:
            await User.filter(id=web_user.user.id).update(ui_language=language)
        else:
            request.session[LANGUAGE_CHOSEN_KEY] = True
    return _redirect(target)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return _redirect(login_url(exc.next_path))


async def _csrf_refused(request: Request, exc: Exception) -> HTMLResponse:
    await signed_in(request)
    return render(
        request, "base/error.html", {"status": 403, "csrf_refused": True}, status_code=403
    )


async def _page_error(request: Request, exc: Exception) -> HTMLResponse:
    assert isinstance(exc, PageError)
    await signed_in(request)
    return render_error(request, exc.status_code)


# Machine-to-machine paths never use the page session: no cookie to read, sign or set there.
_SESSIONLESS = ("/api/", "/webhooks/", "/static/", "/healthz")


class PageSessionMiddleware(SessionMiddleware):
    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] == "http" and scope["path"].startswith(_SESSIONLESS):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def install_web(app: FastAPI) -> None:
    """Add the session middleware, the page routes and their HTML error pages to the app."""
    from crm.web.duplicates import router as duplicates_router
    from crm.web.exports import router as exports_router
    from crm.web.field import router as field_router
    from crm.web.imports import router as imports_router
    from crm.web.lead_referrals import router as lead_referrals_router
    from crm.web.leads import router as leads_router
    from crm.web.partners import router as partners_router
    from crm.web.person_data import router as person_data_router
    from crm.web.privacy import router as privacy_router
    from crm.web.privacy_register import router as privacy_register_router
    from crm.web.referral_link import router as referral_link_router
    from crm.web.referrals import router as referrals_router
    from crm.web.report_indicators import router as report_indicators_router
    from crm.web.reports import router as reports_router

    install_renderer(app)
    app.add_middleware(PageSessionMiddleware, **session_middleware_options(settings))
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    app.add_exception_handler(PageError, _page_error)
    app.include_router(router, include_in_schema=False)
    # Before the people pages: /leads/duplicates and /leads/merge are not /leads/{id}.
    app.include_router(duplicates_router, include_in_schema=False)
    app.include_router(person_data_router, include_in_schema=False)
    app.include_router(leads_router, include_in_schema=False)
    app.include_router(lead_referrals_router, include_in_schema=False)
    app.include_router(exports_router, include_in_schema=False)
    app.include_router(imports_router, include_in_schema=False)
    app.include_router(field_router, include_in_schema=False)
    app.include_router(referrals_router, include_in_schema=False)
    app.include_router(partners_router, include_in_schema=False)
    app.include_router(referral_link_router, include_in_schema=False)
    app.include_router(reports_router, include_in_schema=False)
    app.include_router(privacy_register_router, include_in_schema=False)
    app.include_router(privacy_router, include_in_schema=False)
    app.include_router(report_indicators_router, include_in_schema=False)
