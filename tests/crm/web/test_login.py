from urllib.parse import quote

from crm.auth.models import User
from crm.enums import Role

from .conftest import PASSWORD, csrf_from, login


async def test_agent_login_opens_the_field_app_and_the_people_list_stays_open(client, make_caller):
    agent = await make_caller(Role.AGENT)
    response = await login(client, agent.user.email)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    home = await client.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/field/"
    page = await client.get("/leads")
    assert page.status_code == 200
    assert agent.user.display_name in page.text


async def test_wrong_password_shows_error_and_keeps_email(client, make_caller):
    await make_caller(Role.AGENT, email="amina@example.org")
    response = await login(client, "amina@example.org", "not the password")
    assert response.status_code == 200
    assert "Adresse e-mail ou mot de passe incorrect." in response.text
    assert 'value="amina@example.org"' in response.text
    assert (await client.get("/leads")).status_code == 303


async def test_unknown_email_gets_the_same_answer_as_a_wrong_password(client, make_caller):
    await make_caller(Role.AGENT, email="known@example.org")
    wrong = await login(client, "known@example.org", "not the password")
    unknown = await login(client, "nobody@example.org", "not the password")
    assert wrong.status_code == unknown.status_code == 200
    strip = lambda html, email: html.replace(email, "").replace(csrf_from(html), "")  # noqa: E731
    assert strip(wrong.text, "known@example.org") == strip(unknown.text, "nobody@example.org")


async def test_inactive_user_cannot_sign_in(client, make_caller):
    agent = await make_caller(Role.AGENT)
    await User.filter(id=agent.user.id).update(is_active=False)
    response = await login(client, agent.user.email)
    assert response.status_code == 200
    assert 'role="alert"' in response.text


async def test_deactivated_user_is_signed_out_at_next_page(client, make_caller, sign_in):
    agent = await make_caller(Role.AGENT)
    await sign_in(agent.user)
    await User.filter(id=agent.user.id).update(is_active=False)
    response = await client.get("/leads")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


async def test_login_without_csrf_token_is_refused(client, make_caller):
    agent = await make_caller(Role.AGENT)
    await client.get("/login")
    response = await client.post("/login", data={"email": agent.user.email, "password": PASSWORD})
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    assert (await client.get("/leads")).status_code == 303  # not signed in


async def test_login_with_a_wrong_csrf_token_is_refused(client, make_caller):
    agent = await make_caller(Role.AGENT)
    await client.get("/login")
    response = await client.post(
        "/login", data={"csrf_token": "x" * 43, "email": agent.user.email, "password": PASSWORD}
    )
    assert response.status_code == 403


async def test_logout_without_csrf_token_is_refused(client, make_caller, sign_in):
    agent = await make_caller(Role.AGENT)
    await sign_in(agent.user)
    response = await client.post("/logout", data={})
    assert response.status_code == 403
    assert (await client.get("/leads")).status_code == 200  # still signed in


async def test_logout_with_token_ends_the_session(client, make_caller, sign_in):
    agent = await make_caller(Role.AGENT)
    await sign_in(agent.user)
    page = await client.get("/leads")
    response = await client.post("/logout", data={"csrf_token": csrf_from(page.text)})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert (await client.get("/leads")).status_code == 303


async def test_login_gives_a_new_session_and_csrf_token(client, make_caller):
    agent = await make_caller(Role.AGENT)
    before = csrf_from((await client.get("/login")).text)
    await login(client, agent.user.email)
    after = csrf_from((await client.get("/leads")).text)
    assert before != after
    # The token of the session before login no longer works.
    response = await client.post("/logout", data={"csrf_token": before})
    assert response.status_code == 403


async def test_page_redirects_to_login_with_next_and_back(client, make_caller):
    agent = await make_caller(Role.AGENT)
    response = await client.get("/leads?stage=lead")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=" + quote("/leads?stage=lead", safe="/")
    page = await client.get(response.headers["location"])
    assert 'name="next" value="/leads?stage=lead"' in page.text
    done = await login(client, agent.user.email, next_path="/leads?stage=lead")
    assert done.headers["location"] == "/leads?stage=lead"


async def test_next_pointing_to_another_site_is_ignored(client, make_caller):
    agent = await make_caller(Role.AGENT)
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "leads"):
        await client.post("/logout", data={})  # harmless: refused without a token
        client.cookies.clear()
        response = await login(client, agent.user.email, next_path=target)
        assert response.status_code == 303
        assert response.headers["location"] == "/", target


async def test_web_pages_are_not_in_the_openapi_schema(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not {"/", "/login", "/logout", "/language", "/leads", "/leads/{lead_id}"} & set(paths)
