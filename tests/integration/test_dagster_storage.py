"""Dagster's storage as dagster.yaml configures it (stockula_pipelines/dagster_storage.py), on the real server.

A range run of a partitioned asset with a partitioned check, in a scratch Dagster database: the storage
keeps a connection per process instead of connecting per call, stores a planned row per partition and
check without the run's partition subset in each, and still marks a failed range's partitions failed.
"""


from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml
from psycopg import sql

from stockula_pipelines.lib.celery_workers import recreate_database, write_instance_dir
from stockula_pipelines.partitions import build_daily_partitions
from stockula_pipelines.settings import Role

DAGSTER_DB = "dagster_test_storage"
PARTITIONS = build_daily_partitions()
KEYS = [k for k in PARTITIONS.get_partition_keys() if "2024-03-01" <= k <= "2024-05-31"]  # 64 trading days
RANGE_TAGS = {"dagster/asset_partition_range_start": KEYS[0], "dagster/asset_partition_range_end": KEYS[-1]}
FAIL = {"now": False}


@dg.asset(partitions_def=PARTITIONS, backfill_policy=dg.BackfillPolicy.single_run(),
          check_specs=[dg.AssetCheckSpec("rows_positive", asset="bars", partitions_def=PARTITIONS)])
def bars(context: dg.AssetExecutionContext):
    if FAIL["now"]:
        raise RuntimeError("source down")
    yield dg.MaterializeResult(metadata={"partitions": len(context.partition_keys)})
    yield dg.AssetCheckResult(check_name="rows_positive", passed=True)


def _sessions(admin_dsn: str) -> int:
    with psycopg.connect(admin_dsn) as conn:
        return conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (DAGSTER_DB,)).fetchone()[0]


@pytest.fixture()
def instance(stack_settings, tmp_path: Path):
    s = stack_settings
    admin = s.dsn(Role.admin, direct=True, dbname="postgres")
    recreate_database(s, DAGSTER_DB, Role.dagster)
    write_instance_dir(tmp_path, dagster_db=DAGSTER_DB)  # the project's dagster.yaml storage, this database
    storage = yaml.safe_load((tmp_path / "dagster.yaml").read_text())["storage"]
    assert storage["custom"]["class"] == "PooledPostgresStorage"  # what the project configures
    with dg.DagsterInstance.from_config(str(tmp_path)) as inst:
        yield inst, admin
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DAGSTER_DB)))


def test_a_range_run_reuses_its_connection_and_plans_each_partition_check_row_slim(instance):
    inst, admin = instance
    before = _sessions(admin)
    FAIL["now"] = False
    result = dg.materialize([bars], instance=inst, tags=RANGE_TAGS)
    assert result.success
    opened = _sessions(admin) - before
    events = len(inst.all_logs(result.run_id))
    # Connecting per call (dagster-postgres's NullPool) opened more than one session per event.
    assert events > 2 * len(KEYS) and opened < 10, (events, opened)
    materialized = inst.get_materialized_partitions(dg.AssetKey("bars"))
    assert materialized == set(KEYS)
    with psycopg.connect(admin.replace("/postgres", f"/{DAGSTER_DB}")) as conn:
        rows = conn.execute(
            "SELECT partition, length(evaluation_event), evaluation_event FROM asset_check_executions "
            "WHERE check_name = 'rows_positive' AND run_id = %s AND execution_status = 'PLANNED'",
            (result.run_id,)).fetchall()
    assert sorted(r[0] for r in rows) == KEYS
    # Each row holds the planned event without the run's subset (and its calendar of holidays).
    assert max(r[1] for r in rows) < 2_000
    planned = dg.deserialize_value(rows[0][2], dg.EventLogEntry)
    assert planned.dagster_event.event_specific_data.partitions_subset is None
    history = inst.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("bars"), "rows_positive"), limit=200)
    # The partitions' planned rows, and the range's one evaluation (filed under no partition).
    assert len(history) == len(KEYS) + 1


def test_a_failed_range_marks_its_partitions_failed(instance):
    from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

    inst, _ = instance
    FAIL["now"] = True
    try:
        result = dg.materialize([bars], instance=inst, tags=RANGE_TAGS, raise_on_error=False)
    finally:
        FAIL["now"] = False
    assert not result.success
    status = get_and_update_asset_status_cache_value(inst, dg.AssetKey("bars"), PARTITIONS)
    assert set(status.deserialize_failed_partition_subsets(PARTITIONS).get_partition_keys()) == set(KEYS)
