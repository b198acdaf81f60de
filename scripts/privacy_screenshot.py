#!/usr/bin/env python3
"""The README's picture of the privacy pages: the demo's register of rights requests and one
erasure request's page, as the demo's coordinator (the DPO) sees them.

    .venv/bin/python scripts/privacy_screenshot.py [--out docs/privacy-requests.png]
        [--language en] [--width 1280] [--height 1500]

Starts `passerelle serve --demo --no-worker` on a throw-away SQLite database on a free port
(scripts/_screens.py), signs in, and saves the screenshot. Needs Debian's chromium at
/usr/bin/chromium and the dev extras (playwright)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import _screens

DEMO_COORDINATOR = "coordination@passerelle.local"


async def shoot(base_url: str, args: argparse.Namespace) -> None:
    from playwright.async_api import async_playwright

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
            await page.locator("#email").fill(DEMO_COORDINATOR)
            await page.locator("#password").fill(_screens.DEMO_PASSWORD)
            await page.locator("form[action='/login'] button[type=submit]").click()
            await page.wait_for_url(f"{base_url}/**")
            await page.goto(f"{base_url}/privacy?listing=all")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(args.out), full_page=True)
            link = page.locator("#requests a", has_text="Erasure").first
            await link.click()
            await page.wait_for_load_state()
            second = args.out.with_name(args.out.stem + "-erasure.png")
            await page.screenshot(path=str(second), full_page=True)
        finally:
            await browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=_screens.ROOT / "docs" / "privacy-requests.png")
    parser.add_argument("--language", default="en", choices=("fr", "nl", "de", "en"))
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1200)
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
