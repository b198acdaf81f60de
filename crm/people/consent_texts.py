"""The consent texts a person is shown when an agent asks for their consent, per purpose and
language, with a version. The version recorded in the ledger (`text_version`, e.g.
"2026-11/fr") names exactly which words the person agreed to, so old versions are never edited
or removed: a change of wording is a new version."""

from __future__ import annotations

from crm.config import settings
from crm.people.models import ConsentPurpose

# The purposes an agent asks about in the field, in the order the form shows them.
FIELD_PURPOSES = (
    ConsentPurpose.SMS,
    ConsentPurpose.TELEGRAM,
    ConsentPurpose.SHARE_WITH_PARTNERS,
)

CURRENT = "2026-11"
# The text a partner reads when referring a person to us (the portal): its own version, so the
# ledger names exactly those words.
INTAKE = "2026-11-intake"

# version → purpose → person's language → text. "{org}" is the organisation's name.
TEXTS: dict[str, dict[str, dict[str, str]]] = {
    "2026-11": {
        "sms": {
            "fr": "J'accepte que {org} m'envoie des SMS sur la création d'entreprise, le "
            "microcrédit et l'accompagnement. Je peux arrêter à tout moment en répondant STOP.",
            "nl": "Ik ga ermee akkoord dat {org} mij sms'jes stuurt over een eigen zaak starten, "
            "microkrediet en begeleiding. Ik kan altijd stoppen door STOP te antwoorden.",
            "de": "Ich bin einverstanden, dass {org} mir SMS über Unternehmensgründung, "
            "Mikrokredit und Begleitung schickt. Ich kann jederzeit mit STOP abbestellen.",
        },
        "telegram": {
            "fr": "J'accepte que {org} m'écrive sur Telegram à propos de la création "
            "d'entreprise, du microcrédit et de l'accompagnement. Je peux arrêter avec /stop.",
            "nl": "Ik ga ermee akkoord dat {org} mij via Telegram schrijft over een eigen zaak "
            "starten, microkrediet en begeleiding. Ik kan stoppen met /stop.",
            "de": "Ich bin einverstanden, dass {org} mir über Telegram zu Unternehmensgründung, "
            "Mikrokredit und Begleitung schreibt. Ich kann mit /stop abbestellen.",
        },
        "share_with_partners": {
            "fr": "J'accepte que {org} transmette mon prénom, mon nom, mon téléphone et ma "
            "langue à un partenaire (CPAS, service de l'emploi, structure d'accompagnement) "
            "lorsqu'il peut m'aider, et seulement dans ce but.",
            "nl": "Ik ga ermee akkoord dat {org} mijn voornaam, naam, telefoonnummer en taal "
            "doorgeeft aan een partner (OCMW, arbeidsbemiddeling, begeleidingsorganisatie) "
            "wanneer die mij kan helpen, en alleen daarvoor.",
            "de": "Ich bin einverstanden, dass {org} meinen Vornamen, Namen, meine Telefonnummer "
            "und Sprache an einen Partner (ÖSHZ, Arbeitsamt, Begleitstruktur) weitergibt, wenn "
            "er mir helfen kann, und nur dafür.",
        },
    },
    # What a partner (a CPAS, an employment service) reads to the person before referring them
    # to us through the portal: the same purpose, `share_with_partners`, seen from the sender's
    # side. "{org}" is our organisation.
    INTAKE: {
        "share_with_partners": {
            "fr": "J'accepte que mon prénom, mon nom, mon téléphone, mon e-mail et ma langue "
            "soient transmis à {org} pour qu'ils me contactent au sujet de mon projet "
            "(création d'entreprise, microcrédit, accompagnement), et seulement dans ce but. "
            "Je serai informé(e) de la suite donnée.",
            "nl": "Ik ga ermee akkoord dat mijn voornaam, naam, telefoonnummer, e-mail en taal "
            "worden doorgegeven aan {org}, zodat zij mij contacteren over mijn project (een "
            "eigen zaak starten, microkrediet, begeleiding), en alleen daarvoor. Ik word "
            "op de hoogte gehouden van het vervolg.",
            "de": "Ich bin einverstanden, dass mein Vorname, Name, meine Telefonnummer, E-Mail "
            "und Sprache an {org} weitergegeben werden, damit man mich zu meinem Vorhaben "
            "(Unternehmensgründung, Mikrokredit, Begleitung) kontaktiert, und nur dafür. Ich "
            "werde über die Folge informiert.",
        },
    },
}


def version_tag(language: str, version: str = CURRENT) -> str:
    """The `text_version` recorded in the ledger: the version and the language shown."""
    return f"{version}/{language}"


def is_known_version(tag: str) -> bool:
    version, _, language = tag.partition("/")
    return version in TEXTS and all(language in by_lang for by_lang in TEXTS[version].values())


def text(purpose: str, language: str, version: str = CURRENT) -> str:
    return TEXTS[version][str(purpose)][language].format(org=settings.ORGANISATION_NAME)


def texts_for_form(version: str = CURRENT) -> dict[str, dict[str, str]]:
    """purpose → language → text, for a form that switches language as the agent picks one."""
    return {
        str(purpose): {
            language: text(purpose, language, version) for language in TEXTS[version][purpose]
        }
        for purpose in FIELD_PURPOSES
    }
