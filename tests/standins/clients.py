"""Point the real twilio and aiogram clients at a stand-in.

Both are the libraries' public extension points: a custom ``http_client`` for twilio, a
``TelegramAPIServer`` for aiogram's ``AiohttpSession``.
"""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from channels.twilio_sms import RebasedTwilioHttpClient

# The product's own client: the tests drive the same code that talks to Twilio in production.
RedirectingTwilioHttpClient = RebasedTwilioHttpClient


def standin_bot(base_url: str, token: str, *, timeout: float = 60.0) -> Bot:
    """An aiogram Bot whose session talks to the Telegram stand-in at ``base_url``."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(base_url), timeout=timeout)
    return Bot(token, session=session)
