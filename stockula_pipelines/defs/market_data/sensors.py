"""Re-load a partition whose source left some symbols out (an error, an empty answer, a rate limit).

Those symbols kept their stored rows and the ``source_coverage`` check names them; this sensor asks
for the partition again, at most :data:`MAX_ATTEMPTS` times, so a transient failure heals by itself
instead of leaving a hole that blocks the ``no_missing_trading_days`` check for good. Option chains are
not retried: no source keeps their history, so a later fetch would be refused anyway
(``lib/ingest/snapshots.py``).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from stockula_pipelines.automation import default_sensor_status
from stockula_pipelines.resources.timescale import TimescaleResource

MAX_ATTEMPTS = 3
LOOKBACK_DAYS = 7
_SQL = (Path(__file__).parent / "sql" / "select_loads_to_retry.sql").read_text(encoding="utf-8")

PRICES = dg.AssetKey(["market", "price_history"])
INTRADAY = dg.AssetKey(["market", "price_history_intraday"])
ACTIONS = [dg.AssetKey(["market", "dividends"]), dg.AssetKey(["market", "splits"])]


def _assets(table: str, interval: str | None) -> list[dg.AssetKey]:
    if table == "price_history":
        return [PRICES if interval == "1d" else INTRADAY]
    return ACTIONS


@dg.sensor(
    name="retry_skipped_symbols_sensor",
    target=[PRICES, INTRADAY, *ACTIONS],
    minimum_interval_seconds=15 * 60,
    default_status=default_sensor_status(),
    description="Re-loads a recent partition whose source failed or answered nothing for some symbols "
                f"(at most {MAX_ATTEMPTS} attempts per partition; option chains are never re-fetched).",
)
def retry_skipped_symbols_sensor(context: dg.SensorEvaluationContext, timescale: TimescaleResource):
    with timescale.connection() as conn:
        rows = conn.execute(_SQL, {"tables": ["price_history", "dividends", "splits"],
                                   "lookback_days": LOOKBACK_DAYS}).fetchall()
    requested: set[tuple] = set()
    for ingest_id, table, interval, partition_key, skipped, attempts in rows:
        assets = _assets(table, interval)
        if attempts > MAX_ATTEMPTS:
            context.log.warning(f"{table} {partition_key}: still missing {', '.join(skipped[:5])} after "
                                f"{MAX_ATTEMPTS} attempts; not retrying (load it by hand once the source is back)")
            continue
        target = (tuple(a.to_user_string() for a in assets), partition_key)
        if target in requested:  # dividends and splits load together: one run for both
            continue
        requested.add(target)
        yield dg.RunRequest(
            run_key=f"retry-{table}-{ingest_id}", partition_key=partition_key, asset_selection=assets,
            tags={"stockula/retry_of_ingest_id": str(ingest_id), "stockula/skipped": ",".join(skipped[:20])},
        )
