"""The import pages with the test client: upload → mapping → dry run → import → report."""

from __future__ import annotations

import csv
import io
import re

import pytest

from crm.auth import service as auth
from crm.enums import Role
from crm.people.models import Lead
from crm.transfer import import_jobs
from crm.transfer.models import ImportJob, ImportPreset
from tests.crm.transfer import files
from tests.crm.web.conftest import PASSWORD, csrf_from, login


@pytest.fixture
def sign_in(client):
    async def _sign_in(user):
        response = await login(client, user.email)
        assert response.status_code == 303, response.text
        return response

    return _sign_in


async def _user(role: Role, email: str):
    return await auth.create_user(email, role, password=PASSWORD, first_name="Nadia")


async def test_upload_map_dry_run_import_and_report(client, sign_in):
    await sign_in(await _user(Role.COORDINATOR, "coord@example.org"))
    home = await client.get("/imports")
    assert home.status_code == 200
    token = csrf_from(home.text)
    uploaded = await client.post(
        "/imports",
        data={"csrf_token": token},
        files={"file": ("people.csv", files.belgian_csv(), "text/csv")},
    )
    assert uploaded.status_code == 303, uploaded.text
    mapping_url = uploaded.headers["location"]
    page = await client.get(mapping_url)
    assert page.status_code == 200
    # The guessed field is selected for each column, with the first values shown.
    assert re.search(r'name="col2">.*?<option value="phone" selected', page.text, re.S)
    assert "0470 12 34 56" in page.text
    # Nothing runs before the mapping is confirmed.
    assert await import_jobs.run_pending("web-test") == 0
    form = {"csrf_token": csrf_from(page.text), "save_preset": "Marché du Midi"}
    form |= {f"col{i}": f for i, f in enumerate(
        ["first_name", "last_name", "phone", "email", "postcode", "language", "segments",
         "notes"])}  # fmt: skip
    confirmed = await client.post(mapping_url, data=form)
    assert confirmed.status_code == 303
    job_url = confirmed.headers["location"]
    waiting = await client.get(job_url)
    assert waiting.headers.get("refresh") == "2" and "<progress" in waiting.text
    await import_jobs.run_pending("web-test")
    report = await client.get(job_url)
    assert "refresh" not in report.headers
    assert 'id="count-created">5<' in report.text and 'id="count-refused">8<' in report.text
    assert "same person as row 2" in report.text
    assert not await Lead.exists()
    assert await ImportPreset.filter(name="Marché du Midi").exists()
    run = await client.post(f"{job_url}/run", data={"csrf_token": csrf_from(report.text)})
    assert run.status_code == 303
    await import_jobs.run_pending("web-test")
    final = await client.get(run.headers["location"])
    assert 'id="count-created">5<' in final.text
    assert await Lead.all().count() == 5
    download = await client.get(run.headers["location"] + "/refused.csv")
    assert download.status_code == 200 and download.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["row", "field", "reason"]
    assert len(rows) == 9
    # The refused formula comes back escaped: a spreadsheet shows it as text.
    evil = next(r for r in rows if r[0] == "8")
    assert "'=cmd|' /C calc'!A0" in evil


async def test_bad_mapping_on_the_page_shows_the_problem(client, sign_in):
    await sign_in(await _user(Role.ADMIN, "admin@example.org"))
    home = await client.get("/imports")
    uploaded = await client.post(
        "/imports",
        data={"csrf_token": csrf_from(home.text)},
        files={"file": ("people.csv", files.comma_csv(), "text/csv")},
    )
    page = await client.get(uploaded.headers["location"])
    form = {"csrf_token": csrf_from(page.text), "col0": "ignore", "col1": "last_name",
            "col2": "phone"}  # fmt: skip
    answer = await client.post(uploaded.headers["location"], data=form)
    assert answer.status_code == 422 and "first_name" in answer.text
    job = await ImportJob.first()
    assert job.leased_by == "awaiting-mapping"


async def test_upload_without_csrf_is_refused(client, sign_in):
    await sign_in(await _user(Role.ADMIN, "admin@example.org"))
    response = await client.post(
        "/imports", files={"file": ("people.csv", files.comma_csv(), "text/csv")}
    )
    assert response.status_code == 403
    assert not await ImportJob.exists()


async def test_unreadable_upload_is_shown_not_crashed(client, sign_in):
    await sign_in(await _user(Role.ADMIN, "admin@example.org"))
    home = await client.get("/imports")
    response = await client.post(
        "/imports",
        data={"csrf_token": csrf_from(home.text)},
        files={"file": ("x.xlsx", b"PK\x03\x04broken", "application/octet-stream")},
    )
    assert response.status_code == 422 and "cannot be read" in response.text


async def test_import_pages_are_for_managers_only(client, sign_in):
    await sign_in(await _user(Role.MARKETING, "marketing@example.org"))
    assert (await client.get("/imports")).status_code == 403
    people = await client.get("/leads")
    assert 'href="/imports"' not in people.text
