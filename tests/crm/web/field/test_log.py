"""Logging a contact in the field app (`/field/log`) without JavaScript, and what the offline
app needs from the server: the consent texts in the person's language with their version, the
service worker and the manifest."""

from __future__ import annotations

import html
import re
import uuid
from datetime import datetime, timedelta

import pytest
from markupsafe import escape

from crm.config import settings
from crm.enums import Role
from crm.outreach.models import EventKind, Interaction, OutreachEvent, SyncReceipt
from crm.people import consent_texts
from crm.people.models import ConsentRecord, Lead, LeadSegment, LeadSource, Stage

from ..conftest import csrf_from


@pytest.fixture
async def agent(app, make_caller):
    return await make_caller(Role.AGENT, first_name="Sofie", last_name="Claes", ui_language="fr")


@pytest.fixture
async def signed_in_agent(agent, sign_in):
    await sign_in(agent.user)
    return agent


async def _event(agent, *, language=None, postcode=None, title="Marché du Midi", days=0):
    now = datetime.now(settings.tz)
    event = await OutreachEvent.create(
        kind=EventKind.MARKET_STAND,
        title=title,
        starts_at=now - timedelta(hours=1) + timedelta(days=days),
        ends_at=now + timedelta(hours=3) + timedelta(days=days),
        language=language,
        postcode=postcode,
    )
    await event.agents.add(agent.user)
    return event


def _hidden(page: str, name: str) -> str:
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden {name}"
    return html.unescape(match.group(1))


def _checked(page: str, name: str) -> list[str]:
    return re.findall(
        rf'<input type="(?:radio|checkbox)" id="[^"]+" name="{name}" value="([^"]+)" checked>', page
    )


def _selected_event(page: str) -> str:
    match = re.search(r'<option value="(\d*)"[^>]* selected>', page)
    return match.group(1) if match else ""


async def _form(client, **fields) -> dict:
    page = (await client.get("/field/log")).text
    data = {
        "csrf_token": csrf_from(page),
        "client_id": _hidden(page, "client_id"),
        "lead_id": "",
        "consent_text_version": _hidden(page, "consent_text_version"),
        "event_id": _selected_event(page),
        "first_name": "Amina",
        "phone": "0470 12 34 56",
        "language": "fr",
        "notes": "wants to open a tailoring workshop",
    }
    data.update(fields)
    return data


# --- the page ----------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["fr", "nl", "de"])
async def test_log_page_shows_consent_texts_in_the_events_language(
    client, signed_in_agent, language
):
    event = await _event(signed_in_agent, language=language)
    page = await client.get("/field/log")
    assert page.status_code == 200
    text = page.text
    assert 'data-sync="contact"' in text and 'inputmode="tel"' in text
    assert _hidden(text, "consent_text_version") == consent_texts.version_tag(language)
    assert _checked(text, "language") == [language]
    assert re.search(rf'<option value="{event.id}" data-language="{language}" selected>', text)
    for purpose in ("sms", "telegram", "share_with_partners"):
        for code in ("fr", "nl", "de"):  # all three, the one shown follows the language ticked
            shown = escape(consent_texts.text(purpose, code))
            assert f'<span class="ct" lang="{code}">{shown}</span>' in text
    uuid.UUID(_hidden(text, "client_id"))  # a fresh uuid4 made by the server


async def test_log_page_opened_for_an_event_takes_its_region_language(client, signed_in_agent):
    await _event(signed_in_agent, language="fr", title="Today in Saint-Gilles")
    ghent = await _event(signed_in_agent, postcode="9000", title="Gent", days=3)
    page = (await client.get(f"/field/log?event={ghent.id}")).text
    assert re.search(rf'<option value="{ghent.id}" data-language="nl" selected>', page)
    assert _hidden(page, "consent_text_version") == "2026-11/nl"


async def test_log_page_without_an_event_takes_the_agents_language(client, make_caller, sign_in):
    agent = await make_caller(Role.AGENT, ui_language="de")
    await sign_in(agent.user)
    page = (await client.get("/field/log")).text
    assert 'name="event_id"' not in page  # no event today: no choice to make
    assert _checked(page, "language") == ["de"]
    assert _hidden(page, "consent_text_version") == "2026-11/de"


async def test_log_page_is_for_field_roles_only(client, make_caller, sign_in):
    assert (await client.get("/field/log")).headers["location"] == "/login?next=/field/log"
    marketing = await make_caller(Role.MARKETING)
    await sign_in(marketing.user)
    assert (await client.get("/field/log")).status_code == 403


# --- the form without JavaScript ---------------------------------------------------------------


async def test_posted_contact_stores_person_consents_with_text_version_and_meeting(
    client, signed_in_agent
):
    event = await _event(signed_in_agent, language="nl")
    form = await _form(
        client,
        language="nl",
        segments=["women", "youth"],
        interest="high",
        consents=["sms", "share_with_partners"],
        postcode="1060",
        last_name="Benali",
    )
    assert form["consent_text_version"] == "2026-11/nl"
    response = await client.post("/field/log", data=form)
    assert response.status_code == 303, response.text
    lead = await Lead.get(phone="+32470123456")
    assert response.headers["location"] == f"/field/people/{lead.id}"
    assert (lead.first_name, lead.last_name, lead.language, lead.postcode) == (
        "Amina",
        "Benali",
        "nl",
        "1060",
    )
    assert (lead.stage, lead.source, lead.event_id) == (Stage.LEAD, LeadSource.EVENT, event.id)
    codes = (
        await LeadSegment.filter(lead_id=lead.id).order_by("code").values_list("code", flat=True)
    )
    assert codes == ["women", "youth"]
    consents = await ConsentRecord.filter(lead_id=lead.id).order_by("purpose")
    assert [(c.purpose, c.granted, c.text_version) for c in consents] == [
        ("share_with_partners", True, "2026-11/nl"),
        ("sms", True, "2026-11/nl"),
    ]
    meeting = await Interaction.get(lead_id=lead.id)
    assert (meeting.kind, meeting.channel, meeting.interest) == ("contact", "in_person", "high")
    assert str(meeting.client_id) == form["client_id"] and meeting.event_id == event.id
    assert meeting.notes == "wants to open a tailoring workshop"
    # The next field page says it was saved (once).
    queue = (await client.get("/field/queue")).text
    assert 'class="notice"' in queue and "Amina" in queue
    assert 'class="notice"' not in (await client.get("/field/queue")).text


async def test_language_changed_without_javascript_records_that_languages_text(
    client, signed_in_agent
):
    await _event(signed_in_agent, language="fr")
    form = await _form(client, language="de", consents=["telegram"])
    assert form["consent_text_version"] == "2026-11/fr"  # what the page had ticked first
    assert (await client.post("/field/log", data=form)).status_code == 303
    (consent,) = await ConsentRecord.all()
    assert consent.text_version == "2026-11/de"  # the text the page showed once German ticked


async def test_impossible_phone_is_refused_in_place_keeping_what_was_typed(client, signed_in_agent):
    form = await _form(
        client,
        phone="0470 12",
        segments=["women", "job_seeker"],
        interest="medium",
        consents=["sms"],
        notes="sells spices at the market",
        postcode="1080",
    )
    response = await client.post("/field/log", data=form)
    assert response.status_code == 422
    page = response.text
    error = re.search(r'<p class="field-error" id="err-phone">([^<]+)</p>', page)
    assert error and "possible" in error.group(1)
    phone = re.search(r'<input id="log-phone" name="phone"[^>]*>', page)
    assert phone and 'value="0470 12"' in phone.group(0)
    assert 'aria-invalid="true" aria-describedby="err-phone"' in phone.group(0)
    assert 'value="Amina"' in page and 'value="1080"' in page
    assert sorted(_checked(page, "segments")) == ["job_seeker", "women"]
    assert _checked(page, "interest") == ["medium"] and _checked(page, "consents") == ["sms"]
    assert _checked(page, "language") == ["fr"]
    assert ">sells spices at the market</textarea>" in page
    assert _hidden(page, "client_id") == form["client_id"]  # nothing stored: same item
    assert await Lead.all().count() == 0 and await SyncReceipt.all().count() == 0


async def test_empty_first_name_is_refused_in_place(client, signed_in_agent):
    form = await _form(client, first_name="  ", segments=["youth"])
    response = await client.post("/field/log", data=form)
    assert response.status_code == 422
    assert 'id="err-first_name"' in response.text
    assert 'value="0470 12 34 56"' in response.text and _checked(response.text, "segments") == [
        "youth"
    ]
    assert await Lead.all().count() == 0


async def test_the_same_form_posted_twice_is_stored_once(client, signed_in_agent):
    form = await _form(client, consents=["sms"])
    first = await client.post("/field/log", data=form)
    second = await client.post("/field/log", data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert await Lead.all().count() == 1 and await Interaction.all().count() == 1
    assert await ConsentRecord.all().count() == 1


async def test_a_known_phone_adds_the_contact_to_that_person(client, signed_in_agent):
    first = await client.post("/field/log", data=await _form(client, first_name="Fatma"))
    known = await Lead.get(phone="+32470123456")
    form = await _form(client, first_name="Fatima", phone="+32 470 12 34 56")
    again = await client.post("/field/log", data=form)
    assert again.status_code == 303 and again.headers["location"] == first.headers["location"]
    assert await Lead.all().count() == 1
    assert (await Lead.get(id=known.id)).first_name == "Fatma"  # not written over
    assert await Interaction.filter(lead_id=known.id).count() == 2
    notice = (await client.get("/field/queue")).text
    assert "Fatima" in notice and "Fatma" in notice  # the difference is shown


async def test_the_duplicate_chosen_by_the_agent_gets_the_contact(client, signed_in_agent):
    await client.post("/field/log", data=await _form(client, first_name="Fatma"))
    known = await Lead.get(phone="+32470123456")
    form = await _form(client, first_name="Fatma", phone="0470123456", lead_id=str(known.id))
    response = await client.post("/field/log", data=form)
    assert response.headers["location"] == f"/field/people/{known.id}"
    assert await Interaction.filter(lead_id=known.id).count() == 2


async def test_post_without_csrf_token_is_refused(client, signed_in_agent):
    form = await _form(client)
    del form["csrf_token"]
    assert (await client.post("/field/log", data=form)).status_code == 403
    assert await Lead.all().count() == 0


# --- offline ------------------------------------------------------------------------------------


async def test_service_worker_is_served_for_the_field_scope(client):
    response = await client.get("/field/sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert response.headers["service-worker-allowed"] == "/field/"
    assert response.headers["cache-control"] == "no-cache"
    config = re.match(r"self\.FIELD_CONFIG = (\{.*\});\n", response.text)
    assert config
    body = config.group(1)
    # The assets exactly as the pages reference them (content-hashed), and a cache version.
    assert re.search(r'"/static/field/app\.js\?v=[0-9a-f]{10}"', body)
    assert re.search(r'"/static/field/field\.css\?v=[0-9a-f]{10}"', body)
    assert re.search(r'"version": "[0-9a-f]{12}"', body)
    assert '"/field/log"' in body and '"/field/offline"' in body


async def test_manifest_is_served(client):
    response = await client.get("/field/manifest.webmanifest")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = response.json()
    assert manifest["scope"] == "/field/" and manifest["start_url"] == "/field/"
    assert manifest["display"] == "standalone" and manifest["icons"]


async def test_queue_and_offline_pages_are_shells(client, signed_in_agent):
    queue = await client.get("/field/queue")
    assert queue.status_code == 200 and 'id="queue-list"' in queue.text
    assert 'id="queue-empty"' in queue.text  # what a phone without JavaScript sees
    offline = await client.get("/field/offline")
    assert offline.status_code == 200 and 'href="/field/log"' in offline.text
    for page in (queue, offline):
        assert '<template id="field-strings">' in page.text
        assert page.headers["cache-control"] == "no-store"
