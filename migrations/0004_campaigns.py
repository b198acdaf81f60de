from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from campaigns.models import CampaignChannel, CampaignStatus, RunStatus, StoryMode
from channels.models import OutboxStatus
from crm.enums import Language
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('crm', '0003_channels')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Campaign',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=200)),
                ('goal', fields.TextField(null=True, unique=False)),
                ('channel', fields.CharEnumField(description='SMS: sms\nTELEGRAM: telegram\nPREFERRED: preferred', enum_type=CampaignChannel, max_length=10)),
                ('audience', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('messages', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('default_language', fields.CharEnumField(description='FR: fr\nNL: nl\nDE: de', enum_type=Language, max_length=2)),
                ('story_mode', fields.CharEnumField(default=StoryMode.NONE, description='NONE: none\nFIXED: fixed\nMATCHED: matched', enum_type=StoryMode, max_length=10)),
                ('story', fields.ForeignKeyField('crm.SuccessStory', source_field='story_id', null=True, db_constraint=True, to_field='id', related_name='campaigns', on_delete=OnDelete.RESTRICT)),
                ('variants', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('schedule', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharEnumField(default=CampaignStatus.DRAFT, description='DRAFT: draft\nSCHEDULED: scheduled\nRUNNING: running\nPAUSED: paused\nCOMPLETED: completed\nCANCELLED: cancelled', enum_type=CampaignStatus, max_length=10)),
                ('next_run_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('conversion_days', fields.IntField(default=14)),
                ('created_by', fields.ForeignKeyField('crm.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='campaigns_created', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('scheduled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'campaign', 'app': 'crm', 'indexes': [Index(fields=['status', 'next_run_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CampaignRun',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('campaign', fields.ForeignKeyField('crm.Campaign', source_field='campaign_id', db_constraint=True, to_field='id', related_name='runs', on_delete=OnDelete.RESTRICT)),
                ('planned_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('anchor_date', fields.DateField(null=True)),
                ('status', fields.CharEnumField(default=RunStatus.PENDING, description='PENDING: pending\nFANNING_OUT: fanning_out\nDONE: done\nPAUSED: paused\nCANCELLED: cancelled', enum_type=RunStatus, max_length=12)),
                ('cursor', fields.IntField(default=0)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('leased_by', fields.CharField(null=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'campaign_run', 'app': 'crm', 'unique_together': (('campaign', 'planned_at'),), 'indexes': [Index(fields=['status', 'planned_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='EventRegistration',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('event', fields.ForeignKeyField('crm.OutreachEvent', source_field='event_id', db_constraint=True, to_field='id', related_name='registrations', on_delete=OnDelete.RESTRICT)),
                ('lead', fields.ForeignKeyField('crm.Lead', source_field='lead_id', db_constraint=True, to_field='id', related_name='registrations', on_delete=OnDelete.RESTRICT)),
                ('registered_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('registered_by', fields.ForeignKeyField('crm.User', source_field='registered_by_id', null=True, db_constraint=True, to_field='id', related_name='registrations_made', on_delete=OnDelete.SET_NULL)),
                ('attended', fields.BooleanField(null=True)),
            ],
            options={'table': 'event_registration', 'app': 'crm', 'unique_together': (('event', 'lead'),), 'indexes': [Index(fields=['lead_id', 'event_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='OutboxMessage',
            name='status',
            field=fields.CharEnumField(default=OutboxStatus.QUEUED, description='QUEUED: queued\nSENDING: sending\nSENT: sent\nDELIVERED: delivered\nFAILED: failed\nUNDELIVERED: undelivered\nSKIPPED: skipped\nUNKNOWN: unknown\nPAUSED: paused', enum_type=OutboxStatus, max_length=12),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='run_id',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='story_id',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='variant',
            field=fields.CharField(null=True, max_length=8),
        ),
        ops.AddIndex(
            model_name='OutboxMessage',
            index=Index(fields=['run_id', 'status']),
        ),
    ]
