"""The outbox dispatcher: claims due rows, keeps to each channel's rate, sends with bounded
concurrency and records each outcome.

One loop per channel. Each loop claims rows in one statement (with a lease) while it has room,
starts a task per row, and every task waits for its turn at the rate limiter before it sends.
Several dispatchers (processes) may run against one PostgreSQL database: claims skip locked
rows, outcomes are written only while the lease is still held, and the rate is shared between
the dispatchers that recently reported themselves alive.

Crash safety: a row whose lease expired while `sending` was claimed by a dispatcher that died or
hung during the send. It is never sent again blindly: the channel reconciles it (Twilio looks the
message up; the console re-records it); when nobody can know (Telegram) it becomes `unknown`
and is shown to staff. A live dispatcher keeps the leases of the rows it holds (its heartbeat
extends them), never sends a row whose lease it lost, and waits for an unavailable database to
record what it sent (channels.breaker), so only a dead worker leaves rows to reconcile."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from channels import outbox
from channels.base import Channel as Provider
from channels.base import Outgoing, ReconcileLater, SendOutcome, SendResult
from channels.breaker import DatabaseWatch, ProviderBreaker, provider_down
from channels.consent import channel_consent, set_channel_consent
from channels.hours import in_quiet_hours
from channels.models import Channel, MessageKind, OutboxStatus, WorkerHeartbeat
from channels.ratelimit import SEND_STAMP, ChatGate, Ticket, WindowLimiter
from channels.registry import ChannelSet
from crm.config import settings
from crm.db import is_unavailable
from crm.people.models import Lead

log = logging.getLogger("passerelle.dispatcher")

# Automatic answers that must reach a person who just opted out: the confirmation itself.
OPT_OUT_CONFIRMATION_PREFIX = "optout-confirm:"
# Often enough that a worker joining or leaving changes the others' share of the rate within
# seconds (until they beat again, a worker joining others that send at their full share takes
# the total over the rate by its own share); a beat is a few small statements.
HEARTBEAT_SECONDS = 3
ALIVE_SECONDS = 15
RECLAIM_SECONDS = 5
RECONCILE_CONCURRENCY = 16  # provider lookups at once for a dead worker's rows
# After the database was unavailable, the other workers get this long to beat (and so extend
# their leases) before their rows, expired meanwhile, look abandoned.
RECLAIM_GRACE_SECONDS = 2 * HEARTBEAT_SECONDS + 1
# How long a worker keeps trying to record the outcome of a send while the database is
# unavailable (after that the row is reconciled like a dead worker's).
OUTCOME_PATIENCE_SECONDS = 300
# How many seconds of sending a dispatcher claims ahead at its rate (well under the lease).
CLAIM_AHEAD_SECONDS = 20


def new_worker_id() -> str:
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{random.randrange(16**4):04x}"


def backoff(attempts: int) -> float:
    """Seconds before the next try: doubles each attempt, capped, with jitter so that a burst of
    failures does not come back as one burst."""
    base = settings.OUTBOX_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    return min(base, settings.OUTBOX_RETRY_MAX_SECONDS) * random.uniform(0.8, 1.2)


class Dispatcher:
    def __init__(
        self,
        channels: ChannelSet,
        *,
        worker_id: str | None = None,
        concurrency: int | None = None,
        batch_size: int = 200,
        idle_seconds: float = 0.5,
        sms_rate: float | None = None,
        telegram_rate: float | None = None,
        lease_seconds: int | None = None,
    ) -> None:
        self.channels = channels
        self.worker_id = worker_id or new_worker_id()
        self.concurrency = concurrency or settings.WORKER_CONCURRENCY
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.lease_seconds = lease_seconds or settings.OUTBOX_LEASE_SECONDS
        self._rates = {
            Channel.SMS: sms_rate or settings.SMS_RATE_PER_SECOND,
            Channel.TELEGRAM: telegram_rate or settings.TELEGRAM_RATE_PER_SECOND,
        }
        self.limiters = {name: WindowLimiter(rate) for name, rate in self._rates.items()}
        self.breakers = {name: ProviderBreaker(str(name)) for name in self._rates}
        self.database = DatabaseWatch(f"dispatcher {self.worker_id}")
        self.chat_gate = ChatGate()
        self._slots = asyncio.Semaphore(self.concurrency)
        self._pending = {Channel.SMS: 0, Channel.TELEGRAM: 0}  # claimed, not finished (units)
        self._tasks: set[asyncio.Task[None]] = set()
        # Claimed rows not yet handed to a provider (waiting for their turn at the rate).
        self._waiting: dict[asyncio.Task[None], int] = {}
        self._held: dict[asyncio.Task[None], int] = {}  # every claimed row still in hand
        self._share = 1  # dispatchers sharing the rates, as last counted
        self._last_beat: float | None = None
        self._wake = asyncio.Event()
        self._room = {name: asyncio.Event() for name in self._rates}
        self.sent = 0  # messages this dispatcher handed to a provider (for logs and benches)

    # ---- the loops ------------------------------------------------------------------------

    def wake(self) -> None:
        """Something was queued: look now rather than after the idle pause."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        log.info("dispatcher %s started", self.worker_id)
        loops = [
            asyncio.create_task(self._channel_loop(name, stop), name=f"outbox-{name}")
            for name in self._rates
        ]
        loops.append(asyncio.create_task(self._heartbeat_loop(stop), name="outbox-heartbeat"))
        try:
            await stop.wait()
        finally:
            # The loops see `stop` and finish their current statement; cancelling them in the
            # middle of a query could leave the SQLite connection's lock taken.
            _, late = await asyncio.wait(loops, timeout=15)
            for task in late:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            try:
                await self._release_waiting()
            except Exception:  # noqa: BLE001 - the database is down: their leases will expire
                log.warning("dispatcher %s: could not give back waiting messages", self.worker_id)
            # Let sends in flight finish and record their outcome (bounded by the timeout).
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=settings.PROVIDER_TIMEOUT_SECONDS + 5)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._forget_heartbeat(), timeout=5)
            log.info("dispatcher %s stopped after %d messages", self.worker_id, self.sent)

    async def _release_waiting(self) -> None:
        """On stop, rows still waiting for their turn go back to the queue at once, for another
        worker (or the next start) to send, instead of waiting out their lease."""
        waiting = dict(self._waiting)
        if not waiting:
            return
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        released = await outbox.release(list(waiting.values()), self.worker_id)
        log.info("dispatcher %s: %d waiting message(s) back in the queue", self.worker_id, released)

    async def drain(self, *, max_seconds: float = 30.0) -> int:
        """Send everything that is due now, then return (tests and the CLI's one-shot mode)."""
        deadline = time.monotonic() + max_seconds
        total = 0
        while time.monotonic() < deadline:
            claimed = 0
            for name in self._rates:
                claimed += await self._reclaim(name)
                claimed += await self._claim_and_start(name)
            if self._tasks:
                await asyncio.wait(self._tasks)
            total += claimed
            if not claimed:
                return total
        return total

    async def _channel_loop(self, name: Channel, stop: asyncio.Event) -> None:
        last_reclaim = 0.0
        while not stop.is_set():
            try:
                now = time.monotonic()
                if (
                    now - last_reclaim > RECLAIM_SECONDS
                    and now - self.database.back_at > RECLAIM_GRACE_SECONDS
                ):
                    last_reclaim = now
                    await self._reclaim(name)
                started = await self._claim_and_start(name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a database hiccup must not stop the worker
                if is_unavailable(exc):
                    await _wait_any(stop, seconds=self.database.failed(exc))
                    continue
                log.exception("outbox %s: claim failed; retrying", name)
                started = 0
                await asyncio.sleep(1)
            if started:
                continue
            if self._pending[name] >= self._claim_budget(name):
                self._room[name].clear()
                await _wait_any(self._room[name], stop, seconds=self.idle_seconds)
            else:
                self._wake.clear()
                await _wait_any(self._wake, stop, seconds=self.idle_seconds)

    def _claim_budget(self, name: Channel) -> int:
        rate = self.limiters[name].rate
        return max(1, min(int(rate * CLAIM_AHEAD_SECONDS), self.concurrency * 4))

    async def _claim_and_start(self, name: Channel) -> int:
        room = self._claim_budget(name) - self._pending[name]
        if room <= 0:
            return 0
        rows = await outbox.claim(
            name,
            self.worker_id,
            min(room, self.batch_size),
            lease_seconds=self.lease_seconds,
            include_campaigns=not in_quiet_hours(),
        )
        self.database.ok()  # (a claim that ran is news that the database is back)
        if not rows:
            return 0
        consent = await channel_consent([r.lead_id for r in rows], name)
        for row in rows:
            self._pending[name] += row.segments
            self._start(
                self._deliver(name, row, consent.get(row.lead_id)), name, row.segments, row.id
            )
        return len(rows)

    def _start(
        self, coro: Coroutine[Any, Any, None], name: Channel, units: int, row_id: int
    ) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        self._waiting[task] = row_id
        self._held[task] = row_id

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            self._waiting.pop(t, None)
            self._held.pop(t, None)
            self._pending[name] -= units
            self._room[name].set()

        task.add_done_callback(done)

    # ---- one message ------------------------------------------------------------------------

    async def _deliver(self, name: Channel, row: outbox.Claimed, consent: bool | None) -> None:
        channel = self.channels.get(name)
        try:
            refusal = _refusal(row, consent)
            if refusal:
                await outbox.mark_final(
                    row.id,
                    self.worker_id,
                    OutboxStatus.SKIPPED,
                    provider=None,
                    code=refusal,
                    reason=_REFUSAL_REASONS[refusal],
                )
                return
            if row.error_code == "timeout" and channel.provider == "twilio":
                # The last try timed out: the provider may have taken it. Look before resending.
                if await self._reconcile(channel, row, expired=False):
                    return
            if name == Channel.TELEGRAM:
                async with self.chat_gate.turn(row.address) as left_at:
                    result, ticket = await self._send(channel, name, row)
                    left_at(ticket.at)
            else:
                result, _ = await self._send(channel, name, row)
            if result.outcome is SendOutcome.SENT:
                self.sent += 1
            await self._patiently(lambda: self._record(channel, row, result))
        except asyncio.CancelledError:
            raise
        except LeaseLost:
            log.info("outbox %s: message %s was taken over by another worker", name, row.id)
        except Exception as exc:  # noqa: BLE001 - one bad row must not stop the others
            # The row stays `sending`; its lease expires and it is reconciled, never resent
            # blindly.
            if is_unavailable(exc):
                self.database.failed(exc)  # logged once for the whole outage
            else:
                log.exception("outbox %s: delivering message %s failed", name, row.id)

    async def _send(
        self, channel: Provider, name: Channel, row: outbox.Claimed
    ) -> tuple[SendResult, Ticket]:
        breaker = self.breakers[name]
        ticket = await self.limiters[name].acquire(row.segments)
        probe, down = False, None
        try:
            # After the turn at the rate: a row granted its turn just as the provider failed
            # waits here too (a granted, unsent ticket keeps its place in the window).
            probe = await breaker.wait_turn()
            try:
                if _lease_half_gone(row, self.lease_seconds) and not await outbox.extend_lease(
                    row.id, self.worker_id, lease_seconds=self.lease_seconds
                ):
                    raise LeaseLost(row.id)
                async with self._slots:
                    task = asyncio.current_task()
                    if task is not None:
                        self._waiting.pop(task, None)  # from here on it is the provider's
                    if channel.provider == "telegram":
                        # Telegram cannot be asked afterwards whether a message arrived: mark
                        # the hand-over, so that a crash before it can still be sent safely.
                        if not await outbox.mark_started(
                            row.id, self.worker_id, provider=channel.provider
                        ):
                            raise LeaseLost(row.id)
                    # The provider client's trace hook stamps the ticket when the request leaves.
                    token = SEND_STAMP.set(ticket.stamp)
                    try:
                        result = await channel.send(_outgoing(row))
                    finally:
                        SEND_STAMP.reset(token)
                    down = provider_down(result)
                    return result, ticket
            finally:
                breaker.settle(probe, down=down)
        finally:
            ticket.done()

    async def _patiently(self, write: Callable[[], Awaitable[None]]) -> None:
        """Record an outcome, waiting while the database is unavailable: the message left (or
        was refused) and only this process knows. Giving up at once would leave the row
        `sending` until its lease expires and it is reconciled (a Telegram message would be
        `unknown`). Every write here only applies while this worker holds the lease, so a
        second try never undoes anything."""
        deadline = time.monotonic() + OUTCOME_PATIENCE_SECONDS
        while True:
            try:
                await write()
            except Exception as exc:
                if not is_unavailable(exc) or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(self.database.failed(exc))
                continue
            self.database.ok()
            return

    async def _record(self, channel: Provider, row: outbox.Claimed, result: SendResult) -> None:
        name = Channel(row.channel)
        if result.outcome is SendOutcome.SENT:
            await self._mark_sent(channel, row, result)
        elif result.outcome is SendOutcome.RETRYABLE:
            if result.retry_after:
                self.limiters[name].pause(result.retry_after)
            if row.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
                await outbox.mark_final(
                    row.id,
                    self.worker_id,
                    OutboxStatus.FAILED,
                    provider=channel.provider,
                    code=result.code,
                    reason=f"gave up after {row.attempts} tries: {result.reason}",
                )
                return
            delay = max(result.retry_after or 0.0, backoff(row.attempts))
            await outbox.mark_retry(
                row.id,
                self.worker_id,
                due_at=datetime.now(UTC) + timedelta(seconds=delay),
                code=result.code,
                reason=result.reason,
            )
        else:
            await outbox.mark_final(
                row.id,
                self.worker_id,
                OutboxStatus.FAILED,
                provider=channel.provider,
                code=result.code,
                reason=result.reason,
            )
            if result.outcome in (SendOutcome.OPTED_OUT, SendOutcome.BLOCKED):
                lead = await Lead.get(id=row.lead_id)
                method = "carrier_opt_out" if name == Channel.SMS else "bot_blocked"
                await set_channel_consent(lead, name, granted=False, method=method)

    async def _reconcile(self, channel: Provider, row: outbox.Claimed, *, expired: bool) -> bool:
        """True when the row's fate is settled (sent, or unknown); False to send it now."""
        try:
            found = await channel.reconcile(_outgoing(row), since=row.created_at)
        except ReconcileLater as exc:
            log.warning("%s; asking again later", exc)
            await outbox.extend_lease(row.id, self.worker_id, lease_seconds=60)
            return True
        if found is None:
            await outbox.mark_final(
                row.id,
                self.worker_id,
                OutboxStatus.UNKNOWN,
                provider=channel.provider,
                code="lease_expired" if expired else row.error_code,
                reason="the send was interrupted and the provider cannot say whether the "
                "message arrived; check with the person before sending it again",
            )
            return True
        if found.outcome is SendOutcome.SENT:
            await self._mark_sent(channel, row, found)
            return True
        return False

    async def _mark_sent(self, channel: Provider, row: outbox.Claimed, result: SendResult) -> None:
        await outbox.mark_sent(
            row.id,
            self.worker_id,
            provider=channel.provider,
            provider_id=result.provider_id or "",
            provider_status=result.provider_status,
        )

    async def _reclaim(self, name: Channel) -> int:
        rows = await outbox.claim_expired(
            name, self.worker_id, self.batch_size, lease_seconds=self.lease_seconds
        )
        if not rows:
            return 0
        log.warning(
            "outbox %s: %d message(s) left sending by a stopped worker; reconciling",
            name,
            len(rows),
        )
        channel = self.channels.get(name)
        # Several lookups at once: one after the other, a dead worker's few hundred rows took
        # this channel's loop (and so its sending) away for as many provider round trips.
        turns = asyncio.Semaphore(RECONCILE_CONCURRENCY)

        async def settle(row: outbox.Claimed) -> None:
            async with turns:
                try:
                    await self._settle_expired(channel, row)
                except Exception as exc:  # noqa: BLE001 - its lease expires; tried again then
                    if is_unavailable(exc):
                        self.database.failed(exc)
                    else:
                        log.exception("outbox %s: reconciling message %s failed", name, row.id)

        await asyncio.gather(*(settle(row) for row in rows))
        return len(rows)

    async def _settle_expired(self, channel: Provider, row: outbox.Claimed) -> None:
        if channel.provider == "telegram" and row.provider is None:
            # Claimed but never handed to Telegram: send it (no duplicate possible).
            await outbox.mark_retry(
                row.id,
                self.worker_id,
                due_at=datetime.now(UTC),
                code="lease_expired",
                reason="the worker stopped before sending",
            )
            return
        if not await self._reconcile(channel, row, expired=True):
            # Surely never arrived: back in the queue, now.
            await outbox.mark_retry(
                row.id,
                self.worker_id,
                due_at=datetime.now(UTC),
                code="lease_expired",
                reason="not found at the provider; sending again",
            )

    # ---- sharing the rate between workers ---------------------------------------------------

    async def _heartbeat_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._heartbeat()
                self.database.ok()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                if is_unavailable(exc):
                    self.database.failed(exc)
                else:
                    log.exception("heartbeat failed")
            await _wait_any(stop, seconds=HEARTBEAT_SECONDS)

    async def _heartbeat(self) -> None:
        at = datetime.now(UTC)
        updated = await WorkerHeartbeat.filter(worker_id=self.worker_id).update(seen_at=at)
        if not updated:
            await WorkerHeartbeat.create(worker_id=self.worker_id, seen_at=at)
        # The rows this worker holds stay its own while it lives, however long they wait.
        await outbox.extend_leases(
            list(self._held.values()), self.worker_id, lease_seconds=self.lease_seconds
        )
        alive = await WorkerHeartbeat.filter(
            seen_at__gte=at - timedelta(seconds=ALIVE_SECONDS)
        ).count()
        beat, last = time.monotonic(), self._last_beat
        self._last_beat = beat
        if alive < self._share and last is not None and beat - last > 2 * HEARTBEAT_SECONDS:
            # First beat after a gap (the database was unavailable): the others have not had
            # the chance to beat again yet, so fewer of them is not news. Keep the share.
            alive = self._share
        self._share = max(alive, 1)
        for name, rate in self._rates.items():
            self.limiters[name].set_rate(rate / self._share)
        await WorkerHeartbeat.filter(seen_at__lt=at - timedelta(hours=1)).delete()

    async def _forget_heartbeat(self) -> None:
        try:
            await WorkerHeartbeat.filter(worker_id=self.worker_id).delete()
        except Exception:  # noqa: BLE001 - the database may already be gone at shutdown
            log.debug("could not remove heartbeat", exc_info=True)


class LeaseLost(Exception):
    """The row's lease expired while it waited and another worker took it over."""


_REFUSAL_REASONS = {
    "opted_out": "the person opted out of this channel",
    "no_consent": "no consent for campaign messages on this channel",
}


def _refusal(row: outbox.Claimed, consent: bool | None) -> str | None:
    if row.idempotency_key.startswith(OPT_OUT_CONFIRMATION_PREFIX):
        return None
    if row.kind == MessageKind.CAMPAIGN and consent is not True:
        return "opted_out" if consent is False else "no_consent"
    if consent is False:
        return "opted_out"
    return None


def _lease_half_gone(row: outbox.Claimed, lease_seconds: int) -> bool:
    return datetime.now(UTC) - row.claimed_at > timedelta(seconds=lease_seconds / 2)


def _outgoing(row: outbox.Claimed) -> Outgoing:
    return Outgoing(id=row.id, address=row.address, body=row.body, reply_markup=row.reply_markup)


async def _wait_any(*events: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
