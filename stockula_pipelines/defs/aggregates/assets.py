"""The aggregates: continuous aggregates on the full edition, rollup tables on the Apache edition.

Not partitioned: each asset reads the loads of the ingest log it has not processed (``lib/aggregates``), so one
materialisation catches up whatever loads happened before it, whichever partitions they were.
"""

import dagster as dg
from psycopg import sql

from stockula_pipelines.automation import after_upstream_loads
from stockula_pipelines.defs.load_plots import aggregate_plot, column_schema
from stockula_pipelines.defs.retries import retry_on_lost_database
from stockula_pipelines.lib.aggregates import AGGREGATES, RefreshResult, refresh_aggregate
from stockula_pipelines.resources.timescale import TimescaleResource

GROUP = "aggregates"
KINDS = {"timescaledb", "sql"}
_DAILY = dg.AssetKey(["market", "price_history"])
_INTRADAY = dg.AssetKey(["market", "price_history_intraday"])
_CALLS = dg.AssetKey(["market", "options_calls"])
_PUTS = dg.AssetKey(["market", "options_puts"])

# name -> (upstream asset, description with the grain)
_SPECS: dict[str, tuple[dg.AssetKey, str]] = {
    "price_history_daily": (_INTRADAY, (
        "Daily OHLCV from the 5-minute bars only: one row per symbol per trading day "
        "(bucket = 00:00 exchange time).")),
    "price_history_weekly": (_DAILY, (
        "Weekly OHLCV from the daily bars only: one row per symbol per week "
        "(bucket = Monday 00:00 exchange time).")),
    "price_history_monthly": (_DAILY, (
        "Monthly OHLCV from the daily bars only: one row per symbol per calendar month "
        "(bucket = the 1st, 00:00 exchange time).")),
    "market_volume_hourly": (_INTRADAY, (
        "Market-wide volume and trading value from the 5-minute bars: one row per UTC hour.")),
    "options_calls_volume_daily": (_CALLS, (
        "Call activity (volume, open interest, contracts): one row per symbol per trading day "
        "(bucket = 00:00 exchange time).")),
    "options_puts_volume_daily": (_PUTS, (
        "Put activity (volume, open interest, contracts): one row per symbol per trading day "
        "(bucket = 00:00 exchange time).")),
}


_COUNT_ROWS = "SELECT count(*) FROM {target}"
_COUNT_OPTIONS_VOLUME_DAILY = (
    "SELECT option_type, count(*), max(bucket) FROM aggregates.options_volume_daily GROUP BY option_type")


def _metadata(result: RefreshResult, total_rows: int) -> dict[str, dg.MetadataValue]:
    return {
        "dagster/row_count": dg.MetadataValue.int(total_rows),
        "method": dg.MetadataValue.text(result.method),
        "rows_written": dg.MetadataValue.int(result.rows_written),
        "loads_covered": dg.MetadataValue.int(result.loads),
        "windows_refreshed": dg.MetadataValue.json(
            [{"start": s.isoformat(), "end": e.isoformat()} for s, e in result.windows]),
        "last_ingest_id": dg.MetadataValue.int(result.last_ingest_id or 0),
    }


def _build(name: str, upstream: dg.AssetKey, description: str) -> dg.AssetsDefinition:
    agg = AGGREGATES[name]

    @dg.asset(
        name=name,
        key_prefix=["aggregates"],
        group_name=GROUP,
        kinds=KINDS,
        deps=[upstream],
        description=description,
        automation_condition=after_upstream_loads,
        owners=["team:data-platform"],
        metadata={"grain": agg.grain, "source": f"market.{agg.source_table}",
                  "intervals": ",".join(agg.intervals or ()) or "all"},
    )
    @retry_on_lost_database
    def _asset(context: dg.AssetExecutionContext, timescale: TimescaleResource) -> dg.MaterializeResult:
        caps = timescale.capabilities()
        # refresh_continuous_aggregate refuses a transaction block, so always autocommit; the
        # rollup path opens its own transaction.
        with timescale.autocommit_connection() as conn:
            result = refresh_aggregate(conn, agg, caps=caps, run_id=context.run.run_id)
            row = conn.execute(sql.SQL(_COUNT_ROWS).format(target=agg.identifier)).fetchone()
            columns = column_schema(conn, "aggregates", name)
            plot = aggregate_plot(conn, agg.identifier) if "close_price" in agg.columns else {}
        context.log.info(
            f"{agg.target}: {result.method} over {len(result.windows)} window(s) from {result.loads} load(s), "
            f"{result.rows_written} row(s) written")
        return dg.MaterializeResult(metadata={**_metadata(result, int(row[0]) if row else 0),
                                              "dagster/column_schema": dg.MetadataValue.table_schema(columns),
                                              **plot})

    return _asset


price_history_daily = _build("price_history_daily", *_SPECS["price_history_daily"])
price_history_weekly = _build("price_history_weekly", *_SPECS["price_history_weekly"])
price_history_monthly = _build("price_history_monthly", *_SPECS["price_history_monthly"])
market_volume_hourly = _build("market_volume_hourly", *_SPECS["market_volume_hourly"])
options_calls_volume_daily = _build("options_calls_volume_daily", *_SPECS["options_calls_volume_daily"])
options_puts_volume_daily = _build("options_puts_volume_daily", *_SPECS["options_puts_volume_daily"])


@dg.asset(
    key=["aggregates", "options_volume_daily"],
    group_name=GROUP,
    kinds=KINDS,
    deps=[dg.AssetKey(["aggregates", "options_calls_volume_daily"]),
          dg.AssetKey(["aggregates", "options_puts_volume_daily"])],
    automation_condition=after_upstream_loads,
    owners=["team:data-platform"],
    metadata={"grain": "day"},
)
def options_volume_daily(timescale: TimescaleResource) -> dg.MaterializeResult:
    """Options activity: one row per symbol per option type (call/put) per trading day.

    A view over the calls and puts aggregates; materialising it checks it is readable and reports it.
    """
    with timescale.connection() as conn:
        rows = conn.execute(_COUNT_OPTIONS_VOLUME_DAILY).fetchall()
        columns = column_schema(conn, "aggregates", "options_volume_daily")
    counts = {option_type: int(n) for option_type, n, _latest in rows}
    latest = max((b for _t, _n, b in rows if b is not None), default=None)
    return dg.MaterializeResult(metadata={
        "dagster/row_count": dg.MetadataValue.int(sum(counts.values())),
        "rows_by_option_type": dg.MetadataValue.json(counts),
        "latest_bucket": dg.MetadataValue.text(latest.isoformat() if latest else "none"),
        "dagster/column_schema": dg.MetadataValue.table_schema(columns),
    })
