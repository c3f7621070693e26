"""Keep analytics.strategy_performance current: backtest what the loads since the last run changed.

Which rows to restate follows the adjusted closes the backtest reads (price_metrics' rules, reused):

* a daily-bar load restates, for every strategy version holding the symbol, the rows from the
  load's first day on (equity compounds, so every later row read the new bars);
* a split or dividend that changed (or a bar that a later dividend's factor divides by) restates
  the symbol's whole history, since every earlier adjusted close moved;
* a version or universe member without rows yet is backtested over its whole history.

Each symbol is backtested over its whole stored history and only the rows from the restated start
are written: :mod:`lib.quant.backtest` computes a column independently of the others, so rows before
the start come out identical to those kept. Only loads price_metrics has already processed are
taken, so the adjusted closes read are never older than the bars.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl
import psycopg
from psycopg import sql

from stockula_pipelines.lib.db.refresh_log import lock_target, pending_loads, record_refresh
from stockula_pipelines.lib.db.sqlfiles import SqlFiles
from stockula_pipelines.lib.ingest.copy import copy_frame
from stockula_pipelines.lib.metrics.prices import TARGET as PRICE_METRICS_TARGET
from stockula_pipelines.lib.metrics.prices import plan_price_loads
from stockula_pipelines.lib.quant.backtest import backtest_frame
from stockula_pipelines.lib.strategies.catalogue import Strategy

_SQL = SqlFiles(__file__)

TARGET = "strategy_performance"
SOURCE_TABLES = ("price_history", "dividends", "splits")
# (strategy version, symbol) pairs that already have rows: the others need their whole history.
_SELECT_BACKTESTED_PAIRS = "SELECT DISTINCT strategy_id, symbol FROM analytics.strategy_performance WHERE strategy_id = ANY(%(ids)s::bigint[])"

# Which of these loads another target (price_metrics) has processed: only those are safe to read.
_SELECT_COVERED_LOADS = "SELECT ingest_id FROM ops.refresh_covered WHERE target = %(target)s AND ingest_id = ANY(%(ids)s::bigint[])"

_SELECT_STOCK_SECTORS = "SELECT symbol, sector FROM market.stocks ORDER BY symbol"

_SELECT_STRATEGY_ID = "SELECT strategy_id FROM analytics.strategies WHERE name = %(name)s AND version = %(version)s"


@dataclass
class StrategyReport:
    loads_processed: int = 0
    loads_waiting: int = 0  # not processed by price_metrics yet: left for the next run
    pairs_restated: int = 0
    pairs_full_history: int = 0
    rows_written: int = 0
    symbols: list[str] = field(default_factory=list)
    window: tuple[datetime, datetime] | None = None
    refresh_id: int | None = None
    strategy_ids: dict[str, int] = field(default_factory=dict)  # "name@version" -> strategy_id


def sync_strategies(conn: psycopg.Connection, strategies: Sequence[Strategy]) -> dict[str, int]:
    """Insert each catalogue version not in analytics.strategies yet; returns name@version -> id."""
    ids: dict[str, int] = {}
    for s in strategies:
        params = {"name": s.name, "version": s.version, "kind": s.kind, "description": s.description,
                  "parameters": json.dumps(dict(s.parameters), sort_keys=True),
                  "universe": json.dumps(dict(s.universe), sort_keys=True),
                  "commission_bps": s.commission_bps, "slippage_bps": s.slippage_bps}
        row = conn.execute(_SQL.text("upsert_strategy"), params).fetchone()
        if row is None:  # unchanged: the conditional upsert returned nothing
            row = conn.execute(_SELECT_STRATEGY_ID, params).fetchone()
        ids[f"{s.name}@{s.version}"] = int(row[0])  # type: ignore[index]
    return ids


def refresh_strategy_performance(conn: psycopg.Connection, strategies: Sequence[Strategy], *,
                                 run_id: str | None = None) -> StrategyReport:
    """One transaction (a savepoint inside the caller's): rows, refresh log and covered loads together."""
    with conn.transaction():
        return _refresh(conn, strategies, run_id)


def _ready_loads(conn: psycopg.Connection) -> tuple[list[dict], int]:
    loads = [x for x in pending_loads(conn, TARGET, SOURCE_TABLES)
             if x["table_name"] != "price_history" or x["interval"] == "1d"]
    if not loads:
        return [], 0
    covered = {r[0] for r in conn.execute(
        _SELECT_COVERED_LOADS, {"target": PRICE_METRICS_TARGET, "ids": [x["ingest_id"] for x in loads]})}
    ready = [x for x in loads if x["ingest_id"] in covered]
    return ready, len(loads) - len(ready)


def _plan(conn, strategies, ids, loads) -> dict[tuple[int, str], datetime | None]:
    """Start of the restatement per (strategy_id, symbol); None = the whole history."""
    starts, full = ({}, set()) if not loads else plan_price_loads(conn, loads)[:2]
    sectors = dict(conn.execute(_SELECT_STOCK_SECTORS).fetchall())
    done = {(int(a), b) for a, b in conn.execute(_SELECT_BACKTESTED_PAIRS, {"ids": list(ids.values())})}
    plan: dict[tuple[int, str], datetime | None] = {}
    for s in strategies:
        sid = ids[f"{s.name}@{s.version}"]
        for symbol in s.members(sectors):
            if (sid, symbol) not in done or symbol in full:
                plan[(sid, symbol)] = None
            elif symbol in starts:
                plan[(sid, symbol)] = starts[symbol]
    return plan


def _read_closes(conn: psycopg.Connection, symbols: list[str]) -> pl.DataFrame:
    rows = conn.execute(_SQL.text("select_adjusted_closes"), {"symbols": symbols}).fetchall()
    return pl.DataFrame(rows, orient="row", schema={
        "symbol": pl.String, "date": pl.Date, "time": pl.Datetime("us", "UTC"), "adj_close_price": pl.Float64})


def _backtest(strategies, ids, plan, closes: pl.DataFrame) -> pl.DataFrame:
    frames = []
    for s in strategies:
        sid = ids[f"{s.name}@{s.version}"]
        pairs = {sym: start for (i, sym), start in plan.items() if i == sid}
        if not pairs:
            continue
        result = backtest_frame(closes.filter(pl.col("symbol").is_in(list(pairs))), s.kind, s.parameters, s.cost_bps)
        start = pl.DataFrame({"symbol": list(pairs), "start_time": list(pairs.values())},
                             schema={"symbol": pl.String, "start_time": pl.Datetime("us", "UTC")})
        result = result.join(start, on="symbol").filter(
            pl.col("start_time").is_null() | (pl.col("time") >= pl.col("start_time")))
        frames.append(result.select(
            "time", "date", pl.lit(sid, pl.Int64).alias("strategy_id"), "symbol", "position", "turnover",
            "daily_return", "equity", (pl.col("equity") - 1.0).alias("cumulative_return"), "drawdown", "trades"))
    return pl.concat(frames) if frames else pl.DataFrame()


def _refresh(conn: psycopg.Connection, strategies: Sequence[Strategy], run_id: str | None) -> StrategyReport:
    report = StrategyReport()
    lock_target(conn, TARGET)
    ids = sync_strategies(conn, strategies)
    report.strategy_ids = ids
    loads, report.loads_waiting = _ready_loads(conn)
    plan = _plan(conn, strategies, ids, loads)
    if not loads and not plan:
        return report
    report.loads_processed = len(loads)
    report.pairs_restated = len(plan)
    report.pairs_full_history = sum(1 for v in plan.values() if v is None)
    report.symbols = sorted({sym for _, sym in plan})
    rows = _backtest(strategies, ids, plan, _read_closes(conn, report.symbols)) if plan else pl.DataFrame()
    if rows.height:
        report.window = (rows["time"].min(), rows["time"].max() + timedelta(microseconds=1))
    elif loads:
        report.window = (min(x["window_start"] for x in loads), max(x["window_end"] for x in loads))
    else:
        # New versions over symbols without any adjusted close yet: nothing to write, nothing covered.
        return report
    report.refresh_id = record_refresh(conn, target=TARGET, window=report.window, method="restate-from-start",
                                       rows=rows.height, covers=[x["ingest_id"] for x in loads], run_id=run_id)
    keys = list(plan)
    conn.execute(_SQL.text("delete_strategy_rows"), {
        "ids": [k[0] for k in keys], "symbols": [k[1] for k in keys], "starts": [plan[k] for k in keys]})
    if rows.height:
        conn.execute(_SQL.text("create_staging_strategy_performance"))
        copy_frame(conn, sql.Identifier("staging_strategy_performance"), rows)
        report.rows_written = conn.execute(_SQL.text("insert_strategy_performance"),
                                           {"refresh_id": report.refresh_id}).rowcount
    return report
