"""Implied volatility and Black-Scholes-Merton Greeks of the option snapshots, from the ingest log.

IV is solved from the mid price (last price when there is no two-sided quote); the Greeks are then
evaluated at that IV. Where no IV exists (expired, no quote, price below intrinsic, ...) every
column stays NULL and ``greeks_status`` says why. Units follow the column comments: vega and rho per
1.00 change, theta per year.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import psycopg
from psycopg import sql

from stockula_pipelines.lib.calendar import get_calendar
from stockula_pipelines.lib.db.refresh_log import lock_target, pending_loads, record_refresh
from stockula_pipelines.lib.db.sqlfiles import SqlFiles
from stockula_pipelines.lib.ingest.copy import copy_frame
from stockula_pipelines.lib.quant.black_scholes import bsm_greeks
from stockula_pipelines.lib.quant.implied_vol import REASONS, implied_volatility, mid_price, time_to_expiry
from stockula_pipelines.settings import get_settings

_SQL = SqlFiles(__file__)

TARGET = "option_greeks"
TABLES = ("options_calls", "options_puts")
# The dividend yield of a snapshot sums the dividends of the trailing year (select_option_quotes.sql):
# a dividend that changes restates the snapshots of its symbol up to a year after its ex-date.
YIELD_LOOKBACK = timedelta(days=365)


def _work(loads: list[dict]) -> list[tuple[str, datetime, datetime, list[str]]]:
    """(options table, start, end, symbols) to recompute for the pending loads."""
    work = []
    for load in loads:
        if load["table_name"] in TABLES:
            work.append((load["table_name"], load["window_start"], load["window_end"], list(load["symbols"])))
            continue
        changed = load["symbols_changed"] if load["symbols_changed"] is not None else load["symbols"]
        if changed:
            for table in TABLES:
                work.append((table, load["window_start"], load["window_end"] + YIELD_LOOKBACK, list(changed)))
    return work


@dataclass
class GreeksReport:
    loads_processed: int = 0
    contracts: int = 0
    solved: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    risk_free_rate: float = 0.0
    dividend_yield_mean: float | None = None
    window: tuple[datetime, datetime] | None = None


def compute_greeks(quotes: pl.DataFrame, *, is_call: bool, risk_free_rate: float,
                   exchange: str | None = None) -> pl.DataFrame:
    """IV + Greeks for a frame of quotes (columns as select_option_quotes.sql returns).

    Contracts expire at the regular close of ``exchange`` (default ``STOCKULA_EXCHANGE``), in its zone.
    """
    cal = get_calendar(exchange or get_settings().exchange)
    S = quotes["underlying_price"].to_numpy().astype(np.float64)
    K = quotes["strike"].to_numpy().astype(np.float64)
    q = quotes["dividend_yield"].fill_null(0.0).to_numpy().astype(np.float64)
    T = np.asarray(time_to_expiry(quotes["time"], quotes["expiration_date"], exchange_tz=str(cal.tz),
                                 close_time=cal.regular_close.strftime("%H:%M")), dtype=np.float64)
    price = mid_price(
        quotes["bid"].fill_null(np.nan).to_numpy(),
        quotes["ask"].fill_null(np.nan).to_numpy(),
        quotes["last_price"].fill_null(np.nan).to_numpy(),
    )
    solved = implied_volatility(price, S, K, T, risk_free_rate, q, is_call)
    greeks = bsm_greeks(S, K, T, risk_free_rate, q, solved.iv, is_call)
    ok = solved.reason == 0

    def col(values: np.ndarray) -> pl.Series:
        return pl.Series(np.where(ok, values, np.nan)).fill_nan(None)

    return pl.DataFrame(
        {
            "contract_symbol": quotes["contract_symbol"],
            "time": quotes["time"],
            "implied_volatility": col(solved.iv),
            "delta": col(greeks.delta),
            "gamma": col(greeks.gamma),
            "theta": col(greeks.theta),
            "vega": col(greeks.vega),
            "rho": col(greeks.rho),
            "greeks_status": np.asarray(REASONS, dtype=object)[solved.reason].astype(str),
        }
    )


def refresh_option_greeks(conn: psycopg.Connection, *, risk_free_rate: float, run_id: str | None = None) -> GreeksReport:
    """Solve IV and the Greeks of every option snapshot loaded since the last refresh.

    One transaction (a savepoint inside the caller's): the staging table, the updates and the
    watermark in ops.refresh_log commit together or not at all.
    """
    with conn.transaction():
        return _refresh_option_greeks(conn, risk_free_rate=risk_free_rate, run_id=run_id)


def _refresh_option_greeks(conn: psycopg.Connection, *, risk_free_rate: float, run_id: str | None = None) -> GreeksReport:
    report = GreeksReport(risk_free_rate=risk_free_rate)
    lock_target(conn, TARGET)
    loads = pending_loads(conn, TARGET, [*TABLES, "dividends"])
    if not loads:
        return report
    report.loads_processed = len(loads)
    work = _work(loads)
    report.window = (min(x["window_start"] for x in loads), max(x["window_end"] for x in loads))
    yields: list[np.ndarray] = []
    for table_name, start, end, symbols in work:
        table = sql.Identifier("market", table_name)
        cur = conn.execute(
            sql.SQL(_SQL.text("select_option_quotes")).format(table=table),
            {"start": start, "end": end, "symbols": symbols},
        )
        names = [d.name for d in cur.description]
        quotes = pl.DataFrame(cur.fetchall(), schema=names, orient="row", infer_schema_length=None)
        if quotes.is_empty():
            continue
        quotes = quotes.with_columns(pl.col(c).cast(pl.Float64) for c in
                                     ("strike", "bid", "ask", "last_price", "underlying_price", "dividend_yield"))
        out = compute_greeks(quotes, is_call=table_name == "options_calls", risk_free_rate=risk_free_rate)
        yields.append(quotes["dividend_yield"].fill_null(0.0).to_numpy())
        _write(conn, table, out)
        report.contracts += len(out)
        for status, n in out["greeks_status"].value_counts().iter_rows():
            report.reasons[status] = report.reasons.get(status, 0) + n
    report.solved = report.reasons.get("ok", 0)
    if yields:
        report.dividend_yield_mean = float(np.mean(np.concatenate(yields)))
    record_refresh(conn, target=TARGET, window=report.window, method="bsm", rows=report.contracts,
                   covers=[x["ingest_id"] for x in loads], run_id=run_id)
    return report


def _write(conn: psycopg.Connection, table: sql.Identifier, frame: pl.DataFrame) -> None:
    conn.execute(_SQL.text("create_staging_greeks"))
    copy_frame(conn, sql.Identifier("staging_greeks"), frame)
    conn.execute(sql.SQL(_SQL.text("update_greeks")).format(table=table))
    conn.execute("DROP TABLE staging_greeks")
