"""B-import: importing 50,000 people from a Belgian Excel CSV with dedup on, on SQLite and
PostgreSQL, against a raw bulk insert of the same rows measured in the same run.

The file: ';' with a BOM, accents, phones written the ways people write them (`0470 12 34 56`,
`+32 470…`, `0470/12.34.56`), postcodes and languages, segments, notes; ~5% of rows are people
already in the database (the import adds their new facts), ~0.5% are bad rows (a short phone, a
formula, no contact). Before the import, 2,500 people are stored (so dedup has something to
find); they are not timed.

Figures:
- time of the import (`create_job` reading and counting the file + `run_job`, batches of
  1,000) as a ratio to a raw bulk insert (`Lead.bulk_create`, batches of 1,000, one
  transaction each) of the same 50,000 rows, already normalised, into an empty lead table.
  Goal: at most 3x.
- peak memory growth of the import: the RSS high-water mark (`getrusage(RUSAGE_SELF).ru_maxrss`)
  of the child process that runs it, after the import minus before it (the file is already in
  memory before: it is 5 MB). Goal: under 300 MB.

Each measurement runs in a child process of its own (Tortoise keeps dialect-specific SQL on the
models, and the memory figure must be the import's alone).

    .venv/bin/python -m bench.bench_import --db both --rows 50000
    #   --db sqlite|postgres|both  --pg-url postgres://… (a fresh database is created there)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_leads_create import FIRST_NAMES, LAST_NAMES, POSTCODES  # noqa: E402
from bench.common import (  # noqa: E402
    PYTHON,
    ROOT,
    SECRET_KEY,
    note,
    postgres,
    prepare_database,
    sqlite_file,
    table,
)

GOAL_RATIO = 3.0
GOAL_MB = 300
EXISTING = 2_500
DUPLICATE_SHARE = 0.05
BAD_SHARE = 0.005
ACCENTED = ["Amélie", "Zoë", "Inès", "Chloé", "Léa", "Hélène", "François", "Jürgen", "Gaëlle"]
SEGMENT_LABELS = {"women": "Femmes", "youth": "Jeunes (-26 ans)", "job_seeker": "Werkzoekende"}
LANGUAGE_WORDS = {"fr": ["fr", "Français", "FR-BE"], "nl": ["nl", "Nederlands"], "de": ["Deutsch"]}


def _phone(n: int, rng: random.Random) -> tuple[str, str]:
    digits = f"47{n:07d}"
    a, b, c, d = digits[:3], digits[3:5], digits[5:7], digits[7:9]
    written = rng.choice(
        [f"0{a} {b} {c} {d}", f"0{a} {b} {c} {d}", f"+32 {a} {b} {c} {d}", f"0{a}/{b}.{c}.{d}",
         f"0{digits}"]
    )  # fmt: skip
    return written, f"+32{digits}"


def make_data(rows: int, seed: int, workdir: Path) -> dict[str, Any]:
    """The CSV file, the people stored beforehand, and the clean rows for the raw insert."""
    rng = random.Random(seed)
    numbers = rng.sample(range(10_000_000), rows + EXISTING)
    existing = []
    for n in numbers[rows:]:
        existing.append(
            {"first_name": rng.choice(FIRST_NAMES), "phone": _phone(n, rng)[1],
             "source": "event", "stage": "lead"}
        )  # fmt: skip
    postcodes = [p for p, _, _ in POSTCODES]
    weights = [w for _, w, _ in POSTCODES]
    lines = ["Prénom;Nom;GSM;E-mail;Code postal;Langue;Public;Remarques"]
    clean: list[dict[str, Any]] = []
    bad = dup = 0
    for i in range(rows):
        roll = rng.random()
        first = rng.choice(FIRST_NAMES + ACCENTED)
        last = rng.choice(LAST_NAMES)
        postcode = rng.choices(postcodes, weights)[0]
        if roll < BAD_SHARE:
            bad += 1
            lines.append(rng.choice([
                f"{first};{last};0470 12;;{postcode};;;",
                f"{first};=cmd|' /C calc'!A0;;x{i}@example.be;;;;",
                f"{first};{last};;;{postcode};;;",
            ]))  # fmt: skip
            continue
        if roll < BAD_SHARE + DUPLICATE_SHARE:
            dup += 1
            person = existing[rng.randrange(EXISTING)]
            national = person["phone"][3:]
            written = f"0{national[:3]} {national[3:5]} {national[5:7]} {national[7:]}"
            lines.append(f"{person['first_name']};{last};{written};;{postcode};;Femmes;")
            continue
        written, e164 = _phone(numbers[i], rng)
        email = f"person{i}@example.be" if rng.random() < 0.3 else ""
        language = ""
        if postcode < "1300" or rng.random() < 0.2:
            language = rng.choice(LANGUAGE_WORDS[rng.choice(["fr", "nl", "de"])])
        segment = rng.choice(["", "", ""] + list(SEGMENT_LABELS.values()))
        notes = rng.choice(["", "", "Rencontré·e au marché", "Séance d'info à Liège"])
        lines.append(f"{first};{last};{written};{email};{postcode};{language};{segment};{notes}")
        clean.append(
            {"first_name": first, "last_name": last, "phone": e164, "email": email or None,
             "postcode": postcode, "notes": notes or None, "source": "import",
             "stage": "reached"}
        )  # fmt: skip
    csv_path = workdir / "people.csv"
    csv_path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    (workdir / "existing.json").write_text(json.dumps(existing))
    (workdir / "clean.json").write_text(json.dumps(clean))
    return {"rows": rows, "duplicates": dup, "bad": bad, "bytes": csv_path.stat().st_size}


# ---- child processes ----------------------------------------------------------------------------


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def _child(mode: str, url: str, workdir: Path) -> dict[str, Any]:
    from tortoise.transactions import in_transaction

    from crm import db
    from crm.auth.actor import Actor
    from crm.enums import Role
    from crm.people.models import Lead

    await db.init_db(url)
    try:
        if mode == "seed":
            people = json.loads((workdir / "existing.json").read_text())
            async with in_transaction():
                await Lead.bulk_create([Lead(**p) for p in people], batch_size=1000)
            return {"seeded": len(people)}
        if mode == "raw":
            people = json.loads((workdir / "clean.json").read_text())
            before = _maxrss_mb()
            started = time.perf_counter()
            for k in range(0, len(people), 1000):
                async with in_transaction():
                    await Lead.bulk_create([Lead(**p) for p in people[k : k + 1000]])
            seconds = time.perf_counter() - started
            return {"seconds": seconds, "rows": await Lead.all().count(),
                    "rss_growth_mb": _maxrss_mb() - before}  # fmt: skip
        from crm.transfer import import_jobs, imports

        content = (workdir / "people.csv").read_bytes()
        actor = Actor(role=Role.ADMIN, label="bench")
        before = _maxrss_mb()
        started = time.perf_counter()
        job = await imports.create_job(filename="people.csv", content=content, actor=actor)
        counted = time.perf_counter() - started
        claimed = await import_jobs.claim_job("bench", job_id=job.id)
        assert claimed is not None
        job = await import_jobs.run_job(claimed, "bench")
        seconds = time.perf_counter() - started
        return {
            "seconds": seconds,
            "read_and_count_s": counted,
            "rss_growth_mb": _maxrss_mb() - before,
            "status": str(job.status),
            "created": job.created_count,
            "updated": job.updated_count,
            "unchanged": job.unchanged_count,
            "refused": job.refused_count,
            "leads": await Lead.all().count(),
        }
    finally:
        await db.close_db()


def child(mode: str, url: str, workdir: Path) -> dict[str, Any]:
    out = subprocess.run(
        [str(PYTHON), "-m", "bench.bench_import", "--child", mode, url, str(workdir)],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
        env={**os.environ, "ENVIRONMENT": "test", "SECRET_KEY": SECRET_KEY,
             "DATABASE_URL": url, "LOG_LEVEL": "WARNING"},
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"{mode} on {url} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---- the run ------------------------------------------------------------------------------------


def bench_one(db: str, url_import: str, url_raw: str, workdir: Path) -> list[str]:
    note(f"\n== {db}: migrate two fresh databases, store {EXISTING} people in the first")
    prepare_database(url_import)
    prepare_database(url_raw)
    child("seed", url_import, workdir)
    note(f"== {db}: import with dedup")
    imported = child("import", url_import, workdir)
    note(f"   {imported}")
    note(f"== {db}: raw bulk insert of the same rows")
    raw = child("raw", url_raw, workdir)
    note(f"   {raw}")
    ratio = imported["seconds"] / raw["seconds"]
    return [
        db,
        f"{imported['seconds']:.1f} s",
        f"{raw['seconds']:.1f} s",
        f"{ratio:.2f}x {'ok' if ratio <= GOAL_RATIO else 'OVER GOAL'}",
        f"{imported['rss_growth_mb']:.0f} MB "
        f"{'ok' if imported['rss_growth_mb'] < GOAL_MB else 'OVER GOAL'}",
        f"{imported['created']}/{imported['updated']}/{imported['unchanged']}/"
        f"{imported['refused']}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "URL", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, url, workdir = args.child
        print(json.dumps(asyncio.run(_child(mode, url, Path(workdir)))))
        return
    workdir = Path(tempfile.mkdtemp(prefix="bench-import-"))
    shape = make_data(args.rows, args.seed, workdir)
    note(f"file: {shape['rows']} rows, {shape['bytes'] / 1e6:.1f} MB, {shape['duplicates']} "
         f"already-known people, {shape['bad']} bad rows")  # fmt: skip
    results = []
    if args.db in ("sqlite", "both"):
        with sqlite_file("import") as a, sqlite_file("raw") as b:
            results.append(bench_one("sqlite", a, b, workdir))
    if args.db in ("postgres", "both"):
        with postgres(args.pg_url, "import") as a, postgres(a, "raw") as b:
            results.append(bench_one("postgresql", a, b, workdir))
    note("\n" + table(
        ["database", "import (dedup on)", "raw bulk insert", "ratio (goal <= 3x)",
         "peak RSS growth (goal < 300 MB)", "created/updated/unchanged/refused"],
        results,
    ))  # fmt: skip


if __name__ == "__main__":
    main()
