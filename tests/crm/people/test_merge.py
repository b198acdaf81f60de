"""Merging two records of one person: everything of both is kept, and it is explained."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from tortoise import Tortoise
from tortoise.fields.relational import ForeignKeyFieldInstance, OneToOneFieldInstance

from channels.models import Channel, Conversation, InboundMessage, MessageKind, OutboxMessage
from crm.audit.models import AuditEntry
from crm.auth.actor import Actor
from crm.enums import Role
from crm.outreach.models import EventRegistration, Interaction, OutreachEvent, SyncReceipt
from crm.people import merge, service
from crm.people.merge import PLAIN_LEAD_COLUMNS, lead_relations
from crm.people.models import (
    ConsentRecord,
    Lead,
    LeadMerge,
    LeadSegment,
    LeadSource,
    LeadStageChange,
)
from crm.referrals.models import Referral

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def actor_of(caller) -> Actor:
    return Actor(role=caller.role, label="Cora Coordinator", user_id=caller.user.id)


async def person(first: str, last: str | None = None, **extra) -> Lead:
    lead = await Lead.create(
        first_name=first, last_name=last, source=extra.pop("source", LeadSource.WALK_IN), **extra
    )
    await LeadStageChange.create(lead=lead, from_stage=None, to_stage=lead.stage)
    return lead


async def consent(lead: Lead, purpose: str, granted: bool, at: datetime) -> None:
    await ConsentRecord.create(
        lead=lead, purpose=purpose, granted=granted, source="web", method="verbal", recorded_at=at
    )


async def message_out(lead: Lead, n: int) -> None:
    await OutboxMessage.create(
        lead=lead,
        channel=Channel.SMS,
        address="+32470000000",
        body=f"out {n}",
        kind=MessageKind.REPLY,
        due_at=T0,
        idempotency_key=f"test:{lead.id}:{n}",
    )


async def message_in(lead: Lead, n: int) -> None:
    await InboundMessage.create(
        lead=lead,
        channel=Channel.SMS,
        address="+32470000000",
        body=f"in {n}",
        provider_id=f"SM{lead.id}-{n}",
        received_at=T0 + timedelta(minutes=n),
    )


@dataclass
class Pair:
    kept: Lead
    merged: Lead
    events: list[OutreachEvent]


async def rich_pair(make_partner) -> Pair:
    """Two records of Amina with something in every table that points at a person."""
    partner = await make_partner(name="CPAS de Saint-Gilles")
    events = [
        await OutreachEvent.create(kind="info_session", title=f"Session {i}", starts_at=T0)
        for i in range(2)
    ]
    kept = await person(
        "Amina",
        "Benali",
        email="amina@example.org",
        postcode="1060",
        stage="contacted",
        notes="Met at the market",
    )
    merged = await person(
        "Amina",
        "Bénali",
        phone="+32470123456",
        telegram_chat_id=555001,
        postcode="1060",
        stage="application",
        source=LeadSource.TELEGRAM,
        project_sector="bakery",
    )
    for lead, n in ((kept, 2), (merged, 1)):
        for _ in range(n):
            await Interaction.create(lead=lead, kind="call", channel="phone", occurred_at=T0)
    await Interaction.create(
        lead=merged, kind="contact", channel="in_person", occurred_at=T0, client_id=uuid.uuid4()
    )
    for lead, n_out, n_in in ((kept, 1, 1), (merged, 2, 1)):
        for i in range(n_out):
            await message_out(lead, i)
        for i in range(n_in):
            await message_in(lead, i)
    await Conversation.create(lead=kept, last_message_at=T0, preview="old", unread=2)
    await Conversation.create(
        lead=merged, last_message_at=T0 + timedelta(hours=1), preview="newer", unread=3
    )
    for lead in (kept, merged):
        await Referral.create(
            receiver=partner,
            lead=lead,
            purpose="social_support",
            consent_given_at=T0,
            consent_method="verbal",
        )
    # SMS: the kept record granted, the merged one withdrew later → withdrawn after the merge.
    await consent(kept, "sms", True, T0)
    await consent(merged, "sms", False, T0 + timedelta(days=1))
    # Telegram: the merged record withdrew, the kept one granted later → granted after.
    await consent(merged, "telegram", False, T0)
    await consent(kept, "telegram", True, T0 + timedelta(days=2))
    for lead, codes in ((kept, ["women", "youth"]), (merged, ["youth", "over_50"])):
        for code in codes:
            await LeadSegment.create(lead=lead, code=code)
    await EventRegistration.create(event=events[0], lead=kept)
    await EventRegistration.create(event=events[0], lead=merged, attended=True)
    await EventRegistration.create(event=events[1], lead=merged)
    await SyncReceipt.create(client_id=uuid.uuid4(), kind="contact", lead_id=merged.id)
    await AuditEntry.create(actor_label="t", action="lead.create", entity="lead", lead_id=merged.id)
    return Pair(kept, merged, events)


async def counts(lead_ids: list[int]) -> dict[str, int]:
    out = {}
    for relation in lead_relations():
        out[relation.table] = await relation.model.filter(
            **{f"{relation.column}__in": lead_ids}
        ).count()
    return out


# --- the generic walk ---------------------------------------------------------------------------


async def test_every_foreign_key_to_a_person_is_moved_by_the_merge(app):
    lead_model = Lead
    declared = {
        (model.__name__, field.source_field)
        for models in Tortoise.apps.values()
        for model in models.values()
        for field in model._meta.fields_map.values()
        if isinstance(field, ForeignKeyFieldInstance | OneToOneFieldInstance)
        and field.related_model is lead_model
    }
    walked = {(r.model.__name__, r.column) for r in lead_relations()}
    assert declared == walked
    assert len(walked) >= 9  # interactions, messages in and out, conversation, referrals, …


async def test_every_plain_lead_id_column_is_listed(app):
    foreign_keys = {(r.model.__name__, r.column) for r in lead_relations()}
    columns = {
        (model.__name__, name)
        for models in Tortoise.apps.values()
        for model in models.values()
        for name, field in model._meta.fields_map.items()
        if (name == "lead_id" or name.endswith("_lead_id") or name.startswith("lead_"))
        and name.endswith("_id")
        and type(field).__name__ in ("IntField", "BigIntField")
    }
    missing = columns - foreign_keys - set(PLAIN_LEAD_COLUMNS)
    assert not missing, f"say in merge.PLAIN_LEAD_COLUMNS whether these move: {missing}"


# --- keeping everything -------------------------------------------------------------------------


async def test_merge_keeps_every_row_of_both_people(app, make_partner, make_caller):
    pair = await rich_pair(make_partner)
    coordinator = await make_caller(Role.COORDINATOR)
    kept_id, merged_id = pair.kept.id, pair.merged.id
    before = await counts([kept_id, merged_id])

    _lead, record = await merge.merge_leads(
        kept_id, merged_id, reason="same phone, same person", actor=actor_of(coordinator)
    )

    after_kept = await counts([kept_id])
    after_merged = await counts([merged_id])
    dropped = record.merged_snapshot["dropped"]
    # One segment (youth) and one registration (event 0) were on both; the inbox thread is one.
    assert dropped == {"lead_segment": 1, "event_registration": 1, "conversation": 1}
    for table, n in before.items():
        assert after_merged[table] == 0, table
        assert after_kept[table] == n - dropped.get(table, 0), table
    assert before["interaction"] == 4 and after_kept["interaction"] == 4
    assert after_kept["outbox_message"] == 3 and after_kept["inbound_message"] == 2
    assert after_kept["referral"] == 2 and after_kept["consent_record"] == 4
    assert after_kept["lead_stage_change"] >= 2
    assert record.moved["interaction"] == 2 and record.moved["outbox_message"] == 2
    assert not await Lead.exists(id=merged_id)


async def test_overlapping_links_are_kept_once_and_completed(app, make_partner, make_caller):
    pair = await rich_pair(make_partner)
    coordinator = await make_caller(Role.COORDINATOR)
    await merge.merge_leads(pair.kept.id, pair.merged.id, actor=actor_of(coordinator))
    codes = sorted(await LeadSegment.filter(lead_id=pair.kept.id).values_list("code", flat=True))
    assert codes == ["over_50", "women", "youth"]
    registrations = {
        r.event_id: r.attended  # type: ignore[attr-defined]
        for r in await EventRegistration.filter(lead_id=pair.kept.id)
    }
    # The kept registration did not know the attendance; the merged one did.
    assert registrations == {pair.events[0].id: True, pair.events[1].id: None}


async def test_both_inbox_threads_become_one_with_unread_summed(app, make_partner, make_caller):
    pair = await rich_pair(make_partner)
    coordinator = await make_caller(Role.COORDINATOR)
    await merge.merge_leads(pair.kept.id, pair.merged.id, actor=actor_of(coordinator))
    (thread,) = await Conversation.all()
    assert thread.lead_id == pair.kept.id  # type: ignore[attr-defined]
    assert thread.unread == 5
    assert thread.preview == "newer"


async def test_plain_lead_ids_move_except_history(app, make_partner, make_caller):
    pair = await rich_pair(make_partner)
    coordinator = await make_caller(Role.COORDINATOR)
    await merge.merge_leads(pair.kept.id, pair.merged.id, actor=actor_of(coordinator))
    assert await SyncReceipt.filter(lead_id=pair.kept.id).count() == 1
    assert await AuditEntry.filter(lead_id=pair.merged.id, action="lead.create").count() == 1


# --- the person's fields ------------------------------------------------------------------------


async def test_default_keeps_kept_values_and_fills_gaps_from_merged(app, make_partner, make_caller):
    pair = await rich_pair(make_partner)
    coordinator = await make_caller(Role.COORDINATOR)
    lead, record = await merge.merge_leads(
        pair.kept.id, pair.merged.id, actor=actor_of(coordinator)
    )
    assert lead.last_name == "Benali"  # the kept one's
    assert lead.stage == "contacted"
    assert lead.email == "amina@example.org"
    # empty on the kept record: taken from the merged one, unique phone and chat included
    assert lead.phone == "+32470123456"
    assert lead.telegram_chat_id == 555001
    assert lead.project_sector == "bakery"
    assert record.choices["phone"] == "merged" and record.choices["last_name"] == "kept"


async def test_choices_are_applied(app, make_partner, make_caller):
    pair = await rich_pair(make_partner)
    coordinator = await make_caller(Role.COORDINATOR)
    lead, _ = await merge.merge_leads(
        pair.kept.id,
        pair.merged.id,
        choices={"last_name": "merged", "stage": "merged", "phone": "kept", "notes": "merged"},
        actor=actor_of(coordinator),
    )
    assert lead.last_name == "Bénali"
    assert lead.stage == "application"
    assert lead.phone is None  # the kept record had none, and that was the choice
    assert lead.notes is None
    change = await LeadStageChange.filter(lead_id=lead.id).order_by("-id").first()
    assert (change.from_stage, change.to_stage) == ("contacted", "application")


async def test_unique_phone_moves_from_merged_to_kept(app, make_caller):
    coordinator = await make_caller(Role.COORDINATOR)
    kept = await person("Karim", phone="+32470111111")
    merged = await person("Karim", phone="+32470222222")
    lead, _ = await merge.merge_leads(
        kept.id, merged.id, choices={"phone": "merged"}, actor=actor_of(coordinator)
    )
    assert lead.phone == "+32470222222"
    assert await Lead.filter(phone="+32470222222").count() == 1
    assert await Lead.filter(phone="+32470111111").count() == 0


# --- consent ------------------------------------------------------------------------------------


async def test_an_opt_out_on_either_record_is_never_lost(app, make_partner, make_caller):
    pair = await rich_pair(make_partner)
    coordinator = await make_caller(Role.COORDINATOR)
    await merge.merge_leads(pair.kept.id, pair.merged.id, actor=actor_of(coordinator))
    current = {
        c.purpose: c.granted for c in (await service.current_consents([pair.kept.id]))[pair.kept.id]
    }
    # The merged record's later withdrawal beats the kept record's older grant…
    assert current["sms"] is False
    # …and a grant given after a withdrawal is the person's real, later consent.
    assert current["telegram"] is True


async def test_an_opt_out_on_the_kept_record_survives_an_older_grant_on_the_merged(
    app, make_caller
):
    coordinator = await make_caller(Role.COORDINATOR)
    kept = await person("Lies")
    merged = await person("Lies")
    await consent(merged, "sms", True, T0)
    await consent(kept, "sms", False, T0 + timedelta(hours=1))
    await merge.merge_leads(kept.id, merged.id, actor=actor_of(coordinator))
    (record,) = (await service.current_consents([kept.id]))[kept.id]
    assert record.granted is False
    assert await ConsentRecord.filter(lead_id=kept.id).count() == 2  # both ledgers in full


# --- the explanation ----------------------------------------------------------------------------


async def test_merge_is_explained_by_record_timeline_and_audit(client, make_partner, make_caller):
    pair = await rich_pair(make_partner)
    coordinator = await make_caller(Role.COORDINATOR)
    response = await client.post(
        f"/api/v1/leads/{pair.kept.id}/merge",
        headers=coordinator.headers,
        json={"merged_id": pair.merged.id, "reason": "same phone, same person"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == pair.kept.id
    assert response.json()["phone"] == "+32470123456"

    record = await LeadMerge.get(kept_lead_id=pair.kept.id)
    assert record.merged_lead_id == pair.merged.id
    assert record.merged_snapshot["last_name"] == "Bénali"
    assert record.merged_snapshot["phone"] == "+32470123456"
    assert record.merged_snapshot["segments"] == ["over_50", "youth"]
    assert {c["purpose"] for c in record.merged_snapshot["consents"]} == {"sms", "telegram"}
    assert record.kept_snapshot["phone"] is None
    assert record.by_user_id == coordinator.user.id  # type: ignore[attr-defined]
    assert record.reason == "same phone, same person"

    merges = await client.get(f"/api/v1/leads/{pair.kept.id}/merges", headers=coordinator.headers)
    (item,) = merges.json()["items"]
    assert item["merged_lead_id"] == pair.merged.id and item["reason"] == "same phone, same person"
    assert item["moved"]["interaction"] == 2

    timeline = await client.get(
        f"/api/v1/leads/{pair.kept.id}/timeline", headers=coordinator.headers
    )
    merges_in_timeline = [i for i in timeline.json()["items"] if i["type"] == "merge"]
    assert len(merges_in_timeline) == 1
    entry = merges_in_timeline[0]
    assert f"#{pair.merged.id}" in entry["summary"] and "Amina Bénali" in entry["summary"]
    assert entry["data"]["reason"] == "same phone, same person"

    for lead_id in (pair.kept.id, pair.merged.id):
        assert await AuditEntry.filter(action="lead.merge", lead_id=lead_id).count() == 1


async def test_old_id_answers_404_merged_into_the_kept_person(client, make_caller):
    coordinator = await make_caller(Role.COORDINATOR)
    a, b, c = (await person("Jan"), await person("Jan"), await person("Jan"))
    await merge.merge_leads(b.id, a.id, actor=actor_of(coordinator))
    await merge.merge_leads(c.id, b.id, actor=actor_of(coordinator))
    for old in (a.id, b.id):
        response = await client.get(f"/api/v1/leads/{old}", headers=coordinator.headers)
        assert response.status_code == 404
        assert f"merged into {c.id}" in response.text
    merges = await client.get(f"/api/v1/leads/{c.id}/merges", headers=coordinator.headers)
    assert [m["merged_lead_id"] for m in merges.json()["items"]] == [b.id, a.id]
    unknown = await client.get("/api/v1/leads/999999", headers=coordinator.headers)
    assert unknown.status_code == 404 and "merged" not in unknown.text


# --- bad input and roles ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, status, field",
    [
        ({"merged_id": "SAME"}, 409, "merged_id"),
        ({"merged_id": 999999}, 404, "merged_id"),
        ({"merged_id": "OTHER", "choices": {"password": "merged"}}, 422, "choices.password"),
        ({"merged_id": "OTHER", "choices": {"phone": "both"}}, 422, "choices.phone"),
        ({"merged_id": "OTHER", "choices": {"phone": 3}}, 422, "choices.phone"),
        ({"merged_id": "OTHER", "reason": "x" * 501}, 422, "reason"),
        ({}, 422, "merged_id"),
    ],
)
async def test_bad_merge_names_the_field_and_changes_nothing(
    client, make_caller, body, status, field
):
    coordinator = await make_caller(Role.COORDINATOR)
    kept = await person("Jan", phone="+32470111111")
    other = await person("Jan", phone="+32470222222")
    body = {
        k: {"SAME": kept.id, "OTHER": other.id}.get(v, v) if isinstance(v, str) else v
        for k, v in body.items()
    }
    response = await client.post(
        f"/api/v1/leads/{kept.id}/merge", headers=coordinator.headers, json=body
    )
    assert response.status_code == status, response.text
    assert field in {e["field"] for e in response.json()["detail"]}
    assert await Lead.all().count() == 2
    assert await LeadMerge.all().count() == 0


async def test_merging_into_an_unknown_person_is_404(client, make_caller):
    coordinator = await make_caller(Role.COORDINATOR)
    other = await person("Jan")
    response = await client.post(
        "/api/v1/leads/999999/merge", headers=coordinator.headers, json={"merged_id": other.id}
    )
    assert response.status_code == 404
    assert await Lead.exists(id=other.id)


@pytest.mark.parametrize("role", [Role.AGENT, Role.MARKETING, Role.PARTNER])
async def test_only_admins_and_coordinators_merge(client, make_caller, role):
    caller = await make_caller(role)
    kept, merged = await person("Jan"), await person("Jan")
    response = await client.post(
        f"/api/v1/leads/{kept.id}/merge", headers=caller.headers, json={"merged_id": merged.id}
    )
    assert response.status_code == 403
    explained = await client.get(f"/api/v1/leads/{kept.id}/merges", headers=caller.headers)
    assert explained.status_code == 403
    assert await Lead.all().count() == 2


# --- two merges at once -------------------------------------------------------------------------


async def test_two_requests_merging_the_same_pair_merge_once(client, make_partner, make_caller):
    pair = await rich_pair(make_partner)
    coordinator = await make_caller(Role.COORDINATOR)
    before = await counts([pair.kept.id, pair.merged.id])
    url = f"/api/v1/leads/{pair.kept.id}/merge"
    reverse = f"/api/v1/leads/{pair.merged.id}/merge"
    responses = await asyncio.gather(
        client.post(url, headers=coordinator.headers, json={"merged_id": pair.merged.id}),
        client.post(url, headers=coordinator.headers, json={"merged_id": pair.merged.id}),
        client.post(reverse, headers=coordinator.headers, json={"merged_id": pair.kept.id}),
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses[0] == 200 and statuses[1:] in ([404, 404], [404, 409], [409, 409]), [
        r.text for r in responses
    ]
    assert await LeadMerge.all().count() == 1
    (survivor,) = await Lead.all()
    after = await counts([survivor.id])
    dropped = (await LeadMerge.get()).merged_snapshot["dropped"]
    for table, n in before.items():
        assert after[table] == n - dropped.get(table, 0), table
