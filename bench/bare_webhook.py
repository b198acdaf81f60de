"""The bare endpoint of bench_inbound: a signed Twilio SMS webhook without the product.

`POST /webhooks/twilio/sms` does exactly this and nothing else:
  1. reads the raw body and decodes it as UTF-8;
  2. parses it with `urllib.parse.parse_qsl(keep_blank_values=True)` into a dict of lists with
     a `getall` method (what twilio's RequestValidator reads), as the app does;
  3. computes the signature of PUBLIC_BASE_URL + path (+ query) over that form with
     `twilio.request_validator.RequestValidator(TWILIO_AUTH_TOKEN).compute_signature`
     (one HMAC-SHA1 over the URL and the sorted fields) and compares it with the
     X-Twilio-Signature header with `hmac.compare_digest`; a mismatch (or no header) is a 403;
  4. reads MessageSid and From from the form (no phone parsing) and answers the same empty
     TwiML as the app, `text/xml`, status 200.
No database, no phone normalisation, no logging, no settings object: the token and
PUBLIC_BASE_URL come from the environment. `GET /healthz` answers {"status": "ok"}.
Started like the app: `uvicorn bench.bare_webhook:create_app --factory --workers 2`.
"""

from __future__ import annotations

import hmac
import os
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from twilio.request_validator import RequestValidator

EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


class Form(dict[str, list[str]]):
    def __init__(self, items: list[tuple[str, str]]) -> None:
        super().__init__()
        for name, value in items:
            self.setdefault(name, []).append(value)

    def getall(self, name: str) -> list[str]:
        return self[name]

    def get(self, name: str, default: str = "") -> str:  # type: ignore[override]
        values = super().get(name)
        return values[-1] if values else default


def create_app() -> FastAPI:
    token = os.environ["TWILIO_AUTH_TOKEN"]
    base = os.environ["PUBLIC_BASE_URL"].rstrip("/")
    app = FastAPI(title="bare webhook")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhooks/twilio/sms")
    async def inbound_sms(request: Request) -> Response:
        signature = request.headers.get("x-twilio-signature")
        if not signature:
            return JSONResponse({"detail": "missing X-Twilio-Signature"}, status_code=403)
        body = (await request.body()).decode("utf-8", "replace")
        form = Form(parse_qsl(body, keep_blank_values=True))
        url = base + request.scope["path"]
        if query := request.scope.get("query_string"):
            url += "?" + query.decode("latin-1")
        computed = RequestValidator(token).compute_signature(url, form)
        if not hmac.compare_digest(computed.encode(), signature.encode()):
            return JSONResponse({"detail": "invalid X-Twilio-Signature"}, status_code=403)
        if not form.get("MessageSid") or not form.get("From"):
            return Response(EMPTY_TWIML, media_type="text/xml")
        return Response(EMPTY_TWIML, media_type="text/xml")

    return app
