"""Reports: the outreach funnel, attribution, funders' indicators against targets, read from the
stored facts (people, their stage log and milestones, interactions, referrals, messages)."""
