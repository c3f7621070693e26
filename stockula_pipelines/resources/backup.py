"""Dagster resource over lib/backup and lib/maintenance: backups, drills, maintenance and health of one
database. Nothing connects until a method is called."""

from __future__ import annotations

import psycopg
from dagster import ConfigurableResource
from pydantic import Field

from stockula_pipelines.lib.backup import drill, logical, physical
from stockula_pipelines.lib.backup.catalog import BackupRecord, Target, last_success
from stockula_pipelines.lib.maintenance import health, tasks
from stockula_pipelines.lib.maintenance.alerts import post_alerts
from stockula_pipelines.settings import Role, Settings, get_settings


class OperationsResource(ConfigurableResource):
    """Backups and maintenance of the stockula database (the backup, admin and monitor roles)."""

    database: str | None = Field(default=None, description="default STOCKULA_DB_NAME")
    # Threshold overrides (default: the STOCKULA_HEALTH_* / *_MAX_AGE_HOURS settings).
    connections_warn: float | None = None
    connections_critical: float | None = None
    long_query_seconds: float | None = None
    disk_free_min: float | None = None
    backup_max_age_hours: float | None = None
    drill_max_age_hours: float | None = None
    webhook_url: str | None = Field(default=None, description="default STOCKULA_ALERT_WEBHOOK_URL")

    def settings(self) -> Settings:
        overrides = {
            "health_connections_warn": self.connections_warn, "health_connections_critical": self.connections_critical,
            "health_long_query_seconds": self.long_query_seconds, "health_disk_free_min": self.disk_free_min,
            "backup_max_age_hours": self.backup_max_age_hours,
            "drill_max_age_hours": self.drill_max_age_hours,
        }
        return get_settings().model_copy(update={k: v for k, v in overrides.items() if v is not None})

    def target(self) -> Target:
        settings = self.settings()
        return Target(settings, self.database or settings.db_name)

    def physical_backup(self, kind: str, *, force_full: bool = False, run_id: str | None = None,
                        log=print) -> BackupRecord:
        return physical.run_physical(self.target(), kind, force_full=force_full, run_id=run_id, log=log)

    def logical_backup(self, *, run_id: str | None = None, log=print) -> BackupRecord:
        return logical.run_logical(self.target(), run_id=run_id, log=log)

    def drill(self, backup_id: str | None = None, *, run_id: str | None = None, log=print) -> drill.DrillResult:
        return drill.run_drill(self.target(), backup_id, run_id=run_id, log=log)

    def maintenance(self, task: str, *, run_id: str | None = None, log=print) -> list[tasks.TaskReport]:
        target = self.target()
        return tasks.run_tasks(target.dsn(Role.admin), target.dsn(Role.writer), target.settings, task,
                               run_id=run_id, log=log)

    def health_alerts(self) -> tuple[dict, list[health.Alert]]:
        """The health report (as the monitor role) and the alerts it raises, without backup ages."""
        target = self.target()
        with psycopg.connect(target.dsn(Role.monitor), autocommit=True, prepare_threshold=None) as conn:
            report = health.collect(conn, target.settings)
        return report, health.evaluate(report, target.settings, backups=False)

    def backup_alerts(self) -> list[health.Alert]:
        target = self.target()
        last_backup, last_drill, now = last_success(target)
        backup_age = None if last_backup is None else (now - last_backup).total_seconds()
        drill_age = None if last_drill is None else (now - last_drill).total_seconds()
        return health.evaluate_backups(backup_age, drill_age, target.settings)

    def send(self, alerts: list[health.Alert], *, source: str) -> str | None:
        url = self.webhook_url
        if url is None and get_settings().alert_webhook_url is not None:
            url = get_settings().alert_webhook_url.get_secret_value()
        return post_alerts(url, alerts, source=source)
