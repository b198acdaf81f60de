"""Rate limits the providers impose, kept on our side so that no message is refused for speed.

`WindowLimiter` is a sliding-window log: the units (SMS segments, Telegram messages) started in
any window of one second never exceed the rate. The window is a little longer than a second
(`margin`) because the provider timestamps a request when it arrives, a few milliseconds after
we start it. `ChatGate` spaces messages to one Telegram chat at least a second apart."""

from __future__ import annotations

import asyncio
import time
from collections import deque


class WindowLimiter:
    def __init__(self, rate: float, *, window: float = 1.0, margin: float = 0.015) -> None:
        self.rate = rate
        self.window = window + margin
        self._log: deque[tuple[float, float]] = deque()
        self._used = 0.0
        self._lock = asyncio.Lock()
        self._paused_until = 0.0

    def set_rate(self, rate: float) -> None:
        self.rate = rate

    def pause(self, seconds: float) -> None:
        """The provider said to wait (Telegram's retry_after): nothing starts before then."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def _expire(self, now: float) -> None:
        while self._log and self._log[0][0] <= now - self.window:
            _, units = self._log.popleft()
            self._used -= units

    async def acquire(self, units: float = 1) -> None:
        # FIFO: one waiter at a time decides, so a large message is not starved by small ones.
        async with self._lock:
            while True:
                now = time.monotonic()
                if now < self._paused_until:
                    await asyncio.sleep(self._paused_until - now)
                    continue
                self._expire(now)
                capacity = self.rate
                if self._used + units <= capacity or (not self._log and units > capacity):
                    self._take(now, units, capacity)
                    return
                await asyncio.sleep(max(self._log[0][0] + self.window - now, 0.001))

    def _take(self, now: float, units: float, capacity: float) -> None:
        # A message larger than a second's worth (an 11-segment SMS at 10/s) is booked over the
        # following seconds, so that what follows it waits its turn.
        start = now
        while units > 0:
            part = min(units, capacity)
            self._log.append((start, part))
            self._used += part
            units -= part
            start += self.window


class ChatGate:
    """At most one message per second to one chat (Telegram's per-chat limit)."""

    def __init__(self, interval: float = 1.0, *, margin: float = 0.015) -> None:
        self.interval = interval + margin
        self._next: dict[str, float] = {}

    async def wait(self, chat: str) -> None:
        now = time.monotonic()
        slot = max(now, self._next.get(chat, 0.0))
        self._next[chat] = slot + self.interval
        if len(self._next) > 10_000:
            self._forget(now)
        if slot > now:
            await asyncio.sleep(slot - now)

    def _forget(self, now: float) -> None:
        for chat in [c for c, t in self._next.items() if t < now]:
            del self._next[chat]
