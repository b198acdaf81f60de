"""A channel's consent as the dispatcher and the inbound handlers need it, read from and written
to the CRM's consent ledger (never a flag of our own)."""

from __future__ import annotations

from collections.abc import Iterable

from channels.models import Channel
from crm.auth.actor import Actor
from crm.people.models import ConsentPurpose, ConsentRecord, ConsentSource, Lead
from crm.people.schemas import ConsentIn
from crm.people.service import record_consent

PURPOSE = {Channel.SMS: ConsentPurpose.SMS, Channel.TELEGRAM: ConsentPurpose.TELEGRAM}
SOURCE = {Channel.SMS: ConsentSource.SMS, Channel.TELEGRAM: ConsentSource.TELEGRAM}


async def channel_consent(lead_ids: Iterable[int], channel: Channel) -> dict[int, bool]:
    """The latest ledger entry for the channel's purpose, per person; absent when none."""
    ids = list(set(lead_ids))
    if not ids:
        return {}
    latest: dict[int, bool] = {}
    rows = (
        await ConsentRecord.filter(lead_id__in=ids, purpose=PURPOSE[Channel(channel)])
        .order_by("recorded_at", "id")
        .values_list("lead_id", "granted")
    )
    for lead_id, granted in rows:
        latest[lead_id] = granted
    return latest


async def set_channel_consent(
    lead: Lead, channel: Channel, *, granted: bool, method: str, actor: Actor | None = None
) -> bool:
    """Write the change to the ledger when it is one; True when the state changed (so a second
    STOP is not confirmed twice)."""
    current = (await channel_consent([lead.id], channel)).get(lead.id)
    if current is granted:
        return False
    await record_consent(
        lead,
        ConsentIn(purpose=PURPOSE[channel], granted=granted, method=method),
        source=SOURCE[channel],
        actor=actor,
    )
    return True
