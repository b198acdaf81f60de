"""Opt-out and opt-in words (CONTRACT §3): case- and accent-insensitive, the whole message."""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum


class Keyword(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


# Word → the language it suggests (None: no hint), for answering a person whose language we do
# not know yet in the language they used.
OPT_OUT_WORDS: dict[str, str | None] = {
    "stop": None,
    "stopall": None,
    "arret": "fr",
    "arreter": "fr",
    "desinscrire": "fr",
    "stoppen": "nl",
    "uitschrijven": "nl",
    "abmelden": "de",
    "unsubscribe": None,
    "cancel": None,
    "end": None,
    "quit": None,
}
OPT_IN_WORDS: dict[str, str | None] = {"start": None, "unstop": None}

# Punctuation people add around a keyword on a phone keyboard ("Stop.", "STOP !").
_EDGES = re.compile(r"^[\s.!?,;:'\"«»]+|[\s.!?,;:'\"«»]+$")


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _EDGES.sub("", bare).casefold()


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
