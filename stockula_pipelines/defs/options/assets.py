"""Option chain snapshots: ``market.options_calls`` and ``market.options_puts``."""


from datetime import date

import dagster as dg

from stockula_pipelines.defs.ingest_common import (
    DB_KINDS,
    SINGLE_RUN,
    SOURCE_POOL,
    fetch,
    known_symbols,
    load_fetched,
    run_symbols,
)
from stockula_pipelines.defs.retries import retry_on_lost_database
from stockula_pipelines.lib.ingest.snapshots import snapshot_problem
from stockula_pipelines.lib.sources import SourceError
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
            description=f"Option {side} of every listed expiry, snapshot at the session close: "
            "one row per contract per trading day.",
        )
        for key, side in ((CALLS, "calls"), (PUTS, "puts"))
    ],
    partitions_def=daily_partitions,
    backfill_policy=SINGLE_RUN,
    pool=SOURCE_POOL,
)
@retry_on_lost_database
def option_chains(context: dg.AssetExecutionContext, market_data: MarketDataResource,
                  timescale: TimescaleResource):
    """Both sides of the chain from one request per symbol and expiry; one load per snapshot day.

    The partition's session is the snapshot's identity: a chain fetched outside it (sources keep no
    history) is refused for that symbol, which keeps the day's stored chain.
    """
    source = market_data.get_source()
    symbols = run_symbols(market_data, source)
    known = known_symbols(timescale)
    exchange = market_data.resolved_settings().exchange
    loads = {}
    for key in context.partition_keys:
        window = partition_window(key)
        day = date.fromisoformat(key)

        def chains(symbol: str, day: date = day) -> dict:
            calls, puts = source.option_chains([symbol], day)
            problem = snapshot_problem(calls, day, exchange=exchange) or snapshot_problem(puts, day, exchange=exchange)
            if problem:
                raise SourceError(problem, source=source.name, symbol=symbol)
            return {"options_calls": calls, "options_puts": puts}

        fetched = fetch(market_data, source, symbols, window, chains, ["options_calls", "options_puts"])
        for table in ("options_calls", "options_puts"):
            # Each day is its own load: its quarantined rows belong to that day's partition.
            loads[table] = load_fetched(context, timescale, fetched[table], window=window, source=source.name,
                                        known=known, into=loads.get(table), partition_key=key)
    yield loads["options_calls"].result(CALLS)
    yield loads["options_puts"].result(PUTS)
