from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('crm', '0001_initial')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Lead',
            index=Index(fields=['stage', 'language']),
        ),
        ops.AlterField(
            model_name='LeadSegment',
            name='code',
            field=fields.CharField(max_length=40),
        ),
        ops.AddIndex(
            model_name='LeadSegment',
            index=Index(fields=['code', 'lead_id']),
        ),
    ]
