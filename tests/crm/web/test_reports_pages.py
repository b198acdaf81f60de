"""The report pages (/reports…): who may open them, the figures they show on a fixed fixture,
filters and bad filters, empty periods, the targets form, the exports (the same figures as the
report services) and the printable funder report."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook

from campaigns.models import Campaign
from channels.models import OutboxMessage
from crm.audit.models import AuditEntry
from crm.auth.models import User
from crm.enums import Role
from crm.geo import Region
from crm.outreach.models import EventKind, OutreachEvent
from crm.people.models import Lead
from crm.reports.attribution import attribution
from crm.reports.campaign_results import campaign_results
from crm.reports.dimensions import Dimension
from crm.reports.filters import ReportFilters, today
from crm.reports.funnel import compare, funnel, trends
from crm.reports.indicators import breakdowns, indicators
from crm.reports.models import IndicatorTarget

from .conftest import csrf_from

MARCH = {"start": "2025-03-01", "end": "2025-03-31"}
MARCH_FILTERS = ReportFilters(start=date(2025, 3, 1), end=date(2025, 3, 31))
PAGES = ("/reports", "/reports/attribution", "/reports/indicators", "/reports/funder")


def at(day: int, hour: int = 10, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, 0, tzinfo=UTC)


@dataclass
class Fixture:
    event: OutreachEvent
    campaign: Campaign
    people: dict[str, Lead]


async def report_fixture(make_partner) -> Fixture:
    """Five people reached in March 2025 (three in Brussels met at a market, two in Wallonia
    referred by a CPAS), one reached in May; a campaign written to two of them in March.

    Cohort funnel for March: reached 5, lead 3, contacted 3, info session 3, application 2,
    coached 2, financed 1; lost 1 ("Moved away"), redirected 0. Brussels alone: 3, 2, 2, 2, 1,
    1, 1. Wallonia alone: 2, 1, 1, 1, 1, 1, 0."""
    cpas = await make_partner("CPAS de Charleroi")
    event = await OutreachEvent.create(
        kind=EventKind.MARKET_STAND, title="Marché du Midi", starts_at=at(2, 8), region="brussels"
    )
    brussels = {"region": "brussels", "postcode": "1060", "source": "event", "event": event}
    wallonia = {"region": "wallonia", "postcode": "6000", "source": "referral"}
    wallonia["referring_partner"] = cpas
    milestones = ("lead", "contacted", "info_session", "application", "coached", "financed")
    rows = {
        # name: (where, reached day, days of each milestone reached, other fields)
        "Amina": (brussels, 3, (4, 5, 10, 12, 20, 28), {"gender": "female", "jobs_created": 2}),
        "Bart": (brussels, 5, (6, 8, 15), {"gender": "male"}),
        "Chloé": (brussels, 7, (), {"gender": "female", "stage": "lost", "lost_at": at(10)}),
        "Dina": (wallonia, 4, (5, 6, 11, 13, 21), {"gender": "female", "birth_year": 2002}),
        "Emile": (wallonia, 10, (), {"gender": "male"}),
    }
    people: dict[str, Lead] = {}
    for n, (name, (where, reached, days, extra)) in enumerate(rows.items()):
        fields = {**where, **extra}
        fields.update({f"{m}_at": at(d) for m, d in zip(milestones, days, strict=False)})
        if "stage" not in fields:
            fields["stage"] = milestones[len(days) - 1] if days else "reached"
        if fields["stage"] == "lost":
            fields["lost_reason"] = "Moved away"
        lead = await Lead.create(
            first_name=name, last_name="Test", phone=f"+3247000{n:04d}", language="fr", **fields
        )
        await Lead.filter(id=lead.id).update(created_at=at(reached))
        people[name] = lead
    later = await Lead.create(first_name="Fanny", source="walk_in", region="brussels")
    await Lead.filter(id=later.id).update(created_at=at(2, month=5))
    campaign = await Campaign.create(
        name="Printemps des entrepreneurs",
        channel="sms",
        messages={"fr": "Bonjour {{ first_name }}"},
        default_language="fr",
        status="completed",
    )
    for n, name in enumerate(("Amina", "Dina")):
        lead = people[name]
        message = await OutboxMessage.create(
            lead=lead,
            channel="sms",
            address=lead.phone,
            language="fr",
            body="Bonjour",
            kind="campaign",
            status="delivered",
            due_at=at(8),
            sent_at=at(8),
            status_at=at(8),
            idempotency_key=f"reports:{campaign.id}:{n}",
            campaign_id=campaign.id,
        )
        await OutboxMessage.filter(id=message.id).update(created_at=at(8))  # queued in March
    return Fixture(event, campaign, people)


def stage_people(html: str) -> dict[str, int]:
    """The funnel table's people per stage."""
    found = re.findall(r'<tr data-stage="(\w+)">.*?data-people>([^<]+)<', html, re.S)
    return {stage: int(re.sub(r"\D", "", value)) for stage, value in found}


def read_csv(content: bytes) -> list[dict[str, str]]:
    assert content.startswith(b"\xef\xbb\xbf"), "a CSV export starts with the UTF-8 BOM"
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))


def number(text: str) -> float | None:
    return None if text == "" else float(text)


@pytest.fixture
async def signed_in_as(client, make_caller, sign_in):
    async def _as(role: Role, **fields):
        caller = await make_caller(role, ui_language="en", **fields)
        await sign_in(caller.user)
        return caller.user

    return _as


async def _token(client, path: str = "/reports") -> str:
    return csrf_from((await client.get(path)).text)


# --- who may open the reports ----------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ADMIN, Role.COORDINATOR, Role.MARKETING])
async def test_report_roles_open_every_report_page(client, signed_in_as, make_partner, role):
    await report_fixture(make_partner)
    await signed_in_as(role)
    for path in PAGES:
        response = await client.get(path, params=MARCH)
        assert response.status_code == 200, (path, response.text[-2000:])
    home = await client.get("/reports", params=MARCH)
    assert 'href="/reports" aria-current="page"' in home.text  # the menu entry
    named = (await client.get("/reports/attribution", params=MARCH)).text
    assert ('id="people-table"' in named) is (role is not Role.MARKETING)


@pytest.mark.parametrize("path", PAGES)
async def test_agents_are_refused_the_reports(client, signed_in_as, path):
    await signed_in_as(Role.AGENT)
    response = await client.get(path)
    assert response.status_code == 403
    assert 'href="/reports"' not in response.text


async def test_partner_users_are_refused_the_reports(client, make_partner_user, sign_in):
    await sign_in(await make_partner_user())
    for path in PAGES:
        assert (await client.get(path)).status_code == 403


async def test_signed_out_visitors_are_sent_to_the_login_page(client):
    response = await client.get("/reports")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/reports"


# --- figures and filters ---------------------------------------------------------------------


async def test_the_dashboard_shows_the_fixture_funnel(client, signed_in_as, make_partner):
    await report_fixture(make_partner)
    await signed_in_as(Role.COORDINATOR)
    html = (await client.get("/reports", params=MARCH)).text
    assert stage_people(html) == {
        "reached": 5,
        "lead": 3,
        "contacted": 3,
        "info_session": 3,
        "application": 2,
        "coached": 2,
        "financed": 1,
    }
    assert 'data-exit="lost">1<' in html and 'data-exit="redirected">0<' in html
    assert "Moved away" in html
    # conversion from info session to application, 2 of 3; financed of reached, 1 of 5
    assert "66,7%" in html and "20,0%" in html  # en_BE: decimal comma
    for chart in ("funnel-data", "trends-data", "compare-data", "campaigns-data"):
        assert f'<script type="application/json" id="{chart}">' in html
    assert "/static/vendor/chartjs/chart.umd.min.js?v=" in html
    assert "/static/reports.js?v=" in html
    assert "<script>" not in html  # no inline script: the charts read the JSON blocks


async def test_a_region_filter_changes_the_figures(client, signed_in_as, make_partner):
    await report_fixture(make_partner)
    await signed_in_as(Role.MARKETING)
    brussels = stage_people(
        (await client.get("/reports", params={**MARCH, "region": "brussels"})).text
    )
    wallonia = stage_people(
        (await client.get("/reports", params={**MARCH, "region": "wallonia"})).text
    )
    assert brussels["reached"] == 3 and brussels["financed"] == 1 and brussels["application"] == 1
    assert wallonia["reached"] == 2 and wallonia["coached"] == 1 and wallonia["financed"] == 0


async def test_partner_event_and_campaign_filters_change_the_figures(
    client, signed_in_as, make_partner
):
    fixture = await report_fixture(make_partner)
    await signed_in_as(Role.COORDINATOR)
    cpas = fixture.people["Dina"].referring_partner_id
    by_partner = (await client.get("/reports", params={**MARCH, "partner_id": cpas})).text
    assert stage_people(by_partner)["reached"] == 2
    by_event = (await client.get("/reports", params={**MARCH, "event_id": fixture.event.id})).text
    assert stage_people(by_event)["reached"] == 3
    by_campaign = (
        await client.get("/reports", params={**MARCH, "campaign_id": fixture.campaign.id})
    ).text
    assert stage_people(by_campaign) == {
        "reached": 2,
        "lead": 2,
        "contacted": 2,
        "info_session": 2,
        "application": 2,
        "coached": 2,
        "financed": 1,
    }


async def test_compare_by_and_campaign_results_are_shown(client, signed_in_as, make_partner):
    fixture = await report_fixture(make_partner)
    await signed_in_as(Role.COORDINATOR)
    html = (await client.get("/reports", params={**MARCH, "by": "partner"})).text
    table = html[html.index('id="compare-table"') :]
    assert "CPAS de Charleroi" in table and "Compared by: Partner" in html
    campaigns = html[html.index('id="campaigns-table"') :]
    assert f'data-campaign="{fixture.campaign.id}"' in campaigns
    assert "Printemps des entrepreneurs" in campaigns


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"partner_id": "999999"}, "partner_id"),
        ({"start": "2025-05-01", "end": "2025-03-01"}, "end"),
        ({"region": "mars"}, "region"),
        ({"start": "yesterday"}, "start"),
        ({"postcode": "Brussels"}, "postcode"),
        ({"event_id": "-3"}, "event_id"),
        ({"campaign_id": "424242"}, "campaign_id"),
        ({"segment": "nobody-knows-this"}, "segment"),
        ({"by": "horoscope"}, "by"),
        ({"basis": "vibes"}, "basis"),
    ],
)
async def test_a_bad_filter_shows_its_error_beside_the_field(
    client, signed_in_as, make_partner, params, field
):
    await report_fixture(make_partner)
    await signed_in_as(Role.COORDINATOR)
    response = await client.get("/reports", params={**MARCH, **params})
    assert response.status_code == 422
    html = response.text
    assert f'id="err-{field}"' in html
    assert f'aria-describedby="err-{field}"' in html
    assert 'id="funnel-table"' not in html and "funnel-data" not in html
    assert 'role="alert"' in html


@pytest.mark.parametrize("path", PAGES)
async def test_bad_filters_never_break_the_other_pages(client, signed_in_as, path):
    await signed_in_as(Role.ADMIN)
    response = await client.get(path, params={"partner_id": "999999", "end": "2020-01-01"})
    assert response.status_code == 422
    assert 'class="field-error"' in response.text


@pytest.mark.parametrize("path", PAGES)
async def test_an_empty_period_shows_that_no_one_was_there(
    client, signed_in_as, make_partner, path
):
    await report_fixture(make_partner)
    await signed_in_as(Role.ADMIN)
    response = await client.get(path, params={"start": "2010-01-01", "end": "2010-12-31"})
    assert response.status_code == 200
    assert "No one in this period" in response.text


async def test_the_empty_dashboard_draws_no_chart_of_nothing(client, signed_in_as):
    await signed_in_as(Role.COORDINATOR)  # no one at all in the database
    html = (await client.get("/reports")).text
    assert 'id="report-empty"' in html and "funnel-data" not in html
    assert "No campaign sent messages in this period" in html


# --- targets ----------------------------------------------------------------------------------


def _target(**fields: str) -> dict[str, str]:
    return {
        "indicator": "financed",
        "programme": "FSE+ 2025 — Bruxelles",
        "period_start": "2025-03-01",
        "period_end": "2025-03-31",
        "target": "4",
        "notes": "Convention 2025",
        **fields,
    }


async def test_a_coordinator_adds_changes_and_deletes_a_target(client, signed_in_as, make_partner):
    await report_fixture(make_partner)
    await signed_in_as(Role.COORDINATOR)
    token = await _token(client, "/reports/indicators")
    added = await client.post(
        "/reports/indicators/targets", data={"csrf_token": token, **_target()}
    )
    assert added.status_code == 303
    target = await IndicatorTarget.get()
    assert (target.indicator.value, target.target) == ("financed", 4)

    page = await client.get(added.headers["location"])
    row = re.search(r'<tr data-indicator="financed">.*?</tr>', page.text, re.S).group(0)
    assert ">4<" in row and ">1<" in row and "-3" in row and "25,0%" in row  # 1 of 4
    assert f'data-target="{target.id}"' in page.text

    changed = await client.post(
        "/reports/indicators/targets",
        data={"csrf_token": token, **_target(target="2", target_id=str(target.id))},
    )
    assert changed.status_code == 303
    assert (await IndicatorTarget.get(id=target.id)).target == 2
    assert await IndicatorTarget.all().count() == 1

    deleted = await client.post(
        f"/reports/indicators/targets/{target.id}/delete",
        data={"csrf_token": token, **MARCH, "programme": target.programme},
    )
    assert deleted.status_code == 303
    assert not await IndicatorTarget.exists()
    actions = await AuditEntry.filter(entity="indicator_target").values_list("action", flat=True)
    assert sorted(actions) == ["target.create", "target.delete", "target.update"]


async def test_the_edit_link_fills_the_target_form(client, signed_in_as):
    user = await signed_in_as(Role.ADMIN)
    target = await IndicatorTarget.create(
        indicator="share_women",
        programme="ESF",
        period_start=date(2025, 1, 1),
        period_end=date(2025, 12, 31),
        target=55,
        created_by=user,
    )
    html = (await client.get("/reports/indicators", params={"edit": target.id})).text
    form = html[html.index('id="target-form"') :]
    assert f'name="target_id" value="{target.id}"' in form
    assert 'value="share_women" selected' in form and 'value="55"' in form


async def test_a_target_form_without_its_csrf_token_is_refused(client, signed_in_as):
    await signed_in_as(Role.COORDINATOR)
    response = await client.post("/reports/indicators/targets", data=_target())
    assert response.status_code == 403
    assert not await IndicatorTarget.exists()
    target = await IndicatorTarget.create(
        indicator="coached", period_start=date(2025, 1, 1), period_end=date(2025, 2, 1), target=3
    )
    refused = await client.post(f"/reports/indicators/targets/{target.id}/delete", data={})
    assert refused.status_code == 403
    assert await IndicatorTarget.exists(id=target.id)


async def test_a_bad_target_shows_its_error_beside_the_field(client, signed_in_as):
    await signed_in_as(Role.COORDINATOR)
    token = await _token(client, "/reports/indicators")
    for fields, field in (
        ({"indicator": "share_women", "target": "150"}, "target"),
        ({"period_start": "2025-04-01"}, "period_end"),
        ({"period_start": "1st of March"}, "period_start"),
        ({"indicator": "happiness"}, "indicator"),
    ):
        response = await client.post(
            "/reports/indicators/targets", data={"csrf_token": token, **_target(**fields)}
        )
        assert response.status_code == 422, fields
        assert f'id="err-target-{field}"' in response.text
    assert not await IndicatorTarget.exists()


async def test_marketing_reads_the_indicators_but_sets_no_target(client, signed_in_as):
    await signed_in_as(Role.MARKETING)
    page = await client.get("/reports/indicators")
    assert page.status_code == 200 and 'id="target-form"' not in page.text
    token = csrf_from(page.text)
    response = await client.post(
        "/reports/indicators/targets", data={"csrf_token": token, **_target()}
    )
    assert response.status_code == 403
    assert not await IndicatorTarget.exists()


# --- exports -----------------------------------------------------------------------------------


async def _export(client, name: str, fmt: str = "csv", **fields: str):
    token = await _token(client)
    return await client.post(
        f"/reports/export/{name}.{fmt}", data={"csrf_token": token, **MARCH, **fields}
    )


async def test_the_funnel_export_has_the_page_figures(client, signed_in_as, make_partner):
    await report_fixture(make_partner)
    await signed_in_as(Role.MARKETING)
    response = await _export(client, "funnel")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert (
        "passerelle-report-funnel-2025-03-01_2025-03-31.csv"
        in (response.headers["content-disposition"])
    )
    rows = read_csv(response.content)
    report = await funnel(MARCH_FILTERS)
    stages = [r for r in rows if r["section"] == "stage"]
    assert [(r["item"], int(r["people"])) for r in stages] == [
        (s.stage, s.people) for s in report.stages
    ]
    assert [number(r["conversion"]) for r in stages] == [s.conversion for s in report.stages]
    exits = {r["item"]: int(r["people"]) for r in rows if r["section"] == "exit"}
    assert exits == {"redirected": 0, "lost": 1}
    assert [r["item"] for r in rows if r["section"] == "lost_reason"] == ["Moved away"]
    page = stage_people((await client.get("/reports", params=MARCH)).text)
    assert {r["item"]: int(r["people"]) for r in stages} == page


async def test_every_report_exports_the_service_figures(client, signed_in_as, make_partner):
    fixture = await report_fixture(make_partner)
    await signed_in_as(Role.COORDINATOR)

    rows = read_csv((await _export(client, "compare", by="region")).content)
    report = await compare(MARCH_FILTERS, Dimension.REGION)
    assert {r["key"]: int(r["reached"]) for r in rows} == {
        r.key: r.stages["reached"] for r in report.rows
    }
    assert {r["key"]: int(r["financed"]) for r in rows} == {"brussels": 1, "wallonia": 0}

    rows = read_csv((await _export(client, "trends")).content)
    weekly = await trends(MARCH_FILTERS)
    assert [r["week"] for r in rows] == [w.week.isoformat() for w in weekly.weeks]
    assert sum(int(r["reached"]) for r in rows) == 5

    rows = read_csv((await _export(client, "attribution")).content)
    report = await attribution(MARCH_FILTERS, with_people=False)
    expected = [("brought", s.key, s.stages["financed"]) for s in report.brought]
    expected += [("reached", s.key, s.stages["financed"]) for s in report.sources]
    assert [(r["view"], r["origin"], int(r["financed"])) for r in rows] == expected
    assert rows[0]["view"] == "brought" and rows[0]["origin"] == f"event:{fixture.event.id}"
    assert rows[0]["label"].startswith("Marché du Midi")

    rows = read_csv((await _export(client, "indicators")).content)
    values = {r.indicator.value: r.achieved for r in (await indicators(MARCH_FILTERS)).rows}
    assert {r["indicator"]: float(r["achieved"]) for r in rows} == values
    assert values["people_reached"] == 5 and values["jobs_created"] == 2

    rows = read_csv((await _export(client, "breakdowns", population="coached")).content)
    tables = (await breakdowns(MARCH_FILTERS, "coached")).tables
    assert [(r["table"], r["value"], int(r["total"])) for r in rows] == [
        (t.name, r.value, r.total) for t in tables for r in t.rows
    ]
    gender = {r["value"]: int(r["female"]) for r in rows if r["table"] == "gender"}
    assert gender["female"] == 2

    rows = read_csv((await _export(client, "campaigns")).content)
    results = (await campaign_results(MARCH_FILTERS)).campaigns
    assert [(int(r["campaign_id"]), int(r["sent"]), int(r["delivered"])) for r in rows] == [
        (c.campaign_id, c.sent, c.delivered) for c in results
    ]
    assert rows[0]["name"] == "Printemps des entrepreneurs" and rows[0]["delivered"] == "2"


async def test_the_xlsx_export_has_the_same_figures(client, signed_in_as, make_partner):
    await report_fixture(make_partner)
    await signed_in_as(Role.ADMIN)
    response = await _export(client, "funnel", "xlsx")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    header, *rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert header[:4] == ["section", "item", "people", "conversion"]
    report = await funnel(MARCH_FILTERS)
    stages = [r for r in rows if r[0] == "stage"]
    assert [(r[1], r[2], r[3]) for r in stages] == [
        (s.stage, s.people, s.conversion) for s in report.stages
    ]
    compare_sheet = load_workbook(
        io.BytesIO((await _export(client, "compare", "xlsx", region="brussels")).content)
    ).active
    values = list(compare_sheet.iter_rows(values_only=True))
    assert values[1][1] == "brussels" and values[1][3] == 3  # by, key, label, reached


async def test_exports_are_audited_and_need_the_csrf_token(client, signed_in_as, make_partner):
    await report_fixture(make_partner)
    user = await signed_in_as(Role.COORDINATOR)
    refused = await client.post("/reports/export/funnel.csv", data=MARCH)
    assert refused.status_code == 403
    assert (await client.get("/reports/export/funnel.csv")).status_code == 405
    await _export(client, "funnel", region="brussels")
    entry = await AuditEntry.get(action="export.report.funnel")
    assert entry.actor_user_id == user.id
    assert entry.changes["format"] == "csv" and entry.changes["filters"] == {"region": "brussels"}
    assert entry.changes["rows"] == 10  # seven stages, two exits, one reason


async def test_the_named_list_export_needs_the_export_permission(
    client, signed_in_as, make_partner
):
    await report_fixture(make_partner)
    user = await signed_in_as(Role.COORDINATOR)
    page = (await client.get("/reports/attribution", params=MARCH)).text
    assert 'data-export="attribution_people.csv"' not in page
    assert (await _export(client, "attribution_people")).status_code == 403
    await User.filter(id=user.id).update(can_export=True)
    page = (await client.get("/reports/attribution", params=MARCH)).text
    assert 'data-export="attribution_people.csv"' in page
    response = await _export(client, "attribution_people")
    assert response.status_code == 200
    rows = read_csv(response.content)
    assert sorted(r["name"] for r in rows) == ["Amina Test", "Dina Test"]
    amina = next(r for r in rows if r["name"] == "Amina Test")
    assert amina["stage"] == "financed" and amina["campaigns"] == "Printemps des entrepreneurs"
    assert amina["jobs_created"] == "2" and amina["financed_at"].startswith("2025-03-28")


async def test_marketing_never_exports_named_people(client, signed_in_as, make_partner):
    await report_fixture(make_partner)
    user = await signed_in_as(Role.MARKETING)
    await User.filter(id=user.id).update(can_export=True)
    assert (await _export(client, "attribution_people")).status_code == 403
    assert (await _export(client, "nothing")).status_code == 404
    assert (await _export(client, "funnel", "pdf")).status_code == 422


# --- attribution and the funder report -------------------------------------------------------


async def test_attribution_names_the_people_and_where_they_came_from(
    client, signed_in_as, make_partner
):
    fixture = await report_fixture(make_partner)
    await signed_in_as(Role.COORDINATOR)
    html = (await client.get("/reports/attribution", params=MARCH)).text
    sources = html[html.index('id="sources-table"') :]
    assert f'data-key="event:{fixture.event.id}"' in sources and "CPAS de Charleroi" in sources
    brought = html[html.index('id="brought-table"') : html.index('id="sources-table"')]
    assert f'data-key="event:{fixture.event.id}"' in brought
    people = html[html.index('id="people-table"') :]
    assert f'href="/leads/{fixture.people["Amina"].id}"' in people
    assert "Printemps des entrepreneurs" in people
    assert "Bart" not in people  # reached an info session only


async def test_the_printable_funder_report_has_the_indicator_table(
    client, signed_in_as, make_partner
):
    await report_fixture(make_partner)
    user = await signed_in_as(Role.COORDINATOR)
    await IndicatorTarget.create(
        indicator="people_reached",
        programme="FSE+",
        period_start=date(2025, 3, 1),
        period_end=date(2025, 3, 31),
        target=4,
        created_by=user,
    )
    response = await client.get("/reports/funder", params={**MARCH, "programme": "FSE+"})
    assert response.status_code == 200
    html = response.text
    assert 'id="indicators-table"' in html and 'id="funnel-table"' in html
    assert 'id="breakdown-gender"' in html and 'id="funder-sources"' in html
    row = re.search(r'<tr data-indicator="people_reached">.*?</tr>', html, re.S).group(0)
    assert ">4<" in row and ">5<" in row and "+1" in row
    assert "Figures computed from the records on" in html
    assert "data-print" in html and "<script>" not in html
    assert "Passerelle" in html and "FSE+" in html


async def test_the_funder_report_refuses_a_bad_population(client, signed_in_as):
    await signed_in_as(Role.ADMIN)
    response = await client.get("/reports/funder", params={"population": "everyone"})
    assert response.status_code == 422
    assert 'id="err-population"' in response.text


async def test_the_region_labels_are_translated(client, make_caller, sign_in, make_partner):
    await report_fixture(make_partner)
    caller = await make_caller(Role.COORDINATOR, ui_language="fr")
    await sign_in(caller.user)
    html = (await client.get("/reports", params=MARCH)).text
    table = html[html.index('id="compare-table"') :]
    assert "Bruxelles-Capitale" in table and "Wallonie" in table
    shown = re.sub(r'data-key="[^"]*"', "", table.split("</table>")[0])
    assert Region.BRUSSELS.value not in shown and Region.WALLONIA.value not in shown


async def test_a_first_visit_opens_on_the_targets_of_the_current_period(client, signed_in_as):
    user = await signed_in_as(Role.COORDINATOR)
    plain = await client.get("/reports/indicators", follow_redirects=False)
    assert plain.status_code == 200  # no target yet: this year so far
    year = today().year  # the business time zone's
    await IndicatorTarget.create(
        indicator="financed",
        programme="FSE+",
        period_start=date(year, 1, 1),
        period_end=date(year, 12, 31),
        target=12,
        created_by=user,
    )
    response = await client.get("/reports/indicators", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == (
        f"/reports/indicators?start={year}-01-01&end={year}-12-31&programme=FSE%2B"
    )
    page = await client.get(response.headers["location"])
    row = re.search(r'<tr data-indicator="financed">.*?</tr>', page.text, re.S).group(0)
    assert ">12<" in row
