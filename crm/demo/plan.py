"""The plan of the demo data set, drawn from one seeded random generator before any write.

Who is met where, speaks which language, reaches which stage and when: all of it comes from
`random.Random(SEED)` and dates relative to today, so every run gives the same names and the same
shape. Nothing here touches the database.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from crm.config import settings
from crm.demo import data as D
from crm.outreach.models import InteractionChannel, InteractionKind
from crm.people.models import PATHWAY, Background, ConsentPurpose, EmploymentStatus, Gender, Stage
from crm.people.schemas import ConsentIn
from crm.referrals.models import ReferralStatus

FORWARD = PATHWAY[1:]  # the steps after being reached
CONSENT_TEXT = "demo-2025-1"
STAFF_BY_KEY = {s.key: s for s in D.STAFF}
# Communities whose background is a European Union country (the others with a migrant
# background are from outside the EU).
_EU_COMMUNITIES = frozenset({"romanian", "polish", "italian"})

# Stage weights by how long ago the person was reached: older contacts went further.
_STAGE_WEIGHTS: tuple[tuple[int, dict[Stage, int]], ...] = (
    (
        30,
        {
            Stage.REACHED: 15,
            Stage.LEAD: 18,
            Stage.CONTACTED: 20,
            Stage.INFO_SESSION: 12,
            Stage.APPLICATION: 8,
            Stage.COACHED: 8,
            Stage.FINANCED: 6,
            Stage.REDIRECTED: 6,
            Stage.LOST: 7,
        },
    ),
    (
        14,
        {
            Stage.REACHED: 25,
            Stage.LEAD: 25,
            Stage.CONTACTED: 22,
            Stage.INFO_SESSION: 10,
            Stage.APPLICATION: 5,
            Stage.COACHED: 3,
            Stage.FINANCED: 1,
            Stage.REDIRECTED: 4,
            Stage.LOST: 5,
        },
    ),
    (
        0,
        {
            Stage.REACHED: 45,
            Stage.LEAD: 30,
            Stage.CONTACTED: 15,
            Stage.INFO_SESSION: 4,
            Stage.APPLICATION: 1,
            Stage.REDIRECTED: 2,
            Stage.LOST: 3,
        },
    ),
)

# Referral outcomes: requested 10, accepted 7, in progress 7, completed 6, rejected 4,
# redirected 4, cancelled by the partner 2 (40 referrals).
_REFERRAL_OUTCOMES = (
    [ReferralStatus.REQUESTED] * 10
    + [ReferralStatus.ACCEPTED] * 7
    + [ReferralStatus.IN_PROGRESS] * 7
    + [ReferralStatus.COMPLETED] * 6
    + [ReferralStatus.REJECTED] * 4
    + [ReferralStatus.REDIRECTED] * 4
    + [ReferralStatus.CANCELLED] * 2
)

_ASCII = str.maketrans({"ı": "i", "ł": "l", "Ł": "L", "ø": "o", "'": "", " ": "-"})


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text.translate(_ASCII))
    return plain.encode("ascii", "ignore").decode().lower()


@dataclass
class Step:
    at: datetime
    stage: Stage | None  # None: an interaction only
    kind: InteractionKind
    channel: InteractionChannel
    notes: str
    reason: str | None = None


@dataclass
class Person:
    first_name: str
    last_name: str
    gender: Gender
    birth_year: int
    phone: str | None
    email: str | None
    telegram_chat_id: int | None
    language: str
    postcode: str
    segments: list[str]
    reached_at: datetime
    reached_by: str  # staff key
    agent: str  # the agent who follows the person
    stage: Stage
    steps: list[Step] = field(default_factory=list)
    consents: list[ConsentIn] = field(default_factory=list)
    opt_out_at: datetime | None = None
    project: int | None = None
    follow_up_on: date | None = None
    event: int | None = None  # index in D.EVENTS
    # referrals only
    partner: str | None = None
    outcome: ReferralStatus | None = None
    referral_steps: list[tuple[ReferralStatus, datetime, str | None]] = field(default_factory=list)
    community: str = ""  # the names' community (D.COMMUNITIES), for the background below
    # funders' details
    employment_status: EmploymentStatus | None = None
    background: Background | None = None
    social_assistance: bool | None = None
    jobs_created: int | None = None
    jobs_kept: int | None = None


class Planner:
    """Draws the whole data set from the seed, before anything is written."""

    def __init__(self, now: datetime) -> None:
        self.rng = random.Random(D.SEED)
        # The funders' details are drawn from their own generator, so adding them left every
        # other draw (names, stages, dates) as it was.
        self.funder_rng = random.Random(f"{D.SEED}:funder")
        self.now = now
        self.today = now.date()
        self.phones: set[str] = set()
        self.emails: set[str] = set()
        self.chats: set[int] = set()
        self.staff = STAFF_BY_KEY

    # -- small draws --

    def _at(self, day: date, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), tzinfo=settings.tz)

    def phone(self) -> str:
        while True:
            digits = f"04{self.rng.choice('789')}{self.rng.randint(0, 9)}" + "".join(
                str(self.rng.randint(0, 9)) for _ in range(6)
            )
            if digits not in self.phones:
                self.phones.add(digits)
                break
        # People write their number every which way; the services store E.164.
        style = self.rng.randint(0, 3)
        if style == 0:
            return f"{digits[:4]} {digits[4:6]} {digits[6:8]} {digits[8:]}"
        if style == 1:
            return f"{digits[:4]}/{digits[4:6]}.{digits[6:8]}.{digits[8:]}"
        if style == 2:
            return f"+32 {digits[1:4]} {digits[4:6]} {digits[6:8]} {digits[8:]}"
        return digits

    def email(self, first: str, last: str) -> str:
        base = f"{_slug(first)}.{_slug(last)}"
        candidate, n = f"{base}@example.org", 1
        while candidate in self.emails:
            n += 1
            candidate = f"{base}{n}@example.org"
        self.emails.add(candidate)
        return candidate

    def chat_id(self) -> int:
        while True:
            value = self.rng.randint(100_000_000, 6_999_999_999)
            if value not in self.chats:
                self.chats.add(value)
                return value

    def note(self, kind: str, lang: str, **values: object) -> str:
        return self.rng.choice(D.NOTES[kind][lang]).format(**values)

    def identity(self, area_key: str) -> dict:
        area = D.AREAS[area_key]
        names, weights = zip(*area.communities.items(), strict=True)
        community_key = self.rng.choices(names, weights)[0]
        community = D.COMMUNITIES[community_key]
        female = self.rng.random() < 0.55  # women come more often to microcredit outreach
        first = self.rng.choice(community.female if female else community.male)
        last = self.rng.choice(community.last)
        gender = Gender.FEMALE if female else Gender.MALE
        if self.rng.random() < 0.03:
            gender = Gender.UNDISCLOSED
        if area.language:
            language = area.language
            if area_key == "eupen" and community_key != "german":
                french = community_key == "francophone" or self.rng.random() < 0.4
                language = "fr" if french else "de"
        elif community_key == "flemish":
            language = "nl"
        else:
            language = "nl" if self.rng.random() < 0.12 else "fr"
        bracket = self.rng.choices([(19, 25), (26, 35), (36, 49), (50, 63)], [18, 32, 35, 15])[0]
        age = self.rng.randint(*bracket)
        segments = []
        if gender is Gender.FEMALE:
            segments.append("women")
            if 24 <= age <= 50 and self.rng.random() < 0.22:
                segments.append("single_parent")
        if age < 26:
            segments.append("youth")
        if age >= 50:
            segments.append("over_50")
        if community.migrant_background:
            segments.append("migrant_background")
        roll = self.rng.random()
        if roll < 0.45:
            segments.append("job_seeker")
        elif roll < 0.68:
            segments.append("social_assistance")
        elif roll < 0.76:
            segments.append("no_income")
        if self.rng.random() < 0.2:
            segments.append("low_education")
        has_phone = self.rng.random() < 0.96
        return {
            "first_name": first,
            "last_name": last,
            "gender": gender,
            "birth_year": self.today.year - age,
            "phone": self.phone() if has_phone else None,
            "email": self.email(first, last)
            if (not has_phone or self.rng.random() < 0.3)
            else None,
            "telegram_chat_id": self.chat_id() if self.rng.random() < 0.18 else None,
            "language": language,
            "postcode": self.rng.choice(area.postcodes),
            "segments": sorted(segments),
            "community": community_key,
        }

    def funder_details(self, person: Person) -> None:
        """Employment status, background, social assistance and jobs, consistent with the
        person's segments and stage (the same number of draws for everybody)."""
        rng = self.funder_rng
        status_roll, background_roll, assistance_roll = rng.random(), rng.random(), rng.random()
        other_status = rng.choices(
            [
                EmploymentStatus.EMPLOYED,
                EmploymentStatus.INACTIVE,
                EmploymentStatus.JOBSEEKER,
                EmploymentStatus.SELF_EMPLOYED,
                EmploymentStatus.UNDISCLOSED,
            ],
            [40, 25, 20, 8, 7],
        )[0]
        jobs_created = rng.choices([1, 2, 3], [65, 25, 10])[0]
        jobs_kept, keeps_jobs = rng.randint(1, 2), rng.random() < 0.3
        segments = set(person.segments)
        age = self.today.year - person.birth_year
        if "job_seeker" in segments:
            status = EmploymentStatus.JOBSEEKER if status_roll < 0.9 else EmploymentStatus.INACTIVE
        elif segments & {"social_assistance", "no_income"}:
            status = EmploymentStatus.INACTIVE if status_roll < 0.55 else EmploymentStatus.JOBSEEKER
        elif age < 26 and status_roll < 0.4:
            status = EmploymentStatus.STUDENT
        else:
            status = other_status
        person.employment_status = status
        # Self-declared and optional: some were not asked, some preferred not to say.
        if background_roll < 0.08:
            person.background = None
        elif background_roll < 0.18:
            person.background = Background.UNDISCLOSED
        elif person.community in _EU_COMMUNITIES:
            person.background = Background.MIGRANT_EU
        elif "migrant_background" in segments:
            person.background = Background.MIGRANT_NON_EU
        else:
            person.background = Background.BELGIAN
        # About a third receive the integration income: all of the "social assistance"
        # segment, and some others (a jobseeker between two benefits, a student…).
        if "social_assistance" in segments:
            person.social_assistance = True
        elif assistance_roll < 0.04:
            person.social_assistance = None
        else:
            person.social_assistance = assistance_roll < 0.2
        if person.stage is Stage.FINANCED:
            person.jobs_created = jobs_created
            person.jobs_kept = jobs_kept if keeps_jobs else None

    def stage_for(self, days_ago: int) -> Stage:
        for threshold, weights in _STAGE_WEIGHTS:
            if days_ago >= threshold:
                stages, w = zip(*weights.items(), strict=True)
                return self.rng.choices(stages, w)[0]
        raise AssertionError("unreachable")

    def times_after(self, start: datetime, count: int) -> list[datetime]:
        """`count` ordered moments between `start` and an hour ago, on working hours."""
        span = (self.now - timedelta(hours=1)) - start
        fractions = sorted(self.rng.uniform(0.04, 0.96) for _ in range(count))
        latest = self.now - timedelta(minutes=30)
        out = []
        for f in fractions:
            moment = (start + span * f).astimezone(settings.tz)
            office_hour = self.rng.randint(9, 17)  # drawn always: the draws must not depend on now
            if moment.hour < 9 or moment.hour >= 18:  # staff work office hours
                nudged = moment.replace(hour=office_hour)
                if nudged < latest:
                    moment = nudged
            out.append(min(moment, latest).replace(second=0, microsecond=0))
        return sorted(out)

    # -- the path of one person --

    def path(self, person: Person, lang: str) -> None:
        stage = person.stage
        if stage in FORWARD:
            moves = list(FORWARD[: FORWARD.index(stage) + 1])
        elif stage is Stage.REDIRECTED:
            moves = list(FORWARD[: self.rng.randint(0, 2)]) + [Stage.REDIRECTED]
        elif stage is Stage.LOST:
            moves = list(FORWARD[: self.rng.randint(0, 3)]) + [Stage.LOST]
        else:
            moves = []
        extra_message = bool(moves) and self.rng.random() < 0.3
        times = self.times_after(person.reached_at, len(moves) + (1 if extra_message else 0))
        if extra_message:
            at = times.pop(self.rng.randrange(len(times)))
            channel = (
                InteractionChannel.TELEGRAM if person.telegram_chat_id else (InteractionChannel.SMS)
            )
            person.steps.append(
                Step(
                    at,
                    None,
                    InteractionKind.MESSAGE,
                    channel,
                    {
                        "fr": "A écrit pour demander la date de la prochaine séance.",
                        "nl": "Stuurde een bericht: wanneer is de volgende infosessie?",
                        "de": "Hat geschrieben: Wann ist der nächste Infoabend?",
                    }[lang],
                )
            )
        for stage_to, at in zip(moves, times, strict=True):
            person.steps.append(self.step(stage_to, at, lang))
        person.steps.sort(key=lambda s: s.at)
        if person.stage in (
            Stage.CONTACTED,
            Stage.INFO_SESSION,
            Stage.APPLICATION,
            Stage.COACHED,
            Stage.FINANCED,
        ) or (
            person.stage in (Stage.LEAD, Stage.LOST, Stage.REDIRECTED) and self.rng.random() < 0.4
        ):
            person.project = self.rng.randrange(len(D.PROJECTS))
        if (
            person.stage in (Stage.LEAD, Stage.CONTACTED, Stage.INFO_SESSION, Stage.APPLICATION)
            and self.rng.random() < 0.6
        ):
            person.follow_up_on = self.today + timedelta(days=self.rng.randint(-3, 14))

    def step(self, stage: Stage, at: datetime, lang: str) -> Step:
        k, c = InteractionKind, InteractionChannel
        if stage is Stage.LEAD:
            return Step(at, stage, k.CALL, c.PHONE, self.note("call", lang))
        if stage is Stage.CONTACTED:
            if self.rng.random() < 0.5:
                return Step(at, stage, k.MEETING, c.IN_PERSON, self.note("meeting", lang))
            return Step(at, stage, k.CALL, c.PHONE, self.note("call", lang))
        if stage is Stage.INFO_SESSION:
            return Step(at, stage, k.INFO_SESSION, c.IN_PERSON, self.note("info_session", lang))
        if stage is Stage.APPLICATION:
            return Step(at, stage, k.MEETING, c.IN_PERSON, self.note("meeting", lang))
        if stage is Stage.COACHED:
            return Step(at, stage, k.MEETING, c.IN_PERSON, self.note("coaching", lang))
        if stage is Stage.FINANCED:
            amount = self.rng.choice([3500, 5000, 6000, 8000, 10000, 12000, 15000])
            return Step(at, stage, k.NOTE, c.OTHER, self.note("financed", lang, amount=amount))
        if stage is Stage.LOST:
            reason = self.rng.choice(D.LOST_REASONS[lang])
            return Step(at, stage, k.FOLLOW_UP, c.PHONE, self.note("follow_up", lang), reason)
        reason = self.rng.choice(D.REDIRECT_REASONS[lang])
        return Step(at, stage, k.NOTE, c.OTHER, reason, reason)

    def consents(self, person: Person, method: str) -> None:
        if person.phone:
            if self.rng.random() < 0.88:
                person.consents.append(
                    ConsentIn(
                        purpose=ConsentPurpose.SMS,
                        granted=True,
                        method=method,
                        text_version=CONSENT_TEXT,
                    )
                )
                if self.rng.random() < 0.05:
                    person.opt_out_at = self.times_after(person.reached_at, 1)[0]
        if person.telegram_chat_id:
            person.consents.append(
                ConsentIn(
                    purpose=ConsentPurpose.TELEGRAM,
                    granted=True,
                    method="keyword",
                    text_version=CONSENT_TEXT,
                )
            )
        if person.email and self.rng.random() < 0.6:
            person.consents.append(
                ConsentIn(
                    purpose=ConsentPurpose.EMAIL,
                    granted=True,
                    method=method,
                    text_version=CONSENT_TEXT,
                )
            )
        if self.rng.random() < 0.3:
            person.consents.append(
                ConsentIn(
                    purpose=ConsentPurpose.SHARE_WITH_PARTNERS,
                    granted=True,
                    method=method,
                    text_version=CONSENT_TEXT,
                )
            )

    # -- everybody --

    def event_people(self) -> list[Person]:
        out = []
        for index, ev in enumerate(D.EVENTS):
            if ev.people == 0:
                continue
            start = self._at(self.today - timedelta(days=ev.days_ago), *ev.start)
            minutes = int(ev.hours * 60)
            for _ in range(ev.people):
                ident = self.identity(ev.area)
                reached_by = ev.agents[0]
                agent = reached_by
                if len(ev.agents) > 1:
                    speakers = [
                        a for a in ev.agents if ident["language"] in self.staff[a].languages
                    ]
                    agent = reached_by = speakers[0] if speakers else ev.agents[0]
                elif ident["language"] not in self.staff[agent].languages:
                    agent = "joris" if ident["language"] == "nl" else "fatima"
                at = start + timedelta(minutes=self.rng.randint(5, minutes - 5))
                person = Person(
                    **ident,
                    reached_at=at,
                    reached_by=reached_by,
                    agent=agent,
                    stage=self.stage_for(ev.days_ago),
                    event=index,
                )
                lang = self.staff[reached_by].note_language
                person.steps.append(
                    Step(
                        at,
                        None,
                        InteractionKind.CONTACT,
                        InteractionChannel.IN_PERSON,
                        self.note("contact", lang),
                    )
                )
                self.consents(person, "verbal")
                self.path(person, self.staff[agent].note_language)
                self.funder_details(person)
                out.append(person)
        return out

    def walk_ins(self) -> list[Person]:
        out = []
        for _ in range(D.WALK_INS):
            ident = self.identity("brussels")
            days_ago = self.rng.randint(1, 60)
            day = self.today - timedelta(days=days_ago)
            at = self._at(day, self.rng.randint(9, 16), self.rng.choice([0, 15, 30, 45]))
            agent = "joris" if ident["language"] == "nl" else "fatima"
            person = Person(
                **ident,
                reached_at=at,
                reached_by="coordinator",
                agent=agent,
                stage=self.stage_for(days_ago),
            )
            person.steps.append(
                Step(
                    at,
                    None,
                    InteractionKind.CONTACT,
                    InteractionChannel.IN_PERSON,
                    "Passé·e à la permanence du mardi, envoyé·e par une amie.",
                )
            )
            self.consents(person, "signed_form")
            self.path(person, self.staff[agent].note_language)
            self.funder_details(person)
            out.append(person)
        _plant_duplicates(out)
        return out

    def referred_people(self) -> list[Person]:
        outcomes = list(_REFERRAL_OUTCOMES)
        self.rng.shuffle(outcomes)
        out = []
        for partner in D.PARTNERS:
            for _ in range(D.REFERRALS_PER_PARTNER[partner.key]):
                ident = self.identity(partner.area)
                if not ident["phone"] and not ident["email"]:
                    ident["phone"] = self.phone()
                outcome = outcomes.pop()
                # Referrals that went further arrived longer ago.
                days_ago = self.rng.randint(
                    *{
                        ReferralStatus.REQUESTED: (1, 10),
                        ReferralStatus.ACCEPTED: (5, 25),
                        ReferralStatus.IN_PROGRESS: (15, 45),
                        ReferralStatus.COMPLETED: (35, 60),
                    }.get(outcome, (5, 40))
                )
                day = self.today - timedelta(days=days_ago)
                at = self._at(day, self.rng.randint(9, 16), self.rng.choice([0, 10, 20, 40]))
                agent = D.AREAS[partner.area].agent
                if ident["language"] not in self.staff[agent].languages:
                    agent = "joris" if ident["language"] == "nl" else "fatima"
                stage = {
                    ReferralStatus.REQUESTED: Stage.REACHED,
                    ReferralStatus.ACCEPTED: Stage.CONTACTED,
                    ReferralStatus.IN_PROGRESS: self.rng.choice(
                        [Stage.INFO_SESSION, Stage.APPLICATION, Stage.COACHED]
                    ),
                    ReferralStatus.COMPLETED: self.rng.choice([Stage.COACHED, Stage.FINANCED]),
                    ReferralStatus.REJECTED: Stage.LOST,
                    ReferralStatus.REDIRECTED: Stage.REDIRECTED,
                    ReferralStatus.CANCELLED: Stage.LOST,
                }[outcome]
                person = Person(
                    **ident,
                    reached_at=at,
                    reached_by=agent,
                    agent=agent,
                    stage=stage,
                    partner=partner.key,
                    outcome=outcome,
                )
                self.referral_path(person, partner)
                self.funder_details(person)
                out.append(person)
        return out

    def referral_path(self, person: Person, partner: D.DemoPartner) -> None:
        S = ReferralStatus
        chain = {
            S.REQUESTED: [],
            S.ACCEPTED: [S.ACCEPTED],
            S.IN_PROGRESS: [S.ACCEPTED, S.IN_PROGRESS],
            S.COMPLETED: [S.ACCEPTED, S.IN_PROGRESS, S.COMPLETED],
            S.REJECTED: [S.REJECTED],
            S.REDIRECTED: [S.ACCEPTED, S.REDIRECTED] if self.rng.random() < 0.5 else [S.REDIRECTED],
            S.CANCELLED: [S.CANCELLED],
        }[person.outcome]  # type: ignore[index]
        times = self.times_after(person.reached_at, len(chain))
        lang = partner.language
        for status, at in zip(chain, times, strict=True):
            reason = None
            if status is S.REJECTED:
                reason = self.rng.choice(D.REJECT_REASONS[lang])
            elif status is S.REDIRECTED:
                reason = self.rng.choice(D.REDIRECT_REASONS[lang])
            elif status is S.CANCELLED:
                reason = D.CANCEL_REASONS[lang]
            person.referral_steps.append((status, at, reason))
        # Our own consents, asked at the first contact with the person.
        self.consents(person, "signed_form")
        person.consents = [
            c for c in person.consents if c.purpose != ConsentPurpose.SHARE_WITH_PARTNERS
        ]
        if person.stage is Stage.REACHED:
            return
        # The person's own path, after the referral was answered, in the agent's language.
        agent_lang = self.staff[person.agent].note_language
        moves: list[Stage]
        if person.stage in FORWARD:
            moves = list(FORWARD[: FORWARD.index(person.stage) + 1])
        else:
            moves = [person.stage]
        step_times = self.times_after(times[0] if times else person.reached_at, len(moves))
        last_reason = person.referral_steps[-1][2] if person.referral_steps else None
        for stage_to, at in zip(moves, step_times, strict=True):
            step = self.step(stage_to, at, agent_lang)
            if stage_to in (Stage.LOST, Stage.REDIRECTED) and last_reason:
                step.reason = last_reason[:200]
            person.steps.append(step)
        if person.stage in (
            Stage.INFO_SESSION,
            Stage.APPLICATION,
            Stage.COACHED,
            Stage.FINANCED,
            Stage.CONTACTED,
        ):
            person.project = self.rng.randrange(len(D.PROJECTS))


def _plant_duplicates(people: list[Person]) -> None:
    """Two pairs of records of one person that the entry points cannot tell apart (another
    number, a typo, names swapped), as they happen at a permanence: something for the
    "Possible duplicates" review of the demo to show. The number of people does not change."""
    if len(people) < 4:
        return
    first, typo = people[-2], people[-1]
    typo.first_name = first.first_name + first.first_name[-1]  # a doubled last letter
    typo.last_name, typo.postcode, typo.email = first.last_name, first.postcode, None
    straight, swapped = people[-4], people[-3]
    swapped.first_name, swapped.last_name = straight.last_name, straight.first_name
    swapped.postcode, swapped.email = straight.postcode, None
