"""The suite runs on SQLite by default and on PostgreSQL when TEST_DATABASE_URL says so
(scripts/test.sh runs it both ways). Each test gets the real app with its lifespan and
empty tables; fixtures build real rows."""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

_TMP = Path(tempfile.mkdtemp(prefix="passerelle-tests-"))
# The SQLite test database lives there; it goes when the run ends.
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
DATABASE_URL = os.environ.get("TEST_DATABASE_URL") or f"sqlite://{_TMP / 'test.db'}"
os.environ["DATABASE_URL"] = DATABASE_URL
os.environ["ENVIRONMENT"] = "test"
os.environ.setdefault("SECRET_KEY", "test-secret-key-" + "x" * 32)
for _name in (
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_BOT_USERNAME",
    "TELEGRAM_WEBHOOK_SECRET",
):
    os.environ.pop(_name, None)

from crm.config import reload_settings  # noqa: E402

reload_settings()

from tortoise import Tortoise, connections  # noqa: E402

from crm import db  # noqa: E402
from crm.app import create_app  # noqa: E402
from crm.auth import service as auth  # noqa: E402
from crm.auth.models import User  # noqa: E402
from crm.enums import Role  # noqa: E402
from crm.referrals.models import PartnerKind, PartnerOrganisation  # noqa: E402

IS_POSTGRES = DATABASE_URL.startswith("postgres")


def pytest_report_header(config: pytest.Config) -> str:
    return f"database: {'postgresql' if IS_POSTGRES else 'sqlite'} ({DATABASE_URL})"


@pytest.fixture(scope="session", autouse=True)
def migrated_database() -> str:
    asyncio.run(db.run_migrations(DATABASE_URL))
    return DATABASE_URL


async def truncate_all() -> None:
    conn = connections.get("default")
    tables = sorted(
        {m._meta.db_table for m in Tortoise.apps[db.APP_LABEL].values()}
        | {
            f.through  # type: ignore[attr-defined]
            for m in Tortoise.apps[db.APP_LABEL].values()
            for f in m._meta.fields_map.values()
            if hasattr(f, "through") and f.through
        }
    )
    if IS_POSTGRES:
        await conn.execute_script(
            "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
        )
    else:
        script = "PRAGMA foreign_keys=OFF;" + "".join(f'DELETE FROM "{t}";' for t in tables)
        script += "DELETE FROM sqlite_sequence; PRAGMA foreign_keys=ON;"
        await conn.execute_script(script)


@pytest.fixture
async def app() -> AsyncIterator:
    application = create_app(database_url=DATABASE_URL)
    async with LifespanManager(application):
        await truncate_all()
        yield application


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@dataclass
class Caller:
    """A signed-in caller: a user (or a partner key) and the headers that carry its token."""

    role: Role
    headers: dict[str, str]
    user: User | None = None
    organisation: PartnerOrganisation | None = None


@pytest.fixture
def make_partner() -> Callable[..., Awaitable[PartnerOrganisation]]:
    counter = iter(range(1, 10_000))

    async def _make(
        name: str | None = None, kind: PartnerKind = PartnerKind.CPAS, **extra
    ) -> PartnerOrganisation:
        n = next(counter)
        return await PartnerOrganisation.create(
            name=name or f"Partner {n}", kind=kind, referral_code=f"code{n:04d}", **extra
        )

    return _make


@pytest.fixture
def make_caller(make_partner) -> Callable[..., Awaitable[Caller]]:
    counter = iter(range(1, 10_000))

    async def _make(
        role: Role | str = Role.ADMIN,
        *,
        organisation: PartnerOrganisation | None = None,
        **user_fields,
    ) -> Caller:
        role = Role(role)
        n = next(counter)
        if role is Role.PARTNER:
            org = organisation or await make_partner()
            key = await auth.create_partner_key(org, name=f"key {n}")
            return Caller(role, {"Authorization": f"Bearer {key}"}, None, org)
        user = await auth.create_user(
            user_fields.pop("email", f"{role.value}{n}@example.org"),
            role,
            password="correct horse battery",
            first_name=user_fields.pop("first_name", role.value.title()),
            last_name=user_fields.pop("last_name", str(n)),
            **user_fields,
        )
        token = await auth.issue_staff_token(user)
        return Caller(role, {"Authorization": f"Bearer {token}"}, user, None)

    return _make


@pytest.fixture
async def admin(app, make_caller) -> Caller:
    return await make_caller(Role.ADMIN)
