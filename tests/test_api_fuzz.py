"""Every API operation fuzzed from the app's own /openapi.json (schemathesis, through the ASGI
app): no input, however odd, gets a server error, and answers match their documented schema.

Schemathesis runs the app (its lifespan and every request) in an event loop of its own, on a
thread of its own; the loader's lifespan is stopped at once and the test's at the end of this
module, so that no other test finds Tortoise's global context taken."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import response_schema_conformance

from crm import db
from crm.app import create_app
from crm.auth import service as auth
from crm.enums import Role

from .conftest import DATABASE_URL, truncate_all

app = create_app(database_url=DATABASE_URL)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
schemathesis_asgi.shutdown_lifespans()
# The same cases every run (derandomised, nothing replayed from a local example database).
schema.config.generation.update(max_examples=25, deterministic=True, database="none")
schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])


async def _admin_token() -> str:
    """The demo data set (so that ids 1, 2… name real people, events, referrals, campaigns…)
    and an admin's token."""
    from campaigns.demo import load_demo_campaigns
    from crm.demo import load_demo

    await db.init_db(DATABASE_URL)
    try:
        await truncate_all()
        await load_demo()
        await load_demo_campaigns()
        admin = await auth.create_user(
            "fuzz.admin@example.org", Role.ADMIN, password="correct horse battery"
        )
        return await auth.issue_staff_token(admin)
    finally:
        await db.close_db()


ADMIN: dict[str, str] = {}


@pytest.fixture(scope="module")
def admin_headers(migrated_database) -> Iterator[dict[str, str]]:
    ADMIN["Authorization"] = "Bearer " + asyncio.run(_admin_token())
    yield ADMIN
    schemathesis_asgi.shutdown_lifespans()


@schemathesis.check
def successes_match_their_schema(ctx, response, case):  # type: ignore[no-untyped-def]
    # Errors are checked by `errors_say_what_is_wrong`: their shape is ours (crm/errors.py),
    # not FastAPI's default HTTPValidationError that the schema documents.
    if 200 <= response.status_code < 300:
        return response_schema_conformance(ctx, response, case)
    return None


@schemathesis.check
def errors_say_what_is_wrong(ctx, response, case):  # type: ignore[no-untyped-def]
    if 400 <= response.status_code < 500:
        body = response.json()
        assert isinstance(body, dict) and body.get("detail"), (
            f"a {response.status_code} without a JSON detail: {response.text[:300]}"
        )
    return None


PUBLIC = {"/api/v1/auth/token", "/healthz"}


@schemathesis.check
def only_the_admin_is_let_in(ctx, response, case):  # type: ignore[no-untyped-def]
    # With the token, never a 401 (else the fuzzing would only ever meet the authentication);
    # without it (the coverage phase drops or spoils it on purpose), never a success.
    if case.operation.path in PUBLIC:
        return None
    if response.request.headers.get("Authorization") == ADMIN["Authorization"]:
        assert response.status_code != 401, response.text[:300]
    else:
        assert response.status_code >= 400, f"let in without the token: {response.status_code}"
    return None


@schema.parametrize()
def test_no_server_error_and_answers_match_the_schema(case, admin_headers):
    case.call_and_validate(
        headers=admin_headers,
        checks=[
            not_a_server_error,
            only_the_admin_is_let_in,
            successes_match_their_schema,
            errors_say_what_is_wrong,
        ],
    )
