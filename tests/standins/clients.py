"""Point the real twilio and aiogram clients at a stand-in.

Both are the libraries' public extension points: a custom ``http_client`` for twilio, a
``TelegramAPIServer`` for aiogram's ``AiohttpSession``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response


class RedirectingTwilioHttpClient(AsyncTwilioHttpClient):
    """AsyncTwilioHttpClient that sends every request to ``base_url`` instead of Twilio.

    It also applies the constructor ``timeout``: the stock client stores it but passes only
    the per-request ``timeout`` to aiohttp, and the generated API always passes None there,
    which aiohttp reads as "no timeout at all".
    """

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the parent's signature
        allow_redirects: bool = False,
    ) -> Response:
        parts = urlsplit(url)
        url = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        return await super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=self.timeout if timeout is None else timeout,
            allow_redirects=allow_redirects,
        )


def standin_bot(base_url: str, token: str, *, timeout: float = 60.0) -> Bot:
    """An aiogram Bot whose session talks to the Telegram stand-in at ``base_url``."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(base_url), timeout=timeout)
    return Bot(token, session=session)
