"""Rates, quiet hours and retries: the rules the dispatcher keeps, tested on their own."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime

import pytest

from channels import outbox
from channels.dispatcher import Dispatcher, backoff
from channels.hours import in_office_hours, in_quiet_hours, next_opening, quiet_hours_end
from channels.models import Channel, MessageKind, OutboxStatus
from channels.ratelimit import ChatGate, WindowLimiter
from crm.config import reload_settings, settings
from crm.people.models import ConsentPurpose, ConsentSource
from crm.people.schemas import ConsentIn
from crm.people.service import record_consent


def _max_in_any_window(times: list[tuple[float, float]], window: float = 1.0) -> float:
    """The most units started within any `window` seconds (a window opens at each start)."""
    times = sorted(times)
    best = 0.0
    for i, (start, _) in enumerate(times):
        best = max(best, sum(u for t, u in times[i:] if t < start + window))
    return best


async def test_window_limiter_never_exceeds_the_rate_in_any_second():
    limiter = WindowLimiter(20)
    starts: list[tuple[float, float]] = []

    async def one(units: int) -> None:
        ticket = await limiter.acquire(units)
        ticket.done()
        starts.append((time.monotonic(), units))

    await asyncio.gather(*(one(1 if i % 5 else 3) for i in range(60)))
    assert _max_in_any_window(starts) <= 20
    span = max(t for t, _ in starts) - min(t for t, _ in starts)
    sent = sum(u for _, u in starts)
    # …and it does not dawdle: each second's worth starts as soon as the window allows.
    assert span <= (math.ceil(sent / 20) - 1) * 1.1


async def test_a_message_larger_than_a_second_of_rate_waits_its_turn():
    limiter = WindowLimiter(5)
    t0 = time.monotonic()
    (await limiter.acquire(11)).done()  # an 11-segment SMS at 5 segments/s
    (await limiter.acquire(1)).done()
    assert time.monotonic() - t0 >= 2.0


async def test_retry_after_pauses_the_limiter():
    limiter = WindowLimiter(100)
    limiter.pause(0.3)
    t0 = time.monotonic()
    await limiter.acquire(1)
    assert time.monotonic() - t0 >= 0.29


async def test_a_unit_counts_from_when_it_left_not_when_it_was_granted():
    limiter = WindowLimiter(2)
    first = await limiter.acquire(1)
    second = await limiter.acquire(1)
    second.done()
    await asyncio.sleep(0.3)  # the first request was slow to leave (a new connection)
    first.stamp()
    t0 = time.monotonic()
    (await limiter.acquire(1)).done()
    # The third waits a full second after the second left, and then the first's second ends
    # 0.3 s later: the window never holds three.
    assert time.monotonic() - t0 >= 0.65
    late = time.monotonic()
    (await limiter.acquire(1)).done()
    assert time.monotonic() - late >= 0.25


async def test_one_chat_gets_at_most_one_message_per_second():
    gate = ChatGate()
    stamps: dict[str, list[float]] = {"a": [], "b": []}

    async def one(chat: str) -> None:
        async with gate.turn(chat) as left_at:
            now = time.monotonic()
            stamps[chat].append(now)
            left_at(now)

    await asyncio.gather(*(one(c) for c in ["a", "a", "a", "b", "b"]))
    for chat, times in stamps.items():
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert all(g >= 1.0 for g in gaps), (chat, gaps)
    # Another chat is not held up by the first one.
    assert stamps["b"][0] - stamps["a"][0] < 0.1


def test_backoff_doubles_and_is_capped():
    reload_settings(OUTBOX_RETRY_BASE_SECONDS=10, OUTBOX_RETRY_MAX_SECONDS=60)
    try:
        assert 8 <= backoff(1) <= 12
        assert 16 <= backoff(2) <= 24
        assert 48 <= backoff(10) <= 72
    finally:
        reload_settings()


@pytest.mark.parametrize(
    ("window", "local", "quiet"),
    [
        ("20:00-09:00", "2026-11-23T21:30", True),
        ("20:00-09:00", "2026-11-23T08:59", True),
        ("20:00-09:00", "2026-11-23T09:00", False),
        ("12:00-14:00", "2026-11-23T13:00", True),
        ("", "2026-11-23T03:00", False),
    ],
)
def test_quiet_hours_in_the_business_time_zone(window, local, quiet):
    reload_settings(QUIET_HOURS=window)
    try:
        at = datetime.fromisoformat(local).replace(tzinfo=settings.tz)
        assert in_quiet_hours(at) is quiet
        end = quiet_hours_end(at)
        assert (end > at) is quiet
    finally:
        reload_settings()


def test_next_opening_skips_the_weekend():
    reload_settings(OFFICE_HOURS="09:00-17:00", OFFICE_DAYS="1-5")
    try:
        friday_evening = datetime(2026, 11, 27, 18, 0, tzinfo=settings.tz)
        assert not in_office_hours(friday_evening)
        opening = next_opening(friday_evening).astimezone(settings.tz)
        assert (opening.isoweekday(), opening.hour) == (1, 9)
        assert in_office_hours(datetime(2026, 11, 23, 10, 0, tzinfo=settings.tz))
    finally:
        reload_settings()


async def test_campaign_messages_wait_for_the_end_of_quiet_hours_replies_do_not(
    dispatcher, make_lead, twilio_standin
):
    now = datetime.now(settings.tz)
    current = settings.model_dump()
    # A quiet window around now.
    current["QUIET_HOURS"] = f"{(now.hour - 1) % 24:02d}:00-{(now.hour + 2) % 24:02d}:00"
    reload_settings(**current)
    lead = await make_lead()
    await record_consent(
        lead,
        ConsentIn(purpose=ConsentPurpose.SMS, granted=True, method="checkbox"),
        source=ConsentSource.EVENT,
        actor=None,
    )
    campaign, _ = await outbox.enqueue(
        lead,
        Channel.SMS,
        "Info session!",
        kind=MessageKind.CAMPAIGN,
        idempotency_key="c1",
        campaign_id=7,
    )
    reply, _ = await outbox.enqueue(
        lead, Channel.SMS, "Yes, see you", kind=MessageKind.REPLY, idempotency_key="r1"
    )
    await dispatcher.drain()
    await campaign.refresh_from_db()
    await reply.refresh_from_db()
    assert reply.status == OutboxStatus.SENT
    assert campaign.status == OutboxStatus.QUEUED  # held, not dropped
    current["QUIET_HOURS"] = ""
    reload_settings(**current)
    await dispatcher.drain()
    await campaign.refresh_from_db()
    assert campaign.status == OutboxStatus.SENT
    assert [m["body"] for m in twilio_standin.messages()] == ["Yes, see you", "Info session!"]


async def test_retryable_failures_give_up_after_the_limit_with_the_reason(
    app, make_lead, twilio_standin
):
    current = settings.model_dump()
    current["OUTBOX_MAX_ATTEMPTS"] = 3
    reload_settings(**current)
    dispatcher = Dispatcher(app.state.channels, sms_rate=1000)
    lead = await make_lead()
    twilio_standin.add_faults(lead.phone, [{"status": 500}], sticky=True)
    row, _ = await outbox.enqueue(
        lead, Channel.SMS, "x", kind=MessageKind.REPLY, idempotency_key="k"
    )
    for _ in range(40):
        await dispatcher.drain()
        await row.refresh_from_db()
        if row.status == OutboxStatus.FAILED:
            break
        await asyncio.sleep(0.05)
    assert row.status == OutboxStatus.FAILED and row.attempts == 3
    assert "gave up after 3 tries" in row.error_reason


async def test_console_channel_records_and_never_drops():
    # No credentials: the embedded default, with the worker inside the web process (`serve`).
    from asgi_lifespan import LifespanManager

    from crm.app import create_app
    from crm.people.models import Lead, LeadSource
    from tests.conftest import DATABASE_URL, truncate_all

    reload_settings()
    application = create_app(database_url=DATABASE_URL, run_worker=True)
    async with LifespanManager(application):
        await truncate_all()
        lead = await Lead.create(first_name="Awa", phone="+32470000001", source=LeadSource.SMS)
        row, _ = await outbox.enqueue(
            lead, Channel.SMS, "Bonjour", kind=MessageKind.REPLY, idempotency_key="console"
        )
        application.state.dispatcher.wake()
        for _ in range(100):
            await row.refresh_from_db()
            # `sending` is the short-lived state between the claim and the outcome.
            if row.status not in (OutboxStatus.QUEUED, OutboxStatus.SENDING):
                break
            await asyncio.sleep(0.1)
    assert row.status == OutboxStatus.SENT and row.provider == "console"
    assert row.provider_id == f"console-{row.id}"


def test_now_is_utc():
    assert outbox.now().tzinfo is UTC


async def test_messages_to_one_chat_queued_at_different_times_still_take_turns():
    gate = ChatGate()
    left: list[float] = []

    async def one(delay: float) -> None:
        await asyncio.sleep(delay)
        async with gate.turn("chat") as left_at:
            now = time.monotonic()
            left.append(now)
            left_at(now)

    # Later arrivals come while earlier ones hold or have just handed over the turn.
    await asyncio.gather(*(one(d) for d in (0, 0, 0.01, 0.5, 1.02, 1.03)))
    left.sort()
    assert all(b - a >= 1.0 for a, b in zip(left, left[1:], strict=False)), left
