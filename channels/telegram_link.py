"""Linking a Telegram chat to the person who owns the phone number it shared.

The first message from a chat creates a provisional person; when the chat then shares its own
phone number and someone else already has it, the chat (and its messages, consents and inbox
thread) moves to that person."""

from __future__ import annotations

import logging
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from channels import outbox
from channels.models import Conversation, InboundMessage, OutboxMessage
from crm.audit import service as audit
from crm.people import pathway
from crm.people.models import ConsentRecord, Lead, LeadSegment, LeadSource, LeadStageChange, Stage

log = logging.getLogger("passerelle.telegram")

LANGUAGE_KEY = "tg-language:"  # a person who picked a language with the buttons


# ---- linking a chat to the person who owns the shared phone -----------------------------------

# Rows that belong to the chat and follow it to the person (the inbox thread is merged); rows
# that only describe the provisional record itself go with it. Any other row pointing at the
# provisional lead (an interaction, a referral, a table added later) means staff worked on it:
# it is then kept, marked lost, and its rows stay where they are.
_FOLLOW_THE_CHAT = {"inbound": InboundMessage, "outbox": OutboxMessage, "consents": ConsentRecord}
_HANDLED = {*_FOLLOW_THE_CHAT, "conversation", "stage_changes", "segment_links"}


async def link_shared_phone(lead: Lead, phone: str, chat_id: int) -> Lead:
    """Give the chat's person the phone, or hand the chat to the person who already has it.
    Returns the person who holds the chat afterwards."""
    owner = await Lead.get_or_none(phone=phone)
    if owner is None:
        if lead.phone is None:
            try:
                async with in_transaction():  # a savepoint: a lost race must not abort the update
                    await Lead.filter(id=lead.id).update(phone=phone, updated_at=outbox.now())
            except IntegrityError:
                log.warning("telegram contact: phone %s taken meanwhile", phone)
                return lead
            lead.phone = phone
            await _audit(lead.id, "lead.update", phone=phone, by="telegram shared contact")
        elif lead.phone != phone:
            await _audit(lead.id, "telegram.contact_differs", shared_phone=phone)
        return lead
    if owner.id == lead.id:
        return lead
    if owner.telegram_chat_id not in (None, chat_id):
        # The phone's person already has another chat: two accounts are for staff to sort out.
        await _audit(lead.id, "telegram.link_refused", phone_owner=owner.id, shared_phone=phone)
        return lead
    return await _hand_over(lead, owner, chat_id)


async def _hand_over(lead: Lead, owner: Lead, chat_id: int) -> Lead:
    disposable = await _only_chat_rows(lead)
    # The chat's facts fill the person's gaps (never overwrite what staff recorded), except the
    # language the person picked with our buttons: their own word beats our guess.
    filled = {
        key: getattr(lead, key)
        for key in ("event_id", "referring_partner_id", "language", "last_name")
        if getattr(lead, key) is not None and getattr(owner, key) is None
    }
    picked = await _picked_language(lead.id)
    if picked and picked != owner.language:
        filled["language"] = picked
    now = outbox.now()
    async with in_transaction():
        await Lead.filter(id=lead.id).update(telegram_chat_id=None, updated_at=now)
        await Lead.filter(id=owner.id).update(telegram_chat_id=chat_id, **filled, updated_at=now)
        moved: dict[str, int] = {}
        if disposable:
            for name, model in _FOLLOW_THE_CHAT.items():
                moved[name] = await model.filter(lead_id=lead.id).update(lead_id=owner.id)
            await merge_conversation(lead.id, owner.id)
            await LeadStageChange.filter(lead_id=lead.id).delete()
            await LeadSegment.filter(lead_id=lead.id).delete()
            await Lead.filter(id=lead.id).delete()
        else:
            reason = f"merged into lead {owner.id} (shared contact)"
            await Lead.filter(id=lead.id).update(
                stage=Stage.LOST, lost_reason=reason, updated_at=now
            )
            await LeadStageChange.create(
                lead_id=lead.id, from_stage=lead.stage, to_stage=Stage.LOST, reason=reason, at=now
            )
            await pathway.advance(lead.id, Stage.LOST, now)
        outcome = "deleted" if disposable else "kept as lost"
        why = "the person shared their own Telegram contact; this phone belongs to that lead"
        await _audit(
            owner.id,
            "lead.telegram_linked",
            telegram_chat_id=chat_id,
            from_lead=lead.id,
            provisional_lead=outcome,
            moved=moved,
            filled=filled,
            reason=why,
        )
        await _audit(lead.id, "lead.merged", into_lead=owner.id, outcome=outcome, reason=why)
    owner.telegram_chat_id = chat_id
    for key, value in filled.items():
        setattr(owner, key, value)
    return owner


async def _picked_language(lead_id: int) -> str | None:
    row = await (
        OutboxMessage.filter(lead_id=lead_id, idempotency_key__startswith=LANGUAGE_KEY)
        .order_by("-id")
        .first()
        .values_list("language", flat=True)
    )
    return row or None


async def _only_chat_rows(lead: Lead) -> bool:
    """True when the lead is a record the bot made for this chat and nobody added to since."""
    if lead.source != LeadSource.TELEGRAM or lead.phone or lead.email:
        return False
    meta = Lead._meta
    for name in meta.backward_fk_fields | meta.backward_o2o_fields:
        if name in _HANDLED:
            continue
        relation: Any = meta.fields_map[name]
        if await relation.related_model.filter(**{relation.relation_field: lead.id}).exists():
            return False
    return True


async def merge_conversation(source_id: int, target_id: int) -> None:
    """Fold one person's inbox thread into another's (a Telegram chat found to be a known
    person, a merge of two records): unread counts summed, the newer preview kept."""
    source = await Conversation.get_or_none(lead_id=source_id)
    if source is None:
        return
    target = await Conversation.get_or_none(lead_id=target_id)
    if target is None:
        await Conversation.filter(id=source.id).update(lead_id=target_id)
        return
    newer = source if source.last_message_at >= target.last_message_at else target
    inbound = [t for t in (source.last_inbound_at, target.last_inbound_at) if t is not None]
    await source.delete()
    await Conversation.filter(id=target.id).update(
        last_message_at=newer.last_message_at,
        last_channel=newer.last_channel,
        preview=newer.preview,
        last_inbound_at=max(inbound) if inbound else None,
        unread=source.unread + target.unread,
    )


async def _audit(lead_id: int, action: str, **changes: Any) -> None:
    await audit.record(
        None, action, entity="lead", entity_id=lead_id, lead_id=lead_id, changes=changes
    )
