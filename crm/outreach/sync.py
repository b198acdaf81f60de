"""The field app's sync: what an agent's phone sends, online or after a time offline.

Every change the field app makes goes through here, whether it comes from the offline queue
(`POST /field/sync`, `POST /api/v1/sync`) or from a plain form post, so they behave the same:

- each item carries a `client_id` made by the device; a receipt is written in the same
  transaction as the change, so the same item sent twice is applied once and answered twice;
- a `contact` finds or creates the person (one person per phone) and logs the meeting;
- an `interaction` adds to a person's log, also a person the device only knows by the
  `client_id` of the contact that created them offline;
- an `update` carries the values the agent saw (`base`): a field changed on the server in the
  meantime is a conflict, shown to the agent and never written over.

One item's bad input refuses that item only, naming the field; nothing of it is stored."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from pydantic import ValidationError
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from crm.auth.actor import Actor
from crm.errors import DomainError, InvalidInput
from crm.outreach import service as outreach
from crm.outreach.models import (
    InteractionChannel,
    InteractionKind,
    OutreachEvent,
    SyncKind,
    SyncReceipt,
)
from crm.outreach.schemas import InteractionCreate
from crm.outreach.sync_items import (
    ITEM,
    ContactItem,
    InteractionItem,
    PersonIn,
    UpdateItem,
)
from crm.outreach.sync_items import MAX_ITEMS as MAX_ITEMS  # part of this module's interface
from crm.people import service as people
from crm.people.models import ConsentPurpose, ConsentSource, Lead, LeadSource, Stage
from crm.people.phones import normalize_phone
from crm.people.schemas import (
    ConsentIn,
    LeadCreate,
    LeadUpdate,
)

Status = Literal["stored", "already_stored", "conflict", "refused", "error"]


# --- what the device gets back ------------------------------------------------------------------


@dataclass
class ItemResult:
    client_id: str | None
    type: str | None
    status: Status
    lead_id: int | None = None
    interaction_id: int | None = None
    duplicate: bool = False
    differences: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    detail: str | None = None
    field: str | None = None

    @property
    def done(self) -> bool:
        """The device may forget the item: it is on the server."""
        return self.status in ("stored", "already_stored")

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _refused(raw: Any, detail: str, field_name: str | None) -> ItemResult:
    client_id, kind = _identity(raw)
    return ItemResult(client_id, kind, "refused", detail=detail, field=field_name)


def _identity(raw: Any) -> tuple[str | None, str | None]:
    if not isinstance(raw, dict):
        return None, None
    client_id, kind = raw.get("client_id"), raw.get("type")
    return (
        client_id if isinstance(client_id, str) and len(client_id) <= 64 else None,
        kind if kind in ("contact", "interaction", "update") else None,
    )


def _first_error(exc: ValidationError) -> tuple[str, str]:
    error = exc.errors()[0]
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return "type", "must be contact, interaction or update"
    loc = [str(p) for p in error["loc"]]
    # The discriminated union puts the item type first in the location: not a field name.
    if loc and loc[0] in ("contact", "interaction", "update"):
        loc = loc[1:]
    message = str(error["msg"]).removeprefix("Value error, ")
    if not loc and ": " in message:  # a model validator names its field first
        name, _, message = message.partition(": ")
        return name, message
    return ".".join(loc) or "item", message


# --- applying -----------------------------------------------------------------------------------


class _AlreadyApplied(Exception):
    pass


class _Conflict(Exception):
    def __init__(self, result: ItemResult) -> None:
        super().__init__(result.detail)
        self.result = result


async def apply_items(raw_items: list[Any], *, actor: Actor) -> list[ItemResult]:
    """Apply a device's items in order (each on its own: one refused item does not stop the
    others; an item naming a contact sent earlier in the same batch finds it)."""
    return [await apply_item(raw, actor=actor) for raw in raw_items]


async def apply_item(raw: Any, *, actor: Actor) -> ItemResult:
    """Apply one item, or answer what was done with it the first time it came."""
    if not isinstance(raw, dict):
        return _refused(raw, "each item must be a JSON object", "item")
    try:
        item = ITEM.validate_python(raw)
    except ValidationError as exc:
        name, message = _first_error(exc)
        return _refused(raw, message, name)
    receipt = await SyncReceipt.get_or_none(client_id=item.client_id)
    if receipt is not None:
        return _replay(receipt, item, actor)
    try:
        async with in_transaction():
            # Again inside: on SQLite transactions take turns, so a twin that went first is
            # seen here; on PostgreSQL the receipt's unique index decides (below).
            if await SyncReceipt.exists(client_id=item.client_id):
                raise _AlreadyApplied
            result = await _HANDLERS[item.type](item, actor)
            await SyncReceipt.create(
                client_id=item.client_id,
                kind=SyncKind(item.type),
                user_id=actor.user_id,
                lead_id=result.lead_id,
                result=result.as_json(),
            )
    except _Conflict as conflict:
        return conflict.result
    except DomainError as exc:
        # A twin committed while this one ran (its interaction is then "another person's"):
        # its receipt is the answer, not a refusal.
        receipt = await SyncReceipt.get_or_none(client_id=item.client_id)
        if receipt is not None:
            return _replay(receipt, item, actor)
        return ItemResult(
            str(item.client_id), item.type, "refused", detail=exc.message, field=exc.field
        )
    except (IntegrityError, _AlreadyApplied):
        # The same item was being applied by another request (two tabs, a retry racing the
        # first try): that one's receipt is the answer.
        receipt = await SyncReceipt.get_or_none(client_id=item.client_id)
        if receipt is not None:
            return _replay(receipt, item, actor)
        return ItemResult(
            str(item.client_id), item.type, "error", detail="could not be stored; sent again later"
        )
    return result


def _replay(receipt: SyncReceipt, item: Any, actor: Actor) -> ItemResult:
    if receipt.user_id != actor.user_id or receipt.kind != item.type:  # type: ignore[attr-defined]
        return ItemResult(
            str(item.client_id),
            item.type,
            "refused",
            detail="this client_id was already used for another item",
            field="client_id",
        )
    stored = dict(receipt.result)
    stored["status"] = "already_stored"
    return ItemResult(**stored)


async def _contact(item: ContactItem, actor: Actor) -> ItemResult:
    event = None
    if item.event_id is not None:
        event = await OutreachEvent.get_or_none(id=item.event_id)
        if event is None:
            raise InvalidInput(f"no outreach event with id {item.event_id}", field="event_id")
    granted_channel = any(
        c.granted and c.purpose in (ConsentPurpose.SMS, ConsentPurpose.TELEGRAM)
        for c in item.consents
    )
    person = item.person
    data = LeadCreate(
        **person.model_dump(exclude_none=True),
        event_id=item.event_id,
        # Someone who left a number and agreed to hear from us is a lead; else only reached.
        stage=Stage.LEAD if person.phone and granted_channel else Stage.REACHED,
        source=LeadSource.EVENT if event else LeadSource.WALK_IN,
        consents=[
            ConsentIn(
                purpose=c.purpose,
                granted=c.granted,
                method="verbal",
                text_version=item.consent_text_version,
            )
            for c in item.consents
        ],
    )
    source = ConsentSource.EVENT if event else ConsentSource.WEB
    try:
        if item.lead_id is not None:
            lead = await _chosen_person(item, actor)
            await people.add_new_facts(lead, data, actor=actor, consent_source=source)
            duplicate = True
        else:
            found = await people.find_or_create_lead(data, actor=actor, consent_source=source)
            lead, duplicate = found.lead, not found.created
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field=_person_field(exc.field)) from None
    result = await _log(lead, item, InteractionKind.CONTACT, InteractionChannel.IN_PERSON, actor)
    result.duplicate = duplicate
    result.differences = _differences(person, lead) if duplicate else []
    return result


async def _log(
    lead: Lead,
    item: ContactItem | InteractionItem,
    kind: InteractionKind,
    channel: InteractionChannel,
    actor: Actor,
) -> ItemResult:
    """The person's log gets the item's interaction, under the item's own client_id."""
    logged = await outreach.log_interaction(
        lead,
        InteractionCreate(
            kind=kind,
            channel=channel,
            occurred_at=item.occurred_at,
            notes=item.notes,
            client_id=item.client_id,
            event_id=item.event_id,
            interest=item.interest,
        ),
        actor=actor,
    )
    return ItemResult(
        str(item.client_id),
        item.type,
        "stored",
        lead_id=lead.id,
        interaction_id=logged.interaction.id,
    )


def _person_field(name: str | None) -> str | None:
    person_fields = PersonIn.model_fields
    return f"person.{name}" if name in person_fields else name


async def _chosen_person(item: ContactItem, actor: Actor) -> Lead:
    """The existing person the agent chose: one they may see, or the one with the number they
    typed (the duplicate offered while typing may be someone another agent met)."""
    lead = await people.visible_leads(actor).get_or_none(id=item.lead_id)
    if lead is None and item.person.phone:
        try:
            phone = normalize_phone(item.person.phone)
        except ValueError:
            phone = None
        lead = await Lead.get_or_none(id=item.lead_id, phone=phone) if phone else None
    if lead is None:
        raise InvalidInput(f"no person with id {item.lead_id}", field="lead_id")
    return lead


def _differences(person: PersonIn, lead: Lead) -> list[dict[str, Any]]:
    """What the agent typed that differs from the person on the server (left as it was)."""
    out = []
    for name in ("first_name", "last_name", "language", "postcode"):
        yours = getattr(person, name)
        server = getattr(lead, name)
        if yours in (None, "") or server in (None, ""):
            continue
        if str(yours).strip().casefold() != str(server).strip().casefold():
            out.append({"field": name, "yours": str(yours), "server": str(server)})
    return out


async def _person_of(item: InteractionItem | UpdateItem, actor: Actor) -> Lead:
    if item.lead_id is not None:
        lead = await people.visible_leads(actor).get_or_none(id=item.lead_id)
        if lead is None:
            raise InvalidInput(f"no person with id {item.lead_id}", field="lead_id")
        return lead
    receipt = await SyncReceipt.get_or_none(client_id=item.lead_client_id, kind=SyncKind.CONTACT)
    if receipt is None or receipt.lead_id is None:
        raise InvalidInput("the contact this belongs to is not stored yet", field="lead_client_id")
    lead = await people.visible_leads(actor).get_or_none(id=receipt.lead_id)
    if lead is None:
        raise InvalidInput(f"no person with id {receipt.lead_id}", field="lead_client_id")
    return lead


async def _interaction(item: InteractionItem, actor: Actor) -> ItemResult:
    lead = await _person_of(item, actor)
    return await _log(lead, item, item.kind, item.channel, actor)


def comparable(name: str, value: Any) -> Any:
    """A field's value in the one form the device and the server compare (JSON-like)."""
    if value is None or value == "":
        return None
    if name == "segments":
        return sorted({str(v).strip() for v in value}) if isinstance(value, list) else value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        return value.strip()
    return str(value) if hasattr(value, "value") else value


async def _update(item: UpdateItem, actor: Actor) -> ItemResult:
    lead = await _person_of(item, actor)
    changed = sorted(item.changes.model_fields_set)
    server_values: dict[str, Any] = {name: getattr(lead, name) for name in changed}
    if "segments" in changed:
        server_values["segments"] = (await people.segments_of([lead.id])).get(lead.id, [])
    conflicts = []
    for name in changed:
        server = comparable(name, server_values[name])
        yours = comparable(name, getattr(item.changes, name))
        base = comparable(name, item.base.get(name))
        if server != base and server != yours:
            conflicts.append({"field": name, "yours": yours, "base": base, "server": server})
    if conflicts:
        raise _Conflict(
            ItemResult(
                str(item.client_id),
                "update",
                "conflict",
                lead_id=lead.id,
                conflicts=conflicts,
                detail="changed on the server since the agent saw it: "
                + ", ".join(c["field"] for c in conflicts),
                field=conflicts[0]["field"],
            )
        )
    values = item.changes.model_dump(include=set(changed))
    await people.update_lead(lead, LeadUpdate(**values), actor=actor)
    return ItemResult(str(item.client_id), "update", "stored", lead_id=lead.id)


_HANDLERS = {"contact": _contact, "interaction": _interaction, "update": _update}
