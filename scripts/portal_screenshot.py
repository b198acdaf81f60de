#!/usr/bin/env python3
"""The README's picture of the partner portal: a CPAS social worker's list of referrals, with
their status and feedback, on a 360×740 phone.

    .venv/bin/python scripts/portal_screenshot.py [--out docs/partner-portal.png] [--email EMAIL]

Like scripts/field_screenshot.py (whose helpers it uses): starts `passerelle serve --demo
--no-worker` on a throw-away SQLite database on a free port, signs in as the demo's CPAS de
Saint-Gilles portal user and saves the screenshot. Needs Debian's chromium at /usr/bin/chromium
and the dev extras (playwright)."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import field_screenshot as shot  # noqa: E402

DEMO_PARTNER = "cpas-sg@partner.passerelle.local"


async def screenshot(base_url: str, email: str, out: Path) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=shot.CHROMIUM, args=shot.CHROMIUM_ARGS)
        try:
            page = await browser.new_page(
                viewport={"width": 360, "height": 740}, device_scale_factor=2, locale="fr-BE"
            )
            await page.goto(f"{base_url}/login")
            await page.locator("#email").fill(email)
            await page.locator("#password").fill(shot.DEMO_PASSWORD)
            await page.locator("form[action='/login'] button[type=submit]").click()
            await page.wait_for_url(f"{base_url}/partner/")
            # The list itself, below the title and the filters.
            await page.locator("table.referrals").scroll_into_view_if_needed()
            await page.evaluate("window.scrollBy(0, -120)")
            out.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(out))
        finally:
            await browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "partner-portal.png")
    parser.add_argument("--email", default=DEMO_PARTNER, help=f"portal user ({DEMO_PARTNER})")
    args = parser.parse_args()
    if not Path(shot.CHROMIUM).exists():
        print(f"{shot.CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 1
    port = shot.free_port()
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="passerelle-screenshot-") as tmp:
        log = Path(tmp) / "server.log"
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite://{tmp}/demo.db",
            "ENVIRONMENT": "development",
            "PUBLIC_BASE_URL": base_url,
        }
        with log.open("wb") as log_file:
            server = subprocess.Popen(
                [sys.executable, "-m", "crm.cli", "serve", "--demo", "--no-worker"]
                + ["--host", "127.0.0.1", "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        try:
            shot.wait_until_healthy(base_url, server, log)
            asyncio.run(screenshot(base_url, args.email, args.out))
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
