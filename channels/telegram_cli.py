"""`passerelle telegram set-webhook`: tell Telegram where to post updates.

Run once per deploy (Telegram keeps one webhook per bot; several processes calling it would
only race). The updates asked for are exactly those the handlers use, so Telegram does not
post edits, channel posts or polls that nobody reads."""

from __future__ import annotations

import logging
import re

from channels.telegram_bot import make_bot
from channels.telegram_handlers import get_dispatcher
from crm.config import settings

log = logging.getLogger("passerelle.telegram")

WEBHOOK_PATH = "/webhooks/telegram"
# What Telegram accepts as secret_token (Bot API, setWebhook).
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


def webhook_url() -> str:
    """The URL to register, after checking every setting Telegram would refuse (ValueError)."""
    if not settings.TELEGRAM_BOT_TOKEN:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set: there is no bot to register")
    secret = settings.TELEGRAM_WEBHOOK_SECRET
    if not secret:
        raise ValueError(
            "TELEGRAM_WEBHOOK_SECRET is not set: the webhook refuses every update without it"
        )
    if not SECRET_TOKEN.fullmatch(secret):
        raise ValueError(
            "TELEGRAM_WEBHOOK_SECRET must be 1 to 256 characters of A-Z, a-z, 0-9, _ and - "
            "(Telegram refuses any other)"
        )
    url = settings.PUBLIC_BASE_URL.rstrip("/") + WEBHOOK_PATH
    if not url.startswith("https://"):
        if settings.ENVIRONMENT == "production":
            raise ValueError(
                f"PUBLIC_BASE_URL must be an https:// URL: Telegram only calls https webhooks "
                f"(got {settings.PUBLIC_BASE_URL})"
            )
        log.warning(
            "registering %s over plain http (ENVIRONMENT=%s): only a local stand-in of the Bot "
            "API accepts that; the real Telegram requires https",
            url,
            settings.ENVIRONMENT,
        )
    return url


async def set_webhook() -> str:
    """Register the webhook with its secret; returns the URL registered."""
    url = webhook_url()
    bot = make_bot(
        settings.TELEGRAM_BOT_TOKEN or "",
        settings.TELEGRAM_API_BASE,
        timeout=settings.PROVIDER_TIMEOUT_SECONDS,
    )
    try:
        await bot.set_webhook(
            url,
            secret_token=settings.TELEGRAM_WEBHOOK_SECRET,
            allowed_updates=get_dispatcher().resolve_used_update_types(),
        )
    finally:
        await bot.session.close()
    return url
