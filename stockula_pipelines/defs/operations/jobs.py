"""Backup, drill, maintenance, health and alert jobs. Each op reports what a person wants to see:
the backup's id, size and duration, the drill's verdict, what maintenance changed.

Backups and maintenance sit in the loads' concurrency pool (``market_data_source``): the scheduler
never runs them beside a load, so a maintenance task never blocks one and a physical backup's
manifest describes a quiet database. Crashed backups are retried by the op's retry policy.
"""


import time

import dagster as dg

from stockula_pipelines.defs.ingest_common import SOURCE_POOL
from stockula_pipelines.lib.maintenance.health import Alert, jsonable
from stockula_pipelines.resources.backup import OperationsResource

GROUP = "operations"
# A crashed run (lost process, killed container) is started again once (dagster.yaml: run_retries).
JOB_TAGS = {"stockula/domain": GROUP, "dagster/max_retries": "1"}
RETRY = dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL)
BACKUPS_KEY = dg.AssetKey(["ops", "backups"])
VERIFICATIONS_KEY = dg.AssetKey(["ops", "backup_verifications"])


class PhysicalBackupConfig(dg.Config):
    kind: str = "incr"
    force_full: bool = False


class DrillConfig(dg.Config):
    backup_id: str | None = None


class MaintenanceConfig(dg.Config):
    task: str = "all"


class AlertConfig(dg.Config):
    source: str
    alerts: list[dict[str, str]]


def _backup_metadata(record, seconds: float) -> dict[str, dg.MetadataValue]:
    manifest = record.manifest or {}
    return {
        "backup_id": dg.MetadataValue.text(record.backup_id),
        "kind": dg.MetadataValue.text(record.kind),
        "size_bytes": dg.MetadataValue.int(int(record.size_bytes or 0)),
        "duration_seconds": dg.MetadataValue.float(round(seconds, 2)),
        "tables": dg.MetadataValue.int(len(manifest.get("tables", {}))),
        "timescaledb_version": dg.MetadataValue.text(str(manifest.get("timescaledb_version"))),
        "location": dg.MetadataValue.path(record.location or ""),
    }


def _backup(context: dg.OpExecutionContext, operations: OperationsResource, kind: str, force_full: bool = False):
    started = time.monotonic()
    if kind == "logical":
        record = operations.logical_backup(run_id=context.run.run_id, log=context.log.info)
    else:
        record = operations.physical_backup(kind, force_full=force_full, run_id=context.run.run_id, log=context.log.info)
    metadata = _backup_metadata(record, time.monotonic() - started)
    context.log_event(dg.AssetMaterialization(BACKUPS_KEY, description=f"{record.kind} backup", metadata=metadata))
    return dg.Output(record.backup_id, metadata=metadata)


@dg.op(pool=SOURCE_POOL, retry_policy=RETRY, tags={"kind": "pgbackrest"})
def physical_backup(context: dg.OpExecutionContext, config: PhysicalBackupConfig, operations: OperationsResource):
    """A pgBackRest backup (full when none exists), its restore point and manifest."""
    return _backup(context, operations, config.kind, config.force_full)


@dg.op(pool=SOURCE_POOL, retry_policy=RETRY, tags={"kind": "pg_dump"})
def logical_backup(context: dg.OpExecutionContext, operations: OperationsResource):
    """pg_dump -Fc with its manifest."""
    return _backup(context, operations, "logical")


@dg.op(retry_policy=dg.RetryPolicy(max_retries=1, delay=60))
def verification_drill(context: dg.OpExecutionContext, config: DrillConfig, operations: OperationsResource):
    """Restore the newest backup into scratch, compare with its manifest, amcheck; fails when it does."""
    from stockula_pipelines.lib.backup.errors import VerificationFailed

    try:
        result = operations.drill(config.backup_id, run_id=context.run.run_id, log=context.log.info)
    except VerificationFailed as exc:
        context.log_event(dg.AssetMaterialization(VERIFICATIONS_KEY, metadata={
            "passed": dg.MetadataValue.bool(False), "problem": dg.MetadataValue.text(str(exc)[:2000])}))
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    metadata = {k: v if isinstance(v, int | float | bool | str) else str(v) for k, v in result.as_metadata().items()}
    context.log_event(dg.AssetMaterialization(VERIFICATIONS_KEY, metadata=metadata))
    return dg.Output(result.passed, metadata=metadata)


@dg.op(pool=SOURCE_POOL)
def maintenance(context: dg.OpExecutionContext, config: MaintenanceConfig, operations: OperationsResource):
    """vacuum, statistics, reindex, timescaledb and health, under the maintenance guard."""
    reports = operations.maintenance(config.task, run_id=context.run.run_id, log=context.log.info)
    changed = [line for r in reports for line in r.changed]
    alerts = [Alert(**a) for r in reports for a in r.report.get("alerts", [])]
    for alert in alerts:
        context.log.warning(f"{alert.severity}: {alert.name}: {alert.message}")
    return dg.Output(len(changed), metadata={
        "tasks": dg.MetadataValue.text(", ".join(r.task for r in reports)),
        "changes": dg.MetadataValue.int(len(changed)),
        "changed": dg.MetadataValue.md("\n".join(f"- {c}" for c in changed) or "nothing to change"),
        "alerts": dg.MetadataValue.json([a.as_dict() for a in alerts]),
        "reports": dg.MetadataValue.json(jsonable({r.task: r.report for r in reports})),
    })


@dg.op
def send_alert(context: dg.OpExecutionContext, config: AlertConfig, operations: OperationsResource):
    """Log the alerts in this run and POST them to the webhook (STOCKULA_ALERT_WEBHOOK_URL)."""
    alerts = [Alert(**a) for a in config.alerts]
    for alert in alerts:
        context.log.warning(f"ALERT {alert.severity} {alert.name}: {alert.message} (from {config.source})")
    problem = operations.send(alerts, source=config.source)
    if problem:
        context.log.error(f"alert not delivered to the webhook: {problem}")
    return dg.Output(len(alerts), metadata={"alerts": dg.MetadataValue.json([a.as_dict() for a in alerts]),
                                            "delivered": dg.MetadataValue.bool(problem is None)})


def _physical_job(name: str, kind: str, description: str) -> dg.JobDefinition:
    @dg.job(name=name, description=description, tags=JOB_TAGS,
            config={"ops": {"physical_backup": {"config": {"kind": kind, "force_full": kind == "full"}}}})
    def _job():
        physical_backup()

    return _job


physical_backup_full_job = _physical_job("physical_backup_full_job", "full", "Weekly full pgBackRest backup.")
physical_backup_incr_job = _physical_job("physical_backup_incr_job", "incr",
                                         "Daily incremental pgBackRest backup (full when none exists).")


@dg.job(tags=JOB_TAGS, description="Nightly pg_dump -Fc of the database with its manifest.")
def logical_backup_job():
    logical_backup()


@dg.job(tags=JOB_TAGS, description="Restore the newest backup into scratch and verify it.")
def backup_drill_job():
    verification_drill()


@dg.job(tags=JOB_TAGS, description="Weekly maintenance: every task, in order.")
def maintenance_job():
    maintenance()


@dg.job(tags=JOB_TAGS, description="Daily health report (recorded in ops.maintenance_log).",
        config={"ops": {"maintenance": {"config": {"task": "health"}}}})
def health_report_job():
    maintenance()


@dg.job(tags=JOB_TAGS, description="Deliver alerts raised by the operations sensors.")
def ops_alert_job():
    send_alert()


JOBS = [physical_backup_full_job, physical_backup_incr_job, logical_backup_job, backup_drill_job, maintenance_job,
        health_report_job, ops_alert_job]
