"""Helpers for the web pages: sign in through the real login form, read CSRF tokens."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import httpx
import pytest

from crm.auth import service as auth
from crm.auth.models import User
from crm.enums import Role

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF field in the page"
    return match.group(1)


async def login(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, next_path: str | None = None
) -> httpx.Response:
    page = await client.get("/login")
    form = {"csrf_token": csrf_from(page.text), "email": email, "password": password}
    if next_path is not None:
        form["next"] = next_path
    return await client.post("/login", data=form)


@pytest.fixture
def sign_in(client) -> Callable[..., Awaitable[httpx.Response]]:
    async def _sign_in(user: User, **kwargs) -> httpx.Response:
        response = await login(client, user.email, **kwargs)
        assert response.status_code == 303, response.text
        return response

    return _sign_in


@pytest.fixture
def make_partner_user(make_partner) -> Callable[..., Awaitable[User]]:
    async def _make(email: str = "partner.user@example.org") -> User:
        org = await make_partner(name="CPAS de Saint-Gilles")
        return await auth.create_user(
            email, Role.PARTNER, password=PASSWORD, organisation_name=org.name, first_name="Lies"
        )

    return _make


# --- the referral pages (partner portal, staff pages, answer link) ------------------------------


@pytest.fixture
async def cpas(make_partner):
    return await make_partner("CPAS de Saint-Gilles")


@pytest.fixture
async def forem(make_partner):
    return await make_partner("Forem Charleroi")


@pytest.fixture
async def social_worker(cpas) -> User:
    from .referral_rows import partner_user  # it reads PASSWORD from here

    return await partner_user(cpas, "lies@cpas.example.org")


@pytest.fixture
async def coordinator(make_caller) -> User:
    caller = await make_caller(
        Role.COORDINATOR, first_name="Nadia", last_name="Haddad", ui_language="en"
    )
    return caller.user
