"""The field app in a real phone-sized browser (Debian's chromium through Playwright), the app
under uvicorn in a subprocess (see tests/crm/web/test_browser.py): logging online and offline,
the offline queue in IndexedDB, the service worker serving pages without a connection, the
duplicate lookup, fixing a refused contact, page weight and accessibility (axe-core)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from crm.config import settings
from crm.enums import Role
from crm.outreach.models import EventKind, Interaction, OutreachEvent, SyncReceipt
from crm.people.models import ConsentRecord, Lead

from ..conftest import PASSWORD
from ..test_browser import CHROMIUM, app_and_browser

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and os.environ.get("CI") != "true",
    reason="Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
)

PHONE = {"width": 360, "height": 740}
PAGE_BUDGET = 150 * 1024
AXE_RULES = {"label", "color-contrast", "button-name", "link-name", "image-alt"}


async def _queue_count(page) -> str:
    badge = page.locator("#queue-badge")
    if await badge.is_hidden():
        return "0"
    return (await badge.locator("[data-queue-count]").text_content() or "").strip()


async def _wait_for_badge(page, expected: str) -> None:
    await page.wait_for_function(
        """(n) => {
            const badge = document.getElementById('queue-badge');
            const count = badge.querySelector('[data-queue-count]').textContent.trim();
            return (badge.hidden ? '0' : count) === n;
        }""",
        arg=expected,
    )


async def _eventually(check) -> None:
    """Wait until the server has what the phone sent (a badge at 0 may be the page's first
    paint, before the queue was read and sent)."""
    async with asyncio.timeout(15):
        while not await check():  # noqa: ASYNC110 (polling another process's writes)
            await asyncio.sleep(0.2)


async def _sign_in(page, base_url: str, email: str, next_path: str) -> None:
    await page.goto(f"{base_url}/login?next={next_path}")
    await page.locator("#email").fill(email)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("form[action='/login'] button[type=submit]").click()
    await page.wait_for_url(f"{base_url}{next_path}")


async def _service_worker_ready(page) -> None:
    # Installed, controlling the page, and the shell pages kept for offline use.
    await page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    await page.wait_for_function("navigator.serviceWorker.controller !== null")
    await page.wait_for_function(
        """async () => {
            for (const name of await caches.keys()) {
                if (!name.startsWith('field-pages-')) continue;
                const cache = await caches.open(name);
                if (await cache.match('/field/log') && await cache.match('/field/queue')
                    && await cache.match('/field/offline')) return true;
            }
            return false;
        }""",
        polling=200,
    )


async def _log(page, first_name: str, phone: str, *, segment: str | None = None) -> None:
    form = page.locator("#log-form")
    await form.locator("[name=first_name]").fill(first_name)
    await form.locator("[name=phone]").fill(phone)
    if segment:
        await form.locator(f"label[for='log-seg-{segment}']").click()
    if not await page.locator("#log-lang-fr").is_checked():
        await form.locator("label[for='log-lang-fr']").click()
    await form.locator("label[for='log-consent-sms']").click()
    await form.locator("button[type=submit]").click()


@contextlib.asynccontextmanager
async def _offline(context):
    """No network for the pages nor for the service worker's own fetches (Chromium's offline
    emulation does not reach a service worker, so its requests are aborted too)."""

    async def abort_worker_requests(route):
        if route.request.service_worker is not None:
            await route.abort("internetdisconnected")
        else:
            await route.continue_()

    await context.set_offline(True)
    await context.route("**/*", abort_worker_requests)
    try:
        yield
    finally:
        await context.unroute("**/*", abort_worker_requests)
        await context.set_offline(False)


async def _page_weight(browser, signed_in, url: str) -> int:
    """Bytes transferred to load a page (headers and bodies of every response) on a first
    visit: a fresh context (empty HTTP cache, no service worker) with the session cookie."""
    context = await browser.new_context(
        viewport=PHONE, storage_state=await signed_in.storage_state(), service_workers="block"
    )
    page = await context.new_page()
    finished = []
    page.on("requestfinished", lambda request: finished.append(request))
    await page.goto(url, wait_until="networkidle")
    total = 0
    for request in finished:
        sizes = await request.sizes()
        total += sizes["responseBodySize"] + sizes["responseHeadersSize"]
    await context.close()
    return total


async def _axe_violations(page) -> list[str]:
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(page)
    return [
        f"{v['id']}: {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["id"] in AXE_RULES
    ]


@dataclass
class Phone:
    """A signed-in agent's phone: the browser context, its page, the app's address."""

    base_url: str
    browser: Any
    context: Any
    page: Any
    expect: Any
    errors: list[str]

    @property
    def form(self):
        return self.page.locator("#log-form")

    async def goto(self, path: str):
        return await self.page.goto(f"{self.base_url}{path}")


@contextlib.asynccontextmanager
async def _phone(tmp_path, email: str, start: str = "/field/log") -> AsyncIterator[Phone]:
    """The app under uvicorn, chromium at 360×740 with service workers, signed in as `email`
    on `start`, the service worker ready."""
    async with app_and_browser(tmp_path) as (base_url, browser, playwright_api):
        context = await browser.new_context(viewport=PHONE, locale="en-GB", service_workers="allow")
        context.set_default_timeout(15_000)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await _sign_in(page, base_url, email, start)
        await _service_worker_ready(page)
        yield Phone(base_url, browser, context, page, playwright_api.expect, errors)
        assert errors == [], errors


async def _agent(make_caller, email: str = "sofie@example.org"):
    return await make_caller(
        Role.AGENT, email=email, first_name="Sofie", last_name="Claes", ui_language="en"
    )


async def _event_today(agent) -> OutreachEvent:
    now = datetime.now(settings.tz)
    event = await OutreachEvent.create(
        kind=EventKind.MARKET_STAND,
        title="Marché du Midi",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=4),
        language="fr",
        postcode="1060",
    )
    await event.agents.add(agent.user)
    return event


async def test_contacts_logged_offline_survive_a_reload_and_are_sent_once(
    client, make_caller, tmp_path
):
    agent = await _agent(make_caller)
    event = await _event_today(agent)
    async with _phone(tmp_path, "sofie@example.org") as phone:
        page, form, expect = phone.page, phone.form, phone.expect
        # The event of the day is chosen, the consent text is the person's language.
        await expect(form.locator("[name=event_id]")).to_have_value(str(event.id))
        await expect(page.locator("#log-lang-fr")).to_be_checked()
        sms_fr = form.locator("label[for='log-consent-sms'] .ct[lang=fr]")
        sms_nl = form.locator("label[for='log-consent-sms'] .ct[lang=nl]")
        await expect(sms_fr).to_be_visible()
        await expect(sms_nl).to_be_hidden()
        await page.locator("label[for='log-lang-nl']").click()
        await expect(sms_nl).to_be_visible()
        await expect(sms_fr).to_be_hidden()
        version = form.locator("[name=consent_text_version]")
        await expect(version).to_have_value("2026-11/nl")
        await page.locator("label[for='log-lang-fr']").click()
        await expect(version).to_have_value("2026-11/fr")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360

        # In place: an empty first name and a short phone, what was typed kept.
        await form.locator("[name=phone]").fill("0470 12")
        await form.locator("label[for='log-seg-women']").click()
        await form.locator("button[type=submit]").click()
        await expect(form.locator(".field-error")).to_have_count(2)
        first_name = form.locator("[name=first_name]")
        await expect(first_name).to_have_attribute("aria-invalid", "true")
        await expect(form.locator("[name=phone]")).to_have_value("0470 12")
        await expect(page.locator("#log-seg-women")).to_be_checked()
        await form.locator("label[for='log-seg-women']").click()  # untick again

        # 1. Online: stored at once, a fresh form (and client_id) for the next person.
        first_client_id = await form.locator("[name=client_id]").input_value()
        await _log(page, "Amina", "0470 12 34 56", segment="women")
        await expect(page.locator("#log-confirm")).to_contain_text("Saved: Amina.")
        await expect(first_name).to_have_value("")
        assert await form.locator("[name=client_id]").input_value() != first_client_id
        amina = await Lead.get(phone="+32470123456")
        assert await ConsentRecord.filter(lead_id=amina.id, text_version="2026-11/fr").count() == 1
        assert await _queue_count(page) == "0"

        # The person's page, seen online, is kept for offline use.
        await phone.goto(f"/field/people/{amina.id}")
        interaction_form = page.locator("form[data-sync=interaction]")
        await expect(interaction_form).to_have_count(1)

        async with _offline(phone.context):
            # 2. Offline: two contacts and an interaction wait on the phone.
            await phone.goto("/field/log")
            await expect(page.locator("#net-state")).to_have_text("Offline")
            await _log(page, "Bruno", "0470 22 33 44")
            await expect(page.locator("#log-confirm")).to_contain_text("Saved on this phone")
            await _wait_for_badge(page, "1")
            await _log(page, "Chloé", "0470 33 44 55", segment="youth")
            await _wait_for_badge(page, "2")
            await expect(first_name).to_have_value("")

            response = await phone.goto(f"/field/people/{amina.id}")
            assert response is not None and response.from_service_worker
            await page.locator("details:has(form[data-sync=interaction]) > summary").click()
            await interaction_form.locator("[name=kind]").select_option("meeting")
            await interaction_form.locator("[name=notes]").fill("came back with her sister")
            await interaction_form.locator("button[type=submit]").click()
            await _wait_for_badge(page, "3")
            await expect(page.locator("#queue-badge")).to_contain_text("waiting to send")

            # 3. A reload without a connection: the page comes from the service worker and
            # the queue is still there.
            response = await page.reload()
            assert response is not None and response.from_service_worker
            await _wait_for_badge(page, "3")
            await phone.goto("/field/queue")
            await expect(page.locator("#queue-list > li")).to_have_count(3)
            await expect(page.locator("#queue-list")).to_contain_text("Chloé")
            # A page never visited: the offline page.
            await phone.goto("/field/followups?never=visited")
            await expect(page.get_by_role("heading", level=1)).to_have_text("No connection")
            await phone.goto("/field/queue")
            assert await Lead.filter(phone="+32470223344").count() == 0

        # 4. The connection returns: everything is sent, once.
        await _wait_for_badge(page, "0")
        await expect(page.locator("#queue-empty")).to_be_visible()
        for number in ("+32470123456", "+32470223344", "+32470334455"):
            assert await Lead.filter(phone=number).count() == 1
        assert await Interaction.filter(lead_id=amina.id).count() == 2
        meeting = await Interaction.get(lead_id=amina.id, kind="meeting")
        assert meeting.notes == "came back with her sister"
        assert await SyncReceipt.all().count() == 4
        chloe = await Lead.get(phone="+32470334455")
        assert chloe.first_name == "Chloé" and chloe.event_id == event.id


async def test_a_known_phone_is_offered_and_a_refused_contact_is_fixed_from_the_queue(
    client, make_caller, tmp_path
):
    agent = await _agent(make_caller)
    known = await client.post(
        "/api/v1/leads",
        headers=agent.headers,
        json={"first_name": "Fatma", "last_name": "Benali", "phone": "0470 99 88 77"},
    )
    assert known.status_code == 201, known.text
    known_id = known.json()["id"]
    async with _phone(tmp_path, "sofie@example.org") as phone:
        page, form, expect = phone.page, phone.form, phone.expect
        await form.locator("[name=first_name]").fill("Fatima")
        await form.locator("[name=phone]").fill("0470/99.88.77")
        match = page.locator("#phone-match")
        await expect(match).to_contain_text("Already known: Fatma B. (Reached)")
        lead_id = form.locator("[name=lead_id]")
        await expect(lead_id).to_have_value(str(known_id))
        await match.get_by_role("button", name="No, a different person").click()
        await expect(lead_id).to_have_value("")
        await match.get_by_role("button", name="Add to this person").click()
        await expect(lead_id).to_have_value(str(known_id))
        await form.locator("button[type=submit]").click()
        confirm = page.locator("#log-confirm")
        await expect(confirm).to_contain_text("Added to Fatima, who was already known.")
        await expect(confirm).to_contain_text("kept “Fatma”")
        assert await Interaction.filter(lead_id=known_id).count() == 1
        assert await Lead.all().count() == 1
        await form.locator("[name=phone]").fill("0470 12 34 5")
        await expect(match).to_contain_text("This phone number is not possible.")

        # Refused after a time offline: kept with its reason, fixed from the queue, sent.
        async with _offline(phone.context):
            await _log(page, "Dina", "0470 12 34 5")  # nine digits: not a Belgian mobile
            await _wait_for_badge(page, "1")
        await phone.goto("/field/queue")
        refused = page.locator("#queue-list > li.q-refused")
        await expect(refused).to_have_count(1)
        await expect(refused).to_contain_text("Dina")
        await expect(refused).to_contain_text("Phone: ")
        violations = await _axe_violations(page)
        assert violations == [], violations
        await refused.get_by_role("link", name="Fix").click()
        await page.wait_for_url("**/field/log?fix=*")
        await expect(form.locator("[name=first_name]")).to_have_value("Dina")
        await expect(form.locator("[name=phone]")).to_have_attribute("aria-invalid", "true")
        await form.locator("[name=phone]").fill("0470 44 55 66")
        await form.locator("button[type=submit]").click()
        await expect(page.locator("#log-confirm")).to_contain_text("Saved: Dina.")
        await _wait_for_badge(page, "0")
        assert await Lead.filter(phone="+32470445566").count() == 1
        assert await SyncReceipt.all().count() == 2


async def test_a_change_made_offline_that_conflicts_is_shown_and_mine_can_win(
    client, make_caller, tmp_path
):
    agent = await _agent(make_caller)
    coordinator = await make_caller(Role.COORDINATOR)
    created = await client.post(
        "/api/v1/leads",
        headers=agent.headers,
        json={"first_name": "Amina", "phone": "0470 12 34 56", "language": "fr"},
    )
    lead_id = created.json()["id"]
    async with _phone(tmp_path, "sofie@example.org", start=f"/field/people/{lead_id}") as phone:
        page, expect = phone.page, phone.expect
        async with _offline(phone.context):
            await page.locator("details:has(select[name=stage]) > summary").click()
            await page.locator("select[name=stage]").select_option("contacted")
            stage_form = page.locator("form[data-sync=update]:has(select[name=stage])")
            await stage_form.locator("button[type=submit]").click()
            await _wait_for_badge(page, "1")
            # Meanwhile someone else moves the person on.
            moved = await client.patch(
                f"/api/v1/leads/{lead_id}",
                headers=coordinator.headers,
                json={"stage": "info_session"},
            )
            assert moved.status_code == 200, moved.text
            await phone.goto("/field/queue")
        conflict = page.locator("#queue-list > li.q-conflict")
        await expect(conflict).to_have_count(1)
        row = conflict.locator("tbody tr")
        await expect(row.locator("th")).to_have_text("Stage")
        await expect(row.locator("td").nth(0)).to_have_text("Contacted")
        await expect(row.locator("td").nth(1)).to_have_text("Info session")
        assert (await Lead.get(id=lead_id)).stage == "info_session"  # nothing written over
        violations = await _axe_violations(page)
        assert violations == [], violations
        await conflict.get_by_role("button", name="Use mine").click()
        await expect(page.locator("#queue-empty")).to_be_visible()
        await _wait_for_badge(page, "0")
        assert (await Lead.get(id=lead_id)).stage == "contacted"


async def test_on_a_weak_connection_the_agent_moves_on_and_the_contact_is_sent_once(
    client, make_caller, tmp_path
):
    """The first answer is lost after the server stored the contact (a connection dropping
    mid-request), the next ones are slow: the form never holds the agent, and the contact is
    stored once."""
    await _agent(make_caller)
    async with _phone(tmp_path, "sofie@example.org") as phone:
        page = phone.page
        calls = []

        async def weak(route):
            calls.append(route.request.post_data)
            if len(calls) == 1:
                response = await route.fetch()  # reaches the server, the answer is lost
                assert response.ok
                await route.abort("connectionreset")
                return
            await asyncio.sleep(6)  # longer than the form waits for an answer
            await route.continue_()

        await phone.context.route("**/field/sync", weak)
        await _log(page, "Farah", "0470 66 77 88")
        await phone.expect(page.locator("#log-confirm")).to_contain_text("Saved on this phone")
        await phone.expect(page.locator("[name=first_name]")).to_have_value("")
        assert await Lead.filter(phone="+32470667788").count() == 1  # stored by the lost request
        await _log(page, "Gaspard", "0470 77 88 99")  # the agent goes on at once
        await phone.expect(page.locator("#log-confirm")).to_contain_text("Saved on this phone")
        await _eventually(lambda: Lead.filter(phone="+32470778899").exists())
        await _wait_for_badge(page, "0")  # the slow answers arrive: "already stored", "stored"
        await phone.context.unroute("**/field/sync", weak)
        assert await Lead.filter(phone="+32470667788").count() == 1
        assert await Lead.filter(phone="+32470778899").count() == 1
        assert await Interaction.all().count() == 2
        assert len(calls) >= 2


async def test_a_session_the_server_refuses_keeps_the_items_and_says_sign_in_again(
    client, make_caller, tmp_path
):
    await _agent(make_caller)
    async with _phone(tmp_path, "sofie@example.org") as phone:
        page = phone.page

        async def not_signed_in(route):
            await route.fulfill(status=401, json={"detail": "not signed in: sign in again"})

        await phone.context.route("**/field/sync", not_signed_in)
        await _log(page, "Emre", "0470 55 66 77")
        await phone.expect(page.locator("#log-confirm")).to_contain_text(
            "Saved on this phone. Sign in again to send it."
        )
        await _wait_for_badge(page, "1")
        await phone.expect(page.locator("#queue-badge")).to_contain_text("sign in again to send")
        await phone.context.unroute("**/field/sync", not_signed_in)
        await page.reload()  # a good answer again: sent, the badge goes
        await _eventually(lambda: Lead.filter(phone="+32470556677").exists())
        await _wait_for_badge(page, "0")
        assert await Lead.filter(phone="+32470556677").count() == 1


async def test_sign_out_warns_clears_pages_and_keeps_the_queue_for_its_owner_only(
    client, make_caller, tmp_path
):
    await _agent(make_caller)
    await _agent(make_caller, email="joris@example.org")
    async with _phone(tmp_path, "sofie@example.org") as phone:
        page = phone.page

        async def no_network(route):
            await route.abort()

        await phone.context.route("**/field/sync", no_network)  # stays queued
        await _log(page, "Emre", "0470 55 66 77")
        await phone.expect(page.locator("#log-confirm")).to_contain_text("Saved on this phone")
        await _wait_for_badge(page, "1")
        sign_out = page.locator("form.signout button")
        async with page.expect_event("dialog") as warned:
            await sign_out.click()
        dialog = await warned.value
        assert "Items not sent yet: 1." in dialog.message
        await dialog.dismiss()  # stays signed in
        await phone.expect(phone.form).to_be_visible()
        async with page.expect_event("dialog") as warned:
            await sign_out.click()
        await (await warned.value).accept()
        await page.wait_for_url("**/login")
        kept = await page.evaluate(
            """async () => {
                const names = await caches.keys();
                const db = await new Promise((ok) => {
                    const open = indexedDB.open('passerelle-field', 1);
                    open.onsuccess = () => ok(open.result);
                });
                const rows = await new Promise((ok) => {
                    const all = db.transaction('queue').objectStore('queue').getAll();
                    all.onsuccess = () => ok(all.result);
                });
                return {
                    pages: names.filter((n) => n.startsWith('field-pages-')).length,
                    assets: names.filter((n) => n.startsWith('field-static-')).length,
                    queued: rows.map((r) => r.body.person.first_name),
                };
            }"""
        )
        assert kept == {"pages": 0, "assets": 1, "queued": ["Emre"]}

        # Another agent on the same phone: the item is shown as someone else's, never sent.
        await phone.context.unroute("**/field/sync", no_network)
        await _sign_in(page, phone.base_url, "joris@example.org", "/field/queue")
        await phone.expect(page.locator("#queue-other-list > li")).to_have_count(1)
        await phone.expect(page.locator("#queue-empty")).to_be_visible()
        await phone.expect(page.locator("#queue-other")).not_to_contain_text("Emre")
        assert await _queue_count(page) == "0"
        await page.get_by_role("button", name="Sign out").click()
        await page.wait_for_url("**/login")
        assert await Lead.all().count() == 0
        # Its owner again: sent.
        await _sign_in(page, phone.base_url, "sofie@example.org", "/field/queue")
        await _eventually(lambda: Lead.filter(phone="+32470556677").exists())
        await _wait_for_badge(page, "0")
        await phone.expect(page.locator("#queue-other")).to_be_hidden()
        assert await Lead.filter(phone="+32470556677").count() == 1


async def test_field_pages_are_light_and_accessible(client, make_caller, tmp_path):
    await _agent(make_caller, email="joris@example.org")
    async with app_and_browser(tmp_path) as (base_url, browser, playwright_api):
        context = await browser.new_context(viewport=PHONE, locale="en-GB", service_workers="block")
        context.set_default_timeout(15_000)
        page = await context.new_page()
        await _sign_in(page, base_url, "joris@example.org", "/field/log")
        weights = {}
        for path in (
            "/field/",
            "/field/log",
            "/field/queue",
            "/field/people",
            "/field/events",
            "/field/followups",
        ):
            weights[path] = await _page_weight(browser, context, f"{base_url}{path}")
        print("field page weights (bytes transferred):", weights)
        for path, weight in weights.items():
            assert 0 < weight < PAGE_BUDGET, (path, weight)

        for path in ("/field/log", "/field/queue"):
            await page.goto(f"{base_url}{path}")
            violations = await _axe_violations(page)
            assert violations == [], (path, violations)

        # Touch targets: every control of the log form is at least 44 px high.
        await page.goto(f"{base_url}/field/log")
        small = await page.evaluate(TOO_SMALL)
        assert small == [], small
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360


TOO_SMALL = """() => [...document.querySelectorAll([
    '.log-form .seg label', '.log-form .chips label', '.log-form select', '.log-form button',
    '.log-form input:not([type=hidden]):not([type=radio]):not([type=checkbox])',
    '.field-nav a', 'details.more summary', '.queue-badge', '.signout button',
].join(', '))].filter((e) => e.getClientRects().length && e.getBoundingClientRect().height < 44)
  .map((e) => e.outerHTML.slice(0, 80))"""
