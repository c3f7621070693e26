"""Monitoring on the local stack: Prometheus scrapes postgres_exporter's custom queries, a custom metric
reads back through the Prometheus HTTP API after a real backup, and every Grafana dashboard query
evaluates without error against that Prometheus."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

import pytest

from stockula_pipelines.lib.backup import logical
from stockula_pipelines.lib.backup.catalog import Target
from stockula_pipelines.settings import project_dir

pytestmark = pytest.mark.integration
DASHBOARD = project_dir() / "infra/grafana/dashboards/stockula-database.json"


def _query(settings, expr: str) -> dict:
    url = f"http://127.0.0.1:{settings.prometheus_port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


@pytest.fixture(scope="module")
def demo_db(stack_settings):
    # The exporter reads the stack's main database: migrate it (idempotent, as `make migrate` does).
    from conftest import migrate_database

    migrate_database(stack_settings, stack_settings.db_name)
    return stack_settings


def test_a_custom_metric_reads_back_through_the_prometheus_api(demo_db):
    backup = logical.run_logical(Target.default(demo_db), log=lambda _m: None)
    finished = backup.finished_at.timestamp()
    expr = 'stockula_backup_last_success_timestamp_seconds{kind="logical"}'
    deadline = time.monotonic() + 180  # two scrape intervals and then some; a functional wait, not a timing check
    value = None
    while time.monotonic() < deadline:
        result = _query(demo_db, expr)
        assert result["status"] == "success"
        series = result["data"]["result"]
        if series and float(series[0]["value"][1]) >= int(finished):
            value = float(series[0]["value"][1])
            break
        time.sleep(3)
    assert value is not None, f"Prometheus never saw the backup of {backup.backup_id} in {expr}"
    assert abs(value - finished) < 2
    targets = json.loads(urllib.request.urlopen(  # noqa: S310 - loopback
        f"http://127.0.0.1:{demo_db.prometheus_port}/api/v1/targets", timeout=10).read())
    health = {t["labels"]["job"]: t["health"] for t in targets["data"]["activeTargets"]}
    assert health.get("postgres_exporter") == "up"


def test_every_dashboard_query_evaluates(demo_db):
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs = [t["expr"] for p in panels for t in p.get("targets", []) if "expr" in t]
    assert len(exprs) >= 10
    for expr in exprs:
        result = _query(demo_db, expr)
        assert result["status"] == "success", (expr, result)
