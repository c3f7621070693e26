"""Derived metrics written into the raw tables: adjusted prices, returns, volatility, option Greeks."""


import dagster as dg

from stockula_pipelines.automation import after_upstream_loads
from stockula_pipelines.lib.metrics.greeks import refresh_option_greeks
from stockula_pipelines.lib.metrics.prices import refresh_price_metrics
from stockula_pipelines.resources.timescale import TimescaleResource
from stockula_pipelines.settings import get_settings

GROUP = "analytics"
KINDS = {"python", "polars", "postgres"}


def _window_meta(window) -> dict[str, dg.MetadataValue]:
    if window is None:
        return {"window": dg.MetadataValue.text("nothing pending")}
    return {
        "window_start": dg.MetadataValue.text(window[0].isoformat()),
        "window_end": dg.MetadataValue.text(window[1].isoformat()),
    }


@dg.asset(
    key=["analytics", "price_metrics"],
    group_name=GROUP,
    kinds=KINDS,
    deps=[dg.AssetKey(["market", "price_history"]), dg.AssetKey(["market", "dividends"]),
          dg.AssetKey(["market", "splits"])],
    owners=["team:data-platform"],
    automation_condition=after_upstream_loads,
    metadata={"writes": "market.price_history (adj_close_price, daily_return, volatility) of '1d' bars"},
)
def price_metrics(context: dg.AssetExecutionContext, timescale: TimescaleResource) -> dg.MaterializeResult:
    """Adjusted close, daily return and rolling volatility: one row per symbol per trading day
    (the daily bars' derived columns).

    Catches up every daily-bar and corporate-action load since its last run (from ops.ingest_log):
    touched windows are recomputed with the lookback the rolling window needs, and a symbol with a new
    split or dividend is recomputed over its whole history.
    """
    settings = get_settings()
    window = settings.volatility_window
    with timescale.connection() as conn:
        report = refresh_price_metrics(conn, window=window, run_id=context.run.run_id, exchange=settings.exchange)
    context.log.info(
        f"price metrics: {report.loads_processed} load(s), {report.rows_updated} row(s) changed, "
        f"{len(report.symbols_full_history)} symbol(s) recomputed over full history"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(report.rows_computed),
            "rows_updated": dg.MetadataValue.int(report.rows_updated),
            "loads_processed": dg.MetadataValue.int(report.loads_processed),
            "symbols_windowed": dg.MetadataValue.int(len(report.symbols_windowed)),
            "symbols_full_history": dg.MetadataValue.json(report.symbols_full_history),
            "volatility_window": dg.MetadataValue.int(window),
            **_window_meta(report.window),
        }
    )


@dg.asset(
    key=["analytics", "option_greeks"],
    group_name=GROUP,
    kinds=KINDS,
    deps=[dg.AssetKey(["market", "options_calls"]), dg.AssetKey(["market", "options_puts"]),
          dg.AssetKey(["market", "dividends"])],
    owners=["team:data-platform"],
    automation_condition=after_upstream_loads,
    metadata={"writes": "market.options_calls/options_puts (implied_volatility, Greeks, greeks_status)"},
)
def option_greeks(context: dg.AssetExecutionContext, timescale: TimescaleResource) -> dg.MaterializeResult:
    """Implied volatility (from the mid price) and BSM Greeks: one row per contract per snapshot
    (the options tables' IV and Greeks columns).

    Rate from STOCKULA_RISK_FREE_RATE; dividend yield per underlying = trailing-year dividends over the
    underlying price. Contracts without a solution keep NULLs and a reason in greeks_status.
    """
    rate = get_settings().risk_free_rate
    with timescale.connection() as conn:
        report = refresh_option_greeks(conn, risk_free_rate=rate, run_id=context.run.run_id)
    unsolved = {k: v for k, v in report.reasons.items() if k != "ok"}
    if unsolved:
        context.log.info(f"option greeks: no implied volatility for {sum(unsolved.values())} contract(s): {unsolved}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(report.contracts),
            "contracts": dg.MetadataValue.int(report.contracts),
            "solved": dg.MetadataValue.int(report.solved),
            "unsolved_by_reason": dg.MetadataValue.json(unsolved),
            "risk_free_rate": dg.MetadataValue.float(rate),
            "dividend_yield_mean": dg.MetadataValue.float(report.dividend_yield_mean or 0.0),
            "loads_processed": dg.MetadataValue.int(report.loads_processed),
            **_window_meta(report.window),
        }
    )
