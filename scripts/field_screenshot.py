#!/usr/bin/env python3
"""The README's picture of the field app: the "log a contact" page on a 360×740 phone.

    .venv/bin/python scripts/field_screenshot.py [--out docs/field-app.png] [--email EMAIL]

Starts `passerelle serve --demo --no-worker` on a throw-away SQLite database (in a temporary
directory, deleted at the end) on a free port, signs in as a demo agent (Fatima, who works the
demo's market stand of today; every demo account has the password crm.demo.DEMO_PASSWORD),
and saves the screenshot. Needs Debian's chromium at /usr/bin/chromium (apt-get install
chromium) and the dev extras (playwright). What it shares with scripts/portal_screenshot.py is
in scripts/_screens.py."""

from __future__ import annotations

import sys
from typing import Any

import _screens

DEMO_AGENT = "fatima@passerelle.local"


async def pose(page: Any) -> None:
    # A contact being logged: what the agent sees half-way through.
    form = page.locator("#log-form")
    await form.locator("[name=first_name]").fill("Nadia")
    await form.locator("[name=phone]").fill("0485 61 27 90")
    await form.locator("label[for='log-seg-women']").click()
    await form.locator("label[for='log-interest-high']").click()
    await form.locator("label[for='log-consent-sms']").click()
    await page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")


if __name__ == "__main__":
    sys.exit(
        _screens.main(
            __doc__.splitlines()[0],
            default_out=_screens.ROOT / "docs" / "field-app.png",
            default_email=DEMO_AGENT,
            email_help="demo agent",
            login_path="/login?next=/field/log",
            landing="/field/log",
            pose=pose,
        )
    )
