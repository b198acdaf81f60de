"""Which provider serves each channel, decided once from the settings: Twilio and Telegram when
their credentials are set, the console otherwise. Built inside the running event loop (the web
app's lifespan, the worker) and injected; tests point the URLs at local stand-ins."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiogram import Bot

from channels.base import Channel
from channels.console import ConsoleChannel
from channels.models import Channel as ChannelName
from channels.telegram_bot import TelegramChannel, make_bot
from channels.twilio_sms import TwilioSmsChannel
from crm.config import settings

log = logging.getLogger(__name__)

STATUS_CALLBACK_PATH = "/webhooks/twilio/status"


@dataclass
class ChannelSet:
    sms: Channel
    telegram: Channel
    bot: Bot | None  # the Telegram bot, also used by the webhook; None on the console

    def get(self, name: str) -> Channel:
        return self.sms if name == ChannelName.SMS else self.telegram

    async def close(self) -> None:
        for channel in (self.sms, self.telegram):
            try:
                await channel.close()
            except Exception:  # noqa: BLE001 - closing must not hide the real shutdown cause
                log.exception("closing channel %s", channel.name)


def twilio_configured() -> bool:
    return bool(settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN and settings.TWILIO_FROM)


def build_channels() -> ChannelSet:
    sms: Channel
    telegram: Channel
    if twilio_configured():
        sms = TwilioSmsChannel(
            account_sid=settings.TWILIO_ACCOUNT_SID or "",
            auth_token=settings.TWILIO_AUTH_TOKEN or "",
            sender=settings.TWILIO_FROM or "",
            api_base=settings.TWILIO_API_BASE,
            status_callback=settings.PUBLIC_BASE_URL + STATUS_CALLBACK_PATH,
            timeout=settings.PROVIDER_TIMEOUT_SECONDS,
        )
    else:
        sms = ConsoleChannel("sms")
    bot = None
    if settings.TELEGRAM_BOT_TOKEN:
        bot = make_bot(
            settings.TELEGRAM_BOT_TOKEN,
            settings.TELEGRAM_API_BASE,
            timeout=settings.PROVIDER_TIMEOUT_SECONDS,
        )
        telegram = TelegramChannel(bot)
    else:
        telegram = ConsoleChannel("telegram")
    return ChannelSet(sms=sms, telegram=telegram, bot=bot)
