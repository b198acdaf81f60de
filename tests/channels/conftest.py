"""Channel tests run the real app against local stand-ins of the Twilio REST API and the
Telegram Bot API (tests/standins), reached by the real `twilio` and `aiogram` clients."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from twilio.request_validator import RequestValidator

from channels.dispatcher import Dispatcher
from crm.config import reload_settings, settings
from crm.people.models import Lead, LeadSource, Stage
from tests.conftest import DATABASE_URL, truncate_all
from tests.standins.telegram import TelegramStandin
from tests.standins.twilio import TwilioStandin

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TWILIO_FROM = "+3225550100"
TELEGRAM_SECRET = "test-webhook-secret_123"


@pytest.fixture(scope="session")
def twilio_standin() -> Iterator[TwilioStandin]:
    server = TwilioStandin()
    server.start_in_thread()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def telegram_standin() -> Iterator[TelegramStandin]:
    server = TelegramStandin(strict_webhook=False)
    server.start_in_thread()
    yield server
    server.stop()


@pytest.fixture
def providers(twilio_standin, telegram_standin) -> Iterator[None]:
    """Settings with both providers configured and pointed at the stand-ins."""
    twilio_standin.reset()
    telegram_standin.reset()
    reload_settings(
        TWILIO_ACCOUNT_SID=twilio_standin.account_sid,
        TWILIO_AUTH_TOKEN=twilio_standin.auth_token,
        TWILIO_FROM=TWILIO_FROM,
        TWILIO_API_BASE=twilio_standin.url,
        TELEGRAM_BOT_TOKEN=telegram_standin.token,
        TELEGRAM_BOT_USERNAME=telegram_standin.username,
        TELEGRAM_WEBHOOK_SECRET=TELEGRAM_SECRET,
        TELEGRAM_API_BASE=telegram_standin.url,
        PROVIDER_TIMEOUT_SECONDS=2,
        OUTBOX_RETRY_BASE_SECONDS=0.05,
        OUTBOX_RETRY_MAX_SECONDS=0.2,
        QUIET_HOURS="",  # tests of quiet hours set their own window
    )
    yield
    reload_settings()


@pytest.fixture
async def app(providers) -> AsyncIterator:
    """The real app with providers configured (shadows the console-only `app`)."""
    from crm.app import create_app

    application = create_app(database_url=DATABASE_URL)
    async with LifespanManager(application):
        await truncate_all()
        yield application


@pytest.fixture
def dispatcher(app) -> Dispatcher:
    # Rates high enough that tests do not wait for the limiter (rate tests make their own).
    return Dispatcher(app.state.channels, sms_rate=1000, telegram_rate=1000, idle_seconds=0.05)


@pytest.fixture
def make_lead(app) -> Callable[..., Awaitable[Lead]]:
    counter = itertools.count(1)

    async def _make(**fields) -> Lead:
        n = next(counter)
        fields.setdefault("first_name", f"Person{n}")
        fields.setdefault("phone", f"+3247{n:07d}")
        fields.setdefault("language", "fr")
        fields.setdefault("source", LeadSource.WALK_IN)
        fields.setdefault("stage", Stage.LEAD)
        return await Lead.create(**fields)

    return _make


def twilio_signature(path: str, form: dict[str, str]) -> str:
    """What Twilio sends in X-Twilio-Signature, computed with twilio's own RequestValidator."""
    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN or "")
    return validator.compute_signature(settings.PUBLIC_BASE_URL + path, form)


async def post_twilio(
    client: httpx.AsyncClient, path: str, form: dict[str, str], *, signature: str | None = None
) -> httpx.Response:
    return await client.post(
        path,
        data=form,
        headers={"X-Twilio-Signature": signature or twilio_signature(path, form)},
    )


def sms_form(sid: str, from_: str, body: str) -> dict[str, str]:
    """An inbound SMS as Twilio posts it (empty fields included: they are signed too)."""
    return {
        "ToCountry": "BE",
        "ToState": "",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": "BE",
        "To": TWILIO_FROM,
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": settings.TWILIO_ACCOUNT_SID or "",
        "From": from_,
        "ApiVersion": "2010-04-01",
    }


async def post_telegram(
    client: httpx.AsyncClient, update: dict, *, secret: str | None = TELEGRAM_SECRET
) -> httpx.Response:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return await client.post("/webhooks/telegram", json=update, headers=headers)
