"""A partner's webhook endpoint on 127.0.0.1: verifies every delivery with the documented
`verify_signature`, records it, and answers the statuses it is told to (then 200)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from crm.referrals.webhooks import verify_signature


class Receiver:
    def __init__(self) -> None:
        self.secret: str = ""
        self.answers: list[int] = []  # answered in order; 200 once empty
        self.always: int | None = None  # answer this to every request
        self.delay = 0.0
        self.received: list[dict[str, Any]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = request.headers
        verified = verify_signature(
            self.secret,
            headers.get("X-Passerelle-Timestamp", ""),
            body,
            headers.get("X-Passerelle-Signature", ""),
        )
        self.received.append(
            {
                "event": headers.get("X-Passerelle-Event"),
                "delivery": headers.get("X-Passerelle-Delivery"),
                "verified": verified,
                "payload": json.loads(body),
                "body": body,
            }
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        if not verified:
            return web.Response(status=401, text="bad signature")
        if self.always is not None:
            return web.Response(status=self.always)
        return web.Response(status=self.answers.pop(0) if self.answers else 200)
