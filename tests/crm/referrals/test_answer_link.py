"""The signed answer link: a receiving partner without an account answers one referral."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from itsdangerous import URLSafeTimedSerializer

from crm.config import settings
from crm.referrals.links import SALT, answer_url
from crm.referrals.models import Referral, ReferralStatus, ReferralStatusChange
from tests.crm.web.conftest import csrf_from

S = ReferralStatus


@pytest.fixture(autouse=True)
def english_browser(client):
    # The visitor has no account: the page speaks the browser's language.
    client.headers["Accept-Language"] = "en"


def path_of(referral: Referral) -> str:
    url = answer_url(referral)
    assert url and url.startswith(settings.PUBLIC_BASE_URL)
    return urlsplit(url).path


async def test_a_partner_answers_through_the_link_without_an_account(client, world):
    referral = await world.referral(sender=None, receiver=world.b)
    path = path_of(referral)
    page = await client.get(path)
    assert page.status_code == 200
    for shown in ("Fatou", "Ndiaye", "wants to open a bakery", 'value="accepted"'):
        assert shown in page.text
    assert 'value="redirected"' not in page.text  # a link answers; it does not redirect
    assert "private note" not in page.text  # the person's own notes never travel
    answered = await client.post(
        path, data={"csrf_token": csrf_from(page.text), "status": "accepted"}
    )
    assert answered.status_code == 303 and answered.headers["location"] == f"{path}?done=1"
    await referral.refresh_from_db()
    assert referral.status == S.ACCEPTED
    last = await ReferralStatusChange.filter(referral_id=referral.id).order_by("-id").first()
    assert last.by_label == "Forem Charleroi (signed link)"
    assert (last.organisation_id, last.organisation_label) == (world.b.id, "Forem Charleroi")

    page = await client.get(f"{path}?done=1")
    completed = await client.post(
        path,
        data={"csrf_token": csrf_from(page.text), "status": "completed", "outcome": "employed"},
    )
    assert completed.status_code == 303
    await referral.refresh_from_db()
    assert (referral.status, referral.outcome) == (S.COMPLETED, "employed")


async def test_a_link_answer_missing_its_reason_is_shown_again_with_the_error(client, world):
    referral = await world.referral(sender=None, receiver=world.b)
    path = path_of(referral)
    page = await client.get(path)
    refused = await client.post(
        path, data={"csrf_token": csrf_from(page.text), "status": "rejected"}
    )
    assert refused.status_code == 422
    assert 'aria-invalid="true"' in refused.text
    assert (await Referral.get(id=referral.id)).status == S.REQUESTED


async def test_a_link_cannot_redirect_or_post_without_the_form_token(client, world):
    referral = await world.referral(sender=None, receiver=world.b)
    path = path_of(referral)
    page = await client.get(path)
    redirect = await client.post(
        path,
        data={
            "csrf_token": csrf_from(page.text),
            "status": "redirected",
            "redirect_to_partner_id": str(world.d.id),
        },
    )
    assert redirect.status_code == 409
    forged_form = await client.post(path, data={"status": "accepted"})
    assert forged_form.status_code == 403
    assert (await Referral.get(id=referral.id)).status == S.REQUESTED
    assert await Referral.all().count() == 1


async def test_an_expired_link_says_to_ask_the_sender_for_a_new_one(client, world, monkeypatch):
    referral = await world.referral(sender=None, receiver=world.b)
    signed_at = time.time() - (settings.REFERRAL_LINK_DAYS * 86_400 + 60)
    with monkeypatch.context() as m:
        m.setattr(time, "time", lambda: signed_at)  # a link made just over the validity ago
        old = URLSafeTimedSerializer(settings.SECRET_KEY, salt=SALT).dumps(
            {"r": referral.id, "p": world.b.id}
        )
    page = await client.get(f"/r/{old}")
    assert page.status_code == 404 and "Ask the sender" in page.text
    fresh = await client.get(path_of(referral))
    posted = await client.post(
        f"/r/{old}", data={"csrf_token": csrf_from(fresh.text), "status": "accepted"}
    )
    assert posted.status_code == 404
    assert (await Referral.get(id=referral.id)).status == S.REQUESTED


async def test_a_forged_link_is_not_found(client, world):
    referral = await world.referral(sender=None, receiver=world.b)
    forged = URLSafeTimedSerializer("not-our-key", salt=SALT).dumps(
        {"r": referral.id, "p": world.b.id}
    )
    # Signed for another partner than the receiver: a stale or tampered link.
    wrong_partner = URLSafeTimedSerializer(settings.SECRET_KEY, salt=SALT).dumps(
        {"r": referral.id, "p": world.c.id}
    )
    genuine = path_of(referral).removeprefix("/r/")
    tampered = genuine[:-3] + ("AAA" if not genuine.endswith("AAA") else "BBB")
    for token in (forged, wrong_partner, tampered, "x", "a" * 600):
        page = await client.get(f"/r/{token}")
        assert page.status_code == 404, token
        assert "Ask the sender" in page.text
    french = await client.get(f"/r/{forged}", headers={"Accept-Language": "fr-BE,fr;q=0.9"})
    assert french.status_code == 404 and "Demandez-en un nouveau" in french.text


async def test_a_link_to_a_closed_referral_shows_it_without_answers(client, world):
    referral = await world.referral(sender=None, receiver=world.b, status=S.CANCELLED)
    path = path_of(referral)
    page = await client.get(path)
    assert page.status_code == 200
    assert "cannot be answered any more" in page.text and 'name="status"' not in page.text
    posted = await client.post(
        path, data={"csrf_token": csrf_from(page.text), "status": "accepted"}
    )
    assert posted.status_code == 409
    assert (await Referral.get(id=referral.id)).status == S.CANCELLED


async def test_no_link_for_a_referral_we_receive(world):
    referral = await world.referral(sender=world.a, receiver=None)
    assert answer_url(referral) is None
