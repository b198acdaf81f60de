"""The deployment, tested without Docker: the processes docker-compose.yml starts, started here
with the same commands against a fresh PostgreSQL database (migrate once, then the web app with
several uvicorn workers in production mode), plus checks that the files cannot drift apart."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What each compose service runs; the live test below runs exactly these.
MIGRATE_COMMAND = ["passerelle", "migrate"]
WEB_COMMAND = [
    "passerelle",
    "serve",
    "--host",
    "0.0.0.0",
    "--port",
    "8000",
    "--workers",
    "2",
    "--no-worker",
]
WORKER_COMMAND = ["passerelle", "worker"]

CONTRACT_VARIABLES = [
    "DATABASE_URL",
    "SECRET_KEY",
    "ENVIRONMENT",
    "PUBLIC_BASE_URL",
    "TIMEZONE",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_FROM",
    "TWILIO_API_BASE",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_BOT_USERNAME",
    "TELEGRAM_WEBHOOK_SECRET",
    "TELEGRAM_API_BASE",
    "SMS_RATE_PER_SECOND",
    "TELEGRAM_RATE_PER_SECOND",
    "QUIET_HOURS",
]

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
ON_POSTGRES = TEST_DATABASE_URL.startswith(("postgres://", "postgresql://"))


# --- reading the deployment files (no YAML dependency: the layout is ours, kept simple) -------


def compose_services() -> dict[str, str]:
    """Service name -> its block of text in docker-compose.yml."""
    text = (ROOT / "docker-compose.yml").read_text()
    match = re.search(r"^services:\s*\n(.*?)(?=^\S|\Z)", text, re.S | re.M)
    assert match, "docker-compose.yml has no top-level services:"
    blocks = re.split(r"^  ([A-Za-z0-9_-]+):[ \t]*\n", match.group(1), flags=re.M)
    return dict(zip(blocks[1::2], blocks[2::2], strict=True))


def compose_command(block: str) -> list[str]:
    match = re.search(r"^    command:[ \t]*(\[.*\])[ \t]*$", block, re.M)
    assert match, f"no exec-form command: [...] in\n{block}"
    return json.loads(match.group(1))


def dockerfile_instruction(name: str) -> str:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    found = re.findall(rf"^{name}\s+(.+)$", text, re.M)
    assert found, f"Dockerfile has no {name}"
    return found[-1].strip()


def passerelle_executable() -> str:
    beside = Path(sys.executable).with_name("passerelle")
    if beside.exists():
        return str(beside)
    found = shutil.which("passerelle")
    if not found:
        pytest.fail("the `passerelle` command is not installed (pip install -e .)")
    return found


def run_command(command: list[str]) -> list[str]:
    assert command[0] == "passerelle"
    return [passerelle_executable(), *command[1:]]


def clean_env(**overrides: str) -> dict[str, str]:
    """The environment of a deployed process: only what the deployment sets, no test leftovers."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in CONTRACT_VARIABLES and not k.startswith(("PYTEST", "TEST_DATABASE"))
    }
    env.update(overrides)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# --- the files agree with each other ---------------------------------------------------------


def test_compose_runs_the_commands_this_test_runs():
    services = compose_services()
    assert set(services) >= {"db", "migrate", "web", "worker"}, services.keys()
    assert compose_command(services["migrate"]) == MIGRATE_COMMAND
    assert compose_command(services["web"]) == WEB_COMMAND
    assert compose_command(services["worker"]) == WORKER_COMMAND
    assert json.loads(dockerfile_instruction("CMD")) == WEB_COMMAND


def test_compose_wiring():
    text = (ROOT / "docker-compose.yml").read_text()
    services = compose_services()
    assert re.search(r"^    image:\s*postgres:15\b", services["db"], re.M)
    assert "pg_isready" in services["db"]
    assert re.search(r"^    restart:\s*\"no\"", services["migrate"], re.M)
    assert re.search(r"db:\s*\n\s+condition:\s*service_healthy", services["migrate"])
    for name in ("web", "worker"):
        assert re.search(
            r"migrate:\s*\n\s+condition:\s*service_completed_successfully", services[name]
        ), name
    assert re.search(r"deploy:\s*\n\s+replicas:\s*2\b", services["worker"])
    assert re.search(r"^\s+- \"?8000:8000\"?", services["web"], re.M)
    # Shared by every app service (YAML anchor), so each of them runs in production mode.
    for required in ("SECRET_KEY", "PUBLIC_BASE_URL", "POSTGRES_PASSWORD"):
        assert f"${{{required}:?" in text, required
    assert re.search(r"ENVIRONMENT:\s*production", text)
    assert re.search(
        r"DATABASE_URL:\s*postgres://passerelle:\$\{POSTGRES_PASSWORD[^}]*\}"
        r"@db:5432/passerelle",
        text,
    )
    for name in ("migrate", "web", "worker"):
        assert "<<: *passerelle" in services[name], name


def test_dockerfile_is_slim_non_root_and_checks_health():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert dockerfile_instruction("USER") == "passerelle"
    assert dockerfile_instruction("EXPOSE") == "8000"
    health = dockerfile_instruction("HEALTHCHECK")
    assert "/healthz" in health and "urllib" in health and "curl" not in health
    assert "[dev]" not in text
    for folder in ("templates", "migrations"):
        assert re.search(rf"^COPY {folder} ", text, re.M), folder
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", ".env", "*.db"} <= set(ignored)


def test_env_example_lists_every_setting_without_secrets():
    from crm.config import Settings

    text = (ROOT / ".env.example").read_text()
    for name in CONTRACT_VARIABLES:
        assert name in Settings.model_fields, name
        assert re.search(rf"^#?\s*{name}=", text, re.M), f"{name} missing from .env.example"
    for line in text.splitlines():
        if line.startswith(("TWILIO_AUTH_TOKEN=", "SECRET_KEY=", "TELEGRAM_BOT_TOKEN=")):
            assert line.split("=", 1)[1] == "", line


def test_scripts_and_ci_entry_point():
    for script in (
        "scripts/setup.sh",
        "scripts/serve.sh",
        "scripts/test.sh",
        "scripts/pg.sh",
        ".ci/run",
    ):
        path = ROOT / script
        assert os.access(path, os.X_OK), f"{script} is not executable"
        subprocess.run(["bash", "-n", str(path)], check=True)
    assert re.search(r"^exec \./scripts/test\.sh\b", (ROOT / ".ci/run").read_text(), re.M)
    readme = (ROOT / "README.md").read_text()
    assert "./scripts/serve.sh" in readme and "./scripts/test.sh" in readme


# --- production settings refuse to start without a secret --------------------------------------


@pytest.mark.parametrize("secret", [None, "short"], ids=["unset", "too-short"])
def test_production_refuses_to_start_without_secret_key(tmp_path, secret):
    env = clean_env(
        ENVIRONMENT="production",
        PUBLIC_BASE_URL="https://crm.example.org",
        DATABASE_URL=f"sqlite://{tmp_path / 'refused.db'}",
    )
    if secret is not None:
        env["SECRET_KEY"] = secret
    result = subprocess.run(
        run_command(MIGRATE_COMMAND),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    mentions = [line for line in output.splitlines() if "SECRET_KEY" in line]
    assert len(mentions) == 1, output
    assert not (tmp_path / "refused.db").exists(), "it touched the database before refusing"


# --- the deployment, live ---------------------------------------------------------------------


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """A new, empty database on the test PostgreSQL server, dropped afterwards."""
    if not ON_POSTGRES:
        pytest.skip(
            "deployment test needs PostgreSQL: runs when TEST_DATABASE_URL is a "
            "postgres:// URL (./scripts/test.sh does that in its second run)"
        )
    import asyncpg

    name = f"passerelle_deploy_{secrets.token_hex(6)}"
    parts = urlsplit(TEST_DATABASE_URL)
    server_url = urlunsplit(parts._replace(scheme="postgres", path="/postgres", query=""))

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found |= {int(p) for p in (task / "children").read_text().split()}
    except OSError:
        pass
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def request_json(
    method: str, url: str, body: dict | None = None, token: str | None = None
) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _two_workers_send_a_staff_reply(
    services: dict[str, str], env: dict[str, str], cwd: Path, base: str
) -> None:
    """The `worker` service (two replicas) beside the web app: a reply written through the API
    is sent by one of them (the console channel: no provider account in this test)."""

    def cli(*args: str, stdin: str = "") -> str:
        done = subprocess.run(
            run_command(["passerelle", *args]),
            env=env,
            cwd=cwd,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    cli(
        "createuser",
        "ops@example.org",
        "--role",
        "admin",
        "--password-stdin",
        stdin="deploy test password\n",
    )
    token = cli("token", "create", "ops@example.org")
    worker_env = {**env, "LOG_LEVEL": "INFO"}
    workers = [
        subprocess.Popen(
            run_command(compose_command(services["worker"])),
            env=worker_env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        status, lead = request_json(
            "POST", f"{base}/api/v1/leads", {"first_name": "Awa", "phone": "0470 12 34 56"}, token
        )
        assert status == 201, lead
        status, message = request_json(
            "POST",
            f"{base}/api/v1/leads/{lead['id']}/messages",
            {"channel": "sms", "body": "Bonjour Awa, à jeudi !"},
            token,
        )
        assert status == 201, message
        deadline = time.monotonic() + 60
        while message.get("status") != "sent" and time.monotonic() < deadline:
            time.sleep(0.3)
            status, page = request_json(
                "GET", f"{base}/api/v1/leads/{lead['id']}/messages", token=token
            )
            message = page["items"][0]
        assert message["status"] == "sent" and message["provider"] == "console", message
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        logs = []
        for worker in workers:
            try:
                _, err = worker.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                _, err = worker.communicate()
            logs.append(err)
    for worker, log in zip(workers, logs, strict=True):
        assert worker.returncode == 0, log
        assert "dispatcher" in log and "stopped" in log, log


def test_deployment_migrates_then_serves_with_several_workers(fresh_postgres_url, tmp_path):
    services = compose_services()
    env = clean_env(
        DATABASE_URL=fresh_postgres_url,
        ENVIRONMENT="production",
        SECRET_KEY=secrets.token_hex(32),  # 64 random characters
        PUBLIC_BASE_URL="https://crm.example.org",
    )

    # 1. the one-shot `migrate` service (twice: a second deploy has nothing to do)
    for attempt in (1, 2):
        migrate = subprocess.run(
            run_command(compose_command(services["migrate"])),
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert migrate.returncode == 0, (attempt, migrate.stdout + migrate.stderr)

    # 2. the `web` service, on a free loopback port instead of 0.0.0.0:8000
    port = free_port()
    command = compose_command(services["web"])
    command[command.index("--host") + 1] = "127.0.0.1"
    command[command.index("--port") + 1] = str(port)
    log_path = tmp_path / "web.log"
    with log_path.open("wb") as log:
        web = subprocess.Popen(
            run_command(command),
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 90
        while True:
            if web.poll() is not None:
                pytest.fail(
                    f"`{' '.join(command)}` exited with {web.returncode}:\n"
                    + log_path.read_text(errors="replace")
                )
            try:
                status, body = get(f"{base}/healthz", timeout=2)
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    "web app did not answer /healthz within 90 s:\n"
                    + log_path.read_text(errors="replace")
                )
            time.sleep(0.3)

        assert json.loads(body) == {"status": "ok", "database": "ok"}
        for _ in range(10):  # every worker process answers
            status, body = get(f"{base}/healthz")
            assert status == 200 and json.loads(body) == {"status": "ok", "database": "ok"}
        status, body = get(f"{base}/docs")
        assert status == 200, body[:500]
        status, body = get(f"{base}/openapi.json")
        assert status == 200 and json.loads(body)["info"]["title"]

        _two_workers_send_a_staff_reply(services, env, tmp_path, base)

        if Path(f"/proc/{web.pid}/task").exists():
            descendants = _children(web.pid)
            workers = descendants | {g for c in descendants for g in _children(c)}
            assert len(descendants) >= 2, (
                f"--workers 2 should start 2 worker processes, found {sorted(descendants)}\n"
                + log_path.read_text(errors="replace")
            )
    finally:
        if web.poll() is None:
            web.send_signal(signal.SIGTERM)
        try:
            web.wait(timeout=30)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(web.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            web.wait(timeout=10)
            pytest.fail(
                "web app did not stop within 30 s of SIGTERM:\n"
                + log_path.read_text(errors="replace")
            )

    # 3. a clean stop: no worker process left behind
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    leftovers = [pid for pid in workers if _alive(pid)]
    if leftovers:
        try:
            os.killpg(web.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not leftovers, f"worker processes still running after the web app stopped: {leftovers}"
