"""Issue 3, target 2: does one worker keep to the provider rates, and use them fully?

SMS: for each --rates value R (segments per second; default 10 and 50), a fresh database gets
more messages than R x --seconds can carry (--overfill x that many segments), 10% of them of
2-3 segments (half GSM-7, half UCS-2; segments counted with channels.sms_segments), all `held`.
One `passerelle worker` process (SMS_RATE_PER_SECOND=R) is started, the rows are released in one
UPDATE, and the worker is stopped --seconds + 2 s later. From the Twilio stand-in's receive
times (`t`, recorded in the stand-in after its --latency sleep, on the machine-wide monotonic
clock):
  * achieved = segments received in [first receive, first receive + --seconds) / --seconds;
    goal >= 97% of R;
  * the maximum number of segments in ANY window [t_i, t_i + 1 s) over every receive time t_i
    (all messages, also those sent while the worker was stopping); goal <= R.

Telegram: --chats chats x --per-chat messages, interleaved (message k goes to chat k mod
chats), TELEGRAM_RATE_PER_SECOND=--telegram-rate, run until all are sent (bounded by
--telegram-seconds). Goals: no chat ever gets two messages less than 1 s apart (the minimum
gap per chat is reported) and no window [t_i, t_i + 1 s) holds more than the rate.

    .venv/bin/python -m bench.bench_rate --seconds 60
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    Standin,
    WorkerProcess,
    note,
    postgres,
    prepare_database,
    seed,
    sql,
    sqlite_file,
    table,
)
from channels.sms_segments import count_segments  # noqa: E402

GOAL_SHARE = 0.97
ACCOUNT_SID = "AC" + "c" * 32
AUTH_TOKEN = "bench-twilio-auth-token"
BOT_TOKEN = "123456:BENCH-token"
SHORT = "Bonjour {i}, la permanence emploi est ouverte jeudi de 9h a 12h, rue Haute 12."
FILLER_GSM = " Apportez votre carte d'identite et votre CV si vous en avez un."
FILLER_UCS2 = " Même sans CV, venez: nous préparons la lettre ensemble, c'est gratuit."


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rates", default="10,50", help="SMS segments per second to test")
    p.add_argument("--seconds", type=float, default=60, help="measured span per SMS rate")
    p.add_argument("--overfill", type=float, default=1.4, help="seeded segments / R x seconds")
    p.add_argument("--multi-share", type=float, default=0.10, help="share of 2-3 segment SMS")
    p.add_argument("--latency", type=float, default=0.1, help="stand-in answer delay, s")
    p.add_argument("--telegram-rate", type=float, default=25)
    p.add_argument("--chats", type=int, default=40)
    p.add_argument("--per-chat", type=int, default=10)
    p.add_argument("--telegram-seconds", type=float, default=120, help="time limit")
    p.add_argument("--db", choices=("sqlite", "postgres"), default="postgres")
    p.add_argument("--pg-url", help="an existing PostgreSQL server (else scripts/pg.sh)")
    p.add_argument("--seed", type=int, default=3)
    return p.parse_args()


def sms_body(i: int, rng: random.Random, multi_share: float) -> str:
    body = SHORT.format(i=i)
    if rng.random() < multi_share:
        filler = rng.choice((FILLER_GSM, FILLER_UCS2))
        want = rng.choice((2, 3))
        while count_segments(body).segments < want:
            body += filler
        while count_segments(body).segments > want:  # one filler too many: trim it back
            body = body[:-10]
    return body


def windows(times: list[float], units: list[int], width: float = 1.0) -> list[int]:
    """Units received in each window [t_i, t_i + width), for every receive time t_i (sorted)."""
    out, j, inside = [], 0, 0
    for i, t in enumerate(times):
        while j < len(times) and times[j] < t + width:
            inside += units[j]
            j += 1
        out.append(inside)
        inside -= units[i]
    return out


@contextmanager
def database(args: argparse.Namespace, cluster: str | None, hint: str) -> Iterator[str]:
    if args.db == "sqlite":
        with sqlite_file(hint) as url:
            yield url
    else:
        with postgres(cluster, hint) as url:
            yield url


def worker_env(sms: Standin, tg: Standin, sms_rate: float, tg_rate: float) -> dict[str, str]:
    return {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM": "+3225550100", "TWILIO_API_BASE": sms.url,
            "TELEGRAM_BOT_TOKEN": BOT_TOKEN, "TELEGRAM_API_BASE": tg.url,
            "SMS_RATE_PER_SECOND": str(sms_rate), "TELEGRAM_RATE_PER_SECOND": str(tg_rate),
            "QUIET_HOURS": "", "PUBLIC_BASE_URL": "http://127.0.0.1:9"}


def run_worker(url: str, env: dict[str, str], until: Any, limit: float) -> tuple[float, float]:
    """Start a worker, release the held rows, wait for `until()` or `limit` s, stop it.
    Returns (release time on the monotonic clock, seconds the worker took to stop)."""
    worker = WorkerProcess(url, env, log_dir=Path(tempfile.gettempdir()))
    try:
        worker.start()
        sql(url, "UPDATE outbox_message SET status = 'queued' WHERE status = 'held'")
        t0 = time.monotonic()
        while time.monotonic() < t0 + limit and not until(t0):
            time.sleep(0.5)
        stopping = time.monotonic()
    finally:
        code = worker.stop()
    if code not in (0, None):
        note(f"worker exit status {code}:\n{worker.log_tail()}")
    errors = [line for line in worker.log_tail(500).splitlines() if " ERROR " in line]
    if errors:
        note(f"worker log: {len(errors)} ERROR lines, e.g. {errors[0]}")
    return t0, time.monotonic() - stopping


def sms_rate(args: argparse.Namespace, cluster: str | None, sms: Standin, tg: Standin,
             rate: float, rows: list[list[str]]) -> bool:
    rng = random.Random(args.seed)
    bodies: list[str] = []
    while sum(count_segments(b).segments for b in bodies) < rate * args.seconds * args.overfill:
        bodies.append(sms_body(len(bodies), rng, args.multi_share))
    spec = {"leads": [{"phone": f"+3247{i:07d}"} for i in range(len(bodies))],
            "outbox": [{"lead": i, "body": b} for i, b in enumerate(bodies)]}
    with database(args, cluster, f"rate{int(rate)}") as url:
        prepare_database(url)
        note(f"SMS {rate:g}/s: seeded {seed(url, spec)}")
        sms.reset()
        t0, stop_s = run_worker(url, worker_env(sms, tg, rate, 100000),
                                lambda t0: time.monotonic() > t0 + args.seconds + 2,
                                args.seconds + 2)
        left = dict(sql(url, "SELECT status, count(*) FROM outbox_message GROUP BY status")[0])
    got = sorted(sms.messages(), key=lambda m: m["t"])
    times = [m["t"] for m in got]
    units = [count_segments(m["body"]).segments for m in got]
    mismatched = sum(1 for m, u in zip(got, units, strict=True) if int(m["num_segments"]) != u)
    first = times[0]
    in_span = sum(u for t, u in zip(times, units, strict=True) if t < first + args.seconds)
    achieved = in_span / args.seconds
    sums = windows(times, units)
    worst = max(sums)
    where = times[sums.index(worst)]
    if os.environ.get("BENCH_RATE_DUMP"):
        start = sums.index(worst)
        for m, u in zip(got[start:], units[start:], strict=True):
            if m["t"] >= where + 1.0:
                break
            note(f"  +{m['t'] - where:.4f}s {u} seg")
    over = sum(1 for x in sums if x > rate)
    late = sorted({round(t - first, 1) for t, x in zip(times, sums, strict=True)
                   if x > rate and t > first + 2})
    worst_late = max((x for t, x in zip(times, sums, strict=True) if t > first + 2), default=0)
    covered = times[-1] >= first + args.seconds
    passed = achieved >= GOAL_SHARE * rate and worst <= rate and covered
    note(f"SMS {rate:g}/s: {len(got)} messages ({sum(units)} segments, "
         f"{sum(1 for u in units if u > 1)} multi-segment) received; first {first - t0:.2f}s "
         f"after release; span covered: {covered}; worst window at +{where - first:.2f}s; "
         f"over-limit windows starting after +2 s: {len(late)} distinct 0.1 s slots "
         f"{late[:12]}; "
         f"stand-in/product segment counts differ for {mismatched}; worker took {stop_s:.1f}s "
         f"to stop; outbox afterwards {left}")
    rows.append([f"{rate:g}", f"{args.seconds:g}", str(len(got)),
                 str(sum(1 for u in units if u > 1)), str(in_span), f"{achieved:.2f}",
                 f"{achieved / rate:.1%}", str(worst), str(worst_late), str(over),
                 "PASS" if passed else "FAIL"])
    return passed


def telegram_rate(args: argparse.Namespace, cluster: str | None, sms: Standin, tg: Standin,
                  rows: list[list[str]]) -> bool:
    n = args.chats * args.per_chat
    spec = {"leads": [{"telegram_chat_id": 70_000_000 + c} for c in range(args.chats)],
            "outbox": [{"lead": k % args.chats, "channel": "telegram",
                        "body": f"Message {k // args.chats + 1} pour vous ({k})"}
                       for k in range(n)]}
    with database(args, cluster, "ratetg") as url:
        prepare_database(url)
        note(f"Telegram {args.telegram_rate:g}/s: seeded {seed(url, spec)}")
        tg.reset()

        def all_sent(_t0: float) -> bool:
            counts = dict(sql(url, "SELECT status, count(*) FROM outbox_message "
                                   "GROUP BY status")[0])
            return counts.get("sent", 0) >= n

        run_worker(url, worker_env(sms, tg, 10, args.telegram_rate), all_sent,
                   args.telegram_seconds)
    got = sorted(tg.messages(), key=lambda m: m["t"])
    times = [m["t"] for m in got]
    sums = windows(times, [1] * len(times))
    worst = max(sums, default=0)
    worst_late = max((x for t, x in zip(times, sums, strict=True) if t > times[0] + 2), default=0)
    per_chat: dict[str, list[float]] = {}
    for m in got:
        per_chat.setdefault(str(m["chat_id"]), []).append(m["t"])
    gaps = {c: min(b - a for a, b in zip(ts, ts[1:], strict=False)) for c, ts in per_chat.items()
            if len(ts) > 1}
    close = {c: g for c, g in gaps.items() if g < 1.0}
    all_gaps = sorted(b - a for ts in per_chat.values() for a, b in zip(ts, ts[1:], strict=False))
    first_gaps = sum(1 for ts in per_chat.values() if len(ts) > 1 and ts[1] - ts[0] < 1.0)
    achieved = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    passed = len(got) == n and worst <= args.telegram_rate and not close
    note(f"Telegram: {len(got)}/{n} received; pairs of one chat closer than 1 s: "
         f"{sum(1 for g in all_gaps if g < 1.0)} of {len(all_gaps)} ({first_gaps} of them between "
         f"a chat's first and second message); smallest gaps "
         f"{[round(g, 3) for g in all_gaps[:5]]}; worst window at "
         f"+{times[sums.index(worst)] - times[0]:.2f}s after the first message")
    rows.append([f"{args.telegram_rate:g}", f"{args.chats} x {args.per_chat}",
                 f"{len(got)}/{n}", f"{achieved:.2f}", str(worst), str(worst_late),
                 f"{min(gaps.values()):.3f}" if gaps else "-",
                 f"{statistics.median(gaps.values()):.3f}" if gaps else "-",
                 str(len(close)), "PASS" if passed else "FAIL"])
    return passed


def main() -> int:
    args = parse_args()
    rates = [float(r) for r in args.rates.split(",") if r]
    sms_rows: list[list[str]] = []
    tg_rows: list[list[str]] = []
    ok = True
    sms = Standin("twilio", "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN,
                  latency=args.latency)
    tg = Standin("telegram", "--token", BOT_TOKEN, latency=args.latency)
    try:
        sms.start()
        tg.start()
        cluster = postgres(args.pg_url, "rate") if args.db == "postgres" else nullcontext(None)
        with cluster as base:
            for rate in rates:
                ok &= sms_rate(args, base, sms, tg, rate, sms_rows)
            if args.chats and args.per_chat:
                ok &= telegram_rate(args, base, sms, tg, tg_rows)
    finally:
        sms.stop()
        tg.stop()
    print()
    print(f"one worker on {args.db}, stand-in latency {args.latency}s")
    print(table(["SMS limit seg/s", "span s", "messages received", "multi-seg",
                 "segments in span", "achieved seg/s", "of limit", "max seg in any 1 s",
                 "same, windows from +2 s",
                 "windows over limit", f"goal >={GOAL_SHARE:.0%} & <=limit"], sms_rows))
    if tg_rows:
        print()
        print(table(["Telegram limit msg/s", "chats x msgs", "received", "achieved msg/s",
                     "max msgs in any 1 s", "same, from +2 s", "min gap per chat s (min)",
                     "(median)",
                     "chats with a gap < 1 s", "goal"], tg_rows))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
