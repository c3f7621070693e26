"""Reference data and OHLCV bars: ``market.stocks`` and ``market.price_history``."""


import dagster as dg

from stockula_pipelines.defs.ingest_common import (
    DB_KINDS,
    SINGLE_RUN,
    SOURCE_POOL,
    TableLoad,
    bars_per_symbol,
    fetch_in_batches,
    known_symbols,
    load_fetched,
    log_unlogged_skips,
    run_symbols,
    run_window,
)
from stockula_pipelines.defs.load_plots import column_schema
from stockula_pipelines.defs.retries import retry_on_lost_database
from stockula_pipelines.lib.ingest import upsert
from stockula_pipelines.lib.sources import SourceError
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
    window, keys = run_window(context)
    source = market_data.get_source()
    symbols = run_symbols(market_data, source)
    known = known_symbols(timescale)
    batch_rows = market_data.resolved_settings().load_batch_rows
    load = TableLoad(table="price_history", source=source.name)
    for batch, fetched, seconds in fetch_in_batches(
            market_data, source, symbols, window,
            lambda s: {"price_history": source.price_bars([s], window[0], window[1], interval)},
            "price_history", rows_per_symbol=bars_per_symbol(keys, interval), batch_rows=batch_rows):
        load.fetch_seconds += seconds
        load_fetched(context, timescale, fetched, window=window, source=source.name, interval=interval,
                     known=known, into=load, batch=True)
        if len(batch) < len(symbols):
            context.log.info(f"price_history {interval}: batch {load.batches}: {len(batch)} symbol(s) "
                             f"{batch[0]}..{batch[-1]}, {fetched.frame.height} row(s); {len(load.answered)} of "
                             f"{len(symbols)} symbol(s) answered so far, {load.rows_loaded} row(s) written, "
                             f"{load.rows_unchanged} unchanged")
    log_unlogged_skips(context, timescale, load, window=window, interval=interval)
    if not load.answered:
        # Nothing was replaced: recording the partitions as materialised would hide that no data came.
        raise SourceError(f"price_history: the source answered for no symbol in [{window[0].isoformat()}, "
                          f"{window[1].isoformat()}), nothing was changed: "
                          f"{_describe(load.skipped)}", source=source.name)
    return load.result(interval=dg.MetadataValue.text(interval))


def _describe(skipped: dict[str, str], limit: int = 5) -> str:
    parts = [f"{s}: {why}" for s, why in sorted(skipped.items())[:limit]]
    more = len(skipped) - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


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
