"""Sign-in throttling: failed attempts counted per account and per address, in the database
(`login_throttle`), so every web process sees the same counts.

- An account ("account:<e-mail>") gets LOGIN_MAX_FAILURES guesses in LOGIN_WINDOW_MINUTES; the
  attempt that uses the last one locks it for LOGIN_LOCK_MINUTES, doubled for each further lock
  that follows within a window of the last (at most a day). A locked account refuses even the
  right password. A success clears the account's count. The key is the e-mail typed, whether
  an account has it or not: an unknown e-mail locks the same way (no account enumeration).
- An address ("address:<ip>") gets LOGIN_ADDRESS_MAX_FAILURES failures in the same window, then
  the same lock; a success does not clear it (one known account must not reset a password
  sprayer's count).

An account's attempt is counted *before* its password is checked (a success then removes it):
attempts sent in parallel to several processes each take their own number in one statement,
so no more than the allowed number are ever checked. Counting and locking is one upsert whose
`WHERE` refuses to count while a lock holds: two processes can neither both miss a failure nor
both let one through."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise import connections

from crm.audit import service as audit
from crm.auth.models import LoginThrottle
from crm.config import settings
from crm.db import numbered_sql

# A lock never lasts longer than this, however often it doubled.
MAX_LOCK = timedelta(hours=24)
_MAX_KEY = 300  # the column's length

# One statement: a new key starts at 1; a key whose window and last lock are older than the
# window starts again at 1; otherwise the count goes up by one. The count that reaches a multiple
# of the limit sets the lock in the same statement. While a lock holds the WHERE refuses the
# update and nothing is returned.
_COUNT = """
INSERT INTO login_throttle (key, failures, window_started_at, last_failure_at, locked_until)
VALUES ($1, 1, $2, $2, $5)
ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN {stale} THEN 1 ELSE login_throttle.failures + 1 END,
    window_started_at = CASE WHEN {stale} THEN $2 ELSE login_throttle.window_started_at END,
    last_failure_at = $2,
    locked_until = CASE
        WHEN (CASE WHEN {stale} THEN 1 ELSE login_throttle.failures + 1 END) % $4 = 0 THEN $6
        ELSE login_throttle.locked_until END
WHERE login_throttle.locked_until IS NULL OR login_throttle.locked_until <= $2
RETURNING failures
""".format(
    stale="(login_throttle.window_started_at < $3 AND "
    "(login_throttle.locked_until IS NULL OR login_throttle.locked_until < $3))"
)
# Keys are personal data (an e-mail, an address): forgotten once nothing can depend on them.
FORGET_AFTER = 2 * MAX_LOCK
_FORGET = """
DELETE FROM login_throttle
WHERE last_failure_at < $1 AND (locked_until IS NULL OR locked_until < $1)
"""
# A lock after the first one is longer: only ever lengthened, never shortened.
_LENGTHEN = """
UPDATE login_throttle SET locked_until = $2
WHERE key = $1 AND locked_until IS NOT NULL AND locked_until < $2
"""


def _now() -> datetime:
    return datetime.now(UTC)


def account_key(email: str) -> str:
    return ("account:" + email.strip().lower())[:_MAX_KEY]


def address_key(address: str) -> str:
    return ("address:" + address)[:_MAX_KEY]


@dataclass(frozen=True)
class Refusal:
    """Why an attempt is refused without checking its password, and for how long."""

    reason: str  # "account" or "address"
    retry_after: int  # seconds

    @property
    def minutes(self) -> int:
        return max(1, -(-self.retry_after // 60))

    @property
    def message(self) -> str:
        source = "from this address" if self.reason == "address" else "for this account"
        return f"too many failed sign-ins {source}: try again in {self.minutes} minute(s)"


@dataclass(frozen=True)
class Attempt:
    """A sign-in allowed to check its password, and what its outcome must be recorded under."""

    email: str
    address: str
    account_failures: int  # this attempt's number in the account's count
    started_lock: bool  # the account locks if this attempt fails


def _lock_length(failures: int, limit: int) -> timedelta:
    # The n-th lock in a row lasts 2^(n-1) times the base.
    doublings = min(failures // limit - 1, 16)
    return min(timedelta(minutes=settings.LOGIN_LOCK_MINUTES) * 2**doublings, MAX_LOCK)


def _as_datetime(value: object) -> datetime | None:
    field = LoginThrottle._meta.fields_map["locked_until"]
    return field.to_python_value(value)  # type: ignore[no-any-return]


async def _locked_for(key: str, now: datetime) -> int | None:
    """Seconds until the key's lock ends, or None if it is not locked."""
    row = await LoginThrottle.get_or_none(key=key).values("locked_until")
    until = _as_datetime(row["locked_until"]) if row else None
    if until is None or until <= now:
        return None
    return max(1, int((until - now).total_seconds() + 0.999))


async def _count(key: str, limit: int, now: datetime) -> int | None:
    """Count one failure (or attempt) on the key; its new count, or None when a lock holds."""
    window = timedelta(minutes=settings.LOGIN_WINDOW_MINUTES)
    first_lock = now + _lock_length(limit, limit)
    connection = connections.get("default")
    rows = await connection.execute_query_dict(
        numbered_sql(_COUNT, connection),
        [key, now, now - window, limit, first_lock if limit == 1 else None, first_lock],
    )
    if not rows:
        return None
    failures = int(rows[0]["failures"])
    if failures % limit == 0 and failures > limit:
        await connection.execute_query(
            numbered_sql(_LENGTHEN, connection), [key, now + _lock_length(failures, limit)]
        )
    return failures


async def _audit_lock(key: str, failures: int) -> None:
    until = await LoginThrottle.get_or_none(key=key).values("locked_until")
    await audit.record(
        None,
        "auth.locked",
        entity="login_throttle",
        entity_id=None,
        changes={
            "key": key,
            "failures": failures,
            "locked_until": _as_datetime(until["locked_until"]) if until else None,
        },
    )


async def begin(email: str, address: str) -> Attempt | Refusal:
    """Before a password is checked: a Refusal (the address or the account is locked), or the
    Attempt to finish with `succeeded` or `failed`."""
    now = _now()
    seconds = await _locked_for(address_key(address), now)
    if seconds is not None:
        return Refusal("address", seconds)
    key = account_key(email)
    limit = settings.LOGIN_MAX_FAILURES
    failures = await _count(key, limit, now)
    if failures is None:
        return Refusal("account", await _locked_for(key, now) or 1)
    return Attempt(email, address, failures, started_lock=failures % limit == 0)


async def succeeded(attempt: Attempt) -> None:
    """The password was right: the account's count (and a lock this attempt set) goes."""
    await LoginThrottle.filter(key=account_key(attempt.email)).delete()


async def failed(attempt: Attempt) -> None:
    """The password was wrong (or the account unknown or inactive): the address counts a
    failure; a lock that either key starts is audited; keys idle for two days are forgotten."""
    if attempt.started_lock:
        await _audit_lock(account_key(attempt.email), attempt.account_failures)
    now = _now()
    key = address_key(attempt.address)
    limit = settings.LOGIN_ADDRESS_MAX_FAILURES
    failures = await _count(key, limit, now)
    if failures is not None and failures % limit == 0:
        await _audit_lock(key, failures)
    connection = connections.get("default")
    await connection.execute_query(numbered_sql(_FORGET, connection), [now - FORGET_AFTER])
