"""How many SMS segments a message body costs, and why.

An SMS carries 140 octets. A body that fits the GSM 03.38 default alphabet is sent as
7-bit septets: 160 per single message, 153 per part once a User Data Header has to say
"part n of m". Any other character switches the *whole* message to UCS-2 (UTF-16): 70
code units, 67 per part. Characters of the GSM extension table (``€ [ ] { } ~ ^ \\ |``
and form feed) are an escape plus a septet, so they cost 2. Carriers bill per segment and
the send rate counts segments, so the count must be exact, including the boundary cases:
an escape pair, or a UTF-16 surrogate pair, is never split across two parts, so such a
part holds one unit less (152 or 66). That is why segments are counted by packing.

French and Dutch text often switches to UCS-2 for a single ``ê``, ``ç`` or ``ë`` (``é``,
``è``, ``à``, ``ö`` and German ``ä ö ü ß`` are in the GSM alphabet). ``count_segments``
reports which characters did it and the look-alike for each, and ``to_gsm_lookalikes``
applies them when the author opts in. The module is pure: no I/O, no app imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class SmsEncoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


# Twilio refuses a body longer than this (characters); it splits it in segments itself.
MAX_BODY_CHARACTERS = 1600

GSM7_SINGLE = 160
GSM7_PART = 153  # 7 septets of each part go to the concatenation header
UCS2_SINGLE = 70
UCS2_PART = 67  # 3 code units of each part go to the concatenation header

# GSM 03.38 basic table, in code order 0x00-0x7F, without 0x1B (the escape to the
# extension table). 0x09 is the capital Ç: lower-case ç is not in the alphabet.
_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# GSM 03.38 extension table: each is sent as ESC + septet, so it costs 2.
_GSM_EXTENSION = "\f^{}\\[~]|€"

GSM_BASIC = frozenset(_GSM_BASIC)
GSM_EXTENSION = frozenset(_GSM_EXTENSION)
# Septets per character; a character missing here forces UCS-2.
_SEPTETS: dict[str, int] = {c: 1 for c in _GSM_BASIC} | {c: 2 for c in _GSM_EXTENSION}

# Opt-in replacements for characters outside GSM 03.38, all mapped to basic-table text so
# a replacement never costs more than one septet per output character. Choices:
# - Accented letters lose the accent (ê→e, Ê→E): that is how French and Dutch are written
#   when accents are unavailable, and readers accept it. An accented letter that *is* in
#   the alphabet (é è à ù ì ò ö ü ä ñ É Ç Ä Ö Ü Ñ Å Ø) is never touched.
# - ç→c, not ç→Ç: a capital in the middle of a word ("garÇon") reads worse to a French
#   speaker than a missing cedilla ("garcon"), and some handsets render GSM 0x09 as ç
#   while others as Ç, so we cannot count on it either way.
# - Ligatures are spelled out (œ→oe, Ĳ→IJ, ﬁ→fi): that is the standard spelling.
# - Typographic quotes, dashes, ellipsis, bullets and the non-breaking and narrow spaces
#   French typography puts before ; : ! ? become their ASCII forms.
# - Invisible characters (zero-width space, word joiner, soft hyphen, BOM) are dropped.
#   The zero-width joiner is kept: it glues emoji sequences, which stay UCS-2 anyway.
# - No look-alike for emoji, non-Latin scripts, or ° (n°→no reads fine, 20°C→20oC does
#   not): those stay as they are and keep the message in UCS-2.
GSM_LOOKALIKES: dict[str, str] = {
    # French, Dutch, German and other Latin-script letters without a GSM form
    "á": "a",
    "â": "a",
    "ã": "a",
    "ā": "a",
    "ă": "a",
    "ą": "a",
    "À": "A",
    "Á": "A",
    "Â": "A",
    "Ã": "A",
    "Ā": "A",
    "Ă": "A",
    "Ą": "A",
    "ç": "c",
    "ć": "c",
    "č": "c",
    "Ć": "C",
    "Č": "C",
    "ď": "d",
    "Ď": "D",
    "ê": "e",
    "ë": "e",
    "ē": "e",
    "ė": "e",
    "ę": "e",
    "ě": "e",
    "È": "E",
    "Ê": "E",
    "Ë": "E",
    "Ē": "E",
    "Ė": "E",
    "Ę": "E",
    "Ě": "E",
    "ğ": "g",
    "Ğ": "G",
    "í": "i",
    "î": "i",
    "ï": "i",
    "ī": "i",
    "ı": "i",
    "Ì": "I",
    "Í": "I",
    "Î": "I",
    "Ï": "I",
    "Ī": "I",
    "İ": "I",
    "ł": "l",
    "Ł": "L",
    "ń": "n",
    "ň": "n",
    "Ń": "N",
    "Ň": "N",
    "ó": "o",
    "ô": "o",
    "õ": "o",
    "ō": "o",
    "ő": "o",
    "Ò": "O",
    "Ó": "O",
    "Ô": "O",
    "Õ": "O",
    "Ō": "O",
    "Ő": "O",
    "ř": "r",
    "Ř": "R",
    "ś": "s",
    "ş": "s",
    "ș": "s",
    "š": "s",
    "Ś": "S",
    "Ş": "S",
    "Ș": "S",
    "Š": "S",
    "ţ": "t",
    "ț": "t",
    "ť": "t",
    "Ţ": "T",
    "Ț": "T",
    "Ť": "T",
    "ú": "u",
    "û": "u",
    "ū": "u",
    "ů": "u",
    "ű": "u",
    "Ù": "U",
    "Ú": "U",
    "Û": "U",
    "Ū": "U",
    "Ů": "U",
    "Ű": "U",
    "ý": "y",
    "ÿ": "y",
    "Ý": "Y",
    "Ÿ": "Y",
    "ź": "z",
    "ż": "z",
    "ž": "z",
    "Ź": "Z",
    "Ż": "Z",
    "Ž": "Z",
    "ẞ": "SS",
    "œ": "oe",
    "Œ": "OE",
    "ĳ": "ij",
    "Ĳ": "IJ",
    "ﬀ": "ff",
    "ﬁ": "fi",
    "ﬂ": "fl",
    "ﬃ": "ffi",
    "ﬄ": "ffl",
    "ª": "a",
    "º": "o",
    # quotes and apostrophes
    "‘": "'",
    "’": "'",
    "‚": "'",
    "‛": "'",
    "′": "'",
    "‹": "'",
    "›": "'",
    "`": "'",
    "´": "'",
    "“": '"',
    "”": '"',
    "„": '"',
    "‟": '"',
    "″": '"',
    "«": '"',
    "»": '"',
    # dashes, bullets and other punctuation
    "‐": "-",
    "‑": "-",
    "‒": "-",
    "–": "-",
    "—": "-",
    "―": "-",
    "−": "-",
    "•": "-",
    "‣": "-",
    "◦": "-",
    "⁃": "-",
    "·": "-",
    "…": "...",
    "×": "x",
    "⁄": "/",
    # spaces: tab is not in GSM 03.38 either
    "\t": " ",
    "\u00a0": " ",  # no-break space
    "\u2002": " ",  # en space
    "\u2003": " ",  # em space
    "\u2004": " ",
    "\u2005": " ",
    "\u2006": " ",
    "\u2007": " ",  # figure space
    "\u2008": " ",  # punctuation space
    "\u2009": " ",  # thin space
    "\u200a": " ",  # hair space
    "\u202f": " ",  # narrow no-break space (French ; : ! ?)
    "\u205f": " ",
    "\u3000": " ",
    "\u2028": "\n",  # line separator
    "\u2029": "\n",  # paragraph separator
    # invisible characters: dropped
    "\u00ad": "",  # soft hyphen
    "\u200b": "",  # zero-width space
    "\u2060": "",  # word joiner
    "\ufeff": "",  # byte order mark / zero-width no-break space
}
_LOOKALIKE_TABLE = str.maketrans(GSM_LOOKALIKES)


@dataclass(frozen=True)
class SegmentInfo:
    """What a body costs. ``units`` are septets (GSM-7) or UTF-16 code units (UCS-2)."""

    encoding: SmsEncoding
    units: int
    segments: int
    per_segment: int  # capacity of a segment as used: 160/153 (GSM-7) or 70/67 (UCS-2)
    characters: int  # code points, as len() counts them
    non_gsm: tuple[str, ...] = ()  # characters that forced UCS-2, in order of appearance
    replacements: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def fully_replaceable(self) -> bool:
        """True when ``to_gsm_lookalikes`` would bring the body back to GSM-7."""
        return all(c in self.replacements for c in self.non_gsm)

    def to_dict(self) -> dict[str, Any]:
        return {
            "encoding": self.encoding.value,
            "units": self.units,
            "segments": self.segments,
            "per_segment": self.per_segment,
            "characters": self.characters,
            "non_gsm": list(self.non_gsm),
            "replacements": dict(self.replacements),
            "fully_replaceable": self.fully_replaceable,
        }


# Characters of the GSM basic table (one septet, no escape).
_BASIC = frozenset(c for c, n in _SEPTETS.items() if n == 1)


def _pack(costs: list[int], total: int, single: int, part: int) -> int:
    """Segments needed for characters of the given unit costs."""
    if total == 0:
        return 0
    if total <= single:
        return 1
    if total == len(costs):  # no 2-unit character: nothing can straddle a boundary
        return -(-total // part)
    parts, used = 1, 0
    for cost in costs:
        if used + cost > part:  # a 2-unit character never straddles: start a new part
            parts += 1
            used = 0
        used += cost
    return parts


def count_segments(text: str) -> SegmentInfo:
    """Encoding, units and segments of ``text`` as sent without any substitution."""
    chars = set(text)
    if chars <= _BASIC:  # the common case, decided per distinct character: one septet each
        total = len(text)
        segments = 0 if total == 0 else 1 if total <= GSM7_SINGLE else -(-total // GSM7_PART)
        return SegmentInfo(
            encoding=SmsEncoding.GSM7,
            units=total,
            segments=segments,
            per_segment=GSM7_SINGLE if segments <= 1 else GSM7_PART,
            characters=total,
        )
    septets = [_SEPTETS.get(c, 0) for c in text]
    if 0 not in septets:
        total = sum(septets)
        segments = _pack(septets, total, GSM7_SINGLE, GSM7_PART)
        return SegmentInfo(
            encoding=SmsEncoding.GSM7,
            units=total,
            segments=segments,
            per_segment=GSM7_SINGLE if segments <= 1 else GSM7_PART,
            characters=len(text),
        )

    # dict.fromkeys keeps the first appearance order and drops repeats
    non_gsm = tuple(dict.fromkeys(c for c, n in zip(text, septets, strict=True) if n == 0))
    if max(chars) <= "\uffff":  # no astral character: one code unit each
        total = len(text)
        segments = 1 if total <= UCS2_SINGLE else -(-total // UCS2_PART)
    else:
        code_units = [2 if ord(c) > 0xFFFF else 1 for c in text]  # astral: a surrogate pair
        total = sum(code_units)
        segments = _pack(code_units, total, UCS2_SINGLE, UCS2_PART)
    return SegmentInfo(
        encoding=SmsEncoding.UCS2,
        units=total,
        segments=segments,
        per_segment=UCS2_SINGLE if segments <= 1 else UCS2_PART,
        characters=len(text),
        non_gsm=non_gsm,
        replacements={c: GSM_LOOKALIKES[c] for c in non_gsm if c in GSM_LOOKALIKES},
    )


def to_gsm_lookalikes(text: str) -> str:
    """``text`` with every character that has a GSM look-alike replaced by it.

    Characters without one (emoji, Cyrillic, Arabic...) are left as they are, so the
    result may still be UCS-2; ``count_segments(text).fully_replaceable`` says beforehand.
    """
    return text.translate(_LOOKALIKE_TABLE)
