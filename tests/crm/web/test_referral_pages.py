"""The staff referral pages (/referrals): who may open them, the order and filters of the list,
our side's moves, the answer link for a partner without an account, and the person's page."""

from __future__ import annotations

import re

from crm.enums import Role
from crm.referrals import links
from crm.referrals.models import Referral, ReferralStatusChange

from .conftest import csrf_from
from .referral_rows import listed_names, sent_by_partner, sent_to_partner


async def test_marketing_and_partner_users_are_refused(client, make_caller, social_worker, sign_in):
    referral = await sent_by_partner(social_worker, "Amina", phone="0470 11 11 11")
    marketing = await make_caller(Role.MARKETING)
    await sign_in(marketing.user)
    for path in ("/referrals", f"/referrals/{referral.id}"):
        assert (await client.get(path)).status_code == 403, path
    nav = (await client.get("/leads")).text
    assert 'href="/referrals"' not in nav


async def test_referrals_waiting_for_our_answer_come_first(
    client, cpas, social_worker, coordinator, sign_in
):
    await sent_to_partner(coordinator, cpas, "Joris", phone="0470 22 22 22")
    waiting = await sent_by_partner(social_worker, "Amina", phone="0470 11 11 11")
    answered = await sent_by_partner(social_worker, "Fatou", phone="0470 44 44 44")
    await sent_by_partner(social_worker, "Zoé", last_name="Martin", phone="0470 55 55 55")
    await sign_in(coordinator)
    token = csrf_from((await client.get(f"/referrals/{answered.id}")).text)
    await client.post(
        f"/referrals/{answered.id}/status", data={"csrf_token": token, "status": "accepted"}
    )
    page = await client.get("/referrals")
    assert page.status_code == 200
    assert 'href="/referrals" aria-current="page"' in page.text
    rows = listed_names(page.text)
    # Waiting for our answer, the oldest first; then the rest, the latest change first.
    assert rows == ["Amina Ndiaye", "Zoé Martin", "Fatou Ndiaye", "Joris Peeters"]
    assert waiting.expires_at is not None and "Answer by" in page.text


async def test_list_filters_by_status_partner_and_direction(
    client, cpas, forem, social_worker, coordinator, sign_in
):
    await sent_by_partner(social_worker, "Amina", phone="0470 11 11 11")
    await sent_to_partner(coordinator, cpas, "Joris", phone="0470 22 22 22")
    await sent_to_partner(coordinator, forem, "Karim", phone="0470 33 33 33")
    await sign_in(coordinator)
    received = (await client.get("/referrals?direction=received")).text
    assert listed_names(received) == ["Amina Ndiaye"]
    sent = (await client.get("/referrals?direction=sent")).text
    assert sorted(listed_names(sent)) == ["Joris Peeters", "Karim Peeters"]
    with_cpas = (await client.get(f"/referrals?partner={cpas.id}")).text
    assert sorted(listed_names(with_cpas)) == ["Amina Ndiaye", "Joris Peeters"]
    assert listed_names((await client.get("/referrals?status=accepted")).text) == []
    assert listed_names((await client.get("/referrals?q=karim")).text) == ["Karim Peeters"]
    assert len(listed_names((await client.get("/referrals?partner=999&status=x")).text)) == 3


async def test_agent_sees_only_referrals_of_people_they_may_see(
    client, make_caller, cpas, social_worker, coordinator, sign_in
):
    theirs = await sent_by_partner(social_worker, "Amina", phone="0470 11 11 11")
    agent = await make_caller(Role.AGENT, ui_language="en")
    mine = await sent_to_partner(agent.user, cpas, "Joris", phone="0470 22 22 22")
    await sign_in(agent.user)
    assert listed_names((await client.get("/referrals")).text) == ["Joris Peeters"]
    assert (await client.get(f"/referrals/{theirs.id}")).status_code == 404
    assert (await client.get(f"/referrals/{mine.id}")).status_code == 200


async def test_coordinator_accepts_then_completes_with_an_outcome(
    client, social_worker, coordinator, sign_in
):
    referral = await sent_by_partner(social_worker, "Amina", phone="0470 11 11 11")
    await sign_in(coordinator)
    path = f"/referrals/{referral.id}"
    page = await client.get(path)
    assert f'href="/leads/{referral.lead_id}"' in page.text
    assert 'id="move-accepted"' in page.text and 'id="move-cancelled"' not in page.text
    assert "answer-link" not in page.text  # we are the receiver: nobody needs a link
    token = csrf_from(page.text)
    assert (
        await client.post(f"{path}/status", data={"csrf_token": token, "status": "accepted"})
    ).status_code == 303
    done = await client.post(
        f"{path}/status",
        data={"csrf_token": token, "status": "completed", "outcome": "coached"},
    )
    assert done.status_code == 303
    referral = await Referral.get(id=referral.id)
    assert (referral.status, referral.outcome) == ("completed", "coached")
    page = await client.get(path)
    assert "Coached" in page.text and "Nadia Haddad" in page.text


async def test_an_illegal_move_shows_the_reason_and_changes_nothing(
    client, social_worker, coordinator, sign_in
):
    referral = await sent_by_partner(social_worker, "Amina", phone="0470 11 11 11")
    await sign_in(coordinator)
    path = f"/referrals/{referral.id}"
    token = csrf_from((await client.get(path)).text)
    skipped = await client.post(
        f"{path}/status", data={"csrf_token": token, "status": "completed", "outcome": "coached"}
    )
    assert skipped.status_code == 409
    assert "this move is not possible now" in skipped.text
    assert "a requested referral cannot become completed" in skipped.text
    cancelled = await client.post(
        f"{path}/status",
        data={"csrf_token": token, "status": "cancelled", "status_reason": "not ours"},
    )
    assert cancelled.status_code == 403  # only the sender (the CPAS) may cancel
    no_outcome = await client.post(
        f"{path}/status", data={"csrf_token": token, "status": "accepted", "outcome": "coached"}
    )
    assert no_outcome.status_code == 422
    assert (await Referral.get(id=referral.id)).status == "requested"
    assert await ReferralStatusChange.filter(referral_id=referral.id).count() == 1


async def test_a_move_without_the_csrf_token_is_refused(
    client, social_worker, coordinator, sign_in
):
    referral = await sent_by_partner(social_worker, "Amina", phone="0470 11 11 11")
    await sign_in(coordinator)
    response = await client.post(
        f"/referrals/{referral.id}/status", data={"status": "accepted", "csrf_token": "forged"}
    )
    assert response.status_code == 403
    assert (await Referral.get(id=referral.id)).status == "requested"


async def test_a_referral_sent_to_a_partner_shows_its_answer_link(
    client, cpas, coordinator, sign_in
):
    referral = await sent_to_partner(coordinator, cpas, "Joris", phone="0470 22 22 22")
    await sign_in(coordinator)
    page = await client.get(f"/referrals/{referral.id}")
    match = re.search(r'id="answer-link" type="url" readonly value="([^"]+)"', page.text)
    assert match, page.text
    token = match.group(1).rsplit("/r/", 1)[1]
    answer = await links.read_token(token)
    assert answer is not None and answer.referral.id == referral.id
    assert 'id="move-cancelled"' in page.text and 'id="move-accepted"' not in page.text


async def test_the_persons_page_lists_their_referrals(client, social_worker, coordinator, sign_in):
    referral = await sent_by_partner(social_worker, "Amina", phone="0470 11 11 11")
    await sign_in(coordinator)
    page = await client.get(f"/leads/{referral.lead_id}")
    assert page.status_code == 200
    assert f'href="/referrals/{referral.id}"' in page.text
    assert "CPAS de Saint-Gilles →" in page.text
