"""B1: create leads through POST /api/v1/leads (dedup on), on SQLite and on PostgreSQL.

Figure: requests per second as a ratio to the bare FastAPI POST endpoint (bench/bare_app.py)
measured in the same run, with the same uvicorn settings, concurrency and request count.
Goal: app / bare >= 0.25.

    .venv/bin/python -m bench.bench_leads_create --db both --n 10000 --concurrency 16
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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
    sqlite_file,
    summarise_profile,
    table,
    warm_up,
)

GOAL = 0.25
DUPLICATE_SHARE = 0.10
WARMUP = 100

FIRST_NAMES = [
    "Amina", "Mohamed", "Sarah", "Youssef", "Fatima", "Lucas", "Emma", "Noah", "Lina", "Adam",
    "Marie", "Thomas", "Nora", "Ibrahim", "Julie", "Kevin", "Laura", "Mehdi", "Sofia", "Jan",
    "Elif", "Mustafa", "Ana", "Pieter", "Kenza", "Olivier", "Aylin", "Bram", "Chloé", "Ilyas",
    "Inès", "Wout", "Hanne", "Rachid", "Zeynep", "Jonas", "Léa", "Ayoub", "Fien", "Moussa",
]
LAST_NAMES = [
    "Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens",
    "Dubois", "Lambert", "Dupont", "Martin", "Simon", "Laurent", "El Amrani", "Benali",
    "Yilmaz", "Kaya", "Diallo", "Nguyen", "Schmitz", "Lejeune", "Renard", "Bah", "Haddad",
]
# (postcode, weight, explicit language choices when the person says which one they speak)
POSTCODES = [
    # Brussels: no default language, the person must choose
    ("1000", 6, "fr"), ("1030", 5, "fr"), ("1050", 3, "fr"), ("1060", 3, "fr"),
    ("1070", 5, "fr"), ("1080", 6, "fr"), ("1081", 2, "nl"), ("1090", 2, "nl"),
    ("1120", 1, "nl"), ("1140", 1, "fr"), ("1180", 1, "fr"), ("1190", 2, "fr"),
    ("1200", 1, "fr"), ("1210", 3, "fr"),
    # Flanders
    ("2000", 5, "nl"), ("2060", 3, "nl"), ("2100", 1, "nl"), ("2800", 1, "nl"),
    ("3000", 2, "nl"), ("3500", 1, "nl"), ("8000", 1, "nl"), ("8500", 1, "nl"),
    ("9000", 4, "nl"), ("9300", 1, "nl"),
    # Wallonia
    ("1348", 1, "fr"), ("4000", 4, "fr"), ("4020", 2, "fr"), ("5000", 2, "fr"),
    ("6000", 4, "fr"), ("6001", 1, "fr"), ("7000", 2, "fr"), ("7500", 1, "fr"),
    # German-speaking Community
    ("4700", 1, "de"), ("4780", 1, "de"),
]
SEGMENTS = ["women", "single_parent", "youth", "over_50", "migrant_background",
            "low_education", "social_assistance", "job_seeker", "no_income"]
SEGMENT_WEIGHTS = [30, 10, 20, 8, 25, 12, 15, 35, 8]


def phone_formats(national: int, rng: random.Random, prefix: str = "47") -> str:
    """The same +32<prefix>xxxxxxx number written the ways people write it."""
    digits = f"{prefix}{national:07d}"  # 9 national digits after the 0: 47x xx xx xx
    a, b, c, d = digits[:3], digits[3:5], digits[5:7], digits[7:9]
    return rng.choice([
        f"+32{digits}", f"0{a} {b} {c} {d}", f"+32 {a} {b} {c} {d}", f"0{a}/{b}.{c}.{d}",
        f"0032 {a} {b}{c}{d}", f"0{digits}",
    ])


@dataclass
class Workload:
    bodies: list[dict[str, Any]]
    duplicates: set[int]  # request indexes that repeat an earlier person's phone
    unique_people: int


def make_workload(n: int, seed: int, *, offset: int = 0, prefix: str = "47") -> Workload:
    """n lead bodies; ~10% repeat the phone of a person sent at least 2*64 requests before
    (so the first one has been answered), written differently, with maybe a new segment."""
    rng = random.Random(seed)
    numbers = rng.sample(range(10_000_000), n)
    postcodes = [p for p, _, _ in POSTCODES]
    weights = [w for _, w, _ in POSTCODES]
    lang_of = {p: lang for p, _, lang in POSTCODES}
    bodies: list[dict[str, Any]] = []
    duplicates: set[int] = set()
    for i in range(n):
        if i >= 200 and rng.random() < DUPLICATE_SHARE:
            j = rng.randrange(0, i - 128)
            while j in duplicates:
                j = rng.randrange(0, i - 128)
            original = bodies[j]
            body = {k: v for k, v in original.items() if k in ("first_name", "last_name")}
            body["phone"] = phone_formats(original["_national"], rng, prefix)
            body["_national"] = original["_national"]
            if rng.random() < 0.5:
                body["segments"] = rng.sample(SEGMENTS, 1)
            if rng.random() < 0.3:
                body["consents"] = [{"purpose": "sms", "granted": True, "method": "verbal"}]
            duplicates.add(i)
            bodies.append(body)
            continue
        national = numbers[i]
        postcode = rng.choices(postcodes, weights)[0]
        body = {
            "first_name": rng.choice(FIRST_NAMES),
            "last_name": rng.choice(LAST_NAMES),
            "phone": phone_formats(national, rng, prefix),
            "_national": national,
            "postcode": postcode,
        }
        # Brussels people say their language; elsewhere the postcode's default usually fits.
        if postcode < "1300" or rng.random() < 0.3:
            body["language"] = lang_of[postcode] if rng.random() < 0.8 else rng.choice(
                ["fr", "nl"])
        k = rng.choices([0, 1, 2, 3], [20, 40, 30, 10])[0]
        if k:
            body["segments"] = sorted(set(rng.choices(SEGMENTS, SEGMENT_WEIGHTS, k=k)))
        if rng.random() < 0.3:
            body["email"] = f"person{offset + i}@example.be"
        if rng.random() < 0.5:
            body["gender"] = rng.choice(["female", "female", "male", "male", "undisclosed"])
        if rng.random() < 0.6:
            body["birth_year"] = rng.randint(1960, 2006)
        if rng.random() < 0.15:
            body["stage"] = "lead"
        if rng.random() < 0.4:
            body["consents"] = [{"purpose": "sms", "granted": True, "method": "verbal"}]
        bodies.append(body)
    for body in bodies:
        body.pop("_national")
    return Workload(bodies, duplicates, n - len(duplicates))


def count_rows(url: str) -> dict[str, int]:
    tables = ("lead", "lead_segment", "consent_record", "lead_stage_change", "audit_entry")
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite://").split("?")[0]
        with sqlite3.connect(path) as conn:
            return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    import asyncpg

    async def go() -> dict[str, int]:
        conn = await asyncpg.connect(url)
        try:
            return {t: await conn.fetchval(f'SELECT count(*) FROM "{t}"') for t in tables}
        finally:
            await conn.close()

    return run_async(go())


@dataclass
class DbFigures:
    db: str
    app: LoadResult
    bare: LoadResult
    rows: dict[str, int]
    expected_people: int
    duplicate_answers: int
    expected_duplicates: int

    @property
    def ratio(self) -> float:
        return self.app.rps / self.bare.rps if self.bare.rps else 0.0


def bench_one(db: str, url: str, args: argparse.Namespace) -> DbFigures:
    note(f"\n== {db}: migrate {url.split('@')[-1]} and create an admin token")
    token = prepare_database(url)
    headers = {"Authorization": f"Bearer {token}"}
    workload = make_workload(args.n, seed=args.seed)
    # warm-up people must not collide with measured ones: 048x phones, other e-mails
    warm_bodies = make_workload(WARMUP, seed=args.seed + 1, offset=10_000_000,
                                prefix="48").bodies

    dup_answers = 0

    def seen(i: int, status: int, content: bytes) -> None:
        nonlocal dup_answers
        if status == 200 and b'"duplicate":true' in content:
            dup_answers += 1

    async def measure(app_server: Server, bare_server: Server) -> list[LoadResult]:
        w = await warm_up(app_server, lambda i: ("POST", "/api/v1/leads", warm_bodies[i]),
                          n=len(warm_bodies), concurrency=args.concurrency, headers=headers,
                          client=args.client)
        note("  app " + w.line())
        w = await warm_up(bare_server, lambda i: ("POST", "/bare/leads", warm_bodies[i]),
                          n=len(warm_bodies), concurrency=args.concurrency, client=args.client)
        note("  bare " + w.line())
        return await run_interleaved([
            Target(f"app {db}", app_server,
                   lambda i: ("POST", "/api/v1/leads", workload.bodies[i]), headers, seen),
            Target(f"bare ({db} run)", bare_server,
                   lambda i: ("POST", "/bare/leads", workload.bodies[i])),
        ], n=args.n, concurrency=args.concurrency, time_limit=args.time_limit,
            rounds=args.rounds, client=args.client)

    note(f"  {args.n} POST /api/v1/leads and {args.n} POST /bare/leads, concurrency "
         f"{args.concurrency}, {args.rounds} interleaved rounds, client {args.client}")
    with Server(app_factory(args), env=app_env(args, url)) as app_server, \
            Server(BARE_FACTORY) as bare_server:
        spy = None
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            spy = PySpy(app_server, args.profile / f"create-{db}.txt")
        try:
            app, bare = run_async(measure(app_server, bare_server))
        finally:
            if spy:
                spy.stop()
                note(f"  py-spy collapsed stacks of the app server: {spy.out}")
                note(summarise_profile(spy.out))
        note("  " + app.line())
        note("  " + bare.line())
        if app.error_count:
            note(f"  app server log tail:\n{app_server.log_tail(15)}")
    for i, status, body in app.errors:
        note(f"  ERROR request {i}: HTTP {status}: {body}")
    for i, status, body in bare.errors:
        note(f"  ERROR (bare) request {i}: HTTP {status}: {body}")
    rows = count_rows(url)
    note(f"  rows after the run: {rows}")
    return DbFigures(db, app, bare, rows, workload.unique_people + len(warm_bodies),
                     dup_answers, len(workload.duplicates))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--n", type=int, default=10_000, help="requests per run (default 10000)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--time-limit", type=float, default=600.0,
                        help="wall-clock limit of each measured run, seconds (default 600)")
    parser.add_argument("--pg-url", help="an existing PostgreSQL server: a fresh database is "
                        "created on it and dropped afterwards (default: scripts/pg.sh)")
    parser.add_argument("--rounds", type=int, default=10,
                        help="app and bare take turns in this many slices (1: one after the "
                        "other); default 10")
    parser.add_argument("--client", choices=CLIENTS, default=DEFAULT_CLIENT,
                        help="HTTP client library of the load generator (default aiohttp)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="record the app server with py-spy into DIR (slows it down)")
    parser.add_argument("--patches", default="",
                        help="WHAT-IF: start the app with these candidate fixes applied "
                        "(bench/experiments.py), e.g. noreset,authcache,pool=10")
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args(argv)
    if not 1 <= args.n <= 1_000_000 or not 1 <= args.concurrency <= 256:
        parser.error("--n must be 1..1000000 and --concurrency 1..256")

    started = time.monotonic()
    results: list[DbFigures] = []
    for db in (["sqlite", "postgres"] if args.db == "both" else [args.db]):
        if db == "sqlite":
            with sqlite_file("create") as url:
                results.append(bench_one(db, url, args))
        else:
            with postgres(args.pg_url, "create") as url:
                results.append(bench_one(db, url, args))

    note(f"\nB1: create {args.n} leads (~{DUPLICATE_SHARE:.0%} repeats of an earlier phone), "
         f"concurrency {args.concurrency}, client {args.client}, {args.rounds} rounds; "
         f"goal app/bare >= {GOAL}")
    if args.patches:
        note(f"WHAT-IF RUN: app started with patches {args.patches} (bench/experiments.py); "
             "these are not the figures of the app as shipped")
    rows = []
    ok = True
    for r in results:
        passed = r.ratio >= GOAL and r.app.error_count == 0 and r.app.done == args.n
        ok &= passed
        rows.append([
            r.db, f"{r.app.rps:.0f}", f"{r.bare.rps:.0f}", f"{r.ratio:.3f}",
            f"{r.app.pct(95):.1f}", f"{r.bare.pct(95):.1f}",
            f"{r.app.error_count}+{r.bare.error_count}",
            f"{r.app.server_ms_per_request:.2f}+{r.app.db_ms_per_request:.2f}",
            f"{r.bare.server_ms_per_request:.2f}",
            "PASS" if passed else "FAIL",
        ])
    note(table(["db", "app req/s", "bare req/s", "ratio", "app p95 ms", "bare p95 ms",
                "errors app+bare", "app CPU ms/req server+pg", "bare CPU ms/req",
                "goal 0.25"], rows))
    for r in results:
        consistent = (r.rows["lead"] == r.expected_people
                      and r.duplicate_answers == r.expected_duplicates)
        note(f"{r.db}: leads stored {r.rows['lead']} (expected {r.expected_people} distinct "
             f"phones), duplicate answers {r.duplicate_answers} (expected "
             f"{r.expected_duplicates}) -> dedup {'OK' if consistent else 'MISMATCH'}")
    note(f"total wall time {time.monotonic() - started:.0f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
