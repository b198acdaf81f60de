"""The `passerelle` command line (CONTRACT §2).

Every command opens the database named by DATABASE_URL itself and closes it before returning.
On SQLite, pending migrations are applied first, so that `passerelle createuser` works on a fresh
checkout; on PostgreSQL they are applied only by `passerelle migrate` (once per deploy: there is
no lock around migrating) and the other commands refuse to run while some are pending.

Bad input never ends in a traceback: it prints one line, `error: …`, on stderr and exits 1
(2 for a command line argparse cannot read). `--traceback` shows the traceback of an unexpected
error, for debugging.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import getpass
import logging
import sys
import warnings
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

from crm import __version__
from crm.enums import UI_LANGUAGES, Role

EXIT_ERROR = 1
EXIT_USAGE = 2

# How the CLI's fields read on the command line, in error messages.
_OPTION_NAMES = {
    "org": "--org",
    "expires_days": "--expires-days",
    "email": "e-mail",
    "password": "password",
}


class CliError(Exception):
    """A problem the person at the terminal can fix; printed as one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line instead of argparse's usage block: scripts log it, people read it.
        self.exit(EXIT_USAGE, f"error: {message} (see `{self.prog} --help`)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (1-65535)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="passerelle",
        description="Passerelle: outreach CRM (web app, worker and admin commands).",
    )
    parser.add_argument("--version", action="version", version=f"passerelle {__version__}")
    parser.add_argument(
        "--traceback",
        action="store_true",
        help="show the traceback of an unexpected error (for debugging)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the web app")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port to listen on (8000)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="load the demo data set when the database holds no people yet",
    )
    serve.add_argument(
        "--no-worker", action="store_true", help="do not run the worker in this process"
    )
    serve.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="web processes (PostgreSQL only; default 1)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default=None,
        metavar="IPS",
        help="proxies whose X-Forwarded-* headers are trusted (default: TRUSTED_PROXIES, "
        "else uvicorn's 127.0.0.1)",
    )
    serve.set_defaults(handler=_cmd_serve)

    migrate = commands.add_parser("migrate", help="apply pending database migrations")
    migrate.set_defaults(handler=_cmd_migrate)

    worker = commands.add_parser("worker", help="scheduler and outbox dispatcher")
    worker.add_argument(
        "--once", action="store_true", help="send what is due now, then exit (for cron or checks)"
    )
    worker.add_argument(
        "--max-seconds",
        type=_positive_int,
        default=300,
        help="with --once: stop after this many seconds (300)",
    )
    worker.set_defaults(handler=_cmd_worker)

    telegram = commands.add_parser("telegram", help="the Telegram bot")
    telegram_commands = telegram.add_subparsers(
        dest="telegram_command", metavar="ACTION", required=True
    )
    set_webhook = telegram_commands.add_parser(
        "set-webhook", help="register PUBLIC_BASE_URL/webhooks/telegram with the secret"
    )
    set_webhook.set_defaults(handler=_cmd_telegram_set_webhook)

    createuser = commands.add_parser("createuser", help="create a staff or partner user")
    createuser.add_argument("email", metavar="EMAIL")
    createuser.add_argument("--role", required=True, choices=[r.value for r in Role])
    createuser.add_argument(
        "--org", metavar="NAME", help="the partner organisation (required for --role partner)"
    )
    createuser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    createuser.add_argument("--first-name", default="")
    createuser.add_argument("--last-name", default="")
    createuser.add_argument(
        "--languages",
        default="",
        metavar="LIST",
        help="languages spoken with prospects, comma-separated (fr,nl,ar)",
    )
    createuser.add_argument("--ui-language", default="fr", choices=list(UI_LANGUAGES))
    createuser.add_argument(
        "--can-export",
        action="store_true",
        help="may export people's data to files (admins always may; partners never)",
    )
    createuser.set_defaults(handler=_cmd_createuser)

    token = commands.add_parser("token", help="API bearer tokens for staff users")
    token_commands = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    token_create = token_commands.add_parser("create", help="print a new token for a staff user")
    token_create.add_argument("email", metavar="EMAIL")
    token_create.add_argument(
        "--hours",
        type=_positive_int,
        default=None,
        help="lifetime in hours (default: API_TOKEN_TTL_HOURS)",
    )
    token_create.add_argument("--name", default="cli", help="a label for the token")
    token_create.set_defaults(handler=_cmd_token_create)

    apikey = commands.add_parser("apikey", help="API keys for partner organisations")
    apikey_commands = apikey.add_subparsers(dest="apikey_command", metavar="ACTION", required=True)
    apikey_create = apikey_commands.add_parser("create", help="print a new partner API key")
    apikey_create.add_argument(
        "--org", required=True, metavar="NAME", help="the partner organisation, by its exact name"
    )
    apikey_create.add_argument(
        "--name",
        default="",
        metavar="LABEL",
        help="what the key is for (e.g. the partner's system)",
    )
    apikey_create.add_argument(
        "--expires-days",
        type=_positive_int,
        default=365,
        metavar="N",
        help="days until the key expires (365)",
    )
    apikey_create.set_defaults(handler=_cmd_apikey_create)

    demo = commands.add_parser("demo", help="load the demo data set into an empty database")
    demo.set_defaults(handler=_cmd_demo)

    reports = commands.add_parser("reports", help="the data behind the reports to funders")
    reports_commands = reports.add_subparsers(
        dest="reports_command", metavar="ACTION", required=True
    )
    reports_rebuild = reports_commands.add_parser(
        "rebuild",
        help="recompute every person's pathway milestones from their stage log "
        "(a repair: they are kept with every stage change)",
    )
    reports_rebuild.set_defaults(handler=_cmd_reports_rebuild)

    privacy = commands.add_parser("privacy", help="retention rules and rights requests")
    privacy_commands = privacy.add_subparsers(
        dest="privacy_command", metavar="ACTION", required=True
    )
    privacy_retention = privacy_commands.add_parser(
        "retention",
        help="apply the retention rules now (the worker does it every hour): flag inactive "
        "people, anonymise those whose warning period ended, purge old copies, withdraw "
        "stories whose consent ended, remind rights requests near their deadline",
    )
    privacy_retention.set_defaults(handler=_cmd_privacy_retention)

    # `import leads` and `export leads` (CONTRACT §2) arrive with the import/export issue.
    _add_export_commands(commands)
    _add_import_commands(commands)
    return parser


# ---- helpers ------------------------------------------------------------------------------------


def _err(message: str) -> None:
    print(f"error: {_one_line(message)}", file=sys.stderr)


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _cli_actor() -> Any:
    from crm.auth.actor import Actor

    return Actor(role=Role.ADMIN, label="command line")


def _migration_progress(stream: Any) -> Callable[[str, str, str], None]:
    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            print(f"applied migration {app_label}.{name}", file=stream, flush=True)
        elif event == "rollback_done":
            print(f"rolled back migration {app_label}.{name}", file=stream, flush=True)

    return progress


def _sqlite_path(url: str) -> str | None:
    # Tortoise: sqlite://relative/path.db, sqlite:///absolute/path.db, sqlite://:memory:
    path = url.split("://", 1)[1].split("?", 1)[0]
    return None if path in ("", ":memory:") else path


async def _check_reachable() -> None:
    """Fail with a clear line when the database cannot be opened.

    Needed before the first query: with tortoise-orm 1.1.9, a first connection that fails
    (SQLite file in a missing directory) leaves the client's lock held, and the next query
    waits forever instead of failing; and the migration planner reads a PostgreSQL server it
    cannot reach as "no migration applied yet".
    """
    from crm import db
    from crm.config import settings

    url = settings.DATABASE_URL
    if settings.is_sqlite:
        import sqlite3

        path = _sqlite_path(url)
        if path is not None:
            try:
                sqlite3.connect(path).close()
            except sqlite3.Error as exc:
                raise CliError(f"database {url}: cannot open {path!r}: {exc}") from None
        return
    from tortoise import Tortoise, connections

    await Tortoise.init(config=db.tortoise_config(url))
    try:
        await connections.get("default").execute_query("SELECT 1")
    finally:
        await Tortoise.close_connections()


async def _ensure_schema() -> None:
    """SQLite: migrate now. PostgreSQL: refuse while migrations are pending."""
    from crm import db
    from crm.config import settings

    await _check_reachable()
    if settings.is_sqlite:
        await db.run_migrations(progress=_migration_progress(sys.stderr))
        return
    pending = await db.pending_migrations()
    if pending:
        raise CliError(
            f"the database schema is not up to date ({len(pending)} pending migration(s): "
            f"{', '.join(pending)}); run `passerelle migrate` first"
        )


async def _with_db(
    work: Callable[[], Awaitable[int | None]], *, ensure_schema: bool = True
) -> int | None:
    from crm import db

    if ensure_schema:
        await _ensure_schema()
    await db.init_db()
    try:
        return await work()
    finally:
        # Always close: an open aiosqlite connection keeps the process alive after an error.
        await db.close_db()


def _run(coro: Awaitable[int | None]) -> int:
    return asyncio.run(coro) or 0  # type: ignore[arg-type]


# ---- commands -----------------------------------------------------------------------------------


def _cmd_migrate(args: argparse.Namespace) -> int:
    from crm import db

    applied: list[str] = []
    report = _migration_progress(sys.stdout)

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            applied.append(name)
        report(event, app_label, name)

    async def migrate() -> None:
        await _check_reachable()
        await db.run_migrations(progress=progress)

    _run(migrate())
    if not applied:
        print("No pending migrations")
    return 0


def _setup_logging() -> str:
    from crm.config import settings

    level = settings.LOG_LEVEL.lower()
    if level not in ("critical", "error", "warning", "info", "debug", "trace"):
        level = "info"
    logging.basicConfig(
        level=level.upper() if level != "trace" else "DEBUG",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return level


def _cmd_worker(args: argparse.Namespace) -> int:
    import signal

    _setup_logging()
    # A stop asked for while the worker is still starting (checking the schema, connecting)
    # is remembered and honoured as soon as the loop can take it, instead of killing it.
    early_stop: list[int] = []
    if not args.once:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, _frame: early_stop.append(signum))

    async def work() -> None:
        from campaigns.runner import install as campaign_runs
        from campaigns.runner import run_due
        from channels.dispatcher import Dispatcher
        from channels.registry import build_channels
        from channels.worker import Worker
        from crm.privacy.retention import install as privacy_jobs
        from crm.referrals.jobs import deliver_webhooks, expire_referrals
        from crm.referrals.jobs import install as referral_jobs
        from crm.transfer.import_jobs import install as import_jobs

        channels = build_channels()
        try:
            if args.once:
                dispatcher = Dispatcher(channels)
                runs = await run_due(dispatcher.worker_id)
                if runs:
                    print(f"{runs} campaign run(s) fanned out")
                sent = await dispatcher.drain(max_seconds=args.max_seconds)
                print(f"{sent} message(s) handled")
                await expire_referrals()
                await deliver_webhooks()
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            if early_stop:
                stop.set()
            await Worker(
                channels, plugins=[campaign_runs, referral_jobs, import_jobs, privacy_jobs]
            ).run_until(stop)
        finally:
            await channels.close()

    _run(_with_db(work))
    return 0


def _cmd_telegram_set_webhook(args: argparse.Namespace) -> int:
    from channels.telegram_cli import set_webhook

    url = asyncio.run(set_webhook())
    print(f"Telegram webhook set to {url}")
    return 0


async def _load_demo_if_empty() -> None:
    from crm.people.models import Lead

    if await Lead.exists():
        _note("demo: the database already holds people; the demo data set is not loaded")
        return
    _note("loading the demo data set…")
    await _load_demo_and_report()


async def _load_demo_and_report() -> None:
    from campaigns.demo import load_demo_campaigns
    from crm.demo import DEMO_PASSWORD, PARTNERS, STAFF, load_demo, partner_user_email

    started = datetime.now(UTC)
    counts = await load_demo()
    counts.update(await load_demo_campaigns())
    seconds = (datetime.now(UTC) - started).total_seconds()
    print(
        "demo data loaded in {:.1f} s: {}".format(
            seconds, ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in counts.items())
        )
    )
    accounts = [f"{s.email} ({s.role.value})" for s in STAFF]
    accounts += [f"{partner_user_email(p)} (partner)" for p in PARTNERS]
    _note(
        f"DEMO ONLY: every demo account has the password {DEMO_PASSWORD!r}; "
        "never use this database for real people. Accounts: " + ", ".join(accounts)
    )


def _cmd_serve(args: argparse.Namespace) -> int:
    from crm.config import settings

    if args.workers > 1 and settings.is_sqlite:
        raise CliError("--workers needs PostgreSQL: an SQLite database is served by one process")

    async def prepare() -> None:
        # SQLite: migrate now. PostgreSQL: migrations run once per deploy (`passerelle
        # migrate`), never from web processes; refuse to start while some are pending.
        await _ensure_schema()
        if args.demo:
            await _with_db(_load_demo_if_empty, ensure_schema=False)

    _run(prepare())

    import uvicorn

    level = _setup_logging()
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "proxy_headers": True,
        "log_level": level,
    }
    # One setting for the proxies: uvicorn believes X-Forwarded-* from those the app trusts.
    trusted = args.forwarded_allow_ips or settings.TRUSTED_PROXIES
    if trusted:
        options["forwarded_allow_ips"] = trusted
    if args.workers > 1:
        uvicorn.run("crm.app:create_app", factory=True, workers=args.workers, **options)
    else:
        from crm.app import create_app

        # On SQLite the worker (outbox dispatcher, scheduler) runs in this process; on
        # PostgreSQL it runs in `passerelle worker` processes.
        run_worker = settings.is_sqlite and not args.no_worker
        uvicorn.run(create_app(run_worker=run_worker), **options)
    return 0


def _read_password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CliError("--password-stdin: standard input holds no password")
        return password
    if sys.stdin.isatty():
        try:
            password = getpass.getpass("Password (leave empty for a token-only user): ")
            if not password:
                return None
            again = getpass.getpass("Password again: ")
        except EOFError:
            raise CliError("no password entered; nothing was created") from None
        if again != password:
            raise CliError("the two passwords differ; nothing was created")
        return password
    return None


def _cmd_createuser(args: argparse.Namespace) -> int:
    password = _read_password(args)
    languages = [p.strip() for p in args.languages.split(",") if p.strip()]

    # Refused before the user is created, not after (set_export_permission would refuse too).
    if args.can_export and Role(args.role) is Role.PARTNER:
        raise CliError("--can-export: partner users never export")

    async def work() -> None:
        from crm.auth import service as auth

        user = await auth.create_user(
            args.email,
            Role(args.role),
            password=password,
            organisation_name=args.org,
            first_name=args.first_name.strip(),
            last_name=args.last_name.strip(),
            languages=languages,
            ui_language=args.ui_language,
            actor=_cli_actor(),
        )
        if args.can_export:
            from crm.transfer.export_permission import set_export_permission

            await set_export_permission(user.email, True, actor=_cli_actor())
        print(f"created {Role(user.role).value} {user.email} (id {user.id})")
        if password is None:
            _note(
                f"no password set: {user.email} cannot sign in with a password; "
                "give them a token with `passerelle token create`"
            )

    return _run(_with_db(work))


def _cmd_token_create(args: argparse.Namespace) -> int:
    async def work() -> None:
        from crm.auth import service as auth
        from crm.auth.models import User
        from crm.config import settings
        from crm.errors import NotFound

        email = args.email.strip().lower()
        user = await User.get_or_none(email=email)
        if user is None:
            raise NotFound(f"no user with e-mail {email}")
        if not user.is_active:
            raise CliError(f"the user {email} is deactivated")
        hours = args.hours or settings.API_TOKEN_TTL_HOURS
        token = await auth.issue_staff_token(user, name=args.name, ttl_hours=hours)
        print(token, flush=True)
        expires = datetime.now(settings.tz) + timedelta(hours=hours)
        _note(
            f"token for {email} ({Role(user.role).value}), valid {hours} h, until "
            f"{expires:%Y-%m-%d %H:%M %Z}; it is shown only once"
        )

    return _run(_with_db(work))


def _cmd_apikey_create(args: argparse.Namespace) -> int:
    async def work() -> None:
        from crm.auth import service as auth
        from crm.config import settings
        from crm.errors import NotFound
        from crm.referrals.models import PartnerOrganisation

        name = args.org.strip()
        org = await PartnerOrganisation.get_or_none(name=name)
        if org is None:
            known = await PartnerOrganisation.all().values_list("name", flat=True)
            similar = [n for n in known if n.casefold() == name.casefold()]
            similar = similar or difflib.get_close_matches(name, known, n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr(n) for n in similar)}?" if similar else ""
            raise NotFound(f"no partner organisation named {name!r}{hint}", field="org")
        if not org.active:
            raise CliError(
                f"the partner organisation {org.name!r} is inactive: its keys would be refused"
            )
        key = await auth.create_partner_key(
            org, name=args.name.strip(), expires_days=args.expires_days, actor=_cli_actor()
        )
        print(key, flush=True)
        expires = datetime.now(settings.tz) + timedelta(days=args.expires_days)
        _note(
            f"API key for {org.name} (label {args.name.strip() or '-'}), valid until "
            f"{expires:%Y-%m-%d}; it is shown only once: store it now"
        )

    return _run(_with_db(work))


def _cmd_demo(args: argparse.Namespace) -> int:
    return _run(_with_db(_load_demo_and_report))


def _cmd_reports_rebuild(args: argparse.Namespace) -> int:
    async def work() -> None:
        from crm.people import pathway
        from crm.people.models import Lead

        changed = await pathway.rebuild()
        total = await Lead.all().count()
        print(f"pathway milestones rebuilt from the stage log: {changed} of {total} people changed")

    return _run(_with_db(work))


def _cmd_privacy_retention(args: argparse.Namespace) -> int:
    async def work() -> None:
        from crm.privacy.retention import run_retention

        run = await run_retention()
        print(", ".join(f"{name.replace('_', ' ')}: {n}" for name, n in run.as_dict().items()))

    return _run(_with_db(work))


def _add_import_commands(commands: Any) -> None:
    from crm.transfer.import_cli import add_import_commands

    add_import_commands(commands)


def _add_export_commands(commands: Any) -> None:
    from crm.transfer.export_cli import add_export_commands

    add_export_commands(commands)


# ---- entry point --------------------------------------------------------------------------------


def _show_warning(
    message: Any,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    print(f"warning: {_one_line(str(message))}", file=sys.stderr)


def _describe(exc: BaseException) -> str | None:
    """One line for an error we expect, None for one we do not."""
    from pydantic import ValidationError
    from tortoise.exceptions import BaseORMException, IntegrityError

    from crm.errors import DomainError

    if isinstance(exc, CliError):
        return str(exc)
    if isinstance(exc, DomainError):
        first_word = exc.message.split(" ", 1)[0]
        if exc.field and first_word in ("is", "must", "cannot", "should", "was", "has"):
            return f"{_OPTION_NAMES.get(exc.field, exc.field)}: {exc.message}"
        return exc.message
    if isinstance(exc, IntegrityError):
        return "conflicts with an existing record (a unique value is already used)"
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
        )
    module = type(exc).__module__.split(".")[0]
    if isinstance(exc, (BaseORMException, OSError)) or module in (
        "asyncpg",
        "sqlite3",
        "aiosqlite",
    ):
        from crm.config import settings

        return f"database {_redacted(settings.DATABASE_URL)}: {exc or type(exc).__name__}"
    if isinstance(exc, ValueError):
        return str(exc)
    return None


def main(argv: list[str] | None = None) -> int:
    warnings.showwarning = _show_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        from crm.config import settings  # noqa: F401 - reads and checks the configuration
    except Exception as exc:  # noqa: BLE001 - a bad setting is bad input, not a crash
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):
            details = "; ".join(
                ("".join(f"{p}: " for p in e["loc"][:1]))
                + str(e["msg"]).removeprefix("Value error, ")
                for e in exc.errors()
            )
            _err(f"configuration: {details}")
            return EXIT_ERROR
        raise
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - every error ends in one line, see below
        if args.traceback:
            raise
        message = _describe(exc)
        if message is None:
            message = (
                f"unexpected {type(exc).__name__}: {exc} "
                "(run `passerelle --traceback …` for details)"
            )
        _err(message)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
