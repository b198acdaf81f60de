from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class RequestKind(StrEnum):
    # The rights of the person (GDPR Art. 15-21) a request can invoke.
    ACCESS = "access"  # Art. 15: a copy of everything held
    PORTABILITY = "portability"  # Art. 20: the same, machine-readable
    RECTIFICATION = "rectification"  # Art. 16
    ERASURE = "erasure"  # Art. 17
    OBJECTION = "objection"  # Art. 21: no more marketing
    RESTRICTION = "restriction"  # Art. 18


class RequestStatus(StrEnum):
    OPEN = "open"
    EXTENDED = "extended"  # the deadline moved by up to two months (Art. 12(3)), with a reason
    DONE = "done"
    REFUSED = "refused"  # with the reason (e.g. identity not confirmed, legal obligation)


class RequestChannel(StrEnum):
    IN_PERSON = "in_person"
    LETTER = "letter"
    EMAIL = "email"
    PHONE = "phone"
    SMS = "sms"
    TELEGRAM = "telegram"
    PARTNER = "partner"  # passed on by a partner organisation


class RightsRequest(Model):
    # One request of a person about their data, with its legal deadline: one month from receipt,
    # extendable by two further months. The register is kept after the person is erased (it
    # proves the request was answered), without what would identify them.

    id = fields.IntField(primary_key=True)
    lead = fields.ForeignKeyField(
        "crm.Lead", related_name="rights_requests", null=True, on_delete=fields.RESTRICT
    )
    kind = fields.CharEnumField(RequestKind, max_length=20)
    status = fields.CharEnumField(RequestStatus, max_length=10, default=RequestStatus.OPEN)
    received_via = fields.CharEnumField(RequestChannel, max_length=10)
    received_at = fields.DatetimeField()
    # Who asked, when it is not the person themself (a lawyer, a social worker), or how the
    # person named themself before being found in the CRM.
    requester = fields.CharField(max_length=200, null=True)
    identity_checked = fields.BooleanField(default=False)
    due_on = fields.DateField()  # received + one month, or the extended date
    extended_reason = fields.CharField(max_length=500, null=True)
    notes = fields.TextField(null=True)
    outcome = fields.CharField(max_length=500, null=True)  # what was done, or why refused
    handled_by = fields.ForeignKeyField(
        "crm.User", related_name="rights_requests_handled", null=True, on_delete=fields.SET_NULL
    )
    created_by = fields.ForeignKeyField(
        "crm.User", related_name="rights_requests_created", null=True, on_delete=fields.SET_NULL
    )
    reminded_on = fields.DateField(null=True)  # the last reminder sent to the handlers
    closed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "rights_request"
        indexes = (("status", "due_on"),)
