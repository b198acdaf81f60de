"""The embedded default: when a channel has no credentials its messages are recorded in the
outbox (status `sent`, provider `console`), logged, and shown as "not sent (console)". Nothing is
silently dropped, and the whole product runs without any provider account."""

from __future__ import annotations

import logging
from datetime import datetime

from channels.base import Outgoing, SendResult

log = logging.getLogger("passerelle.console")


class ConsoleChannel:
    provider = "console"

    def __init__(self, name: str) -> None:
        self.name = name

    async def send(self, message: Outgoing) -> SendResult:
        log.info("console %s → %s: %s", self.name, message.address, message.body)
        return SendResult.sent(f"console-{message.id}")

    async def reconcile(self, message: Outgoing, since: datetime) -> SendResult | None:
        # The console never sent anything anywhere: recording it again is harmless.
        return SendResult.sent(f"console-{message.id}")

    async def close(self) -> None:
        return None
