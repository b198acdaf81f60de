"""Rate limits the providers impose, kept on our side so that no message is refused for speed.

`WindowLimiter` is a sliding-window log: the units (SMS segments, Telegram messages) that reach
the provider within any one second never exceed the rate. What counts is when a request
actually leaves, not when the dispatcher decided to send it: the first requests of a burst
each open a connection first and leave tens of milliseconds late, which would crowd the next
second. So each grant is a `Ticket` that is stamped when the request's headers are written (an
aiohttp trace hook that both provider clients carry, found through a context variable); a unit
granted but not yet sent holds its place in the window until then. A small `margin` covers the
way from our socket to the provider's clock.

`ChatGate` spaces messages to one Telegram chat at least a second apart."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Any

import aiohttp

# The stamp of the message being sent by the current task (set by the dispatcher).
SEND_STAMP: ContextVar[Callable[[], None] | None] = ContextVar("send_stamp", default=None)


async def _on_request_sent(_session: Any, _context: SimpleNamespace, _params: Any) -> None:
    stamp = SEND_STAMP.get()
    if stamp is not None:
        stamp()


def send_time_trace() -> aiohttp.TraceConfig:
    """The hook provider HTTP sessions carry, so the limiter knows when a request left: aiohttp
    may hold the headers back until the body goes, so the last of these moments counts."""
    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(_on_request_sent)
    trace.on_request_chunk_sent.append(_on_request_sent)
    return trace


class Ticket:
    __slots__ = ("units", "at", "sent")

    def __init__(self, units: float, at: float) -> None:
        self.units = units
        self.at = at  # when it left (or was granted, until it leaves)
        self.sent = False

    def stamp(self) -> None:
        """(More of) the request leaves now: the latest moment counts."""
        self.at = time.monotonic()
        self.sent = True

    def done(self) -> None:
        # A request that never wrote anything (refused connection) left, at the latest, now.
        if not self.sent:
            self.stamp()


class WindowLimiter:
    def __init__(self, rate: float, *, window: float = 1.0, margin: float = 0.02) -> None:
        self.rate = rate
        self.window = window + margin
        self._tickets: list[Ticket] = []
        self._lock = asyncio.Lock()
        self._paused_until = 0.0

    def set_rate(self, rate: float) -> None:
        self.rate = rate

    def pause(self, seconds: float) -> None:
        """The provider said to wait (Telegram's retry_after): nothing starts before then."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def _used(self, now: float) -> float:
        # Tickets still waiting to leave count; sent ones count for a window after they left.
        self._tickets = [t for t in self._tickets if not t.sent or t.at > now - self.window]
        return sum(t.units for t in self._tickets)

    def _next_free(self, now: float) -> float:
        sent = [t.at + self.window - now for t in self._tickets if t.sent]
        return max(min(sent), 0.001) if sent else 0.005

    async def acquire(self, units: float = 1) -> Ticket:
        # FIFO: one waiter at a time decides, so a large message is not starved by small ones.
        async with self._lock:
            while True:
                now = time.monotonic()
                if now < self._paused_until:
                    await asyncio.sleep(self._paused_until - now)
                    continue
                used = self._used(now)
                if used + units <= self.rate or (not self._tickets and units > self.rate):
                    return self._take(now, units)
                await asyncio.sleep(self._next_free(now))

    def _take(self, now: float, units: float) -> Ticket:
        ticket = Ticket(units, now)
        if units > self.rate:
            # A message larger than a second's worth (an 11-segment SMS at 10/s): what follows
            # it waits as if it had been sent over the following seconds.
            rest, n = units - self.rate, 1
            while rest > 0:
                later = Ticket(min(self.rate, rest), now + n * self.window)
                later.sent = True
                self._tickets.append(later)
                rest, n = rest - self.rate, n + 1
            ticket.units = self.rate
        self._tickets.append(ticket)
        return ticket


class ChatGate:
    """At most one message per second to one chat (Telegram's per-chat limit): messages to one
    chat take turns, each at least `interval` after the previous one left."""

    def __init__(self, interval: float = 1.0, *, margin: float = 0.02) -> None:
        self.interval = interval + margin
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}
        self._last: dict[str, float] = {}

    @contextlib.asynccontextmanager
    async def turn(self, chat: str) -> AsyncIterator[Callable[[float], None]]:
        """Wait for the chat's turn; call the yielded function with the time the message left."""
        lock = self._locks.setdefault(chat, asyncio.Lock())
        self._users[chat] = self._users.get(chat, 0) + 1
        try:
            async with lock:
                wait = self._last.get(chat, float("-inf")) + self.interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                yield lambda at: self._last.__setitem__(chat, at)
        finally:
            self._users[chat] -= 1
            if not self._users[chat]:
                # Nobody else waits for this chat: forget it once its second is over.
                del self._users[chat], self._locks[chat]
                if self._last.get(chat, 0.0) < time.monotonic() - self.interval:
                    self._last.pop(chat, None)
