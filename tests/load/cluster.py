"""A PostgreSQL 15 cluster of the load tests' own, which they may stop, crash and restart.

The suite's PostgreSQL (scripts/test.sh) is shared by every test, so a test that takes the
database down needs a server of its own: initdb and pg_ctl as the `postgres` user (initdb
refuses root), data and socket directories under /tmp, a free loopback port, stopped and
removed at the end."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PGBIN = Path(os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin"))
DATABASE = "passerelle"
# fsync off: the tests crash the server, never the machine, so what a commit wrote to the
# kernel survives (synchronous_commit stays on: a committed row is never lost to a crash).
SERVER_OPTIONS = "-c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"


def missing_binaries() -> str | None:
    """Why no cluster can be started here, or None."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not os.access(PGBIN / tool, os.X_OK):
            return f"PostgreSQL 15 binaries not found in {PGBIN} (install postgresql-15)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: cannot start PostgreSQL as `postgres`"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """One throwaway cluster: `init()` once, then `stop()`, `start()`, `restart()` at will,
    and `destroy()` at the end (also after a failure)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="passerelle-load-pg-", dir="/tmp"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def admin_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str, timeout: float = 120) -> str:
        command = [str(PGBIN / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed ({done.returncode}):\n{done.stdout}"
                f"{done.stderr}\n{self.log_tail()}"
            )
        return done.stdout

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, user="postgres")
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--locale=C.UTF-8",
        )  # fmt: skip
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", DATABASE)

    def _options(self) -> str:
        return f"-p {self.port} -k {self.root} {SERVER_OPTIONS}"

    def start(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "120",
            "-o", self._options(), "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """`fast`: sessions are ended cleanly; `immediate`: a crash (recovery at the next
        start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "120", "stop")

    def restart(self, mode: str = "fast") -> None:
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", mode, "-w", "-t", "120",
            "-o", self._options(), "restart",
        )  # fmt: skip

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
