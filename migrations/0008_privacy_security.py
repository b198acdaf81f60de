from tortoise import migrations
from tortoise.migrations import operations as ops
from crm.privacy.models import RequestChannel, RequestKind, RequestStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('crm', '0007_reports')]

    initial = False

    operations = [
        ops.CreateModel(
            name='LoginThrottle',
            fields=[
                ('key', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=300)),
                ('failures', fields.IntField(default=0)),
                ('window_started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_failure_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('locked_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'login_throttle', 'app': 'crm', 'pk_attr': 'key'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RightsRequest',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('lead', fields.ForeignKeyField('crm.Lead', source_field='lead_id', null=True, db_constraint=True, to_field='id', related_name='rights_requests', on_delete=OnDelete.RESTRICT)),
                ('kind', fields.CharEnumField(description='ACCESS: access\nPORTABILITY: portability\nRECTIFICATION: rectification\nERASURE: erasure\nOBJECTION: objection\nRESTRICTION: restriction', enum_type=RequestKind, max_length=20)),
                ('status', fields.CharEnumField(default=RequestStatus.OPEN, description='OPEN: open\nEXTENDED: extended\nDONE: done\nREFUSED: refused', enum_type=RequestStatus, max_length=10)),
                ('received_via', fields.CharEnumField(description='IN_PERSON: in_person\nLETTER: letter\nEMAIL: email\nPHONE: phone\nSMS: sms\nTELEGRAM: telegram\nPARTNER: partner', enum_type=RequestChannel, max_length=10)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('requester', fields.CharField(null=True, max_length=200)),
                ('identity_checked', fields.BooleanField(default=False)),
                ('due_on', fields.DateField()),
                ('extended_reason', fields.CharField(null=True, max_length=500)),
                ('notes', fields.TextField(null=True, unique=False)),
                ('outcome', fields.CharField(null=True, max_length=500)),
                ('handled_by', fields.ForeignKeyField('crm.User', source_field='handled_by_id', null=True, db_constraint=True, to_field='id', related_name='rights_requests_handled', on_delete=OnDelete.SET_NULL)),
                ('created_by', fields.ForeignKeyField('crm.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='rights_requests_created', on_delete=OnDelete.SET_NULL)),
                ('reminded_on', fields.DateField(null=True)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'rights_request', 'app': 'crm', 'indexes': [Index(fields=['status', 'due_on'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Lead',
            name='anonymised_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Lead',
            name='inactive_flagged_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Lead',
            name='keep_reason',
            field=fields.CharField(null=True, max_length=200),
        ),
        ops.AddField(
            model_name='Lead',
            name='keep_until',
            field=fields.DateField(null=True),
        ),
    ]
