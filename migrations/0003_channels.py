from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from channels.models import Channel, MessageKind, OutboxStatus
from crm.enums import Language
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('crm', '0002_list_indexes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Conversation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('lead', fields.OneToOneField('crm.Lead', source_field='lead_id', db_constraint=True, to_field='id', related_name='conversation', on_delete=OnDelete.RESTRICT)),
                ('last_message_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_inbound_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_channel', fields.CharEnumField(null=True, description='SMS: sms\nTELEGRAM: telegram', enum_type=Channel, max_length=10)),
                ('preview', fields.CharField(default='', max_length=160)),
                ('unread', fields.IntField(default=0)),
                ('assigned_to', fields.ForeignKeyField('crm.User', source_field='assigned_to_id', null=True, db_constraint=True, to_field='id', related_name='conversations', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'conversation', 'app': 'crm', 'indexes': [Index(fields=['last_message_at']), Index(fields=['assigned_to_id', 'last_message_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OutboxMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('lead', fields.ForeignKeyField('crm.Lead', source_field='lead_id', db_constraint=True, to_field='id', related_name='outbox', on_delete=OnDelete.RESTRICT)),
                ('channel', fields.CharEnumField(description='SMS: sms\nTELEGRAM: telegram', enum_type=Channel, max_length=10)),
                ('address', fields.CharField(max_length=40)),
                ('language', fields.CharEnumField(null=True, description='FR: fr\nNL: nl\nDE: de', enum_type=Language, max_length=2)),
                ('body', fields.TextField(unique=False)),
                ('segments', fields.IntField(default=1)),
                ('encoding', fields.CharField(default='gsm7', max_length=5)),
                ('kind', fields.CharEnumField(description='CAMPAIGN: campaign\nREPLY: reply\nAUTO: auto', enum_type=MessageKind, max_length=10)),
                ('status', fields.CharEnumField(default=OutboxStatus.QUEUED, description='QUEUED: queued\nSENDING: sending\nSENT: sent\nDELIVERED: delivered\nFAILED: failed\nUNDELIVERED: undelivered\nSKIPPED: skipped\nUNKNOWN: unknown', enum_type=OutboxStatus, max_length=12)),
                ('provider', fields.CharField(null=True, max_length=10)),
                ('provider_id', fields.CharField(null=True, unique=True, max_length=64)),
                ('error_code', fields.CharField(null=True, max_length=20)),
                ('error_reason', fields.TextField(null=True, unique=False)),
                ('attempts', fields.IntField(default=0)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('leased_by', fields.CharField(null=True, max_length=64)),
                ('claimed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('idempotency_key', fields.CharField(unique=True, max_length=200)),
                ('campaign_id', fields.IntField(null=True)),
                ('author', fields.ForeignKeyField('crm.User', source_field='author_id', null=True, db_constraint=True, to_field='id', related_name='messages_written', on_delete=OnDelete.SET_NULL)),
                ('reply_markup', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('status_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'outbox_message', 'app': 'crm', 'indexes': [Index(fields=['status', 'channel', 'due_at']), Index(fields=['lead_id', 'created_at']), Index(fields=['campaign_id', 'status'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='InboundMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('lead', fields.ForeignKeyField('crm.Lead', source_field='lead_id', db_constraint=True, to_field='id', related_name='inbound', on_delete=OnDelete.RESTRICT)),
                ('channel', fields.CharEnumField(description='SMS: sms\nTELEGRAM: telegram', enum_type=Channel, max_length=10)),
                ('address', fields.CharField(max_length=40)),
                ('body', fields.TextField(unique=False)),
                ('provider_id', fields.CharField(unique=True, max_length=64)),
                ('kind', fields.CharField(default='text', max_length=20)),
                ('reply_to', fields.ForeignKeyField('crm.OutboxMessage', source_field='reply_to_id', null=True, db_constraint=True, to_field='id', related_name='replies', on_delete=OnDelete.SET_NULL)),
                ('campaign_id', fields.IntField(null=True)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'inbound_message', 'app': 'crm', 'indexes': [Index(fields=['lead_id', 'received_at']), Index(fields=['campaign_id', 'received_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TelegramUpdate',
            fields=[
                ('update_id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'telegram_update', 'app': 'crm', 'pk_attr': 'update_id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WorkerHeartbeat',
            fields=[
                ('worker_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('seen_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'worker_heartbeat', 'app': 'crm', 'pk_attr': 'worker_id'},
            bases=['Model'],
        ),
    ]
