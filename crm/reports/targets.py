"""The targets an organisation announced to its funders ("results announced"), per indicator,
programme and period. Every change is audited."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from tortoise.exceptions import IntegrityError

from crm.audit import service as audit
from crm.auth.actor import Actor
from crm.errors import Conflict, InvalidInput, NotFound
from crm.reports.indicators import PERCENT
from crm.reports.models import Indicator, IndicatorTarget

MAX_TARGET = Decimal("1000000000")


async def list_targets(programme: str | None = None) -> list[IndicatorTarget]:
    qs = IndicatorTarget.all()
    if programme is not None:
        qs = qs.filter(programme=programme)
    return await qs.order_by("-period_start", "programme", "indicator")


async def programmes() -> list[str]:
    names = await IndicatorTarget.all().distinct().values_list("programme", flat=True)
    return sorted(set(names))


async def periods(programme: str = "") -> list[tuple[date, date]]:
    """The periods that have targets for a programme, latest first (the page offers them)."""
    rows = (
        await IndicatorTarget.filter(programme=programme)
        .distinct()
        .values_list("period_start", "period_end")
    )
    return sorted(set(rows), reverse=True)


async def current(day: date) -> tuple[str, date, date] | None:
    """The programme and period of the targets covering `day` (the latest started first)."""
    row = (
        await IndicatorTarget.filter(period_start__lte=day, period_end__gte=day)
        .order_by("-period_start", "period_end", "programme")
        .first()
    )
    return None if row is None else (row.programme, row.period_start, row.period_end)


def _clean(
    indicator: Any, programme: Any, period_start: Any, period_end: Any, target: Any, notes: Any
) -> dict[str, Any]:
    try:
        indicator = Indicator(indicator)
    except ValueError:
        raise InvalidInput(f"{indicator!r} is not an indicator", field="indicator") from None
    programme = (programme or "").strip()
    if len(programme) > 120:
        raise InvalidInput("at most 120 characters", field="programme")
    for name, value in (("period_start", period_start), ("period_end", period_end)):
        if not isinstance(value, date):
            raise InvalidInput("a date (YYYY-MM-DD) is needed", field=name)
    if period_end < period_start:
        raise InvalidInput("the end of the period is before its start", field="period_end")
    try:
        goal = Decimal(str(target).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"{target!r} is not a number", field="target") from None
    if not goal.is_finite() or goal < 0 or goal >= MAX_TARGET:
        raise InvalidInput("a number from 0 up", field="target")
    if indicator in PERCENT and goal > 100:
        raise InvalidInput("a share is a percentage from 0 to 100", field="target")
    notes = (notes or "").strip() or None
    if notes and len(notes) > 500:
        raise InvalidInput("at most 500 characters", field="notes")
    return {
        "indicator": indicator,
        "programme": programme,
        "period_start": period_start,
        "period_end": period_end,
        "target": goal.quantize(Decimal("0.01")),
        "notes": notes,
    }


async def save_target(
    actor: Actor,
    *,
    indicator: Any,
    programme: Any,
    period_start: Any,
    period_end: Any,
    target: Any,
    notes: Any = None,
    target_id: int | None = None,
) -> IndicatorTarget:
    """Create a target, or change one (`target_id`). One target per indicator, programme and
    period: a second one is a 409."""
    values = _clean(indicator, programme, period_start, period_end, target, notes)
    try:
        if target_id is None:
            row = await IndicatorTarget.create(**values, created_by_id=actor.user_id)
            action, before = "target.create", None
        else:
            row = await IndicatorTarget.get_or_none(id=target_id)
            if row is None:
                raise NotFound(f"there is no target #{target_id}", field="target_id")
            before = _snapshot(row)
            for key, value in values.items():
                setattr(row, key, value)
            await row.save()
            action = "target.update"
    except IntegrityError:
        raise Conflict(
            "this indicator already has a target for this programme and period",
            field="indicator",
        ) from None
    await audit.record(
        actor,
        action,
        entity="indicator_target",
        entity_id=row.id,
        changes={"from": before, "to": _snapshot(row)} if before else _snapshot(row),
    )
    return row


async def delete_target(actor: Actor, target_id: int) -> None:
    row = await IndicatorTarget.get_or_none(id=target_id)
    if row is None:
        raise NotFound(f"there is no target #{target_id}", field="target_id")
    snapshot = _snapshot(row)
    await row.delete()
    await audit.record(
        actor, "target.delete", entity="indicator_target", entity_id=target_id, changes=snapshot
    )


def _snapshot(row: IndicatorTarget) -> dict[str, Any]:
    return {
        "indicator": str(getattr(row.indicator, "value", row.indicator)),
        "programme": row.programme,
        "period_start": row.period_start.isoformat(),
        "period_end": row.period_end.isoformat(),
        "target": str(row.target),
        "notes": row.notes,
    }
