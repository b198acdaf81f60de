"""The closed loop in a real browser (Debian's chromium through Playwright, the app under
uvicorn: see tests/crm/web/test_browser.py): a CPAS social worker sends a referral with the
person's consent from a phone, a coordinator accepts it and completes it with an outcome, and
the social worker sees the status and the feedback on the portal. No script is needed."""

from __future__ import annotations

import os

import pytest

from crm.enums import Role
from crm.referrals.models import Referral

from .conftest import PASSWORD
from .referral_rows import partner_user
from .test_browser import CHROMIUM, app_and_browser

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and os.environ.get("CI") != "true",
    reason="Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
)

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}


async def _signed_in(browser, base_url: str, email: str, viewport: dict, expected_path: str):
    context = await browser.new_context(viewport=viewport, locale="en-GB")
    context.set_default_timeout(15_000)
    page = await context.new_page()
    await page.goto(f"{base_url}/login")
    await page.locator("#email").fill(email)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("form[action='/login'] button[type=submit]").click()
    await page.wait_for_url(f"{base_url}{expected_path}")
    return context, page


async def _fits_the_screen(page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width}px wide on a 360px phone"


async def test_cpas_sends_a_referral_and_sees_what_became_of_it(
    client, make_partner, make_caller, tmp_path
):
    cpas = await make_partner("CPAS de Saint-Gilles")
    await partner_user(cpas, "lies@cpas.example.org", first_name="Lies")
    await make_caller(
        Role.COORDINATOR,
        email="nadia@example.org",
        first_name="Nadia",
        last_name="Haddad",
        ui_language="en",
    )
    async with app_and_browser(tmp_path) as (base_url, browser, pw):
        expect = pw.expect
        cpas_ctx, cpas_page = await _signed_in(
            browser, base_url, "lies@cpas.example.org", PHONE, "/partner/"
        )
        await expect(cpas_page.locator("h1")).to_have_text("Our referrals")
        await _fits_the_screen(cpas_page)

        # The social worker sends the referral, with the consent text in the person's language.
        await cpas_page.get_by_role("link", name="Send a referral").first.click()
        await cpas_page.wait_for_url(f"{base_url}/partner/referrals/new")
        form = cpas_page.locator("#referral-form")
        await form.locator("[name=first_name]").fill("Amina")
        await form.locator("[name=last_name]").fill("Benali")
        await form.locator("[name=phone]").fill("0470 12 34 56")
        await form.locator("[name=postcode]").fill("1060")
        await form.locator("label.seg-item[lang=fr]").click()
        await expect(form.locator(".ct[lang=fr]")).to_be_visible()
        await expect(form.locator(".ct[lang=nl]")).to_be_hidden()
        await form.locator("[name=purpose]").select_option("microcredit")
        await form.locator("[name=notes]").fill("Wants to open a bakery in Saint-Gilles")
        await form.locator("label[for=rf-consent]").click()
        await form.locator("[name=consent_method]").select_option("signed_form")
        await _fits_the_screen(cpas_page)
        await form.locator("button[type=submit]").click()
        await cpas_page.wait_for_url(f"{base_url}/partner/referrals/*")
        await expect(cpas_page.locator(".rf-now .badge")).to_have_text("requested")
        referral = await Referral.get()
        assert referral.consent_text_version == "2026-11-intake/fr"

        # A coordinator, at a desk, accepts it and then completes it with an outcome.
        staff_ctx, staff_page = await _signed_in(
            browser, base_url, "nadia@example.org", DESKTOP, "/leads"
        )
        await staff_page.get_by_role("link", name="Referrals").first.click()
        await staff_page.get_by_role("link", name="Amina Benali").click()
        await staff_page.wait_for_url(f"{base_url}/referrals/{referral.id}")
        await staff_page.get_by_role("button", name="Accept the referral").click()
        await expect(staff_page.locator(".rf-now .badge")).to_have_text("accepted")
        await staff_page.locator("#completed-outcome").select_option("coached")
        await staff_page.locator("#completed-reason").fill("Coached for her business plan")
        await staff_page.get_by_role("button", name="Complete the referral").click()
        await expect(staff_page.locator(".rf-now .badge")).to_have_text("completed")
        await staff_ctx.close()

        # The social worker sees the status and the feedback on the portal.
        await cpas_page.goto(f"{base_url}/partner/")
        row = cpas_page.locator("tr", has_text="Amina Benali")
        await expect(row.locator(".badge")).to_have_text("completed")
        await expect(row.locator(".rf-outcome")).to_have_text("Coached")
        await _fits_the_screen(cpas_page)
        await row.get_by_role("link", name="Amina Benali").click()
        history = cpas_page.locator("#history")
        await expect(history).to_contain_text("Nadia Haddad")
        await expect(history).to_contain_text("Coached for her business plan")
        await expect(cpas_page.locator("#moves")).to_have_count(0)
        await _fits_the_screen(cpas_page)
        await cpas_ctx.close()
