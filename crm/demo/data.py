"""The fixed material of the demo data set: organisations, staff, events, names and stories.

Everything here is fictional. Partner names are those of real kinds of Belgian organisations so
that the demo reads like the field; no address, phone number or person is real. Lead e-mail
addresses use the reserved `example.org` domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crm.enums import Role
from crm.outreach.models import EventKind
from crm.referrals.models import PartnerKind, ReferralPurpose

# ------------------------------------------------------------------------------------------------
# DEMO ONLY. Every demo account (staff and partner users) gets this password, which is printed
# in the README and in the output of `passerelle demo`. Never load the demo data set into a
# database that real people use: anyone who knows the demo can sign in as an admin.
# ------------------------------------------------------------------------------------------------
DEMO_PASSWORD = "passerelle-demo"

SEED = 20261123


@dataclass(frozen=True)
class DemoPartner:
    key: str
    name: str
    kind: PartnerKind
    postcode: str
    language: str  # the language its staff write in
    area: str  # where the people it refers live
    purposes: tuple[ReferralPurpose, ...]
    ref_prefix: str
    contact_first: str
    contact_last: str


PARTNERS: tuple[DemoPartner, ...] = (
    DemoPartner(
        "cpas_sg",
        "CPAS de Saint-Gilles",
        PartnerKind.CPAS,
        "1060",
        "fr",
        "brussels",
        (ReferralPurpose.BUSINESS_CREATION, ReferralPurpose.MICROCREDIT),
        "SG-",
        "Isabelle",
        "Vanderlinden",
    ),
    DemoPartner(
        "actiris",
        "Actiris Bruxelles",
        PartnerKind.EMPLOYMENT_SERVICE,
        "1000",
        "fr",
        "brussels",
        (ReferralPurpose.BUSINESS_CREATION, ReferralPurpose.COACHING),
        "ACT-",
        "Karim",
        "Haddou",
    ),
    DemoPartner(
        "forem",
        "Forem Charleroi",
        PartnerKind.EMPLOYMENT_SERVICE,
        "6000",
        "fr",
        "charleroi",
        (ReferralPurpose.BUSINESS_CREATION, ReferralPurpose.MICROCREDIT),
        "FCH-",
        "Valérie",
        "Gilson",
    ),
    DemoPartner(
        "atlas",
        "Atlas Antwerpen vzw",
        PartnerKind.NGO,
        "2060",
        "nl",
        "antwerp",
        (ReferralPurpose.BUSINESS_CREATION, ReferralPurpose.COACHING),
        "ATL-",
        "Hilde",
        "Verstraeten",
    ),
    DemoPartner(
        "adg",
        "ADG Eupen",
        PartnerKind.EMPLOYMENT_SERVICE,
        "4700",
        "de",
        "eupen",
        (ReferralPurpose.BUSINESS_CREATION, ReferralPurpose.MICROCREDIT),
        "ADG-",
        "Monika",
        "Küpper",
    ),
    DemoPartner(
        "ocmw_gent",
        "OCMW Gent",
        PartnerKind.CPAS,
        "9000",
        "nl",
        "gent",
        (ReferralPurpose.MICROCREDIT, ReferralPurpose.BUSINESS_CREATION),
        "GNT-",
        "Bram",
        "De Clercq",
    ),
    DemoPartner(
        "coaching_liege",
        "Tremplin Indépendants Liège asbl",
        PartnerKind.SUPPORT_STRUCTURE,
        "4000",
        "fr",
        "liege",
        (ReferralPurpose.MICROCREDIT,),
        "TIL-",
        "Pascale",
        "Dethier",
    ),
)

# How many people each partner refers in the demo (40 in all).
REFERRALS_PER_PARTNER = {
    "cpas_sg": 8,
    "actiris": 6,
    "forem": 7,
    "atlas": 7,
    "adg": 4,
    "ocmw_gent": 5,
    "coaching_liege": 3,
}


@dataclass(frozen=True)
class DemoStaff:
    key: str
    email: str
    role: Role
    first_name: str
    last_name: str
    languages: tuple[str, ...]
    ui_language: str
    note_language: str  # the language they write notes in


STAFF: tuple[DemoStaff, ...] = (
    DemoStaff(
        "admin",
        "admin@passerelle.local",
        Role.ADMIN,
        "Admin",
        "Passerelle",
        ("fr", "nl"),
        "fr",
        "fr",
    ),
    DemoStaff(
        "coordinator",
        "coordination@passerelle.local",
        Role.COORDINATOR,
        "Nathalie",
        "Claes",
        ("fr", "nl", "en"),
        "fr",
        "fr",
    ),
    DemoStaff(
        "marketing",
        "marketing@passerelle.local",
        Role.MARKETING,
        "Inès",
        "Moreau",
        ("fr", "nl"),
        "fr",
        "fr",
    ),
    DemoStaff(
        "fatima",
        "fatima@passerelle.local",
        Role.AGENT,
        "Fatima",
        "El Khattabi",
        ("fr", "ar"),
        "fr",
        "fr",
    ),
    DemoStaff(
        "joris", "joris@passerelle.local", Role.AGENT, "Joris", "Van Damme", ("nl",), "nl", "nl"
    ),
    DemoStaff(
        "sarah", "sarah@passerelle.local", Role.AGENT, "Sarah", "Lambertz", ("de", "fr"), "de", "de"
    ),
    DemoStaff(
        "mehdi", "mehdi@passerelle.local", Role.AGENT, "Mehdi", "Haddouchi", ("fr",), "fr", "fr"
    ),
)


def partner_user_email(partner: DemoPartner) -> str:
    return f"{partner.key.replace('_', '-')}@partner.passerelle.local"


@dataclass(frozen=True)
class DemoEvent:
    kind: EventKind
    title: str
    place: str
    postcode: str
    language: str
    area: str
    agents: tuple[str, ...]
    partner: str | None
    days_ago: int  # negative: in the future
    start: tuple[int, int]
    hours: float
    people: int
    notes: str | None = None


EVENTS: tuple[DemoEvent, ...] = (
    DemoEvent(
        EventKind.MARKET_STAND,
        "Stand Passerelle au Marché du Midi",
        "Marché du Midi, boulevard du Midi",
        "1060",
        "fr",
        "brussels",
        ("fatima",),
        "cpas_sg",
        52,
        (7, 30),
        5.5,
        34,
        "Stand partagé avec le CPAS de Saint-Gilles. Flyers FR/NL/AR, café offert.",
    ),
    DemoEvent(
        EventKind.SHOP_VISIT,
        "Tournée des commerces à Matonge",
        "Chaussée de Wavre et Galerie d'Ixelles",
        "1050",
        "fr",
        "brussels",
        ("fatima",),
        None,
        45,
        (10, 0),
        4,
        22,
    ),
    DemoEvent(
        EventKind.FREE_COFFEE,
        "Gratis koffie op de Turnhoutsebaan",
        "Turnhoutsebaan, Borgerhout",
        "2140",
        "nl",
        "antwerp",
        ("joris",),
        "atlas",
        40,
        (9, 0),
        3,
        24,
        "Koffiekar voor de bakkerij, samen met Atlas.",
    ),
    DemoEvent(
        EventKind.INFO_SESSION,
        "Séance d'information « Créer son emploi » au Forem",
        "Forem Charleroi, boulevard Joseph Tirou",
        "6000",
        "fr",
        "charleroi",
        ("mehdi",),
        "forem",
        38,
        (9, 30),
        2.5,
        26,
    ),
    DemoEvent(
        EventKind.PARTNER_SESSION,
        "Infoabend Selbstständigkeit beim ADG",
        "ADG Eupen, Hütte",
        "4700",
        "de",
        "eupen",
        ("sarah",),
        "adg",
        33,
        (18, 0),
        2,
        16,
    ),
    DemoEvent(
        EventKind.MARKET_STAND,
        "Stand au marché de la Batte",
        "Quai de la Batte, Liège",
        "4020",
        "fr",
        "liege",
        ("mehdi",),
        None,
        26,
        (8, 0),
        5,
        24,
    ),
    DemoEvent(
        EventKind.INFO_SESSION,
        "Séance d'info microcrédit chez Actiris / Infosessie",
        "Actiris, boulevard Anspach",
        "1000",
        "fr",
        "brussels",
        ("fatima", "joris"),
        "actiris",
        21,
        (13, 30),
        2.5,
        22,
        "Séance bilingue : Fatima en FR, Joris en NL.",
    ),
    DemoEvent(
        EventKind.COMMUNITY_EVENT,
        "Fête de quartier Maritime à Molenbeek",
        "Parc de la Fonderie, Molenbeek",
        "1080",
        "fr",
        "brussels",
        ("fatima",),
        None,
        17,
        (14, 0),
        5,
        20,
    ),
    DemoEvent(
        EventKind.SHOP_VISIT,
        "Winkelbezoeken Sleepstraat en Dampoort",
        "Sleepstraat, Gent",
        "9000",
        "nl",
        "gent",
        ("joris",),
        "ocmw_gent",
        14,
        (10, 0),
        4,
        16,
    ),
    DemoEvent(
        EventKind.PARTNER_SESSION,
        "Infosessie 'Je eigen zaak starten' bij Atlas",
        "Atlas, Carnotstraat",
        "2060",
        "nl",
        "antwerp",
        ("joris",),
        "atlas",
        10,
        (13, 0),
        2,
        14,
    ),
    DemoEvent(
        EventKind.FREE_COFFEE,
        "Café-rencontre au marché de Marcinelle",
        "Place Albert Ier, Marcinelle",
        "6001",
        "fr",
        "charleroi",
        ("mehdi",),
        None,
        7,
        (8, 30),
        3,
        12,
    ),
    DemoEvent(
        EventKind.MARKET_STAND,
        "Stand auf dem Eupener Wochenmarkt",
        "Werthplatz, Eupen",
        "4700",
        "de",
        "eupen",
        ("sarah",),
        None,
        4,
        (8, 0),
        4,
        10,
    ),
    DemoEvent(
        EventKind.INFO_SESSION,
        "Séance d'info « Lancer son activité » à Saint-Gilles",
        "CPAS de Saint-Gilles, salle polyvalente",
        "1060",
        "fr",
        "brussels",
        ("fatima", "mehdi"),
        "cpas_sg",
        -6,
        (14, 0),
        2,
        0,
        "Inscriptions par SMS ou Telegram. Garderie prévue.",
    ),
    DemoEvent(
        EventKind.INFO_SESSION,
        "Infosessie microkrediet in Gent",
        "Wijkcentrum Dampoort, Gent",
        "9000",
        "nl",
        "gent",
        ("joris",),
        "ocmw_gent",
        -13,
        (18, 30),
        2,
        0,
    ),
    # Today and this week, so the field app's Today page has something to show.
    DemoEvent(
        EventKind.MARKET_STAND,
        "Stand Passerelle au marché de Saint-Gilles",
        "Parvis de Saint-Gilles",
        "1060",
        "fr",
        "brussels",
        ("fatima",),
        None,
        0,
        (8, 0),
        5,
        0,
        "Stand du jour : QR code Telegram et mot-clé SMS sur la page « stand ».",
    ),
    DemoEvent(
        EventKind.FREE_COFFEE,
        "Gratis koffie aan het Sint-Pietersstation",
        "Koningin Maria Hendrikaplein, Gent",
        "9000",
        "nl",
        "gent",
        ("joris",),
        None,
        -2,
        (9, 0),
        3,
        0,
    ),
)

WALK_INS = 20  # people who came to the Brussels office on their own


# ---- names, by community ------------------------------------------------------------------------


@dataclass(frozen=True)
class Community:
    female: tuple[str, ...]
    male: tuple[str, ...]
    last: tuple[str, ...]
    migrant_background: bool = True


COMMUNITIES: dict[str, Community] = {
    "flemish": Community(
        ("Lotte", "Sofie", "An", "Els", "Nele", "Ine", "Hanne", "Lien", "Marieke", "Katrien"),
        ("Jan", "Pieter", "Bart", "Wout", "Tom", "Stijn", "Jens", "Koen", "Dries", "Sander"),
        (
            "Peeters",
            "Janssens",
            "Maes",
            "Jacobs",
            "Mertens",
            "Willems",
            "Claes",
            "Goossens",
            "Wouters",
            "De Smet",
            "Van den Broeck",
            "Vermeulen",
            "Hermans",
            "Aerts",
        ),
        migrant_background=False,
    ),
    "francophone": Community(
        (
            "Julie",
            "Marie",
            "Laura",
            "Céline",
            "Aurélie",
            "Mélanie",
            "Sophie",
            "Justine",
            "Manon",
            "Virginie",
        ),
        (
            "Thomas",
            "Nicolas",
            "Julien",
            "Maxime",
            "Kevin",
            "Olivier",
            "Sébastien",
            "Antoine",
            "Romain",
            "Benoît",
        ),
        (
            "Dubois",
            "Lambert",
            "Martin",
            "Dupont",
            "Leclercq",
            "Renard",
            "Simon",
            "Laurent",
            "Lejeune",
            "Fontaine",
            "Collard",
            "Hubert",
            "Delvaux",
            "Michaux",
        ),
        migrant_background=False,
    ),
    "german": Community(
        ("Anna", "Lea", "Sandra", "Melanie", "Jessica", "Nadine", "Katharina", "Julia"),
        ("Lukas", "Jonas", "Tobias", "Stefan", "Marco", "Patrick", "Daniel", "Christian"),
        (
            "Schmitz",
            "Kessler",
            "Mertes",
            "Cremer",
            "Lambertz",
            "Heinen",
            "Hilligsmann",
            "Jost",
            "Kirschvink",
            "Gielen",
            "Radermacher",
            "Margraff",
        ),
        migrant_background=False,
    ),
    "moroccan": Community(
        (
            "Khadija",
            "Naima",
            "Samira",
            "Imane",
            "Salma",
            "Yasmina",
            "Nadia",
            "Hanane",
            "Soukaina",
            "Meryem",
        ),
        (
            "Mohamed",
            "Youssef",
            "Yassine",
            "Karim",
            "Said",
            "Hamza",
            "Bilal",
            "Anouar",
            "Ilias",
            "Rachid",
        ),
        (
            "El Amrani",
            "Bouzid",
            "El Idrissi",
            "Benali",
            "Azzouzi",
            "Chakir",
            "Ouali",
            "Tahiri",
            "Bakkali",
            "Essaidi",
            "Boukhari",
            "Ait Ouarab",
        ),
    ),
    "turkish": Community(
        ("Elif", "Zeynep", "Ayşe", "Merve", "Büşra", "Esra", "Fatma", "Hatice"),
        ("Emre", "Mehmet", "Mustafa", "Burak", "Hakan", "Murat", "Ömer", "Serkan"),
        (
            "Yılmaz",
            "Demir",
            "Kaya",
            "Şahin",
            "Çelik",
            "Öztürk",
            "Aydın",
            "Arslan",
            "Doğan",
            "Kılıç",
        ),
    ),
    "congolese": Community(
        ("Grace", "Nadège", "Chantal", "Sandrine", "Ruth", "Esther", "Merveille", "Divine"),
        ("Patrick", "Jean-Paul", "Christian", "Cédric", "Junior", "Glody", "Héritier", "Serge"),
        (
            "Mbuyi",
            "Kabongo",
            "Tshibangu",
            "Mukendi",
            "Ilunga",
            "Kasongo",
            "Lukusa",
            "Nzuzi",
            "Mputu",
            "Kalala",
        ),
    ),
    "romanian": Community(
        ("Andreea", "Ioana", "Elena", "Mihaela", "Cristina", "Alina"),
        ("Andrei", "Mihai", "Ionuț", "Florin", "Adrian", "Bogdan"),
        ("Popescu", "Ionescu", "Dumitru", "Stan", "Constantin", "Munteanu", "Moldovan"),
    ),
    "polish": Community(
        ("Agnieszka", "Katarzyna", "Magdalena", "Joanna", "Ewa"),
        ("Piotr", "Tomasz", "Krzysztof", "Marek", "Paweł"),
        ("Nowak", "Wójcik", "Kaczmarek", "Mazur", "Krawczyk", "Zając"),
    ),
    "italian": Community(
        ("Maria", "Giulia", "Francesca", "Rosa", "Angela", "Chiara"),
        ("Giuseppe", "Salvatore", "Antonio", "Marco", "Luca", "Vincenzo"),
        (
            "Russo",
            "Lombardi",
            "Esposito",
            "Romano",
            "Di Marco",
            "Ferrara",
            "Costa",
            "Greco",
            "Rizzo",
            "Santoro",
        ),
    ),
    "syrian_afghan": Community(
        ("Rana", "Lina", "Hiba", "Fatemeh", "Maryam", "Zahra"),
        ("Ahmad", "Omar", "Khaled", "Mohammad", "Ali", "Farid"),
        (
            "Al-Hassan",
            "Haddad",
            "Khalil",
            "Ahmadi",
            "Hosseini",
            "Rahimi",
            "Nasser",
            "Mansour",
            "Karimi",
        ),
    ),
    "west_african": Community(
        ("Mariama", "Aissatou", "Fatoumata", "Kadiatou", "Awa"),
        ("Mamadou", "Ibrahima", "Alpha", "Ousmane", "Abdoulaye"),
        ("Diallo", "Barry", "Bah", "Sow", "Camara", "Condé", "Traoré"),
    ),
}


@dataclass(frozen=True)
class Area:
    postcodes: tuple[str, ...]
    communities: dict[str, int]
    language: str | None  # None: Brussels, each person chooses fr or nl
    agent: str
    towns: dict[str, str] = field(default_factory=dict)


AREAS: dict[str, Area] = {
    "brussels": Area(
        ("1000", "1030", "1050", "1060", "1070", "1080", "1190", "1210"),
        {
            "moroccan": 30,
            "congolese": 15,
            "francophone": 15,
            "turkish": 8,
            "flemish": 8,
            "romanian": 10,
            "syrian_afghan": 6,
            "west_african": 8,
        },
        None,
        "fatima",
    ),
    "antwerp": Area(
        ("2000", "2018", "2060", "2100", "2140"),
        {
            "flemish": 35,
            "moroccan": 30,
            "turkish": 12,
            "polish": 8,
            "syrian_afghan": 10,
            "congolese": 5,
        },
        "nl",
        "joris",
    ),
    "gent": Area(
        ("9000", "9040", "9050"),
        {
            "flemish": 40,
            "turkish": 25,
            "polish": 8,
            "romanian": 7,
            "moroccan": 10,
            "syrian_afghan": 10,
        },
        "nl",
        "joris",
    ),
    "charleroi": Area(
        ("6000", "6001", "6030", "6060", "6040"),
        {
            "francophone": 40,
            "italian": 20,
            "moroccan": 15,
            "turkish": 10,
            "congolese": 10,
            "west_african": 5,
        },
        "fr",
        "mehdi",
    ),
    "liege": Area(
        ("4000", "4020", "4100", "4030"),
        {
            "francophone": 40,
            "italian": 15,
            "moroccan": 15,
            "congolese": 10,
            "west_african": 10,
            "syrian_afghan": 10,
        },
        "fr",
        "mehdi",
    ),
    "eupen": Area(
        ("4700", "4701", "4710", "4730", "4780"),
        {"german": 70, "francophone": 10, "syrian_afghan": 10, "polish": 10},
        "de",
        "sarah",
    ),
}


# ---- projects, notes and reasons, in the language the staff member writes in ---------------------

# (sector label per language, project summary per language)
PROJECTS: tuple[tuple[dict[str, str], dict[str, str]], ...] = (
    (
        {
            "fr": "Restauration / traiteur",
            "nl": "Horeca / catering",
            "de": "Gastronomie / Catering",
        },
        {
            "fr": "Service traiteur à domicile (cuisine marocaine et libanaise) "
            "pour fêtes et bureaux.",
            "nl": "Cateringdienst aan huis voor feesten en kantoren.",
            "de": "Partyservice mit hausgemachten Gerichten für Feiern und Firmen.",
        },
    ),
    (
        {
            "fr": "Coiffure et esthétique",
            "nl": "Kapsalon en schoonheidszorg",
            "de": "Friseur und Kosmetik",
        },
        {
            "fr": "Salon de coiffure afro avec tresses et soins naturels.",
            "nl": "Eigen kapsalon met vlechten en natuurlijke verzorging.",
            "de": "Eigener Friseursalon, zunächst als mobiler Dienst.",
        },
    ),
    (
        {
            "fr": "Couture et retouches",
            "nl": "Naaiatelier en retouches",
            "de": "Schneiderei und Änderungen",
        },
        {
            "fr": "Atelier de retouches et de couture sur mesure (wax, tenues de cérémonie).",
            "nl": "Naaiatelier voor herstellingen en maatwerk.",
            "de": "Änderungsschneiderei mit Maßanfertigung.",
        },
    ),
    (
        {"fr": "Commerce alimentaire", "nl": "Voedingswinkel", "de": "Lebensmittelhandel"},
        {
            "fr": "Épicerie de quartier avec produits du monde et vrac.",
            "nl": "Buurtwinkel met verse groenten en wereldproducten.",
            "de": "Kleiner Dorfladen mit regionalen Produkten.",
        },
    ),
    (
        {"fr": "Nettoyage", "nl": "Schoonmaak", "de": "Reinigung"},
        {
            "fr": "Entreprise de nettoyage de bureaux et de fin de chantier.",
            "nl": "Schoonmaakbedrijf voor kantoren en praktijken.",
            "de": "Reinigungsdienst für Büros und Ferienwohnungen.",
        },
    ),
    (
        {
            "fr": "Transport et livraison",
            "nl": "Transport en koerier",
            "de": "Transport und Kurier",
        },
        {
            "fr": "Coursier à vélo cargo pour les commerces du centre.",
            "nl": "Koerierdienst met bakfiets voor lokale handelaars.",
            "de": "Kurierdienst zwischen Eupen, Aachen und Verviers.",
        },
    ),
    (
        {"fr": "Réparation de vélos", "nl": "Fietsherstelling", "de": "Fahrradreparatur"},
        {
            "fr": "Atelier de réparation et vente de vélos d'occasion.",
            "nl": "Fietsenatelier met herstellingen en tweedehandsfietsen.",
            "de": "Fahrradwerkstatt mit Verkauf gebrauchter Räder.",
        },
    ),
    (
        {"fr": "Food truck", "nl": "Foodtruck", "de": "Foodtruck"},
        {
            "fr": "Food truck de cuisine sénégalaise pour marchés et événements.",
            "nl": "Foodtruck met Turkse gözleme op markten en festivals.",
            "de": "Foodtruck mit Flammkuchen für Märkte und Feste.",
        },
    ),
    (
        {"fr": "Boulangerie-pâtisserie", "nl": "Bakkerij", "de": "Bäckerei und Konditorei"},
        {
            "fr": "Pâtisserie orientale et gâteaux de fête sur commande.",
            "nl": "Ambachtelijke bakkerij met zuurdesembrood.",
            "de": "Backstube für Torten und Gebäck auf Bestellung.",
        },
    ),
    (
        {"fr": "Garde d'enfants", "nl": "Kinderopvang", "de": "Kinderbetreuung"},
        {
            "fr": "Accueil d'enfants à domicile (co-accueillante).",
            "nl": "Kinderopvang aan huis voor de buurt.",
            "de": "Tagesmutter im eigenen Haus.",
        },
    ),
    (
        {"fr": "Réparation de smartphones", "nl": "Gsm-herstelling", "de": "Handyreparatur"},
        {
            "fr": "Réparation de smartphones et vente d'accessoires.",
            "nl": "Herstelling van gsm's en laptops.",
            "de": "Reparatur von Smartphones und Tablets.",
        },
    ),
    (
        {"fr": "Rénovation", "nl": "Renovatie", "de": "Renovierung"},
        {
            "fr": "Petits travaux de peinture, carrelage et rénovation.",
            "nl": "Schilder- en renovatiewerken voor particulieren.",
            "de": "Maler- und Renovierungsarbeiten.",
        },
    ),
)

NOTES: dict[str, dict[str, tuple[str, ...]]] = {
    "contact": {
        "fr": (
            "Rencontré·e au stand, très motivé·e.",
            "A pris un flyer, veut en savoir plus.",
            "Projet encore flou mais intéressé·e par le microcrédit.",
            "Déjà une activité au noir, veut se mettre en règle.",
        ),
        "nl": (
            "Ontmoet aan de stand, erg gemotiveerd.",
            "Flyer meegenomen, wil meer weten.",
            "Project nog vaag maar interesse in microkrediet.",
            "Doet het al informeel, wil in orde komen.",
        ),
        "de": (
            "Am Stand getroffen, sehr motiviert.",
            "Flyer mitgenommen, möchte mehr wissen.",
            "Projekt noch unklar, aber Interesse am Mikrokredit.",
            "Arbeitet schon nebenbei, möchte sich anmelden.",
        ),
    },
    "call": {
        "fr": (
            "Premier appel : intéressé·e, à rappeler après 18h.",
            "Appel : a confirmé son projet, envoyer les infos par SMS.",
            "Appel : questions sur le statut d'indépendant complémentaire.",
        ),
        "nl": (
            "Eerste telefoon: geïnteresseerd, terugbellen na 18u.",
            "Gebeld: project bevestigd, info via sms sturen.",
            "Gebeld: vragen over het statuut van zelfstandige in bijberoep.",
        ),
        "de": (
            "Erster Anruf: interessiert, nach 18 Uhr zurückrufen.",
            "Anruf: Projekt bestätigt, Infos per SMS schicken.",
            "Anruf: Fragen zur Selbstständigkeit im Nebenberuf.",
        ),
    },
    "info_session": {
        "fr": ("A participé à la séance d'info.",),
        "nl": ("Heeft de infosessie gevolgd.",),
        "de": ("Hat am Infoabend teilgenommen.",),
    },
    "meeting": {
        "fr": (
            "Rendez-vous : dossier de demande de microcrédit en préparation.",
            "Rendez-vous : plan financier revu ensemble.",
        ),
        "nl": (
            "Afspraak: aanvraagdossier microkrediet in opmaak.",
            "Afspraak: financieel plan samen overlopen.",
        ),
        "de": (
            "Termin: Antrag auf Mikrokredit in Vorbereitung.",
            "Termin: Finanzplan gemeinsam durchgesehen.",
        ),
    },
    "coaching": {
        "fr": ("Séance de coaching : étude de marché et prix.",),
        "nl": ("Coachingsessie: marktonderzoek en prijszetting.",),
        "de": ("Coaching: Marktanalyse und Preise.",),
    },
    "financed": {
        "fr": ("Microcrédit accordé : {amount} €. Bravo !",),
        "nl": ("Microkrediet toegekend: {amount} euro. Proficiat!",),
        "de": ("Mikrokredit bewilligt: {amount} €. Glückwunsch!",),
    },
    "follow_up": {
        "fr": ("Pas de réponse, nouveau message laissé.",),
        "nl": ("Geen antwoord, nieuw bericht ingesproken.",),
        "de": ("Keine Antwort, neue Nachricht hinterlassen.",),
    },
}

LOST_REASONS: dict[str, tuple[str, ...]] = {
    "fr": (
        "A trouvé un emploi salarié",
        "Injoignable après trois tentatives",
        "Projet abandonné pour raisons familiales",
        "Préfère attendre l'an prochain",
    ),
    "nl": (
        "Heeft vast werk gevonden",
        "Onbereikbaar na drie pogingen",
        "Project stopgezet om familiale redenen",
        "Wacht liever tot volgend jaar",
    ),
    "de": (
        "Hat eine Festanstellung gefunden",
        "Nach drei Versuchen nicht erreichbar",
        "Projekt aus familiären Gründen aufgegeben",
        "Möchte bis nächstes Jahr warten",
    ),
}

REDIRECT_REASONS: dict[str, tuple[str, ...]] = {
    "fr": (
        "Orienté·e vers le CPAS pour une aide sociale d'abord",
        "Orienté·e vers une formation en gestion (accès à la profession)",
        "Besoin d'un crédit bancaire classique, orienté·e vers la banque",
    ),
    "nl": (
        "Doorverwezen naar het OCMW voor eerst sociale hulp",
        "Doorverwezen naar een opleiding bedrijfsbeheer",
        "Heeft een klassiek bankkrediet nodig, doorverwezen naar de bank",
    ),
    "de": (
        "An das ÖSHZ verwiesen, zuerst soziale Hilfe",
        "An eine Weiterbildung Betriebsführung verwiesen",
        "Braucht einen klassischen Bankkredit, an die Bank verwiesen",
    ),
}

REFERRAL_NOTES: dict[str, tuple[str, ...]] = {
    "fr": (
        "Souhaite lancer une activité d'indépendant·e, besoin d'un premier financement.",
        "Bénéficiaire du RIS avec un projet concret, motivé·e.",
        "Demandeur·se d'emploi, projet dans la restauration.",
    ),
    "nl": (
        "Wil starten als zelfstandige, zoekt een eerste financiering.",
        "Leefloner met een concreet project, zeer gemotiveerd.",
        "Werkzoekende met een project in de horeca.",
    ),
    "de": (
        "Möchte sich selbstständig machen, braucht eine erste Finanzierung.",
        "Bezieht Eingliederungseinkommen, hat ein konkretes Projekt.",
        "Arbeitsuchend, Projekt in der Gastronomie.",
    ),
}

REJECT_REASONS: dict[str, tuple[str, ...]] = {
    "fr": (
        "Le projet demande un apport trop élevé pour un microcrédit",
        "La personne n'habite pas dans notre zone d'action",
    ),
    "nl": (
        "Het project vraagt een te grote inbreng voor een microkrediet",
        "De persoon woont niet in ons werkgebied",
    ),
    "de": (
        "Das Projekt braucht mehr Kapital, als ein Mikrokredit bietet",
        "Die Person wohnt nicht in unserem Einzugsgebiet",
    ),
}

CANCEL_REASONS: dict[str, str] = {
    "fr": "La personne a retrouvé un emploi salarié",
    "nl": "De persoon heeft intussen werk gevonden",
    "de": "Die Person hat inzwischen eine Stelle gefunden",
}


# ---- success stories ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoStory:
    title: str
    entrepreneur: str
    sector: str
    town: str
    texts: dict[str, str]
    segments: tuple[str, ...]
    consent_days: int  # consent runs this many days from today


STORIES: tuple[DemoStory, ...] = (
    DemoStory(
        "Aïcha ouvre son atelier de couture",
        "Aïcha",
        "couture",
        "Molenbeek-Saint-Jean",
        {
            "fr": "Aïcha cousait pour ses voisines depuis des années. Avec un microcrédit de "
            "6 000 € et six mois de coaching, elle a ouvert son atelier de retouches et de "
            "tenues en wax rue de Ribaucourt. Elle emploie aujourd'hui une apprentie.",
            "nl": "Aïcha naaide al jaren voor haar buren. Met een microkrediet van 6 000 euro en "
            "zes maanden coaching opende ze haar naaiatelier in de Ribaucourtstraat. "
            "Vandaag heeft ze een leerling in dienst.",
            "de": "Aïcha nähte seit Jahren für ihre Nachbarinnen. Mit einem Mikrokredit von "
            "6 000 € und sechs Monaten Coaching eröffnete sie ihre Schneiderei in "
            "Molenbeek. Heute bildet sie eine Auszubildende aus.",
        },
        ("women", "migrant_background"),
        540,
    ),
    DemoStory(
        "Mamadou lance son food truck à Liège",
        "Mamadou",
        "food truck",
        "Liège",
        {
            "fr": "Mamadou rêvait de faire goûter le thiéboudiène aux Liégeois. Refusé par sa "
            "banque, il a obtenu un microcrédit pour équiper un food truck d'occasion. On le "
            "trouve chaque dimanche à la Batte et dans les festivals de l'été.",
            "nl": "Mamadou wilde de Luikenaars laten proeven van thiéboudiène. De bank zei nee, "
            "maar met een microkrediet kocht hij een tweedehands foodtruck. Elke zondag "
            "staat hij op de markt van La Batte.",
            "de": "Mamadou wollte den Lüttichern senegalesische Küche zeigen. Die Bank lehnte ab, "
            "doch mit einem Mikrokredit kaufte er einen gebrauchten Foodtruck. Sonntags "
            "steht er auf dem Markt La Batte.",
        },
        ("migrant_background", "job_seeker"),
        400,
    ),
    DemoStory(
        "Elif, kapster in Borgerhout",
        "Elif",
        "kapsalon",
        "Antwerpen",
        {
            "fr": "Après dix ans comme salariée, Elif a repris un petit salon de coiffure à "
            "Borgerhout grâce à un microcrédit et à l'accompagnement de Passerelle. Ses "
            "clientes la suivent depuis le premier jour.",
            "nl": "Na tien jaar in loondienst nam Elif een klein kapsalon over in Borgerhout, "
            "met een microkrediet en de begeleiding van Passerelle. Haar vaste klanten "
            "volgden haar vanaf dag één.",
            "de": "Nach zehn Jahren als Angestellte übernahm Elif mit einem Mikrokredit und der "
            "Begleitung von Passerelle einen kleinen Friseursalon in Antwerpen. Ihre "
            "Stammkundinnen kamen mit.",
        },
        ("women",),
        700,
    ),
    DemoStory(
        "Jonas repareert fietsen in Gent",
        "Jonas",
        "fietsherstelling",
        "Gent",
        {
            "fr": "Jonas, 24 ans, réparait les vélos de ses amis dans sa cave. Aujourd'hui il "
            "tient un atelier près de Dampoort, financé par un microcrédit de 4 500 €, et "
            "vend des vélos d'occasion remis à neuf.",
            "nl": "Jonas (24) herstelde fietsen van vrienden in zijn kelder. Nu heeft hij een "
            "eigen fietsenatelier vlak bij Dampoort, gefinancierd met een microkrediet van "
            "4 500 euro, en verkoopt hij opgeknapte tweedehandsfietsen.",
            "de": "Jonas (24) reparierte Fahrräder im Keller. Heute führt er eine eigene Werkstatt "
            "in Gent, finanziert mit einem Mikrokredit von 4 500 €, und verkauft "
            "aufbereitete Gebrauchträder.",
        },
        ("youth", "job_seeker"),
        20,
    ),  # the one whose consent runs out soon
    DemoStory(
        "Ramona crée son entreprise de nettoyage",
        "Ramona",
        "nettoyage",
        "Charleroi",
        {
            "fr": "Mère seule de deux enfants, Ramona a créé son entreprise de nettoyage de "
            "bureaux à Charleroi. Le microcrédit a payé la camionnette et le matériel ; "
            "le coaching l'a aidée à fixer ses prix.",
            "nl": "Ramona, alleenstaande mama van twee, startte een schoonmaakbedrijf voor "
            "kantoren in Charleroi. Het microkrediet betaalde de bestelwagen en het materiaal.",
            "de": "Ramona, alleinerziehende Mutter von zwei Kindern, gründete in Charleroi einen "
            "Reinigungsdienst für Büros. Der Mikrokredit bezahlte Lieferwagen und Material.",
        },
        ("women", "single_parent"),
        365,
    ),
    DemoStory(
        "Annas Backstube in Eupen",
        "Anna",
        "Bäckerei",
        "Eupen",
        {
            "fr": "Anna a transformé sa passion pour les tartes en une petite pâtisserie à Eupen. "
            "Le microcrédit a financé le four professionnel ; elle livre aujourd'hui trois "
            "cafés de la région.",
            "nl": "Anna maakte van haar passie voor taarten een kleine banketbakkerij in Eupen. "
            "Het microkrediet betaalde de professionele oven; nu levert ze aan drie cafés.",
            "de": "Anna hat ihre Leidenschaft für Torten zum Beruf gemacht: Mit einem Mikrokredit "
            "finanzierte sie den Profi-Backofen ihrer Backstube in Eupen. Heute beliefert "
            "sie drei Cafés in der Region.",
        },
        ("women", "over_50"),
        300,
    ),
)
