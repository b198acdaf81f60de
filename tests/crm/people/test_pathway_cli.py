"""`passerelle reports rebuild`, run for real in a subprocess against the test database (SQLite
or PostgreSQL), while the test reads and writes the same rows through the ORM."""

from __future__ import annotations

import asyncio
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from crm.auth.actor import Actor
from crm.enums import Role
from crm.people import pathway
from crm.people import service as people
from crm.people.models import Lead, Stage
from crm.people.schemas import LeadCreate, LeadUpdate
from tests.conftest import DATABASE_URL
from tests.crm.test_cli import _one_error_line, _runner

ADMIN = Actor(role=Role.ADMIN, label="test")
SUMMARY = re.compile(
    r"^pathway milestones rebuilt from the stage log: (\d+) of (\d+) people changed$"
)


async def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    # In a thread: the command opens the same database while this test's app holds it open.
    return await asyncio.to_thread(_runner(tmp_path, DATABASE_URL), *args)


def _counts(result: subprocess.CompletedProcess) -> tuple[int, int]:
    assert result.returncode == 0, result.stderr
    match = SUMMARY.match(result.stdout.strip())
    assert match, result.stdout
    return int(match.group(1)), int(match.group(2))


async def _milestones() -> list[dict]:
    return await Lead.all().order_by("id").values("id", *pathway.COLUMNS)


async def test_reports_rebuild_repairs_the_milestones_and_says_how_many_changed(app, tmp_path):
    for n, stage in enumerate((Stage.LEAD, Stage.APPLICATION, Stage.CONTACTED)):
        result = await people.find_or_create_lead(
            LeadCreate(first_name=f"Person{n}", phone=f"0470 50 00 0{n}"), actor=ADMIN
        )
        await people.update_lead(result.lead, LeadUpdate(stage=stage), actor=ADMIN)
    good = await _milestones()
    first, second, _third = (row["id"] for row in good)
    # Milestones gone wrong (a hand-made fix, a bulk update that skipped the service).
    await Lead.filter(id=first).update(lead_at=None)
    await Lead.filter(id=second).update(financed_at=datetime(2020, 1, 1, tzinfo=UTC))

    assert _counts(await _run(tmp_path, "reports", "rebuild")) == (2, 3)
    assert await _milestones() == good
    # A second run finds nothing to change.
    assert _counts(await _run(tmp_path, "reports", "rebuild")) == (0, 3)


def test_reports_without_an_action_is_a_usage_error(tmp_path):
    result = _runner(tmp_path, DATABASE_URL)("reports")
    assert result.returncode == 2
    assert _one_error_line(result).startswith("error: ")
