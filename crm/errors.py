"""Domain errors and the JSON error shape: `{"detail": …}` naming the field and the problem."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from tortoise.exceptions import IntegrityError
from tortoise.exceptions import ValidationError as ModelValidationError

from crm.db import UNAVAILABLE_TYPES, describe_unavailable, is_unavailable

log = logging.getLogger(__name__)

# Seconds a client is asked to wait while the database is unavailable (a restart takes a few).
DATABASE_RETRY_AFTER_SECONDS = 5


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def detail(self) -> Any:
        if self.field:
            return [{"field": self.field, "msg": self.message, "loc": self.field.split(".")}]
        return self.message


class InvalidInput(DomainError):
    status_code = 422


class NotFound(DomainError):
    status_code = 404


class Forbidden(DomainError):
    status_code = 403


class Conflict(DomainError):
    status_code = 409


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail()}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            loc = err.get("loc", ())
            msg = err.get("msg", "invalid")
            if err.get("type") == "json_invalid":
                msg = "malformed JSON: " + str(err.get("ctx", {}).get("error", msg))
            errors.append({"field": _field_name(loc), "msg": msg, "loc": list(loc)})
        return JSONResponse({"detail": errors}, status_code=422)

    async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        # The database is down or restarting: nothing was done, and the caller (a browser, a
        # partner's system, Twilio, which retries anything but a 2xx) should try again in a
        # moment. A 500 would read as a bug. Any other error of these types is re-raised and
        # stays a 500.
        if not is_unavailable(exc):
            raise exc
        log.warning("database unavailable: %s", describe_unavailable(exc))
        return JSONResponse(
            {"detail": "the database is unavailable, try again shortly"},
            status_code=503,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )

    for kind in UNAVAILABLE_TYPES:
        app.add_exception_handler(kind, _database_unavailable)

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        # A concurrent write beat this one to a unique value; nothing was stored.
        log.warning("integrity error: %s", exc)
        return JSONResponse(
            {"detail": "conflicts with an existing record (a unique value is already used)"},
            status_code=409,
        )

    @app.exception_handler(ModelValidationError)
    async def _model_validation(_: Request, exc: ModelValidationError) -> JSONResponse:
        # A value the model's field refuses (too long for its column…) that no schema caught
        # first, in a filter or a write: bad input, not a server error. Tortoise says
        # "<field>: <problem>".
        field, _, msg = str(exc).partition(": ")
        if not msg:
            field, msg = "body", str(exc)
        return JSONResponse(
            {"detail": [{"field": field, "msg": msg, "loc": [field]}]}, status_code=422
        )
