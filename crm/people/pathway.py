"""The pathway milestones on each person: when they first reached each stage or a later one.

They are a summary of the stage log (`lead_stage_change`), kept in the same transaction as every
stage change so the funnel reads one table instead of grouping the log. `rebuild` recomputes them
from the log (after a merge, a bulk rewrite, or as a repair: `passerelle reports rebuild`), and
the tests compare the kept values with a rebuild after every kind of change.

"Reached at least S" is the milestone of S being set: moving from reached straight to application
passes lead, contacted and info session at that moment. Going back a stage keeps what was passed.
The exits (redirected, lost) keep their first entry only.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from tortoise import connections

from crm.db import is_postgres, numbered_sql
from crm.people.models import PATHWAY, Stage

# Stage -> the column holding when it was first reached (reached itself is `created_at`).
MILESTONES: dict[Stage, str] = {
    Stage.LEAD: "lead_at",
    Stage.CONTACTED: "contacted_at",
    Stage.INFO_SESSION: "info_session_at",
    Stage.APPLICATION: "application_at",
    Stage.COACHED: "coached_at",
    Stage.FINANCED: "financed_at",
}
EXITS: dict[Stage, str] = {Stage.REDIRECTED: "redirected_at", Stage.LOST: "lost_at"}
COLUMNS: tuple[str, ...] = (*MILESTONES.values(), *EXITS.values())


def passed_columns(stage: Stage) -> list[str]:
    """The milestone columns a person at `stage` has passed."""
    stage = Stage(stage)
    if stage in EXITS:
        return [EXITS[stage]]
    return [MILESTONES[s] for s in PATHWAY[1 : PATHWAY.index(stage) + 1]]


def initial(stage: Stage, at: datetime) -> dict[str, datetime]:
    """Milestones of a person created at `stage` at `at`."""
    return dict.fromkeys(passed_columns(stage), at)


async def advance(lead_id: int, stage: Stage, at: datetime) -> None:
    """Record that the person entered `stage` at `at` (milestones already set stay)."""
    columns = passed_columns(stage)
    sets = ", ".join(f"{c} = COALESCE({c}, $1)" for c in columns)
    await connections.get("default").execute_query(
        numbered_sql(f"UPDATE lead SET {sets} WHERE id = $2"), [at, lead_id]
    )


def _from_log_sql(where: str) -> str:
    # One aggregate per person over the log; `to_stage IN (S and every later stage)` is the
    # first time the person was at S or beyond.
    aggregates = []
    for stage, column in MILESTONES.items():
        later = ", ".join(f"'{s.value}'" for s in PATHWAY[PATHWAY.index(stage) :])
        aggregates.append(f"MIN(CASE WHEN to_stage IN ({later}) THEN at END) AS {column}")
    for stage, column in EXITS.items():
        aggregates.append(f"MIN(CASE WHEN to_stage = '{stage.value}' THEN at END) AS {column}")
    return (
        f"SELECT lead_id, {', '.join(aggregates)} FROM lead_stage_change {where} GROUP BY lead_id"
    )


async def rebuild(lead_ids: Iterable[int] | None = None, *, connection: Any = None) -> int:
    """Recompute the milestones from the stage log, for these people or everyone.

    Returns the number of people whose milestones changed."""
    conn = connection or connections.get("default")
    ids = None if lead_ids is None else sorted(set(lead_ids))
    if ids == []:
        return 0
    changed = " OR ".join(
        f"lead.{c} IS DISTINCT FROM log.{c}" if is_postgres(conn) else f"lead.{c} IS NOT log.{c}"
        for c in COLUMNS
    )
    sets = ", ".join(f"{c} = log.{c}" for c in COLUMNS)
    total = 0
    for chunk in _chunks(ids):
        if chunk is None:
            where, params = "", []
        else:
            marks = ", ".join(f"${i + 1}" for i in range(len(chunk)))
            where, params = f"WHERE lead_id IN ({marks})", list(chunk)
        sql = (
            f"UPDATE lead SET {sets} FROM ({_from_log_sql(where)}) AS log"
            f" WHERE lead.id = log.lead_id AND ({changed})"
        )
        count, _ = await conn.execute_query(numbered_sql(sql, conn), params)
        total += count or 0
    return total


def _chunks(ids: list[int] | None, size: int = 500) -> Iterable[list[int] | None]:
    if ids is None:
        yield None
        return
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
