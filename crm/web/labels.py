"""Translatable names of the stored codes (stages, sources, regions…) shown on the pages.

The strings are only marked here (`N_`) so that `pybabel extract` finds them; they are
translated at render time with the page's own translations (see `i18n.label_for`)."""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 - the name pybabel looks for
    return message


# How a person came to us (a lead's source; the origin families of the attribution too).
_SOURCES = {
    "event": N_("Outreach event"),
    "referral": N_("Partner referral"),
    "sms": N_("SMS"),
    "telegram": N_("Telegram"),
    "walk_in": N_("Walk-in"),
    "import": N_("Import"),
}

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
    "source": _SOURCES,
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
    "gender": {
        "female": N_("Woman"),
        "male": N_("Man"),
        "other": N_("Other gender"),
        "undisclosed": N_("Prefers not to say"),
    },
    # The funders' categories (ESF+ and regional programmes' participant tables).
    "employment_status": {
        "jobseeker": N_("Jobseeker"),
        "inactive": N_("Inactive (not working, not seeking work)"),
        "employed": N_("Employed"),
        "self_employed": N_("Self-employed"),
        "student": N_("Student"),
        "undisclosed": N_("Prefers not to say"),
    },
    # Self-declared, optional.
    "background": {
        "belgian": N_("No migrant background"),
        "migrant_eu": N_("Migrant background, EU"),
        "migrant_non_eu": N_("Migrant background, outside the EU"),
        "undisclosed": N_("Prefers not to say"),
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

# The reports' codes (crm.web.reports): added without replacing any entry above.
_REPORT_LABELS: dict[str, dict[str, str]] = {
    "event_kind": {
        "market_stand": N_("Market stand"),
        "shop_visit": N_("Shop visit"),
        "free_coffee": N_("Free coffee"),
        "info_session": N_("Info session"),
        "partner_session": N_("Session at a partner"),
        "community_event": N_("Community event"),
        "other": N_("Other"),
    },
    "indicator": {
        "people_reached": N_("People reached"),
        "leads": N_("Leads"),
        "info_sessions": N_("People at an info session"),
        "applications": N_("Applications"),
        "coached": N_("People coached"),
        "financed": N_("Businesses financed"),
        "jobs_created": N_("Jobs created"),
        "jobs_kept": N_("Jobs kept"),
        "referrals_received": N_("Referrals received from partners"),
        "referrals_sent": N_("Referrals sent to partners"),
        "share_women": N_("Share of women"),
        "share_under_26": N_("Share under 26"),
        "share_over_50": N_("Share aged 50 and over"),
        "share_migrant_background": N_("Share with a migrant background"),
        "share_social_assistance": N_("Share receiving social assistance"),
    },
    # The breakdown tables funders ask for, and their values.
    "breakdown": {
        "gender": N_("Gender"),
        "age_bracket": N_("Age bracket"),
        "employment_status": N_("Employment status"),
        "background": N_("Background"),
        "social_assistance": N_("Social assistance"),
    },
    "age_bracket": {
        "under_26": N_("Under 26"),
        "26_49": N_("26 to 49"),
        "50_plus": N_("50 and over"),
        "unknown": N_("Not recorded"),
    },
    "social_assistance": {
        "yes": N_("Receives social assistance"),
        "no": N_("No social assistance"),
        "unknown": N_("Not recorded"),
    },
    "gender": {"unknown": N_("Not recorded")},
    "employment_status": {"unknown": N_("Not recorded")},
    "background": {"unknown": N_("Not recorded")},
    "population": {
        "reached": N_("People reached"),
        "coached": N_("People coached"),
        "financed": N_("People financed"),
    },
    "basis": {
        "cohort": N_("Cohort: the people reached in the period"),
        "activity": N_("Activity: what happened in the period"),
    },
    # What the funnel can be compared by.
    "dimension": {
        "region": N_("Region"),
        "postcode": N_("Postcode"),
        "event": N_("Outreach event"),
        "event_kind": N_("Kind of event"),
        "partner": N_("Partner"),
        "agent": N_("Agent"),
        "language": N_("Language"),
        "segment": N_("Segment"),
        "source": N_("Source"),
        "origin": N_("Origin"),
        "campaign": N_("Campaign"),
    },
    # Where a person came from (attribution), by family.
    "origin_kind": {**_SOURCES, "unknown": N_("Not recorded")},
    # The campaign results' figures.
    "campaign_measure": {
        "audience": N_("Recipients"),
        "sent": N_("Sent"),
        "delivered": N_("Delivered"),
        "failed": N_("Failed"),
        "replied": N_("Replied"),
        "opted_out": N_("Opted out"),
        "went_further": N_("Went further on the pathway"),
    },
    "campaign_channel": {
        "sms": N_("SMS"),
        "telegram": N_("Telegram"),
        "preferred": N_("Telegram, else SMS"),
    },
}
for _kind, _names in _REPORT_LABELS.items():
    for _code, _name in _names.items():
        LABELS.setdefault(_kind, {}).setdefault(_code, _name)
