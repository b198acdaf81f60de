"""The field app's events: the agent's list, the phone form to create or change an event, the
stand page with its QR codes, and the tally of one event, computed by hand from real rows."""

from __future__ import annotations

import html
import re
from datetime import date, datetime, time, timedelta

import pytest
import segno

from channels.inbound import fill_empty_attribution
from crm.audit.models import AuditEntry
from crm.auth.service import actor_for_user
from crm.config import settings
from crm.enums import Role
from crm.outreach.models import (
    EventKind,
    Interaction,
    InteractionChannel,
    InteractionKind,
    Interest,
    OutreachEvent,
)
from crm.people.models import ConsentPurpose, ConsentSource, Lead, LeadSource
from crm.people.schemas import ConsentIn
from crm.people.service import record_consent

from ..conftest import csrf_from

BOT = "PasserelleBot"
NUMBER = "+3225550100"


@pytest.fixture
async def agent(app, make_caller):
    # English pages, so that the messages read here do not depend on the translations.
    return await make_caller(Role.AGENT, first_name="Sofie", ui_language="en")


@pytest.fixture
async def colleague(app, make_caller):
    return await make_caller(Role.AGENT, first_name="Joris", ui_language="en")


@pytest.fixture
async def signed_in_agent(agent, sign_in):
    await sign_in(agent.user)
    return agent


def _local(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=settings.tz)


async def _event(*agents, title="Marché du Midi", starts_at=None, ends_at=None, **fields):
    event = await OutreachEvent.create(
        kind=fields.pop("kind", EventKind.MARKET_STAND),
        title=title,
        starts_at=starts_at or datetime.now(settings.tz),
        ends_at=ends_at,
        **fields,
    )
    for caller in agents:
        await event.agents.add(caller.user)
    return event


def _section(page: str, section_id: str) -> str:
    match = re.search(rf'<section[^>]*aria-labelledby="{section_id}".*?</section>', page, re.S)
    return match.group(0) if match else ""


def _titles(fragment: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r'<span class="ev-name">([^<]+)</span>', fragment)]


def _figure(page: str, name: str) -> int:
    match = re.search(rf'data-figure="{name}">(\d+)<', page)
    assert match, f"no figure {name}"
    return int(match.group(1))


def _value(page: str, name: str) -> str:
    match = re.search(rf'<input id="[^"]+" name="{name}"[^>]*value="([^"]*)"', page)
    assert match, f"no input {name}"
    return html.unescape(match.group(1))


# ---- who may open the pages -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/field/events", "/field/events/new", "/field/events/1/stand"])
async def test_marketing_staff_may_not_open_the_event_pages(client, make_caller, sign_in, path):
    marketing = await make_caller(Role.MARKETING)
    await _event(marketing)
    await sign_in(marketing.user)
    assert (await client.get(path)).status_code == 403


async def test_a_partner_user_may_not_open_the_event_pages(client, make_partner_user, sign_in):
    await sign_in(await make_partner_user())
    assert (await client.get("/field/events")).status_code == 403


async def test_signed_out_visitors_are_sent_to_the_login_page(client):
    response = await client.get("/field/events")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


async def test_another_agents_event_and_unknown_ids_are_html_404(
    client, signed_in_agent, colleague
):
    theirs = await _event(colleague)
    for path in (
        f"/field/events/{theirs.id}",
        f"/field/events/{theirs.id}/stand",
        f"/field/events/{theirs.id}/edit",
        "/field/events/999999",
        "/field/events/abc",
        "/field/events/99999999999/stand",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")


# ---- the list ---------------------------------------------------------------------------------


async def test_agent_sees_their_own_events_by_period(client, signed_in_agent, colleague):
    today = datetime.now(settings.tz).date()
    next_monday = today + timedelta(days=7 - today.weekday())
    await _event(signed_in_agent, title="Today's market", starts_at=_local(today, 0))
    await _event(signed_in_agent, title="Next week", starts_at=_local(next_monday + timedelta(2)))
    await _event(signed_in_agent, title="Last week", starts_at=_local(today - timedelta(days=5)))
    await _event(signed_in_agent, title="Long ago", starts_at=_local(today - timedelta(days=90)))
    await _event(colleague, title="Not mine", starts_at=_local(today, 0))
    if today.weekday() < 6:  # on a Sunday the week has no day left
        await _event(
            signed_in_agent,
            title="Later this week",
            starts_at=_local(next_monday, 0) - timedelta(hours=1),
        )
    page = (await client.get("/field/events")).text
    assert _titles(_section(page, "ev-today")) == ["Today's market"]
    if today.weekday() < 6:
        assert _titles(_section(page, "ev-week")) == ["Later this week"]
    assert _titles(_section(page, "ev-upcoming")) == ["Next week"]
    assert _titles(_section(page, "ev-recent")) == ["Last week"]
    assert "Not mine" not in page and "Long ago" not in page
    assert 'href="/field/events/new"' in page


async def test_each_listed_event_links_to_its_tally_and_stand_page(client, signed_in_agent):
    event = await _event(signed_in_agent, keyword="MIDI")
    page = (await client.get("/field/events")).text
    assert f'href="/field/events/{event.id}"' in page
    assert f'href="/field/events/{event.id}/stand"' in page
    assert "MIDI" in page


async def test_a_coordinator_sees_every_event(client, make_caller, sign_in, agent, colleague):
    coordinator = await make_caller(Role.COORDINATOR, ui_language="en")
    await _event(agent, title="Sofie's market")
    await _event(colleague, title="Joris's shop")
    await sign_in(coordinator.user)
    page = (await client.get("/field/events")).text
    assert sorted(_titles(_section(page, "ev-today"))) == ["Joris's shop", "Sofie's market"]


# ---- the form ---------------------------------------------------------------------------------


async def _form_data(client, path: str = "/field/events/new", **fields) -> dict[str, str]:
    page = (await client.get(path)).text
    data = {
        "csrf_token": csrf_from(page),
        "kind": "market_stand",
        "title": "Marché de Saint-Gilles",
        "starts_at": "2026-11-29T08:00",
        "ends_at": "2026-11-29T13:00",
        "place": "Parvis",
        "postcode": "1060",
        "language": "",
        "keyword": "",
        "notes": "bring the banner",
    }
    data.update(fields)
    return data


async def test_an_agent_creates_an_event_from_the_phone_form(client, signed_in_agent):
    response = await client.post("/field/events/new", data=await _form_data(client))
    assert response.status_code == 303, response.text
    [event] = await OutreachEvent.all()
    assert response.headers["location"] == f"/field/events/{event.id}"
    assert event.title == "Marché de Saint-Gilles" and event.kind == EventKind.MARKET_STAND
    assert event.starts_at.astimezone(settings.tz) == datetime(2026, 11, 29, 8, tzinfo=settings.tz)
    assert event.ends_at.astimezone(settings.tz).hour == 13
    assert (event.place, event.postcode, event.language) == ("Parvis", "1060", None)
    assert event.notes == "bring the banner"
    assert event.keyword == f"MARCHE{event.id}"  # none given: made from the title
    assert await event.agents.all().values_list("id", flat=True) == [signed_in_agent.user.id]
    assert await AuditEntry.filter(action="event.create", entity_id=event.id).exists()


async def test_the_form_keyword_is_normalised(client, signed_in_agent):
    data = await _form_data(client, keyword=" midi ", language="nl", postcode="")
    assert (await client.post("/field/events/new", data=data)).status_code == 303
    event = await OutreachEvent.get()
    assert (event.keyword, event.language) == ("MIDI", "nl")


@pytest.mark.parametrize(
    ("fields", "name", "message"),
    [
        ({"title": ""}, "title", "Fill this in."),
        ({"starts_at": "tomorrow"}, "starts_at", "Give a date and a time"),
        ({"starts_at": "0001-01-01T00:00"}, "starts_at", "Give a date and a time"),
        ({"ends_at": "29/11/2026"}, "ends_at", "Give a date and a time"),
        ({"starts_at": ""}, "starts_at", "Fill this in."),
        ({"ends_at": "2026-11-29T07:00"}, "ends_at", "The end must not be before the start."),
        ({"kind": "rave"}, "kind", "Choose one of the options."),
        ({"language": "en"}, "language", "Choose one of the options."),
        ({"keyword": "STOP"}, "keyword", "This word is reserved"),
        ({"keyword": "Arrêter"}, "keyword", "This word is reserved"),
        ({"keyword": "MA 12"}, "keyword", "3 to 20 letters or digits"),
        ({"postcode": "99"}, "postcode", "A Belgian postcode has four digits"),
    ],
)
async def test_bad_input_is_shown_next_to_the_field_with_what_was_typed(
    client, signed_in_agent, fields, name, message
):
    data = await _form_data(client, **fields)
    response = await client.post("/field/events/new", data=data)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    error = re.search(rf'<p class="field-error ev-error" id="err-{name}">([^<]*)</p>', page)
    assert error and message in html.unescape(error.group(1)), page
    assert _value(page, "title") == data["title"]
    assert _value(page, "place") == "Parvis"
    assert await OutreachEvent.all().count() == 0


async def test_a_keyword_of_another_event_is_refused_in_the_form(
    client, signed_in_agent, colleague
):
    await _event(colleague, keyword="MIDI")
    response = await client.post("/field/events/new", data=await _form_data(client, keyword="midi"))
    assert response.status_code == 422
    assert 'id="err-keyword">Another event already has this keyword.<' in response.text
    assert _value(response.text, "keyword") == "midi"
    assert await OutreachEvent.all().count() == 1


async def test_a_form_without_the_csrf_token_is_refused(client, signed_in_agent):
    data = await _form_data(client)
    data["csrf_token"] = "forged"
    assert (await client.post("/field/events/new", data=data)).status_code == 403
    assert await OutreachEvent.all().count() == 0


async def test_an_agent_changes_their_event(client, signed_in_agent):
    event = await _event(signed_in_agent, title="Marché", keyword="MIDI", notes="old")
    path = f"/field/events/{event.id}/edit"
    page = (await client.get(path)).text
    assert _value(page, "keyword") == "MIDI" and _value(page, "title") == "Marché"
    data = await _form_data(client, path, title="Braderie", keyword="Gare2", notes="")
    response = await client.post(path, data=data)
    assert (
        response.status_code == 303 and response.headers["location"] == f"/field/events/{event.id}"
    )
    await event.refresh_from_db()
    assert (event.title, event.keyword, event.notes) == ("Braderie", "GARE2", None)


async def test_a_keyword_emptied_in_the_form_is_made_again_from_the_title(client, signed_in_agent):
    event = await _event(signed_in_agent, title="Marché", keyword="MIDI")
    path = f"/field/events/{event.id}/edit"
    data = await _form_data(client, path, title="Braderie d'hiver", keyword="")
    assert (await client.post(path, data=data)).status_code == 303
    await event.refresh_from_db()
    assert event.keyword == f"BRADERIE{event.id}"


async def test_bad_input_when_changing_keeps_the_stored_event(client, signed_in_agent):
    event = await _event(signed_in_agent, title="Marché", keyword="MIDI")
    path = f"/field/events/{event.id}/edit"
    data = await _form_data(client, path, title="", keyword="STOP")
    response = await client.post(path, data=data)
    assert response.status_code == 422
    assert 'id="err-title"' in response.text and 'id="err-keyword"' in response.text
    await event.refresh_from_db()
    assert (event.title, event.keyword) == ("Marché", "MIDI")


async def test_an_agent_cannot_change_another_agents_event(client, signed_in_agent, colleague):
    theirs = await _event(colleague, title="Theirs")
    path = f"/field/events/{theirs.id}/edit"
    data = await _form_data(client, title="Mine now")
    assert (await client.post(path, data=data)).status_code == 404
    await theirs.refresh_from_db()
    assert theirs.title == "Theirs"


# ---- the stand page ---------------------------------------------------------------------------


def _qr_element(page: str, kind: str) -> tuple[str, str]:
    """The `data-link` of a QR code on the page and the SVG drawn for it."""
    match = re.search(
        rf'<div class="qr-code qr-{kind}" data-link="([^"]+)">(<svg.*?</svg>)', page, re.S
    )
    assert match, f"no {kind} QR code"
    return html.unescape(match.group(1)), match.group(2)


def _dark_modules(svg: str) -> set[tuple[int, int]]:
    """The dark modules a segno SVG path draws ("M4 4.5h7m1 0h6…": horizontal runs), moved so
    that the first row and column are 0 (the quiet zone does not matter)."""
    [path] = re.findall(r'<path class="qr-dark"[^>]* d="([^"]+)"', svg)
    x = y = 0.0
    dark = set()
    for command, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:
            dark.update((int(x) + i, int(y)) for i in range(int(float(a))))
            x += float(a)
    return _origin(dark)


def _origin(cells: set[tuple[int, int]]) -> set[tuple[int, int]]:
    left, top = min(c for c, _ in cells), min(r for _, r in cells)
    return {(c - left, r - top) for c, r in cells}


def _segno_modules(content: str) -> set[tuple[int, int]]:
    code = segno.make(content, error="m")
    return _origin({(c, r) for r, row in enumerate(code.matrix) for c, v in enumerate(row) if v})


@pytest.fixture
def providers_shown(monkeypatch):
    monkeypatch.setattr(settings, "TELEGRAM_BOT_USERNAME", BOT)
    monkeypatch.setattr(settings, "TWILIO_FROM", NUMBER)


async def test_the_stand_page_shows_the_telegram_deep_link_as_a_qr_code(
    client, signed_in_agent, providers_shown
):
    event = await _event(signed_in_agent, keyword="MIDI")
    page = (await client.get(f"/field/events/{event.id}/stand")).text
    link, svg = _qr_element(page, "telegram")
    assert link == f"https://t.me/{BOT}?start=ev_{event.id}"
    assert _dark_modules(svg) == _segno_modules(link)
    assert f'<a href="{link}">{link}</a>' in page  # written out too


async def test_the_stand_page_shows_the_keyword_the_number_and_an_sms_qr_code(
    client, signed_in_agent, providers_shown
):
    event = await _event(signed_in_agent, keyword="MIDI")
    page = (await client.get(f"/field/events/{event.id}/stand")).text
    link, svg = _qr_element(page, "sms")
    assert link == f"sms:{NUMBER}?body=MIDI"
    assert _dark_modules(svg) == _segno_modules(link)
    assert '<p class="stand-keyword">MIDI</p>' in page
    assert "+32 2 555 01 00" in page


async def test_the_stand_speaks_the_events_language_first_and_the_others_smaller(
    client, signed_in_agent, providers_shown
):
    event = await _event(signed_in_agent, keyword="MIDI", language="nl")
    page = (await client.get(f"/field/events/{event.id}/stand")).text.replace("\u00a0", " ")
    assert '<div class="stand" lang="nl">' in page
    assert '<h1 class="stand-headline">Heeft u een idee voor een eigen zaak?</h1>' in page
    assert "Stuur MIDI naar +32 2 555 01 00." in page
    others = page[page.index('<div class="stand-others">') :]
    assert 'lang="fr"' in others and 'lang="de"' in others
    assert "envoyez MIDI au +32 2 555 01 00" in html.unescape(others)


async def test_the_stand_language_follows_the_postcode_when_the_event_has_none(
    client, signed_in_agent, providers_shown
):
    event = await _event(signed_in_agent, keyword="EUPEN", postcode="4700")
    page = (await client.get(f"/field/events/{event.id}/stand")).text
    assert '<div class="stand" lang="de">' in page


async def test_the_stand_page_says_what_an_admin_must_set_when_nothing_is_configured(
    client, signed_in_agent, monkeypatch
):
    monkeypatch.setattr(settings, "TELEGRAM_BOT_USERNAME", None)
    monkeypatch.setattr(settings, "TWILIO_FROM", "MG0123456789abcdef0123456789abcdef")
    monkeypatch.setattr(settings, "SMS_PUBLIC_NUMBER", None)
    event = await _event(signed_in_agent, keyword="MIDI")
    page = (await client.get(f"/field/events/{event.id}/stand")).text
    assert "qr-code" not in page and "<svg" not in page
    assert "TELEGRAM_BOT_USERNAME" in page and "SMS_PUBLIC_NUMBER" in page


async def test_the_public_sms_number_setting_wins_over_the_sender(
    client, signed_in_agent, providers_shown, monkeypatch
):
    monkeypatch.setattr(settings, "SMS_PUBLIC_NUMBER", "+32470000001")
    event = await _event(signed_in_agent, keyword="MIDI")
    link, _ = _qr_element((await client.get(f"/field/events/{event.id}/stand")).text, "sms")
    assert link == "sms:+32470000001?body=MIDI"


async def test_an_event_without_a_keyword_offers_to_give_it_one(
    client, signed_in_agent, providers_shown
):
    event = await _event(signed_in_agent)
    page = (await client.get(f"/field/events/{event.id}/stand")).text
    assert "qr-sms" not in page
    assert f'href="/field/events/{event.id}/edit"' in page
    assert "qr-telegram" in page


async def test_the_stand_page_has_no_inline_style_or_script(
    client, signed_in_agent, providers_shown
):
    event = await _event(signed_in_agent, keyword="MIDI")
    response = await client.get(f"/field/events/{event.id}/stand")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert " style=" not in response.text and "<script>" not in response.text


# ---- the tally --------------------------------------------------------------------------------


async def _met(lead: Lead, event: OutreachEvent, author, interest=None, minutes=0, **extra):
    return await Interaction.create(
        lead=lead,
        kind=extra.pop("kind", InteractionKind.CONTACT),
        channel=InteractionChannel.IN_PERSON,
        occurred_at=_local(date(2026, 11, 29)) + timedelta(minutes=minutes),
        interest=interest,
        event=event,
        author_id=author.user.id,
    )


async def _consent(lead: Lead, purpose: ConsentPurpose, granted: bool = True) -> None:
    await record_consent(
        lead,
        ConsentIn(purpose=purpose, granted=granted),
        source=ConsentSource.EVENT,
        actor=None,
    )


@pytest.fixture
async def tallied(agent, colleague):
    """One market, worked by Sofie and Joris, and what happened there (the figures expected
    are worked out by hand in the tests)."""
    event = await _event(agent, colleague, title="Marché du Midi", keyword="MIDI")
    other = await _event(agent, title="Another market")
    # Amina: new, met twice by Sofie (interest low, then high), then a note without interest.
    amina = await Lead.create(
        first_name="Amina", source=LeadSource.EVENT, event=event, reached_by_id=agent.user.id
    )
    await _met(amina, event, agent, Interest.LOW)
    await _met(amina, event, agent, Interest.HIGH, minutes=30)
    await _met(amina, event, agent, None, minutes=60, kind=InteractionKind.NOTE)
    await _consent(amina, ConsentPurpose.SMS)
    await _consent(amina, ConsentPurpose.SHARE_WITH_PARTNERS)
    # Jan: known before, met by Sofie (medium); SMS granted then withdrawn, Telegram granted.
    jan = await Lead.create(first_name="Jan", source=LeadSource.WALK_IN)
    await _met(jan, event, agent, Interest.MEDIUM, minutes=10)
    await _consent(jan, ConsentPurpose.TELEGRAM)
    await _consent(jan, ConsentPurpose.SMS)
    await _consent(jan, ConsentPurpose.SMS, granted=False)
    # Karim: new, met by Joris only (no interest noted), SMS granted; Sofie does not see him.
    karim = await Lead.create(
        first_name="Karim", source=LeadSource.EVENT, event=event, reached_by_id=colleague.user.id
    )
    await _met(karim, event, colleague, minutes=20)
    await _consent(karim, ConsentPurpose.SMS)
    # Wrote in: one by the SMS keyword, one through the Telegram QR code; never met.
    await Lead.create(first_name="+32 470 00 00 01", source=LeadSource.SMS, event=event)
    await Lead.create(first_name="Telegram", source=LeadSource.TELEGRAM, event=event)
    # Known before, then texted the keyword: attributed to the event afterwards, not new.
    known = await Lead.create(first_name="Lies", source=LeadSource.WALK_IN, phone="+32470000002")
    await fill_empty_attribution(known, {"event_id": event.id})
    # Met at another event: counts there, not here.
    elsewhere = await Lead.create(first_name="Monika", source=LeadSource.EVENT, event=other)
    await _met(elsewhere, other, agent, Interest.HIGH)
    return event


async def test_the_tally_counts_the_stored_rows(client, signed_in_agent, tallied):
    response = await client.get(f"/field/events/{tallied.id}")
    assert response.status_code == 200
    page = response.text
    assert _figure(page, "people_met") == 3  # Amina, Jan, Karim
    assert _figure(page, "new_people") == 4  # Amina, Karim, the SMS and the Telegram newcomers
    assert _figure(page, "wrote_in_sms") == 1
    assert _figure(page, "wrote_in_telegram") == 1
    assert _figure(page, "consent_sms") == 2  # Amina, Karim (Jan withdrew)
    assert _figure(page, "consent_telegram") == 1  # Jan
    assert _figure(page, "consent_share_with_partners") == 1  # Amina
    assert _figure(page, "consent_email") == 0
    assert _figure(page, "interest_high") == 1  # Amina's latest
    assert _figure(page, "interest_medium") == 1  # Jan
    assert _figure(page, "interest_low") == 0
    assert _figure(page, "interest_unknown") == 1  # Karim


async def test_the_tally_lists_the_people_met_the_agent_may_see(client, signed_in_agent, tallied):
    page = (await client.get(f"/field/events/{tallied.id}")).text
    listed = _section(page, "tally-people")
    amina, jan = await Lead.get(first_name="Amina"), await Lead.get(first_name="Jan")
    # The latest met first (Amina's note came last), each linking to the person's page.
    assert _titles(listed) == ["Amina", "Jan"]
    assert (
        f'href="/field/people/{amina.id}"' in listed and f'href="/field/people/{jan.id}"' in listed
    )
    assert "Karim" not in page
    assert "1 more person met by colleagues." in listed


async def test_a_coordinator_sees_everyone_met_in_the_tally(client, make_caller, sign_in, tallied):
    coordinator = await make_caller(Role.COORDINATOR, ui_language="en")
    await sign_in(coordinator.user)
    page = (await client.get(f"/field/events/{tallied.id}")).text
    assert _titles(_section(page, "tally-people")) == ["Amina", "Karim", "Jan"]
    assert "met by colleagues" not in page
    assert _figure(page, "people_met") == 3


async def test_an_event_nobody_was_met_at_has_a_zero_tally(client, signed_in_agent):
    event = await _event(signed_in_agent)
    page = (await client.get(f"/field/events/{event.id}")).text
    assert _figure(page, "people_met") == 0 and _figure(page, "new_people") == 0
    assert f'href="/field/events/{event.id}/stand"' in page
    assert f'href="/field/log?event={event.id}"' in page


async def test_the_tally_agrees_with_the_service_used_by_the_page(signed_in_agent, tallied):
    # The same figures straight from the service, for the agent and for everyone.
    from crm.outreach.field_events import event_tally

    tally = await event_tally(tallied, actor=actor_for_user(signed_in_agent.user))
    assert (tally.people_met, tally.met_not_shown, len(tally.met)) == (3, 1, 2)
    assert tally.interest == {"low": 0, "medium": 1, "high": 1}
