"""SMS through Twilio: the official client with its async HTTP client.

The client is pointed at `TWILIO_API_BASE` by rewriting the scheme and host of each request in a
subclass of `AsyncTwilioHttpClient` (its public extension point), so tests and benchmarks reach
a local stand-in with the real library."""

from __future__ import annotations

import logging
import warnings
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from channels.base import Outgoing, ReconcileLater, SendOutcome, SendResult
from channels.ratelimit import send_time_trace

log = logging.getLogger(__name__)

# twilio 9 still hands aiohttp a BasicAuth object, which aiohttp 3.14 deprecates: twilio's
# business, not ours, and noise in every log line of a send.
warnings.filterwarnings("ignore", "BasicAuth is deprecated", DeprecationWarning)
warnings.filterwarnings("ignore", "The 'auth' parameter is deprecated", DeprecationWarning)

OPTED_OUT_CODE = 21610  # "Attempt to send to unsubscribed recipient"
TOO_MANY_REQUESTS_CODE = 20429
# Codes that say the message may go through later: queue full, rate exceeded.
_RETRYABLE_CODES = {TOO_MANY_REQUESTS_CODE, 30001, 20503}


class RebasedTwilioHttpClient(AsyncTwilioHttpClient):
    """Sends every request to `base_url` instead of https://*.twilio.com, and applies the
    client's timeout (twilio's generated API passes none, which would mean waiting forever)."""

    def __init__(self, base_url: str, *, timeout: float) -> None:
        super().__init__(timeout=timeout, trace_configs=[send_time_trace()])
        parts = urlsplit(base_url.rstrip("/"))
        self._scheme, self._netloc = parts.scheme, parts.netloc
        self._prefix = parts.path

    async def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the signature twilio calls
        allow_redirects: bool = False,
    ) -> Response:
        parts = urlsplit(url)
        if parts.netloc.endswith("twilio.com"):
            url = urlunsplit(
                (self._scheme, self._netloc, self._prefix + parts.path, parts.query, "")
            )
        seconds = timeout if timeout is not None else self.timeout
        return await super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=seconds,
            allow_redirects=allow_redirects,
        )


def classify_twilio_error(exc: TwilioRestException) -> SendResult:
    code = str(exc.code) if exc.code is not None else str(exc.status)
    reason = exc.msg or str(exc)
    if exc.code == OPTED_OUT_CODE:
        return SendResult(SendOutcome.OPTED_OUT, code=code, reason=reason)
    if exc.status == 429 or exc.status >= 500 or exc.code in _RETRYABLE_CODES:
        return SendResult(SendOutcome.RETRYABLE, code=code, reason=reason)
    return SendResult(SendOutcome.PERMANENT, code=code, reason=reason)


class TwilioSmsChannel:
    name = "sms"
    provider = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        sender: str,
        api_base: str,
        status_callback: str,
        timeout: float,
    ) -> None:
        # Must run inside the event loop: the HTTP client opens an aiohttp session.
        self._http = RebasedTwilioHttpClient(api_base, timeout=timeout)
        self._client = Client(account_sid, auth_token, http_client=self._http)
        self._sender = sender
        self._status_callback = status_callback

    def _sender_params(self) -> dict[str, Any]:
        if self._sender.startswith("MG"):
            return {"messaging_service_sid": self._sender}
        return {"from_": self._sender}

    async def send(self, message: Outgoing) -> SendResult:
        try:
            sent = await self._client.messages.create_async(
                to=message.address,
                body=message.body,
                status_callback=self._status_callback,
                **self._sender_params(),
            )
        except TwilioRestException as exc:
            return classify_twilio_error(exc)
        except TimeoutError:
            # The message may have been taken: the dispatcher looks it up before a new try.
            return SendResult(SendOutcome.RETRYABLE, code="timeout", reason="no answer in time")
        except aiohttp.ClientError as exc:
            return SendResult(SendOutcome.RETRYABLE, code="network", reason=str(exc)[:500])
        return SendResult.sent(sent.sid, provider_status=sent.status)

    async def reconcile(self, message: Outgoing, since: datetime) -> SendResult | None:
        """Look the message up among those sent to the same number since the claim: the same
        body sent after the claim is ours (the dispatcher never sends one row's body to one
        number twice in that window). Twilio's date filter is by day, hence the extra check."""
        try:
            candidates = await self._client.messages.list_async(
                to=message.address, date_sent_after=since - timedelta(days=1), limit=200
            )
        except (TwilioRestException, TimeoutError, aiohttp.ClientError):
            raise ReconcileLater(f"twilio lookup failed for outbox {message.id}") from None
        horizon = since - timedelta(minutes=1)
        for candidate in candidates:
            created = candidate.date_created
            if candidate.body == message.body and (created is None or created >= horizon):
                return SendResult.sent(candidate.sid, provider_status=candidate.status)
        return SendResult(SendOutcome.RETRYABLE, code="not_found", reason="not found at Twilio")

    async def close(self) -> None:
        await self._http.close()
