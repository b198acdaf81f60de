"""Translatable names of the stored codes (stages, sources, regions…) shown on the pages.

The strings are only marked here (`N_`) so that `pybabel extract` finds them; they are
translated at render time with the page's own translations (see `i18n.label_for`)."""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 - the name pybabel looks for
    return message


LABELS: dict[str, dict[str, str]] = {
    "stage": {
        "reached": N_("Reached"),
        "lead": N_("Lead"),
        "contacted": N_("Contacted"),
        "info_session": N_("Info session"),
        "application": N_("Application"),
        "coached": N_("Coached"),
        "financed": N_("Financed"),
        "redirected": N_("Redirected to a partner"),
        "lost": N_("Lost"),
    },
    "source": {
        "event": N_("Outreach event"),
        "referral": N_("Partner referral"),
        "sms": N_("SMS"),
        "telegram": N_("Telegram"),
        "walk_in": N_("Walk-in"),
        "import": N_("Import"),
    },
    # The languages people speak with us (the UI languages are named in their own language).
    "language": {
        "fr": N_("French"),
        "nl": N_("Dutch"),
        "de": N_("German"),
        "en": N_("English"),
    },
    "region": {
        "brussels": N_("Brussels-Capital"),
        "flanders": N_("Flanders"),
        "wallonia": N_("Wallonia"),
        "german_speaking": N_("German-speaking Community"),
    },
    "purpose": {
        "sms": N_("SMS messages"),
        "telegram": N_("Telegram messages"),
        "email": N_("E-mails"),
        "share_with_partners": N_("Sharing with partners"),
    },
    "consent_source": {
        "event": N_("at an event"),
        "api": N_("through the API"),
        "web": N_("on the web"),
        "referral": N_("by a partner"),
        "sms": N_("by SMS"),
        "telegram": N_("on Telegram"),
        "import": N_("by import"),
    },
    "interaction_kind": {
        "contact": N_("Contact"),
        "call": N_("Phone call"),
        "message": N_("Message"),
        "meeting": N_("Meeting"),
        "info_session": N_("Info session"),
        "follow_up": N_("Follow-up"),
        "note": N_("Note"),
    },
    "channel": {
        "in_person": N_("In person"),
        "phone": N_("Phone"),
        "sms": N_("SMS"),
        "telegram": N_("Telegram"),
        "email": N_("E-mail"),
        "other": N_("Other"),
    },
    "referral_status": {
        "requested": N_("requested"),
        "accepted": N_("accepted"),
        "rejected": N_("rejected"),
        "in_progress": N_("in progress"),
        "completed": N_("completed"),
        "redirected": N_("redirected"),
        "cancelled": N_("cancelled"),
        "expired": N_("expired"),
    },
    "referral_purpose": {
        "business_creation": N_("Business creation"),
        "microcredit": N_("Microcredit"),
        "coaching": N_("Coaching"),
        "social_support": N_("Social support"),
        "employment": N_("Employment"),
        "training": N_("Training"),
        "other": N_("Other"),
    },
    # Why a referral was turned down, cancelled or redirected.
    "referral_reason": {
        "not_eligible": N_("Not eligible"),
        "no_capacity": N_("No capacity"),
        "could_not_contact": N_("Could not contact the person"),
        "out_of_area": N_("Out of our area"),
        "person_declined": N_("The person declined"),
        "other": N_("Other reason"),
    },
    # What became of the person, told to the sender when a referral is completed.
    "referral_outcome": {
        "financed": N_("Financed"),
        "coached": N_("Coached"),
        "business_started": N_("Business started"),
        "employed": N_("Found a job"),
        "training": N_("In training"),
        "social_support": N_("Social support"),
        "no_further_action": N_("No further action"),
        "other": N_("Other outcome"),
    },
    # How a person gave their consent to a referral.
    "consent_method": {
        "verbal": N_("Verbally"),
        "written": N_("In writing"),
        "signed_form": N_("Signed form"),
    },
    "timeline": {
        "interaction": N_("Interaction"),
        "stage_change": N_("Stage"),
        "consent": N_("Consent"),
        "referral": N_("Referral"),
        "message_in": N_("Message received"),
        "message_out": N_("Message sent"),
        "merge": N_("Records merged"),
    },
}

# The language switch: each UI language under its own name.
UI_LANGUAGE_NAMES: dict[str, str] = {
    "fr": "Français",
    "nl": "Nederlands",
    "de": "Deutsch",
    "en": "English",
}
