"""How everything downstream of the loads runs by itself: one automation condition, one sensor.

The schedules start the loads (``defs/market_data/schedules.py``); every derived asset (metrics,
Greeks, aggregates, curated models, the quarantine report) carries :data:`after_upstream_loads`, and
the code location declares its own automation sensor, so nothing depends on Dagster's default
automation sensor (which ships turned off).

``after_upstream_loads`` requests an asset once per upstream change: when a dependency was updated
since the asset was last requested, no dependency is still running (its checks run in the same run)
and no blocking check of a dependency has a failing latest result. Dagster's ``eager()`` does not fit
an unpartitioned asset reading partitioned tables: it waits until no upstream partition is missing,
which for history back to 2000 is never.

Whether the schedules and sensors start RUNNING is one setting, ``STOCKULA_AUTOMATION_RUNNING``
(read when the code location loads; false by default for a laptop, true in the compose deployment).
Each can still be switched in the UI's Automation page.
"""

from __future__ import annotations

import dagster as dg

from stockula_pipelines.settings import get_settings

AC = dg.AutomationCondition

_blocking_check_failed = AC.any_deps_match(
    AC.any_checks_match(AC.check_failed(), blocking_only=True)
).with_label("any_dep_blocking_check_failed")

after_upstream_loads = (
    AC.any_deps_updated().since_last_handled()
    & ~AC.any_deps_in_progress()
    & ~AC.in_progress()
    & ~_blocking_check_failed
).with_label("after_upstream_loads")


def default_status() -> dg.DefaultScheduleStatus:
    return dg.DefaultScheduleStatus.RUNNING if get_settings().automation_running else dg.DefaultScheduleStatus.STOPPED


def default_sensor_status() -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if get_settings().automation_running else dg.DefaultSensorStatus.STOPPED


def automation_sensor() -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        "stockula_automation_sensor",
        target=dg.AssetSelection.all(),
        default_status=default_sensor_status(),
        minimum_interval_seconds=60,
        description="Runs the derived assets (metrics, Greeks, aggregates, curated models, quarantine "
                    "report) after the loads they read, once their blocking checks passed.",
    )
