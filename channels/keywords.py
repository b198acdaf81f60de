"""Opt-out and opt-in words (CONTRACT §3): case- and accent-insensitive, the whole message."""

from __future__ import annotations

from enum import StrEnum

# The words themselves live in the CRM, which must keep event keywords clear of them.
from crm.outreach.keywords import OPT_IN_WORDS, OPT_OUT_WORDS, fold

__all__ = ["OPT_IN_WORDS", "OPT_OUT_WORDS", "Keyword", "fold", "match_keyword"]


class Keyword(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


def match_keyword(body: str, *, telegram: bool = False) -> tuple[Keyword, str | None] | None:
    """The keyword the whole message is, with the language it hints at; None otherwise.
    On Telegram `/stop` opts out and `/start` (with or without a deep-link payload) opts in."""
    word = fold(body)
    if telegram and word.startswith("/"):
        command = word[1:].split(maxsplit=1)[0].split("@", 1)[0] if len(word) > 1 else ""
        if command == "stop":
            return Keyword.OPT_OUT, None
        if command == "start":
            return Keyword.OPT_IN, None
        return None
    if word in OPT_OUT_WORDS:
        return Keyword.OPT_OUT, OPT_OUT_WORDS[word]
    if word in OPT_IN_WORDS:
        return Keyword.OPT_IN, OPT_IN_WORDS[word]
    return None
