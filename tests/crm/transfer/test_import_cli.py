"""`passerelle import leads FILE` run for real in a subprocess, on its own SQLite file."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.crm.test_cli import COMMAND, Run, _env, sqlite_only
from tests.crm.test_cli import cli as cli  # noqa: F401 - the fixture
from tests.crm.test_cli import fresh as fresh  # noqa: F401 - the fixture
from tests.crm.transfer import files

pytestmark = sqlite_only


def _count(tmp_path: Path, table: str = "lead") -> int:
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        return conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]


def test_cli_imports_a_belgian_excel_file_and_lists_refused_rows(cli: Run, tmp_path: Path):
    (tmp_path / "people.csv").write_bytes(files.belgian_csv())
    result = cli("import", "leads", "people.csv")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "5 created, 0 updated, 0 unchanged, 8 refused" in lines[0]
    assert "row 7: refused: phone: same person as row 2" in lines
    assert any(line.startswith("row 8: refused: last_name: looks like a") for line in lines)
    assert len(lines) == 1 + 8
    assert _count(tmp_path) == 5


def test_cli_dry_run_writes_no_person(cli: Run, tmp_path: Path):
    (tmp_path / "people.csv").write_bytes(files.belgian_csv())
    result = cli("import", "leads", "people.csv", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would create 5" in result.stdout and "nothing was written" in result.stdout
    assert _count(tmp_path) == 0


def test_cli_refuses_a_file_without_a_required_column_in_one_line(cli: Run, tmp_path: Path):
    (tmp_path / "bad.csv").write_text("Nom;GSM\nDubois;0470 12 34 56\n")
    result = cli("import", "leads", "bad.csv")
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "first_name" in result.stderr
    assert _count(tmp_path) == 0
    missing = cli("import", "leads", "nowhere.csv")
    assert missing.returncode != 0 and "no such file" in missing.stderr
    assert missing.stderr.strip().count("\n") == 0


def test_cli_mapping_options_and_presets(cli: Run, tmp_path: Path):
    (tmp_path / "cpas.csv").write_text("Voornaam;Naam;Nummer\nAn;Claes;0470 55 44 33\n")
    result = cli(
        "import", "leads", "cpas.csv", "--map", "Naam=last_name", "--map", "Nummer=phone",
        "--save-preset", "CPAS", "--segment", "no_income", "--consent", "sms",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (tmp_path / "cpas2.csv").write_text("Voornaam;Naam;Nummer\nBo;Maes;0470 55 44 34\n")
    again = cli("import", "leads", "cpas2.csv", "--preset", "CPAS")
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        assert conn.execute("SELECT last_name FROM lead ORDER BY id").fetchall() == [
            ("Claes",),
            ("Maes",),
        ]
        assert conn.execute("SELECT count(*) FROM consent_record").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM lead_segment").fetchone()[0] == 2


def test_cli_resumes_a_killed_import_where_it_stopped(cli: Run, tmp_path: Path):
    (tmp_path / "big.csv").write_bytes(files.generated_csv(6000))
    assert cli("migrate").returncode == 0
    proc = subprocess.Popen(
        [*COMMAND, "import", "leads", "big.csv"],
        cwd=tmp_path,
        env=_env(f"sqlite://{tmp_path / 'cli.db'}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with sqlite3.connect(tmp_path / "cli.db", timeout=1) as conn:
                row = conn.execute("SELECT processed_rows FROM import_job").fetchone()
            done = row[0] if row else 0
        except sqlite3.OperationalError:
            pass
        if done >= 1000:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(timeout=30)
    if done < 1000 or done >= 6000:
        pytest.skip(f"could not kill the import in the middle (stopped at {done} rows)")
    assert _count(tmp_path) == done  # the checkpoint moved with the rows
    result = cli("import", "leads", "big.csv")
    assert result.returncode == 0, result.stderr
    assert f"resuming job 1 at row {done + 1}" in result.stderr
    assert "(job 1, 6000 rows): 6000 created" in result.stdout
    assert _count(tmp_path) == 6000
    assert _count(tmp_path, "lead_stage_change") == 6000
