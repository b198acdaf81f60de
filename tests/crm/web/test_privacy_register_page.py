"""The register page (GDPR Art. 30) and its downloads, for admins and coordinators."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from openpyxl import load_workbook

from crm.audit.models import AuditEntry
from crm.enums import Role
from crm.privacy.register import COLUMNS
from crm.referrals.models import PartnerKind

from .conftest import csrf_from

PAGE = "/privacy/register"


async def _signed_in(make_caller, sign_in, role: Role = Role.COORDINATOR) -> Any:
    # In English: the page's texts are the register's own (translations aside).
    user = (await make_caller(role, ui_language="en")).user
    await sign_in(user)
    return user


async def _download(client, fmt: str):
    page = await client.get(PAGE)
    return await client.post(f"{PAGE}.{fmt}", data={"csrf_token": csrf_from(page.text)})


def _cell(value: Any) -> Any:
    # How the spreadsheet holds a JSON value: lists and the settings in one text cell.
    if isinstance(value, list):
        return "; ".join(str(v) for v in value) or None
    if isinstance(value, dict):
        return "; ".join(f"{k}={v}" for k, v in value.items()) or None
    return value


def _without_time(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Two downloads are two generations: only the time they were made may differ.
    return [{k: v for k, v in row.items() if k != "generated_at"} for row in rows]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.COORDINATOR])
async def test_the_register_page_shows_purposes_bases_and_partners(
    client, make_caller, make_partner, sign_in, role
):
    await make_partner("Forem Charleroi", kind=PartnerKind.EMPLOYMENT_SERVICE)
    await _signed_in(make_caller, sign_in, role)
    page = await client.get(PAGE)
    assert page.status_code == 200
    assert 'id="legal-bases"' in page.text
    assert "GDPR Art. 6(1)(a)" in page.text and "GDPR Art. 9(2)(a)" in page.text
    assert "Forem Charleroi" in page.text
    assert 'action="/privacy/register.json"' in page.text
    assert 'action="/privacy/register.xlsx"' in page.text


async def test_the_page_itself_is_not_a_download_and_writes_no_audit_entry(
    client, make_caller, sign_in
):
    await _signed_in(make_caller, sign_in)
    assert (await client.get(PAGE)).status_code == 200
    assert await AuditEntry.filter(action="privacy.register_export").count() == 0


@pytest.mark.parametrize("role", [Role.MARKETING, Role.AGENT])
async def test_other_staff_get_a_403_page(client, make_caller, sign_in, role):
    await _signed_in(make_caller, sign_in, role)
    assert (await client.get(PAGE)).status_code == 403
    page = await client.get("/leads")
    response = await client.post(f"{PAGE}.json", data={"csrf_token": csrf_from(page.text)})
    assert response.status_code == 403
    assert await AuditEntry.filter(action="privacy.register_export").count() == 0


async def test_a_partner_user_gets_a_403_page(client, make_partner_user, sign_in):
    await sign_in(await make_partner_user())
    assert (await client.get(PAGE)).status_code == 403


async def test_signed_out_visitors_are_sent_to_the_login(client):
    response = await client.get(PAGE)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


async def test_the_json_download_holds_what_the_page_shows(
    client, make_caller, make_partner, sign_in
):
    await make_partner("CPAS de Schaerbeek")
    await _signed_in(make_caller, sign_in)
    page = (await client.get(PAGE)).text
    response = await _download(client, "json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert "attachment" in response.headers["content-disposition"]
    register = json.loads(response.content)
    assert [p["name"] for p in register["partners"]] == ["CPAS de Schaerbeek"]
    for purpose in register["purposes"]:
        assert f'id="purpose-{purpose["code"]}"' in page
    for row in register["retention"]:
        assert f'id="retention-{row["code"]}"' in page
    for measure in register["security_measures"]:
        assert f'id="measure-{measure["code"]}"' in page


async def test_the_xlsx_download_parses_back_to_the_json_content(
    client, make_caller, make_partner, sign_in
):
    await make_partner("Actiris", kind=PartnerKind.EMPLOYMENT_SERVICE)
    await make_partner("ADG Eupen", kind=PartnerKind.SUPPORT_STRUCTURE, active=False)
    await _signed_in(make_caller, sign_in)
    register = json.loads((await _download(client, "json")).content)
    response = await _download(client, "xlsx")
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    workbook = load_workbook(io.BytesIO(response.content), read_only=True)
    assert workbook.sheetnames == list(COLUMNS)
    for section, columns in COLUMNS.items():
        header, *rows = list(workbook[section].iter_rows(values_only=True))
        assert header == columns, section
        read = [dict(zip(columns, row, strict=True)) for row in rows]
        expected = [{k: _cell(v) for k, v in row.items()} for row in register[section]]
        assert _without_time(read) == _without_time(expected), section


async def test_each_download_is_audited_with_who_and_the_format(client, make_caller, sign_in):
    user = await _signed_in(make_caller, sign_in, Role.ADMIN)
    await _download(client, "json")
    await _download(client, "xlsx")
    entries = await AuditEntry.filter(action="privacy.register_export").order_by("id")
    assert [e.changes for e in entries] == [
        {"format": "json", "via": "page"},
        {"format": "xlsx", "via": "page"},
    ]
    assert {e.actor_user_id for e in entries} == {user.id}


async def test_a_download_needs_the_csrf_token(client, make_caller, sign_in):
    await _signed_in(make_caller, sign_in)
    response = await client.post(f"{PAGE}.json", data={})
    assert response.status_code == 403
    assert await AuditEntry.filter(action="privacy.register_export").count() == 0


async def test_an_unknown_format_is_a_404(client, make_caller, sign_in):
    await _signed_in(make_caller, sign_in)
    assert (await _download(client, "pdf")).status_code == 404
    assert await AuditEntry.filter(action="privacy.register_export").count() == 0
