"""Phone numbers: every entry point stores E.164, Belgian national formats accepted."""

from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "BE"


def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """`0470 12 34 56`, `+32 470 12 34 56` and `0032 470 12 34 56` all give `+32470123456`.

    Raises ValueError with a reason a person can act on.
    """
    text = raw.strip()
    if not text:
        raise ValueError("is empty")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("is not a phone number") from exc
    if not phonenumbers.is_possible_number(number):
        raise ValueError("is not a possible phone number (wrong length)")
    if not phonenumbers.is_valid_number(number):
        raise ValueError("is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
