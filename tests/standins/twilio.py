"""Stand-in for the Twilio REST API (Messages resource of API version 2010-04-01).

Answers are shaped like Twilio's: the Message resource JSON on create/fetch, the list page
JSON on list, and ``{"code", "message", "more_info", "status"}`` on errors, which
twilio-python turns into ``TwilioRestException`` with ``.code`` and ``.status``.

twilio-python sends the list date filters as the query keys ``DateSent``, ``DateSent<``
(``date_sent_before``) and ``DateSent>`` (``date_sent_after``), formatted with
``iso8601_datetime`` (``YYYY-MM-DDTHH:MM:SSZ`` for a datetime or date, unchanged for a
string). Twilio documents these filters as whole GMT dates, inclusive, so the stand-in
compares on the date only. ``tests.standins.clients`` points the real client here.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from datetime import UTC, date, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.standins.server import JSON, StandinServer

API = "/2010-04-01/Accounts/{account_sid}"
E164 = re.compile(r"^\+[1-9]\d{7,14}$")
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXT = set("^{}\\[~]|€\f")
ERRORS: dict[int, str] = {
    20003: "Authenticate",
    20404: "The requested resource {path} was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21211: "The 'To' number {to} is not a valid phone number.",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
}
STATUS_CODES = {401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}
RESOURCE_KEYS = (
    "sid account_sid to from messaging_service_sid body status num_segments num_media direction "
    "date_created date_updated date_sent error_code error_message price price_unit uri "
    "api_version subresource_uris"
).split()


def num_segments(body: str) -> int:
    """SMS segments Twilio would bill: GSM-7 160/153 septets, otherwise UCS-2 70/67."""
    if all(c in GSM7 or c in GSM7_EXT for c in body):
        units, single, multi = sum(2 if c in GSM7_EXT else 1 for c in body), 160, 153
    else:
        units, single, multi = len(body.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else -(-units // multi)


def rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC))


class TwilioStandin(StandinServer):
    """``/2010-04-01/Accounts/{AccountSid}/Messages.json`` and ``Messages/{Sid}.json``."""

    name = "twilio"

    def __init__(
        self,
        account_sid: str = "AC" + "0" * 32,
        auth_token: str = "standin-auth-token",
        *,
        latency: float = 0.0,
    ) -> None:
        super().__init__(latency=latency)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._sent_at: dict[str, datetime] = {}
        base = API.format(account_sid="{account_sid}")
        self.app.add_routes(
            [
                web.post(base + "/Messages.json", self._create),
                web.get(base + "/Messages.json", self._list),
                web.get(base + "/Messages/{sid}.json", self._fetch),
                web.post("/_standin/status", self._control_status),
            ]
        )

    def _reset_state(self) -> None:
        self._sent_at.clear()

    # ------------------------------------------------------------------ helpers
    def error(
        self, status: int, code: int | None = None, message: str | None = None, **fmt: Any
    ) -> web.Response:
        """A Twilio-shaped error answer."""
        code = code or STATUS_CODES.get(status, status)
        text = message or ERRORS.get(code, "Error").format(**{"to": "", "path": "", **fmt})
        body = {
            "code": code,
            "message": text,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        return web.json_response(body, status=status)

    def _outage_response(self, status: int) -> web.Response:
        return self.error(status)

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        try:
            login, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except ValueError:
            return False
        return scheme.lower() == "basic" and (login, password) == (
            self.account_sid,
            self.auth_token,
        )

    def _guard(self, request: web.Request) -> web.Response | None:
        if not self._authorized(request):
            return self.error(401)
        if request.match_info["account_sid"] != self.account_sid:
            return self.error(404, path=request.path)
        return None

    def _find(self, sid: str) -> JSON | None:
        return next((m for m in self._messages if m["sid"] == sid), None)

    @staticmethod
    def _resource(message: JSON) -> JSON:
        return {k: message.get(k) for k in RESOURCE_KEYS}

    # ----------------------------------------------------------------- handlers
    async def _create(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()  # the provider counts its rate limit on arrival
        await self._delay()
        if (denied := self._guard(request)) is not None:
            return denied
        form = {k: str(v) for k, v in (await request.post()).items()}
        self._record_call("Messages.create", form)
        to, body = form.get("To", ""), form.get("Body", "")
        fault = self._take_fault(to)
        if fault and "timeout" in fault and not await self._hold(request, fault["timeout"]):
            return web.Response(status=504)
        if fault and "status" in fault:
            return self.error(int(fault["status"]), fault.get("code"), fault.get("message"), to=to)
        if not E164.match(to):
            return self.error(400, 21211, to=to)
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return self.error(400, 21603)
        if not body:
            return self.error(400, 21602)
        now = datetime.now(UTC)
        sid = "SM" + uuid.uuid4().hex
        uri = f"{API.format(account_sid=self.account_sid)}/Messages/{sid}"
        message: JSON = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": form.get("From") or None,
            "messaging_service_sid": form.get("MessagingServiceSid") or None,
            "body": body,
            "status": "queued",
            "num_segments": str(num_segments(body)),
            "num_media": "0",
            "direction": "outbound-api",
            "date_created": rfc2822(now),
            "date_updated": rfc2822(now),
            "date_sent": None,
            "error_code": None,
            "error_message": None,
            "price": None,
            "price_unit": "USD",
            "uri": uri + ".json",
            "api_version": "2010-04-01",
            "subresource_uris": {"media": uri + "/Media.json", "feedback": uri + "/Feedback.json"},
            "status_callback": form.get("StatusCallback"),
            "t": arrived,
        }
        answer = self._resource(message)
        with self._lock:
            self._sent_at[sid] = now
        self._record_message(message)
        if fault and "accept_then_hang" in fault:
            await self._hold(request, fault["accept_then_hang"])
        return web.json_response(answer, status=201)

    async def _list(self, request: web.Request) -> web.Response:
        await self._delay()
        if (denied := self._guard(request)) is not None:
            return denied
        query = request.query
        try:
            on, after, before = (_day(query.get(k)) for k in ("DateSent", "DateSent>", "DateSent<"))
            page = int(query.get("Page", "0"))
            size = min(int(query.get("PageSize", "50")), 1000)
        except ValueError as exc:
            return self.error(400, 20001, f"Invalid parameter: {exc}")
        to, sender = query.get("To"), query.get("From")
        with self._lock:
            # Filtered on the recipient first: a lookup among 20,000 messages stays cheap, and
            # the server's loop is not held long (arrival times are stamped on that loop).
            rows = [
                (self._resource(m), self._sent_at.get(m["sid"]))
                for m in reversed(self._messages)
                if (not to or m["to"] == to) and (not sender or m["from"] == sender)
            ]
        selected = []
        for message, sent_at in rows:
            day = sent_at.date() if sent_at else None
            if query.get("To") and message["to"] != query["To"]:
                continue
            if query.get("From") and message["from"] != query["From"]:
                continue
            if on and day != on:
                continue
            if after and (day is None or day < after):
                continue
            if before and (day is None or day > before):
                continue
            selected.append(message)
        chunk = selected[page * size : (page + 1) * size]
        path = f"{API.format(account_sid=self.account_sid)}/Messages.json"
        filters = {k: v for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")}

        def page_uri(n: int) -> str:
            return path + "?" + urlencode({**filters, "PageSize": size, "Page": n})

        return web.json_response(
            {
                "messages": chunk,
                "first_page_uri": page_uri(0),
                "next_page_uri": page_uri(page + 1) if len(selected) > (page + 1) * size else None,
                "previous_page_uri": page_uri(page - 1) if page > 0 else None,
                "page": page,
                "page_size": size,
                "start": page * size,
                "end": page * size + max(len(chunk) - 1, 0),
                "uri": page_uri(page),
            }
        )

    async def _fetch(self, request: web.Request) -> web.Response:
        await self._delay()
        if (denied := self._guard(request)) is not None:
            return denied
        with self._lock:
            message = self._find(request.match_info["sid"])
            resource = self._resource(message) if message else None
        if resource is None:
            return self.error(404, path=request.path)
        return web.json_response(resource)

    async def _control_status(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.set_status(body["sid"], body["status"], body.get("error_code"))
        return web.json_response({"ok": True})

    # ------------------------------------------------------------------ control
    def set_status(self, sid: str, status: str, error_code: int | None = None) -> None:
        """Move a stored message to ``status`` (list/fetch answers show it)."""
        now = datetime.now(UTC)
        with self._lock:
            message = self._find(sid)
            if message is None:
                raise KeyError(sid)
            message["status"] = status
            message["date_updated"] = rfc2822(now)
            if status not in ("queued", "accepted", "scheduled") and not message["date_sent"]:
                message["date_sent"] = rfc2822(self._sent_at.get(sid, now))
            if error_code is not None:
                message["error_code"] = int(error_code)

    def status_callback_form(
        self, sid: str, status: str, error_code: int | str | None = None
    ) -> tuple[str, dict[str, str]]:
        """The StatusCallback URL of ``sid`` and the form Twilio would POST to it."""
        with self._lock:
            message = self._find(sid)
            if message is None:
                raise KeyError(sid)
            message = dict(message)
        form = {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self.account_sid,
            "From": message["from"] or "",
            "To": message["to"],
            "MessageStatus": status,
            "SmsStatus": status,
            "ApiVersion": "2010-04-01",
        }
        if message["messaging_service_sid"]:
            form["MessagingServiceSid"] = message["messaging_service_sid"]
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        return message["status_callback"] or "", form


def _day(value: str | None) -> date | None:
    """``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM:SSZ`` (what twilio-python sends) to a date."""
    return date.fromisoformat(value[:10]) if value else None
