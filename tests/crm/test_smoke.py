async def test_healthz_reports_database_ok(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_belgian_phone_formats_give_one_person(client, admin):
    first = await client.post(
        "/api/v1/leads",
        headers=admin.headers,
        json={"first_name": "Amina", "phone": "0470 12 34 56"},
    )
    assert first.status_code == 201, first.text
    assert first.json()["phone"] == "+32470123456"
    again = await client.post(
        "/api/v1/leads",
        headers=admin.headers,
        json={
            "first_name": "Amina",
            "phone": "0032 470 12 34 56",
            "postcode": "1080",
            "language": "fr",
        },
    )
    assert again.status_code == 200, again.text
    body = again.json()
    assert body["duplicate"] is True
    assert body["id"] == first.json()["id"]
    assert body["postcode"] == "1080" and body["region"] == "brussels"
