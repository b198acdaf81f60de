#!/usr/bin/env python3
"""The README's picture of the field app: the "log a contact" page on a 360×740 phone.

    .venv/bin/python scripts/field_screenshot.py [--out docs/field-app.png] [--email EMAIL]

Starts `passerelle serve --demo --no-worker` on a throw-away SQLite database (in a temporary
directory, deleted at the end) on a free port, signs in as a demo agent (Fatima, who works the
demo's market stand of today; every demo account has the password crm.demo.DEMO_PASSWORD),
and saves the screenshot. Needs Debian's chromium at /usr/bin/chromium (apt-get install
chromium) and the dev extras (playwright)."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crm.demo import DEMO_PASSWORD  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
DEMO_AGENT = "fatima@passerelle.local"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(base_url: str, server: subprocess.Popen, log: Path) -> None:
    # Loading the demo data set takes a few seconds before the server listens.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited with {server.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    sys.exit(f"the server did not start in 180 s:\n{log.read_text()}")


async def screenshot(base_url: str, email: str, out: Path) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(
                viewport={"width": 360, "height": 740}, device_scale_factor=2, locale="fr-BE"
            )
            await page.goto(f"{base_url}/login?next=/field/log")
            await page.locator("#email").fill(email)
            await page.locator("#password").fill(DEMO_PASSWORD)
            await page.locator("form[action='/login'] button[type=submit]").click()
            await page.wait_for_url(f"{base_url}/field/log")
            # A contact being logged: what the agent sees half-way through.
            form = page.locator("#log-form")
            await form.locator("[name=first_name]").fill("Nadia")
            await form.locator("[name=phone]").fill("0485 61 27 90")
            await form.locator("label[for='log-seg-women']").click()
            await form.locator("label[for='log-interest-high']").click()
            await form.locator("label[for='log-consent-sms']").click()
            await page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
            out.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(out))
        finally:
            await browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "field-app.png")
    parser.add_argument("--email", default=DEMO_AGENT, help=f"demo agent ({DEMO_AGENT})")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 1
    port = free_port()
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
            wait_until_healthy(base_url, server, log)
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
