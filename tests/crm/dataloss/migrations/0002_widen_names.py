from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('crm', '0001_initial')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='Household',
            name='name',
            field=fields.CharField(max_length=120),
        ),
        ops.AlterField(
            model_name='Member',
            name='first_name',
            field=fields.CharField(max_length=120),
        ),
    ]
