"""`POST /webhooks/telegram` (CONTRACT §3): Telegram posts each update here.

aiogram only ships an aiohttp integration, so the webhook is written by hand: the secret header
is checked in constant time, the JSON becomes an aiogram `Update` bound to the app's Bot, and the
one Dispatcher of `channels.telegram_handlers` handles it.

Telegram redelivers any update that did not get a 2xx, for hours. Hence:
- a body that is not an update is answered 200 (and logged): redelivering it cannot help;
- an update is handled exactly once: its id is inserted into `telegram_update` in the same
  transaction as everything its handlers write, so a duplicate hits the primary key (200, nothing
  done) and a failure rolls everything back and answers 500, and Telegram's retry handles it."""

from __future__ import annotations

import hmac
import json
import logging

from aiogram.types import Update
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from channels.models import TelegramUpdate
from channels.runtime import channels_of, wake_dispatcher
from channels.telegram_handlers import AfterCommit, get_dispatcher
from crm.config import settings

log = logging.getLogger("passerelle.telegram")

router = APIRouter()

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_MAX_UPDATE_ID = 2**63 - 1  # the BIGINT primary key


def _ok() -> JSONResponse:
    return JSONResponse({"ok": True})


def _secret_matches(given: str | None) -> bool:
    expected = settings.TELEGRAM_WEBHOOK_SECRET
    if not expected or not settings.TELEGRAM_BOT_TOKEN or given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


@router.post("/webhooks/telegram", include_in_schema=False)
async def telegram_webhook(request: Request) -> JSONResponse:
    bot = channels_of(request).bot
    if bot is None or not _secret_matches(request.headers.get(SECRET_HEADER)):
        # Also while the secret or the token is unset: nobody may feed us updates then.
        return JSONResponse({"detail": f"missing or wrong {SECRET_HEADER}"}, status_code=401)
    raw = await request.body()
    try:
        data = json.loads(raw)
    except ValueError:
        log.warning("telegram webhook: body is not JSON (%d bytes), ignored", len(raw))
        return _ok()
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if type(update_id) is not int or not 0 <= update_id <= _MAX_UPDATE_ID:
        log.warning("telegram webhook: no valid update_id, ignored")
        return _ok()
    try:
        update = Update.model_validate(data, context={"bot": bot})
    except ValidationError as exc:
        log.warning(
            "telegram webhook: update %s is not a valid Update, ignored: %s", update_id, exc
        )
        return _ok()

    after_commit: AfterCommit = []
    inserted = False
    try:
        async with in_transaction():
            await TelegramUpdate.create(update_id=update_id)
            inserted = True
            await get_dispatcher().feed_update(bot, update, after_commit=after_commit)
    except IntegrityError:
        if not inserted:
            log.info("telegram webhook: update %s already handled", update_id)
            return _ok()
        log.exception("telegram webhook: update %s failed and was rolled back", update_id)
        return _failed()
    except Exception:  # noqa: BLE001 - rolled back; Telegram delivers it again
        log.exception("telegram webhook: update %s failed and was rolled back", update_id)
        return _failed()
    for action in after_commit:
        await action()
    wake_dispatcher(request)
    return _ok()


def _failed() -> JSONResponse:
    return JSONResponse(
        {"detail": "the update could not be handled; Telegram will deliver it again"},
        status_code=500,
    )
