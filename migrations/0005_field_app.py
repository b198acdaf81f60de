from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from crm.outreach.models import Interest, SyncKind
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('crm', '0004_campaigns')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SyncReceipt',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('client_id', fields.UUIDField(unique=True)),
                ('kind', fields.CharEnumField(description='CONTACT: contact\nINTERACTION: interaction\nUPDATE: update', enum_type=SyncKind, max_length=20)),
                ('user', fields.ForeignKeyField('crm.User', source_field='user_id', null=True, db_constraint=True, to_field='id', related_name='sync_receipts', on_delete=OnDelete.SET_NULL)),
                ('lead_id', fields.IntField(null=True)),
                ('result', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'sync_receipt', 'app': 'crm', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Interaction',
            name='interest',
            field=fields.CharEnumField(null=True, description='LOW: low\nMEDIUM: medium\nHIGH: high', enum_type=Interest, max_length=10),
        ),
        ops.AddField(
            model_name='OutreachEvent',
            name='keyword',
            field=fields.CharField(null=True, max_length=20),
        ),
        ops.AddConstraint(
            model_name='OutreachEvent',
            constraint=UniqueConstraint(fields=('keyword',), name=None),
        ),
    ]
