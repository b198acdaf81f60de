"""Hand-written SQL for the hot paths (outbox claims, inbound messages), on both engines.

Statements are written with PostgreSQL's numbered placeholders `$1, $2…`; SQLite reads the same
numbers as `?1, ?2…`, so a parameter can be used twice or out of order on both."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from tortoise import connections

_DOLLAR = re.compile(r"\$(\d+)")


def is_postgres() -> bool:
    return connections.get("default").capabilities.dialect == "postgres"


def sql(text: str) -> str:
    return text if is_postgres() else _for_sqlite(text)


@lru_cache(maxsize=512)
def _for_sqlite(text: str) -> str:
    # Hot statements are the same strings again and again: rewrite each once.
    return _DOLLAR.sub(r"?\1", text)


async def rows(text: str, params: list[Any]) -> list[dict[str, Any]]:
    return await connections.get("default").execute_query_dict(sql(text), params)


async def tuples(text: str, params: list[Any]) -> list[Any]:
    """The driver's own rows (sqlite3.Row, asyncpg Record): read by position or by column
    name, without a dict copy each. For reads of thousands of rows on a hot path."""
    _, found = await connections.get("default").execute_query(sql(text), params)
    return list(found)


async def execute(text: str, params: list[Any]) -> int:
    count, _ = await connections.get("default").execute_query(sql(text), params)
    return count
