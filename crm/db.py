"""The one place that knows the database: Tortoise config, start-up and migrations."""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import tortoise.backends.sqlite.executor  # noqa: F401  (registers its adapters; ours below win)
from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.exceptions import DBConnectionError
from tortoise.fields import DatetimeField
from tortoise.migrations.executor import MigrationExecutor

from crm.config import settings

log = logging.getLogger(__name__)

APP_LABEL = "crm"
MODEL_MODULES = [
    "crm.auth.models",
    "crm.referrals.models",
    "crm.people.models",
    "crm.outreach.models",
    "crm.stories.models",
    "crm.audit.models",
    "crm.transfer.models",
    "crm.reports.models",
    "crm.privacy.models",
    "channels.models",
    "campaigns.models",
]
MIGRATIONS_MODULE = "migrations"


def _utc_text(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.isoformat(" ")


# SQLite keeps datetimes as text and compares them as text, so every value must carry the same
# offset: "2026-11-29 08:00:00+01:00" sorts after "2026-11-29 07:30:00+00:00" though it is
# earlier. Tortoise's adapter writes a value's own offset (a time typed in Brussels time kept
# +01:00, and a filter bound in Brussels time compared wrong); this one writes UTC, as every
# other path already did. Applies to inserts, updates, filters and raw SQL parameters alike.
sqlite3.register_adapter(datetime, _utc_text)

# Applied to every SQLite connection unless the URL says otherwise: wait for a lock instead of
# failing at once when the worker and the web app write together.
_SQLITE_DEFAULT_PRAGMAS = {"busy_timeout": "10000", "synchronous": "NORMAL"}
# PostgreSQL: how long to wait for a new connection before giving up (asyncpg's default: 60 s).
CONNECT_TIMEOUT_SECONDS = 10


def _with_query(url: str, extra: dict[str, str], *, override: bool = False) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for key, value in extra.items():
        if override or key not in query:
            query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def database_url(url: str | None = None) -> str:
    url = url or settings.DATABASE_URL
    if url.startswith("sqlite"):
        # `sqlite:////abs/path.db` (the SQLAlchemy habit) would reach SQLite as `//abs/path.db`,
        # which it fails to open in WAL mode, and tortoise 1.1.9 then hangs: one slash it is.
        scheme, rest = url.split("://", 1)
        url = f"{scheme}://" + ("/" + rest.lstrip("/") if rest.startswith("//") else rest)
        return _with_query(url, _SQLITE_DEFAULT_PRAGMAS)
    return url


async def _release_connection(connection: Any) -> None:
    # asyncpg's default reset runs `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`
    # on every release: a round trip per statement outside a transaction. Passerelle sets no
    # session state, locks, cursors or listeners; it only must never hand out a connection
    # left inside a transaction.
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


def _connection(url: str) -> str | dict[str, Any]:
    if not url.startswith(("postgres", "asyncpg")):
        return url
    config = expand_db_url(url)
    credentials = config["credentials"]
    # A pool a little larger than Tortoise's default of 5, so that concurrent requests of one
    # web process do not queue for a connection.
    credentials.setdefault("maxsize", 10)
    if config["engine"].endswith("asyncpg"):
        credentials["reset"] = _release_connection
        # asyncpg waits 60 s for a connection by default: with the server unreachable, a
        # request (or /healthz) would hang that long before it could answer 503.
        credentials.setdefault("timeout", CONNECT_TIMEOUT_SECONDS)
    return config


def tortoise_config(
    url: str | None = None,
    *,
    models: list[str] | None = None,
    migrations: str = MIGRATIONS_MODULE,
) -> dict[str, Any]:
    return {
        "connections": {"default": _connection(database_url(url))},
        "apps": {
            APP_LABEL: {
                "models": list(models or MODEL_MODULES),
                "default_connection": "default",
                "migrations": migrations,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def __getattr__(name: str) -> Any:
    # `tortoise` CLI entry ([tool.tortoise] in pyproject.toml), evaluated lazily so that it
    # follows the environment of the command that runs it.
    if name == "TORTOISE_ORM":
        return tortoise_config()
    raise AttributeError(name)


def is_postgres(connection: Any = None) -> bool:
    """Whether the (default) connection is PostgreSQL, for the few hand-written statements."""
    return (connection or connections.get("default")).capabilities.dialect == "postgres"


class Sql:
    """A statement's parameters, written with PostgreSQL's `$n` (see numbered_sql)."""

    def __init__(self) -> None:
        self.params: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"


def numbered_sql(text: str, connection: Any = None) -> str:
    """A statement written with PostgreSQL's `$1, $2…` parameters, for either engine (SQLite
    reads the same numbers as `?1, ?2…`)."""
    return text if is_postgres(connection) else text.replace("$", "?")


async def init_db(url: str | None = None) -> None:
    # The ASGI lifespan runs in its own task; requests run in others: they find the ORM
    # through Tortoise's global fallback context.
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)


async def close_db() -> None:
    await Tortoise.close_connections()


async def ping() -> bool:
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - health check reports any failure as "down"
        if is_unavailable(exc):  # expected while the server restarts: one line, no traceback
            log.warning("database ping failed: %s", describe_unavailable(exc))
        else:
            log.exception("database ping failed")
        return False
    return True


# ---- the database down or restarting -------------------------------------------------------

# What asyncpg raises when the server cannot be used right now, whatever the query: not
# reachable (08xxx), shutting down or starting up (57P01-57P03), out of connection slots; and
# its "internal client error" of a connection whose server ended it in the middle of a
# statement ("cannot switch to state 12; another operation is in progress", seen during
# `pg_ctl restart -m fast`): another connection does the same statement fine.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    DBConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InternalClientError,
)
# The exception types to hand to `is_unavailable` (for exception handlers that dispatch on
# the type): the ones above, asyncpg's "connection is closed" and socket errors.
UNAVAILABLE_TYPES: tuple[type[BaseException], ...] = (
    *_UNAVAILABLE,
    asyncpg.InterfaceError,
    OSError,
)


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says the database server cannot be reached or used
    right now: down, restarting, refusing connections. Such a failure is nobody's bug and
    goes away by itself: callers answer 503 or wait and try again. A socket error counts only
    when it was raised inside the database driver (an HTTP call to a provider fails with
    socket errors too)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _UNAVAILABLE):
            return True
        if isinstance(current, asyncpg.InterfaceError) and "closed" in str(current):
            return True  # "connection is closed", "pool is closed"
        if isinstance(current, OSError) and _raised_in_driver(current):
            return True  # refused, reset, unreachable, connect timeout
        current = current.__cause__ or current.__context__
    return False


def _raised_in_driver(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.startswith(("asyncpg.", "tortoise.backends.")):
            return True
        tb = tb.tb_next
    return False


def describe_unavailable(exc: BaseException) -> str:
    """One line for the logs: the exception's type and message, without a traceback."""
    return f"{type(exc).__name__}: {exc}"[:300]


class _OneLineWhenUnavailable(logging.Filter):
    """asyncpg's pool keeps reconnecting on its own while the server is down, and logs a
    20-line traceback each time ("Failed to restore the pool connection floor"): one line
    with the reason says as much."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and is_unavailable(exc):
            record.msg = f"{record.getMessage()} ({describe_unavailable(exc)})"
            record.args = ()
            record.exc_info = record.exc_text = None
        return True


logging.getLogger("asyncpg.pool").addFilter(_OneLineWhenUnavailable())


class MigrationIntegrityError(RuntimeError):
    pass


async def run_migrations(
    url: str | None = None,
    *,
    models: list[str] | None = None,
    migrations: str = MIGRATIONS_MODULE,
    target: str | None = None,
    progress: Callable[[str, str, str], object] | None = None,
) -> None:
    """Apply pending migrations (or move to `target`, a migration name).

    SQLite rebuilds a table (CREATE new, copy, DROP old, rename) to alter a column. With
    foreign keys enforced, the DROP cascades into every child table and silently deletes their
    rows. So on SQLite the migrating connection runs with `foreign_keys=OFF`, and afterwards
    `PRAGMA foreign_key_check` proves that every reference still resolves. The same rebuild
    drops the table's indexes (tortoise 1.1.9 does not create them again): once the history is
    fully applied, every index the models declare and the database lacks is created.
    """
    url = database_url(url)
    is_sqlite = url.startswith("sqlite")
    if is_sqlite:
        url = _with_query(url, {"foreign_keys": "OFF"}, override=True)
    config = tortoise_config(url, models=models, migrations=migrations)
    await Tortoise.init(config=config)
    try:
        connection = connections.get("default")
        executor = MigrationExecutor(connection, config["apps"])
        targets = None
        if target:
            from tortoise.migrations.executor import MigrationTarget

            targets = [MigrationTarget(app_label=APP_LABEL, name=target)]
        await executor.migrate(targets, progress=progress)
        if is_sqlite:
            broken = await connection.execute_query_dict("PRAGMA foreign_key_check")
            if broken:
                raise MigrationIntegrityError(
                    f"foreign key check failed after migrating: {broken[:5]}"
                )
            if target is None:
                for name in await restore_indexes(connection):
                    log.warning("index %s was missing after migrating: created", name)
                if rewritten := await utc_datetimes(connection):
                    log.warning(
                        "%d datetimes stored with a local offset: rewritten in UTC", rewritten
                    )
    finally:
        await Tortoise.close_connections()


_INDEX_DDL = re.compile(r'CREATE (?:UNIQUE )?INDEX IF NOT EXISTS "(?P<name>[^"]+)"')


def declared_indexes(connection: Any) -> dict[str, str]:
    """Every index the models declare, by name, with its `CREATE … IF NOT EXISTS` statement
    (from tortoise's own schema generator, so the names are the ones migrations give)."""
    from tortoise.utils import get_schema_sql

    found = {}
    for statement in get_schema_sql(connection, safe=True).split(";"):
        statement = statement.strip()
        if match := _INDEX_DDL.match(statement):
            found[match["name"]] = statement
    return found


async def existing_indexes(connection: Any) -> set[str]:
    if connection.capabilities.dialect == "postgres":
        query = "SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema()"
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'index'"
    return {row["name"] for row in await connection.execute_query_dict(query)}


async def restore_indexes(connection: Any) -> list[str]:
    """Create the declared indexes the database lacks; their names."""
    have = await existing_indexes(connection)
    missing = {n: ddl for n, ddl in declared_indexes(connection).items() if n not in have}
    for ddl in missing.values():
        await connection.execute_script(ddl)
    return sorted(missing)


# A value written with another offset (or none), rewritten in UTC; sub-second digits kept. A
# value SQLite cannot read as a time is left as it is rather than nulled.
_UTC_REWRITE = """
UPDATE "{table}" SET "{column}" = strftime('%Y-%m-%d %H:%M:%S', "{column}")
    || CASE WHEN instr("{column}", '.') > 0 THEN substr("{column}", instr("{column}", '.'), 7)
       ELSE '' END || '+00:00'
WHERE "{column}" IS NOT NULL AND "{column}" NOT LIKE '%+00:00'
    AND strftime('%Y-%m-%d %H:%M:%S', "{column}") IS NOT NULL"""


async def utc_datetimes(connection: Any) -> int:
    """On SQLite, rewrite in UTC the datetimes written with a local offset before the adapter
    above existed (text comparison needs one offset). Returns how many values changed."""
    changed = 0
    for app in Tortoise.apps.values():
        for model in app.values():
            meta = model._meta
            for field in meta.fields_map.values():
                if isinstance(field, DatetimeField):
                    column = field.source_field or field.model_field_name
                    sql = _UTC_REWRITE.format(table=meta.db_table, column=column)
                    count, _ = await connection.execute_query(sql)
                    changed += count or 0
    return changed


async def pending_migrations(url: str | None = None) -> list[str]:
    config = tortoise_config(url)
    await Tortoise.init(config=config)
    try:
        executor = MigrationExecutor(connections.get("default"), config["apps"])
        steps = await executor.plan(None)
        return [step.migration.name for step in steps if not step.backward]
    finally:
        await Tortoise.close_connections()
