"""The worker: the outbox dispatcher plus a small APScheduler for periodic housekeeping.

APScheduler (3.x) only wakes things up; everything that must happen once is a claim in the
database (outbox leases, unique keys), so several workers on one PostgreSQL database, or a job
fired twice, still do each thing once. `passerelle worker` runs this; `passerelle serve` on
SQLite runs the same thing inside the web process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from channels.dispatcher import Dispatcher
from channels.models import TelegramUpdate
from channels.registry import ChannelSet
from crm.db import describe_unavailable, is_unavailable

log = logging.getLogger("passerelle.worker")

# Telegram redelivers an update for at most a day; keep a week of ids to be safe.
TELEGRAM_UPDATE_RETENTION = timedelta(days=7)


async def forget_old_telegram_updates() -> int:
    cutoff = datetime.now(UTC) - TELEGRAM_UPDATE_RETENTION
    return await TelegramUpdate.filter(received_at__lt=cutoff).delete()


# Packages that depend on channels (campaigns) add their periodic jobs through a plugin, so the
# dependency keeps pointing one way; crm.app and crm.cli pass the plugins in.
WorkerPlugin = Callable[["Worker"], None]


class Worker:
    def __init__(
        self,
        channels: ChannelSet,
        *,
        dispatcher: Dispatcher | None = None,
        plugins: Sequence[WorkerPlugin] = (),
    ) -> None:
        self.channels = channels
        self.dispatcher = dispatcher or Dispatcher(channels)
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self._plugins = tuple(plugins)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def worker_id(self) -> str:
        return self.dispatcher.worker_id

    def every(self, seconds: float, job: Callable[[], Awaitable[object]], *, job_id: str) -> None:
        """Run `job` now and then every `seconds`; a run still going is not started twice."""
        self.scheduler.add_job(
            _logged(job),
            "interval",
            seconds=seconds,
            id=job_id,
            coalesce=True,
            max_instances=1,
            next_run_time=datetime.now(UTC) + timedelta(seconds=1),
        )

    def start(self) -> None:
        for plugin in self._plugins:
            plugin(self)
        self.scheduler.add_job(
            _logged(forget_old_telegram_updates),
            "interval",
            hours=1,
            id="telegram-updates-retention",
            coalesce=True,
            max_instances=1,
            next_run_time=datetime.now(UTC) + timedelta(minutes=1),
        )
        self.scheduler.start()
        self._task = asyncio.create_task(self.dispatcher.run(self._stop), name="dispatcher")

    async def stop(self) -> None:
        self._stop.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self._task is not None:
            await self._task

    async def run_until(self, stop: asyncio.Event) -> None:
        self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()


def _logged(job):  # type: ignore[no-untyped-def]
    async def run() -> None:
        try:
            await job()
        except Exception as exc:  # noqa: BLE001 - a housekeeping failure must not stop the worker
            if is_unavailable(exc):
                # The database is down or restarting: the next run picks the work up again
                # (everything a job does is a claim in the database). No traceback each time.
                log.warning(
                    "scheduled job %s skipped: database unavailable (%s)",
                    job.__name__,
                    describe_unavailable(exc),
                )
            else:
                log.exception("scheduled job %s failed", job.__name__)

    run.__name__ = job.__name__
    return run
