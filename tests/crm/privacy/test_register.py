"""The Art. 30 register: generated from the purposes, the models, the database and the settings;
read (and downloaded, audited) by admins and coordinators only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from tortoise import Tortoise

from crm.audit.models import AuditEntry
from crm.auth.models import ApiToken
from crm.config import reload_settings, settings
from crm.enums import Role
from crm.people.models import ConsentPurpose
from crm.privacy import purposes
from crm.privacy.register import COLUMNS, UNCATEGORISED, build_register, lead_fields, lead_tables
from crm.referrals.models import PartnerKind

URL = "/api/v1/privacy/register"


@pytest.fixture
def configure() -> Iterator[Callable[..., None]]:
    """Change settings for one test; the old ones come back after it."""
    saved = settings.model_dump()

    def _configure(**changes: object) -> None:
        reload_settings(**{**saved, **changes})

    yield _configure
    reload_settings(**saved)


def _by_code(rows: list[dict]) -> dict[str, dict]:
    return {row["code"]: row for row in rows}


async def test_every_purpose_has_a_legal_basis_with_its_article_and_reason(app):
    register = await build_register()
    assert [p["code"] for p in register["purposes"]] == [p.code for p in purposes.PURPOSES]
    for purpose in register["purposes"]:
        assert purpose["legal_basis_article"].startswith("GDPR Art. 6(1)("), purpose["code"]
        assert purpose["legal_basis_name"] and purpose["basis_reason"], purpose["code"]


def test_every_consent_purpose_of_the_ledger_is_linked_to_a_consent_based_purpose():
    for consent_purpose in ConsentPurpose:
        purpose = purposes.purpose_of(consent_purpose)
        assert purpose is not None, f"no purpose rests on the consent {consent_purpose.value!r}"
        assert purpose.basis is purposes.LegalBasis.CONSENT, purpose.code


async def test_the_register_names_the_consent_each_purpose_rests_on(app):
    register = await build_register()
    linked = {c for p in register["purposes"] for c in p["consent_purposes"]}
    assert linked == {c.value for c in ConsentPurpose}
    assert _by_code(register["purposes"])["referrals"]["consent_purposes"] == [
        "share_with_partners"
    ]


async def test_the_background_is_a_special_category_under_explicit_consent(app):
    register = await build_register()
    special = [c for c in register["data_categories"] if c["special"]]
    assert [c["lead_fields"] for c in special] == [["background"]]
    using = [p for p in register["purposes"] if special[0]["code"] in p["data_categories"]]
    assert using and all(p["special_category_article"] == "GDPR Art. 9(2)(a)" for p in using)
    assert all(p["special_category_reason"] for p in using)


async def test_every_field_of_a_person_is_in_a_category(app):
    register = await build_register()
    categories = _by_code(register["data_categories"])
    assert UNCATEGORISED not in categories, categories.get(UNCATEGORISED)
    listed = [f for c in register["data_categories"] for f in c["lead_fields"]]
    assert sorted(listed) == sorted(lead_fields())
    assert "phone" in categories["identity_contact"]["lead_fields"]


def test_no_category_names_a_field_the_person_record_does_not_have():
    declared = {f for names in purposes.LEAD_FIELDS.values() for f in names}
    assert declared <= set(lead_fields()), declared - set(lead_fields())


async def test_every_table_about_a_person_is_in_a_category(app):
    register = await build_register()
    assert UNCATEGORISED not in _by_code(register["data_categories"])
    listed = {t for c in register["data_categories"] for t in c["tables"]}
    assert set(lead_tables()) <= listed
    assert "consent_record" in _by_code(register["data_categories"])["consent"]["tables"]


async def test_the_tables_named_in_the_register_exist(app):
    tables = {m._meta.db_table for m in Tortoise.apps["crm"].values()}
    assert set(purposes.OTHER_TABLES) <= tables
    assert set(purposes.LEAD_TABLES) <= tables


async def test_purposes_refer_only_to_codes_the_register_describes(app):
    register = await build_register()
    known = {
        "data_subjects": set(_by_code(register["data_subjects"])),
        "data_categories": set(_by_code(register["data_categories"])),
        "recipients": set(_by_code(register["recipients"])),
        "retention": set(_by_code(register["retention"])),
    }
    for purpose in register["purposes"]:
        for section, codes in known.items():
            assert purpose[section], (purpose["code"], section)
            assert set(purpose[section]) <= codes, (purpose["code"], section)


async def test_every_row_has_exactly_its_sections_columns(app, make_partner):
    await make_partner("CPAS d'Anderlecht")
    register = await build_register()
    for section, columns in COLUMNS.items():
        for row in register[section]:
            assert tuple(row) == columns, section


async def test_every_role_is_described_among_the_recipients(app):
    register = await build_register()
    assert [r["role"] for r in register["staff_roles"]] == [r.value for r in Role]
    assert all(r["sees"] for r in register["staff_roles"])


async def test_partners_come_from_the_database_with_only_name_kind_and_connections(
    app, make_partner, make_caller
):
    connected = await make_partner(
        "Forem Charleroi",
        kind=PartnerKind.EMPLOYMENT_SERVICE,
        webhook_url="https://forem.example.org/hook",
        webhook_secret="s" * 32,
        contact_email="contact@forem.example.org",
    )
    await make_caller(Role.PARTNER, organisation=connected)
    await make_partner("CPAS de Saint-Gilles", active=False)
    register = await build_register()
    assert register["partners"] == [
        {
            "name": "CPAS de Saint-Gilles",
            "kind": "cpas",
            "active": False,
            "api_key": False,
            "webhook": False,
        },
        {
            "name": "Forem Charleroi",
            "kind": "employment_service",
            "active": True,
            "api_key": True,
            "webhook": True,
        },
    ]


async def test_a_revoked_or_expired_key_and_a_disabled_webhook_do_not_count(
    app, make_partner, make_caller
):
    org = await make_partner(
        "Actiris", webhook_url="https://a.example.org/hook", webhook_disabled_at=datetime.now(UTC)
    )
    await make_caller(Role.PARTNER, organisation=org)
    await make_caller(Role.PARTNER, organisation=org)
    first, second = await ApiToken.filter(organisation_id=org.id).order_by("id")
    first.revoked_at = datetime.now(UTC)
    await first.save()
    second.expires_at = datetime.now(UTC) - timedelta(days=1)
    await second.save()
    (row,) = (await build_register())["partners"]
    assert row["api_key"] is False and row["webhook"] is False


async def test_no_processor_without_provider_credentials(app):
    assert (await build_register())["processors"] == []


async def test_configured_providers_are_processors_outside_the_eu_with_a_safeguard(app, configure):
    configure(TWILIO_ACCOUNT_SID="AC" + "0" * 32, TELEGRAM_BOT_TOKEN="123:abc")
    processors = _by_code((await build_register())["processors"])
    assert set(processors) == {"twilio", "telegram"}
    assert all(p["outside_eu"] and p["safeguard"] for p in processors.values())
    assert "46(2)(c)" in processors["twilio"]["safeguard"]


async def test_only_twilio_when_only_twilio_is_configured(app, configure):
    configure(TWILIO_ACCOUNT_SID="AC" + "0" * 32)
    assert [p["code"] for p in (await build_register())["processors"]] == ["twilio"]


async def test_retention_periods_are_the_settings(app, configure):
    configure(
        RETENTION_INACTIVE_MONTHS=36,
        RETENTION_WARNING_DAYS=45,
        RETENTION_IMPORT_ROWS_DAYS=31,
        RETENTION_WEBHOOK_PAYLOAD_DAYS=32,
        RETENTION_SYNC_RECEIPT_DAYS=33,
        SESSION_MAX_AGE_SECONDS=7200,
        API_TOKEN_TTL_HOURS=6,
    )
    retention = _by_code((await build_register())["retention"])
    assert retention["people"]["settings"] == {
        "RETENTION_INACTIVE_MONTHS": 36,
        "RETENTION_WARNING_DAYS": 45,
    }
    assert "36" in retention["people"]["rule"] and "45" in retention["people"]["rule"]
    assert retention["import_rows"]["settings"] == {"RETENTION_IMPORT_ROWS_DAYS": 31}
    assert retention["webhook_payloads"]["settings"] == {"RETENTION_WEBHOOK_PAYLOAD_DAYS": 32}
    assert retention["sync_receipts"]["settings"] == {"RETENTION_SYNC_RECEIPT_DAYS": 33}
    assert retention["sessions"]["settings"] == {"SESSION_MAX_AGE_SECONDS": 7200}
    assert "2 hours" in retention["sessions"]["rule"]
    assert retention["api_tokens"]["settings"] == {"API_TOKEN_TTL_HOURS": 6}


async def test_controller_is_the_organisation_and_its_privacy_contact(app, configure):
    configure(ORGANISATION_NAME="Microstart Bruxelles", DPO_CONTACT="dpo@example.org")
    register = await build_register()
    assert register["controller"][0]["name"] == "Microstart Bruxelles"
    assert register["controller"][0]["dpo_contact"] == "dpo@example.org"
    assert "dpo_contact" not in _by_code(register["to_complete"])


async def test_a_missing_privacy_contact_is_to_complete(app, configure):
    configure(DPO_CONTACT=None)
    assert "dpo_contact" in _by_code((await build_register())["to_complete"])


async def test_https_is_a_measure_only_with_an_https_public_address(app, configure):
    configure(PUBLIC_BASE_URL="http://127.0.0.1:8000")
    register = await build_register()
    assert "https" not in _by_code(register["security_measures"])
    assert "https" in _by_code(register["to_complete"])
    configure(PUBLIC_BASE_URL="https://crm.example.org")
    register = await build_register()
    assert "crm.example.org" in _by_code(register["security_measures"])["https"]["detail"]
    assert "Secure: yes" in _by_code(register["security_measures"])["session_cookie"]["detail"]
    assert (
        "Strict-Transport-Security" in _by_code(register["security_measures"])["headers"]["detail"]
    )
    assert "https" not in _by_code(register["to_complete"])


async def test_security_measures_follow_the_code(app):
    measures = _by_code((await build_register())["security_measures"])
    assert "argon2id" in measures["passwords"]["detail"]
    assert "Content-Security-Policy" in measures["headers"]["detail"]
    assert {"roles", "csrf", "audit", "webhooks", "partner_isolation"} <= set(measures)


async def test_the_login_lockout_is_listed_with_its_settings_once_they_exist(app):
    login_settings = [name for name in type(settings).model_fields if "LOGIN_" in name]
    measures = _by_code((await build_register())["security_measures"])
    assert ("login_lockout" in measures) == bool(login_settings)
    for name in login_settings:
        assert f"{name}={getattr(settings, name)}" in measures["login_lockout"]["detail"]


async def test_admins_and_coordinators_download_the_register_as_json(client, make_caller):
    for role in (Role.ADMIN, Role.COORDINATOR):
        caller = await make_caller(role)
        response = await client.get(URL, headers=caller.headers)
        assert response.status_code == 200, response.text
        assert "attachment" in response.headers["content-disposition"]
        body = response.json()
        assert body["format"] == "passerelle.art30-register/1"
        assert set(COLUMNS) <= set(body)


async def test_each_json_download_is_audited_with_who(client, make_caller):
    coordinator = await make_caller(Role.COORDINATOR)
    await client.get(URL, headers=coordinator.headers)
    (entry,) = await AuditEntry.filter(action="privacy.register_export")
    assert entry.actor_user_id == coordinator.user.id
    assert entry.changes == {"format": "json", "via": "api"}


@pytest.mark.parametrize("role", [Role.MARKETING, Role.AGENT, Role.PARTNER])
async def test_other_roles_may_not_read_the_register(client, make_caller, role):
    caller = await make_caller(role)
    response = await client.get(URL, headers=caller.headers)
    assert response.status_code == 403
    assert await AuditEntry.filter(action="privacy.register_export").count() == 0


async def test_the_register_needs_a_token(client):
    assert (await client.get(URL)).status_code == 401
