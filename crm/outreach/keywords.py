"""Words people text to us: the reserved opt-out and opt-in words (CONTRACT §3) and the keyword
of an outreach event ("text MARCHE12 to receive our news by SMS").

The word lists live here, in `crm`, because an event's keyword must never be one of them and
`crm` does not import `channels`; `channels.keywords` reads them from here."""

from __future__ import annotations

import re
import unicodedata

# Word → the language it suggests (None: no hint), for answering a person whose language we do
# not know yet in the language they used. Lower case, without accents (see `fold`).
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
# Twilio answers these itself on a number with its default keyword handling, before we see them.
PROVIDER_WORDS = frozenset({"help", "info", "yes"})

RESERVED_WORDS = frozenset(OPT_OUT_WORDS) | frozenset(OPT_IN_WORDS) | PROVIDER_WORDS

KEYWORD_PATTERN = re.compile(r"^[A-Z0-9]{3,20}$")
KEYWORD_MAX_LENGTH = 20
GENERATED_WORD_LENGTH = 8  # "MARCHE" + the event id: short enough to type at a market stand

# Punctuation people add around a keyword on a phone keyboard ("Stop.", "STOP !").
_EDGES = re.compile(r"^[\s.!?,;:'\"«»]+|[\s.!?,;:'\"«»]+$")
# Around an event keyword anything that is not a letter or a digit goes ("#Marche12!").
_NOT_ALNUM_EDGES = re.compile(r"^[^0-9A-Za-z]+|[^0-9A-Za-z]+$")


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold(text: str) -> str:
    """Lower case, without accents or the punctuation around it: how opt-out words compare."""
    return _EDGES.sub("", strip_accents(text)).casefold()


def normalise_keyword(raw: str) -> str:
    """An event keyword as it is stored and compared: stripped, without accents, upper case
    (" marché12 " → "MARCHE12"). The result may still be invalid (see `keyword_problem`)."""
    return strip_accents(raw.strip()).upper()


def keyword_issue(keyword: str) -> str | None:
    """Why a normalised keyword cannot be an event's: "format" or "reserved"; None when it
    can (whether another event uses it is the service's question)."""
    if not KEYWORD_PATTERN.match(keyword):
        return "format"
    if keyword.casefold() in RESERVED_WORDS:
        return "reserved"
    return None


def keyword_problem(keyword: str) -> str | None:
    """`keyword_issue` in words, for an API error."""
    issue = keyword_issue(keyword)
    if issue == "format":
        return "must be 3 to 20 letters or digits, without spaces"
    if issue == "reserved":
        return f"{keyword} is reserved for subscribing and unsubscribing"
    return None


def first_word_keyword(body: str) -> str | None:
    """The first word of a message as an event keyword could be ("Marché12, bonjour" →
    "MARCHE12"); None when it cannot be one (so no lookup is needed)."""
    words = body.split(maxsplit=1)
    if not words:
        return None
    word = _NOT_ALNUM_EDGES.sub("", normalise_keyword(words[0]))
    return word if KEYWORD_PATTERN.match(word) else None


def keyword_candidates(title: str, event_id: int) -> list[str]:
    """Keywords to try for an event that was given none, best first: the first word of its
    title (letters only, at most 8) and its id ("Marché du Midi", 12 → "MARCHE12"), then
    "EV12"."""
    first = title.split(maxsplit=1)[0] if title.split() else ""
    letters = "".join(c for c in strip_accents(first).upper() if "A" <= c <= "Z")
    candidates = [f"{letters[:GENERATED_WORD_LENGTH]}{event_id}", f"EV{event_id}"]
    return [c for c in dict.fromkeys(candidates) if keyword_problem(c) is None]
