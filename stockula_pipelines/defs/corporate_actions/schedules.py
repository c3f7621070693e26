"""Dividends and splits: the monthly reload that runs before each night's bars."""

import dagster as dg

from stockula_pipelines.automation import default_status
from stockula_pipelines.partitions import EXCHANGE_TZ, session_today

corporate_actions_job = dg.define_asset_job(
    "corporate_actions_job",
    selection=dg.AssetSelection.assets(["market", "dividends"], ["market", "splits"]),
    description="Dividends and splits of one month (the nightly run reloads the current month).",
)


@dg.schedule(job=corporate_actions_job, cron_schedule="0 17 * * 1-5", execution_timezone=EXCHANGE_TZ,
             default_status=default_status())
def corporate_actions_schedule(context: dg.ScheduleEvaluationContext):
    """After the close on trading days, before the bars: reload the month in progress (its dividends
    and splits so far), so the bars' jump check already knows a split that goes ex today."""
    day = session_today(context.scheduled_execution_time)
    if day is None:
        return dg.SkipReason("not a trading day on the exchange calendar")
    return dg.RunRequest(run_key=f"ca-{day}", partition_key=day[:7])
