"""The one Channel interface every provider implements, and how a send result is classified.

The dispatcher only ever sees a `SendResult`: it never has to know whether Twilio or Telegram
answered, only whether the message left (with the provider's id), may be tried again (and
when), failed for good (with the provider's code and reason), or hit a person who opted out or
blocked the bot (which the consent ledger must then record)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class SendOutcome(StrEnum):
    SENT = "sent"
    RETRYABLE = "retryable"
    PERMANENT = "permanent"
    OPTED_OUT = "opted_out"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class SendResult:
    outcome: SendOutcome
    provider_id: str | None = None
    code: str | None = None
    reason: str | None = None
    retry_after: float | None = None  # seconds the provider asked us to wait
    # For a reconciled message: the provider's own status (queued, sent, delivered…).
    provider_status: str | None = None

    @classmethod
    def sent(cls, provider_id: str, provider_status: str | None = None) -> SendResult:
        return cls(SendOutcome.SENT, provider_id=provider_id, provider_status=provider_status)


@dataclass(frozen=True)
class Outgoing:
    """What a channel needs to send one outbox row."""

    id: int
    address: str
    body: str
    reply_markup: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ReconcileLater(Exception):
    """The provider could not be asked now (network, rate): keep the row and ask again."""


class Channel(Protocol):
    # `sms` or `telegram`: the road, whatever provider serves it.
    name: str
    # `twilio`, `telegram` or `console`: who actually carries the message.
    provider: str

    async def send(self, message: Outgoing) -> SendResult: ...

    async def reconcile(self, message: Outgoing, since: datetime) -> SendResult | None:
        """After a lost answer: did the provider take this message? A SendResult when the
        provider can say (sent with its id, or RETRYABLE when it surely never arrived), None
        when nobody can know (the row then becomes `unknown` for staff to decide)."""
        ...

    async def close(self) -> None: ...
