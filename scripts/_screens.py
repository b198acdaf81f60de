"""What the README's screenshot scripts share: Debian's chromium and the arguments it runs with
(the browser tests launch it the same way), the demo server on a throw-away SQLite database on a
free port, and a phone-sized page signed in as a demo account.

Used by scripts/field_screenshot.py and scripts/portal_screenshot.py; CHROMIUM and CHROMIUM_ARGS
also by tests/crm/web/test_browser.py."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crm.demo import DEMO_PASSWORD  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


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


@contextlib.contextmanager
def demo_server() -> Iterator[str]:
    """`passerelle serve --demo --no-worker` on a throw-away SQLite database (in a temporary
    directory, deleted at the end) on a free port; yields its base URL once it answers."""
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
            yield base_url
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


async def _screenshot(
    base_url: str,
    email: str,
    out: Path,
    *,
    login_path: str,
    landing: str,
    pose: Callable[[Any], Awaitable[None]],
) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(
                viewport={"width": 360, "height": 740}, device_scale_factor=2, locale="fr-BE"
            )
            await page.goto(f"{base_url}{login_path}")
            await page.locator("#email").fill(email)
            await page.locator("#password").fill(DEMO_PASSWORD)
            await page.locator("form[action='/login'] button[type=submit]").click()
            await page.wait_for_url(f"{base_url}{landing}")
            await pose(page)
            out.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(out))
        finally:
            await browser.close()


def main(
    description: str,
    *,
    default_out: Path,
    default_email: str,
    email_help: str,
    login_path: str,
    landing: str,
    pose: Callable[[Any], Awaitable[None]],
) -> int:
    """Parse `--out` and `--email`, start the demo server, sign in on a 360×740 phone at
    `login_path`, wait for `landing`, let `pose` arrange the page, and save the screenshot."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument("--email", default=default_email, help=f"{email_help} ({default_email})")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 1
    with demo_server() as base_url:
        asyncio.run(
            _screenshot(
                base_url, args.email, args.out, login_path=login_path, landing=landing, pose=pose
            )
        )
    print(f"wrote {args.out}")
    return 0
