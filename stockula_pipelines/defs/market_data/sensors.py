"""Re-load a partition whose source left some symbols out (an error, an empty answer, a rate limit).

Those symbols kept their stored rows and the ``source_coverage`` check names them; this sensor asks
for the partition again, at most :data:`MAX_ATTEMPTS` times, so a transient failure heals by itself
instead of leaving a hole that blocks the ``no_missing_trading_days`` check for good. Option chains are
not retried: no source keeps their history, so a later fetch would be refused anyway
(``lib/ingest/snapshots.py``).
"""

from __future__ import annotations

import dagster as dg

from stockula_pipelines.automation import default_sensor_status
from stockula_pipelines.defs.corporate_actions.schedules import corporate_actions_job
from stockula_pipelines.defs.market_data.schedules import daily_bars_job, intraday_job
from stockula_pipelines.lib.db.sqlfiles import SqlFiles
from stockula_pipelines.resources.timescale import TimescaleResource

MAX_ATTEMPTS = 3
LOOKBACK_DAYS = 7
_SQL = SqlFiles(__file__)


def _job(table: str, interval: str | None) -> dg.UnresolvedAssetJobDefinition:
    if table == "price_history":
        return daily_bars_job if interval == "1d" else intraday_job
    return corporate_actions_job  # dividends and splits load together


@dg.sensor(
    name="retry_skipped_symbols_sensor",
    jobs=[daily_bars_job, intraday_job, corporate_actions_job],
    minimum_interval_seconds=15 * 60,
    default_status=default_sensor_status(),
    description="Re-loads a recent partition whose source failed or answered nothing for some symbols "
                f"(at most {MAX_ATTEMPTS} attempts per partition; option chains are never re-fetched).",
)
def retry_skipped_symbols_sensor(context: dg.SensorEvaluationContext, timescale: TimescaleResource):
    with timescale.connection() as conn:
        rows = conn.execute(_SQL("select_loads_to_retry"), {"tables": ["price_history", "dividends", "splits"],
                                   "lookback_days": LOOKBACK_DAYS}).fetchall()
    requested: set[tuple] = set()
    for ingest_id, table, interval, partition_key, skipped, attempts in rows:
        job = _job(table, interval)
        if attempts > MAX_ATTEMPTS:
            context.log.warning(f"{table} {partition_key}: still missing {', '.join(skipped[:5])} after "
                                f"{MAX_ATTEMPTS} attempts; not retrying (load it by hand once the source is back)")
            continue
        if (job.name, partition_key) in requested:  # dividends and splits: one run for both
            continue
        requested.add((job.name, partition_key))
        yield dg.RunRequest(
            run_key=f"retry-{table}-{ingest_id}", job_name=job.name, partition_key=partition_key,
            tags={"stockula/retry_of_ingest_id": str(ingest_id), "stockula/skipped": ",".join(skipped[:20])},
        )
