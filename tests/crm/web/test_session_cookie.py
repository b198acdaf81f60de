import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from crm.config import Settings
from crm.enums import Role
from crm.web.session import SESSION_COOKIE, session_middleware_options

from .conftest import login


def _cookie_attributes(set_cookie: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in set_cookie.split(";")[1:]}


async def test_session_cookie_is_http_only_and_same_site_lax(client, make_caller):
    agent = await make_caller(Role.AGENT)
    response = await login(client, agent.user.email)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    attributes = _cookie_attributes(cookie)
    assert "httponly" in attributes
    assert "samesite=lax" in cookie.lower()
    assert "max-age" in attributes
    assert "secure" not in attributes  # the test settings use http://


async def _cookie_from_app(config: Settings) -> str:
    async def touch(request):
        request.session["x"] = 1
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/", touch)],
        middleware=[Middleware(SessionMiddleware, **session_middleware_options(config))],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        return (await client.get("/")).headers["set-cookie"]


async def test_session_cookie_is_secure_when_the_public_url_is_https():
    config = Settings(PUBLIC_BASE_URL="https://crm.example.be", SESSION_MAX_AGE_SECONDS=3600)
    options = session_middleware_options(config)
    assert options["https_only"] is True
    assert options["same_site"] == "lax"
    assert options["max_age"] == 3600
    attributes = await _cookie_from_app(config)
    assert {"secure", "httponly", "samesite", "max-age"} <= _cookie_attributes(attributes)


async def test_session_cookie_is_not_secure_on_plain_http():
    config = Settings(PUBLIC_BASE_URL="http://127.0.0.1:8000")
    assert session_middleware_options(config)["https_only"] is False
    assert "secure" not in _cookie_attributes(await _cookie_from_app(config))
