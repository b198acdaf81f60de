"""Shapes shared by every API: pages of results."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import AfterValidator, BaseModel

from crm.config import settings

T = TypeVar("T")

MAX_PAGE = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int


class PageParams(BaseModel):
    limit: int = 50
    offset: int = 0


async def page_params(  # async: no thread-pool hop per request
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="at most 500")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


def _assume_local(value: datetime) -> datetime:
    # A time without an offset is read in the business time zone, as a person would mean it.
    return value if value.tzinfo else value.replace(tzinfo=settings.tz)


LocalDatetime = Annotated[datetime, AfterValidator(_assume_local)]
