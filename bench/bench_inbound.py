"""Issue 3, target 3: inbound SMS webhooks (POST /webhooks/twilio/sms) on PostgreSQL.

The app (`uvicorn crm.app:create_app --factory --workers 2`, which is what `passerelle serve
--workers 2` runs on PostgreSQL, the worker being a separate command) and the bare endpoint of
bench/bare_webhook.py (same framework, same form parsing, same RequestValidator signature check,
same empty TwiML, no database) each run in their own uvicorn process tree with 2 workers, the
same settings, and get the same requests: --n form posts signed as Twilio signs them
(RequestValidator(auth_token).compute_signature(PUBLIC_BASE_URL + path, form), PUBLIC_BASE_URL
set to the server's own loopback URL), prepared before the run. Closed loop, --concurrency
clients (aiohttp), interleaved rounds (A1 B1 A2 B2 ...), after --warmup unmeasured requests.

Workload (seeded, --seed): --phones distinct numbers, of which --new-share are unknown to the
CRM (their first message creates the person) and the rest are seeded leads, half of them with
an earlier `sent` outbox message (so the reply is attributed to it). Each original message
comes from a number drawn uniformly; --repeats of the --n requests re-post, byte for byte, an
original sent at least 128 requests earlier (Twilio retrying). Bodies are ordinary replies
(no STOP/START keywords).

Figures: app req/s as a ratio to bare (goal >= 0.4), CPU per request of each server tree and of
PostgreSQL, PostgreSQL transactions per request; checks: exactly n - repeats messages stored in
inbound_message, no 5xx (no non-2xx at all). Office hours: OFFICE_DAYS=1-7 OFFICE_HOURS=00:00-23:59
(always open: no acknowledgement) for the goal; --office closed|both also runs the office closed
(OFFICE_DAYS = a weekday that is neither today nor tomorrow), where every person who writes is
queued one acknowledgement per night.

    .venv/bin/python -m bench.bench_inbound --n 10000 --repeats 1000
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twilio.request_validator import RequestValidator  # noqa: E402

from bench.common import (  # noqa: E402
    APP_FACTORY,
    CLIENTS,
    DEFAULT_CLIENT,
    PySpy,
    RawBody,
    RequestSpec,
    Server,
    Target,
    note,
    postgres,
    prepare_database,
    run_async,
    run_interleaved,
    seed,
    sql,
    summarise_profile,
    table,
    warm_up,
)

GOAL = 0.4
PATH = "/webhooks/twilio/sms"
ACCOUNT_SID = "AC" + "d" * 32
AUTH_TOKEN = "bench-inbound-auth-token"
TWILIO_TO = "+3225550100"
TEXTS = ["Oui je viens", "Merci, à jeudi !", "C'est à quelle heure ?",
         "Je peux venir avec ma sœur ?", "Bonjour, je suis intéressée par la formation", "Ok",
         "Dank u, tot dinsdag",
         "Je n'ai pas de CV, c'est grave ?", "Waar is het precies?", "Je serai en retard de 10 min",
         "Est-ce que c'est gratuit ?", "Ik kom met mijn buurvrouw", "👍", "D'accord merci beaucoup"]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=10_000, help="measured webhook requests")
    p.add_argument("--repeats", type=int, default=1_000, help="of which re-posts (retries)")
    p.add_argument("--phones", type=int, default=800, help="distinct sender numbers")
    p.add_argument("--new-share", type=float, default=0.2, help="share unknown to the CRM")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--workers", type=int, default=2, help="uvicorn workers, both servers")
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--office", choices=("open", "closed", "both"), default="both")
    p.add_argument("--time-limit", type=float, default=600, help="s per target and run")
    p.add_argument("--client", choices=CLIENTS, default=DEFAULT_CLIENT)
    p.add_argument("--pg-url", help="an existing PostgreSQL server (else scripts/pg.sh)")
    p.add_argument("--profile", type=Path, help="py-spy the app (all workers) into this dir")
    p.add_argument("--seed", type=int, default=11)
    return p.parse_args()


def workload(args: argparse.Namespace) -> tuple[list[str], int, list[dict[str, str]]]:
    """(phones, how many of them are known, the forms of the n requests in order)."""
    rng = random.Random(args.seed)
    phones = [f"+3247{n:07d}" for n in rng.sample(range(10**7), args.phones)]
    known = args.phones - round(args.phones * args.new_share)
    repeat_at = set(rng.sample(range(128, args.n), args.repeats))
    forms: list[dict[str, str]] = []
    originals: list[int] = []  # indexes of forms not repeated yet
    for i in range(args.n):
        if i in repeat_at:
            eligible = [k for k in originals if k <= i - 128]
            k = eligible[rng.randrange(len(eligible))]
            originals.remove(k)
            forms.append(forms[k])
            continue
        sid = f"SM{rng.getrandbits(128):032x}"
        body = rng.choice(TEXTS)
        forms.append(sms_form(sid, rng.choice(phones), body))
        originals.append(i)
    return phones, known, forms


def sms_form(sid: str, sender: str, body: str) -> dict[str, str]:
    """An inbound SMS as Twilio posts it (empty fields included: they are signed too)."""
    return {"ToCountry": "BE", "ToState": "", "SmsMessageSid": sid, "NumMedia": "0",
            "ToCity": "", "FromZip": "", "SmsSid": sid, "FromState": "", "SmsStatus": "received",
            "FromCity": "", "Body": body, "FromCountry": "BE", "To": TWILIO_TO, "ToZip": "",
            "NumSegments": "1", "MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": sender,
            "ApiVersion": "2010-04-01"}


def signed(base_url: str, forms: list[dict[str, str]]) -> list[RequestSpec]:
    validator = RequestValidator(AUTH_TOKEN)
    out: list[RequestSpec] = []
    for form in forms:
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Twilio-Signature": validator.compute_signature(base_url + PATH, form)}
        out.append(("POST", PATH, RawBody(urlencode(form).encode(), headers)))
    return out


def office_env(office: str) -> dict[str, str]:
    if office == "open":
        return {"OFFICE_DAYS": "1-7", "OFFICE_HOURS": "00:00-23:59"}
    today = datetime.now(ZoneInfo("Europe/Brussels")).date()
    closed_day = (today + timedelta(days=3)).isoweekday()  # neither today nor tomorrow
    return {"OFFICE_DAYS": str(closed_day), "OFFICE_HOURS": "09:00-17:00"}


def pg_counters(url: str) -> tuple[int, int]:
    return sql(url, "SELECT xact_commit, xact_rollback FROM pg_stat_database "
                    "WHERE datname = current_database()")[0][0]  # type: ignore[return-value]


def run(args: argparse.Namespace, cluster: str, office: str, rows: list[list[str]]) -> bool:
    phones, known, forms = workload(args)
    expected = len({f["MessageSid"] for f in forms})
    with postgres(cluster, f"inbound_{office}") as url:
        prepare_database(url)
        rng = random.Random(args.seed + 1)
        spec: dict[str, Any] = {"leads": [{"phone": p} for p in phones[:known]], "hold": False,
                                "outbox": [{"lead": k, "body": "Atelier emploi mardi 10h",
                                            "status": "sent", "provider": "twilio",
                                            "kind": "campaign", "campaign_id": 1,
                                            "provider_id": f"SMseed{rng.getrandbits(120):030x}"}
                                           for k in range(0, known, 2)]}
        note(f"[{office}] seeded {seed(url, spec)}; {args.phones - known} numbers unknown")
        env = {"DATABASE_URL": url, "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN":
               AUTH_TOKEN, "TWILIO_FROM": TWILIO_TO, "QUIET_HOURS": "", **office_env(office)}
        app = Server(APP_FACTORY, env=env, workers=args.workers)
        bare = Server("bench.bare_webhook:create_app", env=env, workers=args.workers)
        for server in (app, bare):
            server.env["PUBLIC_BASE_URL"] = server.base_url
        spy = None
        try:
            app.start()
            bare.start()
            warm = [sms_form(f"SMwarm{k:026d}", phones[k % known], "Bonjour") for k in
                    range(args.warmup)]
            for server in (app, bare):
                w = run_async(warm_up(server, signed(server.base_url, warm).__getitem__,
                                      n=args.warmup, concurrency=args.concurrency,
                                      client=args.client))
                if w.error_count:
                    note(f"warm-up errors on {server.factory}: {w.errors[:2]}")
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                spy = PySpy(app, args.profile / f"inbound-{office}.txt", subprocesses=True)
            x0 = pg_counters(url)
            app_requests, bare_requests = signed(app.base_url, forms), signed(bare.base_url, forms)
            results = run_async(run_interleaved(
                [Target("app", app, app_requests.__getitem__),
                 Target("bare", bare, bare_requests.__getitem__)],
                n=args.n, concurrency=args.concurrency, time_limit=args.time_limit,
                rounds=args.rounds, client=args.client))
        finally:
            if spy:
                spy.stop()
            app.stop()
            bare.stop()
        time.sleep(0.5)
        x1 = pg_counters(url)
        (stored,), (people,), (conversations,), (acks,), (writers,), (unread, total) = (
            r[0] for r in sql(
                url,
                "SELECT count(*) FROM inbound_message WHERE provider_id NOT LIKE 'SMwarm%'",
                "SELECT count(*) FROM lead", "SELECT count(*) FROM conversation",
                "SELECT count(*) FROM outbox_message WHERE idempotency_key LIKE 'after-hours:%'",
                "SELECT count(DISTINCT lead_id) FROM inbound_message",
                "SELECT (SELECT sum(unread) FROM conversation), "
                "(SELECT count(*) FROM inbound_message)"))
    a, b = results
    for r in results:
        note(f"[{office}] {r.line()}")
        for index, status, body in r.errors[:3]:
            note(f"  request {index}: {status} {body[:300]}")
    fivexx = sum(n for s, n in a.statuses.items() if s >= 500 or s < 0)
    ratio = a.rps / b.rps if b.rps else 0.0
    senders = len({f["From"] for f in forms} | set(phones[:known]))
    stored_ok = stored == expected and a.done == args.n and not a.error_count
    stored_ok &= people == senders
    acks_ok = acks == (writers if office == "closed" else 0)
    # every stored message (warm-up too) counts once as unread; every writer has a thread
    threads_ok = conversations == writers and unread == total
    passed = stored_ok and acks_ok and threads_ok and (ratio >= GOAL or office == "closed")
    commits, rollbacks = x1[0] - x0[0], x1[1] - x0[1]
    note(f"[{office}] stored {stored} (expected {expected}), 5xx {fivexx}, people "
         f"{people} (expected {senders}: {known} seeded + the new numbers that wrote), "
         f"conversations {conversations} for {writers} people who wrote, unread {unread} for "
         f"{total} stored messages (warm-up included), after-hours acknowledgements queued "
         f"{acks}; "
         f"PostgreSQL during the measured run (both targets; bare makes none): {commits} commits"
         f" + {rollbacks} rollbacks = {(commits + rollbacks) / max(a.done, 1):.2f} per app request")
    if spy:
        note(summarise_profile(spy.out))
    rows.append([office, f"{a.rps:.0f}", f"{b.rps:.0f}", f"{ratio:.3f}", f"{a.pct(95):.1f}",
                 f"{b.pct(95):.1f}", f"{a.server_ms_per_request:.2f}+{a.db_ms_per_request:.2f}",
                 f"{b.server_ms_per_request:.2f}", f"{stored}/{expected}", str(fivexx),
                 f"{(commits + rollbacks) / max(a.done, 1):.2f}",
                 ("PASS" if passed else "FAIL") if office == "open" else
                 f"(info) checks {'OK' if passed else 'FAIL'}"])
    return passed


def main() -> int:
    args = parse_args()
    rows: list[list[str]] = []
    ok = True
    offices = ["open", "closed"] if args.office == "both" else [args.office]
    with postgres(args.pg_url, "inbound") as cluster:
        for office in offices:
            ok &= run(args, cluster, office, rows)
    print()
    print(f"{args.n} signed webhooks ({args.repeats} retries), {args.phones} numbers "
          f"({args.new_share:.0%} new), {args.workers} uvicorn workers each, concurrency "
          f"{args.concurrency}, {args.rounds} interleaved rounds, client {args.client}")
    print(table(["office", "app req/s", "bare req/s", "ratio", "app p95 ms", "bare p95 ms",
                 "app CPU ms/req server+pg", "bare CPU ms/req", "stored/expected", "5xx",
                 "pg xact/req", f"goal >= {GOAL}"], rows))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
