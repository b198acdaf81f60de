"""What the dispatcher does while a provider or the database is down.

A provider that fails for everyone (5xx, refused or dropped connections, timeouts) is not one
message's problem. Sending the rest of the queue into it would spend every queued message's
tries (OUTBOX_MAX_ATTEMPTS, about two and a half minutes of backoff) during a long outage, and
leave the messages that came due meanwhile to return one backoff at a time afterwards. So a
`ProviderBreaker` holds a channel's sends while its provider is down: after such a failure
nothing leaves for a pause that doubles (1 s, 2 s, 4 s, 5 s) while failures go on, then one message
at a time tries (a probe) until one gets an answer; then sending resumes, at the channel's rate.
The pause stops doubling at 5 s: sending resumes at most about 5 s after the provider is back.

A `DatabaseWatch` does the same for the database: the loops of a worker wait (0.5 s doubling to
5 s) while it is unavailable, the outage is logged once when it starts and once when it ends,
instead of a traceback per loop and per second."""

from __future__ import annotations

import asyncio
import logging
import time

from channels.base import SendOutcome, SendResult
from crm.db import describe_unavailable

log = logging.getLogger("passerelle.dispatcher")

# Codes of a provider that is down for everyone (see twilio_sms and telegram_bot): no answer,
# a timeout, a 5xx, or Twilio's own "internal error" and "service unavailable".
_DOWN_CODES = {"network", "timeout", "5xx", "20500", "20503"}


def provider_down(result: SendResult) -> bool:
    if result.outcome is not SendOutcome.RETRYABLE or result.code is None:
        return False
    code = result.code
    return code in _DOWN_CODES or (code.isdigit() and 500 <= int(code) <= 599)


class ProviderBreaker:
    def __init__(self, name: str, *, first_pause: float = 1.0, max_pause: float = 5.0) -> None:
        self.name = name
        self.first_pause = first_pause
        self.max_pause = max_pause
        self.down_since: float | None = None  # time.monotonic() of the first failure
        self.failures = 0  # provider-wide failures seen (for logs and benches)
        self._pause = 0.0
        self._until = 0.0
        self._probe = asyncio.Lock()

    async def wait_turn(self) -> bool:
        """Wait until a send may leave: at once while the provider is up. While it is down,
        after the pause and one at a time: True means this send is the probe, and `settle`
        must be called with its outcome."""
        while self.down_since is not None:
            await self._probe.acquire()
            if self.down_since is None:
                self._probe.release()
                break
            wait = self._until - time.monotonic()
            if wait <= 0:
                return True
            self._probe.release()
            await asyncio.sleep(wait)
        return False

    def settle(self, probe: bool, *, down: bool | None) -> None:
        """After a send: `down` True when the provider failed as a whole, False when it
        answered (even a refusal of this one message), None when nothing was learnt."""
        if down is True:
            self._failed()
        elif down is False and self.down_since is not None:
            log.warning(
                "%s provider is back after %.0f s (%d failed tries); sending resumes",
                self.name,
                time.monotonic() - self.down_since,
                self.failures,
            )
            self.down_since, self._pause = None, 0.0
        if probe:
            self._probe.release()

    def _failed(self) -> None:
        now = time.monotonic()
        self.failures += 1
        if self.down_since is None:
            self.down_since, self._pause = now, self.first_pause
            log.warning(
                "%s provider is failing for everyone; holding its messages, trying one every "
                "%.0f-%.0f s until it answers",
                self.name,
                self.first_pause,
                self.max_pause,
            )
        elif now >= self._until:  # a probe sent after the last pause failed too
            self._pause = min(self._pause * 2, self.max_pause)
        self._until = max(self._until, now + self._pause)


class DatabaseWatch:
    """Shared by a worker's loops: one warning when the database becomes unavailable, one when
    it is back, and the pause before the next try in between."""

    def __init__(self, who: str, *, first_pause: float = 0.5, max_pause: float = 5.0) -> None:
        self.who = who
        self.first_pause = first_pause
        self.max_pause = max_pause
        self.down_since: float | None = None
        self.back_at = float("-inf")  # time.monotonic() when it came back last
        self._pause = 0.0

    def failed(self, exc: BaseException) -> float:
        """The database is unavailable: seconds to wait before trying again."""
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.warning(
                "%s: database unavailable (%s); waiting for it", self.who, describe_unavailable(exc)
            )
        self._pause = min(max(self._pause * 2, self.first_pause), self.max_pause)
        return self._pause

    def ok(self) -> None:
        if self.down_since is None:
            return
        self.back_at = time.monotonic()
        log.warning(
            "%s: the database is back after %.0f s; resuming",
            self.who,
            self.back_at - self.down_since,
        )
        self.down_since, self._pause = None, 0.0
