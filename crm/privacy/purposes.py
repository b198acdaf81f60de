"""The processing purposes of this CRM and their legal bases (GDPR Art. 6 and 9), written once as
data. The Art. 30 register (`crm.privacy.register`) is generated from these declarations and from
the models and settings, so code and register cannot drift: every consent purpose of the consent
ledger is linked to a purpose here, and every field of a person's record and every table about
them is in a category of data (tests fail otherwise).

Texts are English and only marked here (`N_`) for `pybabel extract`; the register page
translates them at render time."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from crm.enums import Role
from crm.people import pathway
from crm.people.models import ConsentPurpose


def N_(message: str) -> str:  # noqa: N802 - the name pybabel looks for
    return message


class LegalBasis(StrEnum):
    # GDPR Art. 6(1): the lawful bases this CRM relies on.
    CONSENT = "consent"  # (a)
    CONTRACT = "contract"  # (b), steps before a contract at the person's request
    LEGAL_OBLIGATION = "legal_obligation"  # (c)
    LEGITIMATE_INTEREST = "legitimate_interest"  # (f)


class SpecialCategoryBasis(StrEnum):
    # GDPR Art. 9(2): the condition for a special category of data.
    EXPLICIT_CONSENT = "explicit_consent"  # (a)


BASES: dict[str, tuple[str, str]] = {
    # code -> (article, name)
    LegalBasis.CONSENT: (N_("GDPR Art. 6(1)(a)"), N_("Consent")),
    LegalBasis.CONTRACT: (
        N_("GDPR Art. 6(1)(b)"),
        N_("Steps before a contract, at the person's request"),
    ),
    LegalBasis.LEGAL_OBLIGATION: (N_("GDPR Art. 6(1)(c)"), N_("Legal obligation")),
    LegalBasis.LEGITIMATE_INTEREST: (N_("GDPR Art. 6(1)(f)"), N_("Legitimate interest")),
    SpecialCategoryBasis.EXPLICIT_CONSENT: (N_("GDPR Art. 9(2)(a)"), N_("Explicit consent")),
}


@dataclass(frozen=True)
class Purpose:
    """One purpose of processing: what is done, on which legal basis and why that basis, about
    whom, with which data, shared with whom, kept how long (codes of the tables below)."""

    code: str
    name: str
    description: str
    basis: LegalBasis
    basis_reason: str
    data_subjects: tuple[str, ...]
    data_categories: tuple[str, ...]
    recipients: tuple[str, ...]
    retention: tuple[str, ...]
    # The consent ledger's purposes (crm.people.models.ConsentPurpose) this purpose rests on.
    consent_purposes: tuple[ConsentPurpose, ...] = ()
    special_category_basis: SpecialCategoryBasis | None = None
    special_category_reason: str | None = None


PURPOSES: tuple[Purpose, ...] = (
    Purpose(
        code="outreach",
        name=N_("Outreach: recording and following up the people reached"),
        description=N_(
            "Who was reached where, by whom and through which partner, and the follow-up of "
            "people who gave their details to be contacted."
        ),
        basis=LegalBasis.LEGITIMATE_INTEREST,
        basis_reason=N_(
            "Reaching people who may start a business is the organisation's mission. The person "
            "gave their details to be contacted; only what they gave is kept, inactive records "
            "are anonymised and an objection ends it."
        ),
        data_subjects=("prospects",),
        data_categories=("identity_contact", "pathway", "record_keeping"),
        recipients=("staff",),
        retention=("people", "import_rows", "sync_receipts"),
    ),
    Purpose(
        code="pathway",
        name=N_("The pathway towards microcredit and coaching"),
        description=N_(
            "Contacts, info sessions, the application, coaching and financing of a person who "
            "asked for them, and the answers to their messages."
        ),
        basis=LegalBasis.CONTRACT,
        basis_reason=N_(
            "Steps taken at the person's request before a microcredit or coaching agreement."
        ),
        data_subjects=("prospects",),
        data_categories=("identity_contact", "pathway", "messages", "record_keeping"),
        recipients=("staff", "processors"),
        retention=("people", "sync_receipts"),
    ),
    Purpose(
        code="messages_sms",
        name=N_("Messages and campaigns by SMS"),
        description=N_("Information and campaign messages sent by SMS, and the replies."),
        basis=LegalBasis.CONSENT,
        basis_reason=N_(
            "Prior consent to electronic messages (Belgian Code of Economic Law, Art. XII.13), "
            "withdrawn at any time, e.g. by answering STOP."
        ),
        data_subjects=("prospects",),
        data_categories=("identity_contact", "consent", "messages"),
        recipients=("staff", "processors"),
        retention=("people",),
        consent_purposes=(ConsentPurpose.SMS,),
    ),
    Purpose(
        code="messages_telegram",
        name=N_("Messages and campaigns on Telegram"),
        description=N_("Information and campaign messages sent through the Telegram bot."),
        basis=LegalBasis.CONSENT,
        basis_reason=N_(
            "The person's consent, given when they start the bot or beforehand, withdrawn at "
            "any time with /stop."
        ),
        data_subjects=("prospects",),
        data_categories=("identity_contact", "consent", "messages"),
        recipients=("staff", "processors"),
        retention=("people",),
        consent_purposes=(ConsentPurpose.TELEGRAM,),
    ),
    Purpose(
        code="messages_email",
        name=N_("Messages by e-mail"),
        description=N_("Information and invitations sent by e-mail."),
        basis=LegalBasis.CONSENT,
        basis_reason=N_(
            "Prior consent to electronic messages (Belgian Code of Economic Law, Art. XII.13), "
            "withdrawn at any time."
        ),
        data_subjects=("prospects",),
        data_categories=("identity_contact", "consent"),
        recipients=("staff",),
        retention=("people",),
        consent_purposes=(ConsentPurpose.EMAIL,),
    ),
    Purpose(
        code="referrals",
        name=N_("Referrals to and from partner organisations"),
        description=N_(
            "Passing a person's details to a partner organisation (CPAS, employment service, "
            "NGO…) or receiving them from one, and telling the sender what became of it."
        ),
        basis=LegalBasis.CONSENT,
        basis_reason=N_(
            "The person agrees to their details being passed on; a referral without consent is "
            "refused."
        ),
        data_subjects=("prospects", "partner_users"),
        data_categories=("identity_contact", "referrals", "consent"),
        recipients=("staff", "partners"),
        retention=("people", "webhook_payloads"),
        consent_purposes=(ConsentPurpose.SHARE_WITH_PARTNERS,),
    ),
    Purpose(
        code="funder_reporting",
        name=N_("Reporting to funders"),
        description=N_(
            "Figures on the people reached, coached and financed, by period, programme and "
            "population, for the funders of the free service."
        ),
        basis=LegalBasis.LEGITIMATE_INTEREST,
        basis_reason=N_(
            "The organisation must account for the subsidies that fund its service. Only "
            "aggregate figures leave the CRM, never a person, and the details asked for funders "
            "are optional."
        ),
        data_subjects=("prospects",),
        data_categories=("pathway", "funder_details", "special_category"),
        recipients=("staff", "funders"),
        retention=("people",),
        special_category_basis=SpecialCategoryBasis.EXPLICIT_CONSENT,
        special_category_reason=N_(
            "The self-declared background is close to ethnic origin: asked only where a funder "
            "requires it, optional ('undisclosed' is an answer) and with the person's explicit "
            "consent; never used to select an audience, hidden from marketing."
        ),
    ),
    Purpose(
        code="success_stories",
        name=N_("Success stories in campaigns"),
        description=N_(
            "An entrepreneur's first name, sector, town and testimony told in campaign messages."
        ),
        basis=LegalBasis.CONSENT,
        basis_reason=N_(
            "The entrepreneur's own consent to tell their story, with an end date after which "
            "the story leaves every campaign."
        ),
        data_subjects=("entrepreneurs",),
        data_categories=("story",),
        recipients=("staff", "processors"),
        retention=("stories",),
    ),
    Purpose(
        code="rights_requests",
        name=N_("Answering the people's rights requests"),
        description=N_(
            "The register of access, rectification, erasure and objection requests, with their "
            "deadlines and answers."
        ),
        basis=LegalBasis.LEGAL_OBLIGATION,
        basis_reason=N_(
            "GDPR Art. 12 to 22 oblige the organisation to answer within one month and to show "
            "that it did."
        ),
        data_subjects=("prospects", "entrepreneurs"),
        data_categories=("identity_contact", "rights_requests"),
        recipients=("staff",),
        retention=("rights_requests",),
    ),
    Purpose(
        code="accounts_audit",
        name=N_("Staff and partner accounts, security and the audit trail"),
        description=N_(
            "Accounts and roles, sign-in protection, and the audit trail of who saw, changed or "
            "exported people's data."
        ),
        basis=LegalBasis.LEGAL_OBLIGATION,
        basis_reason=N_(
            "Security and accountability are obligations of the controller (GDPR Art. 5(2), 24 "
            "and 32): knowing who saw or changed a person's data."
        ),
        data_subjects=("staff", "partner_users"),
        data_categories=("accounts", "audit"),
        recipients=("staff",),
        retention=("sessions", "api_tokens", "audit"),
    ),
)

DATA_SUBJECTS: dict[str, str] = {
    "prospects": N_("People reached by outreach (prospective entrepreneurs)"),
    "entrepreneurs": N_("Entrepreneurs who tell their story"),
    "staff": N_("Staff and community agents"),
    "partner_users": N_("Users at partner organisations"),
}

# Categories of personal data; `special` ones fall under GDPR Art. 9.
DATA_CATEGORIES: dict[str, str] = {
    "identity_contact": N_("Identity and contact details"),
    "pathway": N_("Pathway, follow-up and notes"),
    "funder_details": N_("Details for funders' reports (optional)"),
    "special_category": N_("Self-declared background (special category)"),
    "record_keeping": N_("Record keeping: dates, merges, retention marks"),
    "consent": N_("Consent ledger"),
    "messages": N_("Messages in and out"),
    "referrals": N_("Referrals and their history"),
    "rights_requests": N_("Rights requests"),
    "story": N_("Success story: first name, sector, town, testimony"),
    "accounts": N_("Accounts: name, e-mail, role, sign-ins"),
    "audit": N_("Audit trail: who saw, changed or exported what, and when"),
}
SPECIAL_CATEGORIES = frozenset({"special_category"})

# Every field of a person's record (`Lead`), by category. The register lists the model's own
# fields: one missing here shows as uncategorised (and a test fails).
LEAD_FIELDS: dict[str, tuple[str, ...]] = {
    "identity_contact": (
        "first_name",
        "last_name",
        "phone",
        "email",
        "telegram_chat_id",
        "language",
        "postcode",
        "region",
    ),
    "pathway": (
        "stage",
        "lost_reason",
        "source",
        "event_id",
        "referring_partner_id",
        "assigned_agent_id",
        "reached_by_id",
        *pathway.COLUMNS,  # the milestones, as the pathway keeps them
        "project_summary",
        "project_sector",
        "notes",
        "follow_up_on",
        "last_contacted_at",
    ),
    "funder_details": (
        "gender",
        "birth_year",
        "employment_status",
        "social_assistance",
        "jobs_created",
        "jobs_kept",
    ),
    "special_category": ("background",),
    "record_keeping": (
        "id",
        "inactive_flagged_at",
        "keep_until",
        "keep_reason",
        "anonymised_at",
        "created_at",
        "updated_at",
    ),
}

# Every table that holds rows about a person (found from the ORM's relations to Lead), by
# category. One missing here shows as uncategorised (and a test fails).
LEAD_TABLES: dict[str, str] = {
    "consent_record": "consent",
    "conversation": "messages",
    "inbound_message": "messages",
    "outbox_message": "messages",
    "interaction": "pathway",
    "event_registration": "pathway",
    "lead_segment": "pathway",
    "lead_stage_change": "pathway",
    "referral": "referrals",
    "rights_request": "rights_requests",
    "audit_entry": "audit",
    "lead_merge": "record_keeping",
    "duplicate_dismissal": "record_keeping",
    "import_row_report": "record_keeping",
    "sync_receipt": "record_keeping",
}

# Tables of personal data about others than the people reached, by category.
OTHER_TABLES: dict[str, str] = {
    "success_story": "story",
    "app_user": "accounts",
    "api_token": "accounts",
    "login_throttle": "accounts",
}

# Who receives the data (Art. 30(1)(d)); the register details partners and processors.
RECIPIENTS: dict[str, str] = {
    "staff": N_("Staff of the organisation, by role"),
    "partners": N_("Partner organisations, for their own referrals"),
    "processors": N_("Messaging providers (processors) of the configured channels"),
    "funders": N_("Funders: aggregate figures only, never a person"),
}

# What each role sees of people (the internal recipients).
ROLE_ACCESS: dict[Role, str] = {
    Role.ADMIN: N_("Everything, including accounts, exports and rights requests"),
    Role.COORDINATOR: N_("Every person and their data, rights requests and this register"),
    Role.MARKETING: N_(
        "Audiences, campaigns and reports; never notes, project summaries or the self-declared "
        "background"
    ),
    Role.AGENT: N_("The people they reached, were assigned or talked to"),
    Role.PARTNER: N_("Only the people in their own organisation's referrals"),
}


def purpose_of(consent_purpose: ConsentPurpose) -> Purpose | None:
    """The purpose a consent of the ledger is given for."""
    return next((p for p in PURPOSES if consent_purpose in p.consent_purposes), None)
