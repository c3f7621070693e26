"""Nightly, intraday and reference-data loads, on the exchange's clock.

Schedules tick on plain crons in the exchange time zone; the evaluation function then asks the
exchange calendar whether there is a session to load, so holidays and early closes need no cron of
their own.
"""


import dagster as dg

from stockula_pipelines.automation import default_status
from stockula_pipelines.partitions import EXCHANGE_TZ, last_completed_intraday_key, session_today

end_of_day_job = dg.define_asset_job(
    "end_of_day_job",
    selection=dg.AssetSelection.assets(
        ["market", "price_history"], ["market", "options_calls"], ["market", "options_puts"]
    ),
    description="Daily bars and option chain snapshots of one trading day.",
)
daily_bars_job = dg.define_asset_job(
    "daily_bars_job",
    selection=dg.AssetSelection.assets(["market", "price_history"]),
    description="Daily bars of one trading day (re-loads; the nightly run is end_of_day_job).",
)
intraday_job = dg.define_asset_job(
    "intraday_job",
    selection=dg.AssetSelection.assets(["market", "price_history_intraday"]),
    description="Intraday bars of one window of the session.",
)
reference_data_job = dg.define_asset_job(
    "reference_data_job",
    selection=dg.AssetSelection.assets(["market", "stocks"]),
    description="Reference data of the universe (names, sectors, market caps).",
)


@dg.schedule(job=end_of_day_job, cron_schedule="30 17 * * 1-5", execution_timezone=EXCHANGE_TZ,
             default_status=default_status())
def end_of_day_schedule(context: dg.ScheduleEvaluationContext):
    """After the close on trading days: load that session's daily bars and option chains."""
    day = session_today(context.scheduled_execution_time)
    if day is None:
        return dg.SkipReason("not a trading day on the exchange calendar")
    return dg.RunRequest(run_key=f"eod-{day}", partition_key=day)


@dg.schedule(job=intraday_job, cron_schedule="*/15 9-16 * * 1-5", execution_timezone=EXCHANGE_TZ,
             default_status=default_status())
def intraday_schedule(context: dg.ScheduleEvaluationContext):
    """Every 15 minutes during market hours: the latest completed intraday window (idempotent by run_key)."""
    key = last_completed_intraday_key(context.scheduled_execution_time)
    if key is None:
        return dg.SkipReason("no completed intraday window yet (market closed, holiday or before the first window)")
    return dg.RunRequest(run_key=f"intraday-{key}", partition_key=key)


@dg.schedule(job=reference_data_job, cron_schedule="0 6 * * 1", execution_timezone=EXCHANGE_TZ,
             default_status=default_status())
def reference_data_schedule(_context: dg.ScheduleEvaluationContext):
    """Weekly, before Monday's session: refresh names, sectors and market caps."""
    return dg.RunRequest()
