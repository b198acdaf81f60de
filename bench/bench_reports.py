"""Reports (issue 7): the outreach funnel for one year over 1,000,000 people and 5,000,000
interactions on PostgreSQL.

Figure: the median time of `crm.reports.funnel.funnel()` for the last 365 days (cohort basis) as
a ratio to the median time of a bare `SELECT count(*) FROM interaction` run through the same
Tortoise connection, interleaved in the same run. Goal: at most 3x. Also measured, for
information: the funnel in activity basis, with a region filter, `compare(…, REGION)` and
`trends(…)`. The script prints the server's settings and EXPLAIN (ANALYZE, BUFFERS) of the
statements each report runs (captured from Tortoise's `tortoise.db_client` logger), so a reader
sees where the time goes.

    .venv/bin/python -m bench.bench_reports --people 1000000 --interactions 5000000
    #   --repeat 7  --time-limit 1200  --pg-url postgres://…  --seed 7
    #   --keep              keep the seeded database (and the throwaway server, in --pg-dir)
    #   --reuse DBNAME      measure an already seeded database again (no seeding); without
    #                       --keep the kept server is stopped (or the database dropped) after
    #   --what-if SQL --undo SQL   change the database before measuring and undo it after
    #   --patches date_part        candidate query changes applied in this process

Runs with --what-if or --patches say so in their output: they are not the app as shipped.

The data is made in Python from one seeded random generator and written with COPY, in chunks of
people (their lead rows, segments, stage log and interactions), so memory stays flat. The stage
log is the truth; the milestone columns are computed from it exactly as
`crm.people.pathway.rebuild()` would, and a sample of 1,000 people is checked by running the
rebuild on them inside a transaction that is rolled back (it must change nobody).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import logging
import math
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
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
from bench.common import ROOT, note, run_async, table  # noqa: E402  (sets the test environment)

GOAL = 3.0
DEFAULT_DIR = Path(tempfile.gettempdir()) / "bench-reports-pg"
SETTINGS = ("server_version", "shared_buffers", "work_mem", "effective_cache_size",
            "max_parallel_workers_per_gather", "max_parallel_workers", "max_worker_processes",
            "jit", "jit_above_cost", "random_page_cost", "fsync", "synchronous_commit")
DAY = 86400.0

# --- the people and their pathway ------------------------------------------------------------

STAGES = ("reached", "lead", "contacted", "info_session", "application", "coached", "financed")
MILESTONE_COLUMNS = ("lead_at", "contacted_at", "info_session_at", "application_at",
                     "coached_at", "financed_at")
# P(furthest stage >= k), before the pathway is cut by "not yet" (a person reached last week has
# not had the time to be coached): reached 100%, lead 70%, contacted 50%, info session 25%,
# application 15%, coached 10%, financed 4%.
AT_LEAST = (1.0, 0.70, 0.50, 0.25, 0.15, 0.10, 0.04)
# Days from the previous stage to stage k: a minimum plus an exponential with this mean.
GAP_DAYS = (None, (0.0, 2.0), (0.5, 6.0), (4.0, 20.0), (2.0, 15.0), (7.0, 30.0), (20.0, 70.0))
# Stages some people jump over (reached -> contacted, contacted -> application): 10% of those
# who go further. The milestone of a skipped stage is the time of the jump.
SKIPPABLE = {1: 0.10, 3: 0.10}
BACK_STEP = 0.02  # some go back one stage at the end (their milestones stay)
# Exits after the furthest stage, by that stage: (P(lost), P(redirected)).
EXITS = ((0.25, 0.02), (0.22, 0.03), (0.18, 0.05), (0.12, 0.10), (0.10, 0.10), (0.05, 0.04))
LOST_REASONS = ("not reachable", "found a job", "moved away", "not interested", "no project",
                "health", "project not viable")
# Interactions per person, relative, by furthest stage (scaled to the requested total).
INTERACTION_WEIGHT = (1.5, 2.5, 4.0, 7.0, 9.0, 14.0, 20.0)
SOURCES = ("event", "referral", "sms", "telegram", "walk_in", "import")
SOURCE_WEIGHTS = (45, 15, 5, 10, 20, 5)
GENDERS = ("female", "male", "other", "undisclosed", None)
GENDER_WEIGHTS = (48, 44, 1, 3, 4)
EMPLOYMENT = ("jobseeker", "inactive", "employed", "self_employed", "student", "undisclosed")
EMPLOYMENT_WEIGHTS = (45, 15, 15, 5, 10, 10)
BACKGROUNDS = ("belgian", "migrant_eu", "migrant_non_eu", "undisclosed")
BACKGROUND_WEIGHTS = (45, 15, 30, 10)
SECTORS = ("catering", "retail", "construction", "beauty", "transport", "IT", "crafts",
           "cleaning", "childcare")
# (kind, channel, weight) of the interactions after the first contact.
INTERACTION_KINDS = (
    ("call", "phone", 25), ("message", "sms", 15), ("message", "telegram", 8),
    ("message", "email", 7), ("meeting", "in_person", 10), ("info_session", "in_person", 5),
    ("follow_up", "phone", 10), ("follow_up", "sms", 5), ("note", "other", 10),
    ("contact", "in_person", 5),
)  # fmt: skip
INTERACTION_NOTES = ("Rappeler la semaine prochaine", "Intéressé·e par la séance d'info",
                     "Heeft vragen over financiering", "Pas joignable", "Dossier complet",
                     "Wil een winkel openen", "Documents à apporter", "RDV fixé")
INTERESTS = ("low", "medium", "high")
EVENT_KINDS = ("market_stand", "shop_visit", "free_coffee", "info_session", "partner_session",
               "community_event", "other")
EVENT_KIND_WEIGHTS = (30, 15, 15, 20, 10, 8, 2)
PARTNER_KINDS = ("cpas", "employment_service", "ngo", "municipality", "support_structure",
                 "other")

LEAD_COLUMNS = (
    "id", "first_name", "last_name", "phone", "email", "telegram_chat_id", "language",
    "postcode", "region", "gender", "birth_year", "stage", "lost_reason", "source", "event_id",
    "referring_partner_id", "assigned_agent_id", "reached_by_id", "employment_status",
    "background", "social_assistance", "jobs_created", "jobs_kept", *MILESTONE_COLUMNS,
    "redirected_at", "lost_at", "project_summary", "project_sector", "notes", "follow_up_on",
    "last_contacted_at", "created_at", "updated_at",
)  # fmt: skip
SEGMENT_COLUMNS = ("lead_id", "code")
CHANGE_COLUMNS = ("lead_id", "from_stage", "to_stage", "reason", "by_user_id", "at")
INTERACTION_COLUMNS = ("lead_id", "kind", "channel", "occurred_at", "notes", "interest",
                       "client_id", "event_id", "author_id", "created_at")


def _cumulative(weights: tuple[int, ...] | list[int]) -> list[float]:
    total = float(sum(weights))
    return [w / total for w in accumulate(weights)]


def _pick(rng: random.Random, values: Any, cumulative: list[float]) -> Any:
    return values[min(bisect.bisect_right(cumulative, rng.random()), len(values) - 1)]


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass
class World:
    """The small tables (ids as stored) and what the people generator needs from them."""

    now: float  # the anchor: data goes up to this instant (epoch seconds)
    start: float  # two years before
    agents: list[int]
    partners: list[int]
    event_ids: list[int]
    event_starts: list[float]
    event_postcodes: list[str]
    postcodes: list[str] = field(default_factory=lambda: [p for p, _, _ in POSTCODES])
    postcode_cum: list[float] = field(default_factory=lambda: _cumulative(
        [w for _, w, _ in POSTCODES]))
    regions: dict[str, str] = field(default_factory=dict)


class People:
    """Generates people in id order, chunk by chunk, from one seeded generator; keeps count of
    what it made. Creation times increase with the id (as in a real table) and grow denser
    towards the anchor (the density doubles over the two years)."""

    def __init__(self, world: World, people: int, interactions: int, seed: int) -> None:
        self.w = world
        self.n = people
        self.target_interactions = interactions
        self.rng = random.Random(seed)
        self.made_interactions = 0
        self.weight_sum = 0.0
        self.made_people = 0
        self.stats = {"stage_changes": 0, "segments": 0, "furthest": [0] * 7, "lost": 0,
                      "redirected": 0, "skips": 0, "back_steps": 0}
        self.source_cum = _cumulative(SOURCE_WEIGHTS)
        self.gender_cum = _cumulative(GENDER_WEIGHTS)
        self.employment_cum = _cumulative(EMPLOYMENT_WEIGHTS)
        self.background_cum = _cumulative(BACKGROUND_WEIGHTS)
        self.segment_cum = _cumulative(SEGMENT_WEIGHTS)
        self.segment_count_cum = _cumulative((40, 35, 20, 5))
        self.kind_cum = _cumulative([w for _, _, w in INTERACTION_KINDS])
        self.partner_cum = _cumulative([1.0 / (k + 1) for k in range(len(world.partners))])
        self.agent_cum = _cumulative([3 if k < 12 else 1 for k in range(len(world.agents))])

    def chunk(self, first: int, count: int) -> tuple[list[tuple], list[tuple], list[tuple],
                                                     list[tuple]]:
        leads: list[tuple] = []
        segments: list[tuple] = []
        changes: list[tuple] = []
        interactions: list[tuple] = []
        for lead_id in range(first, first + count):
            self._person(lead_id, leads, segments, changes, interactions)
        return leads, segments, changes, interactions

    def _person(self, lead_id: int, leads: list, segments: list, changes: list,
                interactions: list) -> None:
        rng, w = self.rng, self.w
        i = lead_id - 1
        p = (i + rng.random()) / self.n
        created = w.start + (w.now - w.start) * (-1.0 + math.sqrt(1.0 + 3.0 * p))
        created = min(created, w.now - 60.0)
        source = _pick(rng, SOURCES, self.source_cum)
        event_id = None
        postcode = None
        if source == "event":
            k = bisect.bisect_right(w.event_starts, created) - 1
            if k >= 0 and created - w.event_starts[k] < 10 * DAY:
                event_id = w.event_ids[k]
                if rng.random() < 0.6:
                    postcode = w.event_postcodes[k]
            else:
                source = "walk_in"
        if postcode is None:
            postcode = _pick(rng, w.postcodes, w.postcode_cum)
        region = w.regions[postcode]
        if region == "brussels":
            r = rng.random()
            language = "fr" if r < 0.70 else "nl" if r < 0.95 else None
        else:
            r = rng.random()
            default = {"flanders": "nl", "wallonia": "fr", "german_speaking": "de"}[region]
            language = default if r < 0.85 else "fr" if r < 0.90 else "nl" if r < 0.95 else None
        partner = None
        if source == "referral" or rng.random() < 0.05:
            partner = _pick(rng, w.partners, self.partner_cum)
        agent = _pick(rng, w.agents, self.agent_cum)
        reached_by = agent if source in ("event", "walk_in", "referral") and rng.random() < 0.9 \
            else None

        # The pathway: the furthest stage aimed at, cut by time ("not yet").
        u = rng.random()
        aim = 0
        while aim < 6 and u < AT_LEAST[aim + 1]:
            aim += 1
        first_stage = 1 if source in ("sms", "telegram") else 0  # they write in: a lead at once
        aim = max(aim, first_stage)
        records = [(first_stage, created)]  # (stage index, epoch seconds)
        t = created  # when the furthest stage so far was reached
        furthest = first_stage
        for k in range(first_stage + 1, aim + 1):
            low, mean = GAP_DAYS[k]
            at = t + (low + rng.expovariate(1.0 / mean)) * DAY
            if at > w.now:
                break
            t, furthest = at, k
            if k < aim and k in SKIPPABLE and rng.random() < SKIPPABLE[k]:
                self.stats["skips"] += 1
                continue  # passed at the next record's time
            records.append((k, t))
        # A skip that turned out to be the furthest stage (the next was "not yet") is recorded.
        if records[-1][0] != furthest:
            records.append((furthest, t))
            self.stats["skips"] -= 1
        stage = STAGES[furthest]
        last = records[-1][1]
        exit_stage = None
        if furthest >= 3 and rng.random() < BACK_STEP:
            back = last + (1.0 + rng.expovariate(1 / 10.0)) * DAY
            if back <= w.now:
                records.append((furthest - 1, back))
                stage = STAGES[furthest - 1]
                last = back
                self.stats["back_steps"] += 1
        elif furthest < 6:
            p_lost, p_redirected = EXITS[furthest]
            r = rng.random()
            if r < p_lost + p_redirected:
                at = last + (1.0 + rng.expovariate(1 / 30.0)) * DAY
                if at <= w.now:
                    exit_stage = "lost" if r < p_lost else "redirected"
                    last = at
                    stage = exit_stage
        self.stats["furthest"][furthest] += 1

        # Milestones: the first record at this stage or a later one (exits: their own record).
        milestones: list[datetime | None] = []
        by_record = [(k, _ts(at)) for k, at in records]
        for m in range(1, 7):
            found = None
            for k, at in by_record:
                if k >= m:
                    found = at
                    break
            milestones.append(found)
        lost_reason = None
        exit_at = _ts(last) if exit_stage else None
        if exit_stage == "lost":
            lost_reason = LOST_REASONS[int(rng.random() * len(LOST_REASONS))]
            self.stats["lost"] += 1
        elif exit_stage == "redirected":
            self.stats["redirected"] += 1
        by_user = agent if furthest >= 2 or reached_by else None
        previous = None
        for k, at in by_record:
            changes.append((lead_id, previous, STAGES[k], None, by_user, at))
            previous = STAGES[k]
        if exit_stage:
            changes.append((lead_id, previous, exit_stage, lost_reason, by_user, exit_at))
        self.stats["stage_changes"] += len(by_record) + (1 if exit_stage else 0)

        # Who they are.
        gender = _pick(rng, GENDERS, self.gender_cum)
        codes = set()
        for _ in range(_pick(rng, (0, 1, 2, 3), self.segment_count_cum)):
            codes.add(_pick(rng, SEGMENTS, self.segment_cum))
        if gender == "female" and rng.random() < 0.4:
            codes.add("women")
        for code in sorted(codes):
            segments.append((lead_id, code))
        self.stats["segments"] += len(codes)

        # Interactions: more for those who went further, scaled so the total comes out right.
        weight = INTERACTION_WEIGHT[furthest] + (1.0 if exit_stage else 0.0)
        self.weight_sum += weight
        self.made_people += 1
        remaining_people = self.n - self.made_people + 1
        mean_weight = self.weight_sum / self.made_people
        wanted = self.target_interactions - self.made_interactions
        expected = max(wanted, 0) * weight / (remaining_people * mean_weight)
        n_inter = min(int(expected + rng.random()), 80)
        if lead_id == self.n:
            n_inter = max(wanted, 0)
        self.made_interactions += n_inter
        window_end = min(w.now, last + 45 * DAY)
        latest = None
        for j in range(n_inter):
            if j == 0 and source in ("event", "walk_in"):
                occurred = created + rng.random() * 600.0
                kind, channel, ev = "contact", "in_person", event_id
            else:
                occurred = created + rng.random() * (window_end - created)
                kind, channel, _ = _pick(rng, INTERACTION_KINDS, self.kind_cum)
                ev = None
            r = rng.random()
            author = agent if r < 0.7 else None if r < 0.75 else \
                w.agents[int(rng.random() * len(w.agents))]
            notes = INTERACTION_NOTES[int(rng.random() * 8)] if rng.random() < 0.25 else None
            interest = INTERESTS[int(rng.random() * 3)] \
                if kind in ("contact", "call") and rng.random() < 0.5 else None
            client_id = uuid.UUID(int=rng.getrandbits(128), version=4) \
                if rng.random() < 0.2 else None
            occurred_dt = _ts(occurred)
            interactions.append((lead_id, kind, channel, occurred_dt, notes, interest, client_id,
                                 ev, author, _ts(min(w.now, occurred + rng.random() * 7200.0))))
            if latest is None or occurred_dt > latest:
                latest = occurred_dt

        coached = furthest >= 5
        follow_up = None
        if stage not in ("lost", "redirected", "financed") and rng.random() < 0.15:
            follow_up = (_ts(w.now) + timedelta(days=int(rng.random() * 30) - 5)).date()
        phone = None
        if source != "telegram" or rng.random() < 0.5:
            phone = f"+3247{(i * 7919 + 1234567) % 10_000_000:07d}" if rng.random() < 0.9 \
                else None
        leads.append((
            lead_id, FIRST_NAMES[int(rng.random() * len(FIRST_NAMES))],
            LAST_NAMES[int(rng.random() * len(LAST_NAMES))], phone,
            f"person{lead_id}@example.be" if rng.random() < 0.3 or phone is None else None,
            5_000_000_000 + lead_id if source == "telegram" else None,
            language, postcode, region, gender,
            1960 + int(rng.random() * 47) if rng.random() < 0.7 else None,
            stage, lost_reason, source, event_id, partner,
            agent if furthest >= 2 or rng.random() < 0.3 else None, reached_by,
            _pick(rng, EMPLOYMENT, self.employment_cum) if rng.random() < 0.6 else None,
            _pick(rng, BACKGROUNDS, self.background_cum) if rng.random() < 0.4 else None,
            (rng.random() < 0.3) if rng.random() < 0.5 else None,
            1 + int(rng.random() * 3) if furthest == 6 else None,
            int(rng.random() * 2) if furthest == 6 and rng.random() < 0.3 else None,
            *milestones,
            exit_at if exit_stage == "redirected" else None,
            exit_at if exit_stage == "lost" else None,
            "Wants to open a small business." if furthest >= 3 and rng.random() < 0.5 else None,
            SECTORS[int(rng.random() * len(SECTORS))] if furthest >= 3 or coached else None,
            "Met at the market." if rng.random() < 0.1 else None,
            follow_up, latest, _ts(created), _ts(max(last, created)),
        ))  # fmt: skip


# --- the database --------------------------------------------------------------------------------


def _pg_sh(*args: str) -> str:
    return subprocess.run(["bash", str(ROOT / "scripts" / "pg.sh"), *args], check=True,
                          capture_output=True, text=True, timeout=300).stdout.strip()


async def _alive(url: str) -> bool:
    import asyncpg

    try:
        conn = await asyncpg.connect(url, timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


def _with_db(url: str, dbname: str) -> str:
    return f"{url.rsplit('/', 1)[0]}/{dbname}"


@dataclass
class Server:
    """Where the bench database lives: an existing server (--pg-url) or the throwaway one
    (scripts/pg.sh) in `dir`; `started` when this run started it."""

    admin_url: str
    dir: Path | None
    started: bool


def open_server(args: argparse.Namespace) -> Server:
    """--pg-url: that server. --keep / --reuse: the throwaway server kept in --pg-dir (started
    there by --keep when none runs). Otherwise a fresh throwaway server in a temporary folder."""
    if args.pg_url:
        return Server(args.pg_url, None, False)
    if not (args.keep or args.reuse):
        pg_dir = Path(tempfile.mkdtemp(prefix="bench-pg-reports-"))
        shutil.rmtree(pg_dir)  # pg.sh makes it
        url = _pg_sh("start", str(pg_dir))
        note(f"== started a throwaway PostgreSQL 15 in {pg_dir} (scripts/pg.sh)")
        return Server(url, pg_dir, True)
    pg_dir = args.pg_dir
    port_file = pg_dir / "port"
    if port_file.exists():
        url = f"postgres://postgres@127.0.0.1:{port_file.read_text().strip()}/passerelle"
        if run_async(_alive(url)):
            note(f"== using the throwaway PostgreSQL kept in {pg_dir}")
            return Server(url, pg_dir, False)
    if args.reuse:
        raise SystemExit(f"no server kept in {pg_dir}: nothing to reuse (or give --pg-url)")
    if pg_dir.exists():
        _pg_sh("stop", str(pg_dir))  # a dead leftover: pg.sh stop removes the folder
    url = _pg_sh("start", str(pg_dir))
    note(f"== started a throwaway PostgreSQL 15 in {pg_dir} (scripts/pg.sh), kept afterwards")
    return Server(url, pg_dir, True)


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _exists(url: str, dbname: str) -> bool:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", dbname))
    finally:
        await conn.close()


async def seed(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """The small tables, then the people in chunks (COPY), VACUUM ANALYZE; returns a summary."""
    import asyncpg

    from crm.geo import region_for_postcode

    rng = random.Random(args.seed)
    anchor = datetime.combine(args.anchor, datetime.min.time(), UTC)  # data up to 00:00 UTC
    now = anchor.timestamp()
    start = (anchor - timedelta(days=730)).timestamp()
    conn = await asyncpg.connect(url)
    timings: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        fast = True
        try:  # no foreign-key triggers while loading (the data is consistent by construction)
            await conn.execute("SET session_replication_role = replica")
        except asyncpg.PostgresError:
            fast = False
        created = _ts(start - 30 * DAY)
        users = []
        names = list(zip(FIRST_NAMES, LAST_NAMES * 2, strict=False))
        for k in range(15):
            role = "agent" if k < 12 else "coordinator" if k < 14 else "admin"
            first, last = names[k]
            users.append((f"staff{k + 1:02d}@bench.example", role, first, last,
                          json.dumps(rng.sample(["fr", "nl", "de", "en"], 2)), "fr", True,
                          created, role == "admin"))
        agents = [r["id"] for r in await conn.fetch(
            "INSERT INTO app_user (email, role, first_name, last_name, languages, ui_language,"
            " is_active, created_at, can_export) SELECT * FROM unnest($1::text[], $2::text[],"
            " $3::text[], $4::text[], $5::jsonb[], $6::text[], $7::bool[], $8::timestamptz[],"
            " $9::bool[]) RETURNING id", *map(list, zip(*users, strict=True)))][:12]
        regions = {p: region_for_postcode(p).value for p, _, _ in POSTCODES}
        postcode_cum = _cumulative([w for _, w, _ in POSTCODES])
        partners = []
        for k in range(20):
            postcode = _pick(rng, [p for p, _, _ in POSTCODES], postcode_cum)
            partners.append((f"Partner {k + 1:02d} ({postcode})", PARTNER_KINDS[k % 6],
                             regions[postcode], postcode, f"contact{k}@partner.example", None,
                             f"BENCH{k + 1:04d}", True, created, 0))
        partner_ids = [r["id"] for r in await conn.fetch(
            "INSERT INTO partner_organisation (name, kind, region, postcode, contact_email,"
            " contact_phone, referral_code, active, created_at, webhook_failures)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
            " $6::text[], $7::text[], $8::bool[], $9::timestamptz[], $10::int[]) RETURNING id",
            *map(list, zip(*partners, strict=True)))]
        # ~150 events over the two years, more of them recent (as the people).
        n_events = args.events
        kind_cum = _cumulative(EVENT_KIND_WEIGHTS)
        events = []
        for k in range(n_events):
            p = (k + rng.random()) / n_events
            at = start + (now - start) * (-1.0 + math.sqrt(1.0 + 3.0 * p))
            at = at - at % DAY + 9 * 3600  # 9:00 UTC that day
            postcode = _pick(rng, [p_ for p_, _, _ in POSTCODES], postcode_cum)
            kind = _pick(rng, EVENT_KINDS, kind_cum)
            events.append((kind, f"{kind.replace('_', ' ').title()} {postcode} #{k + 1}",
                           _ts(at), _ts(at + 4 * 3600), f"Place {k + 1}", postcode,
                           regions[postcode], None,
                           partner_ids[k % len(partner_ids)] if rng.random() < 0.3 else None,
                           f"EV{k + 1:04d}" if rng.random() < 0.5 else None, agents[k % 12],
                           _ts(at - 7 * DAY)))
        events.sort(key=lambda e: e[2])
        rows = await conn.fetch(
            "INSERT INTO outreach_event (kind, title, starts_at, ends_at, place, postcode,"
            " region, language, partner_id, keyword, created_by_id, created_at)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[],"
            " $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int[],"
            " $10::text[], $11::int[], $12::timestamptz[]) RETURNING id, starts_at, postcode",
            *map(list, zip(*events, strict=True)))
        rows = sorted(rows, key=lambda r: r["starts_at"])
        await conn.copy_records_to_table(
            "outreach_event_agent", columns=("outreach_event_id", "user_id"),
            records=[(r["id"], a) for k, r in enumerate(rows)
                     for a in sorted({agents[k % 12], agents[(k * 5 + 3) % 12]})])
        world = World(now=now, start=start, agents=agents, partners=partner_ids,
                      event_ids=[r["id"] for r in rows],
                      event_starts=[r["starts_at"].timestamp() for r in rows],
                      event_postcodes=[r["postcode"] for r in rows], regions=regions)
        timings["small tables"] = time.perf_counter() - t0

        gen = People(world, args.people, args.interactions, args.seed + 1)
        generating = copying = 0.0
        chunk = args.chunk
        deadline = time.monotonic() + args.seed_time_limit
        done = 0
        async with conn.transaction():
            for first in range(1, args.people + 1, chunk):
                if time.monotonic() > deadline:
                    raise SystemExit(f"seeding stopped by --seed-time-limit after {done} people")
                g = time.perf_counter()
                leads, segments, changes, interactions = gen.chunk(
                    first, min(chunk, args.people - first + 1))
                c = time.perf_counter()
                await conn.copy_records_to_table("lead", records=leads, columns=LEAD_COLUMNS)
                await conn.copy_records_to_table("lead_segment", records=segments,
                                                 columns=SEGMENT_COLUMNS)
                await conn.copy_records_to_table("lead_stage_change", records=changes,
                                                 columns=CHANGE_COLUMNS)
                await conn.copy_records_to_table("interaction", records=interactions,
                                                 columns=INTERACTION_COLUMNS)
                e = time.perf_counter()
                generating += c - g
                copying += e - c
                done += len(leads)
                if (first // chunk) % max(1, 100_000 // chunk) == 0 or done == args.people:
                    note(f"  {done:>9,} people, {gen.made_interactions:>10,} interactions "
                         f"(generate {generating:.0f}s, COPY {copying:.0f}s)")
            await conn.execute(
                "SELECT setval(pg_get_serial_sequence('lead', 'id'), (SELECT max(id) FROM lead))")
        timings["generate (Python)"] = generating
        timings["COPY"] = copying
        if fast:
            await conn.execute("RESET session_replication_role")
        v = time.perf_counter()
        # As autovacuum would have left a table this age: visibility map set (index-only scans
        # possible), statistics for the planner.
        await conn.execute("VACUUM (ANALYZE)")
        timings["VACUUM ANALYZE"] = time.perf_counter() - v
        timings["total"] = time.perf_counter() - t0
        info = {"people": args.people, "interactions": gen.made_interactions, "seed": args.seed,
                "anchor": args.anchor.isoformat(), "seeded_in_s": round(timings["total"]),
                "fk_triggers_off": fast, "stats": gen.stats}
        dbname = url.rsplit("/", 1)[1]
        await conn.execute(f"COMMENT ON DATABASE \"{dbname}\" IS "
                           f"'bench_reports {json.dumps(info)}'")
        return {"timings": timings, "info": info}
    finally:
        await conn.close()


async def seed_info(url: str) -> dict[str, Any] | None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        comment = await conn.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database"
            " WHERE datname = current_database()")
    finally:
        await conn.close()
    if not comment or not comment.startswith("bench_reports "):
        return None
    return json.loads(comment.split(" ", 1)[1])


# --- what-if patches (NOT the app as shipped) --------------------------------------------------

PATCHES = {
    "date_part": "medians: date_part('epoch', later - earlier) (double precision) instead of "
                 "EXTRACT(EPOCH FROM (later - earlier)) (numeric since PostgreSQL 14)",
}


def apply_patches(names: list[str]) -> None:
    """Candidate fixes of crm.reports.funnel applied in this process, to measure them before
    they are made in the app."""
    from crm.db import is_postgres
    from crm.reports import funnel as module

    if "date_part" in names:
        original = module._seconds

        def _seconds(later: str, earlier: str) -> str:
            if is_postgres():
                return f"date_part('epoch', l.{later} - l.{earlier})"
            return original(later, earlier)

        module._seconds = _seconds


# --- checks and measurements (in this process, through Tortoise) ---------------------------------


class _Rollback(Exception):
    pass


async def verify_sample(seed_value: int, size: int = 1000) -> dict[str, Any]:
    """Run pathway.rebuild() on a sample of people inside a transaction that is rolled back:
    the milestones seeded must be exactly what it computes (0 changed). Also: each person's
    stage is the last entry of their log."""
    from tortoise import connections
    from tortoise.transactions import in_transaction

    from crm.people import pathway

    conn = connections.get("default")
    _, rows = await conn.execute_query("SELECT max(id) AS m FROM lead")
    top = rows[0]["m"]
    ids = sorted(random.Random(seed_value + 99).sample(range(1, top + 1), min(size, top)))
    changed: int | None = None
    try:
        async with in_transaction() as tx:
            changed = await pathway.rebuild(ids, connection=tx)
            raise _Rollback
    except _Rollback:
        pass
    marks = ", ".join(f"${k + 1}" for k in range(len(ids)))
    _, rows = await conn.execute_query(
        "SELECT count(*) AS bad FROM lead l JOIN LATERAL (SELECT to_stage FROM lead_stage_change"
        " c WHERE c.lead_id = l.id ORDER BY at DESC, id DESC LIMIT 1) last ON true"
        f" WHERE l.id IN ({marks}) AND l.stage <> last.to_stage", ids)
    _, shown = await conn.execute_query(
        "SELECT count(*) AS people, count(lead_at) AS lead, count(financed_at) AS financed,"
        f" count(lost_at) AS lost FROM lead WHERE id IN ({marks})", ids)
    return {"sample": len(ids), "rebuild_changed": changed, "stage_mismatch": rows[0]["bad"],
            **{k: shown[0][k] for k in ("lead", "financed", "lost")}}


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.queries: list[tuple[str, list[Any]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        if len(args) == 2 and isinstance(args[0], str) and args[0].lstrip().upper().startswith(
                ("SELECT", "WITH")):
            self.queries.append((args[0], list(args[1] or [])))


@asynccontextmanager
async def captured() -> AsyncIterator[_Capture]:
    logger = logging.getLogger("tortoise.db_client")
    capture = _Capture()
    old = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(capture)
    try:
        yield capture
    finally:
        logger.removeHandler(capture)
        logger.setLevel(old)


async def explain(sql: str, params: list[Any]) -> list[str]:
    from tortoise import connections

    _, rows = await connections.get("default").execute_query(
        "EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
    return [r["QUERY PLAN"] for r in rows]


def _execution_ms(plan: list[str]) -> float:
    for line in plan:
        if line.startswith("Execution Time:"):
            return float(line.split(":")[1].split()[0])
    return float("nan")


def plan_summary(plan: list[str], top: int) -> list[str]:
    """The first `top` lines of a plan and its footer (planning, JIT, execution)."""
    footer_from = next((k for k, line in enumerate(plan)
                        if line.startswith(("Planning", "JIT:"))), len(plan))
    head = plan[:min(top, footer_from)]
    if footer_from > top:
        head.append(f"  … ({footer_from - top} more plan lines)")
    return head + plan[footer_from:]


async def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    from tortoise import connections

    from crm import db
    from crm.geo import Region
    from crm.reports import funnel as reports
    from crm.reports.dimensions import Dimension
    from crm.reports.filters import Basis, ReportFilters, today

    await db.init_db(url)
    try:
        conn = connections.get("default")
        out: dict[str, Any] = {}
        _, rows = await conn.execute_query(
            "SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1) ORDER BY name",
            [list(SETTINGS)])
        out["settings"] = {r["name"]: f"{r['setting']}{' ' + r['unit'] if r['unit'] else ''}"
                           for r in rows}
        out["verify"] = await verify_sample(args.seed)
        counts = {}
        for t in ("lead", "interaction", "lead_stage_change", "lead_segment", "outreach_event",
                  "partner_organisation", "app_user"):
            _, r = await conn.execute_query(f'SELECT count(*) AS n FROM "{t}"')
            counts[t] = r[0]["n"]
        _, sizes = await conn.execute_query(
            "SELECT relname, pg_total_relation_size(oid) AS total, pg_relation_size(oid) AS heap"
            " FROM pg_class WHERE relname IN ('lead', 'interaction', 'lead_stage_change')")
        out["counts"] = counts
        out["sizes"] = {r["relname"]: (r["heap"], r["total"]) for r in sizes}

        end = today()
        start = end - timedelta(days=364)
        cohort = ReportFilters(start=start, end=end, basis=Basis.COHORT)
        activity = ReportFilters(start=start, end=end, basis=Basis.ACTIVITY)
        region = ReportFilters(start=start, end=end, basis=Basis.COHORT,
                               region=Region(args.region))
        out["period"] = (start, end)
        if args.patches:
            # The what-if must give the same figures as the service as shipped.
            shipped = [await reports.funnel(f) for f in (cohort, activity, region)]
            apply_patches(args.patches)
            patched = [await reports.funnel(f) for f in (cohort, activity, region)]
            out["patch_check"] = [a.model_dump() == b.model_dump()
                                  for a, b in zip(shipped, patched, strict=True)]

        async def baseline() -> Any:
            return await conn.execute_query("SELECT count(*) FROM interaction")

        targets: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("count(*) interaction", baseline),
            ("funnel cohort", lambda: reports.funnel(cohort)),
            ("funnel activity", lambda: reports.funnel(activity)),
            (f"funnel cohort region={args.region}", lambda: reports.funnel(region)),
            ("compare by region", lambda: reports.compare(cohort, Dimension.REGION)),
            ("trends", lambda: reports.trends(cohort)),
        ]
        times: dict[str, list[float]] = {name: [] for name, _ in targets}
        deadline = time.monotonic() + args.time_limit
        stopped = False

        async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            t = time.perf_counter()
            result = await asyncio.wait_for(call(), remaining)
            return time.perf_counter() - t, result

        note(f"  warm-up: one call each (period {start} .. {end})")
        results: dict[str, Any] = {}
        for name, call in targets:
            try:
                seconds, results[name] = await timed(call)
            except TimeoutError:
                stopped = True
                break
            note(f"    {name}: {seconds * 1000:.0f} ms")
        out["results"] = results
        for r in range(args.repeat):
            if stopped:
                break
            order = targets[r % len(targets):] + targets[:r % len(targets)]
            for name, call in order:
                try:
                    seconds, _ = await timed(call)
                except TimeoutError:
                    stopped = True
                    break
                times[name].append(seconds)
            note(f"  round {r + 1}/{args.repeat}: " + ", ".join(
                f"{n.split()[0] if n.startswith('count') else n} {times[n][-1] * 1000:.0f}"
                for n, _ in targets if len(times[n]) == r + 1) + " ms")
        out["times"] = times
        out["stopped_by_time"] = stopped

        # Which statements each report runs, and their plans.
        plans: dict[str, list[tuple[str, list[Any], list[str]]]] = {}
        if not args.no_explain:
            for name, call in targets:
                if name.startswith("count"):
                    sql, params = "SELECT count(*) FROM interaction", []
                    plans[name] = [(sql, params, await explain(sql, params))]
                    continue
                async with captured() as capture:
                    await call()
                plans[name] = [(sql, params, await explain(sql, params))
                               for sql, params in capture.queries]
        out["plans"] = plans
        return out
    finally:
        await db.close_db()


# --- the run -------------------------------------------------------------------------------------


def report(out: dict[str, Any], args: argparse.Namespace) -> bool:
    note("\n== server settings")
    note("  " + ", ".join(f"{k}={v}" for k, v in out["settings"].items()))
    c = out["counts"]
    note("\n== data")
    note("  " + ", ".join(f"{k} {v:,}" for k, v in c.items()))
    note("  sizes (heap / with indexes): " + ", ".join(
        f"{k} {h / 2**20:.0f}/{t / 2**20:.0f} MB" for k, (h, t) in out["sizes"].items()))
    v = out["verify"]
    ok_sample = v["rebuild_changed"] == 0 and v["stage_mismatch"] == 0
    note(f"  milestones vs pathway.rebuild() on {v['sample']} people (rolled back): "
         f"{v['rebuild_changed']} changed, {v['stage_mismatch']} stage/log mismatches -> "
         f"{'OK' if ok_sample else 'WRONG'} (sample: {v['lead']} leads, {v['financed']} "
         f"financed, {v['lost']} lost)")
    fr = out["results"].get("funnel cohort")
    if fr is not None:
        start, end = out["period"]
        note(f"  funnel {start} .. {end}, cohort: " + ", ".join(
            f"{s.stage} {s.people:,}" + (f" ({s.median_days}d)" if s.median_days else "")
            for s in fr.stages) + f"; redirected {fr.redirected:,}, lost {fr.lost:,}")

    times = out["times"]
    base = times["count(*) interaction"]
    base_ms = statistics.median(base) * 1000 if base else float("nan")
    rows = []
    passed = False
    for name, values in times.items():
        if not values:
            rows.append([name, "-", "-", "-", "0", "-", ""])
            continue
        med = statistics.median(values) * 1000
        ratio = med / base_ms
        goal = ""
        if name == "funnel cohort":
            passed = ratio <= GOAL and len(values) == args.repeat and len(base) == args.repeat
            goal = "PASS" if passed else "FAIL"
        rows.append([name, f"{med:.0f}", f"{min(values) * 1000:.0f}",
                     f"{max(values) * 1000:.0f}", str(len(values)),
                     "1" if name.startswith("count") else f"{ratio:.2f}", goal])
    start, end = out["period"]
    note(f"\n== reports over {start} .. {end} ({(end - start).days + 1} days), "
         f"{args.repeat} interleaved rounds after one warm-up; goal funnel/count(*) <= {GOAL:g}")
    if args.what_if:
        note("WHAT-IF RUN: the database was changed before measuring by --what-if: "
             + "; ".join(args.what_if))
    if args.patches:
        note("WHAT-IF RUN: crm.reports.funnel patched in this process: "
             + "; ".join(f"{p}: {PATCHES[p]}" for p in args.patches))
        same = out["patch_check"]
        note(f"  patched funnel() gives the same report as shipped (cohort, activity, region): "
             f"{same}")
        if not all(same):
            passed = False
    note(table(["target", "median ms", "min ms", "max ms", "n", "ratio", f"goal <= {GOAL:g}x"],
               rows))
    if out["stopped_by_time"]:
        note(f"  stopped by --time-limit {args.time_limit:g}s before all rounds were done")

    for name, statements in out["plans"].items():
        total = sum(_execution_ms(p) for _, _, p in statements)
        note(f"\n-- {name}: {len(statements)} statement(s), EXPLAIN ANALYZE execution "
             f"{total:.0f} ms in all: " + ", ".join(f"[{k}] {_execution_ms(p):.0f} ms"
                                                   for k, (_, _, p) in enumerate(statements, 1)))
        detailed = name in ("count(*) interaction", "funnel cohort") or args.all_plans
        for k, (sql, params, plan) in enumerate(statements, 1):
            if not detailed:
                continue
            shown = sql if len(sql) <= 900 else sql[:900] + " …"
            note(f"[{k}] {shown}\n    params: {[str(p) for p in params]}")
            note("\n".join("    " + line for line in plan_summary(plan, args.plan_lines)))
    return passed and ok_sample


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--interactions", type=int, default=5_000_000)
    parser.add_argument("--events", type=int, default=150)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--time-limit", type=float, default=1200.0,
                        help="wall-clock limit of the measurements (warm-up and rounds), s")
    parser.add_argument("--seed-time-limit", type=float, default=3600.0,
                        help="wall-clock limit of the seeding, s")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--anchor", type=date.fromisoformat, default=None,
                        help="the day the data goes up to (default: today, UTC)")
    parser.add_argument("--chunk", type=int, default=10_000, help="people per COPY round")
    parser.add_argument("--region", default="brussels", help="region of the filtered funnel")
    parser.add_argument("--pg-url", help="an existing PostgreSQL server (admin URL): the bench "
                        "database is created there (default: a throwaway scripts/pg.sh server)")
    parser.add_argument("--pg-dir", type=Path, default=DEFAULT_DIR,
                        help=f"where --keep puts the throwaway server (default {DEFAULT_DIR})")
    parser.add_argument("--keep", action="store_true",
                        help="keep the seeded database and the throwaway server afterwards")
    parser.add_argument("--reuse", metavar="DBNAME",
                        help="measure this already seeded database (on --pg-url or the server "
                        "kept in --pg-dir); without --keep the kept server is stopped (its "
                        "folder removed) or, on --pg-url, the database dropped afterwards")
    parser.add_argument("--db-name", default=None, help="name of the database to seed "
                        "(default bench_reports_<people>_<interactions>)")
    parser.add_argument("--what-if", action="append", default=[], metavar="SQL",
                        help="WHAT-IF: run this SQL on the bench database before measuring "
                        "(e.g. CREATE INDEX …); it stays in a kept database")
    parser.add_argument("--undo", action="append", default=[], metavar="SQL",
                        help="SQL run on the bench database at the end (undoes --what-if in a "
                        "kept database, e.g. DROP INDEX …)")
    parser.add_argument("--patches", default="",
                        help="WHAT-IF: candidate query changes applied to crm.reports.funnel in "
                        f"this process, comma-separated: {', '.join(PATCHES)}")
    parser.add_argument("--no-explain", action="store_true")
    parser.add_argument("--all-plans", action="store_true",
                        help="print the plan of every statement, not only the funnel's")
    parser.add_argument("--plan-lines", type=int, default=30)
    args = parser.parse_args(argv)
    if not 1 <= args.people <= 5_000_000 or not 0 <= args.interactions <= 50_000_000:
        parser.error("--people must be 1..5000000 and --interactions 0..50000000")
    if not 1 <= args.repeat <= 100:
        parser.error("--repeat must be 1..100")
    args.anchor = args.anchor or datetime.now(UTC).date()
    args.patches = [p for p in args.patches.split(",") if p]
    if unknown := [p for p in args.patches if p not in PATCHES]:
        parser.error(f"unknown patches {unknown}; known: {', '.join(PATCHES)}")
    dbname = args.reuse or args.db_name or f"bench_reports_{args.people}_{args.interactions}"

    started = time.monotonic()
    server = open_server(args)
    url = _with_db(server.admin_url, dbname)
    created = False
    seeded: dict[str, Any] | None = None
    try:
        if args.reuse:
            info = run_async(seed_info(url))
            if info is None:
                raise SystemExit(f"{dbname} was not seeded by this bench")
            note(f"== reusing {dbname}: {info['people']:,} people, "
                 f"{info['interactions']:,} interactions, seed {info['seed']}, anchored "
                 f"{info['anchor']} (seeded in {info['seeded_in_s']}s)")
            args.seed = info["seed"]
            from crm import db

            run_async(db.run_migrations(url))  # new migrations (an index…) apply here
        else:
            if run_async(_exists(server.admin_url, dbname)):
                raise SystemExit(f"{dbname} already exists on this server: measure it with "
                                 f"--reuse {dbname}, or pick another --db-name")
            run_async(_admin(server.admin_url, f'CREATE DATABASE "{dbname}"'))
            created = True
            note(f"== {dbname} on {url.split('@')[-1]}: migrate, seed {args.people:,} people and "
                 f"{args.interactions:,} interactions (seed {args.seed}, anchored "
                 f"{args.anchor})")
            from crm import db

            run_async(db.run_migrations(url))
            seeded = run_async(seed(url, args))
            note("  seeding: " + ", ".join(f"{k} {v:.0f}s" for k, v in
                                           seeded["timings"].items()))
            if not seeded["info"]["fk_triggers_off"]:
                note("  (no superuser: foreign-key triggers ran during COPY)")
            st = seeded["info"]["stats"]
            note("  furthest stage reached (all time): " + ", ".join(
                f"{s} {n:,}" for s, n in zip(STAGES, st["furthest"], strict=True))
                + f"; lost {st['lost']:,}, redirected {st['redirected']:,}, skipped stages "
                f"{st['skips']:,}, back steps {st['back_steps']:,}")
        for sql in args.what_if:
            note(f"== WHAT-IF: {sql}")
            t = time.perf_counter()
            run_async(_admin(url, sql))
            note(f"   done in {time.perf_counter() - t:.1f}s")
        if args.what_if:
            run_async(_admin(url, "ANALYZE"))
        note("== measuring")
        out = run_async(measure(url, args))
        ok = report(out, args)
        if seeded:
            note("\nseeding: " + ", ".join(f"{k} {v:.0f}s" for k, v in
                                           seeded["timings"].items()))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        note(f"total wall time {time.monotonic() - started:.0f}s, peak RSS of this process "
             f"{peak:.0f} MB")
        return 0 if ok else 1
    finally:
        for sql in args.undo:
            note(f"== undo: {sql}")
            try:
                run_async(_admin(url, sql))
            except Exception as exc:  # noqa: BLE001 - reported, the cleanup goes on
                note(f"   failed: {exc}")
        if args.keep:
            where = f"--pg-dir {server.dir}" if server.dir else f"--pg-url {server.admin_url}"
            note(f"kept: {url}\n  again: .venv/bin/python -m bench.bench_reports --reuse {dbname} "
                 f"{where if server.dir != DEFAULT_DIR else ''} [--keep]")
            if server.dir:
                note(f"  stop the server: bash scripts/pg.sh stop {server.dir}")
        elif server.dir is not None and (server.started or args.reuse):
            _pg_sh("stop", str(server.dir))  # the throwaway server and all its data
        elif created or args.reuse:
            run_async(_admin(server.admin_url,
                             f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))


if __name__ == "__main__":
    sys.exit(main())
