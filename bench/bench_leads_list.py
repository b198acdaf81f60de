"""B2: list one filtered page of 50 leads out of 100,000 on PostgreSQL.

Figure: p95 latency of GET /api/v1/leads?<filters>&limit=50 as a ratio to the p95 of the bare
FastAPI GET endpoint (bench/bare_app.py: a list of 50 small dicts), measured in the same run
with the same uvicorn settings and concurrency. Goal: app / bare <= 4.

    .venv/bin/python -m bench.bench_leads_list --rows 100000 --requests 2000

The database is seeded with COPY (asyncpg copy_records_to_table), then VACUUM ANALYZE; then
the SQL the list endpoint runs is captured in-process (Tortoise's db_client logger) and shown
with EXPLAIN (ANALYZE, BUFFERS), so a reader sees which indexes are used.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_leads_create import (  # noqa: E402
    FIRST_NAMES,
    LAST_NAMES,
    POSTCODES,
    SEGMENT_WEIGHTS,
    SEGMENTS,
)
from bench.common import (  # noqa: E402
    BARE_FACTORY,
    CLIENTS,
    DEFAULT_CLIENT,
    LoadResult,
    PySpy,
    Server,
    Target,
    app_env,
    app_factory,
    note,
    postgres,
    prepare_database,
    run_async,
    run_interleaved,
    summarise_profile,
    table,
    warm_up,
)

GOAL = 4.0
MIXES = {
    "stage+language": "stage=contacted&language=nl&limit=50",
    "region+segment": "region=wallonia&segment=single_parent&limit=50",
}
BARE_PATH = "/bare/leads?limit=50"

STAGES = ["reached", "lead", "contacted", "info_session", "application", "coached", "financed",
          "redirected", "lost"]
STAGE_WEIGHTS = [34, 20, 15, 8, 6, 5, 3, 4, 5]
LOST_REASONS = ["not reachable", "found a job", "moved away", "not interested", "no project"]
SOURCES = ["event", "referral", "sms", "telegram", "walk_in", "import"]
SOURCE_WEIGHTS = [45, 15, 5, 10, 20, 5]
SECTORS = ["catering", "retail", "construction", "beauty", "transport", "IT", "crafts", None]


def region_of(postcode: str) -> str:
    from crm.geo import region_for_postcode

    return region_for_postcode(postcode).value


def generate(rows: int, seed: int, agent_id: int) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """Lead, lead_segment and consent_record rows with a plausible spread."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    postcodes = [p for p, _, _ in POSTCODES]
    weights = [w for _, w, _ in POSTCODES]
    regions = {p: region_of(p) for p in postcodes}
    default_lang = {"flanders": "nl", "wallonia": "fr", "german_speaking": "de"}
    phones = rng.sample(range(10_000_000), rows)
    leads, segments, consents = [], [], []
    for i in range(rows):
        lead_id = i + 1
        # three years of outreach, more of it recent
        created = now - timedelta(days=1095 * rng.random() ** 1.6, seconds=rng.randrange(86400))
        postcode = rng.choices(postcodes, weights)[0]
        region = regions[postcode]
        if region == "brussels":
            language = rng.choices(["fr", "nl", None], [70, 25, 5])[0]
        else:
            language = rng.choices([default_lang[region], "fr", "nl", None], [85, 5, 5, 5])[0]
        stage = rng.choices(STAGES, STAGE_WEIGHTS)[0]
        source = rng.choices(SOURCES, SOURCE_WEIGHTS)[0]
        updated = created + timedelta(days=rng.random() * 30)
        leads.append((
            lead_id, rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), f"+3247{phones[i]:07d}",
            f"person{lead_id}@example.be" if rng.random() < 0.3 else None,
            language, postcode, region,
            rng.choice(["female", "male", "undisclosed", None]),
            rng.randint(1960, 2006) if rng.random() < 0.6 else None,
            stage, rng.choice(LOST_REASONS) if stage == "lost" else None, source,
            agent_id if rng.random() < 0.4 else None,
            agent_id if rng.random() < 0.7 else None,
            "Wants to open a small business." if rng.random() < 0.2 else None,
            rng.choice(SECTORS),
            "Met at the market." if rng.random() < 0.15 else None,
            (created + timedelta(days=rng.randint(3, 60))).date()
            if rng.random() < 0.2 else None,
            min(updated, now), created, min(updated, now),
        ))
        k = rng.choices([0, 1, 2, 3], [20, 40, 30, 10])[0]
        for code in sorted(set(rng.choices(SEGMENTS, SEGMENT_WEIGHTS, k=k))):
            segments.append((lead_id, code))
        if rng.random() < 0.6:
            at = created + timedelta(minutes=5)
            consents.append((lead_id, "sms", True, "event", "verbal", "v1", agent_id, at))
            if rng.random() < 0.08:
                consents.append((lead_id, "sms", False, "sms", "keyword", None, None,
                                 min(now, at + timedelta(days=rng.randint(1, 200)))))
        if rng.random() < 0.2:
            consents.append((lead_id, "telegram", True, "telegram", "checkbox", "v1", None,
                             created + timedelta(minutes=6)))
    return leads, segments, consents


LEAD_COLUMNS = [
    "id", "first_name", "last_name", "phone", "email", "language", "postcode", "region",
    "gender", "birth_year", "stage", "lost_reason", "source", "assigned_agent_id",
    "reached_by_id", "project_summary", "project_sector", "notes", "follow_up_on",
    "last_contacted_at", "created_at", "updated_at",
]
SEGMENT_COLUMNS = ["lead_id", "code"]
CONSENT_COLUMNS = ["lead_id", "purpose", "granted", "source", "method", "text_version",
                   "recorded_by_id", "recorded_at"]


async def seed(url: str, rows: int, seed_value: int) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        agent_id = await conn.fetchval("SELECT min(id) FROM app_user")
        t0 = time.perf_counter()
        leads, segments, consents = generate(rows, seed_value, agent_id)
        t1 = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table("lead", records=leads, columns=LEAD_COLUMNS)
            await conn.copy_records_to_table("lead_segment", records=segments,
                                             columns=SEGMENT_COLUMNS)
            await conn.copy_records_to_table("consent_record", records=consents,
                                             columns=CONSENT_COLUMNS)
            await conn.execute(
                "SELECT setval(pg_get_serial_sequence('lead', 'id'), (SELECT max(id) FROM lead))")
        t2 = time.perf_counter()
        # VACUUM as autovacuum would have done on a table this age (visibility map set, so
        # index-only scans are possible), ANALYZE for the planner.
        await conn.execute("VACUUM ANALYZE")
        t3 = time.perf_counter()
        note(f"  generated in {t1 - t0:.1f}s, COPY in {t2 - t1:.1f}s, "
             f"VACUUM ANALYZE in {t3 - t2:.1f}s")
        counts = {t: await conn.fetchval(f'SELECT count(*) FROM "{t}"')
                  for t in ("lead", "lead_segment", "consent_record")}
        for name, query in MIXES.items():
            sel = []
            for part in query.split("&"):
                key, value = part.split("=")
                if key in ("stage", "language", "region"):
                    sel.append(f"{key} = '{value}'")
                elif key == "segment":
                    sel.append(f"id IN (SELECT lead_id FROM lead_segment WHERE code = '{value}')")
            counts[f"match {name}"] = await conn.fetchval(
                f"SELECT count(*) FROM lead WHERE {' AND '.join(sel)}")
        return counts
    finally:
        await conn.close()


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.queries: list[tuple[str, list[Any]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        if len(args) == 2 and isinstance(args[0], str):
            self.queries.append((args[0], list(args[1] or [])))
        elif not args and isinstance(record.msg, str) and record.msg.lstrip().upper().startswith(
                ("SELECT", "UPDATE", "INSERT", "DELETE", "WITH")):
            self.queries.append((record.msg, []))


async def explain(url: str, token: str, query_string: str) -> list[tuple[str, list[Any], str]]:
    """Run what GET /api/v1/leads?<query_string> runs (bearer check, list_leads, present),
    capture its SQL, and return each statement with its EXPLAIN (ANALYZE, BUFFERS)."""
    from urllib.parse import parse_qs

    from tortoise import connections

    from crm import db
    from crm.auth.service import resolve_bearer
    from crm.people import service
    from crm.people.routes import present

    params = parse_qs(query_string)
    filters = service.LeadFilters(**{k: v for k, v in params.items() if k != "limit"})
    logger = logging.getLogger("tortoise.db_client")
    capture = _Capture()
    await db.init_db(url)
    try:
        old_level = logger.level
        logger.setLevel(logging.DEBUG)
        logger.addHandler(capture)
        try:
            actor = await resolve_bearer(token)
            assert actor is not None
            rows, total = await service.list_leads(actor, filters, limit=50, offset=0)
            await present(rows, actor)
        finally:
            logger.removeHandler(capture)
            logger.setLevel(old_level)
        conn = connections.get("default")
        out = []
        for sql, values in capture.queries:
            if not sql.lstrip().upper().startswith("SELECT"):
                out.append((sql, values, "(not a SELECT: not explained)"))
                continue
            _, plan_rows = await conn.execute_query("EXPLAIN (ANALYZE, BUFFERS) " + sql, values)
            out.append((sql, values, "\n".join(r["QUERY PLAN"] for r in plan_rows)))
        return out
    finally:
        await db.close_db()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000,
                        help="requests per filter mix and for the bare endpoint (default 2000)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--serial-requests", type=int, default=300,
                        help="also measure at concurrency 1 with this many requests per "
                        "target (information only; 0 to skip)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--time-limit", type=float, default=300.0,
                        help="wall-clock limit of each target's measured requests, seconds")
    parser.add_argument("--client", choices=CLIENTS, default=DEFAULT_CLIENT)
    parser.add_argument("--pg-url", help="an existing PostgreSQL server: a fresh database is "
                        "created on it and dropped afterwards (default: scripts/pg.sh)")
    parser.add_argument("--no-explain", action="store_true")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="record the app server with py-spy into DIR (slows it down)")
    parser.add_argument("--patches", default="",
                        help="WHAT-IF: start the app with these candidate fixes applied "
                        "(bench/experiments.py), e.g. noreset,authcache,pool=10")
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args(argv)
    if not 1 <= args.rows <= 5_000_000 or not 1 <= args.requests <= 1_000_000:
        parser.error("--rows must be 1..5000000 and --requests 1..1000000")

    started = time.monotonic()
    with postgres(args.pg_url, "list") as url:
        note(f"== postgres {url.split('@')[-1]}: migrate, admin token, seed {args.rows} leads")
        token = prepare_database(url)
        counts = run_async(seed(url, args.rows, args.seed))
        note(f"  rows: {counts}")
        headers = {"Authorization": f"Bearer {token}"}

        async def measure(app_server: Server, bare_server: Server, concurrency: int,
                          n: int) -> list[LoadResult]:
            for query in MIXES.values():
                w = await warm_up(app_server, lambda i, q=query: ("GET", f"/api/v1/leads?{q}",
                                                                  None),
                                  n=100, concurrency=concurrency, headers=headers,
                                  client=args.client)
                if w.error_count:
                    note(f"  warm-up errors: {w.errors}")
            await warm_up(bare_server, lambda i: ("GET", BARE_PATH, None), n=100,
                          concurrency=concurrency, client=args.client)
            targets = [
                Target(f"app {name}", app_server,
                       lambda i, q=query: ("GET", f"/api/v1/leads?{q}", None), headers)
                for name, query in MIXES.items()
            ] + [Target("bare", bare_server, lambda i: ("GET", BARE_PATH, None))]
            return await run_interleaved(targets, n=n, concurrency=concurrency,
                                         time_limit=args.time_limit, rounds=args.rounds,
                                         client=args.client)

        runs: dict[int, list[LoadResult]] = {}
        with Server(app_factory(args), env=app_env(args, url)) as app_server, \
                Server(BARE_FACTORY) as bare_server:
            spy = None
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                spy = PySpy(app_server, args.profile / "list-postgres.txt")
            note(f"  measuring: {args.requests} requests per target, concurrency "
                 f"{args.concurrency}, {args.rounds} interleaved rounds, client {args.client}")
            runs[args.concurrency] = run_async(
                measure(app_server, bare_server, args.concurrency, args.requests))
            for r in runs[args.concurrency]:
                note("  " + r.line())
            if args.serial_requests:
                note(f"  measuring at concurrency 1: {args.serial_requests} requests per target")
                runs[1] = run_async(measure(app_server, bare_server, 1, args.serial_requests))
                for r in runs[1]:
                    note("  " + r.line())
            if spy:
                spy.stop()
                note(f"  py-spy collapsed stacks of the app server: {spy.out}")
                note(summarise_profile(spy.out))
            if any(r.error_count for rs in runs.values() for r in rs):
                note(f"  app server log tail:\n{app_server.log_tail(15)}")
        for rs in runs.values():
            for r in rs:
                for i, status, body in r.errors:
                    note(f"  ERROR {r.label} request {i}: HTTP {status}: {body}")

        if not args.no_explain:
            for name, query in MIXES.items():
                note(f"\n-- SQL of GET /api/v1/leads?{query} ({name}), with EXPLAIN ANALYZE")
                for k, (sql, values, plan) in enumerate(run_async(explain(url, token, query)), 1):
                    shown = values if len(str(values)) < 300 else str(values)[:300] + "..."
                    note(f"[{k}] {sql}\n    params: {shown}\n" + "\n".join(
                        "    " + line for line in plan.splitlines()))

    ok = True
    note(f"\nB2: one page of 50 out of {counts['lead']} leads on PostgreSQL; goal p95 app/bare "
         f"<= {GOAL:g} at concurrency {args.concurrency}")
    if args.patches:
        note(f"WHAT-IF RUN: app started with patches {args.patches} (bench/experiments.py); "
             "these are not the figures of the app as shipped")
    for concurrency, rs in runs.items():
        bare = rs[-1]
        rows = []
        for r in rs[:-1]:
            ratio = r.pct(95) / bare.pct(95)
            goal_applies = concurrency == args.concurrency
            passed = ratio <= GOAL and r.error_count == 0 and r.done == args.requests
            if goal_applies:
                ok &= passed
            rows.append([r.label, f"{r.pct(50):.1f}", f"{r.pct(95):.1f}", f"{r.pct(99):.1f}",
                         f"{r.rps:.0f}", f"{ratio:.2f}", str(r.error_count),
                         f"{r.server_ms_per_request:.2f}+{r.db_ms_per_request:.2f}",
                         ("PASS" if passed else "FAIL") if goal_applies else "(info)"])
        rows.append([bare.label, f"{bare.pct(50):.1f}", f"{bare.pct(95):.1f}",
                     f"{bare.pct(99):.1f}", f"{bare.rps:.0f}", "1", str(bare.error_count),
                     f"{bare.server_ms_per_request:.2f}", ""])
        note(f"\nconcurrency {concurrency}, client {args.client}:")
        note(table(["target", "p50 ms", "p95 ms", "p99 ms", "req/s", "p95 ratio", "errors",
                    "CPU ms/req server+pg", "goal <= 4x"], rows))
    note(f"total wall time {time.monotonic() - started:.0f}s")
    return 0 if ok else 1



if __name__ == "__main__":
    sys.exit(main())
