#!/usr/bin/env python3
"""The README's picture of the partner portal: a CPAS social worker's list of referrals, with
their status and feedback, on a 360×740 phone.

    .venv/bin/python scripts/portal_screenshot.py [--out docs/partner-portal.png] [--email EMAIL]

Like scripts/field_screenshot.py (both use scripts/_screens.py): starts `passerelle serve --demo
--no-worker` on a throw-away SQLite database on a free port, signs in as the demo's CPAS de
Saint-Gilles portal user and saves the screenshot. Needs Debian's chromium at /usr/bin/chromium
and the dev extras (playwright)."""

from __future__ import annotations

import sys
from typing import Any

import _screens

DEMO_PARTNER = "cpas-sg@partner.passerelle.local"


async def pose(page: Any) -> None:
    # The list itself, below the title and the filters.
    await page.locator("table.referrals").scroll_into_view_if_needed()
    await page.evaluate("window.scrollBy(0, -120)")


if __name__ == "__main__":
    sys.exit(
        _screens.main(
            __doc__.splitlines()[0],
            default_out=_screens.ROOT / "docs" / "partner-portal.png",
            default_email=DEMO_PARTNER,
            email_help="portal user",
            login_path="/login",
            landing="/partner/",
            pose=pose,
        )
    )
