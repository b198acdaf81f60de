"""The Twilio and Telegram stand-ins answer the real twilio and aiogram clients."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Update
from aiogram.utils.keyboard import ReplyKeyboardBuilder
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.standins.clients import RedirectingTwilioHttpClient, standin_bot
from tests.standins.telegram import (
    TelegramStandin,
    callback_update,
    contact_update,
    message_update,
)
from tests.standins.twilio import TwilioStandin

SID, TOKEN = "AC" + "1" * 32, "twilio-test-token"
BOT_TOKEN = "424242:TEST-bot-token"
TO, FROM = "+32470123456", "+32460000000"
CALLBACK = "http://127.0.0.1:8000/webhooks/twilio/status"
ROOT = Path(__file__).resolve().parents[2]
# twilio's AsyncTwilioHttpClient still passes aiohttp.BasicAuth as auth=, deprecated in 3.14.
pytestmark = [
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]


@pytest.fixture(scope="module")
def twilio_server() -> Iterator[TwilioStandin]:
    server = TwilioStandin(SID, TOKEN)
    server.start_in_thread()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def telegram_server() -> Iterator[TelegramStandin]:
    server = TelegramStandin(BOT_TOKEN)
    server.start_in_thread()
    yield server
    server.stop()


@pytest.fixture
def twilio(twilio_server: TwilioStandin) -> TwilioStandin:
    twilio_server.reset()
    return twilio_server


@pytest.fixture
def telegram(telegram_server: TelegramStandin) -> TelegramStandin:
    telegram_server.reset()
    return telegram_server


class UrlOnlyHttpClient(AsyncTwilioHttpClient):
    """The documented extension point at its simplest: only the host changes."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url

    async def request(self, method: str, url: str, **kwargs: Any) -> Any:
        return await super().request(method, self.base_url + urlsplit(url).path, **kwargs)


@pytest.fixture
async def client(twilio: TwilioStandin) -> AsyncIterator[Client]:
    http = RedirectingTwilioHttpClient(twilio.url, timeout=0.5)
    yield Client(SID, TOKEN, http_client=http)
    await http.close()


@pytest.fixture
async def bot(telegram: TelegramStandin) -> AsyncIterator[Bot]:
    bot = standin_bot(telegram.url, BOT_TOKEN)
    yield bot
    await bot.session.close()


# --------------------------------------------------------------------- twilio
async def test_twilio_create_records_a_message_shaped_like_twilios(
    client: Client, twilio: TwilioStandin
) -> None:
    message = await client.messages.create_async(
        to=TO, from_=FROM, body="Bonjour", status_callback=CALLBACK
    )
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert (message.status, message.num_segments, message.direction) == (
        "queued",
        "1",
        "outbound-api",
    )
    assert message.date_created.tzinfo is not None and message.date_sent is None
    [sent] = twilio.messages()
    assert (sent["sid"], sent["to"], sent["from"], sent["body"]) == (
        message.sid,
        TO,
        FROM,
        "Bonjour",
    )
    assert sent["status_callback"] == CALLBACK and isinstance(sent["t"], float)
    via_service = await client.messages.create_async(
        to=TO, messaging_service_sid="MG" + "2" * 32, body="ą" * 71
    )
    assert via_service.messaging_service_sid == "MG" + "2" * 32
    assert via_service.num_segments == "2"


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ({"status": 400, "code": 21610}, 400, 21610),
        ({"status": 400, "code": 21211}, 400, 21211),
        ({"status": 429}, 429, 20429),
        ({"status": 500}, 500, 20500),
    ],
)
async def test_twilio_faults_raise_twilio_rest_exception(
    client: Client, twilio: TwilioStandin, fault: dict, status: int, code: int
) -> None:
    twilio.add_faults(TO, [fault])
    with pytest.raises(TwilioRestException) as caught:
        await client.messages.create_async(to=TO, from_=FROM, body="Bonjour")
    assert (caught.value.status, caught.value.code) == (status, code)
    if code == 21610:
        assert "Attempt to send to unsubscribed recipient" in caught.value.msg
    assert twilio.messages() == []
    assert (await client.messages.create_async(to=TO, from_=FROM, body="x")).sid


async def test_twilio_validates_like_twilio(client: Client, twilio: TwilioStandin) -> None:
    for kwargs, code in [
        ({"to": "0470123456", "from_": FROM, "body": "x"}, 21211),
        ({"to": TO, "from_": FROM, "body": ""}, 21602),
        ({"to": TO, "body": "x"}, 21603),
    ]:
        with pytest.raises(TwilioRestException) as caught:
            await client.messages.create_async(**kwargs)
        assert (caught.value.status, caught.value.code) == (400, code)
    bad = Client(SID, "wrong", http_client=client.http_client)
    with pytest.raises(TwilioRestException) as caught:
        await bad.messages.create_async(to=TO, from_=FROM, body="x")
    assert (caught.value.status, caught.value.code) == (401, 20003)
    with pytest.raises(TwilioRestException) as caught:
        await client.messages("SM" + "0" * 32).fetch_async()
    assert (caught.value.status, caught.value.code) == (404, 20404)


async def test_twilio_sticky_fault_applies_to_every_send(
    client: Client, twilio: TwilioStandin
) -> None:
    twilio.add_faults(TO, [{"status": 400, "code": 21610}], sticky=True)
    for _ in range(3):
        with pytest.raises(TwilioRestException):
            await client.messages.create_async(to=TO, from_=FROM, body="x")
    assert (await client.messages.create_async(to="+32470999999", from_=FROM, body="x")).sid


async def test_twilio_timeout_fault_times_the_client_out_and_sends_nothing(
    client: Client, twilio: TwilioStandin
) -> None:
    twilio.add_faults(TO, [{"timeout": 1}])
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await client.messages.create_async(to=TO, from_=FROM, body="x")
    assert time.monotonic() - started < 0.9
    await asyncio.sleep(1)
    assert twilio.messages() == []


async def test_stock_async_client_ignores_its_constructor_timeout(twilio: TwilioStandin) -> None:
    """AsyncTwilioHttpClient(timeout=...) is stored but never given to aiohttp."""
    twilio.add_faults(TO, [{"timeout": 1}])
    http = UrlOnlyHttpClient(twilio.url, timeout=0.3)
    try:
        started = time.monotonic()
        message = await Client(SID, TOKEN, http_client=http).messages.create_async(
            to=TO, from_=FROM, body="x"
        )
        assert message.sid.startswith("SM") and time.monotonic() - started >= 1
    finally:
        await http.close()


async def test_twilio_accept_then_hang_sends_but_the_client_times_out(
    client: Client, twilio: TwilioStandin
) -> None:
    twilio.add_faults(TO, [{"accept_then_hang": 2}])
    with pytest.raises(TimeoutError):
        await client.messages.create_async(to=TO, from_=FROM, body="Bonjour")
    [sent] = twilio.messages()
    assert sent["to"] == TO and sent["body"] == "Bonjour"
    since = datetime.now(UTC) - timedelta(minutes=5)
    [found] = await client.messages.list_async(to=TO, date_sent_after=since)
    assert found.sid == sent["sid"]


async def test_twilio_list_filters_pages_and_fetch(client: Client, twilio: TwilioStandin) -> None:
    sids = [
        (await client.messages.create_async(to=TO, from_=FROM, body=f"m{i}")).sid for i in range(3)
    ]
    await client.messages.create_async(to="+32470999999", from_=FROM, body="other")
    today = datetime.now(UTC)
    listed = await client.messages.list_async(to=TO, date_sent_after=today, page_size=2)
    assert [m.sid for m in listed] == sids[::-1]
    assert await client.messages.list_async(to=TO, date_sent_after=today + timedelta(days=1)) == []
    assert len(await client.messages.list_async(date_sent=today.date())) == 4
    assert len(await client.messages.list_async(date_sent_before=today - timedelta(days=1))) == 0
    assert len(await client.messages.list_async(from_=FROM, limit=2)) == 2
    twilio.set_status(sids[0], "delivered")
    fetched = await client.messages(sids[0]).fetch_async()
    assert fetched.status == "delivered" and fetched.date_sent is not None


async def test_twilio_status_callback_form_signs_and_validates(
    client: Client, twilio: TwilioStandin
) -> None:
    message = await client.messages.create_async(
        to=TO, from_=FROM, body="x", status_callback=CALLBACK
    )
    url, form = twilio.status_callback_form(message.sid, "failed", error_code=30007)
    assert url == CALLBACK
    assert form["MessageSid"] == form["SmsSid"] == message.sid
    assert (form["MessageStatus"], form["ErrorCode"], form["AccountSid"]) == (
        "failed",
        "30007",
        SID,
    )
    validator = RequestValidator(TOKEN)
    signature = validator.compute_signature(url, form)
    assert validator.validate(url, form, signature)
    assert not RequestValidator("other").validate(url, form, signature)


# ------------------------------------------------------------------- telegram
async def test_telegram_get_me_and_send_message(bot: Bot, telegram: TelegramStandin) -> None:
    me = await bot.get_me()
    assert (me.username, me.is_bot) == ("passerelle_test_bot", True)
    first = await bot.send_message(777, "Hallo")
    second = await bot.send_message(777, "<b>Bonjour</b> &amp; merci", parse_mode="HTML")
    assert (first.text, first.chat.id, first.message_id, second.message_id) == ("Hallo", 777, 1, 2)
    assert second.text == "Bonjour & merci"
    sent = telegram.messages()
    assert [(m["chat_id"], m["text"]) for m in sent] == [
        (777, "Hallo"),
        (777, "<b>Bonjour</b> &amp; merci"),
    ]
    assert sent[0]["t"] <= sent[1]["t"]


async def test_telegram_faults_raise_aiogram_exceptions(
    bot: Bot, telegram: TelegramStandin
) -> None:
    telegram.add_faults(777, [{"status": 429, "retry_after": 3}, {"status": 400}, {"status": 500}])
    with pytest.raises(TelegramRetryAfter) as retry:
        await bot.send_message(777, "x")
    assert retry.value.retry_after == 3
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(777, "x")
    with pytest.raises(TelegramServerError):
        await bot.send_message(777, "x")
    telegram.add_faults(888, [{"status": 403}], sticky=True)
    for _ in range(2):
        with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
            await bot.send_message(888, "x")
    with pytest.raises(TelegramForbiddenError):
        await bot.send_chat_action(888, "typing")
    assert [m["chat_id"] for m in telegram.messages()] == []
    assert (await bot.send_message(777, "ok")).text == "ok"
    wrong = standin_bot(telegram.url, "1:wrong")
    with pytest.raises(TelegramUnauthorizedError):
        await wrong.get_me()
    await wrong.session.close()


async def test_telegram_timeouts(bot: Bot, telegram: TelegramStandin) -> None:
    telegram.add_faults(777, [{"timeout": 1}, {"accept_then_hang": 2}])
    with pytest.raises(TelegramNetworkError, match="timeout"):
        await bot.send_message(777, "lost", request_timeout=0.5)
    with pytest.raises(TelegramNetworkError, match="timeout"):
        await bot.send_message(777, "delivered", request_timeout=0.5)
    await asyncio.sleep(0.7)
    assert [m["text"] for m in telegram.messages()] == ["delivered"]


async def test_telegram_webhook_and_keyboards(bot: Bot, telegram: TelegramStandin) -> None:
    hook = "https://crm.example.org/webhooks/telegram"
    assert await bot.set_webhook(hook, secret_token="s3cret", allowed_updates=["message"])
    assert telegram.webhook is not None
    assert (telegram.webhook["url"], telegram.webhook["secret_token"]) == (hook, "s3cret")
    assert telegram.webhook["allowed_updates"] == ["message"]
    assert (await bot.get_webhook_info()).url == hook
    with pytest.raises(TelegramBadRequest, match="HTTPS"):
        await bot.set_webhook("http://127.0.0.1:8000/hook")
    assert await bot.delete_webhook() and telegram.webhook is None

    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Oui", callback_data="consent:yes")]]
    )
    sent = await bot.send_message(777, "Accord ?", reply_markup=markup)
    assert sent.reply_markup is not None  # pydantic == also compares fields_set: dump instead
    assert sent.reply_markup.model_dump(exclude_none=True) == markup.model_dump(exclude_none=True)
    assert telegram.messages()[0]["reply_markup"] == {
        "inline_keyboard": [[{"text": "Oui", "callback_data": "consent:yes"}]]
    }
    edited = await bot.edit_message_reply_markup(chat_id=777, message_id=sent.message_id)
    assert not isinstance(edited, bool) and edited.reply_markup is None
    assert await bot.answer_callback_query("cb-1", text="Merci")
    assert await bot.send_chat_action(777, "typing")

    contact = ReplyKeyboardBuilder()
    contact.button(text="Partager mon numéro", request_contact=True)
    await bot.send_message(777, "Numéro ?", reply_markup=contact.as_markup())
    keyboard = telegram.messages()[-1]["reply_markup"]["keyboard"]
    assert keyboard[0][0]["request_contact"] is True
    assert [c["method"] for c in telegram.calls()][-1] == "sendMessage"


async def test_update_builders_validate_as_aiogram_updates(bot: Bot) -> None:
    text = Update.model_validate(message_update(1, 777, "/start abc"), context={"bot": bot})
    assert text.message is not None and text.message.text == "/start abc"
    assert text.message.from_user is not None and text.message.from_user.language_code == "fr"
    shared = Update.model_validate(contact_update(2, 777, "+32470123456"), context={"bot": bot})
    assert shared.message is not None and shared.message.contact is not None
    assert shared.message.contact.user_id == 777
    pressed = Update.model_validate(callback_update(3, 777, "consent:yes"), context={"bot": bot})
    assert pressed.callback_query is not None and pressed.callback_query.data == "consent:yes"
    assert pressed.callback_query.message is not None


# ------------------------------------------------------------------ processes
async def test_subprocess_entry_point_serves_and_stops_on_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.standins",
        "twilio",
        "--port=0",
        "--latency=0.05",
        f"--account-sid={SID}",
        f"--auth-token={TOKEN}",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode().strip()
        assert line.startswith("ready http://127.0.0.1:")
        url = line.split()[1]
        http = RedirectingTwilioHttpClient(url, timeout=5)
        client = Client(SID, TOKEN, http_client=http)
        async with aiohttp.ClientSession() as control:
            fault = {"key": TO, "faults": [{"status": 400, "code": 21610}]}
            await control.post(f"{url}/_standin/faults", json=fault)
            with pytest.raises(TwilioRestException):
                await client.messages.create_async(to=TO, from_=FROM, body="x")
            sid = (await client.messages.create_async(to=TO, from_=FROM, body="y")).sid
            async with control.get(f"{url}/_standin/messages") as answer:
                assert [m["sid"] for m in json.loads(await answer.text())] == [sid]
            await control.post(f"{url}/_standin/config", json={"latency": 0})
            await control.post(f"{url}/_standin/reset")
            async with control.get(f"{url}/_standin/messages") as answer:
                assert await answer.json() == []
        await http.close()
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_latency_and_start_inside_a_running_loop() -> None:
    server = TelegramStandin(BOT_TOKEN, latency=0.2)
    url = await server.start()
    bot = standin_bot(url, BOT_TOKEN)
    try:
        started = time.monotonic()
        await bot.get_me()
        assert time.monotonic() - started >= 0.2
        server.set_latency(0)
        started = time.monotonic()
        await bot.get_me()
        assert time.monotonic() - started < 0.2
    finally:
        await bot.session.close()
        await server.stop_async()
