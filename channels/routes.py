"""Every HTTP route of the channels package, mounted by crm.app: the provider webhooks
(CONTRACT §3), the messages and conversations API, and the inbox pages."""

from __future__ import annotations

from fastapi import FastAPI


def install_channels(app: FastAPI) -> None:
    from channels.api import router as api_router
    from channels.web_inbox import router as inbox_router
    from channels.webhooks_telegram import router as telegram_router
    from channels.webhooks_twilio import router as twilio_router

    app.include_router(twilio_router)
    app.include_router(telegram_router)
    app.include_router(api_router)
    app.include_router(inbox_router, include_in_schema=False)

    # The inbox thread is one per person: merging two records of a person folds the merged
    # one's thread into the kept one's with the channels' own rule.
    from channels.telegram_link import merge_conversation
    from crm.people.merge import register_combiner

    register_combiner(
        "Conversation", lambda kept, merged: merge_conversation(merged.lead_id, kept.lead_id)
    )
