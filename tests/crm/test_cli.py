"""The `passerelle` console script, run for real in a subprocess on a throw-away SQLite file."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import DATABASE_URL, IS_POSTGRES

_SCRIPT = Path(sys.executable).with_name("passerelle")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "crm.cli"]
TOKEN = re.compile(r"^pst_[A-Za-z0-9_-]{43}$")
API_KEY = re.compile(r"^ppk_[A-Za-z0-9_-]{43}$")
PASSWORD = "correct horse battery staple"

sqlite_only = pytest.mark.skipif(
    IS_POSTGRES, reason="CLI subprocess tests run on their own SQLite file (once is enough)"
)


def _env(database_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TWILIO_", "TELEGRAM_", "TEST_DATABASE"))
    }
    env.update(
        DATABASE_URL=database_url,
        ENVIRONMENT="test",
        SECRET_KEY="cli-test-secret-key-" + "y" * 32,
        PYTHONUNBUFFERED="1",
    )
    return env


Run = Callable[..., subprocess.CompletedProcess]


def _runner(tmp_path: Path, database_url: str) -> Run:
    def run(
        *args: str, stdin: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        # cwd: the temp dir, so that no .env of the checkout is read.
        return subprocess.run(
            [*COMMAND, *args],
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            env=_env(database_url),
            cwd=tmp_path,
            timeout=timeout,
        )

    return run


@pytest.fixture
def fresh(tmp_path: Path) -> Run:
    """A runner on an SQLite file that does not exist yet."""
    return _runner(tmp_path, f"sqlite://{tmp_path / 'cli.db'}")


@pytest.fixture
def cli(fresh: Run) -> Run:
    """A runner on a migrated SQLite file."""
    result = fresh("migrate")
    assert result.returncode == 0, result.stderr
    return fresh


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@sqlite_only
def test_migrate_applies_then_reports_nothing_pending(fresh):
    first = fresh("migrate")
    assert first.returncode == 0, first.stderr
    assert "0001_initial" in first.stdout
    again = fresh("migrate")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "No pending migrations"


@pytest.mark.skipif(not IS_POSTGRES, reason="PostgreSQL run only")
def test_migrate_on_postgresql_reports_nothing_pending(tmp_path):
    # The session fixture migrated the test database already.
    result = _runner(tmp_path, DATABASE_URL)("migrate")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "No pending migrations"


@sqlite_only
def test_createuser_works_on_a_fresh_database(fresh):
    # No `migrate` before: on SQLite every command brings the schema up to date first.
    result = fresh(
        "createuser",
        "Agent@Example.org",
        "--role",
        "agent",
        "--password-stdin",
        "--first-name",
        "Joris",
        stdin=PASSWORD + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"created agent agent@example\.org \(id \d+\)", result.stdout.strip())


@sqlite_only
def test_createuser_refusals_are_one_line(cli):
    bad_role = cli("createuser", "x@example.org", "--role", "boss")
    assert bad_role.returncode == 2
    assert "boss" in _one_error_line(bad_role)
    short = cli(
        "createuser", "x@example.org", "--role", "admin", "--password-stdin", stdin="short\n"
    )
    assert "at least 10 characters" in _one_error_line(short)
    partner = cli("createuser", "p@example.org", "--role", "partner")
    assert "--org" in _one_error_line(partner)
    unknown_org = cli("createuser", "p@example.org", "--role", "partner", "--org", "Nowhere")
    assert "Nowhere" in _one_error_line(unknown_org)
    empty = cli("createuser", "x@example.org", "--role", "admin", "--password-stdin", stdin="")
    assert "no password" in _one_error_line(empty)
    ok = cli("createuser", "x@example.org", "--role", "admin")  # stdin is no TTY: token-only
    assert ok.returncode == 0, ok.stderr
    assert "no password set" in ok.stderr
    twice = cli("createuser", "X@example.org", "--role", "agent")
    assert "already exists" in _one_error_line(twice)


@sqlite_only
def test_token_create_prints_only_the_token(cli):
    created = cli(
        "createuser",
        "coord@example.org",
        "--role",
        "coordinator",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert created.returncode == 0, created.stderr
    result = cli("token", "create", "coord@example.org", "--hours", "2")
    assert result.returncode == 0, result.stderr
    assert TOKEN.fullmatch(result.stdout.strip()), result.stdout
    assert result.stdout.count("\n") == 1
    assert "2 h" in result.stderr
    unknown = cli("token", "create", "nobody@example.org")
    assert "nobody@example.org" in _one_error_line(unknown)
    assert unknown.stdout == ""


@sqlite_only
def test_apikey_for_an_unknown_organisation_is_one_clear_line(cli):
    result = cli("apikey", "create", "--org", "CPAS de Nulle Part")
    line = _one_error_line(result)
    assert "CPAS de Nulle Part" in line
    assert result.stdout == ""
    zero = cli("apikey", "create", "--org", "X", "--expires-days", "0")
    assert zero.returncode == 2
    _one_error_line(zero)


@sqlite_only
def test_other_commands_and_bad_databases(cli, tmp_path):
    once = cli("worker", "--once")
    assert once.returncode == 0, once.stderr
    assert "0 message(s) handled" in once.stdout
    no_bot = cli("telegram", "set-webhook")
    assert "TELEGRAM_BOT_TOKEN" in _one_error_line(no_bot)
    nothing = cli()
    assert nothing.returncode == 2
    workers = cli("serve", "--workers", "2")
    assert "PostgreSQL" in _one_error_line(workers)
    missing_dir = _runner(tmp_path, f"sqlite://{tmp_path / 'no' / 'such' / 'dir.db'}")
    unreachable = missing_dir("token", "create", "a@example.org", timeout=30)
    assert "database" in _one_error_line(unreachable)
    no_server = _runner(tmp_path, "postgres://u:secret@127.0.0.1:1/passerelle")
    refused = no_server("createuser", "a@example.org", "--role", "admin", timeout=30)
    line = _one_error_line(refused)
    assert "database" in line and "secret" not in line


@sqlite_only
def test_worker_runs_until_sigterm_and_stops_cleanly(cli, tmp_path):
    import signal

    env = _env(f"sqlite://{tmp_path / 'cli.db'}")
    env["LOG_LEVEL"] = "INFO"
    worker = subprocess.Popen(
        [*COMMAND, "worker"], env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    try:
        line = ""
        while "dispatcher" not in line:
            line = worker.stderr.readline()  # type: ignore[union-attr]
            assert line, "the worker ended before starting its dispatcher"
        worker.send_signal(signal.SIGTERM)
        try:
            _, rest = worker.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            _, rest = worker.communicate()
            raise AssertionError(f"the worker did not stop on SIGTERM: {rest}") from None
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, rest
    assert "stopped" in rest


@sqlite_only
def test_demo_command_then_keys_and_tokens_for_demo_accounts(cli):
    loaded = cli("demo", timeout=180)
    assert loaded.returncode == 0, loaded.stderr
    assert "300 people" in loaded.stdout
    assert "passerelle-demo" in loaded.stderr  # the shared demo password is said out loud
    again = cli("demo")
    assert "already holds 300 people" in _one_error_line(again)

    key = cli(
        "apikey",
        "create",
        "--org",
        "Atlas Antwerpen vzw",
        "--name",
        "Atlas CRM",
        "--expires-days",
        "30",
    )
    assert key.returncode == 0, key.stderr
    assert API_KEY.fullmatch(key.stdout.strip()), key.stdout
    assert "Atlas Antwerpen vzw" in key.stderr
    near = cli("apikey", "create", "--org", "atlas antwerpen vzw")
    assert "did you mean 'Atlas Antwerpen vzw'" in _one_error_line(near)

    token = cli("token", "create", "admin@passerelle.local")
    assert TOKEN.fullmatch(token.stdout.strip()), token.stderr
    partner = cli("token", "create", "atlas@partner.passerelle.local")
    assert "API keys" in _one_error_line(partner)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@sqlite_only
def test_serve_answers_healthz_and_accepts_cli_credentials(fresh, tmp_path):
    created = fresh(
        "createuser",
        "admin@example.org",
        "--role",
        "admin",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # also migrates the fresh database
    assert created.returncode == 0, created.stderr
    token = fresh("token", "create", "admin@example.org").stdout.strip()
    assert TOKEN.fullmatch(token)

    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [*COMMAND, "serve", "--port", str(port), "--no-worker"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=_env(f"sqlite://{tmp_path / 'cli.db'}"),
        cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, trust_env=False, timeout=2) as http:
            deadline = time.monotonic() + 20
            while True:
                assert process.poll() is None, (tmp_path / "serve.log").read_text()
                try:
                    health = http.get("/healthz")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        pytest.fail(
                            "serve did not answer within 20 s:\n"
                            + (tmp_path / "serve.log").read_text()
                        )
                    time.sleep(0.2)
            assert health.status_code == 200
            assert health.json() == {"status": "ok", "database": "ok"}
            leads = http.get("/api/v1/leads", headers={"Authorization": f"Bearer {token}"})
            assert leads.status_code == 200, leads.text
            assert leads.json()["total"] == 0
            login = http.post(
                "/api/v1/auth/token", json={"email": "admin@example.org", "password": PASSWORD}
            )
            assert login.status_code == 200, login.text
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()
