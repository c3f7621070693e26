"""Adjusted close, daily return and volatility of the daily bars, kept current from the ingest log.

A new daily bar needs the ``window + 1`` bars before it (the lookback) so that a partition boundary
never changes a value; rows after the touched window are recomputed too, since their returns read
the touched bars. A new or removed dividend or split changes every earlier adjusted price of its
symbol, so such a symbol is recomputed over its whole history; so is a symbol whose next dividend
goes ex after a newly loaded bar, since that bar may be the "close before the ex-date" its factor
divides by.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl
import psycopg
from psycopg import sql

from stockula_pipelines.lib.calendar import DEFAULT_EXCHANGE, get_calendar
from stockula_pipelines.lib.db.refresh_log import lock_target, pending_loads, record_refresh
from stockula_pipelines.lib.db.sqlfiles import SqlFiles
from stockula_pipelines.lib.ingest.copy import copy_frame
from stockula_pipelines.lib.quant.returns import compute_price_metrics

_SQL = SqlFiles(__file__)

TARGET = "price_metrics"


_SELECT_ACTIONS = """
SELECT 'dividend' AS kind, symbol, ex_date, amount AS value FROM market.dividends WHERE symbol = ANY(%(symbols)s)
UNION ALL
SELECT 'split' AS kind, symbol, ex_date, ratio AS value FROM market.splits WHERE symbol = ANY(%(symbols)s)
"""

# Symbols with a dividend going ex after %(start)s: its factor uses "the close before the ex-date",
# which a bar loaded at or after %(start)s may be (or may replace), so their whole history is restated.
_SELECT_SYMBOLS_WITH_LATER_DIVIDENDS = "SELECT DISTINCT symbol FROM market.dividends WHERE time > %(start)s AND symbol = ANY(%(symbols)s)"


@dataclass
class PriceMetricsReport:
    loads_processed: int = 0
    symbols_windowed: list[str] = field(default_factory=list)
    symbols_full_history: list[str] = field(default_factory=list)
    rows_computed: int = 0
    rows_updated: int = 0
    window: tuple[datetime, datetime] | None = None


def plan_price_loads(conn: psycopg.Connection, loads: list[dict]) -> tuple[dict[str, datetime], set[str], tuple]:
    """Earliest touched time per symbol of the daily-bar loads, and the symbols needing full history."""
    starts: dict[str, datetime] = {}
    full: set[str] = set()
    lo = min(load["window_start"] for load in loads)
    hi = max(load["window_end"] for load in loads)
    for load in loads:
        if load["table_name"] == "price_history":
            if load["interval"] != "1d":
                continue
            # An unchanged symbol's bars were not rewritten, so its metrics still stand.
            touched = load["symbols"] if load.get("symbols_changed") is None else load["symbols_changed"]
            if not touched:
                continue
            for symbol in touched:
                current = starts.get(symbol)
                starts[symbol] = load["window_start"] if current is None else min(current, load["window_start"])
            rows = conn.execute(
                _SELECT_SYMBOLS_WITH_LATER_DIVIDENDS,
                {"start": load["window_start"], "symbols": list(touched)},
            ).fetchall()
            full.update(r[0] for r in rows)
        elif load.get("symbols_changed") is not None:
            # The loader compared the events it replaced with those it wrote: only these changed.
            full.update(load["symbols_changed"])
        elif load["rows_deleted"]:
            # An action may have been removed: which symbol lost it is unknown, so all of them.
            full.update(load["symbols"])
        elif load["rows_loaded"]:
            rows = conn.execute(
                _SQL.text("select_symbols_with_actions"),
                {"start": load["window_start"], "end": load["window_end"], "symbols": list(load["symbols"])},
            ).fetchall()
            full.update(r[0] for r in rows)
    return starts, full, (lo, hi)


def _read_closes(conn, starts: dict[str, datetime], full: set[str], window: int) -> pl.DataFrame:
    symbols = sorted(set(starts) | full)
    lookback: dict[str, datetime | None] = {s: None for s in full}
    windowed = [s for s in symbols if s not in full]
    if windowed:
        # One lookback per distinct start keeps this to a query per backfill range, not per symbol.
        by_start: dict[datetime, list[str]] = {}
        for s in windowed:
            by_start.setdefault(starts[s], []).append(s)
        for start, group in by_start.items():
            for symbol, lb in conn.execute(
                _SQL.text("select_lookback_starts"), {"start": start, "n": window + 1, "symbols": group}
            ):
                lookback[symbol] = lb if lb is not None else start
    rows = conn.execute(
        _SQL.text("select_daily_closes"),
        {"symbols": symbols, "starts": [lookback[s] for s in symbols]},
    ).fetchall()
    return pl.DataFrame(
        rows, schema={"symbol": pl.String, "date": pl.Date, "time": pl.Datetime("us", "UTC"), "close_price": pl.Float64},
        orient="row",
    )


def _read_actions(conn, symbols: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    rows = conn.execute(_SELECT_ACTIONS, {"symbols": symbols}).fetchall()
    actions = pl.DataFrame(
        rows, schema={"kind": pl.String, "symbol": pl.String, "ex_date": pl.Date, "value": pl.Float64}, orient="row"
    )
    dividends = actions.filter(pl.col("kind") == "dividend").select("symbol", "ex_date", pl.col("value").alias("amount"))
    splits = actions.filter(pl.col("kind") == "split").select("symbol", "ex_date", pl.col("value").alias("ratio"))
    return dividends, splits


def refresh_price_metrics(conn: psycopg.Connection, *, window: int = 21, run_id: str | None = None,
                          exchange: str = DEFAULT_EXCHANGE) -> PriceMetricsReport:
    """Bring the derived columns up to date with every load since the last refresh.

    One transaction (a savepoint inside the caller's): the staging table, the updates and the
    watermark in ops.refresh_log commit together or not at all.
    """
    with conn.transaction():
        return _refresh_price_metrics(conn, window=window, run_id=run_id, exchange=exchange)


def _refresh_price_metrics(conn: psycopg.Connection, *, window: int, run_id: str | None,
                           exchange: str) -> PriceMetricsReport:
    report = PriceMetricsReport()
    lock_target(conn, TARGET)
    loads = pending_loads(conn, TARGET, ["price_history", "dividends", "splits"])
    if not loads:
        return report
    report.loads_processed = len(loads)
    starts, full, report.window = plan_price_loads(conn, loads)
    if starts or full:
        closes = _read_closes(conn, starts, full, window)
        dividends, splits = _read_actions(conn, sorted(set(starts) | full))
        metrics = compute_price_metrics(closes, dividends, splits, window=window,
                                        sessions=get_calendar(exchange).sessions)
        metrics = metrics.join(closes.select("symbol", "date", "time"), on=["symbol", "date"], how="inner")
        # Rows before a windowed symbol's first touched bar only served as lookback.
        first = pl.DataFrame(
            {"symbol": list(starts), "first_time": list(starts.values())},
            schema={"symbol": pl.String, "first_time": pl.Datetime("us", "UTC")},
        )
        metrics = metrics.join(first, on="symbol", how="left").filter(
            pl.col("symbol").is_in(list(full)) | (pl.col("time") >= pl.col("first_time"))
        )
        report.rows_computed = len(metrics)
        report.rows_updated = _write(conn, metrics)
    report.symbols_windowed = sorted(set(starts) - full)
    report.symbols_full_history = sorted(full)
    record_refresh(conn, target=TARGET, window=report.window, method="windowed+lookback",
                   rows=report.rows_updated, covers=[x["ingest_id"] for x in loads], run_id=run_id)
    return report


def _write(conn: psycopg.Connection, metrics: pl.DataFrame) -> int:
    conn.execute(_SQL.text("create_staging_price_metrics"))
    cols = ["symbol", "time", "adj_close_price", "daily_return", "volatility"]
    frame = metrics.select(cols).with_columns(pl.col(c).fill_nan(None) for c in cols[2:])
    copy_frame(conn, sql.Identifier("staging_price_metrics"), frame)
    return conn.execute(_SQL.text("update_price_metrics")).rowcount
