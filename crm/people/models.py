from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.indexes import PartialIndex
from tortoise.models import Model

from crm.enums import Language
from crm.geo import Region


class Stage(StrEnum):
    REACHED = "reached"
    LEAD = "lead"
    CONTACTED = "contacted"
    INFO_SESSION = "info_session"
    APPLICATION = "application"
    COACHED = "coached"
    FINANCED = "financed"
    REDIRECTED = "redirected"
    LOST = "lost"


class LeadSource(StrEnum):
    EVENT = "event"
    REFERRAL = "referral"
    SMS = "sms"
    TELEGRAM = "telegram"
    WALK_IN = "walk_in"
    IMPORT = "import"


class Gender(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNDISCLOSED = "undisclosed"


class EmploymentStatus(StrEnum):
    # The categories funders' participant tables use (ESF+ and regional programmes).
    JOBSEEKER = "jobseeker"  # unemployed, registered or not
    INACTIVE = "inactive"  # neither working nor seeking work
    EMPLOYED = "employed"
    SELF_EMPLOYED = "self_employed"
    STUDENT = "student"
    UNDISCLOSED = "undisclosed"


class Background(StrEnum):
    # Self-declared, optional, asked only where a funder requires it (GDPR: special category
    # close to ethnic origin; never used to select an audience).
    BELGIAN = "belgian"
    MIGRANT_EU = "migrant_eu"
    MIGRANT_NON_EU = "migrant_non_eu"
    UNDISCLOSED = "undisclosed"


# The pathway in order; REDIRECTED and LOST are exits, not steps.
PATHWAY: tuple[Stage, ...] = (
    Stage.REACHED,
    Stage.LEAD,
    Stage.CONTACTED,
    Stage.INFO_SESSION,
    Stage.APPLICATION,
    Stage.COACHED,
    Stage.FINANCED,
)


class Lead(Model):
    # A person reached by outreach, whatever became of them.

    id = fields.IntField(primary_key=True)
    first_name = fields.CharField(max_length=100)
    last_name = fields.CharField(max_length=100, null=True)
    phone = fields.CharField(max_length=20, null=True, unique=True)  # E.164
    email = fields.CharField(max_length=254, null=True, db_index=True)
    telegram_chat_id = fields.BigIntField(null=True, unique=True)
    language = fields.CharEnumField(Language, max_length=2, null=True)
    postcode = fields.CharField(max_length=4, null=True, db_index=True)
    region = fields.CharEnumField(Region, max_length=20, null=True)
    gender = fields.CharEnumField(Gender, max_length=12, null=True)
    birth_year = fields.IntField(null=True)
    stage = fields.CharEnumField(Stage, max_length=20, default=Stage.REACHED)
    lost_reason = fields.CharField(max_length=200, null=True)
    source = fields.CharEnumField(LeadSource, max_length=20)
    event = fields.ForeignKeyField(
        "crm.OutreachEvent", related_name="leads", null=True, on_delete=fields.SET_NULL
    )
    referring_partner = fields.ForeignKeyField(
        "crm.PartnerOrganisation", related_name="leads", null=True, on_delete=fields.SET_NULL
    )
    assigned_agent = fields.ForeignKeyField(
        "crm.User", related_name="assigned_leads", null=True, on_delete=fields.SET_NULL
    )
    # The staff member who reached the person (an agent sees the people they reached).
    reached_by = fields.ForeignKeyField(
        "crm.User", related_name="reached_leads", null=True, on_delete=fields.SET_NULL
    )
    employment_status = fields.CharEnumField(EmploymentStatus, max_length=20, null=True)
    background = fields.CharEnumField(Background, max_length=20, null=True)
    # Receives the integration income or equivalent aid from a CPAS/OCMW/ÖSHZ.
    social_assistance = fields.BooleanField(null=True)
    # Jobs the person's business created (the owner included) or kept, for funders' reports.
    jobs_created = fields.SmallIntField(null=True)
    jobs_kept = fields.SmallIntField(null=True)
    # Milestones of the pathway, derived from the stage log (crm.people.pathway keeps them with
    # every stage change and can rebuild them): when the person first reached this stage *or a
    # later one*, so "reached at least S" is a count of S's column and a skipped stage is passed
    # at the moment of the jump. Reached is `created_at`. The exits keep their first entry.
    lead_at = fields.DatetimeField(null=True)
    contacted_at = fields.DatetimeField(null=True)
    info_session_at = fields.DatetimeField(null=True)
    application_at = fields.DatetimeField(null=True)
    coached_at = fields.DatetimeField(null=True)
    financed_at = fields.DatetimeField(null=True)
    redirected_at = fields.DatetimeField(null=True)
    lost_at = fields.DatetimeField(null=True)
    project_summary = fields.TextField(null=True)
    project_sector = fields.CharField(max_length=100, null=True)
    notes = fields.TextField(null=True)
    follow_up_on = fields.DateField(null=True)
    last_contacted_at = fields.DatetimeField(null=True)
    # Retention (crm.privacy.retention): flagged when nothing happened with the person for
    # RETENTION_INACTIVE_MONTHS, anonymised after the warning period unless kept until a date
    # (with the reason) or active again. `anonymised_at` marks an erased record: identifiers
    # and free text gone, the facts the statistics need kept.
    inactive_flagged_at = fields.DatetimeField(null=True)
    keep_until = fields.DateField(null=True)
    keep_reason = fields.CharField(max_length=200, null=True)
    anonymised_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "lead"
        indexes = (
            ("stage", "created_at"),
            ("language", "created_at"),
            ("region", "created_at"),
            # Lets the list's count over stage and language read the index alone.
            ("stage", "language"),
            # Reports: the funnel of a period reads this index alone (index-only scan on
            # PostgreSQL): when people were reached, then their milestones.
            (
                "created_at",
                "lead_at",
                "contacted_at",
                "info_session_at",
                "application_at",
                "coached_at",
                "financed_at",
                "redirected_at",
                "lost_at",
            ),
            ("coached_at",),
            ("financed_at",),
            # The lost reasons of a period, without reading the people's rows.
            PartialIndex(
                fields=("created_at", "lost_at", "lost_reason"),
                condition={"stage": "lost"},
                name="idx_lead_lost_reasons",
            ),
        )


class LeadSegment(Model):
    # One segment code of one person (a row per code keeps segment filters indexable).

    id = fields.IntField(primary_key=True)
    lead = fields.ForeignKeyField(
        "crm.Lead", related_name="segment_links", on_delete=fields.CASCADE
    )
    code = fields.CharField(max_length=40)

    class Meta:
        table = "lead_segment"
        unique_together = (("lead", "code"),)
        # Segment filters read (code → lead_id) from the index alone.
        indexes = (("code", "lead_id"),)


class Segment(Model):
    # A segment an organisation added to the built-in vocabulary (see people.segments).

    code = fields.CharField(max_length=40, primary_key=True)
    labels: fields.Field[dict[str, str]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "segment"


class ConsentPurpose(StrEnum):
    SMS = "sms"
    TELEGRAM = "telegram"
    EMAIL = "email"
    SHARE_WITH_PARTNERS = "share_with_partners"


class ConsentSource(StrEnum):
    EVENT = "event"
    API = "api"
    WEB = "web"
    REFERRAL = "referral"
    SMS = "sms"
    TELEGRAM = "telegram"
    IMPORT = "import"


class ConsentRecord(Model):
    # One entry of the consent ledger. The current state is the latest entry per purpose.

    id = fields.IntField(primary_key=True)
    lead = fields.ForeignKeyField("crm.Lead", related_name="consents", on_delete=fields.RESTRICT)
    purpose = fields.CharEnumField(ConsentPurpose, max_length=30)
    granted = fields.BooleanField()
    source = fields.CharEnumField(ConsentSource, max_length=20)
    method = fields.CharField(max_length=40)  # verbal, written, checkbox, keyword, signed_form…
    text_version = fields.CharField(max_length=40, null=True)
    recorded_by = fields.ForeignKeyField(
        "crm.User", related_name="consents_recorded", null=True, on_delete=fields.SET_NULL
    )
    recorded_by_organisation = fields.ForeignKeyField(
        "crm.PartnerOrganisation",
        related_name="consents_recorded",
        null=True,
        on_delete=fields.SET_NULL,
    )
    recorded_at = fields.DatetimeField()

    class Meta:
        table = "consent_record"
        indexes = (("lead_id", "purpose", "recorded_at"),)


class LeadStageChange(Model):
    id = fields.IntField(primary_key=True)
    lead = fields.ForeignKeyField(
        "crm.Lead", related_name="stage_changes", on_delete=fields.RESTRICT
    )
    from_stage = fields.CharEnumField(Stage, max_length=20, null=True)
    to_stage = fields.CharEnumField(Stage, max_length=20)
    reason = fields.CharField(max_length=200, null=True)
    by_user = fields.ForeignKeyField(
        "crm.User", related_name="stage_changes", null=True, on_delete=fields.SET_NULL
    )
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "lead_stage_change"
        # A person's log in order (timeline, milestones rebuild).
        indexes = (("lead_id", "at"),)


class LeadMerge(Model):
    # One merge of two records of the same person: what each held, what was kept and what was
    # moved, so it can be explained afterwards. Plain ids: they outlive later merges and erasure.

    id = fields.IntField(primary_key=True)
    kept_lead_id = fields.IntField(db_index=True)
    merged_lead_id = fields.IntField(db_index=True)
    # The merged (removed) record's fields and the kept record's fields before the merge.
    merged_snapshot: fields.Field[dict] = fields.JSONField()
    kept_snapshot: fields.Field[dict] = fields.JSONField()
    # field -> "kept" | "merged": whose value the merged person has.
    choices: fields.Field[dict] = fields.JSONField(default=dict)
    # table -> number of rows moved from the merged record to the kept one.
    moved: fields.Field[dict] = fields.JSONField(default=dict)
    reason = fields.CharField(max_length=500, null=True)
    by_user = fields.ForeignKeyField(
        "crm.User", related_name="lead_merges", null=True, on_delete=fields.SET_NULL
    )
    by_label = fields.CharField(max_length=200)
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "lead_merge"


class DuplicateDismissal(Model):
    # Two records a person reviewed and said are different people: not proposed again.
    # Stored with the lower id first.

    id = fields.IntField(primary_key=True)
    lead_low_id = fields.IntField()
    lead_high_id = fields.IntField()
    by_user = fields.ForeignKeyField(
        "crm.User", related_name="duplicate_dismissals", null=True, on_delete=fields.SET_NULL
    )
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "duplicate_dismissal"
        unique_together = (("lead_low_id", "lead_high_id"),)
