"""The normalised frame schemas: one per loaded table, shared by sources, validation and the loader.

Every frame handed to the loader has exactly these columns, in this order, with these dtypes.
Timestamps are UTC (``Datetime("us", "UTC")``); ``date``-like columns are the trading date in the
exchange's time zone. Prices are raw (unadjusted); adjusted values are derived in the database.
Columns the database fills itself (generated columns, ``loaded_at``, the derived metrics) are absent.
"""

from __future__ import annotations

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")

STOCKS = {
    "symbol": pl.String,
    "name": pl.String,
    "sector": pl.String,
    "industry": pl.String,
    "market_cap": pl.Int64,
    "exchange": pl.String,
    "currency": pl.String,
}

PRICE_HISTORY = {
    "time": UTC_TS,  # bar open time
    "symbol": pl.String,
    "interval": pl.String,  # '1d', '5m', ...
    "date": pl.Date,  # trading date, exchange time zone
    "open_price": pl.Float64,
    "high_price": pl.Float64,
    "low_price": pl.Float64,
    "close_price": pl.Float64,
    "volume": pl.Int64,
    "source": pl.String,
}

OPTIONS = {  # options_calls and options_puts share it
    "time": UTC_TS,  # snapshot time: the close of snapshot_date's session (the snapshot's identity)
    "fetched_at": UTC_TS,  # when the source was asked: after the session opened, before the next one opens
    "snapshot_date": pl.Date,
    "symbol": pl.String,
    "contract_symbol": pl.String,
    "expiration_date": pl.Date,
    "strike": pl.Float64,
    "last_price": pl.Float64,
    "bid": pl.Float64,
    "ask": pl.Float64,
    "volume": pl.Int64,
    "open_interest": pl.Int64,
    "source_implied_volatility": pl.Float64,
    "in_the_money": pl.Boolean,
    "underlying_price": pl.Float64,
    "source": pl.String,
}

DIVIDENDS = {
    "time": UTC_TS,  # ex-date at 00:00 exchange time, in UTC
    "symbol": pl.String,
    "ex_date": pl.Date,
    "amount": pl.Float64,  # cash per share, in the listing currency
    "source": pl.String,
}

SPLITS = {
    "time": UTC_TS,  # ex-date at 00:00 exchange time, in UTC
    "symbol": pl.String,
    "ex_date": pl.Date,
    "ratio": pl.Float64,  # new shares per old share: 4.0 for a 4-for-1 split, 0.1 for 1-for-10
    "source": pl.String,
}

# table name (in the ``market`` schema) -> (schema, key columns)
TABLES: dict[str, tuple[dict[str, pl.DataType], tuple[str, ...]]] = {
    "stocks": (STOCKS, ("symbol",)),
    "price_history": (PRICE_HISTORY, ("symbol", "interval", "time")),
    "options_calls": (OPTIONS, ("contract_symbol", "time")),
    "options_puts": (OPTIONS, ("contract_symbol", "time")),
    "dividends": (DIVIDENDS, ("symbol", "time")),
    "splits": (SPLITS, ("symbol", "time")),
}


def empty_frame(table: str) -> pl.DataFrame:
    schema, _ = TABLES[table]
    return pl.DataFrame(schema=schema)


# Columns a frame may omit (they are NULL then): provenance added after the first sources were written.
OPTIONAL = frozenset({"fetched_at"})


def conform(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """Select and cast ``frame`` to ``table``'s schema; raise naming any missing column."""
    schema, _ = TABLES[table]
    if list(frame.schema.items()) == list(schema.items()):
        return frame  # already conformed (validation's output): nothing to select or cast
    absent = [c for c in schema if c in OPTIONAL and c not in frame.columns]
    if absent:
        frame = frame.with_columns(pl.lit(None, schema[c]).alias(c) for c in absent)
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise ValueError(f"{table}: frame lacks column(s) {', '.join(missing)}")
    naive = [c for c, t in schema.items() if isinstance(t, pl.Datetime) and t.time_zone
             and isinstance(frame.schema[c], pl.Datetime) and frame.schema[c].time_zone is None]
    if naive:
        raise ValueError(f"{table}: column(s) {', '.join(naive)} hold naive timestamps; refusing to guess their "
                         "time zone (make them aware, e.g. dt.replace_time_zone('UTC') if they are UTC)")
    try:
        return frame.select([pl.col(c).cast(t, strict=True) for c, t in schema.items()])
    except pl.exceptions.PolarsError as exc:  # polars' cast errors are not ValueErrors (polars >= 1)
        raise ValueError(f"{table}: a column does not cast to its schema type: {str(exc).splitlines()[0]}") from exc
