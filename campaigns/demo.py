"""Demo campaigns, loaded after the CRM's demo data set (`passerelle demo`, `serve --demo`).

They go through the same service as a marketing user's campaigns: a stories campaign left as a
draft to check and schedule, a "two days after the market" campaign and an info-session
reminder scheduled relative to the people's dates, and an open-day invitation whose run is
fanned out at once so the results page has figures (the console channel "sends" it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from campaigns import runner, service
from campaigns.models import Campaign
from campaigns.schemas import Audience, CampaignCreate, Messages, Variant
from crm.auth.actor import Actor
from crm.auth.models import User
from crm.enums import Role
from crm.outreach.models import EventKind, EventRegistration, OutreachEvent
from crm.people.models import Lead, Stage

OPEN_STAGES = [Stage.REACHED, Stage.LEAD, Stage.CONTACTED]

STORY_MESSAGES = Messages(
    fr="Bonjour {{ first_name }} ! {{ story.text }}\nVous aussi, vous pouvez. Répondez OUI et "
    "{{ agent.first_name or 'un conseiller' }} vous rappelle. {{ opt_out }}",
    nl="Hallo {{ first_name }}! {{ story.text }}\nJij kan het ook. Antwoord JA en "
    "{{ agent.first_name or 'een adviseur' }} belt je terug. {{ opt_out }}",
    de="Hallo {{ first_name }}! {{ story.text }}\nSie schaffen das auch. Antworten Sie JA und "
    "{{ agent.first_name or 'ein Berater' }} ruft Sie zurück. {{ opt_out }}",
)
STORY_MESSAGES_B = Messages(
    fr="{{ first_name }}, voici {{ story.entrepreneur }} : {{ story.text }}\nEt votre projet à "
    "vous ? Répondez à ce message. {{ opt_out }}",
    nl="{{ first_name }}, dit is {{ story.entrepreneur }}: {{ story.text }}\nEn jouw project? "
    "Antwoord op dit bericht. {{ opt_out }}",
    de="{{ first_name }}, das ist {{ story.entrepreneur }}: {{ story.text }}\nUnd Ihr Projekt? "
    "Antworten Sie auf diese Nachricht. {{ opt_out }}",
)
AFTER_MARKET = Messages(
    fr="Bonjour {{ first_name }}, merci pour notre rencontre ({{ event.title }}). Une idée "
    "d'activité ? Répondez à ce SMS : {{ agent.first_name or 'un conseiller' }} vous rappelle. "
    "{{ opt_out }}",
    nl="Hallo {{ first_name }}, bedankt voor ons gesprek ({{ event.title }}). Een idee voor een "
    "eigen zaak? Antwoord op deze sms: {{ agent.first_name or 'een adviseur' }} belt je terug. "
    "{{ opt_out }}",
    de="Hallo {{ first_name }}, danke für das Gespräch ({{ event.title }}). Eine Geschäftsidee? "
    "Antworten Sie auf diese SMS: {{ agent.first_name or 'ein Berater' }} ruft Sie zurück. "
    "{{ opt_out }}",
)
REMINDER = Messages(
    fr="Bonjour {{ first_name }}, rappel : séance d'information {{ event.date }} à "
    "{{ event.time }}, {{ event.place }}. À demain ! {{ opt_out }}",
    nl="Hallo {{ first_name }}, herinnering: infosessie {{ event.date }} om {{ event.time }}, "
    "{{ event.place }}. Tot morgen! {{ opt_out }}",
    de="Hallo {{ first_name }}, Erinnerung: Infoveranstaltung {{ event.date }} um "
    "{{ event.time }}, {{ event.place }}. Bis morgen! {{ opt_out }}",
)
OPEN_DAY = Messages(
    fr="Bonjour {{ first_name }}, portes ouvertes ce samedi de 10 à 16 h : venez parler de votre "
    "projet, café offert. {{ opt_out }}",
    nl="Hallo {{ first_name }}, opendeurdag deze zaterdag van 10 tot 16 uur: kom over je project "
    "praten, koffie van het huis. {{ opt_out }}",
    de="Hallo {{ first_name }}, Tag der offenen Tür am Samstag von 10 bis 16 Uhr: sprechen Sie "
    "mit uns über Ihr Projekt, Kaffee inklusive. {{ opt_out }}",
)


async def load_demo_campaigns() -> dict[str, int]:
    """Create the demo campaigns; returns counts for the loader's report."""
    user = await User.filter(role=Role.MARKETING).order_by("id").first()
    if user is None:
        return {"campaigns": 0}
    actor = Actor(role=Role.MARKETING, label=user.display_name, user_id=user.id)
    now = datetime.now(UTC)
    await service.create_campaign(
        CampaignCreate(
            name="Vous aussi, vous pouvez — histoires d'entrepreneurs",
            goal="Bring people met this season to an info session with the story of someone "
            "like them",
            channel="preferred",
            messages=STORY_MESSAGES,
            story_mode="matched",
            variants=[Variant(name="B", share=30, messages=STORY_MESSAGES_B)],
            audience=Audience(stages=OPEN_STAGES, not_messaged_days=14),
            schedule={"cron": "0 10 * * 2"},
        ),
        actor=actor,
    )
    market = await service.create_campaign(
        CampaignCreate(
            name="Two days after the market",
            goal="Follow up everyone met at a market stand while they still remember us",
            channel="sms",
            messages=AFTER_MARKET,
            audience=Audience(event_kinds=[EventKind.MARKET_STAND], stages=OPEN_STAGES),
            schedule={"after": {"field": "event.starts_at", "days": 2, "at": "10:00"}},
        ),
        actor=actor,
    )
    await service.schedule_campaign(market, actor=actor)
    created = 2
    session = (
        await OutreachEvent.filter(kind=EventKind.INFO_SESSION, starts_at__gt=now)
        .order_by("starts_at")
        .first()
    )
    if session is not None:
        people = await Lead.filter(stage__in=OPEN_STAGES, phone__not_isnull=True).limit(8)
        for lead in people:
            await EventRegistration.get_or_create(event=session, lead=lead)
        reminder = await service.create_campaign(
            CampaignCreate(
                name="Info session reminder (the day before)",
                channel="sms",
                messages=REMINDER,
                audience=Audience(event_ids=[session.id]),
                schedule={"after": {"field": "registration.starts_at", "days": -1, "at": "17:00"}},
            ),
            actor=actor,
        )
        await service.schedule_campaign(reminder, actor=actor)
        created += 1
    open_day = await service.create_campaign(
        CampaignCreate(
            name="Open day invitation",
            channel="sms",
            messages=OPEN_DAY,
            audience=Audience(stages=[Stage.LEAD, Stage.CONTACTED]),
            schedule={"at": (now + timedelta(minutes=1)).isoformat()},
        ),
        actor=actor,
    )
    await service.schedule_campaign(open_day, actor=actor)
    # Fan it out now: the in-process worker of `serve` sends it through the console channel.
    await runner.run_due("demo", now=(await Campaign.get(id=open_day.id)).next_run_at)
    return {"campaigns": created + 1}
