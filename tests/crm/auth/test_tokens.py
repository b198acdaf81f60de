from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm.auth import service as auth
from crm.auth.models import ApiToken
from crm.enums import Role


async def test_password_login_gives_a_working_token(client, make_caller):
    caller = await make_caller(Role.AGENT, email="joris@example.org")
    response = await client.post(
        "/api/v1/auth/token",
        json={"email": "Joris@Example.org", "password": "correct horse battery"},
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert response.json()["token_type"] == "bearer"
    me = await client.get("/api/v1/leads", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    stored = await ApiToken.filter(user_id=caller.user.id).values_list("token_hash", flat=True)
    assert token not in stored  # only the hash is kept


async def test_wrong_password_and_unknown_user_answer_alike(client, make_caller):
    await make_caller(Role.AGENT, email="sarah@example.org")
    wrong = await client.post(
        "/api/v1/auth/token", json={"email": "sarah@example.org", "password": "nope"}
    )
    unknown = await client.post(
        "/api/v1/auth/token", json={"email": "nobody@example.org", "password": "nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_passwords_are_hashed_with_argon2(make_caller, app):
    caller = await make_caller(Role.AGENT)
    assert caller.user.password_hash.startswith("$argon2")


async def test_expired_and_revoked_credentials_are_refused(client, make_caller, make_partner):
    agent = await make_caller(Role.AGENT)
    await ApiToken.filter(user_id=agent.user.id).update(
        expires_at=datetime.now(UTC) - timedelta(minutes=1)
    )
    assert (await client.get("/api/v1/leads", headers=agent.headers)).status_code == 401
    org = await make_partner()
    key = await auth.create_partner_key(org, name="intake", expires_days=30)
    headers = {"Authorization": f"Bearer {key}"}
    assert (await client.get("/api/v1/referrals", headers=headers)).status_code == 200
    await ApiToken.filter(organisation_id=org.id).update(revoked_at=datetime.now(UTC))
    assert (await client.get("/api/v1/referrals", headers=headers)).status_code == 401


async def test_garbage_bearer_is_a_401(client, app):
    for value in ("Bearer nonsense", "Bearer pst_" + "a" * 43, "Basic abc"):
        response = await client.get("/api/v1/leads", headers={"Authorization": value})
        assert response.status_code == 401
