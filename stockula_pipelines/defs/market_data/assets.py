"""Reference data and OHLCV bars: ``market.stocks`` and ``market.price_history``."""


import dagster as dg

from stockula_pipelines.defs.ingest_common import (
    DB_KINDS,
    SINGLE_RUN,
    SOURCE_POOL,
    fetch,
    load_fetched,
    run_symbols,
    run_window,
)
from stockula_pipelines.defs.load_plots import column_schema
from stockula_pipelines.defs.retries import retry_on_lost_database
from stockula_pipelines.lib.ingest import upsert
from stockula_pipelines.partitions import daily_partitions, intraday_partitions
from stockula_pipelines.resources.market_data import MarketDataResource
from stockula_pipelines.resources.timescale import TimescaleResource

GROUP = "market_data"
OWNERS = ["team:data-platform"]


@dg.asset(key=["market", "stocks"], group_name=GROUP, kinds=DB_KINDS, pool=SOURCE_POOL, owners=OWNERS)
@retry_on_lost_database
def stocks(context: dg.AssetExecutionContext, market_data: MarketDataResource,
           timescale: TimescaleResource) -> dg.MaterializeResult:
    """Reference data of the universe: one row per symbol (name, sector, industry, market cap).

    Upserted, so symbols that leave the source's universe keep their row.
    """
    source = market_data.get_source()
    frame = source.stocks(run_symbols(market_data, source))
    with timescale.connection() as conn:
        result = upsert(conn, "stocks", frame, source=source.name, run_id=context.run.run_id)
        columns = column_schema(conn, "market", "stocks")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(len(frame)),
            "rows_inserted": dg.MetadataValue.int(result.rows_loaded),
            "rows_updated": dg.MetadataValue.int(result.rows_updated),
            "sectors": dg.MetadataValue.int(frame["sector"].n_unique()),
            "source": dg.MetadataValue.text(source.name),
            "dagster/column_schema": dg.MetadataValue.table_schema(columns),
        }
    )


@dg.asset(
    key=["market", "price_history"], group_name=GROUP, kinds=DB_KINDS, partitions_def=daily_partitions,
    backfill_policy=SINGLE_RUN, deps=[stocks], pool=SOURCE_POOL, owners=OWNERS,
    metadata={"interval": "1d", "table": "market.price_history"},
)
@retry_on_lost_database
def price_history(context: dg.AssetExecutionContext, market_data: MarketDataResource,
                  timescale: TimescaleResource) -> dg.MaterializeResult:
    """Daily OHLCV bars, raw (unadjusted): one row per symbol per trading day (interval '1d').

    Partitioned by trading day of the exchange calendar; a run replaces exactly its days' rows.
    """
    return _load_bars(context, market_data, timescale, "1d")


def _load_bars(context: dg.AssetExecutionContext, market_data: MarketDataResource,
               timescale: TimescaleResource, interval: str) -> dg.MaterializeResult:
    window, _keys = run_window(context)
    source = market_data.get_source()
    fetched = fetch(market_data, source, run_symbols(market_data, source), window,
                    lambda s: {"price_history": source.price_bars([s], window[0], window[1], interval)},
                    ["price_history"])["price_history"]
    load = load_fetched(context, timescale, fetched, window=window, source=source.name, interval=interval)
    return load.result(interval=dg.MetadataValue.text(interval))


@dg.asset(
    key=["market", "price_history_intraday"], group_name=GROUP, kinds=DB_KINDS,
    partitions_def=intraday_partitions, backfill_policy=SINGLE_RUN, deps=[stocks], pool=SOURCE_POOL,
    owners=OWNERS, metadata={"table": "market.price_history"},
)
@retry_on_lost_database
def price_history_intraday(context: dg.AssetExecutionContext, market_data: MarketDataResource,
                           timescale: TimescaleResource) -> dg.MaterializeResult:
    """Intraday OHLCV bars written to market.price_history with their own interval
    (STOCKULA_INTRADAY_INTERVAL, default '5m'): one row per symbol per bar of the partition's
    session window.
    """
    return _load_bars(context, market_data, timescale, market_data.resolved_settings().intraday_interval)
