"""The report dashboard in a real browser (Debian's chromium through Playwright, the app under
uvicorn: see tests/crm/web/test_browser.py): a coordinator opens /reports, the vendored Chart.js
draws the charts from the page's JSON blocks under the pages' strict CSP, a region filter
changes the figures and the charts, and the CSV export downloads the filtered figures. The same
page fits a phone."""

from __future__ import annotations

import asyncio
import csv
import io
import os
from pathlib import Path
from urllib.parse import quote

import pytest

from crm.auth.models import User
from crm.enums import Role

from .conftest import PASSWORD
from .test_browser import CHROMIUM, app_and_browser
from .test_reports_pages import report_fixture

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and os.environ.get("CI") != "true",
    reason="Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
)

MARCH = "start=2025-03-01&end=2025-03-31"
CHARTS = ("funnel-data", "trends-data", "compare-data", "campaigns-data")

# Every chart has its Chart.js instance, and the funnel's canvas has pixels drawn on it.
_DRAWN = """() => {
  const canvases = [...document.querySelectorAll("canvas[data-chart]")];
  if (!window.Chart || canvases.length === 0) return false;
  if (!canvases.every(c => window.Chart.getChart(c))) return false;
  const funnel = document.querySelector('canvas[data-chart="funnel-data"]');
  const pixels = funnel.getContext("2d").getImageData(0, 0, funnel.width, funnel.height).data;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return true;
  return false;
}"""
_FUNNEL_BARS = """() => window.Chart.getChart(
  document.querySelector('canvas[data-chart="funnel-data"]')).data.datasets[0].data"""


async def _sign_in(browser, base_url: str, viewport: dict, errors: list[str]):
    context = await browser.new_context(viewport=viewport, locale="en-GB", accept_downloads=True)
    context.set_default_timeout(15_000)
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    await page.goto(f"{base_url}/login?next=" + quote(f"/reports?{MARCH}", safe="/"))
    await page.locator("#email").fill("nadia@example.org")
    await page.locator("#password").fill(PASSWORD)
    await page.locator("form[action='/login'] button[type=submit]").click()
    await page.wait_for_url(f"{base_url}/reports?{MARCH}")
    return context, page


async def test_a_coordinator_filters_the_dashboard_and_downloads_the_figures(
    client, make_caller, make_partner, tmp_path
):
    await report_fixture(make_partner)
    caller = await make_caller(
        Role.COORDINATOR,
        email="nadia@example.org",
        first_name="Nadia",
        last_name="Haddad",
        ui_language="en",
    )
    await User.filter(id=caller.user.id).update(can_export=True)
    errors: list[str] = []
    async with app_and_browser(tmp_path) as (base_url, browser, pw):
        expect = pw.expect
        context, page = await _sign_in(browser, base_url, {"width": 1280, "height": 900}, errors)
        await expect(page.locator("h1")).to_have_text("Reports")
        await page.wait_for_function(_DRAWN)
        for chart in CHARTS:
            await expect(page.locator(f'canvas[data-chart="{chart}"]')).to_have_attribute(
                "data-drawn", "true"
            )
        await expect(page.locator("[data-kpi=reached]")).to_have_text("5")
        assert await page.evaluate(_FUNNEL_BARS) == [5, 3, 3, 3, 2, 2, 1]

        # A region: the figures, the table and the chart change.
        await page.locator("#f-region").select_option("brussels")
        await page.get_by_role("button", name="Show").click()
        await page.wait_for_url("**/reports?*region=brussels*")
        await expect(page.locator("[data-kpi=reached]")).to_have_text("3")
        await expect(
            page.locator('#funnel-table tr[data-stage="financed"] td[data-people]')
        ).to_have_text("1")
        await page.wait_for_function(_DRAWN)
        assert await page.evaluate(_FUNNEL_BARS) == [3, 2, 2, 2, 1, 1, 1]

        # The export carries the filters shown: Brussels only.
        async with page.expect_download() as download_info:
            await page.locator('#funnel [data-export="funnel.csv"]').click()
        download = await download_info.value
        assert download.suggested_filename == "passerelle-report-funnel-2025-03-01_2025-03-31.csv"
        content = await asyncio.to_thread(Path(await download.path()).read_bytes)
        rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))
        people = {r["item"]: int(r["people"]) for r in rows if r["section"] == "stage"}
        assert people["reached"] == 3 and people["financed"] == 1
        await context.close()

        # On a phone: one column, the charts drawn in their boxes, nothing wider than the screen.
        context, page = await _sign_in(browser, base_url, {"width": 360, "height": 740}, errors)
        await page.wait_for_function(_DRAWN)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"/reports is {width}px wide on a 360px phone"
        box = await page.locator('canvas[data-chart="funnel-data"]').bounding_box()
        assert box and 0 < box["width"] <= 360 and box["height"] > 100
        await context.close()
    assert errors == [], errors
