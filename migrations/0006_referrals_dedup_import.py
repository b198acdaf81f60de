from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from crm.referrals.models import ReferralOutcome, ReferralReason, WebhookDeliveryStatus
from crm.transfer.models import ImportRowOutcome, ImportStatus
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('crm', '0005_field_app')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DuplicateDismissal',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('lead_low_id', fields.IntField()),
                ('lead_high_id', fields.IntField()),
                ('by_user', fields.ForeignKeyField('crm.User', source_field='by_user_id', null=True, db_constraint=True, to_field='id', related_name='duplicate_dismissals', on_delete=OnDelete.SET_NULL)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'duplicate_dismissal', 'app': 'crm', 'unique_together': (('lead_low_id', 'lead_high_id'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ImportJob',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharField(default='leads', max_length=20)),
                ('filename', fields.CharField(max_length=255)),
                ('file_format', fields.CharField(max_length=8)),
                ('file_sha256', fields.CharField(db_index=True, max_length=64)),
                ('content', fields.BinaryField()),
                ('mapping', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('options', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('dry_run', fields.BooleanField(default=False)),
                ('status', fields.CharEnumField(default=ImportStatus.PENDING, description='PENDING: pending\nRUNNING: running\nDONE: done\nFAILED: failed\nCANCELLED: cancelled', enum_type=ImportStatus, max_length=12)),
                ('total_rows', fields.IntField(null=True)),
                ('processed_rows', fields.IntField(default=0)),
                ('created_count', fields.IntField(default=0)),
                ('updated_count', fields.IntField(default=0)),
                ('unchanged_count', fields.IntField(default=0)),
                ('refused_count', fields.IntField(default=0)),
                ('error', fields.CharField(null=True, max_length=500)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('leased_by', fields.CharField(null=True, max_length=64)),
                ('created_by', fields.ForeignKeyField('crm.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='import_jobs', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'import_job', 'app': 'crm', 'indexes': [Index(fields=['status', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ImportPreset',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=100)),
                ('kind', fields.CharField(default='leads', max_length=20)),
                ('mapping', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('options', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_by', fields.ForeignKeyField('crm.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='import_presets', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'import_preset', 'app': 'crm', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ImportRowReport',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('job', fields.ForeignKeyField('crm.ImportJob', source_field='job_id', db_constraint=True, to_field='id', related_name='rows', on_delete=OnDelete.CASCADE)),
                ('row_number', fields.IntField()),
                ('outcome', fields.CharEnumField(description='CREATED: created\nUPDATED: updated\nUNCHANGED: unchanged\nREFUSED: refused', enum_type=ImportRowOutcome, max_length=10)),
                ('lead_id', fields.IntField(null=True)),
                ('field', fields.CharField(null=True, max_length=60)),
                ('message', fields.CharField(null=True, max_length=500)),
                ('values', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'import_row_report', 'app': 'crm', 'indexes': [Index(fields=['job_id', 'outcome', 'row_number'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LeadMerge',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kept_lead_id', fields.IntField(db_index=True)),
                ('merged_lead_id', fields.IntField(db_index=True)),
                ('merged_snapshot', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('kept_snapshot', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('choices', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('moved', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('reason', fields.CharField(null=True, max_length=500)),
                ('by_user', fields.ForeignKeyField('crm.User', source_field='by_user_id', null=True, db_constraint=True, to_field='id', related_name='lead_merges', on_delete=OnDelete.SET_NULL)),
                ('by_label', fields.CharField(max_length=200)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'lead_merge', 'app': 'crm', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('delivery_id', fields.UUIDField(unique=True)),
                ('partner', fields.ForeignKeyField('crm.PartnerOrganisation', source_field='partner_id', db_constraint=True, to_field='id', related_name='webhook_deliveries', on_delete=OnDelete.CASCADE)),
                ('event', fields.CharField(max_length=40)),
                ('referral', fields.ForeignKeyField('crm.Referral', source_field='referral_id', null=True, db_constraint=True, to_field='id', related_name='webhook_deliveries', on_delete=OnDelete.SET_NULL)),
                ('payload', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharEnumField(default=WebhookDeliveryStatus.PENDING, description='PENDING: pending\nDELIVERED: delivered\nFAILED: failed', enum_type=WebhookDeliveryStatus, max_length=12)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('leased_by', fields.CharField(null=True, max_length=64)),
                ('last_status_code', fields.IntField(null=True)),
                ('last_error', fields.CharField(null=True, max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook_delivery', 'app': 'crm', 'indexes': [Index(fields=['status', 'next_attempt_at']), Index(fields=['partner_id', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookAttempt',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('delivery', fields.ForeignKeyField('crm.WebhookDelivery', source_field='delivery_id', db_constraint=True, to_field='id', related_name='attempt_log', on_delete=OnDelete.CASCADE)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('status_code', fields.IntField(null=True)),
                ('error', fields.CharField(null=True, max_length=500)),
                ('duration_ms', fields.IntField()),
            ],
            options={'table': 'webhook_attempt', 'app': 'crm', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='PartnerOrganisation',
            name='webhook_disabled_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='PartnerOrganisation',
            name='webhook_failures',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='PartnerOrganisation',
            name='webhook_secret',
            field=fields.CharField(null=True, max_length=100),
        ),
        ops.AddField(
            model_name='PartnerOrganisation',
            name='webhook_url',
            field=fields.CharField(null=True, max_length=500),
        ),
        ops.AddField(
            model_name='Referral',
            name='expires_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Referral',
            name='outcome',
            field=fields.CharEnumField(null=True, description='FINANCED: financed\nCOACHED: coached\nBUSINESS_STARTED: business_started\nEMPLOYED: employed\nTRAINING: training\nSOCIAL_SUPPORT: social_support\nNO_FURTHER_ACTION: no_further_action\nOTHER: other', enum_type=ReferralOutcome, max_length=30),
        ),
        ops.AddField(
            model_name='Referral',
            name='reason_code',
            field=fields.CharEnumField(null=True, description='NOT_ELIGIBLE: not_eligible\nNO_CAPACITY: no_capacity\nCOULD_NOT_CONTACT: could_not_contact\nOUT_OF_AREA: out_of_area\nPERSON_DECLINED: person_declined\nOTHER: other', enum_type=ReferralReason, max_length=30),
        ),
        ops.AddField(
            model_name='Referral',
            name='redirected_from',
            field=fields.ForeignKeyField('crm.Referral', source_field='redirected_from_id', null=True, db_constraint=True, to_field='id', related_name='redirects', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Referral',
            name='reminded_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name='Referral',
            index=Index(fields=['status', 'expires_at']),
        ),
        ops.AddField(
            model_name='ReferralStatusChange',
            name='organisation_id',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='ReferralStatusChange',
            name='outcome',
            field=fields.CharEnumField(null=True, description='FINANCED: financed\nCOACHED: coached\nBUSINESS_STARTED: business_started\nEMPLOYED: employed\nTRAINING: training\nSOCIAL_SUPPORT: social_support\nNO_FURTHER_ACTION: no_further_action\nOTHER: other', enum_type=ReferralOutcome, max_length=30),
        ),
        ops.AddField(
            model_name='ReferralStatusChange',
            name='reason_code',
            field=fields.CharEnumField(null=True, description='NOT_ELIGIBLE: not_eligible\nNO_CAPACITY: no_capacity\nCOULD_NOT_CONTACT: could_not_contact\nOUT_OF_AREA: out_of_area\nPERSON_DECLINED: person_declined\nOTHER: other', enum_type=ReferralReason, max_length=30),
        ),
        ops.AddField(
            model_name='User',
            name='can_export',
            field=fields.BooleanField(default=False, db_default=False),
        ),
    ]
