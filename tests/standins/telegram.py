"""Stand-in for the Telegram Bot API (the update builders live in ``tests.standins.updates``).

Routes ``/bot{token}/{method}`` (POST form, multipart or JSON, and GET query; method names
are case-insensitive as in the Bot API). aiogram's ``AiohttpSession`` posts every call as
``application/x-www-form-urlencoded`` (multipart only with files), drops empty values and
sends nested objects (``reply_markup``, ``allowed_updates``) as JSON strings.

Faults are keyed by ``chat_id`` and apply to methods that carry one (``sendMessage``,
``sendChatAction``, ``editMessageReplyMarkup``); error bodies are the Bot API's
``{"ok": false, "error_code", "description"[, "parameters"]}``.
"""

from __future__ import annotations

import html
import json
import re
import time
from typing import Any

from aiohttp import web

from tests.standins.server import JSON, StandinServer
from tests.standins.updates import BOT_USERNAME, callback_update, contact_update, message_update

__all__ = [
    "BOT_USERNAME",
    "TelegramStandin",
    "callback_update",
    "contact_update",
    "message_update",
    "tg_error",
]
DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def tg_error(status: int, description: str | None = None, retry_after: int = 3) -> web.Response:
    """An error answer exactly as the Bot API words it."""
    body: JSON = {"ok": False, "error_code": status}
    if status == 429:
        body["description"] = description or f"Too Many Requests: retry after {retry_after}"
        body["parameters"] = {"retry_after": retry_after}
    else:
        body["description"] = description or DESCRIPTIONS.get(status, "Bad Request")
    return web.json_response(body, status=status)


def _chat_id(value: Any) -> int | str | None:
    if value is None or value == "":
        return None
    text = str(value)
    return int(text) if text.lstrip("-").isdigit() else text


def _json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) and value else value


class TelegramStandin(StandinServer):
    """The Bot API methods a webhook bot uses, with per-chat message ids."""

    name = "telegram"

    def __init__(
        self,
        token: str = "123456:STANDIN-token",
        *,
        latency: float = 0.0,
        strict_webhook: bool = True,
    ) -> None:
        super().__init__(latency=latency)
        self.token = token
        self.username = BOT_USERNAME
        head = token.split(":", 1)[0]
        self.bot_id = int(head) if head.isdigit() else 123456
        self.strict_webhook = strict_webhook
        self._webhook: JSON | None = None
        self._next_id: dict[str, int] = {}
        self._methods = {
            name.lower(): handler
            for name, handler in {
                "getMe": self._get_me,
                "sendMessage": self._send_message,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "answerCallbackQuery": self._true,
                "sendChatAction": self._true,
                "editMessageReplyMarkup": self._edit_reply_markup,
            }.items()
        }
        self.app.add_routes(
            [
                web.route("*", "/bot{token}/{method}", self._api),
                web.get("/_standin/webhook", self._control_webhook),
            ]
        )

    def _outage_response(self, status: int) -> web.Response:
        return tg_error(status)

    def _reset_state(self) -> None:
        self._webhook = None
        self._next_id.clear()

    @property
    def webhook(self) -> JSON | None:
        """What setWebhook recorded: url, secret_token, allowed_updates, ... (or None)."""
        with self._lock:
            return dict(self._webhook) if self._webhook else None

    def bot_user(self) -> JSON:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Passerelle",
            "username": self.username,
        }

    # ----------------------------------------------------------------- dispatch
    async def _api(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()  # the provider counts its rate limits on arrival
        await self._delay()
        if request.match_info["token"] != self.token:
            return tg_error(401)
        handler = self._methods.get(request.match_info["method"].lower())
        if handler is None:
            return tg_error(404)
        params: JSON = dict(request.query)
        if request.method == "POST":
            if request.content_type == "application/json":
                params.update(await request.json() if request.can_read_body else {})
            else:
                params.update(
                    {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
                )
        method = request.match_info["method"]
        self._record_call(method, params)
        fault = self._take_fault(_chat_id(params.get("chat_id")))
        if fault and "timeout" in fault and not await self._hold(request, fault["timeout"]):
            return web.Response(status=504)
        if fault and "status" in fault:
            retry_after = int(fault.get("retry_after", 3))
            return tg_error(int(fault["status"]), fault.get("description"), retry_after)
        outcome = handler({**params, "_arrived": arrived})
        if isinstance(outcome, web.Response):
            return outcome
        if fault and "accept_then_hang" in fault:
            await self._hold(request, fault["accept_then_hang"])
        result, description = outcome if isinstance(outcome, tuple) else (outcome, None)
        body: JSON = {"ok": True, "result": result}
        if description:
            body["description"] = description
        return web.json_response(body)

    # ------------------------------------------------------------------ methods
    def _get_me(self, params: JSON) -> Any:
        return {
            **self.bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _true(self, params: JSON) -> Any:
        if "chat_id" in params or "callback_query_id" in params:
            return True
        return tg_error(400, "Bad Request: chat_id is empty")

    def _send_message(self, params: JSON) -> Any:
        chat_id, text = _chat_id(params.get("chat_id")), params.get("text") or ""
        if chat_id is None:
            return tg_error(400, "Bad Request: chat_id is empty")
        if not text:
            return tg_error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return tg_error(400, "Bad Request: message is too long")
        try:
            markup = _json_value(params.get("reply_markup"))
        except ValueError:
            return tg_error(400, "Bad Request: can't parse reply keyboard markup JSON object")
        with self._lock:
            message_id = self._next_id.get(str(chat_id), 0) + 1
            self._next_id[str(chat_id)] = message_id
        date = int(time.time())
        self._record_message(
            {
                "method": "sendMessage",
                "message_id": message_id,
                "chat_id": chat_id,
                "text": text,
                "parse_mode": params.get("parse_mode"),
                "reply_markup": markup,
                "date": date,
                "t": params.get("_arrived", time.monotonic()),
            }
        )
        return self._message(chat_id, message_id, date, text, params.get("parse_mode"), markup)

    def _message(
        self, chat_id: Any, message_id: int, date: int, text: str, parse_mode: Any, markup: Any
    ) -> JSON:
        """The Message Telegram answers: HTML tags parsed away, only inline markup echoed."""
        if parse_mode == "HTML":
            text = html.unescape(re.sub(r"<[^>]+>", "", text))
        message: JSON = {
            "message_id": message_id,
            "from": self.bot_user(),
            "chat": {"id": chat_id, "type": "private"},
            "date": date,
            "text": text,
        }
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        return message

    def _edit_reply_markup(self, params: JSON) -> Any:
        if params.get("inline_message_id"):
            return True
        chat_id, message_id = _chat_id(params.get("chat_id")), params.get("message_id")
        markup = _json_value(params.get("reply_markup"))
        with self._lock:
            found = next(
                (
                    m
                    for m in self._messages
                    if m["chat_id"] == chat_id and str(m["message_id"]) == str(message_id)
                ),
                None,
            )
            if found is None:
                return tg_error(400, "Bad Request: message to edit not found")
            if found["reply_markup"] == markup:
                return tg_error(
                    400,
                    "Bad Request: message is not modified: specified new message content and "
                    "reply markup are exactly the same as a current content and reply markup "
                    "of the message",
                )
            found["reply_markup"] = markup
            found = dict(found)
        return self._message(
            chat_id, found["message_id"], found["date"], found["text"], found["parse_mode"], markup
        )

    def _set_webhook(self, params: JSON) -> Any:
        url, secret = params.get("url") or "", params.get("secret_token")
        if self.strict_webhook and url and not url.startswith("https://"):
            return tg_error(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        if secret is not None and not SECRET_TOKEN.match(secret):
            return tg_error(400, "Bad Request: secret token contains unallowed characters")
        with self._lock:
            self._webhook = {
                "url": url,
                "secret_token": secret,
                "allowed_updates": _json_value(params.get("allowed_updates")),
                "drop_pending_updates": str(params.get("drop_pending_updates")).lower() == "true",
                "max_connections": int(params.get("max_connections") or 40),
            }
        return True, "Webhook was set"

    def _delete_webhook(self, params: JSON) -> Any:
        with self._lock:
            had, self._webhook = self._webhook, None
        return True, "Webhook was deleted" if had else "Webhook is already deleted"

    def _get_webhook_info(self, params: JSON) -> Any:
        hook = self.webhook or {}
        info: JSON = {
            "url": hook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": 0,
        }
        if hook:
            info["max_connections"] = hook["max_connections"]
            info["ip_address"] = "127.0.0.1"
            if hook.get("allowed_updates") is not None:
                info["allowed_updates"] = hook["allowed_updates"]
        return info

    async def _control_webhook(self, request: web.Request) -> web.Response:
        return web.json_response(self.webhook)
