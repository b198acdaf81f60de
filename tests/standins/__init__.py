"""Local stand-ins for the Twilio REST API and the Telegram Bot API.

Both run an aiohttp server on 127.0.0.1 that the real ``twilio`` and ``aiogram`` clients
talk to, record what was sent, and answer injected faults (429, 500, timeouts, Twilio
21610/21211, a blocked bot). Use them in a test thread (``start_in_thread``), inside a
running loop (``await start()``), or as a process: ``python -m tests.standins twilio``.
"""

from tests.standins.server import StandinServer
from tests.standins.telegram import TelegramStandin
from tests.standins.twilio import TwilioStandin

__all__ = ["StandinServer", "TelegramStandin", "TwilioStandin"]
