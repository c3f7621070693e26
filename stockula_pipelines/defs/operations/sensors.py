"""Sensors that raise alerts: a stale backup or drill, health thresholds crossed, any run failing.

A firing sensor requests a run of ``ops_alert_job``, which logs the alerts in its run log and POSTs
them to the webhook; a quiet one returns a SkipReason saying what it checked. The run-failure sensor
logs and posts directly (its own failures must not start more runs).
"""


from datetime import UTC, datetime

import dagster as dg

from stockula_pipelines.automation import default_sensor_status
from stockula_pipelines.lib.maintenance.health import Alert
from stockula_pipelines.resources.backup import OperationsResource

from .jobs import ops_alert_job

RUNNING = default_sensor_status()


def _alert_run(source: str, alerts: list[Alert], bucket: str) -> dg.RunRequest:
    # One alert run per condition and bucket (hour or day): a sensor ticking every few minutes does not
    # page every few minutes for the same problem.
    names = ",".join(sorted(a.name for a in alerts))
    return dg.RunRequest(
        run_key=f"{source}:{names}:{bucket}", job_name=ops_alert_job.name,
        run_config={"ops": {"send_alert": {"config": {"source": source, "alerts": [a.as_dict() for a in alerts]}}}},
        tags={"stockula/alert": names},
    )


@dg.sensor(job=ops_alert_job, minimum_interval_seconds=900, default_status=RUNNING,
           description="Alerts when the newest good backup or passed drill is older than its window.")
def backup_staleness_sensor(context: dg.SensorEvaluationContext, operations: OperationsResource):
    alerts = operations.backup_alerts()
    if not alerts:
        return dg.SkipReason("the last good backup and the last passed drill are within their windows")
    for alert in alerts:
        context.log.warning(f"{alert.severity}: {alert.name}: {alert.message}")
    return _alert_run("backup_staleness_sensor", alerts, datetime.now(UTC).strftime("%Y-%m-%d"))


@dg.sensor(job=ops_alert_job, minimum_interval_seconds=300, default_status=RUNNING,
           description="Alerts on connections > 80/95 % of max_connections, queries over an hour, "
                       "disk under 5 %, low compression, failing WAL archiving.")
def health_threshold_sensor(context: dg.SensorEvaluationContext, operations: OperationsResource):
    report, alerts = operations.health_alerts()
    if not alerts:
        return dg.SkipReason(
            f"healthy: {report['connections']}/{report['max_connections']} connections, "
            f"{len(report['long_or_blocked_queries'])} long or blocked statement(s)")
    for alert in alerts:
        context.log.warning(f"{alert.severity}: {alert.name}: {alert.message}")
    return _alert_run("health_threshold_sensor", alerts, datetime.now(UTC).strftime("%Y-%m-%dT%H"))


@dg.run_failure_sensor(default_status=RUNNING, monitor_all_code_locations=False,
                       description="Alerts (webhook and log) when any run of this code location fails.")
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, operations: OperationsResource):
    run = context.dagster_run
    if run.job_name == ops_alert_job.name:
        # The alert job itself failing would otherwise feed back into more alert runs.
        context.log.error(f"alert run {run.run_id} failed: {context.failure_event.message}")
        return
    alert = Alert("critical", "run_failed",
                  f"run {run.run_id} of {run.job_name} failed: {context.failure_event.message or 'no message'}")
    context.log.error(f"{alert.severity}: {alert.name}: {alert.message}")
    problem = operations.send([alert], source="run_failure_alert_sensor")
    if problem:
        context.log.error(f"alert not delivered to the webhook: {problem}")


SENSORS = [backup_staleness_sensor, health_threshold_sensor, run_failure_alert_sensor]
