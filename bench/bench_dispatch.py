"""Issue 3, target 1: outbox dispatch throughput of one worker, no rate limit.

What it measures: one real `passerelle worker` process (its own subprocess, SMS and Telegram
rates set to 100,000/s so the limiter never waits, WORKER_CONCURRENCY as given) sends N
pre-seeded outbox rows to the Twilio stand-in (`python -m tests.standins twilio`, its own
process, answering after --latency s). The rows are seeded `held` before the worker starts,
the worker is started and waits until its heartbeat is in the database, then one UPDATE makes
all N rows `queued` at once (t0). Figure: N / (last stand-in receive time - t0), both on the
machine-wide monotonic clock, i.e. from "all due" until the provider has accepted the last
one. The bench then polls the database until all N are `sent` (also reported).

Baseline, in the same run and the same bench process: a naive loop that sends one message at
a time with twilio's synchronous client (`twilio.rest.Client` with the stock sync
`TwilioHttpClient`, whose host is rewritten to the stand-in), same stand-in, same latency. It
runs in two halves, just before and just after each dispatch run. Goal: >= 100 messages/s and
>= 15x the naive loop, on SQLite and on PostgreSQL.

Telegram variant (--telegram-n, 0 to skip): the same with the Telegram stand-in, aiogram in the
worker (each message to its own chat, so the 1/s per-chat gate never waits), against a naive
loop of synchronous httpx POSTs to sendMessage.

    .venv/bin/python -m bench.bench_dispatch --db both --n 3000 --naive-n 100
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    PySpy,
    Standin,
    WorkerProcess,
    note,
    postgres,
    postgres_cpu_seconds,
    prepare_database,
    seed,
    sql,
    sqlite_file,
    summarise_profile,
    table,
)

GOAL_RATE = 100.0
GOAL_RATIO = 15.0
ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-twilio-auth-token"
BOT_TOKEN = "123456:BENCH-token"
TWILIO_FROM = "+3225550100"
STATUS_CALLBACK = "http://127.0.0.1:9/webhooks/twilio/status"  # never called by the stand-in
BODY = "Bonjour {i}, l'atelier emploi a lieu mardi a 10h, rue Haute 12. Repondez OUI pour venir."


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--n", type=int, default=3000, help="SMS outbox rows per database")
    p.add_argument("--telegram-n", type=int, default=1500, help="Telegram rows (0: skip)")
    p.add_argument("--naive-n", type=int, default=100, help="messages of each naive loop")
    p.add_argument("--latency", type=float, default=0.15, help="stand-in answer delay, s")
    p.add_argument("--concurrency", type=int, default=64, help="WORKER_CONCURRENCY")
    p.add_argument("--time-limit", type=float, default=300, help="s, per dispatch or naive run")
    p.add_argument("--pg-url", help="an existing PostgreSQL server (else scripts/pg.sh)")
    p.add_argument("--profile", type=Path, help="py-spy the worker into this directory")
    return p.parse_args()


# --- the naive baselines (in this process, one request at a time) ----------------------------


def naive_sms(base_url: str, n: int, start: int, time_limit: float) -> tuple[int, float]:
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    class Rebased(TwilioHttpClient):
        def request(self, method: str, url: str, *a: Any, **kw: Any) -> Any:  # type: ignore[override]
            parts = urlsplit(url)
            url = base_url + parts.path + (f"?{parts.query}" if parts.query else "")
            return super().request(method, url, *a, **kw)

    http = Rebased(timeout=15)
    http.session.trust_env = False  # type: ignore[union-attr]  # loopback, never a proxy
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http)
    deadline, t0, done = time.monotonic() + time_limit, time.perf_counter(), 0
    for i in range(start, start + n):
        if time.monotonic() > deadline:
            break
        client.messages.create(to=f"+3248{i:07d}", from_=TWILIO_FROM, body=BODY.format(i=i),
                               status_callback=STATUS_CALLBACK)
        done += 1
    return done, time.perf_counter() - t0


def naive_telegram(base_url: str, n: int, start: int, time_limit: float) -> tuple[int, float]:
    import httpx

    deadline, t0, done = time.monotonic() + time_limit, time.perf_counter(), 0
    with httpx.Client(base_url=base_url, timeout=15, trust_env=False) as client:
        for i in range(start, start + n):
            if time.monotonic() > deadline:
                break
            r = client.post(f"/bot{BOT_TOKEN}/sendMessage",
                            data={"chat_id": str(90_000_000 + i), "text": BODY.format(i=i)})
            r.raise_for_status()
            done += 1
    return done, time.perf_counter() - t0


# --- one dispatch run --------------------------------------------------------------------------


def xacts(url: str) -> int | None:
    if url.startswith("sqlite"):
        return None
    return sql(url, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
               )[0][0][0]


def dispatch(url: str, worker: WorkerProcess, standin: Standin, channel: str, n: int,
             time_limit: float) -> dict[str, Any]:
    standin.reset()
    polls = 0
    cpu0, s0, pg0 = worker.cpu_seconds(), standin.cpu_seconds(), postgres_cpu_seconds()
    sql(url, f"UPDATE outbox_message SET status = 'queued' WHERE status = 'held' "
             f"AND channel = '{channel}'")
    t0 = time.monotonic()
    deadline, counts = t0 + time_limit, {}
    while time.monotonic() < deadline:
        time.sleep(0.25)
        polls += 1
        counts = dict(sql(url, "SELECT status, count(*) FROM outbox_message WHERE channel = "
                               f"'{channel}' GROUP BY status")[0])
        if counts.get("sent", 0) + counts.get("delivered", 0) >= n or not (
                counts.get("queued") or counts.get("sending")):
            break
    t_db = time.monotonic() - t0
    cpu, scpu = worker.cpu_seconds() - cpu0, standin.cpu_seconds() - s0
    pg = postgres_cpu_seconds() - pg0
    times = sorted(m["t"] for m in standin.messages())
    got = len(times)
    return {
        "sent": counts.get("sent", 0) + counts.get("delivered", 0), "counts": counts,
        "received": got, "seconds": (times[-1] - t0) if times else float("nan"), "db_s": t_db,
        "rate": got / (times[-1] - t0) if times else 0.0,
        "span_rate": (got - 1) / (times[-1] - times[0]) if got > 1 else 0.0,
        "cpu_ms": 1000 * cpu / max(got, 1), "standin_ms": 1000 * scpu / max(got, 1),
        "pg_ms": 1000 * pg / max(got, 1), "stopped": time.monotonic() >= deadline,
        "polls": polls,
    }


def run_db(kind: str, url: str, args: argparse.Namespace, sms: Standin, tg: Standin | None,
           rows: list[list[str]]) -> bool:
    prepare_database(url)
    n_tg = args.telegram_n if tg else 0
    spec = {"leads": [{"phone": f"+3247{i:07d}"} for i in range(args.n)]
            + [{"telegram_chat_id": 80_000_000 + i} for i in range(n_tg)],
            "outbox": [{"lead": i, "channel": "sms", "body": BODY.format(i=i)}
                       for i in range(args.n)]
            + [{"lead": args.n + i, "channel": "telegram", "body": BODY.format(i=i)}
               for i in range(n_tg)]}
    note(f"{kind}: seeded {seed(url, spec)}")
    env = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "TWILIO_FROM": TWILIO_FROM, "TWILIO_API_BASE": sms.url,
           "TELEGRAM_BOT_TOKEN": BOT_TOKEN if tg else "",
           "TELEGRAM_API_BASE": tg.url if tg else "https://api.telegram.org",
           "SMS_RATE_PER_SECOND": "100000", "TELEGRAM_RATE_PER_SECOND": "100000",
           "WORKER_CONCURRENCY": str(args.concurrency), "QUIET_HOURS": "",
           "PUBLIC_BASE_URL": "http://127.0.0.1:9"}
    ok = True
    runs = [("sms", sms, args.n, naive_sms)]
    if tg:
        runs.append(("telegram", tg, n_tg, naive_telegram))
    for channel, standin, n, naive in runs:  # a fresh worker per channel
        worker = WorkerProcess(url, env, log_dir=Path(tempfile.gettempdir()))
        spy = None
        try:
            worker.start()
            x0 = xacts(url)
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                spy = PySpy(worker, args.profile / f"dispatch-{kind}-{channel}.txt")  # type: ignore[arg-type]
            half = args.naive_n // 2
            a = naive(standin.url, half, 0, args.time_limit)
            r = dispatch(url, worker, standin, channel, n, args.time_limit)
            b = naive(standin.url, args.naive_n - half, half, args.time_limit)
        finally:
            if spy:
                spy.stop()
            code = worker.stop()
            if code not in (0, None):
                note(f"worker exit status {code}:\n{worker.log_tail()}")
        # Every statement of the worker is a transaction of its own (autocommit); read once
        # the worker's connections are closed (their statistics are flushed on exit). Less
        # the bench's own: the release, the polls and the two reads of the counter.
        x1 = xacts(url)
        xpm = (x1 - x0 - r["polls"] - 3) / max(r["received"], 1) if x0 is not None else None
        errors = [line for line in worker.log_tail(200).splitlines() if " ERROR " in line]
        if errors:
            note(f"{kind} {channel}: worker log has {len(errors)} ERROR lines: {errors[0]}")
        naive_rate = (a[0] + b[0]) / (a[1] + b[1])
        ratio = r["rate"] / naive_rate
        passed = (r["sent"] == n and r["received"] == n and r["rate"] >= GOAL_RATE
                  and ratio >= GOAL_RATIO)
        ok &= passed
        note(f"{kind} {channel}: {r}")
        rows.append([kind, channel, f"{r['sent']}/{n}", f"{r['seconds']:.2f}",
                     f"{r['rate']:.0f}", f"{r['span_rate']:.0f}", f"{naive_rate:.2f}",
                     f"{ratio:.1f}", f"{r['cpu_ms']:.2f}", f"{r['standin_ms']:.2f}",
                     f"{r['pg_ms']:.2f}", "-" if xpm is None else f"{xpm:.2f}",
                     "PASS" if passed else "FAIL"])
        if spy:
            note(summarise_profile(spy.out))
    return ok


def main() -> int:
    args = parse_args()
    rows: list[list[str]] = []
    ok = True
    sms = Standin("twilio", "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN,
                  latency=args.latency)
    tg = Standin("telegram", "--token", BOT_TOKEN, latency=args.latency)
    try:
        sms.start()
        if args.telegram_n:
            tg.start()
        note(f"stand-ins: twilio {sms.url}, telegram {tg.url or '-'}; latency {args.latency}s")
        if args.db in ("sqlite", "both"):
            with sqlite_file("dispatch") as url:
                ok &= run_db("sqlite", url, args, sms, tg if args.telegram_n else None, rows)
        if args.db in ("postgres", "both"):
            with postgres(args.pg_url, "dispatch") as url:
                ok &= run_db("postgres", url, args, sms, tg if args.telegram_n else None, rows)
    finally:
        sms.stop()
        tg.stop()
    print()
    print(f"one worker, WORKER_CONCURRENCY={args.concurrency}, stand-in latency "
          f"{args.latency}s, no rate limit; naive loop {args.naive_n} messages one at a time")
    print(table(["db", "channel", "sent", "s (all due->last)", "worker msg/s",
                 "msg/s first->last", "naive msg/s", "ratio", "worker CPU ms/msg",
                 "stand-in CPU ms/msg", "pg CPU ms/msg", "pg xact/msg",
                 f"goal >={GOAL_RATE:.0f}/s & >={GOAL_RATIO:.0f}x"], rows))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
