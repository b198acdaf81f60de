"""Campaign tests: the real app, the channel stand-ins of tests/channels, and helpers that build
an audience with its consents and drive runs with a clock the test controls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from campaigns import runner
from channels.models import Channel
from crm.enums import Role
from crm.people.models import ConsentPurpose, ConsentRecord, ConsentSource, Lead
from tests.channels.conftest import (  # noqa: F401, F811 - fixtures shared with the channel tests
    app,
    dispatcher,
    make_lead,
    providers,
    telegram_standin,
    twilio_standin,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
async def marketing(app, make_caller):  # noqa: F811
    return await make_caller(Role.MARKETING, first_name="Mia")


async def grant(lead: Lead, *channels: Channel | str, granted: bool = True, at=None) -> None:
    for channel in channels:
        await ConsentRecord.create(
            lead=lead,
            purpose=ConsentPurpose(str(channel)),
            granted=granted,
            source=ConsentSource.EVENT,
            method="checkbox",
            recorded_at=at or datetime.now(UTC) - timedelta(days=1),
        )


@pytest.fixture
def person(make_lead) -> Callable[..., Awaitable[Lead]]:  # noqa: F811
    """A person with SMS consent (and Telegram consent when they have a chat)."""

    async def _make(*, consent: bool = True, **fields: Any) -> Lead:
        lead = await make_lead(**fields)
        if consent:
            await grant(lead, Channel.SMS)
            if lead.telegram_chat_id is not None:
                await grant(lead, Channel.TELEGRAM)
        return lead

    return _make


def soon(minutes: int = 5) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


async def run_at(moment: datetime, worker: str = "test-worker") -> int:
    """One worker tick as if the clock said `moment`."""
    return await runner.run_due(worker, now=moment)
