"""What providers send the web app in a burst: signed Twilio SMS webhooks and Telegram updates,
some of them delivered twice (the provider retrying the same MessageSid or update_id), posted
concurrently with httpx the way a provider does: any answer that is not 2xx (or no answer) is
posted again a moment later, up to a few times."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx
from twilio.request_validator import RequestValidator

from tests.load.rig import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE_URL, TWILIO_FROM, WEBHOOK_SECRET
from tests.standins.updates import message_update

SMS_PATH = "/webhooks/twilio/sms"
TELEGRAM_PATH = "/webhooks/telegram"
TEXTS = [
    "Oui je viens", "Merci, à jeudi !", "C'est à quelle heure ?", "Dank u, tot dinsdag",
    "Je peux venir avec ma sœur ?", "Ik kom met mijn buurvrouw", "Danke, bis Montag",
    "Est-ce que c'est gratuit ?", "Waar is het precies?", "👍",
]  # fmt: skip


@dataclass(frozen=True)
class Delivery:
    """One POST as the provider makes it; `key` is the provider's id (MessageSid or
    update_id): the same key twice is a provider retry."""

    key: str
    path: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Burst:
    deliveries: list[Delivery]
    sms_ids: set[str]  # distinct MessageSids
    update_ids: set[int]  # distinct Telegram update_ids
    phones: set[str]  # the senders that wrote (a number drawn for none of the messages did not)
    chats: set[int]

    @property
    def repeats(self) -> int:
        return len(self.deliveries) - len(self.sms_ids) - len(self.update_ids)


def sms_form(sid: str, sender: str, body: str) -> dict[str, str]:
    """An inbound SMS as Twilio posts it (empty fields included: they are signed too)."""
    return {
        "ToCountry": "BE", "ToState": "", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "",
        "FromZip": "", "SmsSid": sid, "FromState": "", "SmsStatus": "received", "FromCity": "",
        "Body": body, "FromCountry": "BE", "To": TWILIO_FROM, "ToZip": "", "NumSegments": "1",
        "MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": sender, "ApiVersion": "2010-04-01",
    }  # fmt: skip


def signed_sms(sid: str, sender: str, body: str) -> Delivery:
    form = sms_form(sid, sender, body)
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_BASE_URL + SMS_PATH, form)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
    }
    return Delivery(sid, SMS_PATH, urlencode(form).encode(), headers)


def telegram_update(update_id: int, chat_id: int, text: str) -> Delivery:
    update = message_update(update_id, chat_id, text, first_name=f"Chat{chat_id % 1000}")
    headers = {
        "Content-Type": "application/json",
        "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET,
    }
    return Delivery(str(update_id), TELEGRAM_PATH, json.dumps(update).encode(), headers)


def burst(
    *,
    sms: int,
    phones: list[str],
    updates: int,
    chats: list[int],
    retry_share: float,
    seed: int = 8,
) -> Burst:
    """`sms` distinct inbound SMS from `phones` and `updates` Telegram updates from `chats`,
    plus `retry_share` of them delivered again: half of the retries right behind the original
    (still in flight: a provider that gave up waiting), half much later."""
    rng = random.Random(seed)
    originals: list[Delivery] = []
    used_phones: set[str] = set()
    used_chats: set[int] = set()
    for i in range(sms):
        sid = f"SM{rng.getrandbits(128):032x}"
        sender = rng.choice(phones)
        used_phones.add(sender)
        originals.append(signed_sms(sid, sender, f"{rng.choice(TEXTS)} ({i})"))
    first_update = 700_000_000 + rng.randrange(10**6)
    for i in range(updates):
        chat = rng.choice(chats)
        used_chats.add(chat)
        originals.append(telegram_update(first_update + i, chat, f"{rng.choice(TEXTS)} [{i}]"))
    rng.shuffle(originals)
    placed = [(float(i), d) for i, d in enumerate(originals)]
    for at in rng.sample(range(len(originals)), round(len(originals) * retry_share)):
        later = rng.randint(1, 8) if rng.random() < 0.5 else rng.randint(200, 2000)
        placed.append((at + later + 0.5, originals[at]))
    placed.sort(key=lambda p: p[0])
    return Burst(
        deliveries=[d for _, d in placed],
        sms_ids={d.key for d in originals if d.path == SMS_PATH},
        update_ids={int(d.key) for d in originals if d.path == TELEGRAM_PATH},
        phones=used_phones,
        chats=used_chats,
    )


@dataclass
class Outcome:
    first: Counter[int] = field(default_factory=Counter)  # status of each first answer
    final: Counter[int] = field(default_factory=Counter)  # status after the provider's retries
    reposts: int = 0  # posts made again because an answer was not 2xx
    elapsed: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def requests_per_second(self) -> float:
        return sum(self.first.values()) / self.elapsed if self.elapsed else 0.0


async def deliver(
    base_url: str,
    deliveries: list[Delivery],
    *,
    concurrency: int = 32,
    attempts: int = 6,
    pause: float = 1.0,
    time_limit: float = 600,
) -> Outcome:
    """Post every delivery, `concurrency` at a time, in order; a status that is not 2xx (or
    no answer) is posted again after `pause` seconds, as providers do, up to `attempts`."""
    outcome = Outcome()
    queue: asyncio.Queue[Delivery] = asyncio.Queue()
    for d in deliveries:
        queue.put_nowait(d)
    deadline = time.monotonic() + time_limit
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=30, limits=limits, trust_env=False
    ) as client:

        async def post(d: Delivery) -> int:
            try:
                response = await client.post(d.path, content=d.body, headers=d.headers)
            except httpx.HTTPError as exc:
                outcome.failures.append(f"{d.key}: {exc!r}"[:300])
                return -1
            if response.status_code >= 300 and len(outcome.failures) < 20:
                outcome.failures.append(f"{d.key}: {response.status_code} {response.text[:200]}")
            return response.status_code

        async def sender() -> None:
            while not queue.empty() and time.monotonic() < deadline:
                d = queue.get_nowait()
                status = await post(d)
                outcome.first[status] += 1
                for _ in range(attempts - 1):
                    if 200 <= status < 300:
                        break
                    outcome.reposts += 1
                    await asyncio.sleep(pause)
                    status = await post(d)
                outcome.final[status] += 1

        started = time.monotonic()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        outcome.elapsed = time.monotonic() - started
    return outcome
