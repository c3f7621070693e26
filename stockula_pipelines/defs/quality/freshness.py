"""Freshness checks in exchange time, evaluated after each load and hourly by a schedule.

Unpartitioned on purpose: freshness is a property of the table "now", not of one partition.
"""


from datetime import UTC, datetime

import dagster as dg

from stockula_pipelines.automation import default_status
from stockula_pipelines.defs.quality.results import spec_metadata, to_check_result
from stockula_pipelines.lib.quality.freshness import FRESHNESS, check_freshness
from stockula_pipelines.lib.quality.results import record_results
from stockula_pipelines.partitions import EXCHANGE_TZ
from stockula_pipelines.resources.timescale import TimescaleResource
from stockula_pipelines.settings import get_settings

TARGETS = {
    dg.AssetKey(["market", "price_history"]): "price_history",
    dg.AssetKey(["market", "price_history_intraday"]): "price_history_intraday",
    dg.AssetKey(["market", "options_calls"]): "options_calls",
    dg.AssetKey(["market", "options_puts"]): "options_puts",
}


def freshness_check(key: dg.AssetKey, target: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=key, name=FRESHNESS.name, blocking=FRESHNESS.blocking, description=FRESHNESS.description,
                    metadata=spec_metadata(FRESHNESS))
    def _check(context: dg.AssetCheckExecutionContext, timescale: TimescaleResource) -> dg.AssetCheckResult:
        settings = get_settings()
        with timescale.connection() as conn:
            result = check_freshness(conn, target, datetime.now(UTC), asset_key=key.to_user_string(),
                                     exchange=settings.exchange, intraday_interval=settings.intraday_interval)
            record_results(conn, [result], run_id=context.op_execution_context.run_id)
        return to_check_result(result)

    return _check


def freshness_checks() -> list[dg.AssetChecksDefinition]:
    return [freshness_check(key, target) for key, target in TARGETS.items()]


freshness_job = dg.define_asset_job(
    "freshness_checks_job",
    selection=dg.AssetSelection.checks(*(dg.AssetCheckKey(k, FRESHNESS.name) for k in TARGETS)),
    description="Evaluate the freshness checks of the price and options assets.",
)

freshness_schedule = dg.ScheduleDefinition(
    name="freshness_checks_schedule", job=freshness_job, cron_schedule="15 * * * *",
    execution_timezone=EXCHANGE_TZ,
    description="Hourly: are the latest completed sessions loaded?",
    default_status=default_status(),
)
