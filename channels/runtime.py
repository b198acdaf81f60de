"""The channels inside the web app: providers built in the lifespan (inside the event loop, as
the Twilio and aiogram clients need), and optionally the dispatcher running beside the app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from fastapi import FastAPI, Request

from channels.dispatcher import Dispatcher
from channels.inbound import forget_acknowledgements
from channels.registry import ChannelSet, build_channels
from channels.worker import Worker, WorkerPlugin

log = logging.getLogger(__name__)


async def start_channels(
    app: FastAPI, *, run_worker: bool, plugins: Sequence[WorkerPlugin] = ()
) -> None:
    forget_acknowledgements()
    channels = build_channels()
    app.state.channels = channels
    app.state.dispatcher = None
    app.state.worker = None
    if run_worker:
        worker = Worker(channels, plugins=plugins)
        worker.start()
        app.state.worker = worker
        app.state.dispatcher = worker.dispatcher


async def stop_channels(app: FastAPI) -> None:
    worker: Worker | None = getattr(app.state, "worker", None)
    if worker is not None:
        try:
            await asyncio.wait_for(worker.stop(), timeout=30)
        except (TimeoutError, asyncio.CancelledError):
            log.warning("the in-process worker did not stop in time")
    channels: ChannelSet | None = getattr(app.state, "channels", None)
    if channels is not None:
        await channels.close()


def channels_of(request: Request) -> ChannelSet:
    return request.app.state.channels


def wake_dispatcher(request: Request) -> None:
    """A message was queued by this request: an in-process dispatcher sends it now."""
    dispatcher: Dispatcher | None = getattr(request.app.state, "dispatcher", None)
    if dispatcher is not None:
        dispatcher.wake()
