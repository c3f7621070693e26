"""Maintenance against the real database: each task says what it changed, hypertables are never
reindexed CONCURRENTLY, Apache retention drops old option chunks with drop_chunks, the guard waits for
loads, the health report and its thresholds, and the CLI's exit codes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import psycopg
import pytest
from ops_support import load_day

from stockula_pipelines.lib import schemas
from stockula_pipelines.lib.ingest import load_window
from stockula_pipelines.lib.maintenance import health, tasks
from stockula_pipelines.lib.maintenance.guard import MaintenanceBusy
from stockula_pipelines.settings import Role

pytestmark = pytest.mark.integration
QUIET = {"log": lambda _m: None}


def _run(db, task: str, settings=None, **kwargs):
    settings = settings or db.settings
    return tasks.run_tasks(db.dsn(Role.admin, direct=True), db.dsn(Role.writer, direct=True), settings, task,
                           **QUIET, **kwargs)


def _dead_tuples(db) -> int:
    with db.connect(Role.admin, direct=True) as conn:
        return conn.execute(
            "SELECT coalesce(sum(s.n_dead_tup), 0) FROM timescaledb_information.chunks AS c "
            "JOIN pg_stat_user_tables AS s ON s.schemaname = c.chunk_schema AND s.relname = c.chunk_name "
            "WHERE c.hypertable_name = 'price_history'").fetchone()[0]


def test_vacuum_reports_the_tables_it_cleaned(clean_db):
    with clean_db.connect(Role.admin, direct=True) as conn:
        # Autovacuum must not clean the chunk before the task does (it propagates to the chunks).
        conn.execute("ALTER TABLE market.price_history SET (autovacuum_enabled = false)")
    try:
        # Direct connections: a backend reports its counters when it exits, shortly after the client
        # closes (a PgBouncer-pooled backend stays idle and reports up to 10 s later).
        load_day(clean_db, 18, direct=True)
        # A reload with other values rewrites the window (an unchanged one would write nothing):
        # dead tuples in its chunk.
        assert load_day(clean_db, 18, direct=True, seed=1018) > 0
        deadline = time.monotonic() + 30
        while _dead_tuples(clean_db) == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        (report,) = _run(clean_db, "vacuum")
    finally:
        with clean_db.connect(Role.admin, direct=True) as conn:
            conn.execute("ALTER TABLE market.price_history RESET (autovacuum_enabled)")
    assert any(c.startswith("vacuumed market.price_history") for c in report.changed), report.changed
    (again,) = _run(clean_db, "vacuum")
    assert not any("market.price_history" in c for c in again.changed)
    with clean_db.connect(Role.writer) as conn:
        logged = conn.execute("SELECT task, changed FROM ops.maintenance_log ORDER BY maintenance_id").fetchall()
    assert logged[-2][0] == "vacuum" and any("price_history" in c for c in logged[-2][1])


def test_statistics_analyzes_modified_tables(clean_db):
    _run(clean_db, "statistics")
    load_day(clean_db, 19, direct=True)
    deadline = time.monotonic() + 30
    report = None
    while time.monotonic() < deadline:  # until the loading backend has reported its counters
        (report,) = _run(clean_db, "statistics")
        if any(c.startswith("analyzed market.price_history") for c in report.changed):
            break
        time.sleep(0.5)
    assert report is not None and any(c.startswith("analyzed market.price_history") for c in report.changed)
    assert "top_statements" in report.report
    (again,) = _run(clean_db, "statistics")
    assert not any(c.startswith("analyzed market.price_history") for c in again.changed)


def test_reindex_never_uses_concurrently_on_a_hypertable(clean_db):
    with clean_db.connect(Role.admin, direct=True) as conn:
        hyper = tasks.reindex_statement("market", "price_history", is_hypertable=True).as_string(conn)
        plain = tasks.reindex_statement("market", "stocks", is_hypertable=False).as_string(conn)
    assert "CONCURRENTLY" not in hyper and hyper.startswith("REINDEX TABLE")
    assert "CONCURRENTLY" in plain
    load_day(clean_db, 20)
    with psycopg.connect(clean_db.dsn(Role.admin, direct=True), autocommit=True) as conn:
        report = tasks.reindex(conn, clean_db.settings, tables=["market.price_history", "market.stocks"])
    assert report.changed == ["reindexed market.price_history (hypertable, not concurrently)",
                              "reindexed market.stocks"]


def _old_option_chain(day: date) -> pl.DataFrame:
    snap = datetime(day.year, day.month, day.day, 21, 0, tzinfo=UTC)
    return schemas.conform(pl.DataFrame({
        "time": [snap], "snapshot_date": [day], "symbol": ["AAA"], "contract_symbol": [f"AAA{day:%y%m%d}C00100000"],
        "expiration_date": [day + timedelta(days=30)], "strike": [100.0], "last_price": [1.0], "bid": [0.9],
        "ask": [1.1], "volume": [1], "open_interest": [1], "source_implied_volatility": [0.2],
        "in_the_money": [False], "underlying_price": [99.0], "source": ["test"],
    }).with_columns(pl.col("time").cast(schemas.UTC_TS)), "options_calls")


def test_timescaledb_task_drops_option_chunks_past_retention_on_apache(clean_db):
    old, recent = date(2020, 1, 6), datetime.now(UTC).date() - timedelta(days=3)
    with clean_db.connect(Role.writer) as conn:
        for day in (old, recent):
            frame = _old_option_chain(day)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            load_window(conn, "options_calls", frame, window=(start, start + timedelta(days=1)), symbols=["AAA"],
                        source="test")
    settings = clean_db.settings.model_copy(update={"retention_options_days": 365})
    (report,) = _run(clean_db, "timescaledb", settings)
    assert report.report["edition"] == "apache"
    assert report.report["compression"] == "unavailable on the Apache edition"
    assert len(report.changed) == 1 and "market.options_calls" in report.changed[0] and "dropped" in report.changed[0]
    with clean_db.connect(Role.writer) as conn:
        days = [r[0] for r in conn.execute("SELECT snapshot_date FROM market.options_calls")]
    assert days == [recent]


def test_maintenance_waits_for_a_running_load(clean_db):
    holding, release = threading.Event(), threading.Event()

    def load_in_progress():
        # What the loader holds for the length of its transaction (lib/ingest/lock_symbols.sql).
        with clean_db.connect(Role.writer, direct=True) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('price_history:AAA', 0))")
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=load_in_progress)
    thread.start()
    try:
        assert holding.wait(10)
        with pytest.raises(MaintenanceBusy, match="a load kept running"):
            _run(clean_db, "vacuum", wait_seconds=1.0)
    finally:
        release.set()
        thread.join()
    assert _run(clean_db, "vacuum", wait_seconds=5.0)[0].task == "vacuum"


def test_one_maintenance_task_at_a_time(clean_db):
    with psycopg.connect(clean_db.dsn(Role.admin, direct=True), autocommit=True) as other:
        assert other.execute("SELECT pg_try_advisory_lock(hashtextextended('stockula-maintenance', 0))").fetchone()[0]
        with pytest.raises(MaintenanceBusy, match="another maintenance task"):
            _run(clean_db, "statistics", wait_seconds=1.0)


def test_health_report_and_thresholds(test_db):
    with psycopg.connect(test_db.dsn(Role.monitor, direct=True), autocommit=True) as conn:
        report = health.collect(conn, test_db.settings)
    assert 0 < report["connections_ratio"] < 1 and report["max_connections"] >= 20
    assert report["database_bytes"] > 0 and report["hypertables"]
    assert report["disk_free_ratio"] is not None and 0 < report["disk_free_ratio"] <= 1
    pools = report["pgbouncer_pools"]
    assert pools and {"database", "cl_active", "cl_waiting"} <= set(pools[0])
    quiet = health.evaluate(report, test_db.settings, backups=False)
    assert quiet == []
    queued = {**report, "pgbouncer_pools": [{"database": "stockula", "user": "w", "cl_waiting": 3, "maxwait": 2}]}
    assert [a.name for a in health.evaluate(queued, test_db.settings, backups=False)] == ["pool_clients_waiting"]
    strict = test_db.settings.model_copy(update={"health_disk_free_min": 1.01, "health_connections_warn": 0.0})
    names = {a.name for a in health.evaluate(report, strict, backups=False)}
    assert names == {"disk_low", "connections_high"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "stockula"), *args], capture_output=True, text=True,
                          timeout=300)


def test_cli_exit_codes(clean_db):
    ok = _cli("maintenance", "run", "vacuum", "--database", clean_db.name)
    assert ok.returncode == 0, ok.stderr
    assert "maintenance: vacuum done" in ok.stdout
    # No backup exists in this database: the health report raises a critical alert (exit 5).
    critical = _cli("maintenance", "run", "health", "--database", clean_db.name)
    assert critical.returncode == 5 and "CRITICAL: backup_stale" in critical.stdout
    bad = _cli("maintenance", "run", "defragment")
    assert bad.returncode == 2
