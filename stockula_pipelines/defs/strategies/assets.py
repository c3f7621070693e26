"""Backtests of the catalogued strategies, kept current with the nightly chain."""

from pathlib import Path

import dagster as dg

from stockula_pipelines.automation import after_upstream_loads
from stockula_pipelines.lib.strategies.catalogue import Strategy, load_catalogue
from stockula_pipelines.lib.strategies.refresh import refresh_strategy_performance
from stockula_pipelines.lib.strategies.report import equity_markdown, portfolio_series
from stockula_pipelines.resources.timescale import TimescaleResource

GROUP = "strategies"
KEY = dg.AssetKey(["analytics", "strategy_performance"])
CATALOGUE = Path(__file__).parent / "catalogue.yml"


def catalogue() -> list[Strategy]:
    return load_catalogue(CATALOGUE)


@dg.asset(
    key=KEY,
    group_name=GROUP,
    kinds={"python", "numpy", "postgres"},
    deps=[dg.AssetKey(["analytics", "price_metrics"])],
    owners=["team:data-platform"],
    automation_condition=after_upstream_loads,
    metadata={"writes": "analytics.strategies, analytics.strategy_performance",
              "catalogue": "stockula_pipelines/defs/strategies/catalogue.yml"},
)
def strategy_performance(context: dg.AssetExecutionContext, timescale: TimescaleResource) -> dg.MaterializeResult:
    """Daily backtests of the catalogued strategies: one row per strategy version per symbol per
    trading day (position, turnover, return after costs, equity, drawdown).

    Catches up every daily-bar and corporate-action load price_metrics has processed since the last
    run: a symbol's rows are restated from the first touched day, or over its whole history when a
    split or dividend changed its adjusted closes; a new strategy version is backtested from scratch.
    """
    strategies = catalogue()
    with timescale.connection() as conn:
        report = refresh_strategy_performance(conn, strategies, run_id=context.run.run_id)
        current = {f"{s.name}@{s.version}": report.strategy_ids[f"{s.name}@{s.version}"] for s in strategies}
        series = portfolio_series(conn, list(current.values()))
    if report.loads_waiting:
        context.log.info(f"{report.loads_waiting} load(s) not processed by price_metrics yet: left for the next run")
    curves = {name: series[sid] for name, sid in current.items() if sid in series}
    metadata: dict[str, dg.MetadataValue] = {
        "dagster/row_count": dg.MetadataValue.int(report.rows_written),
        "rows_written": dg.MetadataValue.int(report.rows_written),
        "loads_processed": dg.MetadataValue.int(report.loads_processed),
        "loads_waiting": dg.MetadataValue.int(report.loads_waiting),
        "pairs_restated": dg.MetadataValue.int(report.pairs_restated),
        "pairs_full_history": dg.MetadataValue.int(report.pairs_full_history),
        "versions": dg.MetadataValue.json(current),
        "equity_curves": dg.MetadataValue.md(equity_markdown(curves) if curves else "no backtest rows yet"),
    }
    # Numeric entries: the UI's Plots tab charts each one across materializations.
    for name, s in curves.items():
        metadata[f"final_equity/{name.split('@')[0]}"] = dg.MetadataValue.float(float(s.equity[-1]))
    if report.window:
        metadata["window_start"] = dg.MetadataValue.text(report.window[0].isoformat())
        metadata["window_end"] = dg.MetadataValue.text(report.window[1].isoformat())
    return dg.MaterializeResult(metadata=metadata)
