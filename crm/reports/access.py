"""Who reads which report. Reports are aggregates; lists of named people are narrower."""

from __future__ import annotations

from crm.enums import Role

# The funnel, comparisons, trends, indicators, breakdowns and campaign results.
REPORT_ROLES = (Role.ADMIN, Role.COORDINATOR, Role.MARKETING)
# Setting the targets announced to funders.
TARGET_ROLES = (Role.ADMIN, Role.COORDINATOR)
# The named list of the people behind the attribution (who was financed, from where).
PEOPLE_ROLES = (Role.ADMIN, Role.COORDINATOR)
