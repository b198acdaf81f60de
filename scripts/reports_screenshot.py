#!/usr/bin/env python3
"""The README's picture of the reports dashboard: the demo's funnel, key figures and weekly
trends over the last thirteen weeks, as a coordinator sees them on a desktop screen.

    .venv/bin/python scripts/reports_screenshot.py [--out docs/reports-dashboard.png]
        [--email EMAIL] [--language en] [--width 1280] [--height 1700]

Like scripts/portal_screenshot.py, it starts `passerelle serve --demo --no-worker` on a
throw-away SQLite database on a free port (scripts/_screens.py), signs in as the demo's
coordinator, waits until Chart.js has drawn every chart, and saves the screenshot. Needs
Debian's chromium at /usr/bin/chromium and the dev extras (playwright)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date, timedelta
from pathlib import Path

import _screens

DEMO_COORDINATOR = "coordination@passerelle.local"
# Every chart of the page has its Chart.js instance.
_DRAWN = """() => {
  const canvases = [...document.querySelectorAll("canvas[data-chart]")];
  return !!window.Chart && canvases.length > 0 && canvases.every(c => window.Chart.getChart(c));
}"""


async def shoot(base_url: str, args: argparse.Namespace) -> None:
    from playwright.async_api import async_playwright

    end = date.today()
    start = end - timedelta(weeks=13)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(_screens.CHROMIUM), args=_screens.CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page(
                viewport={"width": args.width, "height": args.height}, locale="en-GB"
            )
            await page.goto(f"{base_url}/login")
            await page.locator(f".langswitch button[value={args.language}]").click()
            await page.locator("#email").fill(args.email)
            await page.locator("#password").fill(_screens.DEMO_PASSWORD)
            await page.locator("form[action='/login'] button[type=submit]").click()
            await page.wait_for_url(f"{base_url}/**")
            await page.goto(f"{base_url}/reports?start={start}&end={end}&by=region")
            await page.wait_for_function(_DRAWN)
            await page.wait_for_timeout(600)  # the bars' short animation
            args.out.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(args.out))
        finally:
            await browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=_screens.ROOT / "docs" / "reports-dashboard.png"
    )
    parser.add_argument("--email", default=DEMO_COORDINATOR, help="staff user of a report role")
    parser.add_argument("--language", default="en", choices=("fr", "nl", "de", "en"))
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1700)
    args = parser.parse_args()
    if not _screens.CHROMIUM.exists():
        print(f"{_screens.CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 1
    with _screens.demo_server() as base_url:
        asyncio.run(shoot(base_url, args))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
