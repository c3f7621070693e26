"""Reference data and OHLCV bars: ``market.stocks`` and ``market.price_history``."""

from __future__ import annotations

import dagster as dg

from stockula_pipelines.defs.ingest_common import DB_KINDS, load_table_window
from stockula_pipelines.partitions import daily_partitions, intraday_partitions, partition_window
from stockula_pipelines.resources.market_data import MarketDataResource
from stockula_pipelines.resources.timescale import TimescaleResource
from stockula_pipelines.settings import get_settings

GROUP = "market_data"
SOURCE_POOL = "market_data_source"


@dg.asset(
    key=["market", "stocks"],
    group_name=GROUP,
    kinds=DB_KINDS,
    pool=SOURCE_POOL,
    owners=["team:data-platform"],
)
def stocks(market_data: MarketDataResource, timescale: TimescaleResource) -> dg.MaterializeResult:
    """Reference data of the universe: one row per symbol (name, sector, industry, market cap).

    Upserted, so symbols that leave the source's universe keep their row.
    """
    source = market_data.get_source()
    frame = source.stocks(market_data.symbols_or_none())
    result = timescale.upsert("stocks", frame, source=source.name)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(len(frame)),
            "rows_inserted": dg.MetadataValue.int(result.rows_loaded),
            "rows_updated": dg.MetadataValue.int(result.rows_updated),
            "sectors": dg.MetadataValue.int(frame["sector"].n_unique()),
            "source": dg.MetadataValue.text(source.name),
        }
    )


@dg.asset(
    key=["market", "price_history"],
    group_name=GROUP,
    kinds=DB_KINDS,
    partitions_def=daily_partitions,
    deps=[stocks],
    pool=SOURCE_POOL,
    owners=["team:data-platform"],
    metadata={"interval": "1d", "table": "market.price_history"},
)
def price_history(
    context: dg.AssetExecutionContext, market_data: MarketDataResource, timescale: TimescaleResource
) -> dg.MaterializeResult:
    """Daily OHLCV bars, raw (unadjusted): one row per symbol per trading day (interval '1d').

    Partitioned by trading day of the exchange calendar; a run replaces exactly that day's rows.
    """
    window = partition_window(context.partition_key)
    source = market_data.get_source()
    symbols = market_data.symbols(source)
    frame = source.price_bars(symbols, window[0], window[1], "1d")
    return load_table_window(
        context, timescale, table="price_history", frame=frame, window=window, symbols=symbols,
        source=source.name, interval="1d",
    )


@dg.asset(
    key=["market", "price_history_intraday"],
    group_name=GROUP,
    kinds=DB_KINDS,
    partitions_def=intraday_partitions,
    deps=[stocks],
    pool=SOURCE_POOL,
    owners=["team:data-platform"],
    metadata={"table": "market.price_history"},
)
def price_history_intraday(
    context: dg.AssetExecutionContext, market_data: MarketDataResource, timescale: TimescaleResource
) -> dg.MaterializeResult:
    """Intraday OHLCV bars (STOCKULA_INTRADAY_INTERVAL, default '5m') written to market.price_history:
    one row per symbol per bar inside the session window of the partition.
    """
    interval = get_settings().intraday_interval
    window = partition_window(context.partition_key)
    source = market_data.get_source()
    symbols = market_data.symbols(source)
    frame = source.price_bars(symbols, window[0], window[1], interval)
    return load_table_window(
        context, timescale, table="price_history", frame=frame, window=window, symbols=symbols,
        source=source.name, interval=interval,
    )
