"""What one SQL statement costs the app process, by layer (diagnosis for B1 and B2).

Runs the same small statements N times, one after the other, in this process: through Tortoise
models (as the app does), through Tortoise's raw connection, through an asyncpg pool (as
Tortoise uses it: acquire, run, release-with-reset), and through one asyncpg connection (the
baseline of the same run). Prints wall time and CPU time of this process per statement.

    .venv/bin/python -m bench.bench_statements [--db postgres|sqlite|both] [--n 2000]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    note,
    postgres,
    prepare_database,
    run_async,
    sqlite_file,
    table,
)

PHONE = "+32470000001"


async def measure(url: str, n: int) -> list[tuple[str, float, float]]:
    from tortoise import connections

    from crm import db
    from crm.audit.models import AuditEntry
    from crm.people.models import Lead, LeadSegment

    is_pg = url.startswith("postgres")
    out: list[tuple[str, float, float]] = []

    async def timeit(label: str, fn: Callable[[], Awaitable[Any]]) -> None:
        for _ in range(min(50, n)):
            await fn()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(n):
            await fn()
        out.append((label, 1e6 * (time.perf_counter() - wall) / n,
                    1e6 * (time.process_time() - cpu) / n))

    await db.init_db(url)
    try:
        lead = await Lead.create(first_name="A", phone=PHONE, source="walk_in", stage="reached")
        await LeadSegment.create(lead=lead, code="women")
        await timeit("Tortoise Lead.get_or_none(phone=...)",
                     lambda: Lead.get_or_none(phone=PHONE))
        await timeit("Tortoise LeadSegment.filter(...).values_list(...)",
                     lambda: LeadSegment.filter(lead_id=lead.id).values_list("code", flat=True))
        await timeit("Tortoise AuditEntry.create(...)",
                     lambda: AuditEntry.create(actor_label="bench", action="a", entity="lead",
                                               entity_id=lead.id, changes={"a": 1}))
        conn = connections.get("default")
        mark = "$1" if is_pg else "?"
        await timeit("Tortoise raw execute_query(SELECT ... WHERE phone=?)",
                     lambda: conn.execute_query(f"SELECT * FROM lead WHERE phone={mark}",
                                                [PHONE]))
    finally:
        await db.close_db()

    if is_pg:
        import asyncpg

        pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
        try:
            await timeit("asyncpg pool.fetchrow (acquire, release + reset)",
                         lambda: pool.fetchrow("SELECT * FROM lead WHERE phone=$1", PHONE))
        finally:
            await pool.close()
        one = await asyncpg.connect(url)
        try:
            await timeit("BASELINE asyncpg connection.fetchrow",
                         lambda: one.fetchrow("SELECT * FROM lead WHERE phone=$1", PHONE))
        finally:
            await one.close()
    else:
        path = url.removeprefix("sqlite://").split("?")[0]
        raw = sqlite3.connect(path)
        try:
            async def fetch() -> Any:
                return raw.execute("SELECT * FROM lead WHERE phone=?", (PHONE,)).fetchone()

            await timeit("BASELINE sqlite3 in the loop thread", fetch)
        finally:
            raw.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--n", type=int, default=2000, help="statements per row (1..100000)")
    parser.add_argument("--pg-url")
    args = parser.parse_args(argv)
    if not 1 <= args.n <= 100_000:
        parser.error("--n must be 1..100000")
    for db in (["sqlite", "postgres"] if args.db == "both" else [args.db]):
        ctx = sqlite_file("stmt") if db == "sqlite" else postgres(args.pg_url, "stmt")
        with ctx as url:
            prepare_database(url)
            # one database per process for Tortoise: measure in a fresh child
            rows = run_in_child(url, args.n)
        base_cpu = rows[-1][2]
        note(f"\n{db}: {args.n} statements each, sequential, in one process")
        note(table(["statement", "wall us", "CPU us", "CPU x baseline"],
                   [[label, f"{wall:.0f}", f"{cpu:.0f}", f"{cpu / base_cpu:.1f}"]
                    for label, wall, cpu in rows]))
    return 0


def run_in_child(url: str, n: int) -> list[tuple[str, float, float]]:
    """Tortoise caches dialect SQL on the models: each database is measured in its own
    process (python -m bench.bench_statements --child URL N prints the rows as repr)."""
    import ast
    import subprocess

    from bench.common import PYTHON, ROOT

    out = subprocess.run([str(PYTHON), "-m", "bench.bench_statements", "--child", url, str(n)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return ast.literal_eval(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(repr(run_async(measure(sys.argv[2], int(sys.argv[3])))))
        sys.exit(0)
    sys.exit(main())
