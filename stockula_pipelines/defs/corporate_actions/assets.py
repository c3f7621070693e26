"""Corporate actions: ``market.dividends`` and ``market.splits``."""

from __future__ import annotations

import dagster as dg

from stockula_pipelines.defs.ingest_common import DB_KINDS, load_table_window
from stockula_pipelines.partitions import daily_partitions, partition_window
from stockula_pipelines.resources.market_data import MarketDataResource
from stockula_pipelines.resources.timescale import TimescaleResource

GROUP = "corporate_actions"
DIVIDENDS = dg.AssetKey(["market", "dividends"])
SPLITS = dg.AssetKey(["market", "splits"])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(DIVIDENDS, group_name=GROUP, kinds=DB_KINDS, deps=[dg.AssetKey(["market", "stocks"])],
                     owners=["team:data-platform"],
                     description="Cash dividends: one row per symbol per ex-date."),
        dg.AssetSpec(SPLITS, group_name=GROUP, kinds=DB_KINDS, deps=[dg.AssetKey(["market", "stocks"])],
                     owners=["team:data-platform"],
                     description="Stock splits: one row per symbol per ex-date (ratio = new shares per old)."),
    ],
    partitions_def=daily_partitions,
    pool="market_data_source",
)
def corporate_actions(
    context: dg.AssetExecutionContext, market_data: MarketDataResource, timescale: TimescaleResource
):
    """Dividends and splits whose ex-date is the partition's trading day."""
    window = partition_window(context.partition_key)
    source = market_data.get_source()
    symbols = market_data.symbols(source)
    yield load_table_window(
        context, timescale, table="dividends", frame=source.dividends(symbols, *window), window=window,
        symbols=symbols, source=source.name, asset_key=DIVIDENDS,
    )
    yield load_table_window(
        context, timescale, table="splits", frame=source.splits(symbols, *window), window=window,
        symbols=symbols, source=source.name, asset_key=SPLITS,
    )
