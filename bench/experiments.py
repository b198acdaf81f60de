"""What-if runs: the real app with candidate fixes applied as monkeypatches at start-up.

NOT the app as shipped. `--patches a,b` on a bench starts the server with
`uvicorn bench.experiments:create_app --factory` and BENCH_PATCHES=a,b, so a proposed fix can
be measured before anyone edits the application. Each patch names the change it stands for.

  noreset     asyncpg returns a pooled connection without its reset round trip
              (SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL) after every
              statement run outside a transaction. Fix: a Connection subclass whose
              get_reset_query() returns "" passed as `connection_class` in crm/db.py
              (the app sets no session state, no LISTEN, no advisory locks).
  pool=N      Tortoise's asyncpg pool holds N connections instead of 5 (`?maxsize=N`).
  authcache   resolve_bearer's answer is kept 30 s per token hash in the process
              (3 queries per request -> 0 on a hit). Fix in crm/auth/service.py.
  asyncpage   crm.schemas.page_params as `async def`: FastAPI runs a plain `def` dependency
              in a worker thread for every request.
  nocount     list_leads without its COUNT(*) (total = -1): measures what the count costs.
"""

import os
import time
from typing import Annotated, Any


def _noreset() -> None:
    import asyncpg.connection

    asyncpg.connection.Connection.get_reset_query = lambda self: ""  # type: ignore[method-assign]


def _pool(size: str) -> None:
    from crm import db

    original = db.database_url

    def database_url(url: str | None = None) -> str:
        value = original(url)
        if value.startswith(("postgres", "asyncpg")):
            value = db._with_query(value, {"maxsize": size, "minsize": size}, override=True)
        return value

    db.database_url = database_url  # type: ignore[assignment]


def _authcache() -> None:
    from crm.auth import deps, service

    original = service.resolve_bearer
    cache: dict[str, tuple[float, Any]] = {}

    async def resolve_bearer(secret: str) -> Any:
        now = time.monotonic()
        hit = cache.get(secret)
        if hit and hit[0] > now:
            return hit[1]
        actor = await original(secret)
        if actor is not None:
            if len(cache) > 10_000:
                cache.clear()
            cache[secret] = (now + 30, actor)
        return actor

    deps.resolve_bearer = resolve_bearer  # type: ignore[assignment]


def _asyncpage() -> None:
    # (no `from __future__ import annotations` in this module: FastAPI must see these
    # annotations as objects, not strings to resolve in this module's globals)
    from fastapi import Query

    from crm import schemas

    async def page_params(
        limit: Annotated[int, Query(ge=1, le=schemas.MAX_PAGE, description="at most 500")] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> schemas.PageParams:
        return schemas.PageParams(limit=limit, offset=offset)

    schemas.page_params = page_params  # type: ignore[assignment]


def _nocount() -> None:
    from crm.people import service

    async def list_leads(actor: Any, f: Any, *, limit: int, offset: int) -> tuple[list, int]:
        qs = service.filtered_leads(actor, f)
        rows = await qs.order_by("-created_at", "-id").offset(offset).limit(limit)
        return rows, -1

    service.list_leads = list_leads  # type: ignore[assignment]


PATCHES = {"noreset": _noreset, "authcache": _authcache, "asyncpage": _asyncpage,
           "nocount": _nocount}


def apply(names: str) -> "list[str]":
    applied = []
    for name in filter(None, (n.strip() for n in names.split(","))):
        key, _, value = name.partition("=")
        if key == "pool":
            _pool(value or "10")
        elif key in PATCHES:
            PATCHES[key]()
        else:
            raise ValueError(f"unknown patch {name!r}; known: pool=N, {', '.join(PATCHES)}")
        applied.append(name)
    return applied


def create_app() -> Any:
    # Patches go in before crm.app.create_app imports the routers, so that names bound at
    # import time (page_params in the routes) see them.
    apply(os.environ.get("BENCH_PATCHES", ""))
    from crm.app import create_app as real_create_app

    return real_create_app()
