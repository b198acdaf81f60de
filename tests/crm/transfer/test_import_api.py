"""The import API: roles, upload, 413 and 422, the worker running the job, the row report."""

from __future__ import annotations

import json

import pytest

from crm.enums import Role
from crm.people.models import Lead
from crm.transfer import import_jobs
from crm.transfer.models import ImportJob
from tests.crm.transfer import files


def upload(content: bytes, name: str = "people.csv", **form):
    return {"files": {"file": (name, content, "text/csv")}, "data": form}


@pytest.mark.parametrize("role", [Role.MARKETING, Role.AGENT, Role.PARTNER])
async def test_only_admins_and_coordinators_may_import(client, make_caller, role):
    caller = await make_caller(role)
    response = await client.post(
        "/api/v1/imports", headers=caller.headers, **upload(files.comma_csv())
    )
    assert response.status_code == 403
    assert (await client.get("/api/v1/import-presets", headers=caller.headers)).status_code == 403
    assert not await ImportJob.exists()


async def test_upload_is_run_by_the_worker_and_reported(client, make_caller):
    coordinator = await make_caller(Role.COORDINATOR)
    response = await client.post(
        "/api/v1/imports", headers=coordinator.headers, **upload(files.belgian_csv())
    )
    assert response.status_code == 202, response.text
    job = response.json()["job"]
    assert (job["status"], job["total_rows"], job["processed_rows"]) == ("pending", 13, 0)
    assert await import_jobs.run_pending("api-test") == 1
    done = (await client.get(f"/api/v1/imports/{job['id']}", headers=coordinator.headers)).json()
    assert done["status"] == "done" and done["percent"] == 100
    assert (done["created"], done["updated"], done["refused"]) == (5, 0, 8)
    rows = (
        await client.get(
            f"/api/v1/imports/{job['id']}/rows?outcome=refused&limit=3&offset=1",
            headers=coordinator.headers,
        )
    ).json()
    assert rows["total"] == 8 and [r["row"] for r in rows["items"]] == [7, 8, 9]
    assert rows["items"][0]["field"] == "phone"
    assert await Lead.all().count() == 5


async def test_dry_run_through_the_api_writes_no_person(client, admin):
    response = await client.post(
        "/api/v1/imports", headers=admin.headers, **upload(files.comma_csv(), dry_run="true")
    )
    assert response.json()["job"]["dry_run"] is True
    await import_jobs.run_pending("api-test")
    assert not await Lead.exists()


async def test_too_big_a_file_answers_413(client, admin, monkeypatch):
    from crm.config import settings

    monkeypatch.setattr(settings, "IMPORT_MAX_BYTES", 2048)
    response = await client.post(
        "/api/v1/imports", headers=admin.headers, **upload(files.generated_csv(200))
    )
    assert response.status_code == 413
    assert response.json()["detail"][0]["field"] == "file"
    assert not await ImportJob.exists()


async def test_bad_mapping_answers_422_naming_the_field(client, admin):
    bad_target = await client.post(
        "/api/v1/imports",
        headers=admin.headers,
        **upload(files.comma_csv(), mapping=json.dumps({"Telefoon": "mobile"})),
    )
    assert bad_target.status_code == 422
    assert bad_target.json()["detail"][0]["field"] == "mapping"
    missing = await client.post(
        "/api/v1/imports",
        headers=admin.headers,
        **upload(b"Nom;GSM\r\nX;0470 12 34 56\r\n"),
    )
    assert missing.status_code == 422 and "first_name" in missing.json()["detail"][0]["msg"]
    bad_json = await client.post(
        "/api/v1/imports", headers=admin.headers, **upload(files.comma_csv(), options="{")
    )
    assert bad_json.status_code == 422 and bad_json.json()["detail"][0]["field"] == "options"
    assert not await ImportJob.exists()


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00\x01\x02\x03garbage", b"PK\x03\x04not really a zip", b";;;\r\n;;\r\n"],
)
async def test_a_broken_file_is_a_422_never_a_500(client, admin, content):
    response = await client.post(
        "/api/v1/imports", headers=admin.headers, **upload(content, name="broken.xlsx")
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["field"] == "file"


async def test_presets_through_the_api(client, admin):
    saved = await client.post(
        "/api/v1/import-presets",
        headers=admin.headers,
        json={"name": "Actiris", "mapping": {"Naam": "last_name"}, "options": {}},
    )
    assert saved.status_code == 201, saved.text
    listed = (await client.get("/api/v1/import-presets", headers=admin.headers)).json()
    assert [p["name"] for p in listed["items"]] == ["Actiris"]
    bad = await client.post(
        "/api/v1/import-presets",
        headers=admin.headers,
        json={"name": "X", "mapping": {"Naam": "nickname"}},
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "mapping.Naam"
    content = b"Voornaam;Naam;GSM\r\nJan;Peeters;0470 99 88 76\r\n"
    response = await client.post(
        "/api/v1/imports", headers=admin.headers, **upload(content, preset="Actiris")
    )
    assert response.json()["job"]["mapping"]["Naam"] == "last_name"
    unknown = await client.post(
        "/api/v1/imports", headers=admin.headers, **upload(content, preset="Nope")
    )
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["field"] == "preset"
