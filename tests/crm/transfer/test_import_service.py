"""Imports through the service and the job runner, on real rows (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm.audit.models import AuditEntry
from crm.auth.actor import Actor
from crm.enums import Role
from crm.errors import InvalidInput
from crm.people.models import ConsentRecord, Lead, LeadSegment, LeadSource, LeadStageChange
from crm.transfer import import_jobs, imports
from crm.transfer.import_batch import LeaseLost
from crm.transfer.models import ImportJob, ImportRowOutcome, ImportRowReport, ImportStatus
from crm.transfer.reader import FileTooLarge
from tests.crm.transfer import files

ACTOR = Actor(role=Role.ADMIN, label="test")


async def run(content: bytes, filename: str = "people.csv", **kwargs) -> ImportJob:
    batch_size = kwargs.pop("batch_size", 1000)
    job = await imports.create_job(filename=filename, content=content, actor=ACTOR, **kwargs)
    claimed = await import_jobs.claim_job("test-worker", job_id=job.id)
    assert claimed is not None
    return await import_jobs.run_job(claimed, "test-worker", batch_size=batch_size)


async def refusals(job: ImportJob) -> dict[int, tuple[str, str]]:
    rows = await ImportRowReport.filter(job_id=job.id, outcome=ImportRowOutcome.REFUSED)
    return {r.row_number: (r.field, r.message) for r in rows}


async def test_belgian_excel_csv_with_bom_semicolons_and_accents_is_imported(app):
    job = await run(files.belgian_csv())
    assert job.status == ImportStatus.DONE
    assert (job.created_count, job.updated_count, job.refused_count) == (5, 0, 8)
    amelie = await Lead.get(phone="+32470123456")
    assert (amelie.first_name, amelie.last_name, amelie.postcode) == ("Amélie", "Dubois", "1060")
    assert amelie.language == "fr" and amelie.source == LeadSource.IMPORT
    assert amelie.notes == "Rencontrée au marché du Midi"
    assert await LeadSegment.filter(lead_id=amelie.id).values_list("code", flat=True) == ["women"]
    assert await LeadStageChange.filter(lead_id=amelie.id, from_stage=None).count() == 1
    zoe = await Lead.get(phone="+32472223344")
    assert zoe.language == "de" and zoe.region == "german_speaking"
    ines = await Lead.get(phone="+32473334455")
    assert ines.email == "ines@example.be"
    assert await LeadSegment.filter(lead_id=ines.id).values_list("code", flat=True) == ["youth"]
    assert (await Lead.get(phone="+32471112233")).language == "nl"
    karim = await Lead.get(phone="+32474000005")
    assert karim.last_name is None and karim.notes == "- rappeler lundi"


async def test_bad_rows_are_refused_per_row_naming_the_field(app):
    job = await run(files.belgian_csv())
    refused = await refusals(job)
    assert refused[6][0] == "phone" and "possible phone number" in refused[6][1]
    assert refused[7] == ("phone", "same person as row 2")
    assert refused[11][0] == "first_name"
    assert refused[13][0] == "phone" and "no phone and no e-mail" in refused[13][1]
    assert refused[14][0] == "language" and "klingon" in refused[14][1]
    assert set(refused) == {6, 7, 8, 9, 10, 11, 13, 14}


async def test_formula_cells_are_refused_and_stored_nowhere(app):
    job = await run(files.belgian_csv())
    refused = await refusals(job)
    assert refused[8][0] == "last_name" and "formula" in refused[8][1]
    assert refused[9][0] == "notes" and "formula" in refused[9][1]
    assert refused[10][0] == "notes"
    assert not await Lead.filter(last_name__contains="cmd").exists()
    assert not await Lead.filter(notes__contains="HYPERLINK").exists()
    assert not await Lead.filter(phone__in=["+32474000001", "+32474000002"]).exists()


@pytest.mark.parametrize(
    ("text", "formula"),
    [
        ("=cmd|' /C calc'!A0", True),
        ('=HYPERLINK("http://x","y")', True),
        ("@SUM(1+1)*cmd|' /C calc'!A0", True),
        ("+cmd|' /C calc'!A0", True),
        ("-2+3+cmd|' /C calc'!A0", True),
        ("+A1", True),
        ("+32 470 12 34 56", False),
        ("-", False),
        ("-Marie", False),
        ("- rappeler lundi", False),
        ("@marie", False),
        ("0470 12 34 56", False),
    ],
)
def test_what_counts_as_a_formula(text, formula):
    from crm.transfer.import_rows import looks_like_formula

    assert looks_like_formula(text) is formula


async def test_existing_person_gets_new_facts_without_anything_overwritten(app):
    known = await Lead.create(
        first_name="Amélie", last_name="Dubois-Martin", phone="+32470123456",
        language="nl", source=LeadSource.EVENT, stage="contacted",
    )  # fmt: skip
    by_mail = await Lead.create(
        first_name="Zoë", email="zoe@example.be", source=LeadSource.WALK_IN, stage="lead"
    )
    job = await run(files.belgian_csv())
    assert (job.created_count, job.updated_count) == (3, 2)
    known = await Lead.get(id=known.id)
    assert known.last_name == "Dubois-Martin" and known.language == "nl"  # kept
    assert known.email == "amelie.dubois@example.be" and known.postcode == "1060"  # filled
    assert known.stage == "contacted" and known.source == LeadSource.EVENT
    assert await LeadSegment.filter(lead_id=known.id).values_list("code", flat=True) == ["women"]
    by_mail = await Lead.get(id=by_mail.id)
    assert by_mail.phone == "+32472223344" and by_mail.last_name == "Müller"
    assert await Lead.filter(first_name="Amélie").count() == 1
    entry = await AuditEntry.get(action="lead.import_update", lead_id=known.id)
    assert entry.changes["job_id"] == job.id and entry.changes["file"] == "people.csv"
    assert entry.changes["rows"] == [2]


async def test_importing_the_same_file_twice_changes_nothing(app):
    await run(files.belgian_csv())
    before = await Lead.all().count()
    again = await run(files.belgian_csv())
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 5)
    assert await Lead.all().count() == before


async def test_dry_run_writes_no_person_and_reports_what_would_happen(app):
    await Lead.create(first_name="Joris", phone="+32471112233", source=LeadSource.SMS)
    job = await run(files.belgian_csv(), dry_run=True)
    assert (job.created_count, job.updated_count, job.refused_count) == (4, 1, 8)
    assert await Lead.all().count() == 1
    assert await LeadStageChange.all().count() == 0
    reports = await ImportRowReport.filter(job_id=job.id).order_by("row_number")
    assert {r.outcome for r in reports} == {"created", "updated", "refused"}
    assert not await AuditEntry.filter(action="import.create_leads").exists()


async def test_consent_is_recorded_only_when_the_operator_says_the_file_has_it(app):
    await run(files.comma_csv())
    assert await ConsentRecord.all().count() == 0
    consent = {"purposes": ["sms"], "method": "signed_form", "text_version": "2024-01"}
    job = await run(files.belgian_csv(), options={"consent": consent})
    records = await ConsentRecord.filter(purpose="sms")
    assert len(records) == job.created_count == 5
    assert {(r.source, r.method, r.text_version, r.granted) for r in records} == {
        ("import", "signed_form", "2024-01", True)
    }


async def test_options_add_segments_and_a_default_language(app):
    await run(
        files.generated_csv(3),
        options={"segments": ["job_seeker"], "default_language": "nl", "source": "event"},
    )
    lead = await Lead.get(first_name="Personne0")
    assert lead.language == "nl"  # 1000 Brussels has no default: the option fills it
    assert lead.source == "event"
    assert await LeadSegment.filter(lead_id=lead.id).values_list("code", flat=True) == [
        "job_seeker"
    ]


async def test_comma_utf8_and_dutch_headers(app):
    job = await run(files.comma_csv())
    assert job.created_count == 2
    fien = await Lead.get(phone="+32475102030")
    assert (fien.language, fien.notes, fien.region) == ("nl", "Infosessie, Gent", "flanders")


async def test_windows_1252_file_is_read_with_a_notice(app):
    job = await run(files.cp1252_csv())
    assert job.created_count == 2 and "Windows-1252" in job.error
    assert await Lead.filter(first_name="Hélène", last_name="Lefèvre").exists()
    assert await Lead.filter(first_name="François", last_name="Noël").exists()


async def test_rows_that_are_not_utf8_in_a_utf8_file_are_refused(app):
    job = await run(files.mixed_encoding_csv())
    assert (job.created_count, job.refused_count) == (2, 1)
    assert (await refusals(job))[3] == ("row", "not valid UTF-8: save as 'CSV UTF-8'")


async def test_xlsx_with_numeric_phones_dates_and_a_formula(app):
    job = await run(files.german_xlsx(), filename="eupen.xlsx")
    assert job.file_format == "xlsx"
    assert (job.created_count, job.refused_count) == (2, 1)
    jurgen = await Lead.get(phone="+32478123456")
    assert (jurgen.first_name, jurgen.postcode, jurgen.birth_year) == ("Jürgen", "4700", 1984)
    assert jurgen.language == "de"
    assert (await refusals(job))[4][0] == "notes"


async def test_missing_required_column_refuses_the_file_and_stores_nothing(app):
    content = b"Nom;GSM\r\nDubois;0470 12 34 56\r\n"
    with pytest.raises(InvalidInput) as caught:
        await imports.create_job(filename="x.csv", content=content, actor=ACTOR)
    assert caught.value.field == "mapping" and "first_name" in caught.value.message
    assert not await ImportJob.exists()


async def test_explicit_mapping_overrides_the_guess(app):
    content = b"Naam;Voornaam;Nummer\r\nPeeters;Jan;0470 99 88 77\r\n"
    job = await run(content, mapping={"Naam": "last_name", "nummer": "phone"})
    lead = await Lead.get(phone="+32470998877")
    assert (lead.first_name, lead.last_name) == ("Jan", "Peeters")
    assert job.mapping == {"Naam": "last_name", "Voornaam": "first_name", "Nummer": "phone"}
    with pytest.raises(InvalidInput, match="unknown field"):
        await imports.create_job(
            filename="x.csv", content=content, actor=ACTOR, mapping={"Naam": "surname"}
        )


async def test_presets_are_saved_and_used(app):
    await imports.save_preset(
        "CPAS export", {"Naam": "last_name", "Nummer": "phone"}, {"segments": ["no_income"]},
        actor=ACTOR,
    )  # fmt: skip
    content = b"Voornaam;Naam;Nummer\r\nAn;Claes;0470 55 44 33\r\n"
    await run(content, preset="CPAS export")
    lead = await Lead.get(phone="+32470554433")
    assert lead.last_name == "Claes"
    assert await LeadSegment.filter(lead_id=lead.id).values_list("code", flat=True) == ["no_income"]


async def test_too_many_rows_is_refused_whole(app, monkeypatch):
    from crm.config import settings

    monkeypatch.setattr(settings, "IMPORT_MAX_ROWS", 10)
    with pytest.raises(FileTooLarge):
        await imports.create_job(filename="big.csv", content=files.generated_csv(11), actor=ACTOR)
    assert not await ImportJob.exists() and not await Lead.exists()


async def test_a_crashed_import_resumes_without_losing_or_doubling_a_row(app):
    content = files.generated_csv(250) + b"Personne3;Dup;0470 00 00 03;1000\r\n"
    job = await imports.create_job(filename="big.csv", content=content, actor=ACTOR)
    claimed = await import_jobs.claim_job("worker-a", job_id=job.id)
    with pytest.raises(import_jobs.SimulatedCrash):
        await import_jobs.run_job(claimed, "worker-a", batch_size=60, stop_after_batches=2)
    job = await ImportJob.get(id=job.id)
    assert job.status == ImportStatus.RUNNING and job.processed_rows == 120
    assert await Lead.all().count() == 120
    # Another worker cannot take it while the lease runs; once it has run out, it can.
    assert await import_jobs.claim_job("worker-b") is None
    later = datetime.now(UTC) + timedelta(seconds=import_jobs.LEASE_SECONDS + 1)
    resumed = await import_jobs.claim_job("worker-b", now=later)
    assert resumed is not None and resumed.id == job.id
    await import_jobs.run_job(resumed, "worker-b", batch_size=60)
    job = await ImportJob.get(id=job.id)
    assert job.status == ImportStatus.DONE
    assert (job.created_count, job.refused_count, job.processed_rows) == (250, 1, 251)
    assert await Lead.all().count() == 250
    assert await LeadStageChange.all().count() == 250
    # The duplicate of a row done before the crash is still seen as the same person.
    assert (await refusals(job))[252] == ("phone", "same person as row 5")


async def test_the_old_worker_cannot_write_after_losing_its_lease(app):
    job = await imports.create_job(filename="x.csv", content=files.generated_csv(20), actor=ACTOR)
    first = await import_jobs.claim_job("worker-a", job_id=job.id)
    later = datetime.now(UTC) + timedelta(seconds=import_jobs.LEASE_SECONDS + 1)
    assert await import_jobs.claim_job("worker-b", now=later) is not None
    with pytest.raises(LeaseLost):
        await import_jobs.run_job(first, "worker-a", batch_size=5)
    assert await Lead.all().count() == 0


async def test_worker_tick_runs_pending_jobs(app):
    await imports.create_job(filename="x.csv", content=files.generated_csv(5), actor=ACTOR)
    held = await imports.create_job(
        filename="y.csv", content=files.generated_csv(5, start=10), actor=ACTOR, hold=True
    )
    assert await import_jobs.run_pending("tick") == 1
    assert await Lead.all().count() == 5
    assert (await ImportJob.get(id=held.id)).status == ImportStatus.PENDING
