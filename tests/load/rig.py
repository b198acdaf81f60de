"""The load-and-faults rig: the deployment of docker-compose.yml outside Docker, on a PostgreSQL
cluster of its own that a test may stop, crash and restart.

The same commands as the compose services (read from docker-compose.yml by tests/test_deploy):
`passerelle migrate` once, `passerelle serve … --workers 2 --no-worker` (two uvicorn worker
processes) and two `passerelle worker`; the Twilio and Telegram stand-ins run in processes of
their own (`python -m tests.standins`), so the real client libraries talk to them over HTTP.
Every process is started in its own session and stopped, or killed, by its process group.
Used by tests/load and by bench/bench_faults.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from channels.dispatcher import HEARTBEAT_SECONDS
from tests.load.cluster import PgCluster, free_port
from tests.load.processes import StandinProcess, log_tail, run_sync, stop_group
from tests.test_deploy import (
    clean_env,
    compose_command,
    compose_services,
    passerelle_executable,
    run_command,
)

PUBLIC_BASE_URL = "https://crm.example.org"
TWILIO_FROM = "+3225550100"
ACCOUNT_SID = "AC" + "7" * 32
AUTH_TOKEN = "load-twilio-auth-token"
BOT_TOKEN = "424242:LOAD-standin-token"
WEBHOOK_SECRET = "load-webhook-secret_42"
ADMIN_EMAIL = "ops@example.org"
# Arrivals of this many seconds of sending that the stand-in may see bunched (see within_rate).
RATE_SLACK = 0.15
# Rows a test leaves behind are removed before the next one; users and tokens stay.
KEPT_TABLES = {"app_user", "api_token", "tortoise_migrations", "worker_heartbeat"}


@dataclass
class RigOptions:
    sms_rate: float = 250.0  # SMS_RATE_PER_SECOND, shared by the workers
    # Telegram slower, and slower to answer: a campaign's Telegram messages are still going
    # out, some of them in flight, when a worker is killed.
    telegram_rate: float = 40.0
    lease_seconds: int = 20  # OUTBOX_LEASE_SECONDS: how soon a killed worker's rows come back
    latency: float = 0.05  # seconds the Twilio stand-in takes to answer
    telegram_latency: float = 1.0
    workers: int = 2
    web_workers: int = 2


def closed_office_env() -> dict[str, str]:
    """Office hours on a weekday that is neither today nor tomorrow: every person who writes
    is due exactly one after-hours acknowledgement (the same opening all run long)."""
    today = datetime.now(ZoneInfo("Europe/Brussels")).date()
    return {"OFFICE_DAYS": str((today + timedelta(days=3)).isoweekday())}


class Rig:
    """The deployment under test. `start()` once; `heal()` before each scenario (the cluster
    up, every worker alive); `close()` at the end, whatever happened."""

    def __init__(self, workdir: Path, options: RigOptions | None = None) -> None:
        self.dir = workdir
        self.options = options or RigOptions()
        self.cluster = PgCluster()
        self.twilio = StandinProcess(
            "twilio",
            ["--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN],
            latency=self.options.latency,
            log=workdir / "standin-twilio.log",
        )
        self.telegram = StandinProcess(
            "telegram",
            ["--token", BOT_TOKEN, "--lax-webhook"],
            latency=self.options.telegram_latency,
            log=workdir / "standin-telegram.log",
        )
        self.services = compose_services()
        self.web: subprocess.Popen[bytes] | None = None
        self.web_url = ""
        self.workers: list[subprocess.Popen[bytes]] = []
        self.token = ""
        self._secret = secrets.token_hex(32)
        self._logs = 0

    # ---- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.cluster.url

    @property
    def env(self) -> dict[str, str]:
        """What the compose file gives every app service, pointed at the rig."""
        return clean_env(
            DATABASE_URL=self.url,
            ENVIRONMENT="production",
            SECRET_KEY=self._secret,
            PUBLIC_BASE_URL=PUBLIC_BASE_URL,
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            TWILIO_FROM=TWILIO_FROM,
            TWILIO_API_BASE=self.twilio.url,
            TELEGRAM_BOT_TOKEN=BOT_TOKEN,
            TELEGRAM_BOT_USERNAME="passerelle_load_bot",
            TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
            TELEGRAM_API_BASE=self.telegram.url,
            SMS_RATE_PER_SECOND=str(self.options.sms_rate),
            TELEGRAM_RATE_PER_SECOND=str(self.options.telegram_rate),
            OUTBOX_LEASE_SECONDS=str(self.options.lease_seconds),
            QUIET_HOURS="",
            OFFICE_HOURS="09:00-17:00",
            LOG_LEVEL="WARNING",
            **closed_office_env(),
        )

    def start(self) -> None:
        self.cluster.init()
        self.twilio.start()
        self.telegram.start()
        self.cli(*compose_command(self.services["migrate"])[1:])
        self.cli("createuser", ADMIN_EMAIL, "--role", "admin", "--password-stdin",
                 stdin="load test password 42\n")  # fmt: skip
        self.token = self.cli("token", "create", ADMIN_EMAIL).strip().splitlines()[-1]
        self.start_web()
        for _ in range(self.options.workers):
            self.start_worker()
        self._converge()

    def close(self) -> None:
        for proc in [*self.workers, *([self.web] if self.web else [])]:
            stop_group(proc)
        self.workers, self.web = [], None
        self.twilio.stop()
        self.telegram.stop()
        self.cluster.destroy()

    def heal(self) -> None:
        """Back to the starting line after a scenario that broke things on purpose."""
        if not self.cluster.running():
            self.cluster.start()
        self.wait_healthy()
        for proc in [w for w in self.workers if w.poll() is not None]:
            self.workers.remove(proc)
        if len(self.workers) < self.options.workers:
            while len(self.workers) < self.options.workers:
                self.start_worker()
            self._converge()

    def _converge(self) -> None:
        # The workers already running lower their share of the rate only at their next
        # heartbeat (channels.dispatcher.HEARTBEAT_SECONDS): a scenario starts after it.
        time.sleep(HEARTBEAT_SECONDS + 1)

    def cli(self, *args: str, stdin: str = "", timeout: float = 300) -> str:
        done = subprocess.run(
            [passerelle_executable(), *args],
            env=self.env,
            cwd=self.dir,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"passerelle {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        self._logs += 1
        log = self.dir / f"{self._logs:02d}-{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                command,
                env=self.env,
                cwd=self.dir,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc.log_path = log  # type: ignore[attr-defined]
        return proc

    def start_web(self) -> None:
        command = compose_command(self.services["web"])
        command[command.index("--host") + 1] = "127.0.0.1"
        port = free_port()
        command[command.index("--port") + 1] = str(port)
        command[command.index("--workers") + 1] = str(self.options.web_workers)
        self.web = self._spawn("web", run_command(command))
        self.web_url = f"http://127.0.0.1:{port}"
        self.wait_healthy(timeout=120)

    def wait_healthy(self, timeout: float = 90) -> float:
        """Seconds until /healthz answered 200."""
        started = time.monotonic()
        deadline = started + timeout
        assert self.web is not None
        with httpx.Client(timeout=5, trust_env=False) as client:
            while True:
                if self.web.poll() is not None:
                    raise RuntimeError(f"the web app exited:\n{log_tail(self.web)}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.web_url + "/healthz").status_code == 200:
                        return time.monotonic() - started
                if time.monotonic() > deadline:
                    raise RuntimeError(f"/healthz not 200 in {timeout} s:\n{log_tail(self.web)}")
                time.sleep(0.2)

    def start_worker(self, timeout: float = 120) -> subprocess.Popen[bytes]:
        worker = self._spawn("worker", run_command(compose_command(self.services["worker"])))
        prefix = f"{socket.gethostname()[:40]}-{worker.pid}-"
        deadline = time.monotonic() + timeout
        query = "SELECT count(*) FROM worker_heartbeat WHERE worker_id LIKE $1"
        try:
            while not run_sync(self.value(query, prefix + "%")):
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the worker did not start:\n{log_tail(worker)}")
                time.sleep(0.2)
        except BaseException:
            stop_group(worker)  # never left running behind a failed start
            raise
        self.workers.append(worker)
        return worker

    def kill_worker(self, index: int = 0) -> subprocess.Popen[bytes]:
        """SIGKILL: no chance to give anything back, as when the machine loses the process."""
        worker = self.workers[index]
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        return worker

    # ---- the database, from outside the app ----------------------------------------------------

    @contextlib.asynccontextmanager
    async def connect(self, patience: float = 60) -> AsyncIterator[asyncpg.Connection]:
        """One connection, waiting (up to `patience` seconds) for a restarting server."""
        deadline = time.monotonic() + patience
        while True:
            try:
                conn = await asyncpg.connect(self.url, timeout=10)
                break
            except (OSError, asyncpg.PostgresError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)
        try:
            yield conn
        finally:
            await conn.close()

    async def value(self, query: str, *args: Any) -> Any:
        async with self.connect() as conn:
            return await conn.fetchval(query, *args)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self.connect() as conn:
            return await conn.fetch(query, *args)

    async def reset_data(self) -> None:
        """Empty every table but users, tokens, migrations and heartbeats. Ids are not reset,
        so nothing a web process remembers by id (an acknowledgement sent) matches a new row."""
        async with self.connect() as conn:
            names = await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
            references = await conn.fetch(
                "SELECT conrelid::regclass::text AS child, confrelid::regclass::text AS parent "
                "FROM pg_constraint WHERE contype = 'f'"
            )
            kept = set(KEPT_TABLES)  # and what they refer to (users' organisations)
            while grown := {
                r["parent"] for r in references if r["child"] in kept and r["parent"] not in kept
            }:
                kept |= grown
            tables = sorted({r["tablename"] for r in names} - kept)
            await conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables))

    async def add_people(
        self, phones: Iterable[str], *, consent: Sequence[str] = (), chats: dict[str, int] | None
    ) -> dict[str, int]:
        """People with these phones (and Telegram chats), their consents granted yesterday;
        COPY, a second for 20,000. Returns lead id by phone."""
        phones = list(phones)
        now = datetime.now(UTC)
        chats = chats or {}
        async with self.connect() as conn:
            await conn.copy_records_to_table(
                "lead",
                columns=[
                    "first_name", "phone", "telegram_chat_id", "language", "stage", "source",
                    "created_at", "updated_at", "lead_at",
                ],
                records=[
                    (f"P{i}", phone, chats.get(phone), ("fr", "nl", "de")[i % 3], "lead",
                     "import", now, now, now)
                    for i, phone in enumerate(phones)
                ],
            )  # fmt: skip
            rows = await conn.fetch("SELECT id, phone FROM lead WHERE phone = ANY($1)", phones)
            ids = {r["phone"]: r["id"] for r in rows}
            granted = now - timedelta(days=1)
            records = [
                (ids[p], purpose, True, "import", "written", granted)
                for p in phones
                for purpose in consent
                if purpose != "telegram" or p in chats
            ]
            await conn.copy_records_to_table(
                "consent_record",
                columns=["lead_id", "purpose", "granted", "source", "method", "recorded_at"],
                records=records,
            )
        return ids

    async def queue_sms(self, ids: dict[str, int], *, tag: str, due_in: float = 0.0) -> int:
        """One staff reply (not a campaign message: no consent gate) per person, queued in
        the outbox as `outbox.enqueue` would write it; bodies name the person and the tag."""
        now = datetime.now(UTC)
        due = now + timedelta(seconds=due_in)
        async with self.connect() as conn:
            await conn.copy_records_to_table(
                "outbox_message",
                columns=[
                    "lead_id", "channel", "address", "language", "body", "segments", "encoding",
                    "kind", "status", "attempts", "due_at", "idempotency_key", "created_at",
                ],
                records=[
                    (lead_id, "sms", phone, "fr", f"Bonjour, rendez-vous {tag} {lead_id}", 1,
                     "gsm7", "reply", "queued", 0, due, f"load:{tag}:{lead_id}", now)
                    for phone, lead_id in ids.items()
                ],
            )  # fmt: skip
        return len(ids)

    async def statuses(self, where: str = "TRUE", *args: Any) -> dict[str, int]:
        rows = await self.fetch(
            f"SELECT status, count(*) AS n FROM outbox_message WHERE {where} GROUP BY status",
            *args,
        )
        return {r["status"]: r["n"] for r in rows}

    async def wait_final(
        self, total: int, *, within: float, where: str = "TRUE", args: Sequence[Any] = ()
    ) -> dict[str, int]:
        """Poll until every one of `total` outbox rows is final (sent, failed, skipped,
        unknown, delivered), or `within` seconds have passed; the statuses at the end."""
        deadline = time.monotonic() + within
        while True:
            statuses = await self.statuses(where, *args)
            waiting = sum(statuses.get(s, 0) for s in ("queued", "sending", "paused"))
            if (sum(statuses.values()) >= total and not waiting) or time.monotonic() > deadline:
                return statuses
            await asyncio.sleep(0.5)


def phones(start: int, count: int) -> list[str]:
    """Belgian mobile numbers in E.164, `+3247…`, distinct for distinct ranges."""
    return [f"+3247{n:07d}" for n in range(start, start + count)]


def within_rate(times: Sequence[float], rate: float) -> bool:
    """Whether arrivals kept to `rate` per second as a provider counts them, in any second and
    in any five. The dispatcher stamps each send as it leaves and never exceeds the rate
    there; the stand-in stamps an arrival when its loop gets to the request, and on a shared
    2-core machine a stalled moment bunches the arrivals of a tenth of a second or so. That
    slack (0.15 s worth) is allowed once per window, not per second: a sustained excess, or
    two workers each sending at the full rate, still fails."""
    slack = RATE_SLACK * rate
    return max_in_window(times) <= rate + slack and max_in_window(times, 5.0) <= 5 * rate + slack


def max_in_window(times: Sequence[float], window: float = 1.0) -> int:
    """The most arrivals within any `window` seconds (a sliding window over sorted times)."""
    ordered = sorted(times)
    best, first = 0, 0
    for last, t in enumerate(ordered):
        while t - ordered[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best
