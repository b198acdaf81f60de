"""Twilio webhooks (CONTRACT §3): inbound SMS and message status callbacks.

Why it is written this way:
- Anyone can POST to a public URL, so nothing is read before `X-Twilio-Signature` checks out
  against `PUBLIC_BASE_URL` + path (+ query), the URL Twilio called (the app may sit behind a
  proxy), over the form exactly as sent: Twilio signs its empty fields too, so the body is
  parsed here with blank values kept. Without an auth token nothing can be verified: 403.
- Twilio retries any answer that is not 2xx. A payload that can never be handled (no
  MessageSid, a `From` that is not a phone number) is logged and answered 200 with empty
  TwiML, so it is not sent again and again; a database failure is left to fail (5xx) because
  the retry will then store the message, once, thanks to the unique MessageSid.
- An inbound SMS is the hot path (a benchmark posts thousands): for a person we know it costs
  the lookup by phone, the insert with its conversation upsert (`inbound.store`) and, only when
  relevant, the keyword or after-hours answer. A message whose first word could be an event
  keyword ("Bonjour" could) costs one indexed lookup more (`inbound.event_for_keyword`). No
  transaction is opened: a duplicate MessageSid stops at the insert, and the SQL lives in
  `inbound`, shared with Telegram.
- Status callbacks repeat and arrive late: `outbox.apply_provider_status` only moves a row
  forward. Error 21610 means the person unsubscribed at the carrier (they sent STOP to Twilio),
  which the consent ledger must record as well.
"""

from __future__ import annotations

import hmac
import logging
from functools import lru_cache
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from twilio.request_validator import RequestValidator

from channels import inbound, outbox
from channels.consent import set_channel_consent
from channels.models import Channel, OutboxMessage, OutboxStatus
from channels.runtime import wake_dispatcher
from crm.config import settings
from crm.people.phones import normalize_phone

log = logging.getLogger(__name__)

router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"], include_in_schema=False)

EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
SIGNATURE_HEADER = "x-twilio-signature"
PHONE_REGION = "BE"  # a national number without a country code is Belgian
PROVIDER_ID_LENGTH = 64  # InboundMessage.provider_id / OutboxMessage.provider_id
UNSUBSCRIBED = "21610"  # "Attempt to send to unsubscribed recipient"

# Twilio's MessageStatus values → ours. Absent (queued, accepted, scheduled, sending,
# receiving, received): nothing to record, the outbox row already says as much.
STATUSES = {
    "sent": OutboxStatus.SENT,
    "delivered": OutboxStatus.DELIVERED,
    "read": OutboxStatus.DELIVERED,
    "undelivered": OutboxStatus.UNDELIVERED,
    "failed": OutboxStatus.FAILED,
    "canceled": OutboxStatus.FAILED,
}


class _Form(dict[str, list[str]]):
    """The posted fields with every value of a repeated name, as RequestValidator signs them
    (it reads `getall`); `get` gives the handlers the last value."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        super().__init__()
        for name, value in items:
            self.setdefault(name, []).append(value)

    def getall(self, name: str) -> list[str]:
        return self[name]

    def get(self, name: str, default: str = "") -> str:  # type: ignore[override]
        values = super().get(name)
        return values[-1] if values else default


async def _signed_form(request: Request) -> _Form | JSONResponse:
    """The form when the request is Twilio's, else the 403 to answer."""
    token = settings.TWILIO_AUTH_TOKEN
    if not token:
        return _forbidden("Twilio is not configured (TWILIO_AUTH_TOKEN is unset)")
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        return _forbidden("missing X-Twilio-Signature")
    body = (await request.body()).decode("utf-8", "replace")
    form = _Form(parse_qsl(body, keep_blank_values=True))
    url = settings.PUBLIC_BASE_URL + request.scope["path"]
    if query := request.scope.get("query_string"):
        url += "?" + query.decode("latin-1")
    validator = RequestValidator(token)
    # One HMAC for the URL as configured; `validate` also tries it with/without the port.
    computed = validator.compute_signature(url, form)
    if not hmac.compare_digest(computed.encode(), signature.encode()):
        if not validator.validate(url, form, signature):
            return _forbidden("invalid X-Twilio-Signature for " + url)
    return form


def _forbidden(detail: str) -> JSONResponse:
    log.warning("twilio webhook refused: %s", detail)
    return JSONResponse({"detail": detail}, status_code=403)


def _twiml() -> Response:
    return Response(EMPTY_TWIML, media_type="text/xml")


def _message_sid(form: _Form) -> str | None:
    sid = form.get("MessageSid").strip()
    return sid if sid and len(sid) <= PROVIDER_ID_LENGTH else None


@router.post("/sms")
async def inbound_sms(request: Request) -> Response:
    form = await _signed_form(request)
    if isinstance(form, JSONResponse):
        return form
    sid = _message_sid(form)
    if sid is None:
        log.warning("twilio inbound SMS without a usable MessageSid: ignored")
        return _twiml()
    phone = _phone(form.get("From"))
    if phone is None:
        log.warning("twilio inbound SMS %s: From is not a phone number; ignored", sid)
        return _twiml()
    # PostgreSQL text cannot hold NUL; nothing a person typed is lost without it.
    body = form.get("Body").replace("\x00", "")
    media = _int(form.get("NumMedia"))
    # "MARCHE12" texted from a market stand: the person comes with that event.
    event = await inbound.event_for_keyword(body)
    attribution = {"event_id": event.id} if event else None
    lead, created = await inbound.find_or_create_sender(Channel.SMS, phone, attribution=attribution)
    message = await inbound.store(
        lead,
        Channel.SMS,
        address=phone,
        body=body,
        provider_id=sid,
        kind="media" if media else "text",
    )
    if message is None:
        log.info("twilio inbound SMS %s already stored", sid)
        return _twiml()
    if event is not None:
        queued = await inbound.welcome_from_event(lead, message, event, created=created)
    else:
        queued = await inbound.answer(lead, message, Channel.SMS)
    if queued:
        wake_dispatcher(request)
    return _twiml()


@router.post("/status")
async def status_callback(request: Request) -> Response:
    form = await _signed_form(request)
    if isinstance(form, JSONResponse):
        return form
    sid = _message_sid(form)
    reported = form.get("MessageStatus").strip().lower()
    if sid is None or not reported:
        log.warning("twilio status callback without MessageSid or MessageStatus: ignored")
        return Response(status_code=204)
    status = STATUSES.get(reported)
    if status is None:  # queued, sending, accepted…: nothing to record
        return Response(status_code=204)
    code = form.get("ErrorCode").strip() or None
    reason = form.get("ErrorMessage").strip() or None
    moved = await outbox.apply_provider_status(sid, status, code=code, reason=reason)
    if not moved:
        log.info(
            "twilio status %s for %s: unknown message or older news; nothing changed", reported, sid
        )
    if code == UNSUBSCRIBED and status in (OutboxStatus.FAILED, OutboxStatus.UNDELIVERED):
        await _record_carrier_opt_out(sid)
    return Response(status_code=204)


async def _record_carrier_opt_out(sid: str) -> None:
    row = await OutboxMessage.filter(provider_id=sid).select_related("lead").first()
    if row is None:
        log.warning("twilio reports %s unsubscribed for unknown message %s", UNSUBSCRIBED, sid)
        return
    await set_channel_consent(row.lead, Channel.SMS, granted=False, method="carrier_opt_out")


@lru_cache(maxsize=8192)
def _phone(raw: str) -> str | None:
    """E.164, or None; cached because the same people write again and parsing is not free."""
    try:
        return normalize_phone(raw, PHONE_REGION)
    except ValueError:
        return None


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0
