"""The rows a suite validates: one table's window, as SQL for either engine.

The queries below carry ``{start}``, ``{end}``, ``{interval}`` and ``{table}`` slots.

* :func:`window_select` fills them with *placeholders*: the compiled engine runs the statement on our
  own psycopg connection with :func:`window_values` bound as parameters.
* :func:`window_query` fills them with ``psycopg.sql.Literal``s, because great-expectations' query
  assets take SQL *text* and run it on GE's own SQLAlchemy connections (a temporary view on our
  connection would be invisible to them, and unsafe behind PgBouncer's transaction pooling). Only
  values that passed :func:`check_window` are rendered -- tz-aware ``datetime``s normalised to UTC and
  an interval from the table's CHECK list -- so no caller-supplied string reaches the SQL text.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from stockula_pipelines.lib.windows import Window, utc_window

INTERVALS = frozenset({"1m", "2m", "5m", "15m", "30m", "60m", "90m", "1h", "1d", "5d", "1wk", "1mo"})
DAILY_INTERVALS = frozenset({"1d", "5d", "1wk", "1mo"})
OPTION_TABLES = frozenset({"options_calls", "options_puts"})
CORPORATE_ACTION_TABLES = frozenset({"dividends", "splits"})



def check_window(table: str, window: Window) -> Window:
    """``window`` as UTC datetimes, or ValueError (:class:`~stockula_pipelines.lib.windows.WindowError`)
    naming the table and the broken rule."""
    return utc_window(window, what=table)


def is_intraday(table: str, interval: str | None) -> bool:
    return table == "price_history" and interval not in DAILY_INTERVALS


# Reference data has no window: the whole (small) table is one batch.
_STOCKS = "SELECT symbol, name, sector, market_cap FROM market.stocks"
# One interval's bars of one window.
_PRICE_HISTORY = """SELECT symbol, interval, time, date, open_price, high_price, low_price, close_price, volume
FROM market.price_history WHERE time >= {start} AND time < {end} AND interval = {interval}"""
# One snapshot window of an options table.
_OPTIONS = """SELECT symbol, contract_symbol, time, snapshot_date, expiration_date, strike, bid, ask,
       source_implied_volatility, underlying_price, implied_volatility, delta, gamma, vega
FROM {table} WHERE time >= {start} AND time < {end}"""
# One window of market.dividends or market.splits.
_CORPORATE_ACTIONS = "SELECT * FROM {table} WHERE time >= {start} AND time < {end}"


def _query(table: str) -> str:
    if table == "stocks":
        return _STOCKS
    if table == "price_history":
        return _PRICE_HISTORY
    if table in OPTION_TABLES:
        return _OPTIONS
    if table in CORPORATE_ACTION_TABLES:
        return _CORPORATE_ACTIONS
    raise ValueError(f"no window query for table {table!r}")


def window_values(table: str, window: Window | None, interval: str | None = None) -> dict[str, Any]:
    """The checked values of ``table``'s query slots, or ValueError naming the table and the rule."""
    _query(table)
    if table == "stocks":
        return {}
    if window is None:
        raise ValueError(f"{table}: a window is required")
    start, end = check_window(table, window)
    if table != "price_history":
        return {"start": start, "end": end}
    if interval not in INTERVALS:
        raise ValueError(f"price_history: interval {interval!r} is not one of {sorted(INTERVALS)}")
    return {"start": start, "end": end, "interval": interval}


def _fill(table: str, slot) -> sql.Composed:
    text = _query(table)
    slots: dict[str, sql.Composable] = {k: slot(k) for k in ("start", "end", "interval") if f"{{{k}}}" in text}
    if "{table}" in text:
        slots["table"] = sql.Identifier("market", table)
    return sql.SQL(text).format(**slots)  # type: ignore[arg-type]


def window_select(table: str) -> sql.Composed:
    """``table``'s window query with named placeholders (bind :func:`window_values`)."""
    return _fill(table, sql.Placeholder)


def window_query(table: str, window: Window | None, interval: str | None = None) -> str:
    """``table``'s rows in ``window`` as SQL text with the values rendered as typed literals."""
    values = window_values(table, window, interval)
    return _fill(table, lambda k: sql.Literal(values[k])).as_string(None)
