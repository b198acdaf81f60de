"""Issue 8, load and faults: the four scenarios of tests/load at full size, each printed beside a
baseline measured in the same run.

The deployment is the tests' rig (tests/load/rig.py): the commands of docker-compose.yml
(`passerelle migrate`, one `passerelle serve --workers 2 --no-worker`, two `passerelle worker`)
on a PostgreSQL 15 cluster of its own (initdb + pg_ctl as `postgres`, fsync off), the Twilio and
Telegram stand-ins in processes of their own. SMS_RATE_PER_SECOND --rate (250), Telegram 40/s;
OUTBOX_LEASE_SECONDS 20. The scenarios are tests/load/scenarios.py, the same code the tests
assert on.

1. webhooks: --webhooks signed Twilio SMS webhooks from 2,000 numbers, a quarter of them
   delivered twice (provider retries), posted with httpx at concurrency 32 (a non-2xx answer is
   posted again, as Twilio does) into the app; baseline: the same requests into the bare
   endpoint of bench/bare_webhook.py (2 uvicorn workers, same form parsing and signature
   check, no database). Figures: req/s of each, their ratio; stored / distinct MessageSids.
2. campaign: --people people (one in ten on Telegram, channel `preferred`), created through the
   API; baseline: a run without faults; then a run where one worker is SIGKILLed (while it has
   Telegram messages in flight) once a quarter is sent and PostgreSQL is restarted
   (pg_ctl restart -m fast) at 60%. Figures: time from the first message to the last, the
   ratio, `unknown` rows, the busiest second at the Twilio stand-in.
3. provider outage: --outage-messages SMS; baseline: sent without outage; then Twilio answers
   503 to everything for --outage-seconds once a fifth is through. Figures: time from the end
   of the outage to the first message through (recovery), the rate after it, requests refused
   during it, the time lost beyond the outage itself.
4. database down: --db-messages SMS; baseline: sent with the database up; then PostgreSQL is
   crashed (pg_ctl stop -m immediate) for --db-seconds once a sixth is sent. Figures: how fast
   the API, /healthz and a webhook answer 503 meanwhile, /healthz back after the restart, the
   time lost beyond the outage itself; amcheck after the crash.

    .venv/bin/python -m bench.bench_faults            # full size, about 10 minutes
    .venv/bin/python -m bench.bench_faults --quick    # smaller, about 4 minutes

Exit status 0 when every check (nothing lost, nothing doubled, within the rate) passed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Server, note, table  # noqa: E402
from tests.load.cluster import missing_binaries  # noqa: E402
from tests.load.rig import (  # noqa: E402
    AUTH_TOKEN,
    PUBLIC_BASE_URL,
    Rig,
    RigOptions,
    max_in_window,
    within_rate,
)
from tests.load.scenarios import (  # noqa: E402
    campaign,
    database_down,
    heal,
    provider_outage,
    span,
    webhook_burst,
)
from tests.load.traffic import deliver  # noqa: E402


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller sizes, a 20 s outage")
    p.add_argument("--webhooks", type=int, default=10_000)
    p.add_argument("--people", type=int, default=20_000)
    p.add_argument("--outage-messages", type=int, default=4000)
    p.add_argument("--outage-seconds", type=float, default=60)
    p.add_argument("--db-messages", type=int, default=3000)
    p.add_argument("--db-seconds", type=float, default=20)
    p.add_argument("--rate", type=float, default=250, help="SMS_RATE_PER_SECOND")
    p.add_argument("--only", default="webhooks,campaign,outage,database",
                   help="comma-separated scenarios to run")
    args = p.parse_args()
    if args.quick:
        args.webhooks, args.people = 2000, 4000
        args.outage_messages, args.outage_seconds = 1500, 20
        args.db_messages, args.db_seconds = 1000, 10
    return args


def machine() -> str:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, "
            f"load average before the run {load}")


def ok(flag: bool) -> str:
    return "OK" if flag else "FAIL"


# ---- the scenarios, each beside its baseline ---------------------------------------------------


async def bench_webhooks(rig: Rig, args: argparse.Namespace, logs: Path) -> bool:
    await heal(rig)
    app = await webhook_burst(rig, sms=args.webhooks, updates=0, retry_share=0.25)
    bare = Server("bench.bare_webhook:create_app", workers=2, log_dir=logs,
                  env={"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PUBLIC_BASE_URL": PUBLIC_BASE_URL})
    bare.start()
    try:
        baseline = await deliver(bare.base_url, app.traffic.deliveries, concurrency=32)
    finally:
        bare.stop()
    stored_once = (len(app.sms_stored) == len(set(app.sms_stored))
                   and set(app.sms_stored) == app.traffic.sms_ids)
    all_2xx = all(200 <= s < 300 for s in app.outcome.final)
    answered_once = set(app.answers.values()) == {1} and set(app.sms_answered.values()) == {1}
    good = stored_once and all_2xx and answered_once
    rows = [
        ["app (serve --workers 2)", f"{sum(app.outcome.first.values())}",
         f"{app.outcome.elapsed:.1f}", f"{app.outcome.requests_per_second:.0f}",
         f"{app.outcome.requests_per_second / baseline.requests_per_second:.2f}",
         f"{dict(app.outcome.first)}", f"{len(set(app.sms_stored))}/{len(app.traffic.sms_ids)}",
         ok(good)],
        ["bare endpoint (baseline)", f"{sum(baseline.first.values())}",
         f"{baseline.elapsed:.1f}", f"{baseline.requests_per_second:.0f}", "1",
         f"{dict(baseline.first)}", "-", ""],
    ]
    note(f"\n1. {args.webhooks:,} inbound SMS webhooks + {app.traffic.repeats:,} provider "
         "retries (same MessageSid), httpx, concurrency 32")
    note(table(["target", "requests", "s", "req/s", "ratio", "first answers",
                "stored/distinct", "checks"], rows))
    note(f"   {len(app.people)} people created once each; {len(app.answers)} after-hours "
         f"answers queued, one per person; {sum(app.sms_answered.values())} sent")
    return good


async def bench_campaign(rig: Rig, args: argparse.Namespace) -> bool:
    runs = []
    for faults in (False, True):
        await heal(rig)
        runs.append(await campaign(rig, people=args.people, kill_at=0.25 if faults else None,
                                   restart_at=0.6 if faults else None))
    base, hit = runs
    rows, good = [], True
    for label, run in (("without faults (baseline)", base), ("kill + PostgreSQL restart", hit)):
        sms_times = [m["t"] for m in run.sms_received]
        once = (set(Counter(m["to"] for m in run.sms_received).values()) == {1}
                and set(Counter(m["chat_id"] for m in run.telegram_received).values()) == {1}
                and len({r["lead_id"] for r in run.rows}) == run.people == len(run.rows))
        checks = (once and set(run.statuses) <= {"sent", "unknown"}
                  and run.handed_to_telegram <= len(run.unknown) <= run.handed_to_telegram + 3
                  and within_rate(sms_times, args.rate))
        good &= checks
        rows.append([label, f"{run.people}", f"{run.span_s:.1f}",
                     f"{run.span_s / base.span_s:.2f}", f"{run.people / run.span_s:.0f}",
                     "-" if run.killed_after_s is None else f"{run.killed_after_s:.0f}",
                     "-" if run.restarted_after_s is None else f"{run.restarted_after_s:.0f}",
                     f"{run.held_by_the_killed_worker}", f"{len(run.unknown)}",
                     f"{_busiest(sms_times)}", ok(checks)])
    note(f"\n2. campaign to {args.people:,} people ({len(hit.chats):,} on Telegram), "
         f"SMS {args.rate:.0f}/s, Telegram 40/s, two workers")
    note(table(["run", "people", "first->last s", "ratio", "msg/s", "killed at s",
                "restarted at s", "rows the dead worker held", "unknown",
                "busiest SMS second", "checks"], rows))
    note(f"   setup (COPY of the people, campaign through the API) {hit.setup_s:.1f} s; "
         f"the unknown rows are the Telegram messages the killed worker had handed over "
         f"({hit.handed_to_telegram}); every other person got the message exactly once")
    return good


async def bench_outage(rig: Rig, args: argparse.Namespace) -> bool:
    await heal(rig)
    base = await provider_outage(rig, count=args.outage_messages, seconds=0)
    await heal(rig)
    hit = await provider_outage(rig, count=args.outage_messages, seconds=args.outage_seconds)
    base_span = span([m["t"] for m in base.received])
    hit_span = span([m["t"] for m in hit.received])
    after = hit.after
    drain = span(after)
    checks = (hit.statuses == {"sent": hit.count} and not hit.during
              and set(Counter(m["to"] for m in hit.received).values()) == {1}
              and within_rate(after, args.rate))
    rows = [
        ["without outage (baseline)", f"{base.count}", f"{base_span:.1f}", "-", "-",
         f"{base.count / base_span:.0f}", f"{_busiest([m['t'] for m in base.received])}", "-",
         f"{max(base.attempts)}", ok(base.statuses == {"sent": base.count})],
        [f"{args.outage_seconds:.0f} s of 503", f"{hit.count}", f"{hit_span:.1f}",
         f"{hit_span - base_span - args.outage_seconds:.1f}", f"{hit.recovery_s:.1f}",
         f"{len(after) / drain:.0f}", f"{_busiest(after)}", f"{hit.outage['refused']}",
         f"{max(hit.attempts)}", ok(checks)],
    ]
    note(f"\n3. provider outage: {args.outage_messages:,} SMS at {args.rate:.0f}/s, Twilio "
         f"answering 503 to everything for {args.outage_seconds:.0f} s once a fifth is through")
    note(table(["run", "messages", "first->last s", "lost beyond the outage s",
                "first through after it s", "msg/s after", "busiest second",
                "requests refused", "most tries", "checks"], rows))
    return checks


async def bench_database(rig: Rig, args: argparse.Namespace) -> bool:
    await heal(rig)
    base = await database_down(rig, count=args.db_messages, seconds=0)
    await heal(rig)
    hit = await database_down(rig, count=args.db_messages, seconds=args.db_seconds)
    answers = {k: f"{a.status} in {a.seconds * 1000:.0f} ms" for k, a in hit.during.items()}
    checks = (hit.statuses == {"sent": hit.count} and all(hit.workers_alive)
              and all(a.status == 503 for a in hit.during.values())
              and set(Counter(m["to"] for m in hit.received).values()) == {1}
              and hit.inbound_stored == 1 and not hit.corruption)
    rows = [
        ["database up (baseline)", f"{base.count}", f"{base.settled_s:.1f}", "-", "-", "-",
         ok(base.statuses == {"sent": base.count})],
        [f"crashed for {args.db_seconds:.0f} s", f"{hit.count}", f"{hit.settled_s:.1f}",
         f"{hit.settled_s - base.settled_s - args.db_seconds:.1f}",
         f"{hit.healthy_after_s:.1f}", "none" if not hit.corruption else "; ".join(hit.corruption),
         ok(checks)],
    ]
    note(f"\n4. database down: {args.db_messages:,} SMS queued, PostgreSQL crashed (stop -m "
         f"immediate) for {args.db_seconds:.0f} s once a sixth is sent")
    note(table(["run", "messages", "queued->all sent s", "lost beyond the outage s",
                "/healthz 200 after restart s", "amcheck", "checks"], rows))
    note(f"   meanwhile: API {answers.get('api')}, /healthz {answers.get('healthz')}, "
         f"Twilio webhook {answers.get('webhook')} (Retry-After: "
         f"{hit.during['api'].headers.get('retry-after')}); workers alive: {hit.workers_alive}")
    return checks


def _busiest(times: list[float]) -> int:
    return max_in_window(times) if times else 0


async def main(args: argparse.Namespace, rig: Rig, logs: Path) -> bool:
    chosen = set(args.only.split(","))
    results: dict[str, Any] = {}
    for name, scenario in (("webhooks", bench_webhooks), ("campaign", bench_campaign),
                           ("outage", bench_outage), ("database", bench_database)):
        if name not in chosen:
            continue
        started = time.monotonic()
        extra = (logs,) if name == "webhooks" else ()
        results[name] = await scenario(rig, args, *extra)
        note(f"   ({name}: {time.monotonic() - started:.0f} s)")
    return all(results.values())


if __name__ == "__main__":
    arguments = parse_args()
    reason = missing_binaries()
    if reason:
        sys.exit(f"bench_faults: {reason}")
    workdir = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    note(f"machine: {machine()}")
    note(f"logs and cluster: {workdir}")
    rig = Rig(workdir, RigOptions(sms_rate=arguments.rate))
    begun = time.monotonic()
    try:
        rig.start()
        note(f"rig started in {time.monotonic() - begun:.0f} s (migrate, user, web, 2 workers)")
        passed = asyncio.run(main(arguments, rig, workdir))
    finally:
        rig.close()
    note(f"\ntotal {time.monotonic() - begun:.0f} s; checks {'passed' if passed else 'FAILED'}")
    sys.exit(0 if passed else 1)
