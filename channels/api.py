"""The messages and conversations API (`/api/v1`): a person's messages in and out, staff
replies, resends, the inbox's threads, and the SMS segment counter.

Who may do what: every staff role reads messages and threads (marketing needs the replies to
its campaigns); answering a person, resending, marking read and assigning belong to those who
answer people (admin, coordinator, agent). Partner keys never see messages (403). Rules live in
`channels.conversations`; this module parses, authorizes and shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from channels import conversations as service
from channels.models import Channel, OutboxMessage
from channels.runtime import wake_dispatcher
from channels.schemas import (
    AssignIn,
    ConversationOut,
    MessageCreate,
    MessageOut,
    SegmentsIn,
    SegmentsOut,
)
from crm.auth.deps import FieldActor, StaffActor
from crm.people.service import get_visible_lead
from crm.privacy.view_audit import record_view
from crm.schemas import Page, PageParams, page_params

router = APIRouter(prefix="/api/v1", tags=["messages"])

# The messages join every person's timeline as soon as the routes exist.
service.register_timeline()

LeadId = Annotated[int, Path(ge=1, le=2**31 - 1)]
MessageId = Annotated[
    str, Path(max_length=20, description="`out-<n>` (or the outbox row's number)")
]
PageOf = Annotated[PageParams, Depends(page_params)]


def _message(row: OutboxMessage, status_code: int) -> JSONResponse:
    return JSONResponse(
        service.present_outbound(row).model_dump(mode="json"), status_code=status_code
    )


@router.get("/leads/{lead_id}/messages", response_model=Page[MessageOut])
async def list_messages(lead_id: LeadId, actor: StaffActor, page: PageOf) -> Page[MessageOut]:
    """Every message in and out, newest first. `id` is `out-<n>` or `in-<n>`."""
    lead = await get_visible_lead(actor, lead_id)
    await record_view(actor, lead.id, "messages")
    items, total = await service.list_messages(lead.id, limit=page.limit, offset=page.offset)
    return Page(items=items, total=total)


@router.post(
    "/leads/{lead_id}/messages",
    response_model=MessageOut,
    status_code=201,
    responses={
        200: {"model": MessageOut, "description": "this client_id was already used: the first"},
        409: {"description": "the person opted out of this channel"},
    },
)
async def send_message(
    lead_id: LeadId, data: MessageCreate, actor: FieldActor, request: Request
) -> JSONResponse:
    """Queue a reply to a person. It leaves at once (replies are not held by quiet hours);
    its status follows in the messages list."""
    lead = await get_visible_lead(actor, lead_id)
    row, created = await service.send_reply(
        lead, actor, body=data.body, channel=data.channel, client_id=data.client_id
    )
    if created:
        wake_dispatcher(request)
    return _message(row, 201 if created else 200)


@router.post(
    "/messages/{message_id}/resend",
    response_model=MessageOut,
    status_code=201,
    responses={
        200: {"model": MessageOut, "description": "already resent: that resend"},
        409: {"description": "the message was delivered, sent or is still on its way"},
    },
)
async def resend_message(
    message_id: MessageId, actor: FieldActor, request: Request
) -> JSONResponse:
    """Send again a message whose outcome is `unknown` or that `failed` (staff checked with
    the person first). Creates one new message, however often this is called."""
    row, created = await service.resend(actor, message_id)
    if created:
        wake_dispatcher(request)
    return _message(row, 201 if created else 200)


@router.get("/conversations", response_model=Page[ConversationOut])
async def list_conversations(
    actor: StaffActor,
    page: PageOf,
    unread: Annotated[bool | None, Query(description="true: only threads with unread")] = None,
    assigned_to: Annotated[
        str | None, Query(pattern=r"^(me|none|[1-9][0-9]{0,9})$", description="me, none or an id")
    ] = None,
    channel: Annotated[Channel | None, Query(description="the thread's last channel")] = None,
) -> Page[ConversationOut]:
    """Threads, newest first, of the people this caller may see."""
    filters = service.ConversationFilters(unread=unread, assigned_to=assigned_to, channel=channel)
    items, total = await service.list_conversations(
        actor, filters, limit=page.limit, offset=page.offset
    )
    return Page(items=items, total=total)


@router.post("/conversations/{lead_id}/read", response_model=ConversationOut)
async def mark_read(lead_id: LeadId, actor: FieldActor) -> ConversationOut:
    """Everything received so far has been read."""
    conversation, lead = await service.get_conversation(actor, lead_id)
    await service.mark_read(lead.id, seen_at=datetime.now(UTC))
    await conversation.refresh_from_db()
    return service.present_conversation(conversation, lead)


@router.post("/conversations/{lead_id}/assign", response_model=ConversationOut)
async def assign(lead_id: LeadId, data: AssignIn, actor: FieldActor) -> ConversationOut:
    """Give the thread to an active admin, coordinator or agent (`null`: to nobody)."""
    conversation, lead = await service.assign(actor, lead_id, data.user_id)
    return service.present_conversation(conversation, lead)


@router.post("/sms/segments", response_model=SegmentsOut)
async def count_segments(data: SegmentsIn, actor: StaffActor) -> SegmentsOut:
    """What an SMS body costs (encoding, segments) and, when letters such as ê force the
    costly Unicode encoding, the same text with look-alikes (ê → e) and its cost."""
    return service.segment_report(data.body)
