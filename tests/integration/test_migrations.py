"""The schema: migrations, hypertables as declared, and what each role may do."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from conftest import PROJECT_DIR, TestDatabase, migrate_database, recreate_database

from stockula_pipelines.lib.db.migrate import MigrationError, discover, migrate
from stockula_pipelines.settings import Role

pytestmark = pytest.mark.integration

EXPECTED_HYPERTABLES = {
    ("market", "price_history"): timedelta(days=28),
    ("market", "options_calls"): timedelta(days=7),
    ("market", "options_puts"): timedelta(days=7),
    ("market", "dividends"): timedelta(days=3650),
    ("market", "splits"): timedelta(days=3650),
    ("analytics", "strategy_performance"): timedelta(days=365),
}


def test_migrations_apply_on_empty_database_and_rerun_as_noop(stack_settings):
    name = "stockula_migration_test"
    recreate_database(stack_settings, name)
    first = migrate_database(stack_settings, name)
    assert first.edition in ("apache", "tsl")
    expected = [m.path.name for m in discover(PROJECT_DIR / "sql", first.edition)]
    assert first.applied == expected and first.already_applied == []
    second = migrate_database(stack_settings, name)
    assert second.applied == [] and second.already_applied == expected
    with psycopg.connect(stack_settings.dsn(Role.admin, direct=True, dbname=name)) as conn:
        recorded = conn.execute("SELECT filename, checksum FROM ops.schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in recorded] == expected
    assert all(len(r[1]) == 64 for r in recorded)


def test_changed_migration_is_refused(stack_settings, tmp_path: Path):
    name = "stockula_migration_test"
    recreate_database(stack_settings, name)
    sql_dir = tmp_path / "sql"
    shutil.copytree(PROJECT_DIR / "sql", sql_dir)
    dsn = stack_settings.dsn(Role.admin, direct=True, dbname=name)
    migrate(dsn, sql_dir)
    target = sql_dir / "0002_stocks.sql"
    target.write_text(target.read_text() + "\n-- edited after the fact\n")
    with pytest.raises(MigrationError, match="0002.*changed after it was applied"):
        migrate(dsn, sql_dir)


def test_failed_migration_leaves_nothing_and_next_run_resumes(stack_settings, tmp_path: Path):
    name = "stockula_migration_test"
    recreate_database(stack_settings, name)
    sql_dir = tmp_path / "sql"
    shutil.copytree(PROJECT_DIR / "sql", sql_dir)
    broken = sql_dir / "0099_broken.sql"
    broken.write_text("CREATE TABLE ops.half_done (x int);\nSELECT no_such_function();\n")
    dsn = stack_settings.dsn(Role.admin, direct=True, dbname=name)
    with pytest.raises(MigrationError, match="0099_broken.sql failed"):
        migrate(dsn, sql_dir)
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT to_regclass('ops.half_done')").fetchone()[0] is None
        assert conn.execute("SELECT count(*) FROM ops.schema_migrations WHERE version = '0099'").fetchone()[0] == 0
    broken.write_text("CREATE TABLE ops.half_done (x int);\n")
    assert migrate(dsn, sql_dir).applied == ["0099_broken.sql"]


def test_hypertables_and_chunk_intervals_are_as_declared(test_db: TestDatabase):
    with test_db.connect(Role.admin, direct=True) as conn:
        rows = conn.execute(
            """
            SELECT hypertable_schema, hypertable_name, column_name, time_interval
            FROM timescaledb_information.dimensions
            """
        ).fetchall()
    found = {(r[0], r[1]): (r[2], r[3]) for r in rows}
    assert set(found) == set(EXPECTED_HYPERTABLES)
    for key, interval in EXPECTED_HYPERTABLES.items():
        assert found[key] == ("time", interval), key


def test_price_history_keys_include_time(test_db: TestDatabase):
    with test_db.connect(Role.admin, direct=True) as conn:
        cols = conn.execute(
            """
            SELECT a.attname FROM pg_index i
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
            WHERE i.indrelid = 'market.price_history'::regclass AND i.indisprimary
            """
        ).fetchall()
    assert {c[0] for c in cols} == {"symbol", "interval", "time"}


def test_analyst_reads_curated_schemas_but_cannot_write(test_db: TestDatabase):
    with test_db.connect(Role.analyst) as conn:  # through PgBouncer
        assert conn.execute("SELECT 1").fetchone() == (1,)
        for table in ("price_history", "aggregates.price_history_daily", "analytics.sector_performance",
                      "quality.data_quality_results", "quality.quarantine_summary"):
            conn.execute(f"SELECT count(*) FROM {table}")  # resolves through the analyst's search_path
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO price_history (time, symbol, interval, date, open_price, high_price, low_price,"
                " close_price, volume, source) VALUES (now(), 'X', '1d', current_date, 1, 1, 1, 1, 1, 't')"
            )


@pytest.mark.parametrize("table", ["quality.quarantine", "ops.ingest_log", "ops.schema_migrations"])
def test_analyst_cannot_read_quarantine_or_bookkeeping(test_db: TestDatabase, table: str):
    with test_db.connect(Role.analyst) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(f"SELECT * FROM {table}")


def test_analyst_cannot_use_staging(test_db: TestDatabase):
    with test_db.connect(Role.analyst) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("CREATE TABLE staging.scratch (x int)")


def test_writer_writes_but_cannot_drop_tables(test_db: TestDatabase):
    with test_db.connect(Role.writer) as conn:
        conn.execute("INSERT INTO market.stocks (symbol, name) VALUES ('ZZTEST', 'Test') ON CONFLICT DO NOTHING")
        conn.execute("DELETE FROM market.stocks WHERE symbol = 'ZZTEST'")
        conn.commit()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DROP TABLE market.price_history")


def test_wrong_password_is_refused(stack_settings):
    dsn = stack_settings.dsn(Role.writer, direct=True).replace(
        stack_settings.password_for(Role.writer).replace("%", "%25"), "not-the-password"
    )
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(dsn, connect_timeout=5)
