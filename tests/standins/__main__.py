"""Run a stand-in in the foreground, for benchmarks (run from the repository root).

    python -m tests.standins twilio --port 0 --latency 0.15 --account-sid AC... --auth-token T
    python -m tests.standins telegram --port 0 --token 123:ABC --latency 0

Prints exactly one line, ``ready http://127.0.0.1:<port>``, once listening; drive it with
the ``/_standin/*`` endpoints; SIGTERM or SIGINT stops it with exit status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from tests.standins.server import StandinServer
from tests.standins.telegram import TelegramStandin
from tests.standins.twilio import TwilioStandin


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.standins", description=__doc__)
    kinds = parser.add_subparsers(dest="kind", required=True)
    twilio = kinds.add_parser("twilio", help="Twilio REST API stand-in")
    twilio.add_argument("--account-sid", default="AC" + "0" * 32)
    twilio.add_argument("--auth-token", default="standin-auth-token")
    telegram = kinds.add_parser("telegram", help="Telegram Bot API stand-in")
    telegram.add_argument("--token", default="123456:STANDIN-token")
    telegram.add_argument(
        "--lax-webhook", action="store_true", help="accept non-HTTPS setWebhook URLs"
    )
    for sub in (twilio, telegram):
        sub.add_argument("--port", type=int, default=0, help="0 picks a free port")
        sub.add_argument("--latency", type=float, default=0.0, help="seconds before answers")
    return parser.parse_args(argv)


def build(args: argparse.Namespace) -> StandinServer:
    if args.kind == "twilio":
        return TwilioStandin(args.account_sid, args.auth_token, latency=args.latency)
    return TelegramStandin(args.token, latency=args.latency, strict_webhook=not args.lax_webhook)


async def serve(server: StandinServer, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    url = await server.start(port)
    print(f"ready {url}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop_async()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    asyncio.run(serve(build(args), args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
