"""Asset checks of analytics/strategy_performance, recorded in quality.data_quality_results."""

from collections.abc import Iterator

import dagster as dg

from stockula_pipelines.defs.quality.results import check_spec, to_check_result
from stockula_pipelines.defs.strategies.assets import KEY
from stockula_pipelines.lib.quality.results import record_results
from stockula_pipelines.lib.strategies.checks import STRATEGY_CHECKS, run_strategy_checks
from stockula_pipelines.resources.timescale import TimescaleResource


@dg.multi_asset_check(
    name="analytics_strategy_performance_quality",
    specs=[check_spec(KEY, c) for c in STRATEGY_CHECKS],
    can_subset=False,
)
def strategy_performance_checks(context: dg.AssetCheckExecutionContext,
                                timescale: TimescaleResource) -> Iterator[dg.AssetCheckResult]:
    """Equity positive, no row without a price, returns consistent with positions and costs (over
    the window the last refresh wrote); recorded in quality.data_quality_results."""
    with timescale.connection() as conn:
        results = run_strategy_checks(conn, KEY.to_user_string())
        record_results(conn, results, run_id=context.op_execution_context.run_id)
    for result in results:
        yield to_check_result(result)
