"""The operations sensors against the real database: each fires when its condition holds and stays
quiet otherwise. Alerts reach a real HTTP webhook started by the test."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import pytest

from stockula_pipelines.defs.operations.jobs import ops_alert_job
from stockula_pipelines.defs.operations.sensors import (
    backup_staleness_sensor,
    health_threshold_sensor,
    run_failure_alert_sensor,
)
from stockula_pipelines.lib.backup import catalog
from stockula_pipelines.lib.backup.catalog import Target
from stockula_pipelines.resources.backup import OperationsResource
from stockula_pipelines.settings import Role

pytestmark = pytest.mark.integration


@pytest.fixture()
def webhook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", received
    server.shutdown()


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


def test_the_alert_job_logs_and_posts_to_the_webhook(webhook):
    url, received = webhook
    alerts = [{"severity": "critical", "name": "backup_stale", "message": "no good backup yet"}]
    instance = dg.DagsterInstance.ephemeral()
    result = ops_alert_job.execute_in_process(
        run_config={"ops": {"send_alert": {"config": {"source": "test", "alerts": alerts}}}},
        resources={"operations": OperationsResource(webhook_url=url)}, instance=instance,
    )
    assert result.success
    assert received == [{"source": "test", "alerts": alerts}]
    run_log = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any("ALERT critical backup_stale: no good backup yet" in m for m in run_log)


@dg.op
def _explode():
    raise RuntimeError("boom")


def _failed_run_context(job_name: str, url: str):
    @dg.job(name=job_name)
    def failing():
        _explode()

    instance = dg.DagsterInstance.ephemeral()
    result = failing.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    return dg.build_run_status_sensor_context(
        sensor_name=run_failure_alert_sensor.name, dagster_instance=instance, dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(), resources={"operations": OperationsResource(webhook_url=url)},
    ).for_run_failure()


def test_run_failure_sensor_posts_an_alert(webhook):
    url, received = webhook
    run_failure_alert_sensor(_failed_run_context("nightly_load_that_fails", url))
    assert len(received) == 1
    (alert,) = received[0]["alerts"]
    assert alert["name"] == "run_failed" and "nightly_load_that_fails" in alert["message"]


def test_run_failure_sensor_stays_quiet_when_the_alert_job_itself_fails(webhook):
    url, received = webhook
    run_failure_alert_sensor(_failed_run_context(ops_alert_job.name, url))
    assert received == []


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
