"""Imports of people from spreadsheets: saved column mappings, jobs that resume, row reports."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class ImportPreset(Model):
    # A saved column mapping ("our CPAS export"): file column -> person field, plus options.

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100, unique=True)
    kind = fields.CharField(max_length=20, default="leads")
    mapping: fields.Field[dict[str, str]] = fields.JSONField(default=dict)
    options: fields.Field[dict] = fields.JSONField(default=dict)
    created_by = fields.ForeignKeyField(
        "crm.User", related_name="import_presets", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "import_preset"


class ImportStatus(StrEnum):
    PENDING = "pending"  # stored, waiting for a worker (or the CLI) to run it
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # the file could not be read as a whole; nothing past the checkpoint
    CANCELLED = "cancelled"


class ImportJob(Model):
    # One file being imported (or checked, in a dry run). The file is kept in the database so
    # any worker can run or resume it; `processed_rows` is the checkpoint, committed together
    # with the rows it covers, so a resumed job neither skips nor repeats a row.

    id = fields.IntField(primary_key=True)
    kind = fields.CharField(max_length=20, default="leads")
    filename = fields.CharField(max_length=255)
    file_format = fields.CharField(max_length=8)  # csv | xlsx
    file_sha256 = fields.CharField(max_length=64, db_index=True)
    content = fields.BinaryField()
    mapping: fields.Field[dict[str, str]] = fields.JSONField(default=dict)
    options: fields.Field[dict] = fields.JSONField(default=dict)
    dry_run = fields.BooleanField(default=False)
    status = fields.CharEnumField(ImportStatus, max_length=12, default=ImportStatus.PENDING)
    total_rows = fields.IntField(null=True)
    processed_rows = fields.IntField(default=0)
    created_count = fields.IntField(default=0)
    updated_count = fields.IntField(default=0)
    unchanged_count = fields.IntField(default=0)
    refused_count = fields.IntField(default=0)
    error = fields.CharField(max_length=500, null=True)
    lease_until = fields.DatetimeField(null=True)
    leased_by = fields.CharField(max_length=64, null=True)
    created_by = fields.ForeignKeyField(
        "crm.User", related_name="import_jobs", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "import_job"
        indexes = (("status", "created_at"),)


class ImportRowOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"  # an existing person got the new facts (nothing overwritten)
    UNCHANGED = "unchanged"
    REFUSED = "refused"


class ImportRowReport(Model):
    # What happened to one row (refused rows always; others as the importer chooses to keep).

    id = fields.IntField(primary_key=True)
    job = fields.ForeignKeyField("crm.ImportJob", related_name="rows", on_delete=fields.CASCADE)
    row_number = fields.IntField()  # as the spreadsheet shows it (the header is row 1)
    outcome = fields.CharEnumField(ImportRowOutcome, max_length=10)
    lead_id = fields.IntField(null=True)
    field = fields.CharField(max_length=60, null=True)
    message = fields.CharField(max_length=500, null=True)
    values: fields.Field[dict | None] = fields.JSONField(null=True)

    class Meta:
        table = "import_row_report"
        indexes = (("job_id", "outcome", "row_number"),)
