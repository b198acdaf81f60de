"""`passerelle export …` and the export permission commands, run for real in a subprocess on
the test database (SQLite or PostgreSQL), with rows the test made."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from crm.audit.models import AuditEntry
from crm.auth import service as auth
from crm.auth.models import User
from crm.enums import Role
from tests.conftest import DATABASE_URL
from tests.crm.test_cli import COMMAND, _env, _one_error_line
from tests.crm.transfer.export_fixtures import person, read_csv, read_xlsx


async def passerelle(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return await asyncio.to_thread(
        subprocess.run,
        [*COMMAND, *args],
        input="",
        capture_output=True,
        text=True,
        env=_env(DATABASE_URL),
        cwd=tmp_path,
        timeout=120,
    )


async def test_cli_export_writes_the_file_and_prints_the_count(app, tmp_path):
    await person("Françoise", language="fr", phone="+32470123456")
    await person("Jan", language="nl")

    result = await passerelle(tmp_path, "export", "leads", "people.csv", "--language", "fr")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"exported 1 people to {Path('people.csv')}"
    (row,) = read_csv((tmp_path / "people.csv").read_bytes())
    assert (row["first_name"], row["phone"]) == ("Françoise", "'+32470123456")
    entry = await AuditEntry.get(action="export.leads")
    assert entry.actor_label == "command line"
    assert entry.changes["rows"] == 1


async def test_cli_export_chooses_xlsx_and_comma_by_the_arguments(app, tmp_path):
    await person("Amina", phone="+32470123456")

    as_xlsx = await passerelle(tmp_path, "export", "leads", "people.xlsx")
    as_comma = await passerelle(tmp_path, "export", "leads", "people.csv", "--delimiter", ",")

    assert as_xlsx.returncode == 0 and as_comma.returncode == 0, as_xlsx.stderr + as_comma.stderr
    header, rows = read_xlsx((tmp_path / "people.xlsx").read_bytes())
    assert rows[0][header.index("phone")].value == "+32470123456"
    assert read_csv((tmp_path / "people.csv").read_bytes(), delimiter=",")[0]["first_name"] == (
        "Amina"
    )


async def test_cli_export_refuses_an_unknown_extension_in_one_line(app, tmp_path):
    result = await passerelle(tmp_path, "export", "leads", "people.ods")

    assert "must end in .csv or .xlsx" in _one_error_line(result)
    assert not (tmp_path / "people.ods").exists()


async def test_cli_export_refuses_a_bad_filter_naming_it(app, tmp_path):
    result = await passerelle(tmp_path, "export", "leads", "x.csv", "--stage", "sleeping")

    assert "stage" in _one_error_line(result)
    assert not (tmp_path / "x.csv").exists()


async def test_grant_export_and_revoke_export(app, tmp_path):
    user = await auth.create_user("coord@example.org", Role.COORDINATOR)

    granted = await passerelle(tmp_path, "user", "grant-export", "Coord@example.org")
    assert granted.returncode == 0, granted.stderr
    assert (await User.get(id=user.id)).can_export
    revoked = await passerelle(tmp_path, "user", "revoke-export", "coord@example.org")
    assert revoked.returncode == 0, revoked.stderr
    assert not (await User.get(id=user.id)).can_export
    assert await AuditEntry.filter(action="user.export_permission", entity_id=user.id).count() == 2


async def test_createuser_with_can_export(app, tmp_path):
    result = await passerelle(
        tmp_path, "createuser", "mia@example.org", "--role", "marketing", "--can-export"
    )

    assert result.returncode == 0, result.stderr
    assert (await User.get(email="mia@example.org")).can_export


async def test_partner_user_cannot_be_granted_export(app, tmp_path, make_partner):
    org = await make_partner(name="CPAS de Forest")
    await auth.create_user("p@example.org", Role.PARTNER, organisation_name=org.name)

    result = await passerelle(tmp_path, "user", "grant-export", "p@example.org")

    assert "partner users never export" in _one_error_line(result)


async def test_createuser_partner_with_can_export_creates_nobody(app, tmp_path, make_partner):
    org = await make_partner(name="CPAS de Forest")

    result = await passerelle(
        tmp_path, "createuser", "p@example.org", "--role", "partner", "--org", org.name,
        "--can-export",
    )  # fmt: skip

    assert "partner users never export" in _one_error_line(result)
    assert not await User.exists(email="p@example.org")
