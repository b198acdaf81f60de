"""The pathway milestones on each person: kept with every kind of stage change, and always what
`pathway.rebuild()` computes from the stage log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from channels.inbound import find_or_create_sender
from channels.models import Channel
from channels.telegram_link import link_shared_phone
from crm.auth.actor import Actor
from crm.demo import load_demo
from crm.enums import Role
from crm.outreach.models import Interaction, InteractionChannel, InteractionKind
from crm.people import merge, pathway
from crm.people.models import Lead, LeadStageChange, Stage
from crm.transfer import import_jobs, imports
from tests.crm.transfer import files

URL = "/api/v1/leads"
ADMIN = Actor(role=Role.ADMIN, label="test")
CHAT = 777001

Milestones = dict[int, dict[str, datetime | None]]


async def milestones() -> Milestones:
    """The milestone columns of every person, by id."""
    rows = await Lead.all().order_by("id").values("id", *pathway.COLUMNS)
    return {row.pop("id"): row for row in rows}


async def assert_consistent() -> Milestones:
    """The stored milestones are exactly what a rebuild from the stage log gives: the rebuild
    changes nobody, and the columns read the same before and after it."""
    before = await milestones()
    changed = await pathway.rebuild()
    after = await milestones()
    assert changed == 0, f"{changed} person(s) had milestones that differ from the log"
    assert after == before
    return after


def only(row: dict[str, Any], *names: str) -> dict[str, Any]:
    """The milestones that are set, checked to be exactly `names`."""
    set_ = {k: v for k, v in row.items() if v is not None}
    assert set(set_) == set(names), set_
    return set_


async def log_times(lead_id: int, stage: Stage) -> list[datetime]:
    return list(
        await LeadStageChange.filter(lead_id=lead_id, to_stage=stage)
        .order_by("at", "id")
        .values_list("at", flat=True)
    )


async def create(client, admin, **body) -> int:
    body.setdefault("first_name", "Amina")
    response = await client.post(URL, headers=admin.headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def move(client, admin, lead_id: int, stage: str, reason: str | None = None) -> None:
    body = {"stage": stage} | ({"lost_reason": reason} if reason else {})
    response = await client.patch(f"{URL}/{lead_id}", headers=admin.headers, json=body)
    assert response.status_code == 200, response.text


async def test_person_created_at_lead_has_only_the_lead_milestone(client, admin):
    lead_id = await create(client, admin, phone="0470 10 00 01", stage="lead")

    row = (await assert_consistent())[lead_id]
    only(row, "lead_at")
    lead = await Lead.get(id=lead_id)
    assert row["lead_at"] == lead.created_at == (await log_times(lead_id, Stage.LEAD))[0]


async def test_person_created_reached_has_no_milestone(client, admin):
    lead_id = await create(client, admin, phone="0470 10 00 02")

    only((await assert_consistent())[lead_id])


async def test_jump_from_reached_to_application_passes_every_step_at_once(client, admin):
    lead_id = await create(client, admin, phone="0470 10 00 03")
    await move(client, admin, lead_id, "application")

    row = (await assert_consistent())[lead_id]
    (at,) = await log_times(lead_id, Stage.APPLICATION)
    assert only(row, "lead_at", "contacted_at", "info_session_at", "application_at") == {
        "lead_at": at,
        "contacted_at": at,
        "info_session_at": at,
        "application_at": at,
    }


async def test_moving_back_keeps_the_milestones_already_passed(client, admin):
    lead_id = await create(client, admin, phone="0470 10 00 04", stage="lead")
    await move(client, admin, lead_id, "application")
    passed = (await milestones())[lead_id]
    await move(client, admin, lead_id, "contacted")

    row = (await assert_consistent())[lead_id]
    assert row == passed
    assert row["application_at"] is not None
    assert (await Lead.get(id=lead_id)).stage == Stage.CONTACTED


async def test_lost_sets_lost_at_only_and_keeps_earlier_milestones(client, admin):
    lead_id = await create(client, admin, phone="0470 10 00 05", stage="lead")
    await move(client, admin, lead_id, "contacted")
    before = (await milestones())[lead_id]
    await move(client, admin, lead_id, "lost", reason="moved abroad")

    row = (await assert_consistent())[lead_id]
    only(row, "lead_at", "contacted_at", "lost_at")
    assert (row["lead_at"], row["contacted_at"]) == (before["lead_at"], before["contacted_at"])
    assert row["lost_at"] == (await log_times(lead_id, Stage.LOST))[0]


async def test_a_second_loss_keeps_the_first_lost_at(client, admin):
    lead_id = await create(client, admin, phone="0470 10 00 06", stage="lead")
    await move(client, admin, lead_id, "lost", reason="no answer")
    await move(client, admin, lead_id, "contacted")
    await move(client, admin, lead_id, "lost", reason="found a job")

    row = (await assert_consistent())[lead_id]
    first, second = await log_times(lead_id, Stage.LOST)
    assert first < second
    assert row["lost_at"] == first
    only(row, "lead_at", "contacted_at", "lost_at")


async def test_redirected_sets_redirected_at_only(client, admin):
    lead_id = await create(client, admin, phone="0470 10 00 07", stage="contacted")
    await move(client, admin, lead_id, "redirected")

    row = (await assert_consistent())[lead_id]
    only(row, "lead_at", "contacted_at", "redirected_at")


async def test_merge_gives_the_kept_person_the_earliest_milestones_of_both(client, admin):
    # The older record went as far as contacted; the newer one (kept) to application.
    older = await create(client, admin, first_name="Amina", phone="0470 10 00 08", stage="lead")
    await move(client, admin, older, "contacted")
    newer = await create(client, admin, first_name="Amina", phone="0470 10 00 09")
    await move(client, admin, newer, "application")
    old_row, new_row = (await milestones())[older], (await milestones())[newer]

    await merge.merge_leads(newer, older, actor=ADMIN)

    row = (await assert_consistent())[newer]
    assert row["lead_at"] == old_row["lead_at"] < new_row["lead_at"]
    assert row["contacted_at"] == old_row["contacted_at"] < new_row["contacted_at"]
    assert row["info_session_at"] == new_row["info_session_at"]
    assert row["application_at"] == new_row["application_at"]
    assert row["coached_at"] is None and row["lost_at"] is None


async def test_merge_that_takes_the_other_stage_logs_it_and_stays_consistent(client, admin):
    kept = await create(client, admin, first_name="Jan", phone="0470 10 00 10", stage="lead")
    other = await create(client, admin, first_name="Jan", phone="0470 10 00 11")
    await move(client, admin, other, "coached")

    await merge.merge_leads(kept, other, choices={"stage": "merged"}, actor=ADMIN)

    row = (await assert_consistent())[kept]
    assert (await Lead.get(id=kept)).stage == Stage.COACHED
    assert row["coached_at"] == (await log_times(kept, Stage.COACHED))[0]


async def test_import_with_a_stage_column_gives_initial_milestones(app):
    content = files.belgian_csv(
        [
            ["Prénom", "GSM", "Étape"],
            ["Amélie", "0470 20 00 01", "candidature"],
            ["Joris", "0470 20 00 02", "réorienté"],
            ["Zoë", "0470 20 00 03", ""],
        ]
    )
    job = await imports.create_job(filename="people.csv", content=content, actor=ADMIN)
    claimed = await import_jobs.claim_job("test-worker", job_id=job.id)
    assert claimed is not None
    job = await import_jobs.run_job(claimed, "test-worker")
    assert (job.created_count, job.refused_count) == (3, 0)

    rows = await assert_consistent()
    amelie = await Lead.get(phone="+32470200001")
    at = amelie.created_at
    assert only(rows[amelie.id], "lead_at", "contacted_at", "info_session_at", "application_at")
    assert set(rows[amelie.id].values()) == {at, None}
    joris = await Lead.get(phone="+32470200002")
    assert only(rows[joris.id], "redirected_at") == {"redirected_at": joris.created_at}
    zoe = await Lead.get(phone="+32470200003")
    only(rows[zoe.id])


async def test_telegram_hand_over_of_a_bare_chat_record_stays_consistent(app):
    known = await Lead.create(
        first_name="Khadija", phone="+32470300001", source="walk_in", stage=Stage.LEAD
    )
    await LeadStageChange.create(lead=known, from_stage=None, to_stage=Stage.LEAD)
    await pathway.rebuild([known.id])
    before = (await milestones())[known.id]
    provisional, created = await find_or_create_sender(Channel.TELEGRAM, str(CHAT))
    assert created

    holder = await link_shared_phone(provisional, "+32470300001", CHAT)

    assert holder.id == known.id
    assert not await Lead.exists(id=provisional.id)  # the bot's record went with its log
    rows = await assert_consistent()
    assert rows == {known.id: before}


async def test_telegram_hand_over_of_a_worked_on_record_marks_it_lost_consistently(app):
    known = await Lead.create(
        first_name="Khadija", phone="+32470300002", source="walk_in", stage=Stage.LEAD
    )
    await LeadStageChange.create(lead=known, from_stage=None, to_stage=Stage.LEAD)
    await pathway.rebuild([known.id])
    provisional, _ = await find_or_create_sender(Channel.TELEGRAM, str(CHAT))
    # Staff wrote to the chat's record: it is kept, as lost, when the chat moves.
    await Interaction.create(
        lead=provisional,
        kind=InteractionKind.MESSAGE,
        channel=InteractionChannel.TELEGRAM,
        occurred_at=datetime.now().astimezone(),
    )
    lead_at = (await milestones())[provisional.id]["lead_at"]

    await link_shared_phone(provisional, "+32470300002", CHAT)

    rows = await assert_consistent()
    assert (await Lead.get(id=provisional.id)).stage == Stage.LOST
    row = only(rows[provisional.id], "lead_at", "lost_at")
    assert row["lead_at"] == lead_at
    assert row["lost_at"] == (await log_times(provisional.id, Stage.LOST))[0]


async def test_rebuild_repairs_milestones_and_counts_only_people_who_changed(client, admin):
    ids = [
        await create(client, admin, phone=f"0470 40 00 0{n}", stage="contacted") for n in (1, 2, 3)
    ]
    good = await milestones()
    await Lead.filter(id=ids[0]).update(contacted_at=None)
    await Lead.filter(id=ids[1]).update(financed_at=datetime.now().astimezone())

    assert await pathway.rebuild() == 2
    assert await milestones() == good
    assert await pathway.rebuild() == 0
    assert await pathway.rebuild([ids[2]]) == 0


async def test_demo_load_with_its_backdated_log_leaves_milestones_consistent(app):
    await load_demo()

    rows = await assert_consistent()
    financed = await Lead.filter(stage=Stage.FINANCED).values_list("id", flat=True)
    assert financed and all(rows[i]["financed_at"] is not None for i in financed)
    # Backdated: people met weeks ago passed their first steps weeks ago too.
    lead = await Lead.filter(stage=Stage.FINANCED).order_by("created_at").first()
    assert rows[lead.id]["lead_at"] == (await log_times(lead.id, Stage.LEAD))[0]
    assert rows[lead.id]["lead_at"] < rows[lead.id]["financed_at"]
