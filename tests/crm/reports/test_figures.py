"""The reports' figures against a small world whose every number is worked out by hand below,
through the API (the page and the exports call the same services).

Six people, times at 10:00 UTC so the day counts are exact:

    P1 Amina   reached 2026-02-02 at the Midi market (event E1, market stand, 1060 Brussels);
               lead 02-04, contacted 02-06, info session 02-12, application 02-20,
               coached 03-01, financed 04-01. Woman, born 1990, jobseeker, non-EU migrant
               background, social assistance, 2 jobs created.
    P2 Bram    referred by partner A, reached 2026-03-10 (9000 Gent); lead 03-11, contacted
               03-15, info session 03-20, application 04-10, coached 05-10. Man, born 2003.
    P3 Chloé   walk-in 2026-04-01 (4000 Liège); lead 04-03; lost 04-20 "found a job".
               Woman, born 1970.
    P4 Dieter  info session E2 in Eupen (4700), reached 2026-05-05; straight to application
               05-06; redirected 05-20. Man, born 1975, background undisclosed.
    P5 Eva     texted us 2025-11-15 (last year); lead 2025-11-20, contacted 2026-01-10,
               coached 2026-02-15 (skipping two stages), financed 2026-03-15. Woman, born 2001,
               EU migrant background, 1 job created.
    P6 Farid   walk-in 2026-06-01 (1000 Brussels), no further. Man, no birth year.
"""

from __future__ import annotations

import pytest

from crm.enums import Role
from crm.people.models import Lead, LeadSource

YEAR = {"start": "2026-01-01", "end": "2026-12-31"}


async def _get(client, caller, path, **params):
    response = await client.get(f"/api/v1/reports/{path}", params=params, headers=caller.headers)
    assert response.status_code == 200, response.text
    return response.json()


def _stages(report) -> dict[str, dict]:
    return {row["stage"]: row for row in report["stages"]}


async def test_cohort_funnel_counts_conversions_and_medians(client, world, coordinator):
    report = await _get(client, coordinator, "funnel", **YEAR)
    stages = _stages(report)
    assert {s: r["people"] for s, r in stages.items()} == {
        "reached": 5,
        "lead": 4,
        "contacted": 3,
        "info_session": 3,
        "application": 3,
        "coached": 2,
        "financed": 1,
    }
    assert stages["lead"]["conversion"] == 0.8
    assert stages["contacted"]["conversion"] == 0.75
    assert stages["info_session"]["conversion"] == 1.0
    assert stages["coached"]["conversion"] == 0.6667
    assert stages["financed"]["conversion"] == 0.5
    assert stages["financed"]["of_reached"] == 0.2
    # Days: reached→lead 2,1,2,1; lead→contacted 2,4,0; contacted→info 6,5,0;
    # info→application 8,21,0; application→coached 9,30; coached→financed 31.
    assert stages["lead"]["median_days"] == 1.5
    assert stages["contacted"]["median_days"] == 2.0
    assert stages["info_session"]["median_days"] == 5.0
    assert stages["application"]["median_days"] == 8.0
    assert stages["coached"]["median_days"] == 19.5
    assert stages["financed"]["median_days"] == 31.0
    assert stages["coached"]["timed"] == 2
    assert report["redirected"] == 1 and report["lost"] == 1
    assert report["lost_reasons"] == [{"reason": "found a job", "people": 1}]


async def test_activity_funnel_counts_who_reached_each_stage_in_the_period(
    client, world, coordinator
):
    report = await _get(client, coordinator, "funnel", basis="activity", **YEAR)
    stages = _stages(report)
    assert [stages[s]["people"] for s in stages] == [5, 4, 4, 4, 4, 3, 2]
    assert stages["financed"]["conversion"] is None
    # Financed in 2026: P1 31 days after coaching, P5 28.
    assert stages["financed"]["median_days"] == 29.5


async def test_filters_narrow_the_people(client, world, coordinator):
    def reached(report):
        return _stages(report)["reached"]["people"]

    assert reached(await _get(client, coordinator, "funnel", region="brussels", **YEAR)) == 2
    assert reached(await _get(client, coordinator, "funnel", postcode="4700", **YEAR)) == 1
    by_partner = await _get(client, coordinator, "funnel", partner_id=world.a.id, **YEAR)
    assert reached(by_partner) == 1 and _stages(by_partner)["coached"]["people"] == 1
    market = await _get(client, coordinator, "funnel", event_kind="market_stand", **YEAR)
    assert _stages(market)["financed"]["people"] == 1
    assert reached(await _get(client, coordinator, "funnel", event_id=world.e2.id, **YEAR)) == 1
    assert reached(await _get(client, coordinator, "funnel", language="nl", **YEAR)) == 1
    assert reached(await _get(client, coordinator, "funnel", segment="women", **YEAR)) == 2
    assert reached(await _get(client, coordinator, "funnel", source="walk_in", **YEAR)) == 2


async def test_compare_by_region_and_origin(client, world, coordinator):
    report = await _get(client, coordinator, "compare", by="region", **YEAR)
    rows = {r["key"]: r for r in report["rows"]}
    assert {k: r["stages"]["reached"] for k, r in rows.items()} == {
        "brussels": 2,
        "flanders": 1,
        "wallonia": 1,
        "german_speaking": 1,
    }
    assert rows["brussels"]["financed_of_reached"] == 0.5
    assert report["rows"][0]["key"] == "brussels"  # most people first
    origin = await _get(client, coordinator, "compare", by="origin", **YEAR)
    keys = {r["key"]: r for r in origin["rows"]}
    assert keys[f"event:{world.e1.id}"]["label"].startswith("Marché du Midi")
    assert keys[f"partner:{world.a.id}"]["label"] == "CPAS de Saint-Gilles"
    assert keys["walk_in"]["stages"]["reached"] == 2


async def test_attribution_names_where_coached_and_financed_people_came_from(
    client, world, coordinator
):
    report = await _get(client, coordinator, "attribution", **YEAR)
    assert report["people_total"] == 3
    origins = {p["name"]: p["origin"] for p in report["people"]}
    assert origins == {
        "Amina": f"event:{world.e1.id}",
        "Bram": f"partner:{world.a.id}",
        "Eva": "sms",
    }
    bram = next(p for p in report["people"] if p["name"] == "Bram")
    assert bram["origin_kind"] == "referral"
    assert bram["referrals"] == ["CPAS de Saint-Gilles → us (requested)"]
    # The sources table: the market stand's people went furthest (one financed).
    assert report["sources"][0]["key"] == f"event:{world.e1.id}"


async def test_marketing_reads_attribution_without_names(client, world, make_caller):
    marketing = await make_caller(Role.MARKETING)
    report = await _get(client, marketing, "attribution", **YEAR)
    assert report["people"] is None and report["people_total"] == 3


async def test_indicators_against_targets(client, world, coordinator):
    body = {
        "indicator": "people_reached",
        "programme": "FSE+ 2026",
        "period_start": "2026-01-01",
        "period_end": "2026-12-31",
        "target": 10,
    }
    created = await client.post("/api/v1/reports/targets", json=body, headers=coordinator.headers)
    assert created.status_code == 201, created.text
    again = await client.post("/api/v1/reports/targets", json=body, headers=coordinator.headers)
    assert again.status_code == 409
    share = {**body, "indicator": "share_women", "target": 50}
    assert (
        await client.post("/api/v1/reports/targets", json=share, headers=coordinator.headers)
    ).status_code == 201
    report = await _get(client, coordinator, "indicators", programme="FSE+ 2026", **YEAR)
    rows = {r["indicator"]: r for r in report["rows"]}
    assert {k: r["achieved"] for k, r in rows.items()} == {
        "people_reached": 5,
        "leads": 4,
        "info_sessions": 4,
        "applications": 4,
        "coached": 3,
        "financed": 2,
        "jobs_created": 3,
        "jobs_kept": 0,
        "referrals_received": 1,
        "referrals_sent": 1,
        "share_women": 40.0,
        "share_under_26": 20.0,
        "share_over_50": 40.0,
        "share_migrant_background": 20.0,
        "share_social_assistance": 20.0,
    }
    assert (
        rows["people_reached"]["target"] == "10.00" or float(rows["people_reached"]["target"]) == 10
    )
    assert rows["people_reached"]["gap"] == -5 and rows["people_reached"]["of_target"] == 0.5
    assert rows["share_women"]["numerator"] == 2 and rows["share_women"]["denominator"] == 5
    assert rows["share_women"]["gap"] == -10.0
    assert rows["financed"]["target"] is None and rows["financed"]["gap"] is None
    # Another period: the targets of 2026 do not apply.
    other = await _get(client, coordinator, "indicators", programme="FSE+ 2026",
                       start="2026-01-01", end="2026-06-30")  # fmt: skip
    assert all(r["target"] is None for r in other["rows"])


async def test_target_validation_names_the_field(client, world, coordinator, make_caller):
    bad = {
        "indicator": "share_women",
        "period_start": "2026-01-01",
        "period_end": "2026-12-31",
        "target": 120,
    }
    response = await client.post("/api/v1/reports/targets", json=bad, headers=coordinator.headers)
    assert response.status_code == 422 and "target" in response.text
    backwards = {**bad, "target": 50, "period_end": "2025-12-31"}
    response = await client.post(
        "/api/v1/reports/targets", json=backwards, headers=coordinator.headers
    )
    assert response.status_code == 422 and "period_end" in response.text
    marketing = await make_caller(Role.MARKETING)
    response = await client.post(
        "/api/v1/reports/targets", json={**bad, "target": 5}, headers=marketing.headers
    )
    assert response.status_code == 403


async def test_breakdowns_split_by_gender(client, world, coordinator):
    report = await _get(client, coordinator, "breakdowns", **YEAR)
    tables = {t["name"]: {r["value"]: r for r in t["rows"]} for t in report["tables"]}
    assert report["people"] == 5
    assert tables["gender"]["female"]["total"] == 2 and tables["gender"]["male"]["total"] == 3
    ages = {k: r["total"] for k, r in tables["age_bracket"].items()}
    assert ages == {"under_26": 1, "26_49": 1, "50_plus": 2, "unknown": 1}
    assert tables["age_bracket"]["50_plus"]["female"] == 1
    assert tables["age_bracket"]["50_plus"]["male"] == 1
    assert tables["employment_status"]["jobseeker"]["total"] == 2
    assert tables["social_assistance"]["yes"]["total"] == 1
    assert tables["social_assistance"]["unknown"]["total"] == 3
    financed = await _get(client, coordinator, "breakdowns", population="financed", **YEAR)
    assert financed["people"] == 2


async def test_weekly_trends(client, world, coordinator):
    report = await _get(client, coordinator, "trends", **YEAR)
    weeks = {w["week"]: w["counts"] for w in report["weeks"]}
    assert weeks["2026-02-02"]["reached"] == 1  # P1, a Monday
    assert weeks["2026-03-30"]["financed"] == 1  # P1 financed Wednesday 1 April
    assert sum(w["financed"] for w in weeks.values()) == 2
    assert sum(w["reached"] for w in weeks.values()) == 5
    assert report["weeks"][0]["week"] == "2025-12-29"  # the Monday of 1 January 2026's week


async def test_empty_period_gives_zeros_not_errors(client, world, coordinator):
    empty = {"start": "2020-01-01", "end": "2020-12-31"}
    for path in ("funnel", "trends", "attribution", "indicators", "breakdowns", "campaigns"):
        await _get(client, coordinator, path, **empty)
    report = await _get(client, coordinator, "funnel", **empty)
    assert all(r["people"] == 0 for r in report["stages"])
    assert all(r["conversion"] is None and r["median_days"] is None for r in report["stages"])
    indicators = await _get(client, coordinator, "indicators", **empty)
    share = next(r for r in indicators["rows"] if r["indicator"] == "share_women")
    assert share["achieved"] == 0 and share["denominator"] == 0
    compare = await _get(client, coordinator, "compare", by="partner", **empty)
    assert compare["rows"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"partner_id": "999999"}, "partner_id"),
        ({"event_id": "999999"}, "event_id"),
        ({"agent_id": "abc"}, "agent_id"),
        ({"region": "mars"}, "region"),
        ({"start": "2026-05-01", "end": "2026-04-01"}, "end"),
        ({"start": "yesterday"}, "start"),
        ({"postcode": "10600"}, "postcode"),
        ({"basis": "vibes"}, "basis"),
        ({"segment": "no_such_segment"}, "segment"),
        ({"campaign_id": "999999"}, "campaign_id"),
    ],
)
async def test_bad_filters_are_a_422_naming_the_field(client, world, coordinator, params, field):
    response = await client.get(
        "/api/v1/reports/funnel", params=params, headers=coordinator.headers
    )
    assert response.status_code == 422, response.text
    assert field in response.text


async def test_compare_needs_a_known_dimension(client, world, coordinator):
    response = await client.get(
        "/api/v1/reports/compare", params={"by": "horoscope"}, headers=coordinator.headers
    )
    assert response.status_code == 422 and "by" in response.text


@pytest.mark.parametrize("role", [Role.AGENT, Role.PARTNER])
async def test_reports_are_not_for_agents_or_partners(client, world, make_caller, role):
    caller = await make_caller(role)
    for path in ("funnel", "indicators", "attribution", "targets"):
        response = await client.get(f"/api/v1/reports/{path}", headers=caller.headers)
        assert response.status_code == 403, path


async def test_attribution_brought_counts_who_was_coached_or_financed_in_the_period(
    client, world, coordinator
):
    report = await _get(client, coordinator, "attribution", **YEAR)
    brought = {
        r["key"]: (r["stages"]["coached"], r["stages"]["financed"]) for r in report["brought"]
    }
    # Eva was reached in 2025 by SMS, coached and financed in 2026: her origin counts here.
    assert brought == {
        f"event:{world.e1.id}": (1, 1),
        "sms": (1, 1),
        f"partner:{world.a.id}": (1, 0),
    }
    assert [r["key"] for r in report["brought"]][2] == f"partner:{world.a.id}"  # not financed


async def test_a_keyword_texted_at_a_stand_is_the_stands_origin(client, world, coordinator):
    # Eva texted the Midi market's keyword rather than writing on her own.
    await Lead.filter(id=world.people["p5"].id).update(event_id=world.e1.id)
    report = await _get(client, coordinator, "attribution", **YEAR)
    origins = {p["name"]: p["origin"] for p in report["people"]}
    assert origins["Eva"] == f"event:{world.e1.id}"
    # A Telegram link of a partner is that partner's referral.
    await Lead.filter(id=world.people["p5"].id).update(
        event_id=None, source=LeadSource.TELEGRAM, referring_partner_id=world.a.id
    )
    report = await _get(client, coordinator, "attribution", **YEAR)
    origins = {p["name"]: p["origin"] for p in report["people"]}
    assert origins["Eva"] == f"partner:{world.a.id}"
