"""Asset checks on the derived assets: price metrics, Greeks and the aggregates.

The checks guarding analysts (returns consistent with adjusted closes, Greeks within bounds) block
the curated models downstream. Every result is also appended to quality.data_quality_results.
"""

from collections.abc import Iterator

import dagster as dg

from stockula_pipelines.defs.quality.results import check_spec, spec_metadata, to_check_result
from stockula_pipelines.lib.quality import derived
from stockula_pipelines.lib.quality.results import CheckSpec, record_results
from stockula_pipelines.resources.timescale import TimescaleResource

PRICE_METRICS = dg.AssetKey(["analytics", "price_metrics"])
OPTION_GREEKS = dg.AssetKey(["analytics", "option_greeks"])
PRICE_AGGREGATES = ("price_history_daily", "price_history_weekly", "price_history_monthly")
VOLUME_AGGREGATES = ("market_volume_hourly", "options_calls_volume_daily", "options_puts_volume_daily",
                     "options_volume_daily")


def _window_checks(key: dg.AssetKey, target: str, checks: tuple[CheckSpec, ...]):
    @dg.multi_asset_check(
        name=f"{'_'.join(key.path)}_quality", specs=[check_spec(key, c) for c in checks], can_subset=False,
    )
    def _check(context: dg.AssetCheckExecutionContext, timescale: TimescaleResource) -> Iterator[dg.AssetCheckResult]:
        with timescale.connection() as conn:
            results = derived.run_window_checks(conn, key.to_user_string(), target, checks)
            record_results(conn, results, run_id=context.op_execution_context.run_id)
        for result in results:
            yield to_check_result(result)

    return _check


def _aggregate_check(name: str, *, ohlc: bool):
    key = dg.AssetKey(["aggregates", name])
    spec = derived.AGGREGATE_OHLC if ohlc else derived.AGGREGATE_VOLUME

    @dg.asset_check(asset=key, name=spec.name, blocking=spec.blocking, description=spec.description,
                    metadata=spec_metadata(spec))
    def _check(context: dg.AssetCheckExecutionContext, timescale: TimescaleResource) -> dg.AssetCheckResult:
        with timescale.connection() as conn:
            results = derived.run_aggregate_checks(conn, key.to_user_string(), ("aggregates", name), ohlc=ohlc)
            record_results(conn, results, run_id=context.op_execution_context.run_id)
        return to_check_result(results[0])

    return _check


def derived_checks() -> list:
    return [
        _window_checks(PRICE_METRICS, "price_metrics", derived.PRICE_METRICS_CHECKS),
        _window_checks(OPTION_GREEKS, "option_greeks", derived.GREEKS_CHECKS),
        *(_aggregate_check(n, ohlc=True) for n in PRICE_AGGREGATES),
        *(_aggregate_check(n, ohlc=False) for n in VOLUME_AGGREGATES),
    ]
