"""Which column of a file goes to which field of a person: guessed from the header in French,
Dutch, German or English, overridden by the operator or a saved preset, then checked.

Header names are compared without case, accents, spaces or punctuation ("Code postal",
"CODE-POSTAL" and "codepostal" are one name). Mappings are stored by column name, so a preset
made from one office's export fits its next export whatever the column order."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from crm.enums import Language
from crm.errors import InvalidInput
from crm.people.models import ConsentPurpose, LeadSource
from crm.people.schemas import Method, SegmentCode, Version

IGNORE = "ignore"
# The person fields a column may fill, in the order the mapping page lists them.
TARGETS = (
    "first_name",
    "last_name",
    "phone",
    "email",
    "postcode",
    "language",
    "segments",
    "notes",
    "gender",
    "birth_year",
    "employment_status",
    "background",
    "social_assistance",
    "jobs_created",
    "jobs_kept",
    "source",
    "stage",
)
# Fields several columns may fill: the first non-empty phone or e-mail wins ("GSM" and "Tél"),
# notes are joined, segments added up.
MULTI = frozenset({"phone", "email", "notes", "segments"})
REQUIRED_NOTE = "first_name, and phone or email"


def fold(text: str) -> str:
    """Lower case, no accents, letters and digits only: how names and words are compared."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return re.sub(r"[^a-z0-9]", "", "".join(c for c in decomposed if not unicodedata.combining(c)))


_SYNONYMS: dict[str, tuple[str, ...]] = {
    "first_name": (
        "prenom", "prenoms", "voornaam", "voornamen", "vorname", "firstname", "givenname",
        "first", "forename",
    ),
    "last_name": (
        "nom", "nomdefamille", "achternaam", "familienaam", "familienname", "nachname",
        "lastname", "surname", "familyname",
    ),
    "phone": (
        "gsm", "telephone", "tel", "telefoon", "telefon", "mobile", "phone", "mobiel", "handy",
        "portable", "mobilephone", "phonenumber", "telefoonnummer", "telefonnummer",
        "numerodetelephone", "numerogsm", "gsmnummer", "mobilnummer", "tel1", "telephone1",
    ),
    "email": (
        "email", "courriel", "mail", "adresseemail", "adressemail", "emailadres",
        "emailadresse", "mailadres", "mailadresse", "emailaddress",
    ),
    "postcode": (
        "codepostal", "cp", "postcode", "plz", "postleitzahl", "zip", "zipcode", "postalcode",
        "postnummer",
    ),
    "language": (
        "langue", "taal", "sprache", "language", "lang", "languematernelle", "moedertaal",
        "muttersprache", "langueparlee",
    ),
    "segments": (
        "segments", "segment", "public", "publiccible", "publics", "doelgroep", "doelgroepen",
        "zielgruppe", "zielgruppen", "segmente", "targetgroup",
    ),
    "notes": (
        "notes", "note", "remarques", "remarque", "commentaire", "commentaires", "opmerkingen",
        "opmerking", "bemerkungen", "bemerkung", "anmerkungen", "comments", "comment",
    ),
    "gender": ("genre", "sexe", "geslacht", "geschlecht", "gender", "sex"),
    "birth_year": (
        "anneedenaissance", "geboortejaar", "geburtsjahr", "birthyear", "yearofbirth",
        "datedenaissance", "geboortedatum", "geburtsdatum", "dateofbirth", "birthdate",
    ),
    # Funders' participant fields. "Status" alone is left out: in a CRM file it is more often
    # the pathway stage than the employment status.
    "employment_status": (
        "statut", "statutprofessionnel", "situationprofessionnelle", "statutemploi",
        "situationemploi", "statutsocioprofessionnel", "arbeidsstatus", "beroepsstatus",
        "statuut", "werksituatie", "arbeidssituatie", "beroepssituatie", "erwerbsstatus",
        "beschaftigungsstatus", "berufsstatus", "erwerbssituation", "beruflichesituation",
        "employmentstatus", "employment", "workstatus", "labourmarketstatus",
        "labormarketstatus",
    ),
    "background": (
        "originemigratoire", "parcoursmigratoire", "origineetrangere", "issudelimmigration",
        "migratieachtergrond", "achtergrond", "migrationshintergrund", "hintergrund",
        "background", "migrantbackground", "migrationbackground",
    ),
    "social_assistance": (
        # Not "CPAS" or "OCMW" alone: such a column often names the referring centre.
        "aidecpas", "ris", "revenudintegration", "revenudintegrationsociale", "aidesociale",
        "beneficiairecpas", "beneficiaireris", "steunocmw", "ocmwsteun", "leefloon",
        "leefloner", "maatschappelijkeintegratie", "socialebijstand", "oshzhilfe",
        "sozialhilfe", "eingliederungseinkommen", "socialassistance", "socialwelfare",
        "welfare", "integrationincome",
    ),
    "jobs_created": (
        "emploiscrees", "emploicree", "nombredemploiscrees", "postescrees", "gecreeerdejobs",
        "jobsgecreeerd", "gecreeerdebanen", "banengecreeerd", "geschaffenearbeitsplatze",
        "arbeitsplatzegeschaffen", "neuearbeitsplatze", "jobscreated", "createdjobs", "newjobs",
    ),
    "jobs_kept": (
        "emploismaintenus", "emploimaintenu", "emploisconserves", "emploissauvegardes",
        "behoudenjobs", "jobsbehouden", "behoudenbanen", "banenbehouden",
        "erhaltenearbeitsplatze", "arbeitsplatzeerhalten", "gesichertearbeitsplatze",
        "jobskept", "keptjobs", "jobsmaintained", "jobsretained", "jobssaved",
    ),
    "source": ("source", "bron", "quelle", "origine", "herkomst", "herkunft"),
    "stage": ("etape", "stage", "fase", "stap", "phase", "stadium"),
}  # fmt: skip
_BY_NAME = {name: target for target, names in _SYNONYMS.items() for name in names}


def guess_field(header: str) -> str:
    """The person field a column name means, or `ignore`."""
    # Every field's own name, folded ("first_name" -> "firstname"), is among its synonyms.
    return _BY_NAME.get(fold(header), IGNORE)


def guess_mapping(header: list[str]) -> dict[str, str]:
    """column name -> field for every column; a field that only one column may fill goes to
    the first column that names it, later ones are ignored."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for name in header:
        if name in mapping:
            continue
        target = guess_field(name)
        if target != IGNORE and target not in MULTI and target in taken:
            target = IGNORE
        taken.add(target)
        mapping[name] = target
    return mapping


def parse_map_option(text: str) -> tuple[str, str]:
    """`COLUMN=FIELD` of `--map`."""
    column, sep, target = text.rpartition("=")
    if not sep or not column.strip() or not target.strip():
        raise InvalidInput(f'--map {text!r}: write COLUMN=FIELD, e.g. "GSM=phone"', field="mapping")
    return column.strip(), target.strip()


def resolve_mapping(
    header: list[str],
    *,
    preset: dict[str, str] | None = None,
    overrides: dict[str, str] | None = None,
) -> dict[str, str]:
    """The mapping for this file: guessed, then a preset's columns (those in the file), then
    the operator's own choices. Column names in a preset or override match the file's without
    case or accents. Raises InvalidInput (field `mapping`) naming the problem."""
    mapping = apply_columns(guess_mapping(header), header, preset or {})
    apply_columns(mapping, header, overrides or {}, strict=True)
    check_mapping(mapping)
    return mapping


def apply_columns(
    mapping: dict[str, str], header: list[str], chosen: dict[str, str], *, strict: bool = False
) -> dict[str, str]:
    """`mapping` with the `chosen` column -> field pairs set, column names matched without case
    or accents. A column not in the file is skipped, or refused when `strict`."""
    by_fold = {fold(name): name for name in reversed(header)}
    for column, target in chosen.items():
        name = column if column in mapping else by_fold.get(fold(column))
        if name is None:
            if strict:
                raise InvalidInput(
                    f"no column {column!r} in the file (columns: {', '.join(header)})",
                    field="mapping",
                )
            continue
        mapping[name] = _target(target, column)
    return mapping


def _target(target: str, column: str) -> str:
    value = target.strip()
    if value in TARGETS or value == IGNORE:
        return value
    raise InvalidInput(
        f"column {column!r}: unknown field {value!r} (fields: {', '.join(TARGETS)}, or ignore)",
        field="mapping",
    )


def check_mapping(mapping: dict[str, str]) -> None:
    """The required columns are there and no single-value field is filled twice."""
    columns: dict[str, list[str]] = {}
    for column, target in mapping.items():
        _target(target, column)
        if target != IGNORE:
            columns.setdefault(target, []).append(column)
    for target, names in columns.items():
        if len(names) > 1 and target not in MULTI:
            raise InvalidInput(
                f"columns {', '.join(repr(n) for n in names)} are all mapped to {target}: "
                "map one of them and ignore the others",
                field="mapping",
            )
    if "first_name" not in columns:
        raise InvalidInput(
            "required column missing: no column is mapped to first_name "
            "(e.g. Prénom, Voornaam, Vorname, First name)",
            field="mapping",
        )
    if "phone" not in columns and "email" not in columns:
        raise InvalidInput(
            "required column missing: no column is mapped to phone or email "
            "(e.g. GSM, Téléphone, Telefoon, E-mail)",
            field="mapping",
        )


@dataclass(frozen=True)
class ColumnMap:
    """Column indexes per field, for reading rows fast."""

    indexes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, header: list[str], mapping: dict[str, str]) -> ColumnMap:
        check_mapping({name: mapping.get(name, IGNORE) for name in header})
        indexes: dict[str, list[int]] = {}
        for i, name in enumerate(header):
            target = mapping.get(name, IGNORE)
            if target != IGNORE:
                indexes.setdefault(target, []).append(i)
        return cls({k: tuple(v) for k, v in indexes.items()})


# ---- options ------------------------------------------------------------------------------------


class ConsentOption(BaseModel):
    """The file records consent: every imported person gets these ledger entries."""

    model_config = ConfigDict(extra="forbid")
    purposes: list[ConsentPurpose] = Field(min_length=1, max_length=4)
    method: Method = "written"
    text_version: Version | None = None


class ImportOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default_language: Language | None = Field(
        None, description="for people whose row and postcode give no language"
    )
    source: LeadSource = LeadSource.IMPORT
    segments: list[SegmentCode] = Field(default_factory=list, max_length=30)
    consent: ConsentOption | None = Field(
        None, description="only when the file records consent; otherwise none is recorded"
    )
    sheet: str | None = Field(None, max_length=100, description="XLSX: the sheet to read")


# ---- values -------------------------------------------------------------------------------------

_LANGUAGES = {
    "fr": ("fr", "f", "fra", "fre", "francais", "french", "frans", "franzosisch", "frbe",
           "frfr", "frlu", "frch", "wallon"),
    "nl": ("nl", "n", "nld", "dut", "nederlands", "neerlandais", "dutch", "niederlandisch",
           "vlaams", "flamand", "flemish", "nlbe", "nlnl"),
    "de": ("de", "d", "deu", "ger", "deutsch", "allemand", "duits", "german", "debe", "dede",
           "delu"),
}  # fmt: skip
LANGUAGE_WORDS = {word: code for code, words in _LANGUAGES.items() for word in words}

_GENDERS = {
    "female": ("f", "v", "w", "female", "femme", "vrouw", "frau", "weiblich", "feminin",
               "woman", "mme", "madame", "mevrouw"),
    "male": ("m", "h", "male", "homme", "man", "mann", "mannlich", "masculin", "monsieur",
             "meneer", "herr"),
    "other": ("x", "other", "autre", "andere", "anders", "divers", "nonbinaire", "nonbinary"),
    "undisclosed": ("undisclosed", "noncommunique", "nietmeegedeeld", "keineangabe",
                    "prefernottosay", "inconnu", "onbekend", "unbekannt"),
}  # fmt: skip
GENDER_WORDS = {word: code for code, words in _GENDERS.items() for word in words}

_UNDISCLOSED = _GENDERS["undisclosed"] + ("nondeclare", "nietopgegeven", "keineangaben")
_EMPLOYMENT = {
    "jobseeker": ("jobseeker", "demandeurdemploi", "demandeusedemploi", "dde", "chomeur",
                  "chomeuse", "chomage", "sansemploi", "werkzoekende", "werkzoekend", "werkloos",
                  "werkloze", "nwwz", "arbeitsuchend", "arbeitssuchend", "arbeitsuchende",
                  "arbeitslos", "arbeitslose", "unemployed"),
    "inactive": ("inactive", "inactif", "sansactivite", "inactief", "nietactief",
                 "nichterwerbstatig", "inaktiv", "economicallyinactive"),
    "employed": ("employed", "salarie", "salariee", "employe", "employee", "travailleur",
                 "travailleuse", "enemploi", "werknemer", "bediende", "arbeider", "werkend",
                 "loontrekkende", "angestellt", "angestellte", "angestellter", "arbeitnehmer",
                 "arbeitnehmerin", "beschaftigt", "erwerbstatig", "salaried"),
    "self_employed": ("selfemployed", "independant", "independante", "zelfstandige",
                      "zelfstandig", "selbststandig", "selbstandig", "selbststandige",
                      "selbstandige", "freiberuflich", "freelance", "freelancer"),
    "student": ("student", "etudiant", "etudiante", "eleve", "studente", "scholier",
                "studentin", "schuler", "schulerin", "pupil"),
    "undisclosed": _UNDISCLOSED,
}  # fmt: skip
EMPLOYMENT_WORDS = {word: code for code, words in _EMPLOYMENT.items() for word in words}

# Self-declared, optional (never guessed from a name or a nationality).
_BACKGROUNDS = {
    "belgian": ("belgian", "belge", "belg", "belgisch", "belgier", "belgierin", "belgique",
                "belgie", "belgien", "belgium", "sansparcoursmigratoire",
                "geenmigratieachtergrond", "keinmigrationshintergrund", "nomigrantbackground"),
    "migrant_eu": ("migranteu", "eu", "ue", "migrantue", "origineue", "europeen", "europeenne",
                   "europees", "europaisch", "eumigrant", "euburger", "european"),
    "migrant_non_eu": ("migrantnoneu", "noneu", "horsue", "nonue", "migranthorsue",
                       "extraeuropeen", "extraeuropeenne", "extracommunautaire", "paystiers",
                       "nieteu", "buiteneu", "buitendeeu", "derdeland", "nichteu",
                       "drittstaat", "ausserhalbdereu", "thirdcountry", "outsideeu"),
    "undisclosed": _UNDISCLOSED,
}  # fmt: skip
BACKGROUND_WORDS = {word: code for code, words in _BACKGROUNDS.items() for word in words}

_YES = ("yes", "y", "oui", "o", "ja", "j", "true", "vrai", "waar", "wahr", "1")
_NO = ("no", "n", "non", "nee", "neen", "nein", "false", "faux", "onwaar", "falsch", "0")
YES_NO_WORDS = {**dict.fromkeys(_YES, True), **dict.fromkeys(_NO, False)}

_STAGES = {
    "reached": ("reached", "atteint", "touche", "bereikt", "erreicht"),
    "lead": ("lead", "prospect", "interesse", "geinteresseerd", "interessiert"),
    "contacted": ("contacted", "contacte", "gecontacteerd", "kontaktiert"),
    "info_session": ("infosession", "infosessie", "seancedinfo", "seancedinformation",
                     "infoveranstaltung", "sessiondinformation"),
    "application": ("application", "candidature", "dossier", "demande", "aanvraag", "antrag"),
    "coached": ("coached", "accompagne", "coache", "begeleid", "gecoacht", "begleitet"),
    "financed": ("financed", "finance", "gefinancierd", "finanziert"),
    "redirected": ("redirected", "reoriente", "oriente", "doorverwezen", "weitergeleitet"),
    "lost": ("lost", "perdu", "abandon", "verloren", "afgehaakt"),
}  # fmt: skip
STAGE_WORDS = {word: code for code, words in _STAGES.items() for word in words}

_SOURCES = {
    "event": ("event", "evenement", "veranstaltung", "activite", "activiteit"),
    "referral": ("referral", "orientation", "partenaire", "doorverwijzing", "partner",
                 "uberweisung", "verwijzing"),
    "sms": ("sms",),
    "telegram": ("telegram",),
    "walk_in": ("walkin", "spontane", "spontanee", "spontaan", "spontan", "accueil", "onthaal"),
    "import": ("import", "fichier", "bestand", "datei", "file"),
}  # fmt: skip
SOURCE_WORDS = {word: code for code, words in _SOURCES.items() for word in words}
