"""When the operations jobs run (UTC, away from the exchange's evening loads): the origin's full backup on
Sundays and incremental otherwise, a nightly logical dump, the weekly drill and maintenance, and a
daily health report.

Whether they (and the operations sensors) start RUNNING follows the code location's one switch,
``STOCKULA_AUTOMATION_RUNNING`` (off on a laptop, on in the compose deployment); it is read through
``model_dump`` so this module also loads where the settings predate that switch (then: off).
"""

import dagster as dg

from stockula_pipelines.automation import default_status

from .jobs import (
    backup_drill_job,
    health_report_job,
    logical_backup_job,
    maintenance_job,
    physical_backup_full_job,
    physical_backup_incr_job,
)

TZ = "UTC"


RUNNING = default_status()

weekly_full_backup_schedule = dg.ScheduleDefinition(
    name="weekly_full_backup_schedule", job=physical_backup_full_job, cron_schedule="0 1 * * 0",
    execution_timezone=TZ, default_status=RUNNING, description="Full pgBackRest backup, Sundays 01:00 UTC.")
daily_incr_backup_schedule = dg.ScheduleDefinition(
    name="daily_incr_backup_schedule", job=physical_backup_incr_job, cron_schedule="0 1 * * 1-6",
    execution_timezone=TZ, default_status=RUNNING, description="Incremental backup, Monday-Saturday 01:00 UTC.")
nightly_logical_backup_schedule = dg.ScheduleDefinition(
    name="nightly_logical_backup_schedule", job=logical_backup_job, cron_schedule="0 2 * * *",
    execution_timezone=TZ, default_status=RUNNING, description="pg_dump -Fc every night at 02:00 UTC.")
weekly_drill_schedule = dg.ScheduleDefinition(
    name="weekly_drill_schedule", job=backup_drill_job, cron_schedule="0 4 * * 0",
    execution_timezone=TZ, default_status=RUNNING, description="Restore drill of the newest backup, Sundays.")
weekly_maintenance_schedule = dg.ScheduleDefinition(
    name="weekly_maintenance_schedule", job=maintenance_job, cron_schedule="0 5 * * 0",
    execution_timezone=TZ, default_status=RUNNING, description="Every maintenance task, Sundays 05:00 UTC.")
daily_health_schedule = dg.ScheduleDefinition(
    name="daily_health_schedule", job=health_report_job, cron_schedule="0 7 * * *",
    execution_timezone=TZ, default_status=RUNNING, description="Health report every morning, 07:00 UTC.")

SCHEDULES = [weekly_full_backup_schedule, daily_incr_backup_schedule, nightly_logical_backup_schedule,
             weekly_drill_schedule, weekly_maintenance_schedule, daily_health_schedule]
