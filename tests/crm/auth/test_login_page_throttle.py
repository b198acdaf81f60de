"""The sign-in page shares the API's throttle: the same counts, and a clear page when locked."""

from __future__ import annotations

import re

from crm.config import settings
from crm.enums import Role
from tests.crm.web.conftest import csrf_from, login

PASSWORD = "correct horse battery"


async def test_the_login_page_says_when_signing_in_is_paused(client, make_caller):
    agent = await make_caller(Role.AGENT, email="amina@example.org")
    for _ in range(settings.LOGIN_MAX_FAILURES):
        wrong = await login(client, agent.user.email, "not the password")
        assert (
            wrong.status_code == 200 and "Adresse e-mail ou mot de passe incorrect." in wrong.text
        )
    locked = await login(client, agent.user.email, PASSWORD)
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert "text/html" in locked.headers["content-type"]
    alert = re.search(r'<p class="alert" role="alert" id="login-error">([^<]*)</p>', locked.text)
    assert alert, locked.text
    assert str(settings.LOGIN_LOCK_MINUTES) in alert.group(1)  # "… in 15 minutes"
    assert "mot de passe incorrect" not in alert.group(1)
    assert (await client.get("/leads")).status_code == 303  # not signed in


async def test_failures_on_the_page_and_the_api_count_together(client, make_caller):
    agent = await make_caller(Role.AGENT, email="amina@example.org")
    for _ in range(settings.LOGIN_MAX_FAILURES - 1):
        await login(client, agent.user.email, "not the password")
    await client.post(
        "/api/v1/auth/token", json={"email": agent.user.email, "password": "not the password"}
    )
    api = await client.post(
        "/api/v1/auth/token", json={"email": agent.user.email, "password": PASSWORD}
    )
    assert api.status_code == 429
    page = await login(client, agent.user.email, PASSWORD)
    assert page.status_code == 429


async def test_the_locked_page_is_the_same_for_an_unknown_email(client, make_caller):
    await make_caller(Role.AGENT, email="known@example.org")
    answers = {}
    for email in ("known@example.org", "nobody@example.org"):
        for _ in range(settings.LOGIN_MAX_FAILURES):
            await login(client, email, "not the password")
        answers[email] = await login(client, email, "not the password")
    known, unknown = answers["known@example.org"], answers["nobody@example.org"]
    assert known.status_code == unknown.status_code == 429

    def strip(html: str, email: str) -> str:
        return html.replace(email, "").replace(csrf_from(html), "")

    assert strip(known.text, "known@example.org") == strip(unknown.text, "nobody@example.org")
