from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from crm.auth.models import User
from crm.enums import UI_LANGUAGES, Role
from crm.web.i18n import load_translations, negotiate, po_path

from .conftest import csrf_from


async def _switch(client, language: str, next_path: str = "/leads"):
    page = await client.get("/login")
    return await client.post(
        "/language",
        data={"csrf_token": csrf_from(page.text), "language": language, "next": next_path},
    )


async def test_language_switch_renders_dutch(client, make_caller, sign_in):
    agent = await make_caller(Role.AGENT)
    await sign_in(agent.user)
    page = await client.get("/leads")
    assert '<html lang="fr">' in page.text and "Personnes" in page.text
    response = await client.post(
        "/language", data={"csrf_token": csrf_from(page.text), "language": "nl", "next": "/leads"}
    )
    assert response.status_code == 303 and response.headers["location"] == "/leads"
    dutch = await client.get("/leads")
    assert '<html lang="nl">' in dutch.text
    assert "Personen" in dutch.text and "Afmelden" in dutch.text and "Alle fases" in dutch.text
    assert (await User.get(id=agent.user.id)).ui_language == "nl"


async def test_language_switch_needs_the_csrf_token(client):
    await client.get("/login")
    response = await client.post("/language", data={"language": "de", "next": "/login"})
    assert response.status_code == 403


async def test_language_before_login_comes_from_accept_language(client):
    page = await client.get("/login", headers={"Accept-Language": "de-BE,de;q=0.9,fr;q=0.5"})
    assert '<html lang="de">' in page.text and "Anmelden" in page.text
    page = await client.get("/login", headers={"Accept-Language": "es-ES, it;q=0.8"})
    assert '<html lang="fr">' in page.text and "Se connecter" in page.text


async def test_language_chosen_before_login_becomes_the_users(client, make_caller, sign_in):
    agent = await make_caller(Role.AGENT)
    await _switch(client, "de", "/login")
    assert "Anmelden" in (await client.get("/login")).text
    await sign_in(agent.user)
    assert "Personen" in (await client.get("/leads")).text
    assert (await User.get(id=agent.user.id)).ui_language == "de"


async def test_signed_in_user_gets_their_saved_language(client, make_caller, sign_in):
    agent = await make_caller(Role.AGENT, ui_language="en")
    await sign_in(agent.user)
    page = await client.get("/leads", headers={"Accept-Language": "nl"})
    assert '<html lang="en">' in page.text and "People" in page.text


def test_accept_language_negotiation():
    assert negotiate("nl-BE,nl;q=0.9") == "nl"
    assert negotiate("en-GB;q=0.4, de;q=0.8") == "de"
    assert negotiate("fr-BE") == "fr"
    assert negotiate("*") is None
    assert negotiate("es;q=1, nl;q=0") is None
    assert negotiate("") is None


def _catalog(language: str):
    with po_path(language).open("rb") as fh:
        return read_po(fh, locale=language)


def test_every_po_file_is_complete_and_has_the_same_messages():
    ids = {}
    for language in UI_LANGUAGES:
        catalog = _catalog(language)
        for message in catalog:
            if not message.id:
                continue
            assert not message.fuzzy, (language, message.id)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            assert strings and all(strings), f"{language}: untranslated {message.id!r}"
        ids[language] = {m.id if isinstance(m.id, str) else tuple(m.id) for m in catalog if m.id}
    assert all(ids[language] == ids["en"] for language in UI_LANGUAGES)


def test_po_files_match_the_template_and_keep_placeholders():
    pot = Path(po_path("en")).parents[2] / "messages.pot"
    with pot.open("rb") as fh:
        template = {m.id if isinstance(m.id, str) else tuple(m.id) for m in read_po(fh) if m.id}
    for language in UI_LANGUAGES:
        catalog = _catalog(language)
        assert {m.id if isinstance(m.id, str) else tuple(m.id) for m in catalog if m.id} == template
        for message in catalog:
            if message.id and message.python_format:
                assert not message.check(catalog), (language, message.id)


def test_plural_forms_follow_each_language():
    one, many = "%(num)d person", "%(num)d people"
    fr, nl, de = (load_translations(lang) for lang in ("fr", "nl", "de"))
    assert fr.ngettext(one, many, 0) == "%(num)d personne"  # French: singular for 0 and 1
    assert fr.ngettext(one, many, 2) == "%(num)d personnes"
    assert nl.ngettext(one, many, 0) == "%(num)d personen"
    assert nl.ngettext(one, many, 1) == "%(num)d persoon"
    assert de.ngettext(one, many, 0) == "%(num)d Personen"
    assert de.ngettext(one, many, 1) == "%(num)d Person"


def test_every_string_in_the_code_and_templates_is_in_the_catalogue():
    # Forgetting `pybabel extract` + `update` after adding a string would leave it English.
    root = Path(po_path("en")).parents[4]
    with (root / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found = {
        message if isinstance(message, str) else tuple(message)
        for _file, _line, message, _comments, _context in extract_from_dir(
            root, method_map, options_map
        )
    }
    catalogue = {m.id if isinstance(m.id, str) else tuple(m.id) for m in _catalog("fr") if m.id}
    assert found == catalogue, {"missing": found - catalogue, "stale": catalogue - found}
