"""What every bench shares: a server in a subprocess, a closed-loop load generator, summaries.

The bench script is the client process; the server under test (the app or the bare FastAPI
endpoint of bench/bare_app.py) runs in a uvicorn subprocess with the same settings. Only
127.0.0.1 is ever addressed. Every loop here stops by itself: on a request count and on a
wall-clock limit, whichever comes first.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
HOST = "127.0.0.1"
SECRET_KEY = "bench-secret-key-" + "x" * 40

# The bench process imports crm (migrations, users, seeding): give it a test environment
# before crm.config is first imported.
os.environ.setdefault("ENVIRONMENT", "test")
os.environ.setdefault("SECRET_KEY", SECRET_KEY)

APP_FACTORY = "crm.app:create_app"
BARE_FACTORY = "bench.bare_app:create_app"
EXPERIMENT_FACTORY = "bench.experiments:create_app"


def app_factory(args: Any) -> str:
    """The app as shipped, or with --patches the what-if factory of bench/experiments.py."""
    return EXPERIMENT_FACTORY if getattr(args, "patches", "") else APP_FACTORY


def app_env(args: Any, url: str) -> dict[str, str]:
    env = {"DATABASE_URL": url}
    if getattr(args, "patches", ""):
        env["BENCH_PATCHES"] = args.patches
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# --- the server under test -----------------------------------------------------------------------


class Server:
    """`uvicorn <factory> --factory` in a subprocess on a free loopback port."""

    def __init__(self, factory: str, *, env: dict[str, str] | None = None,
                 ready_path: str = "/healthz", log_dir: Path | None = None,
                 workers: int = 1) -> None:
        self.factory = factory
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.ready_path = ready_path
        self.env = {**os.environ, "ENVIRONMENT": "test", "SECRET_KEY": SECRET_KEY,
                    "LOG_LEVEL": "WARNING", **(env or {})}
        self.log_dir = log_dir or Path(tempfile.gettempdir())
        self.log_path = self.log_dir / f"server-{factory.split(':')[0]}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        cmd = [str(PYTHON), "-m", "uvicorn", self.factory, "--factory",
               "--host", HOST, "--port", str(self.port),
               "--log-level", "warning", "--no-access-log"]
        if self.workers > 1:
            cmd += ["--workers", str(self.workers)]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited early:\n{self.log_tail()}")
                try:
                    if client.get(self.ready_path).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()
        self.proc = None

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (from /proc)."""
        if self.proc is None:
            return 0.0
        if self.workers > 1:  # uvicorn's supervisor and its worker processes
            return tree_cpu_seconds(self.proc.pid)
        try:
            fields_ = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields_[11]) + int(fields_[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class PySpy:
    """`py-spy record` attached to a server while it is measured (--profile): collapsed stacks
    (flame-graph input) in `out`. Bounded by `duration`; stopped with SIGINT when done."""

    def __init__(self, server: Server, out: Path, duration: int = 900,
                 subprocesses: bool = False) -> None:
        exe = PYTHON.parent / "py-spy"
        if not exe.exists():
            raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
        assert server.proc is not None
        self.out = out
        self.proc = subprocess.Popen(
            [str(exe), "record", "--pid", str(server.proc.pid), "--rate", "250",
             "--format", "raw", "--duration", str(duration), "-o", str(out)]
            + (["--subprocesses"] if subprocesses else []),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)  # let it attach

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


# Innermost frames of a worker thread waiting for work (anyio's thread pool, aiosqlite's thread):
# idle, not cost.
_IDLE_LEAVES = ("_connection_worker_thread (aiosqlite/core.py:59)", "Condition.wait (threading.py",
                "Queue.get (queue.py")


def summarise_profile(path: Path, top: int = 30) -> str:
    """Where the server's samples went: self time by package of the innermost frame, and the
    inclusive share of each function of the project (crm/) and of the ORM and driver."""
    self_by_package: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    watched = ("crm/", "tortoise/", "pypika_tortoise/", "asyncpg/", "aiosqlite/",
               "pydantic/", "fastapi/encoders", "fastapi/_compat", "phonenumbers/")
    for line in path.read_text().splitlines():
        stack, _, count_ = line.rpartition(" ")
        if not count_.isdigit():
            continue
        n = int(count_)
        frames = stack.split(";")
        if frames[-1].startswith(_IDLE_LEAVES):
            continue  # a worker thread waiting for work (anyio's pool, aiosqlite's thread)
        total += n
        seen: set[str] = set()
        for k, frame in enumerate(frames):
            func, _, where = frame.rpartition(" (")
            file = where.rstrip(")").rsplit(":", 1)[0]
            if k == len(frames) - 1:
                self_by_package[file.split("/")[0]] += n
            if file.startswith(watched):
                key = f"{file}:{func}"
                if key not in seen:
                    seen.add(key)
                    inclusive[key] += n
    if not total:
        return "no samples"
    lines = [f"{total} samples. Self time by package (innermost frame):"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in self_by_package.most_common(12)]
    lines.append("Inclusive share of project, ORM and driver functions:")
    lines += [f"  {n / total:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


def postgres_cpu_seconds() -> float:
    """CPU time of every `postgres` process on the machine (all clusters: an idle one adds
    nothing), so a run can say how much of the machine the database took."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if "(postgres)" not in text[:64]:
            continue
        fields_ = text.rsplit(")", 1)[1].split()
        total += int(fields_[11]) + int(fields_[12])
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, for a machine-wide utilisation over an interval."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + parts[4]
    total = sum(parts[:8])
    return total - idle, total


# --- the load generator ---------------------------------------------------------------------------

RequestSpec = tuple[str, str, Any]  # method, path, JSON body (or None, or a RawBody)


@dataclass(frozen=True)
class RawBody:
    """A body sent as these bytes with these headers instead of JSON (e.g. a signed form
    post, prepared before the run so that the client spends no CPU on it)."""

    data: bytes
    headers: dict[str, str]

# The client library of the load generator. httpx (the project's own HTTP client) spends about
# 1.3 ms of CPU per request at concurrency 16 (httpcore's connection pool), so on this 2-core
# machine it saturates before the bare endpoint does: the bare figure then measures the client
# and every ratio looks better than it is. aiohttp (already installed: aiogram and twilio use
# it) costs about a quarter of that. `--client httpx` is kept to show the difference.
CLIENTS = ("aiohttp", "httpx")
DEFAULT_CLIENT = "aiohttp"


@dataclass
class LoadResult:
    label: str
    requested: int
    concurrency: int
    client: str = DEFAULT_CLIENT
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[tuple[int, int, str]] = field(default_factory=list)  # (index, status, body)
    error_count: int = 0
    stopped_by_time: bool = False
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    db_cpu_s: float = 0.0
    busy_jiffies: int = 0
    total_jiffies: int = 0

    @property
    def done(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.done / self.elapsed if self.elapsed else 0.0

    @property
    def client_cpu(self) -> float:
        return self.client_cpu_s / self.elapsed if self.elapsed else 0.0

    @property
    def server_cpu(self) -> float:
        return self.server_cpu_s / self.elapsed if self.elapsed else 0.0

    @property
    def server_ms_per_request(self) -> float:
        """CPU the server process spent per answered request: less sensitive to the rest of
        the machine than req/s."""
        return 1000 * self.server_cpu_s / self.done if self.done else float("nan")

    @property
    def db_ms_per_request(self) -> float:
        return 1000 * self.db_cpu_s / self.done if self.done else float("nan")

    @property
    def db_cpu(self) -> float:
        return self.db_cpu_s / self.elapsed if self.elapsed else 0.0

    @property
    def machine_busy(self) -> float:
        return self.busy_jiffies / self.total_jiffies if self.total_jiffies else 0.0

    def pct(self, q: float) -> float:
        """The q-th percentile latency in milliseconds (nearest rank)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
        return ordered[rank - 1] * 1000

    def merge(self, other: LoadResult) -> None:
        self.elapsed += other.elapsed
        self.latencies += other.latencies
        self.statuses.update(other.statuses)
        self.errors += other.errors[: max(0, 5 - len(self.errors))]
        self.error_count += other.error_count
        self.stopped_by_time |= other.stopped_by_time
        self.client_cpu_s += other.client_cpu_s
        self.server_cpu_s += other.server_cpu_s
        self.db_cpu_s += other.db_cpu_s
        self.busy_jiffies += other.busy_jiffies
        self.total_jiffies += other.total_jiffies

    def line(self) -> str:
        return (f"{self.label}: {self.done}/{self.requested} requests in {self.elapsed:.1f}s "
                f"= {self.rps:.0f} req/s, p50 {self.pct(50):.1f} ms, p95 {self.pct(95):.1f} ms, "
                f"p99 {self.pct(99):.1f} ms, errors {self.error_count}, "
                f"statuses {dict(sorted(self.statuses.items()))}, "
                f"CPU server {self.server_cpu:.0%} postgres {self.db_cpu:.0%} "
                f"client {self.client_cpu:.0%} "
                f"machine {self.machine_busy:.0%} of 2 cores"
                + (" [STOPPED BY TIME LIMIT]" if self.stopped_by_time else ""))


def _is_ok(status: int) -> bool:
    return 200 <= status < 300


class _Session:
    """One client library behind one small interface: request() -> (status, body bytes)."""

    def __init__(self, kind: str, base_url: str, headers: dict[str, str] | None,
                 concurrency: int) -> None:
        self.kind = kind
        self.base_url = base_url
        self.headers = headers or {}
        self.concurrency = concurrency

    async def __aenter__(self) -> _Session:
        if self.kind == "httpx":
            self._client = httpx.AsyncClient(
                base_url=self.base_url, headers=self.headers, timeout=httpx.Timeout(30.0),
                limits=httpx.Limits(max_connections=self.concurrency,
                                    max_keepalive_connections=self.concurrency),
                trust_env=False)
            await self._client.__aenter__()
        else:
            import aiohttp

            self._client = aiohttp.ClientSession(
                self.base_url, headers=self.headers,
                connector=aiohttp.TCPConnector(limit=self.concurrency),
                timeout=aiohttp.ClientTimeout(total=30.0), trust_env=False)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.kind == "httpx":
            await self._client.__aexit__(*exc)
        else:
            await self._client.close()

    async def request(self, method: str, path: str, body: Any) -> tuple[int, bytes]:
        if isinstance(body, RawBody):
            return await self._raw(method, path, body)
        if self.kind == "httpx":
            try:
                response = await self._client.request(method, path, json=body)
                return response.status_code, response.content
            except httpx.HTTPError as exc:
                return -1, repr(exc).encode()
        import aiohttp

        try:
            async with self._client.request(method, path, json=body) as response:
                return response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return -1, repr(exc).encode()

    async def _raw(self, method: str, path: str, body: RawBody) -> tuple[int, bytes]:
        if self.kind == "httpx":
            try:
                response = await self._client.request(method, path, content=body.data,
                                                      headers=body.headers)
                return response.status_code, response.content
            except httpx.HTTPError as exc:
                return -1, repr(exc).encode()
        import aiohttp

        try:
            async with self._client.request(method, path, data=body.data,
                                            headers=body.headers) as response:
                return response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return -1, repr(exc).encode()


async def run_load(
    server: Server,
    request_for: Callable[[int], RequestSpec],
    *,
    n: int,
    concurrency: int,
    time_limit: float,
    label: str,
    start: int = 0,
    headers: dict[str, str] | None = None,
    client: str = DEFAULT_CLIENT,
    is_ok: Callable[[int], bool] = _is_ok,
    keep_error_bodies: int = 5,
    on_response: Callable[[int, int, bytes], None] | None = None,
) -> LoadResult:
    """Closed loop: `concurrency` workers, each sends its next request when the previous one
    has answered, for the request indexes start..start+n-1, or until `time_limit` seconds have
    passed, whichever comes first."""
    result = LoadResult(label=label, requested=n, concurrency=concurrency, client=client)
    next_index = start
    stop_at = start + n
    deadline = time.monotonic() + time_limit

    async with _Session(client, server.base_url, headers, concurrency) as session:

        async def worker() -> None:
            nonlocal next_index
            while next_index < stop_at:
                if time.monotonic() >= deadline:
                    result.stopped_by_time = True
                    return
                i = next_index
                next_index += 1
                method, path, body = request_for(i)
                t0 = time.perf_counter()
                status, content = await session.request(method, path, body)
                result.latencies.append(time.perf_counter() - t0)
                result.statuses[status] += 1
                if not is_ok(status):
                    result.error_count += 1
                    if len(result.errors) < keep_error_bodies:
                        result.errors.append((i, status, content[:500].decode(errors="replace")))
                if on_response is not None:
                    on_response(i, status, content)

        cpu0, server0, (busy0, total0) = time.process_time(), server.cpu_seconds(), machine_busy()
        db0 = postgres_cpu_seconds()
        started = time.perf_counter()
        # Hard stop: the time limit plus one request timeout, whatever happens.
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))),
                               timeout=time_limit + 35)
        result.elapsed = time.perf_counter() - started
        busy1, total1 = machine_busy()
        result.client_cpu_s = time.process_time() - cpu0
        result.server_cpu_s = server.cpu_seconds() - server0
        # (a backend that exits during the run takes its CPU time along: never below 0)
        result.db_cpu_s = max(0.0, postgres_cpu_seconds() - db0)
        result.busy_jiffies, result.total_jiffies = busy1 - busy0, total1 - total0
    return result


@dataclass
class Target:
    """One side of a comparison: a running server and the requests it gets."""

    label: str
    server: Server
    request_for: Callable[[int], RequestSpec]
    headers: dict[str, str] | None = None
    on_response: Callable[[int, int, bytes], None] | None = None


async def run_interleaved(targets: list[Target], *, n: int, concurrency: int, time_limit: float,
                          rounds: int, client: str = DEFAULT_CLIENT) -> list[LoadResult]:
    """Each target gets requests 0..n-1, in `rounds` slices taken in turn (A1 B1 A2 B2 ...):
    load from other processes on a shared machine then falls on both sides alike. With
    rounds=1 the targets run one after the other. `time_limit` bounds each target's total."""
    rounds = max(1, min(rounds, n))
    merged = [LoadResult(label=t.label, requested=n, concurrency=concurrency, client=client)
              for t in targets]
    bounds = [n * k // rounds for k in range(rounds + 1)]
    for k in range(rounds):
        for target, total in zip(targets, merged, strict=True):
            remaining = time_limit - total.elapsed
            if remaining <= 0:
                total.stopped_by_time = True
                continue
            part = await run_load(
                target.server, target.request_for, n=bounds[k + 1] - bounds[k],
                start=bounds[k], concurrency=concurrency, time_limit=remaining,
                label=target.label, headers=target.headers, client=client,
                on_response=target.on_response)
            total.merge(part)
    return merged


async def warm_up(server: Server, request_for: Callable[[int], RequestSpec], *, n: int,
                  concurrency: int, headers: dict[str, str] | None = None,
                  client: str = DEFAULT_CLIENT) -> LoadResult:
    """A short unmeasured run (imports, connection pools, caches); failures are reported."""
    return await run_load(server, request_for, n=n, concurrency=concurrency, time_limit=60,
                          label="warm-up", headers=headers, client=client)


def run_async(coro: Any) -> Any:
    """asyncio.run with uvloop when it is there (a cheaper client leaves more CPU to the
    server; uvicorn uses uvloop too)."""
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


# --- PostgreSQL and SQLite databases --------------------------------------------------------------


@contextmanager
def postgres(pg_url: str | None, name_hint: str) -> Iterator[str]:
    """A fresh database URL: a new database on `pg_url` when given (dropped afterwards), else a
    throwaway PostgreSQL 15 started with scripts/pg.sh (stopped afterwards)."""
    if pg_url:
        import asyncpg

        dbname = f"bench_{name_hint}_{os.getpid()}"

        async def admin(sql: str) -> None:
            conn = await asyncpg.connect(pg_url)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(admin(f'CREATE DATABASE "{dbname}"'))
        base = pg_url.rsplit("/", 1)[0]
        try:
            yield f"{base}/{dbname}"
        finally:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
        return
    workdir = tempfile.mkdtemp(prefix=f"bench-pg-{name_hint}-")
    try:
        url = subprocess.run(["bash", str(ROOT / "scripts" / "pg.sh"), "start", workdir],
                             check=True, capture_output=True, text=True, timeout=180).stdout.strip()
        yield url
    finally:
        subprocess.run(["bash", str(ROOT / "scripts" / "pg.sh"), "stop", workdir],
                       capture_output=True, text=True, timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def sqlite_file(name_hint: str) -> Iterator[str]:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-sqlite-{name_hint}-"))
    try:
        yield f"sqlite://{workdir / 'bench.db'}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def _prepare_database(url: str) -> str:
    from crm import db
    from crm.auth import service as auth
    from crm.enums import Role

    await db.run_migrations(url)
    await db.init_db(url)
    try:
        user = await auth.create_user("bench-admin@example.org", Role.ADMIN,
                                      password="bench password 123", first_name="Bench")
        return await auth.issue_staff_token(user, name="bench", ttl_hours=24)
    finally:
        await db.close_db()


def prepare_database(url: str) -> str:
    """Migrate a fresh database and create an admin with a staff token; returns the token.
    Done before the server starts, in a child process of its own: Tortoise caches
    dialect-specific SQL on the models, so one process cannot serve SQLite and then PostgreSQL."""
    out = subprocess.run([str(PYTHON), "-m", "bench.common", "prepare", url], cwd=ROOT,
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "ENVIRONMENT": "test", "SECRET_KEY": SECRET_KEY})
    if out.returncode != 0:
        raise RuntimeError(f"preparing {url} failed:\n{out.stderr[-3000:]}")
    return out.stdout.strip().splitlines()[-1]


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    out = [" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
           "-+-".join("-" * w for w in widths)]
    out += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def note(msg: str) -> None:
    print(msg, flush=True)
    sys.stdout.flush()


# --- channels (issue 3): stand-ins, the worker, outbox seeding, plain SQL ------------------------


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (from /proc); 0 once it is gone."""
    try:
        fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields_[11]) + int(fields_[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and of its live descendants (uvicorn --workers N: the supervisor and
    its N workers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += proc_cpu_seconds(current)
        todo += children.get(current, [])
    return total


class Standin:
    """A provider stand-in (tests/standins) in a process of its own:
    `python -m tests.standins twilio|telegram --port 0 --latency S …`, ready once it prints
    `ready URL`. Its recorded messages carry `t`, time.monotonic() in that process (the same
    clock as ours on Linux: CLOCK_MONOTONIC is machine-wide)."""

    def __init__(self, kind: str, *args: str, latency: float = 0.0) -> None:
        self.kind = kind
        self.cmd = [str(PYTHON), "-m", "tests.standins", kind, *args, "--port", "0",
                    "--latency", str(latency)]
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self, timeout: float = 30.0) -> Standin:
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=self._err, text=True)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline().strip() if ready else ""
        if not line.startswith("ready "):
            self.stop()
            raise RuntimeError(f"{self.kind} stand-in did not start: {line!r}")
        self.url = line.split(" ", 1)[1]
        return self

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        with httpx.Client(base_url=self.url, timeout=120.0, trust_env=False) as client:
            response = client.request(method, path, json=body)
            response.raise_for_status()
            return response.json()

    def messages(self) -> list[dict[str, Any]]:
        return self._call("GET", "/_standin/messages")

    def reset(self) -> None:
        self._call("POST", "/_standin/reset")

    def set_latency(self, seconds: float) -> None:
        self._call("POST", "/_standin/config", {"latency": seconds})

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.proc.pid) if self.proc else 0.0

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stdout:
            self.proc.stdout.close()
        self._err.close()
        self.proc = None

    def __enter__(self) -> Standin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class WorkerProcess:
    """`passerelle worker` (outbox dispatcher + scheduler) in a subprocess; settings through
    its environment. Ready once its heartbeat row is in the database."""

    def __init__(self, url: str, env: dict[str, str], log_dir: Path | None = None) -> None:
        self.url = url
        self.env = {**os.environ, "ENVIRONMENT": "test", "SECRET_KEY": SECRET_KEY,
                    "LOG_LEVEL": "WARNING", "DATABASE_URL": url, **env}
        self.log_path = (log_dir or Path(tempfile.gettempdir())) / f"worker-{os.getpid()}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> WorkerProcess:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([str(PYTHON.parent / "passerelle"), "worker"], cwd=ROOT,
                                     env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_tail()}")
            if sql(self.url, "SELECT count(*) FROM worker_heartbeat")[0][0][0]:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log_tail()}")

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.proc.pid) if self.proc else 0.0

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        code, self.proc = self.proc.returncode, None
        self._log.close()
        return code

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def sql(url: str, *statements: str) -> list[list[tuple[Any, ...]]]:
    """Plain SQL statements without parameters, in order, from the bench process (sqlite3 or
    one asyncpg connection, committed); the rows of each."""
    if url.startswith("sqlite"):
        con = sqlite3.connect(url.split("://", 1)[1].split("?", 1)[0], timeout=30)
        try:
            out = [con.execute(s).fetchall() for s in statements]
            con.commit()
        finally:
            con.close()
        return out
    import asyncpg

    async def run() -> list[list[tuple[Any, ...]]]:
        conn = await asyncpg.connect(url)
        try:
            return [[tuple(r) for r in await conn.fetch(s)] for s in statements]
        finally:
            await conn.close()

    return asyncio.run(run())


async def _seed(url: str, spec: dict[str, Any]) -> str:
    from datetime import UTC, datetime

    from tortoise.transactions import in_transaction

    from channels.models import OutboxMessage
    from channels.sms_segments import count_segments
    from crm import db
    from crm.people.models import Lead

    await db.init_db(url)
    try:
        people = spec.get("leads", [])
        async with in_transaction():
            await Lead.bulk_create([
                Lead(first_name=p.get("first_name") or f"Bench {i}", phone=p.get("phone"),
                     telegram_chat_id=p.get("telegram_chat_id"), language=p.get("language", "fr"),
                     stage="lead", source="walk_in") for i, p in enumerate(people)],
                batch_size=1000)
        found = await Lead.all().values_list("id", "phone", "telegram_chat_id")
        by_key = {phone or str(chat): lead_id for lead_id, phone, chat in found}
        ids = [by_key[p.get("phone") or str(p.get("telegram_chat_id"))] for p in people]
        now, rows = datetime.now(UTC), []
        for i, m in enumerate(spec.get("outbox", [])):
            person = people[m["lead"]]
            sms = m.get("channel", "sms") == "sms"
            info = count_segments(m["body"]) if sms else None
            rows.append(OutboxMessage(
                lead_id=ids[m["lead"]], channel=m.get("channel", "sms"), body=m["body"],
                address=person.get("phone") if sms else str(person["telegram_chat_id"]),
                language="fr", segments=info.segments if info else 1,
                encoding=str(info.encoding) if info else "text", kind=m.get("kind", "reply"),
                status=m.get("status", "queued"), provider=m.get("provider"),
                provider_id=m.get("provider_id"), campaign_id=m.get("campaign_id"),
                idempotency_key=f"bench:{os.getpid()}:{i}", due_at=now,
                sent_at=now if m.get("provider_id") else None))
        async with in_transaction() as conn:
            await OutboxMessage.bulk_create(rows, batch_size=1000, using_db=conn)
            if spec.get("hold", True):  # not an OutboxStatus: nobody claims these rows
                await conn.execute_query(
                    "UPDATE outbox_message SET status = 'held' WHERE status = 'queued'")
        return f"{len(people)} leads, {len(rows)} outbox rows"
    finally:
        await db.close_db()


def seed(url: str, spec: dict[str, Any]) -> str:
    """Leads and outbox rows through the app's models, in a child process (see
    prepare_database). spec: {"leads": [{"phone" | "telegram_chat_id", ...}], "outbox":
    [{"lead": index, "channel", "body", "status", "kind", "provider_id", ...}], "hold": bool}.
    With "hold" (the default) the queued rows are stored `held`, which no worker claims, until
    `UPDATE outbox_message SET status = 'queued' WHERE status = 'held'` releases them at once."""
    out = subprocess.run([str(PYTHON), "-m", "bench.common", "seed", url], cwd=ROOT,
                         input=json.dumps(spec), capture_output=True, text=True, timeout=600,
                         env={**os.environ, "ENVIRONMENT": "test", "SECRET_KEY": SECRET_KEY})
    if out.returncode != 0:
        raise RuntimeError(f"seeding {url} failed:\n{out.stderr[-3000:]}")
    return out.stdout.strip().splitlines()[-1]



if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "prepare":
    print(run_async(_prepare_database(sys.argv[2])))

if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "seed":
    print(run_async(_seed(sys.argv[2], json.load(sys.stdin))))
