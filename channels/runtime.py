"""The channels inside the web app: providers built in the lifespan (inside the event loop, as
the Twilio and aiogram clients need), and optionally the dispatcher running beside the app."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI, Request

from channels.dispatcher import Dispatcher
from channels.registry import ChannelSet, build_channels

log = logging.getLogger(__name__)


async def start_channels(app: FastAPI, *, run_worker: bool) -> None:
    channels = build_channels()
    app.state.channels = channels
    app.state.dispatcher = None
    if run_worker:
        dispatcher = Dispatcher(channels)
        stop = asyncio.Event()
        app.state.dispatcher = dispatcher
        app.state.dispatcher_stop = stop
        app.state.dispatcher_task = asyncio.create_task(dispatcher.run(stop), name="dispatcher")


async def stop_channels(app: FastAPI) -> None:
    task = getattr(app.state, "dispatcher_task", None)
    if task is not None:
        app.state.dispatcher_stop.set()
        try:
            await asyncio.wait_for(task, timeout=30)
        except (TimeoutError, asyncio.CancelledError):
            log.warning("the in-process dispatcher did not stop in time")
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
