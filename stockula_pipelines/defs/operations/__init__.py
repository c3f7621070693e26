"""Operations: backups (pgBackRest, pg_dump), restore drills, maintenance, health, and alerting sensors."""

import dagster as dg

from stockula_pipelines.defs.operations import jobs, schedules, sensors


def definitions() -> dg.Definitions:
    return dg.Definitions(jobs=jobs.JOBS, schedules=schedules.SCHEDULES, sensors=sensors.SENSORS)
