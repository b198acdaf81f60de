"""The campaign and story pages, signed in through the real login form: the list, the editor
(three languages, a template error kept with what was typed), the campaign's buttons, checks and
results, the story library, the roles, and the editor's page-side preview endpoint."""

from __future__ import annotations

import html
import re
from datetime import date, datetime, timedelta

import pytest

from campaigns.models import Campaign, CampaignStatus
from crm.config import settings
from crm.enums import Role
from crm.stories.models import SuccessStory
from tests.campaigns.conftest import run_at, soon
from tests.crm.web.conftest import csrf_from, login

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MESSAGES = {
    "fr": "Bonjour {{ first_name }} ! Séance d'info jeudi. {{ opt_out }}",
    "nl": "Hallo {{ first_name }}! Infosessie donderdag. {{ opt_out }}",
    "de": "Hallo {{ first_name }}! Infoveranstaltung am Donnerstag. {{ opt_out }}",
}


@pytest.fixture
def sign_in(client):
    async def _sign_in(user) -> None:
        response = await login(client, user.email)
        assert response.status_code == 303, response.text

    return _sign_in


def local_today() -> date:
    return datetime.now(settings.tz).date()


def tomorrow_local() -> datetime:
    return datetime.now(settings.tz) + timedelta(days=1)


def editor_form(token: str, **changes: object) -> dict[str, object]:
    when = tomorrow_local()
    form: dict[str, object] = {
        "csrf_token": token,
        "name": "Info session in three languages",
        "goal": "Bring people met at the market to Thursday's info session",
        "channel": "sms",
        "default_language": "fr",
        "conversion_days": "14",
        "segments": ["women", "youth"],
        "stages": ["lead"],
        "postcodes": "1080, 1030",
        "story_mode": "none",
        "schedule_kind": "at",
        "at_date": when.date().isoformat(),
        "at_time": "10:30",
        "message_fr": MESSAGES["fr"],
        "message_nl": MESSAGES["nl"],
        "message_de": MESSAGES["de"],
    }
    form.update(changes)
    return form


async def api_campaign(client, caller, **fields) -> dict:
    body = {"name": "Market follow-up", "channel": "sms", "messages": MESSAGES} | fields
    created = await client.post("/api/v1/campaigns", json=body, headers=caller.headers)
    assert created.status_code == 201, created.text
    return created.json()


async def test_list_shows_a_campaign_with_its_status_and_filters(client, marketing, sign_in):
    campaign = await api_campaign(client, marketing, schedule={"at": soon()})
    await sign_in(marketing.user)
    page = await client.get("/campaigns")
    assert page.status_code == 200
    assert f'<a href="/campaigns/{campaign["id"]}">Market follow-up</a>' in page.text
    assert "campaign-draft" in page.text and "Brouillon" in page.text
    assert 'href="/campaigns/new"' in page.text and 'href="/campaigns"' in page.text
    assert "Market follow-up" not in (await client.get("/campaigns?status=scheduled")).text
    assert (await client.get("/campaigns?status=nope&page=abc")).status_code == 200


async def test_creating_a_three_language_campaign_through_the_editor(
    client, marketing, person, sign_in
):
    await person(first_name="Amina", language="fr", postcode="1080", stage="lead")
    await sign_in(marketing.user)
    editor = await client.get("/campaigns/new")
    assert editor.status_code == 200
    assert 'data-preview-url="/campaigns/preview"' in editor.text
    assert "{{ first_name }}" in editor.text  # the list of variables
    response = await client.post("/campaigns/new", data=editor_form(csrf_from(editor.text)))
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/campaigns/(\d+)\?done=saved", response.headers["location"])
    assert match
    campaign = await Campaign.get(id=int(match.group(1)))
    assert campaign.status == CampaignStatus.DRAFT and campaign.created_by_id == marketing.user.id
    assert campaign.messages == MESSAGES
    assert campaign.audience == {
        "segments": ["women", "youth"], "stages": ["lead"], "postcodes": ["1080", "1030"],
    }  # fmt: skip
    assert campaign.schedule == {"at": f"{tomorrow_local().date().isoformat()}T10:30"}

    page = await client.get(response.headers["location"])
    assert page.status_code == 200
    assert "La campagne a été enregistrée." in page.text
    assert "Bonjour Amina ! Séance d'info jeudi." in html.unescape(page.text)  # checks sample
    assert f'action="/campaigns/{campaign.id}/schedule"' in page.text

    # The editor opens with what was saved, and a change is stored.
    edit = await client.get(f"/campaigns/{campaign.id}/edit")
    assert "Infoveranstaltung am Donnerstag" in edit.text and 'value="1080, 1030"' in edit.text
    changed = editor_form(csrf_from(edit.text), message_de="Guten Tag {{ first_name }}!")
    response = await client.post(f"/campaigns/{campaign.id}/edit", data=changed)
    assert response.status_code == 303, response.text
    assert (await Campaign.get(id=campaign.id)).messages["de"] == "Guten Tag {{ first_name }}!"


async def test_template_error_keeps_the_typed_text_and_names_the_line(client, marketing, sign_in):
    await sign_in(marketing.user)
    editor = await client.get("/campaigns/new")
    typed = "Hallo {{ first_name }},\nwelkom {{ prenom }}!"
    response = await client.post(
        "/campaigns/new", data=editor_form(csrf_from(editor.text), message_nl=typed)
    )
    assert response.status_code == 422
    text = html.unescape(response.text)
    assert typed in text  # the textarea keeps what was typed
    assert MESSAGES["fr"] in text and "Info session in three languages" in text
    assert "Ligne 2: unknown variable 'prenom'" in text
    assert 'class="tab tab-error"' in response.text and 'id="msg-tab-nl"' in response.text
    assert await Campaign.all().count() == 0


async def test_a_refused_schedule_is_shown_beside_its_field(client, marketing, sign_in):
    await sign_in(marketing.user)
    editor = await client.get("/campaigns/new")
    yesterday = (datetime.now(settings.tz) - timedelta(days=1)).date().isoformat()
    response = await client.post(
        "/campaigns/new",
        data=editor_form(csrf_from(editor.text), at_date=yesterday, not_messaged_days="abc"),
    )
    assert response.status_code == 422 and "give a whole number" in response.text
    response = await client.post(
        "/campaigns/new", data=editor_form(csrf_from(editor.text), at_date=yesterday)
    )
    assert response.status_code == 422 and "this time is in the past" in response.text
    assert await Campaign.all().count() == 0


async def test_buttons_schedule_pause_resume_and_cancel(client, marketing, person, sign_in):
    await person(first_name="Amina")
    campaign = await api_campaign(client, marketing, schedule={"at": soon(60)})
    await sign_in(marketing.user)
    url = f"/campaigns/{campaign['id']}"
    page = await client.get(url)
    token = csrf_from(page.text)
    for action, status, label in (
        ("schedule", CampaignStatus.SCHEDULED, "La campagne est programmée."),
        ("pause", CampaignStatus.PAUSED, "La campagne est en pause"),
        ("resume", CampaignStatus.RUNNING, "La campagne a repris."),
        ("cancel", CampaignStatus.CANCELLED, "La campagne est annulée"),
    ):
        response = await client.post(f"{url}/{action}", data={"csrf_token": token})
        assert response.status_code == 303, (action, response.text)
        assert response.headers["location"] == f"{url}?done={action}"
        assert (await Campaign.get(id=campaign["id"])).status == status
        assert label in (await client.get(response.headers["location"])).text
    # Nothing is left to do with a cancelled campaign: the refusal is shown on its page.
    refused = await client.post(f"{url}/pause", data={"csrf_token": token})
    assert refused.status_code == 409 and 'role="alert"' in refused.text
    assert "a cancelled campaign cannot be paused" in refused.text
    assert (await client.post(f"{url}/schedule", data={})).status_code == 403  # no CSRF
    assert (await client.post(f"{url}/explode", data={"csrf_token": token})).status_code == 404


async def test_campaign_page_shows_results_and_charts_after_a_run(
    client, marketing, person, dispatcher, sign_in
):
    await person(first_name="Amina", language="fr")
    await person(first_name="Sofie", language="nl")
    await person(first_name="Ali", consent=False)
    campaign = await api_campaign(client, marketing, schedule={"at": soon()})
    scheduled = await client.post(
        f"/api/v1/campaigns/{campaign['id']}/schedule", headers=marketing.headers
    )
    assert scheduled.status_code == 200, scheduled.text
    stored = await Campaign.get(id=campaign["id"])
    assert await run_at(stored.next_run_at + timedelta(seconds=1)) == 1
    await dispatcher.drain(max_seconds=5)
    await sign_in(marketing.user)
    page = await client.get(f"/campaigns/{campaign['id']}")
    assert page.status_code == 200
    assert '<dd data-figure="sent">2</dd>' in page.text
    assert '<svg class="chart-funnel"' in page.text and '<svg class="chart-skips"' in page.text
    assert "Pas de consentement" in page.text  # the skip reason, in French
    assert "Du public aux conversions" in page.text


async def test_agent_gets_403_and_a_visitor_is_sent_to_login(client, make_caller, sign_in):
    response = await client.get("/campaigns")
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/campaigns"
    agent = await make_caller(Role.AGENT)
    await sign_in(agent.user)
    for path in ("/campaigns", "/campaigns/new", "/stories", "/stories/new"):
        assert (await client.get(path)).status_code == 403, path
    leads = await client.get("/leads")
    assert 'href="/campaigns"' not in leads.text and 'href="/stories"' not in leads.text
    preview = await client.post(
        "/campaigns/preview",
        json={"messages": {"fr": "Bonjour"}},
        headers={"X-CSRF-Token": csrf_from(leads.text)},
    )
    assert preview.status_code == 403


async def test_coordinator_sees_the_menu_links(client, make_caller, sign_in):
    coordinator = await make_caller(Role.COORDINATOR)
    await sign_in(coordinator.user)
    page = await client.get("/stories")
    assert page.status_code == 200
    assert 'href="/campaigns"' in page.text and 'href="/stories" aria-current="page"' in page.text


async def test_story_created_and_edited_with_translations_and_consent_date(
    client, marketing, sign_in
):
    await sign_in(marketing.user)
    form = await client.get("/stories/new")
    assert form.status_code == 200
    until = local_today() + timedelta(days=365)
    response = await client.post(
        "/stories/new",
        data={
            "csrf_token": csrf_from(form.text),
            "title": "Le food truck de Yasmine",
            "entrepreneur": "Yasmine",
            "sector": "Restauration",
            "town": "Molenbeek",
            "segments": ["women"],
            "consent_expires_at": until.isoformat(),
            "active": "1",
            "text_fr": "Avec un microcrédit, Yasmine a ouvert son food truck.",
            "text_nl": "Met een microkrediet opende Yasmine haar foodtruck.",
            "text_de": "",
        },
    )
    assert response.status_code == 303, response.text
    story = await SuccessStory.get(title="Le food truck de Yasmine")
    assert response.headers["location"] == f"/stories?saved={story.id}"
    assert set(story.texts) == {"fr", "nl"} and story.segments == ["women"]
    assert story.consent_expires_at == until and story.active
    listing = await client.get("/stories")
    assert f'href="/stories/{story.id}/edit">Le food truck de Yasmine</a>' in listing.text
    assert "consent-ending" not in listing.text and "consent-expired" not in listing.text

    edit = await client.get(f"/stories/{story.id}/edit")
    assert "Met een microkrediet opende Yasmine haar foodtruck." in edit.text
    soon_ends = local_today() + timedelta(days=settings.STORY_EXPIRY_WARNING_DAYS - 1)
    response = await client.post(
        f"/stories/{story.id}/edit",
        data={
            "csrf_token": csrf_from(edit.text),
            "title": "Le food truck de Yasmine",
            "entrepreneur": "Yasmine",
            "sector": "",
            "town": "Molenbeek",
            "consent_expires_at": soon_ends.isoformat(),
            "text_fr": "Avec un microcrédit, Yasmine a ouvert son food truck.",
            "text_nl": "Met een microkrediet opende Yasmine haar foodtruck.",
            "text_de": "Mit einem Mikrokredit eröffnete Yasmine ihren Foodtruck.",
        },
    )
    assert response.status_code == 303, response.text
    await story.refresh_from_db()
    assert set(story.texts) == {"fr", "nl", "de"} and story.sector is None
    assert story.consent_expires_at == soon_ends and not story.active and story.segments == []
    assert "consent-ending" in (await client.get("/stories")).text


async def test_story_form_errors_keep_what_was_typed(client, marketing, sign_in):
    await sign_in(marketing.user)
    form = await client.get("/stories/new")
    data = {
        "csrf_token": csrf_from(form.text),
        "title": "La boulangerie de Karim",
        "entrepreneur": "Karim",
        "consent_expires_at": "",
        "text_fr": "Karim a ouvert sa boulangerie.",
    }
    response = await client.post("/stories/new", data=data)
    assert response.status_code == 422
    assert 'value="La boulangerie de Karim"' in response.text
    assert "Karim a ouvert sa boulangerie." in response.text
    assert 'id="consent_expires_at"' in response.text and "consent_expires_at" in response.text
    data["consent_expires_at"] = (local_today() - timedelta(days=3)).isoformat()
    response = await client.post("/stories/new", data=data)
    assert response.status_code == 422 and "the consent has already expired" in response.text
    data.update(consent_expires_at=(local_today() + timedelta(days=90)).isoformat(), text_fr="")
    response = await client.post("/stories/new", data=data)
    assert response.status_code == 422 and "at least one of fr, nl, de" in response.text
    assert await SuccessStory.all().count() == 0
    assert (await client.post("/stories/new", data={"title": "x"})).status_code == 403


async def test_preview_endpoint_renders_and_refuses_without_csrf(client, marketing, sign_in):
    body = {
        "messages": {"fr": "Bonjour {{ first_name }} !", "nl": "Hallo\n{{ voornaam }}"},
        "channel": "sms",
    }
    assert (await client.post("/campaigns/preview", json=body)).status_code == 401
    await sign_in(marketing.user)
    token = csrf_from((await client.get("/campaigns/new")).text)
    refused = await client.post("/campaigns/preview", json=body)
    assert refused.status_code == 403
    refused = await client.post("/campaigns/preview", json=body, headers={"X-CSRF-Token": "x"})
    assert refused.status_code == 403
    response = await client.post("/campaigns/preview", json=body, headers={"X-CSRF-Token": token})
    assert response.status_code == 200, response.text
    languages = response.json()["languages"]
    assert languages["fr"]["body"] == "Bonjour Amina !"
    assert languages["fr"]["segments"] == 1 and languages["fr"]["encoding"] == "gsm7"
    assert languages["nl"]["problems"][0]["line"] == 2
    bad = await client.post(
        "/campaigns/preview", json={"messages": {"xx": "?"}}, headers={"X-CSRF-Token": token}
    )
    assert bad.status_code == 422


@pytest.mark.parametrize("language", ["nl", "de", "en"])
async def test_pages_render_in_every_ui_language(client, make_caller, person, sign_in, language):
    coordinator = await make_caller(Role.COORDINATOR, ui_language=language)
    await person(first_name="Amina")
    campaign = await api_campaign(
        client,
        coordinator,
        schedule={"after": {"field": "created_at", "days": 2, "at": "10:00"}},
        audience={"not_messaged_days": 7, "languages": ["fr", "nl"]},
    )
    story = await SuccessStory.create(
        title="De fietsenwinkel van Jonas",
        entrepreneur_first_name="Jonas",
        texts={"nl": "Jonas opende zijn winkel."},
        consent_expires_at=local_today() + timedelta(days=3),
    )
    await sign_in(coordinator.user)
    for path in (
        "/campaigns",
        "/campaigns/new",
        f"/campaigns/{campaign['id']}",
        f"/campaigns/{campaign['id']}/edit",
        "/stories",
        "/stories/new",
        f"/stories/{story.id}/edit",
    ):
        page = await client.get(path)
        assert page.status_code == 200, (path, page.text)
        assert f'<html lang="{language}">' in page.text
    expected = {"nl": "Campagnes", "de": "Kampagnen", "en": "Campaigns"}[language]
    assert f"<h1>{expected}</h1>" in (await client.get("/campaigns")).text
