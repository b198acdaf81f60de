"""One real browser run: the app under uvicorn in a subprocess (Tortoise allows one lifespan per
process, and the `app` fixture's is alive), Debian's chromium through Playwright, a phone-sized
window."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from crm.enums import Role
from scripts._screens import CHROMIUM, CHROMIUM_ARGS, free_port
from tests.conftest import DATABASE_URL

from .conftest import PASSWORD

PROJECT_ROOT = Path(__file__).resolve().parents[3]

# In CI (CI=true, run as root) scripts/test.sh installs chromium: a missing browser there is a
# failure, not a skip, so the browser test cannot silently stop running.
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and os.environ.get("CI") != "true",
    reason="Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
)


@contextlib.contextmanager
def _uvicorn(port: int, log: Path) -> Iterator[subprocess.Popen]:
    """The real app in its own process, on the test database; stopped at the end."""
    with log.open("wb") as log_file:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "crm.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=PROJECT_ROOT,
            env={**os.environ, "DATABASE_URL": DATABASE_URL},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        yield server
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _fail_with_log(message: str, log: Path) -> NoReturn:
    pytest.fail(f"{message}:\n{log.read_text()}")


async def _wait_until_healthy(base_url: str, server: subprocess.Popen, log: Path) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as http:
        for _ in range(150):
            if server.poll() is not None:
                _fail_with_log(f"uvicorn exited with {server.returncode}", log)
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    _fail_with_log("uvicorn did not become healthy in 30 s", log)


@contextlib.asynccontextmanager
async def app_and_browser(tmp_path: Path) -> AsyncIterator[tuple[str, Any, Any]]:
    """The app under uvicorn on the test database, and Debian's chromium: yields the base URL,
    the browser and Playwright's async API module (for `expect`)."""
    playwright_api = pytest.importorskip("playwright.async_api")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = tmp_path / "uvicorn.log"
    with _uvicorn(port, log) as server:
        await _wait_until_healthy(base_url, server, log)
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                yield base_url, browser, playwright_api
            finally:
                await browser.close()


async def test_phone_browser_signs_in_switches_to_dutch_and_opens_a_lead(
    client, make_caller, tmp_path
):
    agent = await make_caller(
        Role.AGENT, email="sofie@example.org", first_name="Sofie", last_name="Claes"
    )
    created = await client.post(
        "/api/v1/leads",
        headers=agent.headers,
        json={
            "first_name": "Amina",
            "last_name": "Benali",
            "phone": "0470 12 34 56",
            "postcode": "1080",
            "language": "fr",
            "segments": ["women"],
            "consents": [{"purpose": "sms", "granted": True}],
        },
    )
    assert created.status_code == 201, created.text
    lead_id = created.json()["id"]

    async with app_and_browser(tmp_path) as (base_url, browser, playwright_api):
        page = await browser.new_page(viewport={"width": 360, "height": 740}, locale="fr-BE")
        page.set_default_timeout(15_000)
        expect = playwright_api.expect

        await page.goto(f"{base_url}/leads")
        assert "/login?next=/leads" in page.url
        await expect(page.locator("html")).to_have_attribute("lang", "fr")
        await page.get_by_label("Adresse e-mail").fill("sofie@example.org")
        await page.get_by_label("Mot de passe").fill(PASSWORD)
        await page.get_by_role("button", name="Se connecter").click()
        await page.wait_for_url(f"{base_url}/leads")
        await expect(page.get_by_role("heading", name="Personnes")).to_be_visible()

        await page.get_by_role("button", name="Nederlands").click()
        await expect(page.get_by_role("heading", name="Personen")).to_be_visible()
        await expect(page.locator("html")).to_have_attribute("lang", "nl")
        await expect(page.get_by_role("button", name="Afmelden")).to_be_visible()
        # Nothing wider than the phone: no sideways scrolling.
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360
        await page.screenshot(path=tmp_path / "leads-360.png", full_page=True)

        await page.get_by_role("link", name="Amina Benali").click()
        await page.wait_for_url(f"{base_url}/leads/{lead_id}")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Amina Benali")
        await expect(page.get_by_role("heading", name="Tijdlijn")).to_be_visible()
        await expect(page.get_by_text("Vrouwen")).to_be_visible()
        await expect(page.locator('a[href="tel:+32470123456"]').first).to_be_visible()
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360
        await page.screenshot(path=tmp_path / "lead-360.png", full_page=True)
