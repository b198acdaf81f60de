"""The "bare FastAPI endpoint" every bench compares the app with.

Same framework, same server settings, no database, no auth: what FastAPI + pydantic + uvicorn
cost on this machine under the same load. Started by bench/common.py with
`uvicorn bench.bare_app:create_app --factory`, exactly like the real app.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count
from typing import Annotated, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
OptName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    purpose: Literal["sms", "telegram", "email", "share_with_partners"]
    granted: bool
    method: Code = "verbal"
    text_version: Code | None = None


class BareLeadIn(BaseModel):
    """A body shaped like POST /api/v1/leads (same fields the bench sends)."""

    model_config = ConfigDict(extra="forbid")
    first_name: Name
    last_name: OptName | None = None
    phone: Phone | None = None
    email: Annotated[str, StringConstraints(max_length=254)] | None = None
    language: Literal["fr", "nl", "de"] | None = None
    postcode: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10)] | None = None
    gender: Literal["female", "male", "other", "undisclosed"] | None = None
    birth_year: int | None = Field(None, ge=1900, le=2100)
    stage: Literal["reached", "lead", "contacted"] = "reached"
    segments: list[Code] | None = Field(None, max_length=30)
    consents: list[ConsentIn] = Field(default_factory=list, max_length=10)


class BareLeadOut(BareLeadIn):
    id: int
    created_at: datetime
    duplicate: bool = False


def create_app() -> FastAPI:
    app = FastAPI(title="bare")
    ids = count(1)
    stages = ("reached", "lead", "contacted", "info_session")
    languages = ("fr", "nl", "de")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/bare/leads", response_model=BareLeadOut, status_code=201)
    async def create(data: BareLeadIn) -> BareLeadOut:
        return BareLeadOut(**data.model_dump(), id=next(ids), created_at=datetime.now(UTC))

    @app.get("/bare/leads")
    async def listing(limit: int = 50) -> dict[str, object]:
        limit = max(1, min(limit, 500))
        items = [
            {"id": i, "first_name": f"Person {i}", "stage": stages[i % 4],
             "language": languages[i % 3], "postcode": str(1000 + i)}
            for i in range(limit)
        ]
        return {"items": items, "total": 100_000}

    return app
