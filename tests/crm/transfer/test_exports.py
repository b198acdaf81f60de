"""Exports through the API: the files (escaping, BOM, delimiters, XLSX types), the filters,
who may export what, and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime

from crm.audit.models import AuditEntry
from crm.enums import Role
from crm.outreach.models import Interaction, OutreachEvent
from crm.people.models import Stage
from crm.transfer import exports
from tests.crm.transfer.export_fixtures import (
    EXPORT,
    consent,
    exporter,
    person,
    read_csv,
    read_xlsx,
    utc,
)

FORMULA = "=cmd|' /C calc'!A0"


async def test_formula_leading_cells_are_escaped_in_csv(client, admin):
    await person(FORMULA, last_name="+32 (not a phone)", email="@home", phone="+32470123456")
    await person("-Marie", last_name="\tTab")

    response = await client.get(f"{EXPORT}/leads.csv", headers=admin.headers)

    assert response.status_code == 200, response.text
    first, second = read_csv(response.content)
    assert first["first_name"] == "'" + FORMULA
    assert first["last_name"] == "'+32 (not a phone)"
    assert first["email"] == "'@home"
    assert second["first_name"] == "'-Marie"
    assert second["last_name"] == "'\tTab"


async def test_phone_in_csv_keeps_its_plus_behind_the_apostrophe(client, admin):
    await person(phone="+32470123456")

    rows = read_csv((await client.get(f"{EXPORT}/leads.csv", headers=admin.headers)).content)

    # Excel reads '+32470123456 as the text +32470123456 (without: the number 32470123456).
    assert rows[0]["phone"] == "'+32470123456"


async def test_csv_has_bom_semicolons_and_accents_round_trip(client, admin):
    await person("Françoise", last_name="Dœuf-Müller", postcode="1060", language="fr")

    response = await client.get(f"{EXPORT}/leads.csv", headers=admin.headers)

    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbfid;first_name;last_name;phone;")
    (row,) = read_csv(response.content)
    assert (row["first_name"], row["last_name"]) == ("Françoise", "Dœuf-Müller")


async def test_csv_with_comma_delimiter(client, admin):
    await person("Jan", segments=["women", "youth"])

    response = await client.get(
        f"{EXPORT}/leads.csv", params={"delimiter": ","}, headers=admin.headers
    )

    assert response.content.startswith(b"\xef\xbb\xbfid,first_name,")
    (row,) = read_csv(response.content, delimiter=",")
    assert row["segments"] == "women|youth"


async def test_xlsx_opens_with_phones_as_text_and_formulas_inert(client, admin):
    await person(FORMULA, phone="+32470123456", birth_year=1988, last_name="#N/A")

    response = await client.get(f"{EXPORT}/leads.xlsx", headers=admin.headers)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == exports.XLSX_MEDIA_TYPE
    header, rows = read_xlsx(response.content)
    cells = dict(zip(header, rows[0], strict=True))
    assert cells["phone"].value == "+32470123456"
    assert cells["phone"].data_type == "s" and cells["phone"].quotePrefix
    assert cells["first_name"].value == "'" + FORMULA
    assert cells["first_name"].data_type == "s"
    assert cells["birth_year"].value == 1988
    assert (cells["last_name"].value, cells["last_name"].data_type) == ("#N/A", "s")
    assert isinstance(cells["created_at"].value, datetime)
    assert not [c for row in rows for c in row if c.data_type == "f"]


async def test_control_characters_do_not_break_the_xlsx(client, admin):
    await person("Ana\x0bïs", last_name="\x01Dupont")

    response = await client.get(f"{EXPORT}/leads.xlsx", headers=admin.headers)

    assert response.status_code == 200
    header, rows = read_xlsx(response.content)
    assert rows[0][header.index("first_name")].value == "Anaïs"
    assert rows[0][header.index("last_name")].value == "Dupont"


async def test_dates_are_in_the_organisation_time_zone(client, admin):
    lead = await person()
    await consent(lead, "sms", True, utc(2026, 7, 1, 22, 30))  # 00:30 in Brussels (summer)

    (row,) = read_csv((await client.get(f"{EXPORT}/leads.csv", headers=admin.headers)).content)

    assert row["consent_sms"] == "granted"
    assert row["consent_sms_at"] == "2026-07-02 00:30"


async def test_current_consent_per_purpose_is_the_latest_entry(client, admin):
    lead = await person()
    await consent(lead, "sms", True, utc(2026, 1, 5, 9, 0))
    await consent(lead, "sms", False, utc(2026, 3, 5, 9, 0))
    await consent(lead, "share_with_partners", True, utc(2026, 2, 1, 9, 0))

    (row,) = read_csv((await client.get(f"{EXPORT}/leads.csv", headers=admin.headers)).content)

    assert row["consent_sms"] == "withdrawn"
    assert row["consent_share_with_partners"] == "granted"
    assert row["consent_telegram"] == "" and row["consent_telegram_at"] == ""


async def test_download_is_named_for_the_dataset_and_the_day(client, admin):
    response = await client.get(f"{EXPORT}/leads.csv", headers=admin.headers)

    today = datetime.now(UTC).astimezone(exports.settings.tz).date().isoformat()
    assert response.headers["content-disposition"] == (
        f'attachment; filename="passerelle-leads-{today}.csv"'
    )


async def test_filters_apply_like_the_people_list(client, admin):
    await person("Keep", stage=Stage.CONTACTED, language="nl", segments=["women"])
    await person("Wrong stage", stage=Stage.LEAD, language="nl", segments=["women"])
    await person("Wrong language", stage=Stage.CONTACTED, language="fr", segments=["women"])
    await person("No segment", stage=Stage.CONTACTED, language="nl")

    response = await client.get(
        f"{EXPORT}/leads.csv",
        params={"stage": "contacted", "language": "nl", "segment": "women"},
        headers=admin.headers,
    )

    assert [r["first_name"] for r in read_csv(response.content)] == ["Keep"]


async def test_created_since_and_until_are_whole_days(client, admin):
    for name, day in (("Before", 9), ("First", 10), ("Last", 12), ("After", 13)):
        lead = await person(name)
        await lead.__class__.filter(id=lead.id).update(created_at=utc(2026, 3, day, 12, 0))

    response = await client.get(
        f"{EXPORT}/leads.csv",
        params={"created_since": "2026-03-10", "created_until": "2026-03-12"},
        headers=admin.headers,
    )

    assert [r["first_name"] for r in read_csv(response.content)] == ["First", "Last"]


async def test_agent_exports_only_the_people_they_see(client, make_caller):
    agent = await exporter(make_caller, Role.AGENT)
    await person("Mine", reached_by_id=agent.user.id)
    await person("Assigned", assigned_agent_id=agent.user.id)
    await person("Someone else's")

    response = await client.get(f"{EXPORT}/leads.csv", headers=agent.headers)

    assert sorted(r["first_name"] for r in read_csv(response.content)) == ["Assigned", "Mine"]


async def test_notes_are_exported_only_to_roles_that_see_notes(client, make_caller):
    await person(notes="lives with her sister", project_summary="bakery")
    coordinator = await exporter(make_caller, Role.COORDINATOR)
    marketing = await exporter(make_caller, Role.MARKETING)

    with_notes = read_csv(
        (await client.get(f"{EXPORT}/leads.csv", headers=coordinator.headers)).content
    )
    without = read_csv((await client.get(f"{EXPORT}/leads.csv", headers=marketing.headers)).content)

    assert with_notes[0]["notes"] == "lives with her sister"
    assert "notes" not in without[0] and "project_summary" not in without[0]


async def test_export_without_the_permission_is_403_naming_can_export(client, make_caller):
    coordinator = await make_caller(Role.COORDINATOR)

    response = await client.get(f"{EXPORT}/leads.csv", headers=coordinator.headers)

    assert response.status_code == 403
    assert response.json()["detail"][0]["field"] == "can_export"
    assert not await AuditEntry.filter(action__startswith="export.").exists()


async def test_partner_never_exports(client, make_caller):
    partner = await make_caller(Role.PARTNER)

    response = await client.get(f"{EXPORT}/referrals.csv", headers=partner.headers)

    assert response.status_code == 403


async def test_role_without_the_dataset_is_403_naming_dataset(client, make_caller):
    marketing = await exporter(make_caller, Role.MARKETING)

    response = await client.get(f"{EXPORT}/interactions.csv", headers=marketing.headers)

    assert response.status_code == 403
    assert response.json()["detail"][0]["field"] == "dataset"


async def test_every_export_writes_an_audit_entry(client, make_caller):
    coordinator = await exporter(make_caller, Role.COORDINATOR)
    await person("One", language="fr")
    await person("Two", language="fr")

    await client.get(f"{EXPORT}/leads.xlsx", params={"language": "fr"}, headers=coordinator.headers)

    entry = await AuditEntry.get(action="export.leads")
    assert entry.actor_user_id == coordinator.user.id
    assert entry.changes == {"format": "xlsx", "filters": {"language": ["fr"]}, "rows": 2}


async def test_bad_filter_is_422_naming_it(client, admin):
    for params, field in (
        ({"stage": "sleeping"}, "stage"),
        ({"created_since": "23/11/2026"}, "created_since"),
        ({"partner_id": "abc"}, "partner_id"),
        ({"status": "accepted"}, "status"),  # no status on people
    ):
        response = await client.get(f"{EXPORT}/leads.csv", params=params, headers=admin.headers)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["detail"][0]["field"] == field, response.text


async def test_unknown_dataset_is_404_naming_it(client, admin):
    response = await client.get(f"{EXPORT}/donors.csv", headers=admin.headers)

    assert response.status_code == 404
    assert response.json()["detail"][0]["field"] == "dataset"


async def test_interactions_export_with_author_event_and_period(client, admin, make_caller):
    agent = await make_caller(Role.AGENT, first_name="Fatima", last_name="B")
    event = await OutreachEvent.create(
        kind="market_stand", title="Marché du Midi", starts_at=utc(2026, 3, 1, 8, 0)
    )
    lead = await person("Youssef", last_name="El Amrani")
    for day in (1, 20):
        await Interaction.create(
            lead=lead,
            kind="contact",
            channel="in_person",
            occurred_at=utc(2026, 3, day, 10, 0),
            notes='=HYPERLINK("http://x")',
            author_id=agent.user.id,
            event=event,
        )

    response = await client.get(
        f"{EXPORT}/interactions.csv",
        params={"created_since": "2026-03-10"},
        headers=admin.headers,
    )

    (row,) = read_csv(response.content)
    assert row["first_name"] == "Youssef" and row["author"] == "Fatima B"
    assert row["event"] == "Marché du Midi"
    assert row["occurred_at"] == "2026-03-20 11:00"
    assert row["notes"].startswith("'=HYPERLINK")


async def test_export_of_many_people_goes_batch_by_batch(client, admin, monkeypatch):
    monkeypatch.setattr(exports, "BATCH_SIZE", 7)
    for n in range(30):
        await person(f"P{n:02d}")

    rows = read_csv((await client.get(f"{EXPORT}/leads.csv", headers=admin.headers)).content)
    _, xlsx_rows = read_xlsx(
        (await client.get(f"{EXPORT}/leads.xlsx", headers=admin.headers)).content
    )

    assert [r["first_name"] for r in rows] == [f"P{n:02d}" for n in range(30)]
    assert len(xlsx_rows) == 30
