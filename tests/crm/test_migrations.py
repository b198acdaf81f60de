"""The migration history: it matches the models, applies on both databases, and never loses rows
on SQLite's table rebuilds."""

from __future__ import annotations

import sqlite3

import pytest
from tortoise.context import TortoiseContext
from tortoise.migrations.autodetector import MigrationAutodetector
from tortoise.migrations.executor import MigrationExecutor

from crm import db
from tests.conftest import DATABASE_URL, IS_POSTGRES

DATALOSS = {"models": ["tests.crm.dataloss.models"], "migrations": "tests.crm.dataloss.migrations"}


async def test_models_and_migrations_agree():
    """Fails when a model changed without `tortoise makemigrations`."""
    config = db.tortoise_config("sqlite://:memory:")
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        writers = await MigrationAutodetector(ctx.apps, config["apps"]).changes()
        pending = [op.describe() for w in writers for op in w.operations]
    assert pending == [], f"models changed without a migration: {pending}"


async def test_history_is_fully_applied_on_the_test_database():
    assert await db.pending_migrations(DATABASE_URL) == []


def _populate(path: str) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA foreign_keys=ON")
    for h in range(1, 4):
        con.execute("INSERT INTO household (id, name) VALUES (?, ?)", (h, f"household {h}"))
        for m in range(5):
            con.execute(
                "INSERT INTO member (household_id, first_name) VALUES (?, ?)",
                (h, f"member {h}.{m}"),
            )
    con.commit()
    con.close()


def _counts(path: str) -> tuple[int, int]:
    con = sqlite3.connect(path)
    try:
        return (
            con.execute("SELECT count(*) FROM household").fetchone()[0],
            con.execute("SELECT count(*) FROM member").fetchone()[0],
        )
    finally:
        con.close()


@pytest.mark.skipif(IS_POSTGRES, reason="the table-rebuild trap is SQLite's")
async def test_altering_a_referenced_table_on_sqlite_keeps_every_child_row(tmp_path):
    path = str(tmp_path / "populated.db")
    await db.run_migrations(f"sqlite://{path}", target="0001_initial", **DATALOSS)
    _populate(path)
    assert _counts(path) == (3, 15)

    await db.run_migrations(f"sqlite://{path}", **DATALOSS)  # 0002 rebuilds `household`

    assert _counts(path) == (3, 15)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    widths = {row[1]: row[2] for row in con.execute("PRAGMA table_info(household)")}
    assert widths["name"] == "VARCHAR(120)"


@pytest.mark.skipif(IS_POSTGRES, reason="the table-rebuild trap is SQLite's")
async def test_without_the_guard_the_same_migration_deletes_child_rows(tmp_path):
    """The control: Tortoise's plain executor with foreign keys on loses the members, which is
    what the guard in crm.db.run_migrations exists for. If this ever stops failing upstream,
    the guard may be retired."""
    path = str(tmp_path / "unguarded.db")
    await db.run_migrations(f"sqlite://{path}", target="0001_initial", **DATALOSS)
    _populate(path)
    config = db.tortoise_config(f"sqlite://{path}?foreign_keys=ON", **DATALOSS)
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        await MigrationExecutor(ctx.connections.get("default"), config["apps"]).migrate(None)
    households, members = _counts(path)
    assert households == 3
    assert members < 15


@pytest.mark.skipif(IS_POSTGRES, reason="file-based SQLite scenario")
async def test_real_history_migrates_a_populated_sqlite_database_without_loss(tmp_path):
    """Apply our own history step by step on a database holding people and their records."""
    path = str(tmp_path / "history.db")
    url = f"sqlite://{path}"
    steps = await _migration_names()
    await db.run_migrations(url, target=steps[0])
    con = sqlite3.connect(path)
    con.execute("PRAGMA foreign_keys=ON")
    now = "2026-11-01 10:00:00+00:00"
    con.execute(
        "INSERT INTO partner_organisation (id, name, kind, referral_code, active, created_at)"
        " VALUES (1, 'CPAS', 'cpas', 'abc', 1, ?)",
        (now,),
    )
    for i in range(1, 21):
        con.execute(
            "INSERT INTO lead (id, first_name, stage, source, created_at, updated_at, phone)"
            " VALUES (?, ?, 'reached', 'event', ?, ?, ?)",
            (i, f"P{i}", now, now, f"+3247000{i:04d}"),
        )
        con.execute("INSERT INTO lead_segment (lead_id, code) VALUES (?, 'women')", (i,))
        con.execute(
            "INSERT INTO interaction (lead_id, kind, channel, occurred_at, created_at)"
            " VALUES (?, 'contact', 'in_person', ?, ?)",
            (i, now, now),
        )
        con.execute(
            "INSERT INTO consent_record (lead_id, purpose, granted, source, method,"
            " recorded_at) VALUES (?, 'sms', 1, 'event', 'verbal', ?)",
            (i, now),
        )
    con.commit()
    tables = ["lead", "lead_segment", "interaction", "consent_record", "partner_organisation"]
    before = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    con.close()
    for name in steps[1:]:
        await db.run_migrations(url, target=name)
    await db.run_migrations(url)
    con = sqlite3.connect(path)
    after = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    assert after == before


async def _migration_names() -> list[str]:
    config = db.tortoise_config("sqlite://:memory:")
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        executor = MigrationExecutor(ctx.connections.get("default"), config["apps"])
        await executor.loader.build_graph()
        return [
            key.name
            for key in executor.loader.graph.forwards_plan(
                executor.loader.graph.leaf_nodes(db.APP_LABEL)[0]
            )
        ]


async def test_every_index_the_models_declare_exists_on_the_test_database(app):
    """SQLite's table rebuild (0004 alters `outbox_message.status`) drops the table's indexes;
    run_migrations creates them again. On PostgreSQL an ALTER keeps them."""
    from tortoise import connections

    connection = connections.get("default")
    declared = db.declared_indexes(connection)
    assert "idx_outbox_mess_status_db7132" in declared  # (status, channel, due_at): the claims
    missing = set(declared) - await db.existing_indexes(connection)
    assert missing == set()


@pytest.mark.skipif(IS_POSTGRES, reason="file-based SQLite scenario")
async def test_a_sqlite_database_that_lost_indexes_gets_them_back_at_the_next_migrate(tmp_path):
    path = str(tmp_path / "indexes.db")
    await db.run_migrations(f"sqlite://{path}")
    con = sqlite3.connect(path)
    con.execute('DROP INDEX "idx_outbox_mess_status_db7132"')
    con.execute('DROP INDEX "idx_outbox_mess_lead_id_673e8a"')
    con.commit()
    con.close()
    await db.run_migrations(f"sqlite://{path}")  # nothing pending: only the repair runs
    con = sqlite3.connect(path)
    names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    plan = con.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM outbox_message WHERE status = 'queued' "
        "AND channel = 'sms' AND due_at <= '2026-11-23'"
    ).fetchall()
    con.close()
    assert {"idx_outbox_mess_status_db7132", "idx_outbox_mess_lead_id_673e8a"} <= names
    assert "idx_outbox_mess_status_db7132" in " ".join(str(r) for r in plan)


@pytest.mark.skipif(IS_POSTGRES, reason="file-based SQLite scenario")
async def test_sqlite_datetimes_written_with_a_local_offset_are_rewritten_in_utc(tmp_path):
    path = str(tmp_path / "offsets.db")
    await db.run_migrations(f"sqlite://{path}")
    con = sqlite3.connect(path)
    con.execute(
        "INSERT INTO outreach_event (id, kind, title, starts_at, ends_at, created_at) VALUES "
        "(1, 'other', 'a', '2026-11-29 08:00:00+01:00', '2026-11-29 13:30:00.250000+01:00', "
        "'2026-11-01 10:00:00+00:00'), (2, 'other', 'b', 'not a time', NULL, "
        "'2026-07-01 10:00:00+02:00')"
    )
    con.commit()
    con.close()
    await db.run_migrations(f"sqlite://{path}")  # nothing pending: only the repairs run
    con = sqlite3.connect(path)
    rows = con.execute(
        "SELECT starts_at, ends_at, created_at FROM outreach_event ORDER BY id"
    ).fetchall()
    con.close()
    assert rows == [
        (
            "2026-11-29 07:00:00+00:00",
            "2026-11-29 12:30:00.250000+00:00",
            "2026-11-01 10:00:00+00:00",
        ),
        ("not a time", None, "2026-07-01 08:00:00+00:00"),  # unreadable: left, never nulled
    ]


async def test_a_time_typed_in_brussels_time_is_filtered_and_ordered_by_the_instant(app):
    """08:00 in Brussels (07:00 UTC) is before 07:30 UTC, whatever offset each was given in."""
    from datetime import UTC, datetime, timedelta, timezone

    from crm.outreach.models import OutreachEvent

    brussels = timezone(timedelta(hours=1))
    early = await OutreachEvent.create(
        kind="other", title="early", starts_at=datetime(2026, 11, 29, 8, 0, tzinfo=brussels)
    )
    late = await OutreachEvent.create(
        kind="other", title="late", starts_at=datetime(2026, 11, 29, 7, 30, tzinfo=UTC)
    )
    ordered = await OutreachEvent.all().order_by("starts_at").values_list("id", flat=True)
    assert ordered == [early.id, late.id]
    bound = datetime(2026, 11, 29, 8, 15, tzinfo=brussels)  # 07:15 UTC
    after = await OutreachEvent.filter(starts_at__gte=bound).values_list("id", flat=True)
    assert after == [late.id]


@pytest.mark.skipif(IS_POSTGRES, reason="file-based SQLite scenario")
async def test_people_recorded_before_0007_get_their_milestones_from_their_stage_log(tmp_path):
    path = str(tmp_path / "milestones.db")
    url = f"sqlite://{path}"
    await db.run_migrations(url, target="0006_referrals_dedup_import")
    con = sqlite3.connect(path)
    log = {
        1: [("reached", "2026-01-05 10:00:00+00:00")],
        2: [
            ("reached", "2026-01-05 10:00:00+00:00"),
            ("lead", "2026-01-06 10:00:00+00:00"),
            ("application", "2026-01-09 10:00:00+00:00"),
            ("contacted", "2026-01-10 10:00:00+00:00"),
            ("lost", "2026-01-12 10:00:00+00:00"),
        ],
    }
    for lead_id, steps in log.items():
        con.execute(
            "INSERT INTO lead (id, first_name, stage, source, created_at, updated_at)"
            " VALUES (?, ?, ?, 'event', ?, ?)",
            (lead_id, f"P{lead_id}", steps[-1][0], steps[0][1], steps[0][1]),
        )
        for stage, at in steps:
            con.execute(
                "INSERT INTO lead_stage_change (lead_id, to_stage, at) VALUES (?, ?, ?)",
                (lead_id, stage, at),
            )
    con.commit()
    con.close()
    await db.run_migrations(url)
    con = sqlite3.connect(path)
    con.row_factory = sqlite3.Row
    rows = {r["id"]: dict(r) for r in con.execute("SELECT * FROM lead")}
    con.close()
    assert rows[1]["lead_at"] is None and rows[1]["lost_at"] is None
    jumped = "2026-01-09 10:00:00+00:00"
    assert rows[2]["lead_at"] == "2026-01-06 10:00:00+00:00"
    # The jump to application passed contacted and the info session at that moment; going
    # back to contacted later changes nothing.
    assert rows[2]["contacted_at"] == jumped
    assert rows[2]["info_session_at"] == jumped
    assert rows[2]["application_at"] == jumped
    assert rows[2]["coached_at"] is None
    assert rows[2]["lost_at"] == "2026-01-12 10:00:00+00:00"
