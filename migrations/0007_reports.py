from tortoise import migrations
from tortoise.migrations import operations as ops
from crm.people.models import Background, EmploymentStatus
from crm.reports.models import Indicator
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index, PartialIndex

async def _milestones_from_the_log(apps, schema_editor) -> None:
    # People recorded before this migration get their milestones from their stage log.
    from crm.people import pathway

    await pathway.rebuild(connection=schema_editor.client)


class Migration(migrations.Migration):
    dependencies = [('crm', '0006_referrals_dedup_import')]

    initial = False

    operations = [
        ops.CreateModel(
            name='IndicatorTarget',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('indicator', fields.CharEnumField(description='PEOPLE_REACHED: people_reached\nLEADS: leads\nINFO_SESSIONS: info_sessions\nAPPLICATIONS: applications\nCOACHED: coached\nFINANCED: financed\nJOBS_CREATED: jobs_created\nJOBS_KEPT: jobs_kept\nREFERRALS_RECEIVED: referrals_received\nREFERRALS_SENT: referrals_sent\nSHARE_WOMEN: share_women\nSHARE_UNDER_26: share_under_26\nSHARE_OVER_50: share_over_50\nSHARE_MIGRANT_BACKGROUND: share_migrant_background\nSHARE_SOCIAL_ASSISTANCE: share_social_assistance', enum_type=Indicator, max_length=40)),
                ('programme', fields.CharField(default='', db_default='', max_length=120)),
                ('period_start', fields.DateField()),
                ('period_end', fields.DateField()),
                ('target', fields.DecimalField(max_digits=12, decimal_places=2)),
                ('notes', fields.CharField(null=True, max_length=500)),
                ('created_by', fields.ForeignKeyField('crm.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='indicator_targets', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'indicator_target', 'app': 'crm', 'unique_together': (('indicator', 'programme', 'period_start', 'period_end'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Lead',
            name='application_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Lead',
            name='background',
            field=fields.CharEnumField(null=True, description='BELGIAN: belgian\nMIGRANT_EU: migrant_eu\nMIGRANT_NON_EU: migrant_non_eu\nUNDISCLOSED: undisclosed', enum_type=Background, max_length=20),
        ),
        ops.AddField(
            model_name='Lead',
            name='coached_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Lead',
            name='contacted_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Lead',
            name='employment_status',
            field=fields.CharEnumField(null=True, description='JOBSEEKER: jobseeker\nINACTIVE: inactive\nEMPLOYED: employed\nSELF_EMPLOYED: self_employed\nSTUDENT: student\nUNDISCLOSED: undisclosed', enum_type=EmploymentStatus, max_length=20),
        ),
        ops.AddField(
            model_name='Lead',
            name='financed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Lead',
            name='info_session_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Lead',
            name='jobs_created',
            field=fields.SmallIntField(null=True),
        ),
        ops.AddField(
            model_name='Lead',
            name='jobs_kept',
            field=fields.SmallIntField(null=True),
        ),
        ops.AddField(
            model_name='Lead',
            name='lead_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Lead',
            name='lost_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Lead',
            name='redirected_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Lead',
            name='social_assistance',
            field=fields.BooleanField(null=True),
        ),
        ops.AddIndex(
            model_name='Lead',
            index=Index(fields=['created_at', 'lead_at', 'contacted_at', 'info_session_at', 'application_at', 'coached_at', 'financed_at', 'redirected_at', 'lost_at']),
        ),
        ops.AddIndex(
            model_name='Lead',
            index=Index(fields=['coached_at']),
        ),
        ops.AddIndex(
            model_name='Lead',
            index=Index(fields=['financed_at']),
        ),
        ops.AddIndex(
            model_name='Lead',
            index=PartialIndex(fields=['created_at', 'lost_at', 'lost_reason'], name='idx_lead_lost_reasons', condition={'stage': 'lost'}),
        ),
        ops.AddIndex(
            model_name='LeadStageChange',
            index=Index(fields=['lead_id', 'at']),
        ),
        ops.RunPython(_milestones_from_the_log, ops.RunPython.noop),
    ]
