"""The aiohttp server shared by the stand-ins: lifecycle, recorded messages, faults, latency.

State (messages, calls, faults, latency) lives behind one ``threading.Lock`` because the
server's handlers run on the server's loop while tests drive it from their own thread.

Faults are keyed by the recipient (Twilio ``To`` number, Telegram ``chat_id``; ``"*"``
matches any recipient) and only touch requests that carry a recipient. A one-shot list is
consumed one fault per request; ``sticky=True`` keeps the list and cycles through it, so a
single sticky fault applies to every request. One-shot faults win over sticky ones.

Fault kinds understood by every stand-in (subclasses render the error bodies):

* ``{"status": 429}``, ``{"status": 500}``, ``{"status": 400, "code": 21610}``... an error
  answer; nothing is recorded.
* ``{"timeout": s}``: the request is held ``s`` seconds; if the client is still connected
  it is then handled normally, if the client gave up it is dropped unrecorded (the provider
  never sent it, so a retry is safe).
* ``{"accept_then_hang": s}``: the message is accepted and recorded at once, the answer
  comes ``s`` seconds later (the provider sent it; the caller does not know).

An outage (``start_outage``, ``POST /_standin/outage``) is the provider down for everyone for
some seconds: every API request, whatever its recipient, gets a 5xx (``mode="error"``) or has
its connection closed without an answer (``mode="disconnect"``); nothing is recorded, and the
requests refused are counted. The ``/_standin/*`` control routes keep answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading
import time
from typing import Any

from aiohttp import web

JSON = dict[str, Any]


class StandinServer:
    """An aiohttp application on 127.0.0.1 with recording, fault injection and latency."""

    name = "standin"

    def __init__(self, *, latency: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._initial_latency = float(latency)
        self._latency = float(latency)
        self._messages: list[JSON] = []
        self._calls: list[JSON] = []
        self._faults: dict[str, list[JSON]] = {}
        self._sticky: dict[str, tuple[list[JSON], int]] = {}
        self._outage: JSON | None = None
        self._refused = 0
        self._url: str | None = None
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.app = web.Application(middlewares=[self._outage_middleware])
        self.app.add_routes(
            [
                web.get("/_standin/messages", self._control_messages),
                web.get("/_standin/calls", self._control_calls),
                web.post("/_standin/faults", self._control_faults),
                web.post("/_standin/config", self._control_config),
                web.post("/_standin/reset", self._control_reset),
                web.post("/_standin/outage", self._control_outage),
                web.get("/_standin/outage", self._control_outage_state),
                web.get("/_standin/stats", self._control_stats),
            ]
        )

    # ----------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        """Base URL such as ``http://127.0.0.1:54321`` (only once started)."""
        if self._url is None:
            raise RuntimeError(f"{self.name} stand-in is not started")
        return self._url

    async def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1 inside the running loop; return the base URL (once per instance)."""
        if self._url is not None:
            raise RuntimeError(f"{self.name} stand-in already started; an instance starts once")
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        self._runner = runner
        bound = runner.addresses[0][1]
        self._url = f"http://127.0.0.1:{bound}"
        return self._url

    async def stop_async(self) -> None:
        """Stop listening and close open connections (pending answers are dropped)."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def start_in_thread(self, port: int = 0) -> str:
        """Run the server on its own loop in a daemon thread; block until it listens."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(self.start(port))
            except BaseException as exc:  # surfaced to the caller below
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.stop_async())
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.close()

        self._thread = threading.Thread(target=run, name=f"{self.name}-standin", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"{self.name} stand-in did not start within 10 s")
        if errors:
            raise errors[0]
        return self.url

    def stop(self) -> None:
        """Stop a server started with ``start_in_thread``."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None

    # ------------------------------------------------------------------ control
    def messages(self) -> list[JSON]:
        """Everything sent so far, in order (copies)."""
        with self._lock:
            return copy.deepcopy(self._messages)

    def calls(self) -> list[JSON]:
        """Every API call that got past authentication: ``{"method", "params", "t"}``."""
        with self._lock:
            return copy.deepcopy(self._calls)

    def add_faults(self, key: str | int, faults: list[JSON], sticky: bool = False) -> None:
        """Queue ``faults`` for recipient ``key`` (``"*"``: any recipient)."""
        with self._lock:
            if sticky:
                self._sticky[str(key)] = (list(faults), 0)
            else:
                self._faults.setdefault(str(key), []).extend(faults)

    def clear_faults(self, key: str | int | None = None) -> None:
        """Drop the faults of one key, or of every key."""
        with self._lock:
            if key is None:
                self._faults.clear()
                self._sticky.clear()
            else:
                self._faults.pop(str(key), None)
                self._sticky.pop(str(key), None)

    @property
    def latency(self) -> float:
        with self._lock:
            return self._latency

    def set_latency(self, seconds: float) -> None:
        """Seconds awaited before every API answer."""
        with self._lock:
            self._latency = float(seconds)

    def start_outage(self, seconds: float, *, status: int = 503, mode: str = "error") -> JSON:
        """The provider is down for everyone from now for ``seconds``: API requests get
        ``status`` (``mode="error"``) or a closed connection (``mode="disconnect"``). Returns
        the outage's ``started`` and ``until`` (``time.monotonic()`` of this process)."""
        if mode not in ("error", "disconnect"):
            raise ValueError(f"unknown outage mode {mode!r}")
        started = time.monotonic()
        outage = {
            "started": started,
            "until": started + float(seconds),
            "status": int(status),
            "mode": mode,
        }
        with self._lock:
            self._outage = outage
            self._refused = 0
        return dict(outage)

    def outage(self) -> JSON:
        """The last outage (``started``, ``until``, ``status``, ``mode``), whether it is still
        ``active``, and how many requests it ``refused``; ``{"active": False}`` when none."""
        with self._lock:
            outage, refused = self._outage, self._refused
        if outage is None:
            return {"active": False, "refused": refused}
        return {**outage, "active": time.monotonic() < outage["until"], "refused": refused}

    def stats(self) -> JSON:
        """Counts only (cheap to poll while thousands of messages arrive)."""
        with self._lock:
            return {
                "messages": len(self._messages),
                "calls": len(self._calls),
                "refused": self._refused,
            }

    def reset(self) -> None:
        """Forget messages, calls, faults and outages; latency goes back to its initial value."""
        with self._lock:
            self._messages.clear()
            self._calls.clear()
            self._faults.clear()
            self._sticky.clear()
            self._outage = None
            self._refused = 0
            self._latency = self._initial_latency
            self._reset_state()

    def _reset_state(self) -> None:
        """Subclass hook, called under the lock by ``reset``."""

    # ------------------------------------------------------------ for handlers
    def _outage_response(self, status: int) -> web.Response:
        """The error answer of an outage; subclasses shape it as their provider does."""
        return web.json_response({"error": "service unavailable"}, status=status)

    @web.middleware
    async def _outage_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/_standin/"):
            return await handler(request)
        with self._lock:
            outage = self._outage
            down = outage is not None and time.monotonic() < outage["until"]
            if down:
                self._refused += 1
        if not down:
            return await handler(request)
        assert outage is not None
        if outage["mode"] == "disconnect":
            # As a crashed server or a load balancer with no backend: no answer at all.
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError
        return self._outage_response(outage["status"])

    def _take_fault(self, key: str | int | None) -> JSON | None:
        if key is None:
            return None
        with self._lock:
            for k in (str(key), "*"):
                queue = self._faults.get(k)
                if queue:
                    return queue.pop(0)
            for k in (str(key), "*"):
                if k in self._sticky:
                    faults, index = self._sticky[k]
                    if faults:
                        self._sticky[k] = (faults, index + 1)
                        return faults[index % len(faults)]
        return None

    def _record_message(self, message: JSON) -> None:
        with self._lock:
            self._messages.append(message)

    def _record_call(self, method: str, params: JSON) -> None:
        with self._lock:
            self._calls.append({"method": method, "params": params, "t": time.monotonic()})

    async def _delay(self) -> None:
        latency = self.latency
        if latency > 0:
            await asyncio.sleep(latency)

    @staticmethod
    async def _hold(request: web.Request, seconds: float) -> bool:
        """Sleep; True if the client is still connected afterwards."""
        await asyncio.sleep(float(seconds))
        transport = request.transport
        return transport is not None and not transport.is_closing()

    # --------------------------------------------------------- control routes
    async def _control_messages(self, request: web.Request) -> web.Response:
        messages = self.messages()
        if fields := request.query.get("fields"):
            keep = fields.split(",")
            messages = [{k: m.get(k) for k in keep} for m in messages]
        return web.json_response(messages)

    async def _control_calls(self, request: web.Request) -> web.Response:
        return web.json_response(self.calls())

    async def _control_faults(self, request: web.Request) -> web.Response:
        body = await request.json()
        if "key" not in body or not isinstance(body.get("faults"), list):
            return web.json_response({"error": "need key and faults"}, status=400)
        self.add_faults(body["key"], body["faults"], sticky=bool(body.get("sticky", False)))
        return web.json_response({"ok": True})

    async def _control_config(self, request: web.Request) -> web.Response:
        body = await request.json()
        if "latency" in body:
            self.set_latency(float(body["latency"]))
        return web.json_response({"ok": True, "latency": self.latency})

    async def _control_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    async def _control_outage(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            outage = self.start_outage(
                float(body["seconds"]),
                status=int(body.get("status", 503)),
                mode=str(body.get("mode", "error")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            return web.json_response({"error": f"need seconds (and status, mode): {exc}"}, 400)
        return web.json_response({"ok": True, **outage})

    async def _control_outage_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.outage())

    async def _control_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())
