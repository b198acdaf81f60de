"""Updates as Telegram POSTs them to a bot's webhook, valid for ``aiogram.types.Update``.

Re-exported by ``tests.standins.telegram``.
"""

from __future__ import annotations

import time
from typing import Any

BOT_USERNAME = "passerelle_test_bot"
JSON = dict[str, Any]


def _user(
    user_id: int, first_name: str, last_name: str | None, username: str | None, lang: str
) -> JSON:
    user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": lang}
    if last_name:
        user["last_name"] = last_name
    if username:
        user["username"] = username
    return user


def _private_chat(user: JSON) -> JSON:
    chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
    chat.update({k: user[k] for k in ("last_name", "username") if k in user})
    return chat


def message_update(
    update_id: int,
    chat_id: int,
    text: str,
    *,
    language_code: str = "fr",
    first_name: str = "Awa",
    last_name: str | None = None,
    username: str | None = None,
    message_id: int | None = None,
) -> JSON:
    """A private text message as Telegram posts it (``/start x`` gets its bot_command entity)."""
    user = _user(chat_id, first_name, last_name, username, language_code)
    message: JSON = {
        "message_id": message_id or update_id,
        "from": user,
        "chat": _private_chat(user),
        "date": int(time.time()),
        "text": text,
    }
    if text.startswith("/"):
        command = text.split(maxsplit=1)[0]
        message["entities"] = [{"offset": 0, "length": len(command), "type": "bot_command"}]
    return {"update_id": update_id, "message": message}


def contact_update(
    update_id: int,
    chat_id: int,
    phone_number: str,
    *,
    first_name: str = "Awa",
    last_name: str | None = None,
    user_id: int | None = None,
    language_code: str = "fr",
) -> JSON:
    """A shared contact; ``user_id`` is the chat id (the user's own number) by default."""
    user = _user(chat_id, first_name, last_name, None, language_code)
    contact: JSON = {"phone_number": phone_number, "first_name": first_name}
    if last_name:
        contact["last_name"] = last_name
    contact["user_id"] = chat_id if user_id is None else user_id
    message = {
        "message_id": update_id,
        "from": user,
        "chat": _private_chat(user),
        "date": int(time.time()),
        "contact": contact,
    }
    return {"update_id": update_id, "message": message}


def callback_update(
    update_id: int,
    chat_id: int,
    data: str,
    *,
    message_id: int = 1,
    language_code: str = "fr",
    first_name: str = "Awa",
    bot_id: int = 123456,
) -> JSON:
    """An inline-button press on the bot's message ``message_id``."""
    user = _user(chat_id, first_name, None, None, language_code)
    bot = {"id": bot_id, "is_bot": True, "first_name": "Passerelle", "username": BOT_USERNAME}
    query = {
        "id": f"{chat_id}{update_id}",
        "from": user,
        "chat_instance": str(-abs(chat_id)),
        "data": data,
        "message": {
            "message_id": message_id,
            "from": bot,
            "chat": _private_chat(user),
            "date": int(time.time()),
            "text": "…",
        },
    }
    return {"update_id": update_id, "callback_query": query}
