"""Duplicate candidates: records that may be the same person, each pair with its reasons.

Exact keys (e-mail) are grouped in SQL (`GROUP BY … HAVING count(*) > 1`). Names are compared
in Python, and only inside a postcode block: every person is indexed under each one-letter
deletion of their normalised last name (and of their first name, for swapped names), so two
names one edit or one transposition apart always share a key, and only people sharing a key
are compared. 100,000 people take seconds, not the hours a pairwise comparison would.

Phones and Telegram chat ids are unique in the person table: they only find duplicates for an
incoming record (`candidates_for`), never between two stored people."""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

from tortoise import connections
from tortoise.expressions import Q

from crm.audit import service as audit
from crm.auth.actor import Actor
from crm.errors import InvalidInput, NotFound
from crm.people.models import DuplicateDismissal, Lead
from crm.people.phones import normalize_phone


class Reason(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    TELEGRAM_CHAT = "telegram_chat"
    SAME_NAME = "same_name"  # the same normalised full name (or swapped) and the same postcode
    SIMILAR_NAME = "similar_name"  # one edit or transposition away, and the same postcode


# How sure each reason alone makes us (the score combines them as independent evidence).
WEIGHTS = {
    Reason.PHONE: 0.95,
    Reason.TELEGRAM_CHAT: 0.95,
    Reason.EMAIL: 0.9,
    Reason.SAME_NAME: 0.8,
    Reason.SIMILAR_NAME: 0.6,
}
# Below this many letters a name part must match exactly: "Tom" and "Tim" are two people.
_MIN_FUZZY = 4


def score(reasons: Iterable[Reason]) -> int:
    """0–100: one minus the chance that every reason is a coincidence."""
    miss = 1.0
    for reason in set(reasons):
        miss *= 1 - WEIGHTS[reason]
    return round(100 * (1 - miss))


# --- names ---------------------------------------------------------------------------------------

_NOT_LETTERS = re.compile(r"[\s\-‐‑‒–—'’.,_]+")


@lru_cache(maxsize=65536)  # the same first names and surnames come back again and again
def normalise_name(value: str | None) -> str:
    """Casefolded, accents removed, hyphens, apostrophes and spaces dropped:
    "Élodie-Marie  d'Hondt" → "elodiemariedhondt"."""
    if not value:
        return ""
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    letters = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NOT_LETTERS.sub("", letters)


def within_one_edit(a: str, b: str) -> bool:
    """True when a and b differ by at most one insertion, deletion, substitution or
    transposition of two neighbouring letters (optimal string alignment distance ≤ 1)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la > lb:
        a, b, la, lb = b, a, lb, la
    i = 0
    while i < la and a[i] == b[i]:
        i += 1
    if la == lb:
        if a[i + 1 :] == b[i + 1 :]:
            return True  # one substitution
        return i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]
    return a[i:] == b[i + 1 :]  # one insertion into the shorter


def _part_similar(a: str, b: str) -> bool:
    if a == b:
        return True
    return max(len(a), len(b)) >= _MIN_FUZZY and within_one_edit(a, b)


def name_reason(first_a: str, last_a: str, first_b: str, last_b: str) -> Reason | None:
    """Compares normalised names, also with first and last name swapped on one side."""
    if not first_a or not first_b:
        return None
    if (first_a, last_a) == (first_b, last_b) or (
        last_b and (first_a, last_a) == (last_b, first_b)
    ):
        return Reason.SAME_NAME
    if _part_similar(first_a, first_b) and _part_similar(last_a, last_b):
        return Reason.SIMILAR_NAME
    if last_b and _part_similar(first_a, last_b) and _part_similar(last_a, first_b):
        return Reason.SIMILAR_NAME
    return None


def _deletions(part: str) -> set[str]:
    # The part itself and every one-letter deletion: two parts within one edit share one.
    return {part, *(part[:i] + part[i + 1 :] for i in range(len(part)))}


class _Scored:
    """How sure a pair or a match is, from its reasons."""

    reasons: set[Reason]

    @property
    def score(self) -> int:
        return score(self.reasons)

    @property
    def ordered_reasons(self) -> list[str]:
        return sorted(self.reasons, key=lambda r: (-WEIGHTS[r], r.value))


# --- candidates between stored people -----------------------------------------------------------


@dataclass
class Candidate(_Scored):
    """Two people who may be one, with the reasons (lower id first)."""

    low_id: int
    high_id: int
    reasons: set[Reason] = field(default_factory=set)


async def _query(text: str) -> list[Any]:
    _, rows = await connections.get("default").execute_query(text)
    return list(rows)


async def _dismissed() -> set[tuple[int, int]]:
    return {
        (low, high)
        for low, high in await DuplicateDismissal.all().values_list("lead_low_id", "lead_high_id")
    }


def _pair(found: dict[tuple[int, int], Candidate], a: int, b: int, reason: Reason) -> None:
    key = (a, b) if a < b else (b, a)
    candidate = found.get(key)
    if candidate is None:
        candidate = found[key] = Candidate(*key)
    candidate.reasons.add(reason)


async def _email_pairs(found: dict[tuple[int, int], Candidate]) -> None:
    rows = await _query(
        "SELECT id, lower(email) FROM lead WHERE email IS NOT NULL AND lower(email) IN "
        "(SELECT lower(email) FROM lead WHERE email IS NOT NULL AND email <> '' "
        "GROUP BY lower(email) HAVING count(*) > 1) ORDER BY id"
    )
    groups: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        groups[row[1]].append(row[0])
    for ids in groups.values():
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                _pair(found, a, b, Reason.EMAIL)


def _similar_parts(parts: set[str]) -> dict[str, set[str]]:
    """For each name part, the parts (itself included) within one edit of it. Parts are
    indexed under their one-letter deletions, so only parts sharing a key are compared."""
    index: dict[str, list[str]] = defaultdict(list)
    for part in parts:
        for key in _deletions(part):
            index[key].append(part)
    similar: dict[str, set[str]] = {part: {part} for part in parts}
    for members in index.values():
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                if b not in similar[a] and _part_similar(a, b):
                    similar[a].add(b)
                    similar[b].add(a)
    return similar


def _name_pairs_in_block(
    people: list[tuple[int, str, str]], found: dict[tuple[int, int], Candidate]
) -> None:
    """People of one postcode as (id, normalised first, normalised last). Work is done per
    distinct name part and per distinct name, not per person: common names are shared."""
    holders: dict[tuple[str, str], list[int]] = defaultdict(list)
    for lead_id, first, last in people:
        holders[(first, last)].append(lead_id)
    for ids in holders.values():  # the very same name: every pair of its holders
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                _pair(found, a, b, Reason.SAME_NAME)
    firsts_of: dict[str, set[str]] = defaultdict(set)
    for first, last in holders:
        firsts_of[last].add(first)
    similar = _similar_parts({part for name in holders for part in name})
    for name in holders:
        first, last = name
        others = set()
        # Straight: a similar last name with a similar first name…
        for last_b in similar[last]:
            others.update((f, last_b) for f in similar[first] & firsts_of.get(last_b, set()))
        # …or swapped: the first name among the last names, and the other way round.
        for last_b in similar[first]:
            others.update((f, last_b) for f in similar[last] & firsts_of.get(last_b, set()))
        for other in others:
            if other <= name:
                continue  # each pair of names once (and not a name with itself)
            reason = name_reason(first, last, *other)
            if reason is None:
                continue
            for id_a in holders[name]:
                for id_b in holders[other]:
                    _pair(found, id_a, id_b, reason)


async def _name_pairs(found: dict[tuple[int, int], Candidate]) -> None:
    rows = await _query(
        "SELECT id, first_name, last_name, postcode FROM lead WHERE postcode IN "
        "(SELECT postcode FROM lead WHERE postcode IS NOT NULL "
        "GROUP BY postcode HAVING count(*) > 1) ORDER BY postcode, id"
    )
    blocks: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for row in rows:
        first = normalise_name(row[1])
        if first:
            blocks[row[3]].append((row[0], first, normalise_name(row[2])))
    for people in blocks.values():
        if len(people) > 1:
            _name_pairs_in_block(people, found)


async def find_candidates() -> list[Candidate]:
    """Every pair of stored people who may be the same person, surest first; pairs a person
    already dismissed are left out."""
    found: dict[tuple[int, int], Candidate] = {}
    await _email_pairs(found)
    await _name_pairs(found)
    dismissed = await _dismissed()
    out = [c for key, c in found.items() if key not in dismissed]
    out.sort(key=lambda c: (-c.score, -c.high_id, c.low_id))
    return out


async def with_people(candidates: list[Candidate]) -> list[tuple[Candidate, Lead, Lead]]:
    """Each pair with its two people (lower id first), in one query; a pair whose person is
    gone since the candidates were found is left out."""
    ids = {i for c in candidates for i in (c.low_id, c.high_id)}
    people = {lead.id: lead for lead in await Lead.filter(id__in=list(ids))}
    return [
        (c, people[c.low_id], people[c.high_id])
        for c in candidates
        if c.low_id in people and c.high_id in people
    ]


# --- candidates for one record -------------------------------------------------------------------


@dataclass
class Match(_Scored):
    """An existing person an incoming record may be, with the reasons."""

    lead: Lead
    reasons: set[Reason]


async def candidates_for(values: dict[str, Any], *, exclude_id: int | None = None) -> list[Match]:
    """Existing people an incoming record (a form, an import row: `phone`, `email`,
    `telegram_chat_id`, `first_name`, `last_name`, `postcode`) may be, surest first. The values
    may be raw: phones are normalised here, and a phone that cannot be read is ignored."""
    phone = values.get("phone")
    if phone:
        try:
            phone = normalize_phone(str(phone))
        except ValueError:
            phone = None
    email = str(values.get("email") or "").strip().lower() or None
    chat_id = values.get("telegram_chat_id")
    postcode = str(values.get("postcode") or "").strip() or None
    first = normalise_name(values.get("first_name"))
    last = normalise_name(values.get("last_name"))

    conditions = []
    if phone:
        conditions.append(Q(phone=phone))
    if email:
        conditions.append(Q(email__iexact=email))
    if chat_id is not None and chat_id != "":
        conditions.append(Q(telegram_chat_id=chat_id))
    if postcode and first:
        conditions.append(Q(postcode=postcode))
    if not conditions:
        return []
    query = Lead.filter(Q(*conditions, join_type="OR"))
    if exclude_id is not None:
        query = query.exclude(id=exclude_id)
    matches = []
    for lead in await query.order_by("id").limit(5000):
        reasons: set[Reason] = set()
        if phone and lead.phone == phone:
            reasons.add(Reason.PHONE)
        if email and (lead.email or "").lower() == email:
            reasons.add(Reason.EMAIL)
        if chat_id not in (None, "") and lead.telegram_chat_id == int(chat_id):
            reasons.add(Reason.TELEGRAM_CHAT)
        if postcode and first and lead.postcode == postcode:
            reason = name_reason(
                first, last, normalise_name(lead.first_name), normalise_name(lead.last_name)
            )
            if reason is not None:
                reasons.add(reason)
        if reasons:
            matches.append(Match(lead, reasons))
    if exclude_id is not None and matches:
        dismissed = await _dismissed_with(exclude_id)
        matches = [m for m in matches if m.lead.id not in dismissed]
    matches.sort(key=lambda m: (-m.score, m.lead.id))
    return matches


async def _dismissed_with(lead_id: int) -> set[int]:
    rows = await DuplicateDismissal.filter(
        Q(lead_low_id=lead_id) | Q(lead_high_id=lead_id)
    ).values_list("lead_low_id", "lead_high_id")
    return {low if high == lead_id else high for low, high in rows}


async def candidates_of(lead: Lead) -> list[Match]:
    """The people this stored person may also be (pairs dismissed before are left out)."""
    values = {
        "phone": lead.phone,
        "email": lead.email,
        "telegram_chat_id": lead.telegram_chat_id,
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "postcode": lead.postcode,
    }
    return await candidates_for(values, exclude_id=lead.id)


# --- dismissing a pair --------------------------------------------------------------------------


async def dismiss(lead_ids: list[int], *, actor: Actor) -> tuple[int, int]:
    """Record that two people are not the same person, so the pair is not proposed again.
    Dismissing a pair twice is harmless. Returns the pair, lower id first."""
    if len(lead_ids) != 2 or lead_ids[0] == lead_ids[1]:
        raise InvalidInput("give the ids of two different people", field="lead_ids")
    low, high = sorted(lead_ids)
    found = set(await Lead.filter(id__in=[low, high]).values_list("id", flat=True))
    for lead_id in (low, high):
        if lead_id not in found:
            raise NotFound(f"no person with id {lead_id}", field="lead_ids")
    _dismissal, created = await DuplicateDismissal.get_or_create(
        lead_low_id=low, lead_high_id=high, defaults={"by_user_id": actor.user_id}
    )
    if created:
        for lead_id in (low, high):
            await audit.record(
                actor,
                "duplicate.dismiss",
                entity="lead",
                entity_id=lead_id,
                lead_id=lead_id,
                changes={"lead_ids": [low, high]},
            )
    return low, high
