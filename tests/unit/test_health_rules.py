"""The health report's alert rules as pure functions: the origin's thresholds at their edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stockula_pipelines.lib.maintenance.health import evaluate, evaluate_backups
from stockula_pipelines.settings import Settings


@pytest.fixture()
def settings() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


def _report(**overrides) -> dict:
    base = {"connections": 10, "max_connections": 100, "connections_ratio": 0.10, "long_or_blocked_queries": [],
            "disk_free_ratio": 0.5, "compression": [], "archiver": {}, "freshness": [], "pgbouncer_pools": []}
    return {**base, **overrides}


@pytest.mark.parametrize(("ratio", "expected"), [
    (0.80, set()), (0.81, {"connections_high"}), (0.95, {"connections_high"}), (0.96, {"connections_critical"}),
])
def test_connection_thresholds(settings, ratio, expected):
    report = _report(connections=int(ratio * 100), connections_ratio=ratio)
    assert {a.name for a in evaluate(report, settings, backups=False)} == expected


def test_long_queries_disk_and_compression(settings):
    report = _report(long_or_blocked_queries=[{"pid": 1, "seconds": 3601.0}, {"pid": 2, "seconds": 10.0}],
                     disk_free_ratio=0.049,
                     compression=[{"hypertable": "market.price_history", "before_compression_total_bytes": 100,
                                   "after_compression_total_bytes": 60}])
    alerts = {a.name: a for a in evaluate(report, settings, backups=False)}
    assert set(alerts) == {"long_running_query", "disk_low", "compression_low"}
    assert "pid 1" in alerts["long_running_query"].message and alerts["disk_low"].severity == "critical"
    well_compressed = [{"hypertable": "h", "before_compression_total_bytes": 100, "after_compression_total_bytes": 40}]
    assert evaluate(_report(compression=well_compressed), settings, backups=False) == []


def test_archiving_failing_only_while_the_last_attempt_failed(settings):
    now = datetime.now(UTC)
    failing = {"last_failed_time": now, "last_archived_time": now - timedelta(minutes=5), "last_failed_wal": "X"}
    recovered = {"last_failed_time": now - timedelta(minutes=5), "last_archived_time": now}
    assert [a.name for a in evaluate(_report(archiver=failing), settings, backups=False)] == ["wal_archiving_failing"]
    assert evaluate(_report(archiver=recovered), settings, backups=False) == []


def test_backup_and_drill_windows(settings):
    hour = 3600.0
    assert [a.name for a in evaluate_backups(None, None, settings)] == ["backup_stale", "drill_stale"]
    assert evaluate_backups(25 * hour, 7 * 24 * hour, settings) == []
    assert [a.name for a in evaluate_backups(27 * hour, 1 * hour, settings)] == ["backup_stale"]
    assert [a.name for a in evaluate_backups(1 * hour, 9 * 24 * hour, settings)] == ["drill_stale"]
