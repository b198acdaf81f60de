"""The processes of the load rig: started in sessions of their own, stopped (or killed) by
their process group, their logs kept in files; and the provider stand-ins as processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import subprocess
import sys
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]


class StandinProcess:
    """`python -m tests.standins twilio|telegram` in a process of its own, driven through its
    `/_standin/*` control routes. Its recorded `t` is time.monotonic() of that process, the
    same clock as ours (CLOCK_MONOTONIC is machine-wide on Linux)."""

    def __init__(self, kind: str, args: Sequence[str], *, latency: float, log: Path) -> None:
        self.kind = kind
        self.command = [
            sys.executable, "-m", "tests.standins", kind, *args, "--port", "0",
            "--latency", str(latency),
        ]  # fmt: skip
        self.log = log
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self, timeout: float = 60) -> None:
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen(
                self.command,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                start_new_session=True,
            )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline().strip() if ready else ""
        if not line.startswith("ready "):
            self.stop()
            raise RuntimeError(f"{self.kind} stand-in did not start: {line!r}")
        self.url = line.split(" ", 1)[1]

    def call(self, method: str, path: str, body: Any = None) -> Any:
        with httpx.Client(base_url=self.url, timeout=120, trust_env=False) as client:
            response = client.request(method, path, json=body)
            response.raise_for_status()
            return response.json()

    def messages(self, *fields: str) -> list[dict[str, Any]]:
        query = f"?fields={','.join(fields)}" if fields else ""
        return self.call("GET", "/_standin/messages" + query)

    def stats(self) -> dict[str, int]:
        return self.call("GET", "/_standin/stats")

    def reset(self) -> None:
        self.call("POST", "/_standin/reset")

    def outage(self, seconds: float, *, status: int = 503, mode: str = "error") -> dict[str, Any]:
        return self.call(
            "POST", "/_standin/outage", {"seconds": seconds, "status": status, "mode": mode}
        )

    def outage_state(self) -> dict[str, Any]:
        return self.call("GET", "/_standin/outage")

    def stop(self) -> None:
        if self.proc is None:
            return
        stop_group(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None


def stop_group(proc: subprocess.Popen[Any], *, grace: float = 30) -> int | None:
    """SIGTERM to the process's group (uvicorn's workers too), SIGKILL after `grace`."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    return proc.returncode


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to its end from synchronous code, even when called from inside a
    running loop (a fixture of an async test): then in a thread with a loop of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def log_tail(proc: subprocess.Popen[Any], lines: int = 40) -> str:
    path: Path | None = getattr(proc, "log_path", None)
    if path is None:
        return ""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def log_text(proc: subprocess.Popen[Any]) -> str:
    path: Path | None = getattr(proc, "log_path", None)
    return path.read_text(errors="replace") if path else ""
