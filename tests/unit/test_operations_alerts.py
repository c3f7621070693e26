"""Alert delivery through Dagster with no database: the alert job and the run-failure sensor post to a
real HTTP webhook started by the test, and log what they raise."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import pytest

from stockula_pipelines.defs.operations.jobs import ops_alert_job
from stockula_pipelines.defs.operations.sensors import run_failure_alert_sensor
from stockula_pipelines.resources.backup import OperationsResource


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
