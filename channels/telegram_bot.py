"""Telegram through aiogram: one Bot (pointed at `TELEGRAM_API_BASE`) shared by the outbound
channel and the webhook's Dispatcher."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from aiogram import Bot
from aiogram import __version__ as aiogram_version
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    ForceReply,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiohttp import ClientSession
from aiohttp.hdrs import USER_AGENT
from aiohttp.http import SERVER_SOFTWARE

from channels.base import Outgoing, SendOutcome, SendResult
from channels.ratelimit import send_time_trace

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply


class TracedSession(AiohttpSession):
    """aiogram's session with the send-time hook of the rate limiter (channels.ratelimit).
    aiogram builds its aiohttp session itself and offers no option for trace configs."""

    async def create_session(self) -> ClientSession:
        if self._should_reset_connector:
            await self.close()
        if self._session is None or self._session.closed:
            self._session = ClientSession(
                connector=self._connector_type(**self._connector_init),
                headers={USER_AGENT: f"{SERVER_SOFTWARE} aiogram/{aiogram_version}"},
                trace_configs=[send_time_trace()],
            )
            self._should_reset_connector = False
        return self._session


def make_bot(token: str, api_base: str, *, timeout: float) -> Bot:
    session = TracedSession(api=TelegramAPIServer.from_base(api_base.rstrip("/")))
    session.timeout = timeout
    return Bot(token, session=session)


def provider_id(chat_id: int | str, message_id: int) -> str:
    # Telegram message ids are per chat: the chat makes them unique.
    return f"tg:{chat_id}:{message_id}"


def markup_from_json(data: dict[str, Any] | None) -> Markup | None:
    if not data:
        return None
    if "inline_keyboard" in data:
        return InlineKeyboardMarkup.model_validate(data)
    if "keyboard" in data:
        return ReplyKeyboardMarkup.model_validate(data)
    if data.get("remove_keyboard"):
        return ReplyKeyboardRemove.model_validate(data)
    if data.get("force_reply"):
        return ForceReply.model_validate(data)
    return None


def classify_telegram_error(exc: Exception) -> SendResult:
    if isinstance(exc, TelegramRetryAfter):
        return SendResult(
            SendOutcome.RETRYABLE,
            code="429",
            reason=exc.message,
            retry_after=float(exc.retry_after),
        )
    if isinstance(exc, TelegramForbiddenError):
        # Blocked by the user, kicked, or the user deleted their account.
        return SendResult(SendOutcome.BLOCKED, code="403", reason=exc.message)
    if isinstance(exc, TelegramServerError):
        return SendResult(SendOutcome.RETRYABLE, code="5xx", reason=exc.message)
    if isinstance(exc, TelegramNetworkError | TimeoutError | asyncio.TimeoutError):
        return SendResult(SendOutcome.RETRYABLE, code="network", reason=str(exc)[:500])
    if isinstance(exc, TelegramBadRequest):
        return SendResult(SendOutcome.PERMANENT, code="400", reason=exc.message)
    if isinstance(exc, TelegramAPIError):
        return SendResult(SendOutcome.PERMANENT, code="api", reason=exc.message)
    raise exc


class TelegramChannel:
    name = "telegram"
    provider = "telegram"

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, message: Outgoing) -> SendResult:
        try:
            sent = await self.bot.send_message(
                chat_id=int(message.address),
                text=message.body,
                reply_markup=markup_from_json(message.reply_markup),
            )
        except (TelegramAPIError, TimeoutError) as exc:
            return classify_telegram_error(exc)
        return SendResult.sent(provider_id(message.address, sent.message_id))

    async def reconcile(self, message: Outgoing, since: datetime) -> SendResult | None:
        # The Bot API cannot list what a bot sent: nobody can know. Staff decide.
        return None

    async def close(self) -> None:
        await self.bot.session.close()
