"""The operations sensors against the real database: each fires when its condition holds and stays
quiet otherwise. (Alert delivery needs no database: tests/unit/test_operations_alerts.py.)"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from stockula_pipelines.defs.operations.jobs import ops_alert_job
from stockula_pipelines.defs.operations.sensors import (
    backup_staleness_sensor,
    health_threshold_sensor,
)
from stockula_pipelines.lib.backup import catalog
from stockula_pipelines.lib.backup.catalog import Target
from stockula_pipelines.resources.backup import OperationsResource
from stockula_pipelines.settings import Role

pytestmark = pytest.mark.integration


def _record(db, *, backup_age: timedelta, drill_age: timedelta | None) -> None:
    target = Target(db.settings, db.name)
    finished = datetime.now(UTC) - backup_age
    catalog.record_backup(target, backup_id=f"test-{finished:%H%M%S%f}", kind="full", status="complete",
                          started_at=finished - timedelta(minutes=1), finished_at=finished, size_bytes=1,
                          location="test")
    if drill_age is not None:
        catalog.record_verification(target, backup_id=f"test-{finished:%H%M%S%f}", method="drill", passed=True,
                                    seconds=1.0, tables_checked=1, amcheck_indexes=0, amcheck_errors=0)
        with db.connect(Role.writer) as conn:
            conn.execute("UPDATE ops.backup_verifications SET verified_at = %s",
                         (datetime.now(UTC) - drill_age,))


def _alert_names(result) -> set[str]:
    assert isinstance(result, dg.RunRequest), result
    assert result.job_name == ops_alert_job.name
    alerts = result.run_config["ops"]["send_alert"]["config"]["alerts"]
    return {a["name"] for a in alerts}


def test_backup_staleness_fires_without_a_backup_and_when_it_is_old(clean_db):
    ops = OperationsResource(database=clean_db.name)
    context = dg.build_sensor_context(resources={"operations": ops})
    assert _alert_names(backup_staleness_sensor(context)) == {"backup_stale", "drill_stale"}
    _record(clean_db, backup_age=timedelta(hours=30), drill_age=timedelta(hours=1))
    assert _alert_names(backup_staleness_sensor(dg.build_sensor_context(resources={"operations": ops}))) == {"backup_stale"}


def test_backup_staleness_is_quiet_with_a_fresh_backup_and_drill(clean_db):
    _record(clean_db, backup_age=timedelta(hours=2), drill_age=timedelta(days=2))
    ops = OperationsResource(database=clean_db.name)
    result = backup_staleness_sensor(dg.build_sensor_context(resources={"operations": ops}))
    assert isinstance(result, dg.SkipReason) and "within their windows" in result.skip_message


def test_drill_staleness_fires_when_the_last_passed_drill_is_older_than_its_window(clean_db):
    _record(clean_db, backup_age=timedelta(hours=2), drill_age=timedelta(days=9))
    ops = OperationsResource(database=clean_db.name)
    assert _alert_names(backup_staleness_sensor(dg.build_sensor_context(resources={"operations": ops}))) == {"drill_stale"}


def test_health_sensor_is_quiet_on_a_healthy_database(test_db):
    ops = OperationsResource(database=test_db.name)
    result = health_threshold_sensor(dg.build_sensor_context(resources={"operations": ops}))
    assert isinstance(result, dg.SkipReason) and "healthy" in result.skip_message


def test_health_sensor_fires_on_a_long_running_query(test_db):
    ops = OperationsResource(database=test_db.name, long_query_seconds=1.0)
    done = threading.Event()

    def sleeper():
        with test_db.connect(Role.writer, direct=True) as conn:
            conn.execute("SELECT pg_sleep(4)")
        done.set()

    thread = threading.Thread(target=sleeper)
    thread.start()
    time.sleep(2.0)
    result = health_threshold_sensor(dg.build_sensor_context(resources={"operations": ops}))
    thread.join()
    assert done.is_set()
    assert "long_running_query" in _alert_names(result)


def test_health_sensor_fires_when_connections_cross_the_warning_share(test_db):
    with test_db.connect(Role.writer, direct=True) as _held:  # at least this one connection is in use
        ops = OperationsResource(database=test_db.name, connections_warn=0.0, connections_critical=0.99)
        result = health_threshold_sensor(dg.build_sensor_context(resources={"operations": ops}))
    assert _alert_names(result) == {"connections_high"}
    ops = OperationsResource(database=test_db.name, connections_warn=0.0, connections_critical=0.0)
    assert _alert_names(health_threshold_sensor(dg.build_sensor_context(resources={"operations": ops}))) == {
        "connections_critical"}


def test_health_sensor_fires_when_a_table_was_not_loaded_within_its_window(clean_db):
    ops = OperationsResource(database=clean_db.name)
    quiet = health_threshold_sensor(dg.build_sensor_context(resources={"operations": ops}))
    assert isinstance(quiet, dg.SkipReason)  # never loaded: nothing is stale yet
    with clean_db.connect(Role.writer) as conn:
        conn.execute(
            "INSERT INTO ops.ingest_log (loaded_at, table_name, interval, window_start, window_end, symbols, mode) "
            "VALUES (now() - interval '5 days', 'price_history', '1d', now() - interval '6 days', "
            "now() - interval '5 days', ARRAY['AAA'], 'replace')")
    assert _alert_names(health_threshold_sensor(dg.build_sensor_context(resources={"operations": ops}))) == {
        "data_stale"}
    with clean_db.connect(Role.writer) as conn:
        conn.execute("UPDATE ops.ingest_log SET loaded_at = now()")
    assert isinstance(health_threshold_sensor(dg.build_sensor_context(resources={"operations": ops})), dg.SkipReason)


def test_health_sensor_fires_when_free_disk_is_under_the_minimum(test_db):
    # The data directory's filesystem, measured for real; a minimum above 100 % makes any disk "low".
    ops = OperationsResource(database=test_db.name, disk_free_min=1.01)
    assert _alert_names(health_threshold_sensor(dg.build_sensor_context(resources={"operations": ops}))) == {
        "disk_low"}
