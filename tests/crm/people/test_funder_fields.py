"""The funders' details of a person (employment status, self-declared background, social
assistance, jobs created and kept) through every door: the API, an import file, the export and
the person's page."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime

import pytest

from crm.audit.models import AuditEntry
from crm.auth.actor import Actor
from crm.config import settings
from crm.demo import load_demo
from crm.demo.plan import Planner
from crm.enums import Role
from crm.people.models import Background, EmploymentStatus, Lead, Stage
from crm.transfer import import_jobs, imports
from crm.transfer.models import ImportJob, ImportRowOutcome, ImportRowReport
from tests.crm.transfer import files
from tests.crm.transfer.export_fixtures import EXPORT, exporter, person, read_csv
from tests.crm.web.conftest import csrf_from, login

URL = "/api/v1/leads"
ADMIN = Actor(role=Role.ADMIN, label="test")
FUNDER = {
    "employment_status": "jobseeker",
    "background": "migrant_non_eu",
    "social_assistance": True,
    "jobs_created": 2,
    "jobs_kept": 1,
}


def fields_of(response) -> set[str]:
    return {e["field"] for e in response.json()["detail"]}


# --- API -----------------------------------------------------------------------------------------


async def test_funder_details_are_stored_and_returned_by_the_api(client, admin):
    response = await client.post(
        URL, headers=admin.headers, json={"first_name": "Amina", "phone": "0470 60 00 01", **FUNDER}
    )

    assert response.status_code == 201, response.text
    assert {k: response.json()[k] for k in FUNDER} == FUNDER
    lead = await Lead.get(id=response.json()["id"])
    assert lead.employment_status == EmploymentStatus.JOBSEEKER
    assert lead.background == Background.MIGRANT_NON_EU
    assert (lead.social_assistance, lead.jobs_created, lead.jobs_kept) == (True, 2, 1)
    got = await client.get(f"{URL}/{lead.id}", headers=admin.headers)
    assert {k: got.json()[k] for k in FUNDER} == FUNDER


async def test_patch_changes_and_clears_funder_details_with_an_audit_entry(client, admin):
    lead_id = (
        await client.post(
            URL,
            headers=admin.headers,
            json={"first_name": "Jan", "phone": "0470 60 00 02", **FUNDER},
        )
    ).json()["id"]

    response = await client.patch(
        f"{URL}/{lead_id}",
        headers=admin.headers,
        json={"employment_status": "self_employed", "social_assistance": False, "jobs_kept": None},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["employment_status"], body["social_assistance"], body["jobs_kept"]) == (
        "self_employed",
        False,
        None,
    )
    assert body["background"] == "migrant_non_eu" and body["jobs_created"] == 2
    entry = await AuditEntry.get(action="lead.update", lead_id=lead_id)
    assert set(entry.changes) == {"employment_status", "social_assistance", "jobs_kept"}
    assert entry.changes["social_assistance"] == {"from": True, "to": False}


@pytest.mark.parametrize(
    "field, value",
    [
        ("employment_status", "astronaut"),
        ("background", "martian"),
        ("social_assistance", "maybe"),
        ("jobs_created", -1),
        ("jobs_created", 10_001),
        ("jobs_kept", 1.5),
        ("jobs_kept", "many"),
    ],
)
async def test_bad_funder_value_is_a_422_naming_the_field(client, admin, field, value):
    created = await client.post(
        URL, headers=admin.headers, json={"first_name": "A", "phone": "0470 60 00 03", field: value}
    )
    assert created.status_code == 422, created.text
    assert field in fields_of(created)
    assert await Lead.all().count() == 0

    lead_id = (
        await client.post(
            URL, headers=admin.headers, json={"first_name": "A", "phone": "0470 60 00 03"}
        )
    ).json()["id"]
    patched = await client.patch(f"{URL}/{lead_id}", headers=admin.headers, json={field: value})
    assert patched.status_code == 422, patched.text
    assert field in fields_of(patched)
    assert getattr(await Lead.get(id=lead_id), field) is None


async def test_a_duplicate_fills_empty_funder_details_and_overwrites_none(client, admin):
    first = await client.post(
        URL,
        headers=admin.headers,
        json={"first_name": "Ines", "phone": "0470 60 00 04", "employment_status": "student"},
    )
    again = await client.post(
        URL,
        headers=admin.headers,
        json={
            "first_name": "Ines",
            "phone": "0470 60 00 04",
            "employment_status": "employed",
            "social_assistance": False,
            "jobs_created": 0,
        },
    )

    assert again.status_code == 200 and again.json()["duplicate"]
    lead = await Lead.get(id=first.json()["id"])
    assert lead.employment_status == EmploymentStatus.STUDENT  # kept
    # "No" and zero are answers, not empty fields.
    assert lead.social_assistance is False and lead.jobs_created == 0


# --- import --------------------------------------------------------------------------------------


async def _import(rows: list[list[str]]) -> ImportJob:
    job = await imports.create_job(
        filename="people.csv", content=files.belgian_csv(rows), actor=ADMIN
    )
    claimed = await import_jobs.claim_job("test-worker", job_id=job.id)
    assert claimed is not None
    return await import_jobs.run_job(claimed, "test-worker")


async def _refused(job: ImportJob) -> dict[int, tuple[str, str]]:
    rows = await ImportRowReport.filter(job_id=job.id, outcome=ImportRowOutcome.REFUSED)
    return {r.row_number: (r.field, r.message) for r in rows}


async def test_import_reads_funder_columns_written_in_four_languages(app):
    job = await _import(
        [
            ["Prénom", "GSM", "Statut", "Aide CPAS", "Origine migratoire", "Emplois créés",
             "Emplois maintenus"],
            ["Amélie", "0470 61 00 01", "demandeur d'emploi", "oui", "hors UE", "2", "1"],
            ["Joris", "0470 61 00 02", "Werkzoekende", "nee", "Belg", "", ""],
            ["Zoë", "0470 61 00 03", "Selbstständig", "Ja", "EU", "0", ""],
            ["Grace", "0470 61 00 04", "Inactive", "No", "prefer not to say", "", ""],
            ["Lina", "0470 61 00 05", "étudiante", "-", "", "", ""],
        ]
    )  # fmt: skip

    assert (job.created_count, job.refused_count) == (5, 0), await _refused(job)
    got = {
        lead.first_name: (
            lead.employment_status,
            lead.social_assistance,
            lead.background,
            lead.jobs_created,
            lead.jobs_kept,
        )
        for lead in await Lead.all()
    }
    assert got == {
        "Amélie": ("jobseeker", True, "migrant_non_eu", 2, 1),
        "Joris": ("jobseeker", False, "belgian", None, None),
        "Zoë": ("self_employed", True, "migrant_eu", 0, None),
        "Grace": ("inactive", False, "undisclosed", None, None),
        "Lina": ("student", None, None, None, None),
    }


async def test_import_refuses_bad_funder_values_naming_the_field(app):
    job = await _import(
        [
            ["Prénom", "GSM", "Statut", "Aide CPAS", "Background", "Jobs created", "Jobs kept"],
            ["Ok", "0470 62 00 01", "salarié", "non", "", "", ""],
            ["Astro", "0470 62 00 02", "astronaute", "", "", "", ""],
            ["Maybe", "0470 62 00 03", "", "peut-être", "", "", ""],
            ["Mars", "0470 62 00 04", "", "", "martienne", "", ""],
            ["Minus", "0470 62 00 05", "", "", "", "-2", ""],
            ["Huge", "0470 62 00 06", "", "", "", "", "20000"],
        ]
    )

    refused = await _refused(job)
    assert job.created_count == 1
    assert refused[3][0] == "employment_status" and "astronaute" in refused[3][1]
    assert refused[4][0] == "social_assistance" and "yes or no" in refused[4][1]
    assert refused[5][0] == "background" and "martienne" in refused[5][1]
    assert refused[6] == ("jobs_created", "'-2' is not a whole number")
    assert refused[7][0] == "jobs_kept" and "10000" in refused[7][1]
    assert set(refused) == {3, 4, 5, 6, 7}


async def test_import_fills_empty_funder_details_of_a_known_person_only(app):
    await person("Amélie", phone="+32470630001", employment_status="student")
    await person("Joris", phone="+32470630002")

    job = await _import(
        [
            ["Prénom", "GSM", "Statut", "Aide CPAS"],
            ["Amélie", "0470 63 00 01", "salariée", "non"],
            ["Joris", "0470 63 00 02", "chômeur", "oui"],
        ]
    )

    assert job.updated_count == 2
    amelie = await Lead.get(phone="+32470630001")
    assert (amelie.employment_status, amelie.social_assistance) == ("student", False)
    joris = await Lead.get(phone="+32470630002")
    assert (joris.employment_status, joris.social_assistance) == ("jobseeker", True)


# --- export --------------------------------------------------------------------------------------


async def test_export_has_the_funder_columns_and_background_only_for_field_roles(
    client, make_caller
):
    await person(phone="+32470640001", **FUNDER)
    await person("Jan", phone="+32470640002")
    coordinator = await exporter(make_caller, Role.COORDINATOR)
    marketing = await exporter(make_caller, Role.MARKETING)

    amina, jan = read_csv(
        (await client.get(f"{EXPORT}/leads.csv", headers=coordinator.headers)).content
    )
    (for_marketing, _) = read_csv(
        (await client.get(f"{EXPORT}/leads.csv", headers=marketing.headers)).content
    )

    assert {k: amina[k] for k in FUNDER} == {
        "employment_status": "jobseeker",
        "background": "migrant_non_eu",
        "social_assistance": "yes",
        "jobs_created": "2",
        "jobs_kept": "1",
    }
    assert {k: jan[k] for k in FUNDER} == dict.fromkeys(FUNDER, "")
    assert "background" not in for_marketing
    assert for_marketing["employment_status"] == "jobseeker"
    assert for_marketing["social_assistance"] == "yes"


async def test_exported_people_file_imports_back_with_the_same_funder_details(client, make_caller):
    await person(phone="+32470650001", **FUNDER)
    coordinator = await exporter(make_caller, Role.COORDINATOR)
    content = (await client.get(f"{EXPORT}/leads.csv", headers=coordinator.headers)).content
    await Lead.all().delete()

    job = await imports.create_job(filename="leads.csv", content=content, actor=ADMIN)
    claimed = await import_jobs.claim_job("test-worker", job_id=job.id)
    job = await import_jobs.run_job(claimed, "test-worker")

    assert job.created_count == 1, await _refused(job)
    lead = await Lead.get(phone="+32470650001")
    assert {k: getattr(lead, k) for k in FUNDER} == FUNDER


# --- the person's page ---------------------------------------------------------------------------


async def _page_user(client, make_caller, role: Role = Role.AGENT):
    caller = await make_caller(role)
    response = await login(client, caller.user.email)
    assert response.status_code == 303, response.text
    return caller


FORM = {
    "gender": "female",
    "birth_year": "1988",
    "employment_status": "inactive",
    "background": "undisclosed",
    "social_assistance": "yes",
    "jobs_created": "3",
    "jobs_kept": "",
}


async def test_person_page_shows_the_funder_box_with_its_form(client, make_caller):
    caller = await _page_user(client, make_caller)
    lead = await person(
        phone="+32470660001", reached_by_id=caller.user.id, birth_year=1990, **FUNDER
    )

    page = await client.get(f"/leads/{lead.id}")

    assert page.status_code == 200
    start = page.text.index('id="funder-title"')
    box = page.text[start : page.text.index("</section>", start)]
    assert f'action="/leads/{lead.id}/funder-details"' in box
    assert 'name="csrf_token"' in box
    assert '<option value="jobseeker" selected>' in box
    assert '<option value="migrant_non_eu" selected>' in box
    assert '<option value="yes" selected>' in box
    assert re.search(r'name="jobs_created" [^>]*value="2"', box)
    assert 'value="1990"' in box


async def test_saving_the_funder_form_updates_the_person_with_an_audit_entry(client, make_caller):
    caller = await _page_user(client, make_caller)
    lead = await person(phone="+32470660002", reached_by_id=caller.user.id, jobs_kept=4)
    token = csrf_from((await client.get(f"/leads/{lead.id}")).text)

    response = await client.post(
        f"/leads/{lead.id}/funder-details", data={"csrf_token": token, **FORM}
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"/leads/{lead.id}#funder-title"
    await lead.refresh_from_db()
    assert (lead.gender, lead.birth_year, lead.employment_status, lead.background) == (
        "female",
        1988,
        "inactive",
        "undisclosed",
    )
    assert (lead.social_assistance, lead.jobs_created, lead.jobs_kept) == (True, 3, None)
    entry = await AuditEntry.get(action="lead.update", lead_id=lead.id)
    assert entry.actor_user_id == caller.user.id
    assert entry.changes["jobs_kept"] == {"from": 4, "to": None}


@pytest.mark.parametrize(
    "field, value",
    [
        ("jobs_created", "-3"),
        ("jobs_kept", "lots"),
        ("birth_year", "1850"),
        ("employment_status", "astronaut"),
        ("social_assistance", "perhaps"),
    ],
)
async def test_a_bad_value_shows_the_form_with_its_error_and_changes_nothing(
    client, make_caller, field, value
):
    caller = await _page_user(client, make_caller)
    lead = await person(phone="+32470660003", reached_by_id=caller.user.id, **FUNDER)
    before = await Lead.filter(id=lead.id).values(*FORM)
    token = csrf_from((await client.get(f"/leads/{lead.id}")).text)

    response = await client.post(
        f"/leads/{lead.id}/funder-details", data={"csrf_token": token, **FORM, field: value}
    )

    assert response.status_code == 422
    assert "text/html" in response.headers["content-type"]
    assert f'id="funder-{field}-error"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert '<details class="funder-edit" open>' in response.text
    assert await Lead.filter(id=lead.id).values(*FORM) == before
    assert not await AuditEntry.filter(action="lead.update", lead_id=lead.id).exists()


async def test_marketing_sees_no_funder_box_and_cannot_post_it(client, make_caller):
    await _page_user(client, make_caller, Role.MARKETING)
    lead = await person(phone="+32470660004", **FUNDER)

    page = await client.get(f"/leads/{lead.id}")
    assert page.status_code == 200
    assert 'id="funder-title"' not in page.text
    token = csrf_from(page.text)
    response = await client.post(
        f"/leads/{lead.id}/funder-details", data={"csrf_token": token, **FORM}
    )

    assert response.status_code == 403
    assert (await Lead.get(id=lead.id)).employment_status == "jobseeker"


async def test_funder_form_needs_the_csrf_token_and_a_visible_person(client, make_caller):
    caller = await _page_user(client, make_caller)
    mine = await person(phone="+32470660005", reached_by_id=caller.user.id)
    someone_elses = await person("Karim", phone="+32470660006")
    token = csrf_from((await client.get(f"/leads/{mine.id}")).text)

    no_token = await client.post(f"/leads/{mine.id}/funder-details", data=FORM)
    hidden = await client.post(
        f"/leads/{someone_elses.id}/funder-details", data={"csrf_token": token, **FORM}
    )

    assert no_token.status_code == 403 and hidden.status_code == 404
    assert await Lead.filter(employment_status__isnull=False).count() == 0


# --- the demo data set ---------------------------------------------------------------------------


def test_demo_plan_draws_the_same_believable_funder_details_every_day():
    def plan(now: datetime) -> list[tuple]:
        planner = Planner(now)
        everybody = planner.event_people() + planner.walk_ins() + planner.referred_people()
        return [
            (p.stage, p.employment_status, p.background, p.social_assistance, p.jobs_created,
             p.jobs_kept)
            for p in everybody
        ]  # fmt: skip

    people = plan(datetime(2026, 1, 5, 3, 10, tzinfo=settings.tz))
    assert plan(datetime(2027, 7, 19, 22, 55, tzinfo=settings.tz)) == people
    statuses = Counter(p[1] for p in people)
    assert statuses["jobseeker"] + statuses["inactive"] > len(people) * 0.6
    assert statuses["employed"] > 0
    backgrounds = Counter(p[2] for p in people)
    assert {"belgian", "migrant_eu", "migrant_non_eu", "undisclosed"} <= set(backgrounds)
    assert 0.25 < sum(1 for p in people if p[3]) / len(people) < 0.45
    financed = [p for p in people if p[0] == Stage.FINANCED]
    assert financed and all(1 <= p[4] <= 3 for p in financed)
    assert any(p[5] for p in financed)
    assert all(p[4] is None and p[5] is None for p in people if p[0] != Stage.FINANCED)


async def test_demo_people_carry_their_funder_details(app):
    await load_demo()

    leads = await Lead.all()
    assert sum(1 for lead in leads if lead.employment_status) == len(leads)
    assert 0.25 < sum(1 for lead in leads if lead.social_assistance) / len(leads) < 0.45
    financed = [lead for lead in leads if lead.stage == Stage.FINANCED]
    assert financed and all(1 <= lead.jobs_created <= 3 for lead in financed)
    # The jobs were recorded by the agent after the financing, through the service.
    entries = await AuditEntry.filter(action="lead.update", lead_id__in=[f.id for f in financed])
    assert {f.id for f in financed} <= {e.lead_id for e in entries if "jobs_created" in e.changes}


async def test_marketing_reads_people_without_their_background(client, admin, make_caller):
    lead_id = (
        await client.post(
            URL,
            headers=admin.headers,
            json={"first_name": "Nour", "phone": "0470 60 00 09", **FUNDER},
        )
    ).json()["id"]
    marketing = await make_caller("marketing")
    body = (await client.get(f"{URL}/{lead_id}", headers=marketing.headers)).json()
    assert body["background"] is None
    assert body["employment_status"] == FUNDER["employment_status"]
    assert (await client.get(f"{URL}/{lead_id}", headers=admin.headers)).json()["background"] == (
        "migrant_non_eu"
    )
