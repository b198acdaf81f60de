"""Backup and restore as the README says (pg_dump in the custom format, pg_restore into an empty
database, `passerelle migrate`), and an upgrade: a backup taken before the latest migration is
restored and brought up to date by `passerelle migrate`, keeping its data."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from crm import db
from tests.test_deploy import clean_env, fresh_postgres_url, passerelle_executable  # noqa: F401

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _tool(name: str) -> str:
    path = PG_BIN / name
    if not path.exists():
        pytest.skip(f"{path} is missing (PostgreSQL 15 client tools)")
    return str(path)


def _libpq(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(scheme="postgresql"))


async def _sql(url: str, sql: str) -> list:
    import asyncpg

    conn = await asyncpg.connect(_libpq(url))
    try:
        if ";" in sql.rstrip().rstrip(";"):
            await conn.execute(sql)  # a script: several statements, nothing to return
            return []
        return await conn.fetch(sql)
    finally:
        await conn.close()


def _passerelle(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [passerelle_executable(), *args],
        env=clean_env(DATABASE_URL=url),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def second_database(fresh_postgres_url):  # noqa: F811 - the fixture imported above
    """Another empty database on the same server (the restore target)."""
    name = f"passerelle_restore_{secrets.token_hex(6)}"
    parts = urlsplit(fresh_postgres_url)
    server = urlunsplit(parts._replace(path="/postgres"))
    asyncio.run(_sql(server, f'CREATE DATABASE "{name}"'))
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        asyncio.run(_sql(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_a_backup_restores_into_an_empty_database_and_upgrades(
    fresh_postgres_url,  # noqa: F811
    second_database,
    tmp_path,
):
    source = fresh_postgres_url
    # A database one migration behind the code, with a person and a user in it.
    migrations = sorted(
        p.stem for p in (Path(db.__file__).parent.parent / "migrations").glob("0*.py")
    )
    previous = migrations[-2]
    asyncio.run(db.run_migrations(source, target=previous))
    asyncio.run(
        _sql(
            source,
            "INSERT INTO app_user (email, role, first_name, last_name, languages, ui_language,"
            " is_active, can_export, created_at) VALUES ('dpo@example.org', 'admin', 'D', 'P',"
            " '[]', 'fr', true, true, now());"
            "INSERT INTO lead (first_name, phone, stage, source, created_at, updated_at)"
            " VALUES ('Backup', '+32470101010', 'lead', 'walk_in', now(), now());",
        )
    )
    dump = tmp_path / "passerelle.dump"
    subprocess.run(
        [_tool("pg_dump"), "--format=custom", f"--file={dump}", _libpq(source)],
        check=True,
        timeout=120,
    )
    assert dump.stat().st_size > 0

    subprocess.run(
        [_tool("pg_restore"), "--no-owner", f"--dbname={_libpq(second_database)}", str(dump)],
        check=True,
        timeout=120,
    )
    upgraded = _passerelle(second_database, "migrate")

    assert upgraded.returncode == 0, upgraded.stderr
    assert migrations[-1] in upgraded.stdout + upgraded.stderr
    rows = asyncio.run(_sql(second_database, "SELECT first_name, phone, anonymised_at FROM lead"))
    assert [tuple(r) for r in rows] == [("Backup", "+32470101010", None)]
    users = asyncio.run(_sql(second_database, "SELECT email FROM app_user"))
    assert [r["email"] for r in users] == ["dpo@example.org"]
    again = _passerelle(second_database, "migrate")
    assert again.returncode == 0, again.stderr
