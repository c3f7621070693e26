"""Prometheus configuration and alert rules: promtool's config and rule checks, the rule unit tests in
infra/config/alerts.test.yml, and every stockula_* metric a rule uses defined by the exporter queries."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from stockula_pipelines.settings import project_dir

CONFIG = project_dir() / "infra" / "config"


def _promtool() -> str:
    # Installed by `make setup` (Debian's prometheus package): missing it is a failure, not a skip.
    exe = shutil.which("promtool")
    assert exe, "promtool not found: run `make setup` (it installs the prometheus package)"
    return exe


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_promtool(), *args], capture_output=True, text=True, timeout=120)


def test_promtool_check_config(tmp_path: Path) -> None:
    for name in ("prometheus.yml", "alerts.yml"):
        shutil.copy(CONFIG / name, tmp_path / name)
    shutil.copytree(project_dir() / "infra/docker/prometheus-targets", tmp_path / "targets")
    proc = _run("check", "config", str(tmp_path / "prometheus.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout + proc.stderr


def test_promtool_check_rules() -> None:
    proc = _run("check", "rules", str(CONFIG / "alerts.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"SUCCESS: \d+ rules found", proc.stdout)


def test_promtool_test_rules() -> None:
    proc = subprocess.run([_promtool(), "test", "rules", "alerts.test.yml"], capture_output=True, text=True,
                          cwd=CONFIG, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def _exported_metrics() -> set[str]:
    queries = yaml.safe_load((CONFIG / "postgres_exporter_queries.yml").read_text())
    names = set()
    for prefix, spec in queries.items():
        for metric in spec["metrics"]:
            (column, info), = metric.items()
            if info["usage"] != "LABEL":
                names.add(f"{prefix}_{column}")
    return names


def test_every_custom_metric_a_rule_uses_is_exported() -> None:
    rules = yaml.safe_load((CONFIG / "alerts.yml").read_text())
    used = {m for g in rules["groups"] for r in g["rules"] for m in re.findall(r"\bstockula_[a-z_]+", r["expr"])}
    exported = _exported_metrics()
    assert used and used <= exported, used - exported
    assert {"stockula_backup_last_success_timestamp_seconds", "stockula_drill_last_success_timestamp_seconds",
            "stockula_hypertable_total_bytes", "stockula_table_rows_loaded_today"} <= exported


# The read replica's metrics (issue 15) read PostgreSQL's own views, which pg_monitor reads anyway.
PG_MONITOR_VIEWS = {"stockula_replication": "pg_catalog.pg_stat_replication",
                    "stockula_replication_slot": "pg_catalog.pg_replication_slots"}


def test_every_exporter_query_reads_an_ops_function_granted_to_pg_monitor() -> None:
    migration = (project_dir() / "sql/0011_operations.sql").read_text()
    queries = yaml.safe_load((CONFIG / "postgres_exporter_queries.yml").read_text())
    for name, spec in queries.items():
        if name in PG_MONITOR_VIEWS:
            assert re.search(rf"FROM {re.escape(PG_MONITOR_VIEWS[name])} AS", spec["query"]), name
            assert "ops." not in spec["query"] and spec.get("master") is True, name
            continue
        function = re.search(r"FROM (ops\.metrics_\w+)\(\)", spec["query"]).group(1)
        assert f"CREATE FUNCTION {function}()" in migration
    assert "TO pg_monitor" in migration
    assert {"stockula_replication_replay_lag_seconds", "stockula_replication_replay_lag_bytes",
            "stockula_replication_slot_active"} <= _exported_metrics()
