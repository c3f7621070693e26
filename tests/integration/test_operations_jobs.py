"""The operations jobs run in Dagster against the local stack, and their metadata shows what operators
need: the backup's id, size and duration, the drill's verdict, what maintenance changed."""

from __future__ import annotations

import dagster as dg
import pytest
from ops_support import load_day

from stockula_pipelines.defs.operations.jobs import (
    backup_drill_job,
    health_report_job,
    logical_backup_job,
    maintenance_job,
    physical_backup_incr_job,
)
from stockula_pipelines.resources.backup import OperationsResource

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _output_metadata(result: dg.ExecuteInProcessResult, op: str) -> dict:
    (event,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_OUTPUT
                and e.step_key == op]
    return {k: v.value for k, v in event.event_specific_data.metadata.items()}


def test_backup_and_drill_jobs_report_size_duration_and_verdict(clean_db):
    load_day(clean_db, 21)
    resources = {"operations": OperationsResource(database=clean_db.name)}
    instance = dg.DagsterInstance.ephemeral()
    physical = physical_backup_incr_job.execute_in_process(resources=resources, instance=instance)
    assert physical.success
    meta = _output_metadata(physical, "physical_backup")
    assert meta["kind"] in ("incr", "full") and meta["size_bytes"] > 0 and meta["duration_seconds"] > 0
    assert meta["tables"] > 10
    materialized = instance.get_latest_materialization_event(dg.AssetKey(["ops", "backups"]))
    assert materialized is not None and materialized.asset_materialization.metadata["backup_id"].value == meta["backup_id"]

    logical = logical_backup_job.execute_in_process(resources=resources, instance=instance)
    assert logical.success and _output_metadata(logical, "logical_backup")["kind"] == "logical"

    drill = backup_drill_job.execute_in_process(resources=resources, instance=instance)
    assert drill.success
    verdict = _output_metadata(drill, "verification_drill")
    assert verdict["passed"] is True and verdict["kind"] == "logical" and verdict["tables_checked"] > 10
    assert verdict["mismatches"] == 0 and verdict["amcheck_errors"] == 0


def test_maintenance_and_health_jobs_say_what_they_changed(clean_db):
    resources = {"operations": OperationsResource(database=clean_db.name)}
    result = maintenance_job.execute_in_process(resources=resources)
    assert result.success
    meta = _output_metadata(result, "maintenance")
    assert meta["tasks"] == "vacuum, statistics, reindex, timescaledb, health"
    assert isinstance(meta["changed"], str) and meta["changes"] >= 0
    health = health_report_job.execute_in_process(resources=resources)
    assert health.success
    meta = _output_metadata(health, "maintenance")
    assert meta["tasks"] == "health" and "connections" in meta["reports"]["health"]
