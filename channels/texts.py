"""What the product itself says to a person, in French, Dutch and German.

These are messages to prospects (not the staff UI's gettext catalogue): short, plain, and each
one tells the person what they can do next."""

from __future__ import annotations

from datetime import datetime

from babel.dates import format_datetime

from crm.config import settings

DEFAULT_LANGUAGE = "fr"
LANGUAGE_NAMES = {"fr": "Français", "nl": "Nederlands", "de": "Deutsch"}

TEXTS: dict[str, dict[str, str]] = {
    "opt_out_confirmed": {
        "fr": "C'est noté : vous ne recevrez plus nos messages {channel}. "
        "Pour les recevoir à nouveau, envoyez START.",
        "nl": "Genoteerd: u ontvangt geen {channel}-berichten meer van ons. "
        "Stuur START om ze opnieuw te ontvangen.",
        "de": "Verstanden: Sie erhalten keine {channel}-Nachrichten mehr von uns. "
        "Senden Sie START, um sie wieder zu erhalten.",
    },
    "opt_in_confirmed": {
        "fr": "Bienvenue à nouveau ! Vous recevrez nos messages. Envoyez STOP pour arrêter.",
        "nl": "Welkom terug! U ontvangt opnieuw onze berichten. Stuur STOP om te stoppen.",
        "de": "Willkommen zurück! Sie erhalten wieder unsere Nachrichten. "
        "Senden Sie STOP zum Abmelden.",
    },
    "after_hours": {
        "fr": "Merci pour votre message ! Notre équipe vous répondra dès {opening}.",
        "nl": "Bedankt voor uw bericht! Ons team antwoordt u vanaf {opening}.",
        "de": "Danke für Ihre Nachricht! Unser Team antwortet Ihnen ab {opening}.",
    },
    "greeting": {
        "fr": "Bonjour {first_name} ! Ici {organisation}. Vous avez un projet d'entreprise ? "
        "Nous pouvons vous aider (microcrédit et accompagnement gratuit). "
        "Dans quelle langue voulez-vous nos messages ?",
        "nl": "Hallo {first_name}! Hier {organisation}. Heeft u een idee voor een eigen zaak? "
        "Wij helpen u graag (microkrediet en gratis begeleiding). "
        "In welke taal wilt u onze berichten?",
        "de": "Hallo {first_name}! Hier ist {organisation}. Haben Sie eine Geschäftsidee? "
        "Wir helfen Ihnen gern (Mikrokredit und kostenlose Begleitung). "
        "In welcher Sprache möchten Sie unsere Nachrichten?",
    },
    "language_set": {
        "fr": "Parfait, nous vous écrirons en français. Pour qu'un conseiller puisse aussi "
        "vous appeler, partagez votre numéro avec le bouton ci-dessous. Envoyez /stop pour "
        "ne plus recevoir de messages.",
        "nl": "Prima, we schrijven u in het Nederlands. Deel uw nummer met de knop hieronder, "
        "zodat een adviseur u ook kan bellen. Stuur /stop om geen berichten meer te krijgen.",
        "de": "Gut, wir schreiben Ihnen auf Deutsch. Teilen Sie Ihre Nummer mit der "
        "Schaltfläche unten, damit ein Berater Sie auch anrufen kann. Senden Sie /stop, um "
        "keine Nachrichten mehr zu erhalten.",
    },
    "share_contact_button": {
        "fr": "📞 Partager mon numéro",
        "nl": "📞 Mijn nummer delen",
        "de": "📞 Meine Nummer teilen",
    },
    "contact_thanks": {
        "fr": "Merci ! Un conseiller vous contactera bientôt.",
        "nl": "Bedankt! Een adviseur neemt binnenkort contact met u op.",
        "de": "Danke! Ein Berater meldet sich bald bei Ihnen.",
    },
    # Someone texted an event's keyword: the stand page promised them our news by SMS.
    "event_welcome": {
        "fr": "{organisation} : bienvenue ! Vous recevrez nos nouvelles par SMS (microcrédit, "
        "accompagnement gratuit). Envoyez STOP pour ne plus les recevoir.",
        "nl": "{organisation}: welkom! U ontvangt ons nieuws per sms (microkrediet, gratis "
        "begeleiding). Stuur STOP om het niet meer te ontvangen.",
        "de": "{organisation}: willkommen! Sie erhalten unsere Neuigkeiten per SMS (Mikrokredit, "
        "kostenlose Begleitung). Senden Sie STOP zum Abmelden.",
    },
    "opt_out_hint_sms": {
        "fr": "STOP pour ne plus recevoir",
        "nl": "STOP om uit te schrijven",
        "de": "STOP zum Abmelden",
    },
    "opt_out_hint_telegram": {
        "fr": "/stop pour ne plus recevoir",
        "nl": "/stop om uit te schrijven",
        "de": "/stop zum Abmelden",
    },
}

_CHANNEL_WORD = {
    "sms": {"fr": "SMS", "nl": "sms", "de": "SMS"},
    "telegram": {"fr": "Telegram", "nl": "Telegram", "de": "Telegram"},
}


def language_or_default(language: str | None) -> str:
    return language if language in LANGUAGE_NAMES else DEFAULT_LANGUAGE


def text(key: str, language: str | None, **values: str) -> str:
    lang = language_or_default(language)
    values.setdefault("organisation", settings.ORGANISATION_NAME)
    return TEXTS[key][lang].format(**values)


def channel_word(channel: str, language: str | None) -> str:
    return _CHANNEL_WORD[channel][language_or_default(language)]


def opening_phrase(opening: datetime, language: str | None) -> str:
    """ "lundi 24 novembre à 09:00" in the person's language and the business time zone."""
    lang = language_or_default(language)
    pattern = {
        "fr": "EEEE d MMMM 'à' HH:mm",
        "nl": "EEEE d MMMM 'om' HH:mm",
        "de": "EEEE, d. MMMM 'um' HH:mm",
    }[lang]
    return format_datetime(opening, pattern, tzinfo=settings.tz, locale=lang)
