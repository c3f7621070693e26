"""Option chain snapshots: ``market.options_calls`` and ``market.options_puts``."""

from __future__ import annotations

from datetime import date

import dagster as dg

from stockula_pipelines.defs.ingest_common import DB_KINDS, load_table_window
from stockula_pipelines.partitions import daily_partitions, partition_window
from stockula_pipelines.resources.market_data import MarketDataResource
from stockula_pipelines.resources.timescale import TimescaleResource

GROUP = "options"
CALLS = dg.AssetKey(["market", "options_calls"])
PUTS = dg.AssetKey(["market", "options_puts"])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key, group_name=GROUP, kinds=DB_KINDS, deps=[dg.AssetKey(["market", "stocks"])],
            owners=["team:data-platform"],
            description=f"{side.capitalize()} of every listed expiry, snapshot at the session close: "
            "one row per contract per trading day.",
        )
        for key, side in ((CALLS, "calls"), (PUTS, "puts"))
    ],
    partitions_def=daily_partitions,
    pool="market_data_source",
)
def option_chains(
    context: dg.AssetExecutionContext, market_data: MarketDataResource, timescale: TimescaleResource
):
    """Loads both sides of the chain from one request per symbol and expiry."""
    window = partition_window(context.partition_key)
    source = market_data.get_source()
    symbols = market_data.symbols(source)
    calls, puts = source.option_chains(symbols, date.fromisoformat(context.partition_key))
    for key, table, frame in ((CALLS, "options_calls", calls), (PUTS, "options_puts", puts)):
        yield load_table_window(
            context, timescale, table=table, frame=frame, window=window, symbols=symbols,
            source=source.name, asset_key=key,
        )
