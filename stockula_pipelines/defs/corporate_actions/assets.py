"""Corporate actions: ``market.dividends`` and ``market.splits``."""


import dagster as dg

from stockula_pipelines.defs.ingest_common import (
    DB_KINDS,
    SINGLE_RUN,
    SOURCE_POOL,
    fetch,
    known_symbols,
    load_fetched,
    run_symbols,
    run_window,
)
from stockula_pipelines.defs.retries import retry_on_lost_database
from stockula_pipelines.partitions import corporate_action_partitions
from stockula_pipelines.resources.market_data import MarketDataResource
from stockula_pipelines.resources.timescale import TimescaleResource

GROUP = "corporate_actions"
DIVIDENDS = dg.AssetKey(["market", "dividends"])
SPLITS = dg.AssetKey(["market", "splits"])
STOCKS = dg.AssetKey(["market", "stocks"])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(DIVIDENDS, group_name=GROUP, kinds=DB_KINDS, deps=[STOCKS], owners=["team:data-platform"],
                     description="Cash dividends: one row per symbol per ex-date."),
        dg.AssetSpec(SPLITS, group_name=GROUP, kinds=DB_KINDS, deps=[STOCKS], owners=["team:data-platform"],
                     description="Stock splits: one row per symbol per ex-date (ratio = new shares per old)."),
    ],
    partitions_def=corporate_action_partitions,
    backfill_policy=SINGLE_RUN,
    pool=SOURCE_POOL,
)
@retry_on_lost_database
def corporate_actions(context: dg.AssetExecutionContext, market_data: MarketDataResource,
                      timescale: TimescaleResource):
    """Dividends and splits whose ex-date falls in the run's month(s), exchange time.

    Monthly partitions: the nightly schedule reloads the month in progress, which also picks up
    actions announced late for earlier days of the month. A reload that changes nothing reports no
    changed symbols (``symbols_changed``), so nothing downstream is restated.
    """
    window, _keys = run_window(context)
    source = market_data.get_source()
    symbols = run_symbols(market_data, source)
    known = known_symbols(timescale)
    fetched = fetch(market_data, source, symbols, window,
                    lambda s: {"dividends": source.dividends([s], *window), "splits": source.splits([s], *window)},
                    ["dividends", "splits"])
    for key, table in ((DIVIDENDS, "dividends"), (SPLITS, "splits")):
        load = load_fetched(context, timescale, fetched[table], window=window, source=source.name, known=known)
        yield load.result(key)
