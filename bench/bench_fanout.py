"""Issue 4: fan-out of one campaign run over a 100,000-person audience, in three languages.

What it measures, on SQLite and on PostgreSQL, each engine in a child process of its own (one
Tortoise process cannot serve both dialects, see common.prepare_database):

1. A fresh database (migrations through crm.db) with N people, seeded with plain bulk SQL
   (sqlite3 executemany / asyncpg COPY, not timed): first names from ~200 Belgian, Maghreb,
   Congolese and Turkish names, languages fr/nl/de 50/35/15, unique +3247/8/9 mobiles, an
   assigned agent (six agents; 5% of people have none), stage lead 55% / contacted 42% /
   financed 3%, segments for 60%, an SMS consent for 90% of people of whom 4% later opted out,
   and (unless --no-history) an earlier campaign's messages of 3 days ago for 25% of people,
   2 of them for 4% (which the per-person cap of 2 in 7 days stops).
2. A campaign created with campaigns.service.create_campaign and scheduled with
   schedule_campaign (channel sms, audience everyone, {"at": tomorrow 10:30 Brussels}), three
   messages using {{ first_name }}, {{ agent.first_name }} and {{ opt_out }}. Its run is made
   with CampaignRun.create, claimed with campaigns.runner.claim_run and then
   `await campaigns.runner.fan_out(run, "bench")` is timed (wall clock; CPU of this process,
   which includes aiosqlite's thread; CPU of the postgres processes). Checked afterwards: one
   row per person, queued + skipped = N, each skip reason as many times as the seeded data
   says, every queued body in the person's language with their first name and their agent's.
3. Baseline in the same process and run: the run's rows are read back (all of fanout._COLUMNS,
   untimed), deleted (PostgreSQL: VACUUM outbox_message; SQLite: WAL checkpoint), and the same
   rows are inserted again, timed, as a multi-row INSERT … ON CONFLICT (idempotency_key) DO
   NOTHING of 1,000 rows per statement through the same Tortoise connection
   (`execute_query`; placeholders `$n` on PostgreSQL and plain `?` on SQLite, where the
   fan-out's numbered `?n` cost far more to prepare; values already flat: only the insert).
   The read-back is compared with what the baseline stored. Figure: fan-out s / insert s.
   Goal <= 2.
4. Memory: resident set size of this process sampled from /proc/self/statm every 10 ms in a
   background thread; figure: peak during the fan-out less the RSS just before it (after a
   gc.collect()). Goal < 200 MB (MiB).

--rounds R repeats 2-3 with a new run each time (rows of the previous round deleted first);
the table gives the median ratio and the largest memory growth. --profile adds, after the
timed rounds, one fan-out under cProfile (top 25 by cumulative and by own time) and one with
wall-clock timers around each phase (audience query, consent query, cap query, batch lookups,
per-person planning, rendering, SMS segment counting, row building, the transaction).

    .venv/bin/python -m bench.bench_fanout --people 100000 --db both --rounds 3
    .venv/bin/python -m bench.bench_fanout --people 20000 --db sqlite --profile
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import gc
import io
import json
import os
import pstats
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    PYTHON,
    ROOT,
    SECRET_KEY,
    note,
    postgres,
    postgres_cpu_seconds,
    sqlite_file,
    table,
)

GOAL_RATIO = 2.0
GOAL_MB = 200.0
BATCH = 1000
WORKER_ID = "bench"

# ~200 first names of people the outreach meets in Belgium: Flemish, Walloon/Brussels,
# German-speaking, Maghreb, Congolese and Turkish. Some need UCS-2 in an SMS (ğ ş ı ç).
FIRST_NAMES = """
Amina Mohamed Fatima Youssef Khadija Hamza Nadia Karim Samira Rachid Leila Mehdi Imane Bilal
Salma Ayoub Houda Mustafa Zineb Omar Meryem Anas Souad Hicham Naima Soufiane Hafsa Ilyas Yasmina
Ismail Loubna Nabil Siham Abdel Rania Mounir Asmae Tarik Hajar Driss Latifa Zakaria Ikram Brahim
Hanane Redouane Farida Adil Sanae Jamal Malika Khalid Dounia Walid Kenza Said Najat Amine Aicha
Fouad Mariam Aziz Sara Ilias Noura Jean-Pierre Marie Luc Isabelle Thomas Julie Nicolas Sophie
Olivier Catherine Pierre Nathalie Laurent Valérie Michel Anne Philippe Christine Benoît Sylvie
Arnaud Céline Maxime Aurélie Quentin Camille Romain Chloé Antoine Manon Lucas Emma Louis Léa
Hugo Jan Els Pieter An Wim Katrien Koen Sofie Bart Lien Tom Eline Stijn Ine Jeroen Sarah Dries
Lotte Wout Hanne Joris Fien Siebe Jana Bram Nele Ruben Marieke Jonas Inge Gert Annelies Jörg
Lena Lukas Anke Timo Nadine Jens Heike Marco Kerstin Patrick Monika Dirk Sabine Jean-Claude
Mbuyi Kabongo Ilunga Nsimba Mukendi Kalonji Tshibanda Nzuzi Makiadi Mputu Lukusa Kanku Mwamba
Bolingo Dieudonné Grâce Merveille Espérance Christelle Gloire Patience Divine Bénédicte Junior
Exaucé Prince Ornella Plamedi Ange Dorcas Emmanuel Josué Rebecca Mehmet Ayşe Ahmet Fatma Kemal
Emine Hüseyin Hatice İbrahim Zeynep Ömer Elif Yusuf Merve Murat Büşra Emre Esra Burak Gül Serkan
Özlem Hakan Derya Volkan Şeyma Kadir Tuğba Cem Gökhan Ceren Erdem Sibel Ali Dilek Kaan Nur
""".split()
LAST_NAMES = """
Peeters Janssens Maes Jacobs Mertens Willems Claes Goossens Wouters De Smet Dubois Lambert
Dupont Martin Simon Laurent Leroy Lejeune Renard Mathieu Lemaire Hermans Michiels Van Damme
Benali El Amrani Bouzid Haddad Cherkaoui Ouali Belkacem Ziani Mansouri Tahiri Alaoui Amrani
Bakkali Idrissi Chaoui Rahmouni Aouragh Essaidi Lahlou Ait Ouali Boukhari Kabila Mbuyi Tshisekedi
Ilunga Mutombo Kasongo Lukusa Kalala Mukendi Ngalula Tshimanga Kabamba Mbala Nzeza Lumbala Yılmaz
Kaya Demir Şahin Çelik Yıldız Yıldırım Öztürk Aydın Özdemir Arslan Doğan Kılıç Aslan Çetin Kara
Koç Kurt Özkan Şimşek Schmitz Müller Meyer Schröder Krings Heinen Kohnen Lentz Cremer Hilgers
""".split()
AGENTS = ["Yasmina", "Koen", "Nadia", "Jean-Marc", "Elif", "Grâce"]
LANGUAGES = (["fr"] * 50) + (["nl"] * 35) + (["de"] * 15)
STAGES = (["lead"] * 55) + (["contacted"] * 42) + (["financed"] * 3)
SEGMENTS = ["women", "single_parent", "youth", "over_50", "migrant_background", "low_education",
            "social_assistance", "job_seeker", "no_income"]
SEGMENT_WEIGHTS = [30, 10, 20, 8, 25, 12, 15, 35, 8]

MESSAGES = {
    "fr": "Bonjour {{ first_name }} ! {% if agent.first_name %}C'est {{ agent.first_name }} de "
          "l'équipe Passerelle. {% endif %}Une séance d'info sur le microcrédit a lieu jeudi "
          "à 14h, rue de Laeken 76. Répondez OUI pour réserver votre place. {{ opt_out }}",
    "nl": "Hallo {{ first_name }}! {% if agent.first_name %}Met {{ agent.first_name }} van "
          "Passerelle. {% endif %}Donderdag om 14 uur is er een infosessie over microkrediet, "
          "Laekenstraat 76. Antwoord JA om een plaats te reserveren. {{ opt_out }}",
    "de": "Guten Tag {{ first_name }}! {% if agent.first_name %}Hier ist {{ agent.first_name }} "
          "von Passerelle. {% endif %}Am Donnerstag um 14 Uhr gibt es eine Infoveranstaltung "
          "zum Mikrokredit in Eupen. Antworten Sie JA, um sich anzumelden. {{ opt_out }}",
}
GREETING = {"fr": "Bonjour ", "nl": "Hallo ", "de": "Guten Tag "}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--people", type=int, default=100_000)
    p.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--rounds", type=int, default=1, help="fan-out + baseline pairs per engine")
    p.add_argument("--seed", type=int, default=4)
    p.add_argument("--no-history", action="store_true",
                   help="no earlier campaign messages (the cap query then finds nothing)")
    p.add_argument("--profile", action="store_true",
                   help="after the timed rounds: one fan-out under cProfile, one with phase timers")
    p.add_argument("--pg-url", help="an existing PostgreSQL server (else scripts/pg.sh)")
    p.add_argument("--time-limit", type=float, default=3600, help="s per engine")
    p.add_argument("--child", choices=("sqlite", "postgres"), help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    return p.parse_args(argv)


# --- the population ------------------------------------------------------------------------------


def generate(n: int, seed: int, agent_ids: list[int],
             history: tuple[int, list[int]] | None) -> dict[str, Any]:
    """Rows for lead, lead_segment, consent_record and (history) outbox_message, plus what each
    person's outbox row must say."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    phones = rng.sample(range(30_000_000), n)
    leads, segments, consents, earlier = [], [], [], []
    # per person: id, status, skip reason, language, agent's first name
    expected: list[tuple[int, str, str | None, str, str | None]] = []
    agent_name = dict(zip(agent_ids, AGENTS, strict=True))
    for i in range(n):
        lead_id = i + 1
        created = now - timedelta(days=730 * rng.random() ** 1.5, seconds=rng.randrange(86400))
        first = rng.choice(FIRST_NAMES)
        last = rng.choice(LAST_NAMES) if rng.random() < 0.9 else None
        k = phones[i]
        phone = f"+324{7 + k // 10_000_000}{k % 10_000_000:07d}"
        language = rng.choice(LANGUAGES)
        stage = rng.choice(STAGES)
        agent = rng.choice(agent_ids) if rng.random() < 0.95 else None
        leads.append((lead_id, first, last, phone, language, stage, "event", agent, agent,
                       created, created))
        if rng.random() < 0.6:
            k_seg = rng.choice([1, 1, 2, 3])
            for code in sorted(set(rng.choices(SEGMENTS, SEGMENT_WEIGHTS, k=k_seg))):
                segments.append((lead_id, code))
        consent: bool | None = None
        if rng.random() < 0.9:
            at = created + timedelta(minutes=5)
            consents.append((lead_id, "sms", True, "event", "verbal", "v1", agent, at))
            consent = True
            if rng.random() < 0.04:
                stop = min(now - timedelta(hours=1), at + timedelta(days=rng.randint(1, 300)))
                consents.append((lead_id, "sms", False, "sms", "keyword", None, None, stop))
                consent = False
        messages = 0
        if history is not None:
            r = rng.random()
            messages = 2 if r < 0.04 else 1 if r < 0.25 else 0
        for m in range(messages):
            old_campaign, old_runs = history  # type: ignore[misc]
            sent = now - timedelta(days=3, minutes=m * 60)
            key = f"campaign:{old_campaign}:run:{old_runs[m]}:lead:{lead_id}"
            earlier.append((lead_id, "sms", phone, language, "Earlier campaign message", 1, "gsm7",
                            "campaign", "delivered", 0, sent, key, old_campaign, old_runs[m], "A",
                            sent, sent, sent))
        if stage == "financed":
            skip = "closed_stage"
        elif consent is False:
            skip = "opted_out"
        elif consent is None:
            skip = "no_consent"
        elif messages >= 2:
            skip = "cap"
        else:
            skip = None
        expected.append((lead_id, "skipped" if skip else "queued", skip, language,
                         agent_name.get(agent) if agent else None))
    return {"leads": leads, "segments": segments, "consents": consents, "earlier": earlier,
            "expected": expected, "first": [row[1] for row in leads]}


LEAD_COLUMNS = ["id", "first_name", "last_name", "phone", "language", "stage", "source",
                "assigned_agent_id", "reached_by_id", "created_at", "updated_at"]
SEGMENT_COLUMNS = ["lead_id", "code"]
CONSENT_COLUMNS = ["lead_id", "purpose", "granted", "source", "method", "text_version",
                   "recorded_by_id", "recorded_at"]
EARLIER_COLUMNS = ["lead_id", "channel", "address", "language", "body", "segments", "encoding",
                   "kind", "status", "attempts", "due_at", "idempotency_key", "campaign_id",
                   "run_id", "variant", "created_at", "sent_at", "status_at"]


async def bulk_seed(engine: str, url: str, pop: dict[str, Any]) -> None:
    tables = [("lead", LEAD_COLUMNS, pop["leads"]),
              ("lead_segment", SEGMENT_COLUMNS, pop["segments"]),
              ("consent_record", CONSENT_COLUMNS, pop["consents"]),
              ("outbox_message", EARLIER_COLUMNS, pop["earlier"])]
    if engine == "sqlite":
        con = sqlite3.connect(url.split("://", 1)[1].split("?", 1)[0], timeout=60)
        try:
            for name, columns, records in tables:
                marks = ", ".join("?" * len(columns))
                con.executemany(f'INSERT INTO "{name}" ({", ".join(columns)}) VALUES ({marks})',
                                records)
            con.commit()
            con.execute("ANALYZE")
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            con.close()
        return
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            for name, columns, records in tables:
                if records:
                    await conn.copy_records_to_table(name, records=records, columns=columns)
            await conn.execute(
                "SELECT setval(pg_get_serial_sequence('lead', 'id'), (SELECT max(id) FROM lead))")
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


# --- measuring -----------------------------------------------------------------------------------


class RssSampler:
    """Peak resident set size of this process, read from /proc/self/statm every `interval`
    seconds by a background thread."""

    PAGE = os.sysconf("SC_PAGE_SIZE")

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self.samples = 0
        self.base = self.peak = 0

    @classmethod
    def rss(cls) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * cls.PAGE

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.rss())
            self.samples += 1

    def __enter__(self) -> RssSampler:
        gc.collect()
        self.base = self.peak = self.rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak = max(self.peak, self.rss())
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 2**20


class Clock:
    """Wall, CPU of this process (all threads: aiosqlite runs SQLite in one) and CPU of the
    postgres processes over a block."""

    def __init__(self, engine: str) -> None:
        self.pg = engine == "postgres"

    def __enter__(self) -> Clock:
        self._pg0 = postgres_cpu_seconds() if self.pg else 0.0
        self._cpu0 = time.process_time()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._t0
        self.cpu = time.process_time() - self._cpu0
        self.pg_cpu = (postgres_cpu_seconds() - self._pg0) if self.pg else 0.0


async def settle(engine: str) -> None:
    """Same table state before each timed block: dead rows gone (PostgreSQL), WAL folded back
    into the database file (SQLite)."""
    from tortoise import connections

    conn = connections.get("default")
    if engine == "postgres":
        await conn.execute_script("VACUUM ANALYZE outbox_message")
    else:
        await conn.execute_query("PRAGMA wal_checkpoint(TRUNCATE)")
    gc.collect()


# --- the child: one engine -----------------------------------------------------------------------


async def child(args: argparse.Namespace) -> dict[str, Any]:
    from tortoise import connections

    from campaigns import runner, service
    from campaigns.fanout import _COLUMNS
    from campaigns.models import CampaignRun, RunStatus
    from campaigns.schemas import CampaignCreate
    from channels.sql import rows
    from crm import db
    from crm.auth import service as auth
    from crm.auth.actor import Actor
    from crm.config import settings
    from crm.enums import Role

    engine, url, n = args.child, args.url, args.people
    await db.run_migrations(url)
    await db.init_db(url)
    try:
        agents = [await auth.create_user(f"agent{i}@bench.example.org", Role.AGENT, first_name=name)
                  for i, name in enumerate(AGENTS)]
        marketing = await auth.create_user("marketing@bench.example.org", Role.MARKETING,
                                           first_name="Mia")
        actor = Actor(role=Role.MARKETING, label="bench", user_id=marketing.id)
        history = None
        if not args.no_history:  # an earlier campaign, two runs three days ago
            old = await service.create_campaign(CampaignCreate(
                name="Earlier campaign", channel="sms", messages=MESSAGES), actor=actor)
            ago = datetime.now(UTC) - timedelta(days=3)
            old_runs = [await CampaignRun.create(campaign_id=old.id, status=RunStatus.DONE,
                                                 planned_at=ago - timedelta(hours=h))
                        for h in (0, 1)]
            history = (old.id, [r.id for r in old_runs])
        t0 = time.perf_counter()
        pop = generate(n, args.seed, [a.id for a in agents], history=history)
        t1 = time.perf_counter()
        await bulk_seed(engine, url, pop)
        t2 = time.perf_counter()
        note(f"[{engine}] {n} people, {len(pop['segments'])} segment rows, "
             f"{len(pop['consents'])} consent rows, {len(pop['earlier'])} earlier outbox rows: "
             f"generated in {t1 - t0:.1f}s, bulk insert + analyze in {t2 - t1:.1f}s")

        tomorrow = (datetime.now(settings.tz) + timedelta(days=1)).date()
        at = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 10, 30,
                      tzinfo=settings.tz).astimezone(UTC)
        campaign = await service.create_campaign(CampaignCreate(
            name="Info session on microcredit", goal="registrations", channel="sms",
            messages=MESSAGES, schedule={"at": at.isoformat()}), actor=actor)
        campaign = await service.schedule_campaign(campaign, actor=actor)

        expected_status = Counter(e[1] for e in pop["expected"])
        expected_skip = Counter(e[2] for e in pop["expected"] if e[2])
        conn = connections.get("default")
        col_list = ", ".join(_COLUMNS)
        width = len(_COLUMNS)

        def insert_sql(count: int) -> str:
            if engine == "postgres":
                groups = ", ".join("(" + ", ".join(f"${r * width + c + 1}" for c in range(width))
                                   + ")" for r in range(count))
            else:
                groups = ", ".join(["(" + ", ".join("?" * width) + ")"] * count)
            return (f"INSERT INTO outbox_message ({col_list}) VALUES {groups} "
                    "ON CONFLICT (idempotency_key) DO NOTHING")

        statements = {BATCH: insert_sql(BATCH)}
        datetime_cols = [i for i, c in enumerate(_COLUMNS)
                         if c in ("due_at", "created_at", "status_at")]

        async def read_back(run_id: int) -> list[tuple[Any, ...]]:
            got = await rows(f"SELECT {col_list} FROM outbox_message WHERE run_id = $1 ORDER BY id",
                             [run_id])
            out = []
            for r in got:
                values = [r[c] for c in _COLUMNS]
                if engine == "sqlite":  # what row_values passed: datetimes, not their text
                    for i in datetime_cols:
                        if isinstance(values[i], str):
                            values[i] = datetime.fromisoformat(values[i])
                out.append(tuple(values))
            return out

        def check(captured: list[tuple[Any, ...]], done: bool, run_status: str) -> list[str]:
            problems = []
            ix = {c: i for i, c in enumerate(_COLUMNS)}
            if not done or run_status != RunStatus.DONE:
                problems.append(f"fan_out returned {done}, run status {run_status}")
            if len(captured) != n:
                problems.append(f"{len(captured)} rows for {n} people")
            leads = [r[ix["lead_id"]] for r in captured]
            if len(set(leads)) != len(leads) or set(leads) != set(range(1, n + 1)):
                problems.append(f"{len(set(leads))} distinct people among {len(leads)} rows")
            status = Counter(r[ix["status"]] for r in captured)
            if status != expected_status or status["queued"] + status["skipped"] != n:
                problems.append(f"statuses {dict(status)}, expected {dict(expected_status)}")
            skip = Counter(r[ix["error_code"]] for r in captured if r[ix["status"]] == "skipped")
            if skip != expected_skip:
                problems.append(f"skips {dict(skip)}, expected {dict(expected_skip)}")
            by_lead = {r[ix["lead_id"]]: r for r in captured}
            wrong = Counter()
            for lead_id, st, reason, lang, agent in pop["expected"]:
                r = by_lead.get(lead_id)
                if r is None:
                    continue
                if r[ix["status"]] != st or r[ix["error_code"]] != reason:
                    wrong["status/reason"] += 1
                if st != "queued":
                    continue
                body = r[ix["body"]]
                if r[ix["language"]] != lang or not body.startswith(GREETING[lang]):
                    wrong["language"] += 1
                if pop["first"][lead_id - 1] not in body:
                    wrong["first name"] += 1
                if agent and agent not in body:
                    wrong["agent"] += 1
                if r[ix["segments"]] < 1 or r[ix["encoding"]] not in ("gsm7", "ucs2"):
                    wrong["segments"] += 1
            problems += [f"{k}: {v} rows wrong" for k, v in wrong.items()]
            return problems

        rounds = []
        for k in range(args.rounds):
            planned = at + timedelta(minutes=k)
            run = await CampaignRun.create(campaign_id=campaign.id, planned_at=planned)
            claimed = await runner.claim_run(WORKER_ID, now=planned + timedelta(seconds=1))
            assert claimed is not None and claimed.id == run.id, "claim_run did not return the run"
            await settle(engine)
            with RssSampler() as mem, Clock(engine) as fan:
                done = await runner.fan_out(claimed, WORKER_ID)
            ru_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            run_status = str((await CampaignRun.get(id=run.id)).status)
            captured = await read_back(run.id)
            problems = check(captured, done, run_status)
            status = Counter(r[_COLUMNS.index("status")] for r in captured)
            skips = Counter(r[_COLUMNS.index("error_code")] for r in captured
                            if r[_COLUMNS.index("status")] == "skipped")
            encodings = Counter(r[_COLUMNS.index("encoding")] for r in captured
                                if r[_COLUMNS.index("status")] == "queued")
            seg_dist = Counter(r[_COLUMNS.index("segments")] for r in captured
                               if r[_COLUMNS.index("status")] == "queued")

            # the baseline: the same rows, the same statement shape, nothing else
            await conn.execute_query("DELETE FROM outbox_message WHERE run_id = "
                                     + ("$1" if engine == "postgres" else "?"), [run.id])
            chunks = []
            for s in range(0, len(captured), BATCH):
                part = captured[s:s + BATCH]
                if len(part) not in statements:
                    statements[len(part)] = insert_sql(len(part))
                chunks.append((statements[len(part)], [v for r in part for v in r]))
            await settle(engine)
            with RssSampler() as base_mem, Clock(engine) as raw:
                for stmt, values in chunks:
                    await conn.execute_query(stmt, values)
            again = await read_back(run.id)
            if again != captured:
                problems.append(f"baseline stored {len(again)} rows, not the same as the fan-out's")
            del chunks, again
            await conn.execute_query("DELETE FROM outbox_message WHERE run_id = "
                                     + ("$1" if engine == "postgres" else "?"), [run.id])
            ratio = fan.wall / raw.wall
            note(f"[{engine}] round {k + 1}: fan-out {fan.wall:.2f}s (CPU {fan.cpu:.2f}s + pg "
                 f"{fan.pg_cpu:.2f}s), raw insert {raw.wall:.2f}s (CPU {raw.cpu:.2f}s + pg "
                 f"{raw.pg_cpu:.2f}s), ratio {ratio:.2f}; RSS growth {mem.growth_mb:.1f} MB "
                 f"(base {mem.base / 2**20:.0f} MB, {mem.samples} samples, ru_maxrss now "
                 f"{ru_after / 1024:.0f} MB); baseline RSS growth {base_mem.growth_mb:.1f} MB; "
                 f"{dict(status)}, skipped {dict(skips)}, encodings {dict(encodings)}, "
                 f"segments {dict(sorted(seg_dist.items()))}; "
                 + ("checks OK" if not problems else "PROBLEMS: " + "; ".join(problems)))
            rounds.append({"fan": fan.wall, "fan_cpu": fan.cpu, "fan_pg": fan.pg_cpu,
                           "raw": raw.wall, "raw_cpu": raw.cpu, "raw_pg": raw.pg_cpu,
                           "ratio": ratio, "mem": mem.growth_mb, "problems": problems,
                           "status": dict(status), "skips": dict(skips)})
            del captured

        if args.profile:
            await profile_runs(engine, campaign, at + timedelta(minutes=args.rounds))
        return {"engine": engine, "people": n, "rounds": rounds}
    finally:
        await db.close_db()


# --- profiling -----------------------------------------------------------------------------------


async def profile_runs(engine: str, campaign: Any, planned: datetime) -> None:
    from tortoise import connections

    from campaigns import runner
    from campaigns.models import CampaignRun

    async def one_run(at: datetime, wrap: Any) -> float:
        run = await CampaignRun.create(campaign_id=campaign.id, planned_at=at)
        claimed = await runner.claim_run(WORKER_ID, now=at + timedelta(seconds=1))
        assert claimed is not None
        await settle(engine)
        t0 = time.perf_counter()
        await wrap(runner.fan_out(claimed, WORKER_ID))
        wall = time.perf_counter() - t0
        await connections.get("default").execute_query(
            "DELETE FROM outbox_message WHERE run_id = " + ("$1" if engine == "postgres" else "?"),
            [run.id])
        return wall

    profiler = cProfile.Profile()

    async def profiled(coro: Any) -> Any:
        profiler.enable()
        try:
            return await coro
        finally:
            profiler.disable()

    wall = await one_run(planned, profiled)
    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.strip_dirs().sort_stats(key).print_stats(25)
        text = out.getvalue()
        start = text.find("   ncalls")
        note(f"\n[{engine}] cProfile of one fan-out ({wall:.2f}s wall under the profiler), "
             f"top 25 by {key}:\n" + text[start:].rstrip())

    timers = PhaseTimers()
    with timers.installed():
        wall = await one_run(planned + timedelta(minutes=1), lambda c: c)
    note(f"\n[{engine}] phases of one fan-out with wall-clock timers ({wall:.2f}s wall; reading "
         "ahead, planning and writing overlap, and a phase's time includes its waits for the "
         "connection, so the phases add up to more than the wall):\n"
         + timers.report(wall))


class PhaseTimers:
    """Wall-clock time spent in each phase of the fan-out, by wrapping the functions it calls
    (nested: a phase's time includes the phases listed under it)."""

    def __init__(self) -> None:
        self.total: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.each: dict[str, list[float]] = {}  # durations of the batch-level calls

    def _targets(self) -> list[tuple[str, Any, str, int]]:
        import campaigns.audience
        import campaigns.fanout
        import campaigns.personalise
        import campaigns.runner
        import campaigns.templating
        import channels.sql

        return [  # (label, owner, attribute, depth)
            ("read ahead: audience query (audience.batch)", campaigns.audience, "batch", 0),
            ("read ahead: RunPlanner.fetch", campaigns.fanout.RunPlanner, "fetch", 0),
            ("_consents: consent query", campaigns.fanout, "_consents", 1),
            ("_capped: cap query", campaigns.fanout, "_capped", 1),
            ("Personaliser.lookups (agents)", campaigns.personalise.Personaliser, "lookups", 1),
            ("RunPlanner.plan_fetched", campaigns.fanout.RunPlanner, "plan_fetched", 0),
            ("RunPlanner._plan_one (per person)", campaigns.fanout.RunPlanner, "_plan_one", 1),
            ("Personaliser.render", campaigns.personalise.Personaliser, "render", 2),
            ("templating.render (Jinja)", campaigns.templating, "render", 3),
            ("count_segments", campaigns.personalise, "count_segments", 3),
            ("texts.text (opt_out)", campaigns.personalise, "text", 3),
            ("write_batch", campaigns.runner, "write_batch", 0),
            ("row_values", campaigns.fanout, "row_values", 1),
            ("execute (UPDATE + INSERT)", campaigns.fanout, "execute", 1),
            ("channels.sql.sql ($n -> ?n, every statement of the run)", channels.sql, "sql", 0),
        ]

    def installed(self) -> Any:
        from contextlib import contextmanager

        @contextmanager
        def patch() -> Any:
            saved = []
            for label, owner, attr, _ in self._targets():
                original = getattr(owner, attr)
                saved.append((owner, attr, original))
                setattr(owner, attr, self._wrap(label, original))
            try:
                yield
            finally:
                for owner, attr, original in reversed(saved):
                    setattr(owner, attr, original)

        return patch()

    def _wrap(self, label: str, fn: Any) -> Any:
        total, calls = self.total, self.calls
        each = self.each.setdefault(label, [])
        clock = time.perf_counter
        if asyncio.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def timed_async(*a: Any, **kw: Any) -> Any:
                t0 = clock()
                try:
                    return await fn(*a, **kw)
                finally:
                    took = clock() - t0
                    total[label] += took
                    calls[label] += 1
                    each.append(took)
            return timed_async
        @functools.wraps(fn)
        def timed(*a: Any, **kw: Any) -> Any:
            t0 = clock()
            try:
                return fn(*a, **kw)
            finally:
                total[label] += clock() - t0
                calls[label] += 1
        return timed

    def report(self, wall: float) -> str:
        lines = []
        for label, _, _, depth in self._targets():
            each = self.each.get(label) or []
            trend = ""
            if len(each) >= 10:  # batch-level: does a call get slower as the run goes on?
                trend = (f"{1000 * statistics.mean(each[:5]):.1f} -> "
                         f"{1000 * statistics.mean(each[-5:]):.1f}")
            lines.append(["  " * depth + label, str(self.calls[label]),
                          f"{self.total[label]:.3f}", f"{100 * self.total[label] / wall:.1f}%",
                          trend])
        return table(["phase (nested)", "calls", "s", "of fan-out",
                      "ms per call, first 5 -> last 5"], lines)


# --- the parent ----------------------------------------------------------------------------------


def run_child(engine: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [str(PYTHON), "-m", "bench.bench_fanout", "--child", engine, "--url", url,
           "--people", str(args.people), "--rounds", str(args.rounds), "--seed", str(args.seed)]
    if args.no_history:
        cmd.append("--no-history")
    if args.profile:
        cmd.append("--profile")
    env = {**os.environ, "ENVIRONMENT": "test", "SECRET_KEY": SECRET_KEY, "LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    result: dict[str, Any] | None = None
    timer = threading.Timer(args.time_limit, proc.kill)
    timer.start()
    try:
        for line in proc.stdout:
            if line.startswith("RESULT "):
                result = json.loads(line[7:])
            else:
                print(line, end="", flush=True)
        proc.wait()
    finally:
        timer.cancel()
    if proc.returncode != 0 or result is None:
        raise RuntimeError(f"{engine} child failed (exit {proc.returncode})")
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        result = asyncio.run(child(args))  # the worker runs campaigns on asyncio's own loop
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    engines = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    results = []
    for engine in engines:
        note(f"== {engine}: {args.people} people, {args.rounds} round(s)")
        if engine == "sqlite":
            with sqlite_file("fanout") as url:
                results.append(run_child(engine, url, args))
        else:
            with postgres(args.pg_url, "fanout") as url:
                results.append(run_child(engine, url, args))
    ok = True
    rows_ = []
    for res in results:
        rs = res["rounds"]
        ratio = statistics.median(r["ratio"] for r in rs)
        mem = max(r["mem"] for r in rs)
        fan = statistics.median(r["fan"] for r in rs)
        raw = statistics.median(r["raw"] for r in rs)
        problems = [p for r in rs for p in r["problems"]]
        pass_ratio, pass_mem = ratio <= GOAL_RATIO, mem < GOAL_MB
        ok = ok and pass_ratio and pass_mem and not problems
        def med(key: str, rs: list[dict[str, Any]] = rs) -> float:
            return statistics.median(r[key] for r in rs)

        first = rs[0]
        rows_.append([
            res["engine"], str(res["people"]), f"{fan:.2f}", f"{raw:.2f}", f"{ratio:.2f}",
            "PASS" if pass_ratio else "FAIL",
            f"{med('fan_cpu'):.2f}+{med('fan_pg'):.2f}",
            f"{med('raw_cpu'):.2f}+{med('raw_pg'):.2f}",
            f"{mem:.1f}", "PASS" if pass_mem else "FAIL",
            f"{first['status'].get('queued', 0)}+{first['status'].get('skipped', 0)}",
            "OK" if not problems else "WRONG",
        ])
    note("\nfan-out of one run (campaigns.runner.fan_out) vs raw multi-row INSERT of the same "
         "rows, "
         f"{BATCH} rows per statement; median of {args.rounds} round(s), memory: largest")
    note(table(["db", "people", "fan-out s", "raw insert s", "ratio", "goal <= 2",
                "fan-out CPU s proc+pg", "insert CPU s proc+pg", "peak RSS growth MB",
                "goal < 200", "queued+skipped", "checks"], rows_))
    for res in results:
        for i, r in enumerate(res["rounds"]):
            if r["problems"]:
                note(f"{res['engine']} round {i + 1}: " + "; ".join(r["problems"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
