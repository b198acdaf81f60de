"""Who a campaign speaks to, as one SQL condition over `lead`.

The audience is read in keyset batches (`id > cursor ORDER BY id LIMIT n`) so a run over
100,000 people holds one batch in memory at a time and can resume where it stopped. The same
condition serves the fan-out, the pre-schedule checks and the audience count."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from campaigns.schedule import anchor_window
from channels.sql import is_postgres, rows, tuples

# Statuses of a message that was (or will be) sent: what "messaged" and the cap count.
LIVE_STATUSES = ("queued", "sending", "sent", "delivered", "unknown", "paused")

LEAD_COLUMNS = (
    "l.id, l.first_name, l.last_name, l.phone, l.telegram_chat_id, l.language, l.stage, "
    "l.assigned_agent_id, l.event_id"
)


@dataclass
class Condition:
    """A WHERE clause with `$n` placeholders and its parameters, built piece by piece."""

    parts: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def param(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def values(self, items: list[Any]) -> str:
        return ", ".join(self.param(v) for v in items)

    def add(self, clause: str) -> None:
        self.parts.append(clause)

    def sql(self) -> str:
        return " AND ".join(self.parts) if self.parts else "1 = 1"


def build_condition(
    audience: dict[str, Any],
    *,
    now: datetime,
    anchor: tuple[str, date] | None = None,
) -> Condition:
    """The audience keys of CONTRACT §4 as SQL. `anchor` = (field, day) for relative runs."""
    c = Condition()
    if segments := audience.get("segments"):
        c.add(
            "EXISTS (SELECT 1 FROM lead_segment s WHERE s.lead_id = l.id "
            f"AND s.code IN ({c.values(segments)}))"
        )
    if languages := audience.get("languages"):
        c.add(f"l.language IN ({c.values(languages)})")
    if stages := audience.get("stages"):
        c.add(f"l.stage IN ({c.values(stages)})")
    if postcodes := audience.get("postcodes"):
        c.add(f"l.postcode IN ({c.values(postcodes)})")
    if regions := audience.get("regions"):
        c.add(f"l.region IN ({c.values(regions)})")
    if event_ids := audience.get("event_ids"):
        c.add(
            f"(l.event_id IN ({c.values(event_ids)}) "
            "OR EXISTS (SELECT 1 FROM event_registration r WHERE r.lead_id = l.id "
            f"AND r.event_id IN ({c.values(event_ids)})) "
            "OR EXISTS (SELECT 1 FROM interaction i WHERE i.lead_id = l.id "
            f"AND i.event_id IN ({c.values(event_ids)})))"
        )
    if kinds := audience.get("event_kinds"):
        c.add(
            f"l.event_id IN (SELECT e.id FROM outreach_event e WHERE e.kind IN ({c.values(kinds)}))"
        )
    if partner_ids := audience.get("partner_ids"):
        c.add(
            f"(l.referring_partner_id IN ({c.values(partner_ids)}) "
            "OR EXISTS (SELECT 1 FROM referral f WHERE f.lead_id = l.id "
            f"AND f.sender_id IN ({c.values(partner_ids)})))"
        )
    if agent_ids := audience.get("agent_ids"):
        c.add(
            f"(l.assigned_agent_id IN ({c.values(agent_ids)}) "
            f"OR l.reached_by_id IN ({c.values(agent_ids)}))"
        )
    for key, column, op in (
        ("created_after", "l.created_at", ">="),
        ("created_before", "l.created_at", "<"),
        ("contacted_after", "l.last_contacted_at", ">="),
        ("contacted_before", "l.last_contacted_at", "<"),
    ):
        if (value := audience.get(key)) is not None:
            c.add(f"{column} {op} {c.param(_utc(value))}")
    if days := audience.get("not_messaged_days"):
        statuses = c.values(list(LIVE_STATUSES))
        c.add(
            "NOT EXISTS (SELECT 1 FROM outbox_message o WHERE o.lead_id = l.id "
            f"AND o.status IN ({statuses}) AND o.due_at >= {c.param(now - timedelta(days=days))})"
        )
    if anchor is not None:
        name, day = anchor
        start, end = anchor_window(day)
        window = f">= {c.param(start)} AND {{col}} < {c.param(end)}"
        if name == "created_at":
            c.add("l.created_at " + window.format(col="l.created_at"))
        elif name == "last_contacted_at":
            c.add("l.last_contacted_at " + window.format(col="l.last_contacted_at"))
        elif name == "event.starts_at":
            c.add(
                "EXISTS (SELECT 1 FROM outreach_event e WHERE e.id = l.event_id "
                "AND e.starts_at " + window.format(col="e.starts_at") + ")"
            )
        else:  # registration.starts_at
            c.add(
                "EXISTS (SELECT 1 FROM event_registration r JOIN outreach_event e "
                "ON e.id = r.event_id WHERE r.lead_id = l.id "
                "AND e.starts_at " + window.format(col="e.starts_at") + ")"
            )
    return c


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC)


def id_filter(column: str, ids: list[int], first: int) -> tuple[str, list[Any]]:
    """`column` restricted to a batch of person ids (sorted), from placeholder `$first` on.

    A batch read in id order is usually a dense range: `BETWEEN` lets the index do the work
    (callers drop the rows of people outside the batch). A sparse batch is an array on
    PostgreSQL (one parameter, so the plan does not change with the batch size) and a list on
    SQLite. A long `IN ($1…$1000)` made PostgreSQL pick a generic plan that scanned every recent
    campaign message: 300 ms per batch."""
    if ids[-1] - ids[0] < 4 * len(ids):
        return f"{column} BETWEEN ${first} AND ${first + 1}", [ids[0], ids[-1]]
    if is_postgres():
        return f"{column} = ANY(${first}::int[])", [ids]
    marks = ", ".join(f"${first + i}" for i in range(len(ids)))
    return f"{column} IN ({marks})", list(ids)


async def batch(condition: Condition, *, after_id: int, limit: int) -> list[Any]:
    """The next `limit` people of the audience after `after_id`, in id order: the driver's own
    rows (read by column name like a dict), not copied into dicts, as a run reads 100,000."""
    params = [*condition.params, after_id, limit]
    n = len(condition.params)
    return await tuples(
        f"SELECT {LEAD_COLUMNS} FROM lead l WHERE {condition.sql()} "
        f"AND l.id > ${n + 1} ORDER BY l.id LIMIT ${n + 2}",
        params,
    )


async def count(condition: Condition) -> int:
    result = await rows(
        f"SELECT count(*) AS n FROM lead l WHERE {condition.sql()}", condition.params
    )
    return int(result[0]["n"])
