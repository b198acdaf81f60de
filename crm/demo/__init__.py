"""The demo data set (`passerelle demo`, `passerelle serve --demo`).

DEMO ONLY: every demo account has the password `passerelle-demo` (DEMO_PASSWORD). Load it into
a throw-away database, never into one that real people use; `load_demo` refuses when
ENVIRONMENT=production and when the database already holds people.
"""

from crm.demo.data import DEMO_PASSWORD, PARTNERS, STAFF, partner_user_email
from crm.demo.loader import load_demo

__all__ = ["DEMO_PASSWORD", "PARTNERS", "STAFF", "load_demo", "partner_user_email"]
