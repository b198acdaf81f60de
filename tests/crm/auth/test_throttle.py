"""Sign-in throttling: accounts lock after LOGIN_MAX_FAILURES failures, addresses after
LOGIN_ADDRESS_MAX_FAILURES, counted in the database (both engines run these)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager

from crm.app import create_app
from crm.audit.models import AuditEntry
from crm.auth.models import LoginThrottle
from crm.config import reload_settings, settings
from crm.enums import Role
from tests.conftest import DATABASE_URL, truncate_all

PASSWORD = "correct horse battery"
TOKEN = "/api/v1/auth/token"


async def _sign_in(client: httpx.AsyncClient, email: str, password: str, **kwargs):
    return await client.post(TOKEN, json={"email": email, "password": password}, **kwargs)


async def _fail(client: httpx.AsyncClient, email: str, times: int, **kwargs) -> None:
    for _ in range(times):
        response = await _sign_in(client, email, "not the password", **kwargs)
        assert response.status_code == 401, response.text


@pytest.fixture
async def agent(make_caller):
    return (await make_caller(Role.AGENT, email="amina@example.org")).user


async def _end_lock(key: str) -> None:
    """The lock's time is over (as if LOGIN_LOCK_MINUTES had passed)."""
    await LoginThrottle.filter(key=key).update(
        locked_until=datetime.now(UTC) - timedelta(seconds=1)
    )


async def test_the_attempt_after_the_last_allowed_failure_is_refused_with_retry_after(
    client, agent
):
    await _fail(client, agent.email, settings.LOGIN_MAX_FAILURES)
    response = await _sign_in(client, agent.email, PASSWORD)
    assert response.status_code == 429
    assert "for this account" in response.json()["detail"]
    retry_after = int(response.headers["Retry-After"])
    assert settings.LOGIN_LOCK_MINUTES * 60 - 5 <= retry_after <= settings.LOGIN_LOCK_MINUTES * 60


async def test_a_locked_account_refuses_the_right_password_until_the_lock_ends(client, agent):
    await _fail(client, agent.email, settings.LOGIN_MAX_FAILURES)
    assert (await _sign_in(client, agent.email, PASSWORD)).status_code == 429
    await _end_lock("account:amina@example.org")
    assert (await _sign_in(client, agent.email, PASSWORD)).status_code == 200


async def test_an_unknown_email_gets_exactly_the_answers_of_a_known_one(client, agent):
    known, unknown = [], []
    for _ in range(settings.LOGIN_MAX_FAILURES + 1):
        known.append(await _sign_in(client, agent.email, "not the password"))
        unknown.append(await _sign_in(client, "nobody@example.org", "not the password"))
    assert [r.status_code for r in known] == [r.status_code for r in unknown]
    assert known[-1].status_code == 429
    assert [r.json() for r in known] == [r.json() for r in unknown]


async def test_a_success_clears_the_account_failures(client, agent):
    below = settings.LOGIN_MAX_FAILURES - 1
    await _fail(client, agent.email, below)
    assert (await _sign_in(client, agent.email, PASSWORD)).status_code == 200
    assert not await LoginThrottle.filter(key="account:amina@example.org").exists()
    await _fail(client, agent.email, below)
    assert (await _sign_in(client, agent.email, PASSWORD)).status_code == 200


async def test_the_email_is_counted_whatever_its_case_or_spaces(client, agent):
    for variant in ("AMINA@example.org", " amina@EXAMPLE.org ", "Amina@Example.Org"):
        await _sign_in(client, variant, "not the password")
    await _fail(client, agent.email, settings.LOGIN_MAX_FAILURES - 3)
    assert (await _sign_in(client, agent.email, PASSWORD)).status_code == 429


async def test_failures_older_than_the_window_start_a_new_count(client, agent):
    await _fail(client, agent.email, settings.LOGIN_MAX_FAILURES - 1)
    long_ago = datetime.now(UTC) - timedelta(minutes=settings.LOGIN_WINDOW_MINUTES + 1)
    await LoginThrottle.filter(key="account:amina@example.org").update(
        window_started_at=long_ago, last_failure_at=long_ago
    )
    await _fail(client, agent.email, settings.LOGIN_MAX_FAILURES - 1)
    assert (await _sign_in(client, agent.email, PASSWORD)).status_code == 200


async def test_a_lock_that_follows_a_lock_lasts_twice_as_long(client, agent):
    key = "account:amina@example.org"
    await _fail(client, agent.email, settings.LOGIN_MAX_FAILURES)
    first = await LoginThrottle.get(key=key)
    await _end_lock(key)
    await _fail(client, agent.email, settings.LOGIN_MAX_FAILURES)
    second = await LoginThrottle.get(key=key)
    assert second.failures == 2 * settings.LOGIN_MAX_FAILURES
    first_length = first.locked_until - first.last_failure_at
    second_length = second.locked_until - second.last_failure_at
    assert abs(second_length - 2 * first_length) < timedelta(seconds=5)


async def test_each_lock_writes_one_audit_entry(client, agent):
    await _fail(client, agent.email, settings.LOGIN_MAX_FAILURES)
    for _ in range(3):  # refused while locked: no new lock
        assert (await _sign_in(client, agent.email, PASSWORD)).status_code == 429
    entries = await AuditEntry.filter(action="auth.locked")
    assert len(entries) == 1
    assert entries[0].changes["key"] == "account:amina@example.org"
    assert entries[0].changes["failures"] == settings.LOGIN_MAX_FAILURES


async def test_parallel_attempts_never_check_more_passwords_than_allowed(client, agent):
    attempts = 3 * settings.LOGIN_MAX_FAILURES
    answers = await asyncio.gather(
        *(_sign_in(client, agent.email, "not the password") for _ in range(attempts))
    )
    statuses = sorted(r.status_code for r in answers)
    assert statuses.count(401) == settings.LOGIN_MAX_FAILURES
    assert statuses.count(429) == attempts - settings.LOGIN_MAX_FAILURES
    row = await LoginThrottle.get(key="account:amina@example.org")
    assert row.failures == settings.LOGIN_MAX_FAILURES


async def test_an_address_with_too_many_failures_is_refused_for_every_account(client, agent):
    for n in range(settings.LOGIN_ADDRESS_MAX_FAILURES):
        response = await _sign_in(client, f"guess{n}@example.org", "not the password")
        assert response.status_code == 401
    response = await _sign_in(client, agent.email, PASSWORD)
    assert response.status_code == 429
    assert "from this address" in response.json()["detail"]
    assert int(response.headers["Retry-After"]) > 0
    assert await AuditEntry.filter(action="auth.locked").count() == 1


async def test_a_success_does_not_clear_the_address_failures(client, agent):
    for n in range(settings.LOGIN_ADDRESS_MAX_FAILURES - 1):
        await _sign_in(client, f"guess{n}@example.org", "not the password")
    assert (await _sign_in(client, agent.email, PASSWORD)).status_code == 200
    await _sign_in(client, "one-more@example.org", "not the password")
    assert (await _sign_in(client, agent.email, PASSWORD)).status_code == 429


async def test_x_forwarded_for_is_ignored_when_the_peer_is_not_a_trusted_proxy(client, agent):
    for n in range(settings.LOGIN_ADDRESS_MAX_FAILURES):
        forwarded = {"X-Forwarded-For": f"198.51.100.{n}"}
        await _sign_in(client, f"guess{n}@example.org", "nope", headers=forwarded)
    assert await LoginThrottle.filter(key="address:127.0.0.1").exists()
    response = await _sign_in(
        client, agent.email, PASSWORD, headers={"X-Forwarded-For": "203.0.113.9"}
    )
    assert response.status_code == 429


@pytest.fixture
async def behind_proxy(make_caller):
    """The app with TRUSTED_PROXIES naming the test client's address (127.0.0.1)."""
    reload_settings(TRUSTED_PROXIES="127.0.0.0/8")
    try:
        application = create_app(database_url=DATABASE_URL)
        async with LifespanManager(application):
            await truncate_all()
            await make_caller(Role.AGENT, email="amina@example.org")
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                yield c
    finally:
        reload_settings()


async def test_x_forwarded_for_names_the_client_behind_a_trusted_proxy(behind_proxy):
    for n in range(settings.LOGIN_ADDRESS_MAX_FAILURES):
        forwarded = {"X-Forwarded-For": "198.51.100.7, 127.0.0.1"}
        await _sign_in(behind_proxy, f"guess{n}@example.org", "nope", headers=forwarded)
    assert await LoginThrottle.filter(key="address:198.51.100.7").exists()
    assert not await LoginThrottle.filter(key="address:127.0.0.1").exists()
    other_client = {"X-Forwarded-For": "203.0.113.9"}
    ok = await _sign_in(behind_proxy, "amina@example.org", PASSWORD, headers=other_client)
    assert ok.status_code == 200
    blocked = {"X-Forwarded-For": "198.51.100.7"}
    refused = await _sign_in(behind_proxy, "amina@example.org", PASSWORD, headers=blocked)
    assert refused.status_code == 429


def test_trusted_proxies_must_be_addresses_or_networks():
    from pydantic import ValidationError

    from crm.config import Settings

    assert Settings(TRUSTED_PROXIES=" 10.0.0.0/8 , ::1").TRUSTED_PROXIES == "10.0.0.0/8,::1"
    with pytest.raises(ValidationError, match="TRUSTED_PROXIES"):
        Settings(TRUSTED_PROXIES="proxy.example.org")


async def test_keys_idle_for_two_days_are_forgotten_at_the_next_failure(client, agent):
    await _fail(client, "old.typo@example.org", 1)
    three_days_ago = datetime.now(UTC) - timedelta(days=3)
    await LoginThrottle.filter(key="account:old.typo@example.org").update(
        window_started_at=three_days_ago, last_failure_at=three_days_ago
    )
    await _fail(client, agent.email, 1)
    assert not await LoginThrottle.filter(key="account:old.typo@example.org").exists()
    assert await LoginThrottle.filter(key="account:amina@example.org").exists()
