"""Merging two records of one person: everything of both is kept, and it can be explained later.

Rows are re-pointed generically: every model with a foreign key or one-to-one to `Lead` (found
through the ORM's relations, so a table added later moves without a change here), and the plain
`lead_id` columns listed in `PLAIN_LEAD_COLUMNS`. A row the kept person already has under a
unique constraint (the same segment, the same event registration, the inbox thread) is not
duplicated: the kept row's empty fields are filled from the merged one (or a registered
combiner folds them, e.g. the inbox thread's unread counts), then the merged row is dropped and
counted (`merged_snapshot["dropped"]`, by table). The merged record's full snapshot is stored
in a `LeadMerge` row; `moved` counts the rows re-pointed, by table.

Consent: both ledgers move in full and the current state per purpose stays "the latest entry
across both records" (`service.current_consents`). So an opt-out on either record is never lost
to an older grant on the other; only a grant recorded *after* the withdrawal (a real, later
consent of the same person) is in force."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal
from uuid import UUID

from tortoise import Tortoise, connections
from tortoise.models import Model
from tortoise.transactions import in_transaction

from crm.audit import service as audit
from crm.auth.actor import Actor
from crm.errors import Conflict, InvalidInput, NotFound
from crm.people import pathway, service
from crm.people.models import Lead, LeadMerge, LeadStageChange

Choice = Literal["kept", "merged"]

# The person's fields a reviewer chooses between. `region` follows `postcode`, `lost_reason`
# follows `stage`; ids, creation and update times are the kept record's.
CHOOSABLE = (
    "first_name",
    "last_name",
    "phone",
    "email",
    "telegram_chat_id",
    "language",
    "postcode",
    "gender",
    "birth_year",
    "employment_status",
    "background",
    "social_assistance",
    "jobs_created",
    "jobs_kept",
    "stage",
    "source",
    "event_id",
    "referring_partner_id",
    "assigned_agent_id",
    "reached_by_id",
    "project_summary",
    "project_sector",
    "notes",
    "follow_up_on",
    "last_contacted_at",
)
_FOLLOWS = {"postcode": ("region",), "stage": ("lost_reason",)}

# Plain integer columns that hold a person's id (no foreign key), by model and column:
# "move" re-points them to the kept person; "history" leaves them as they were (they tell what
# happened to the record that existed then). The test suite fails for a lead-id column missing
# here.
PLAIN_LEAD_COLUMNS: dict[tuple[str, str], Literal["move", "history"]] = {
    ("SyncReceipt", "lead_id"): "move",  # a device sending an item again finds the person
    ("ImportRowReport", "lead_id"): "move",  # an import's report links to the living record
    ("AuditEntry", "lead_id"): "history",
    ("LeadMerge", "kept_lead_id"): "history",
    ("LeadMerge", "merged_lead_id"): "history",
    ("DuplicateDismissal", "lead_low_id"): "history",
    ("DuplicateDismissal", "lead_high_id"): "history",
}

# Folds the merged person's row into the kept person's when both have one under a unique
# constraint (by model name; crm does not import the packages that own them). Registered where
# the app is wired together.
Combiner = Callable[[Model, Model], Awaitable[None]]
_combiners: dict[str, Combiner] = {}


def register_combiner(model_name: str, combiner: Combiner) -> None:
    _combiners[model_name] = combiner


# --- what points at a person ---------------------------------------------------------------------


class Relation:
    """A model with a foreign key (or one-to-one) to Lead: its column and the sets of columns,
    including the person's, that must stay unique."""

    def __init__(self, model: type[Model], column: str, one_to_one: bool) -> None:
        self.model = model
        self.column = column
        self.one_to_one = one_to_one
        meta = model._meta
        forward = next(
            name
            for name in meta.fk_fields | meta.o2o_fields
            if meta.fields_map[name].source_field == column  # type: ignore[attr-defined]
        )
        self.unique_with: list[tuple[str, ...]] = []
        if one_to_one:
            self.unique_with.append(())
        for group in meta.unique_together:
            if forward in group or column in group:
                others = tuple(
                    meta.fields_map[n].source_field  # type: ignore[attr-defined]
                    if n in meta.fk_fields | meta.o2o_fields
                    else n
                    for n in group
                    if n not in (forward, column)
                )
                self.unique_with.append(others)

    @property
    def table(self) -> str:
        return self.model._meta.db_table


def lead_relations() -> list[Relation]:
    """Every relation to Lead, from the ORM's own model registry."""
    meta = Lead._meta
    out = []
    for name in sorted(meta.backward_fk_fields | meta.backward_o2o_fields):
        relation: Any = meta.fields_map[name]
        out.append(
            Relation(
                relation.related_model,
                relation.relation_field,
                name in meta.backward_o2o_fields,
            )
        )
    return out


def model_named(name: str) -> type[Model]:
    for models in Tortoise.apps.values():
        if name in models:
            return models[name]
    raise LookupError(name)


# --- snapshots -----------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


async def snapshot(lead: Lead) -> dict[str, Any]:
    """Every field of the person, their segments and their current consents."""
    data = {name: jsonable(getattr(lead, name)) for name in Lead._meta.fields_db_projection}
    data["segments"] = (await service.segments_of([lead.id])).get(lead.id, [])
    data["consents"] = [
        {
            "purpose": jsonable(c.purpose),
            "granted": c.granted,
            "source": jsonable(c.source),
            "recorded_at": jsonable(c.recorded_at),
        }
        for c in (await service.current_consents([lead.id])).get(lead.id, [])
    ]
    return data


def _empty(value: Any) -> bool:
    return value is None or value == ""


def default_choices(kept: Lead, merged: Lead) -> dict[str, Choice]:
    """The kept person's value, or the merged one's where the kept one is empty."""
    return {
        name: "merged"
        if _empty(getattr(kept, name)) and not _empty(getattr(merged, name))
        else "kept"
        for name in CHOOSABLE
    }


def check_choices(choices: dict[str, str] | None) -> dict[str, Choice]:
    out: dict[str, Choice] = {}
    for name, value in (choices or {}).items():
        if name not in CHOOSABLE:
            raise InvalidInput(
                f"not a field that can be chosen (one of: {', '.join(CHOOSABLE)})",
                field=f"choices.{name}",
            )
        if value not in ("kept", "merged"):
            raise InvalidInput('must be "kept" or "merged"', field=f"choices.{name}")
        out[name] = value  # type: ignore[assignment]
    return out


# --- the merge -----------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


async def _locked_pair(kept_id: int, merged_id: int) -> tuple[Lead, Lead]:
    # Both rows locked in id order (PostgreSQL): a second merge of the same pair waits, then
    # finds the merged record gone. SQLite serialises write transactions by itself.
    ids = sorted((kept_id, merged_id))
    query = Lead.filter(id__in=ids).order_by("id")
    if connections.get("default").capabilities.dialect == "postgres":
        query = query.select_for_update()
    found = {lead.id: lead for lead in await query}
    for lead_id, label in ((kept_id, "id"), (merged_id, "merged_id")):
        if lead_id not in found:
            now = await merged_into(lead_id)
            if now is not None:
                raise NotFound(f"person {lead_id} was merged into {now}", field=label)
            raise NotFound(f"no person with id {lead_id}", field=label)
    return found[kept_id], found[merged_id]


async def _fill_empty(kept_row: Model, merged_row: Model) -> None:
    filled = {}
    for name in kept_row._meta.fields_db_projection:
        if name == kept_row._meta.pk_attr:
            continue
        if getattr(kept_row, name) is None and getattr(merged_row, name) is not None:
            filled[name] = getattr(merged_row, name)
    if filled:
        await type(kept_row).filter(pk=kept_row.pk).update(**filled)


async def _move(relation: Relation, kept_id: int, merged_id: int) -> tuple[int, int]:
    """Re-points one table's rows; returns (moved, dropped as already on the kept person)."""
    model, column = relation.model, relation.column
    if not relation.unique_with:
        moved = await model.filter(**{column: merged_id}).update(**{column: kept_id})
        return moved, 0
    kept_rows = await model.filter(**{column: kept_id})
    taken = {
        (others, tuple(getattr(row, c) for c in others)): row
        for row in kept_rows
        for others in relation.unique_with
    }
    to_move, dropped = [], 0
    for row in await model.filter(**{column: merged_id}).order_by(model._meta.pk_attr):
        twin = next(
            (
                taken[key]
                for others in relation.unique_with
                if (key := (others, tuple(getattr(row, c) for c in others))) in taken
            ),
            None,
        )
        if twin is None:
            to_move.append(row.pk)
            continue
        combiner = _combiners.get(model.__name__, _fill_empty)
        await combiner(twin, row)
        await model.filter(pk=row.pk).delete()
        dropped += 1
    moved = 0
    if to_move:
        moved = await model.filter(pk__in=to_move).update(**{column: kept_id})
    return moved, dropped


async def merge_leads(
    kept_id: int,
    merged_id: int,
    *,
    choices: dict[str, str] | None = None,
    reason: str | None = None,
    actor: Actor,
) -> tuple[Lead, LeadMerge]:
    """Merge the person `merged_id` into `kept_id` in one transaction: every row of both is
    kept on `kept_id`, each field takes the chosen side (default: the kept value, or the
    merged one where the kept one is empty), the merged record is deleted and a LeadMerge row
    explains it. Raises Conflict (same id), NotFound (unknown id), InvalidInput (bad choice)."""
    if kept_id == merged_id:
        raise Conflict("a person cannot be merged with themselves", field="merged_id")
    chosen = check_choices(choices)
    async with in_transaction():
        kept, merged = await _locked_pair(kept_id, merged_id)
        final = {**default_choices(kept, merged), **chosen}
        kept_before = await snapshot(kept)
        merged_before = await snapshot(merged)

        moved: dict[str, int] = {}
        dropped: dict[str, int] = {}
        for relation in lead_relations():
            n_moved, n_dropped = await _move(relation, kept.id, merged.id)
            if n_moved:
                moved[relation.table] = moved.get(relation.table, 0) + n_moved
            if n_dropped:
                dropped[relation.table] = dropped.get(relation.table, 0) + n_dropped
        for (model_name, column), rule in PLAIN_LEAD_COLUMNS.items():
            if rule == "move":
                model = model_named(model_name)
                n = await model.filter(**{column: merged.id}).update(**{column: kept.id})
                if n:
                    moved[model._meta.db_table] = n

        values: dict[str, Any] = {}
        for name in CHOOSABLE:
            if final[name] == "merged":
                for column in (name, *_FOLLOWS.get(name, ())):
                    values[column] = getattr(merged, column)
        # Unique values leave the merged record first, so the kept one can take them.
        await Lead.filter(id=merged.id).update(phone=None, telegram_chat_id=None)
        previous_stage = kept.stage
        changed = {k: v for k, v in values.items() if getattr(kept, k) != v}
        if changed:
            await Lead.filter(id=kept.id).update(**changed, updated_at=_now())
        if "stage" in changed:
            await LeadStageChange.create(
                lead_id=kept.id,
                from_stage=previous_stage,
                to_stage=changed["stage"],
                reason=f"merge with #{merged.id}",
                by_user_id=actor.user_id,
            )
        await Lead.filter(id=merged.id).delete()
        # Both stage logs are the kept person's now: their milestones are the earliest of both.
        await pathway.rebuild([kept.id])

        merged_before["dropped"] = dropped
        record = await LeadMerge.create(
            kept_lead_id=kept.id,
            merged_lead_id=merged.id,
            merged_snapshot=merged_before,
            kept_snapshot=kept_before,
            choices=final,
            moved=moved,
            reason=(reason or "").strip()[:500] or None,
            by_user_id=actor.user_id,
            by_label=actor.label,
        )
        summary = {
            "kept_lead_id": kept.id,
            "merged_lead_id": merged.id,
            "merge_id": record.id,
            "fields_from_merged": sorted(k for k, v in final.items() if v == "merged"),
            "moved": moved,
            "dropped": dropped,
            "reason": record.reason,
        }
        for lead_id in (kept.id, merged.id):
            await audit.record(
                actor,
                "lead.merge",
                entity="lead",
                entity_id=lead_id,
                lead_id=lead_id,
                changes=summary,
            )
    return await Lead.get(id=kept.id), record


# --- afterwards ----------------------------------------------------------------------------------


async def merged_into(lead_id: int) -> int | None:
    """The living person a merged-away id now is (following later merges), or None."""
    current, seen = lead_id, set()
    while current not in seen and len(seen) < 100:
        seen.add(current)
        kept = await (
            LeadMerge.filter(merged_lead_id=current)
            .order_by("-id")
            .first()
            .values_list("kept_lead_id", flat=True)
        )
        if kept is None:
            return None if current == lead_id else current
        if await Lead.exists(id=kept):
            return int(kept)  # type: ignore[arg-type]
        current = int(kept)  # type: ignore[arg-type]
    return None


async def no_such_person(lead_id: int) -> str:
    """What to say about an id that names nobody: "there is no person #7 (merged into person
    #3)" when it was merged away, so the caller knows where the person went."""
    into = await merged_into(lead_id)
    hint = f" (merged into person #{into})" if into else ""
    return f"there is no person #{lead_id}{hint}"


async def merged_into_visible(actor: Actor, lead_id: int) -> int | None:
    """`merged_into`, but only when this actor may see the person the id became."""
    kept = await merged_into(lead_id)
    if kept is not None and await service.visible_leads(actor).filter(id=kept).exists():
        return kept
    return None


async def merges_of(lead_id: int) -> list[LeadMerge]:
    """The merges that made this person, including merges into records merged into it later,
    newest first."""
    ids, frontier, found = {lead_id}, {lead_id}, {}
    while frontier and len(ids) < 1000:
        rows = await LeadMerge.filter(kept_lead_id__in=list(frontier))
        frontier = set()
        for row in rows:
            found[row.id] = row
            if row.merged_lead_id not in ids:
                ids.add(row.merged_lead_id)
                frontier.add(row.merged_lead_id)
    return sorted(found.values(), key=lambda m: (m.at, m.id), reverse=True)
