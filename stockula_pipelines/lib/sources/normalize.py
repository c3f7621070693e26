"""Turn yfinance-shaped frames into the normalised frames of :mod:`stockula_pipelines.lib.schemas`.

yfinance quirks handled here (each has a unit test in ``tests/unit/test_normalize.py``):

* the index is ``Date`` (daily and longer) or ``Datetime`` (intraday), tz-aware in the exchange's zone
  from ``Ticker.history()`` and in whatever zone ``download()`` aligned to (UTC in older releases);
  a *naive* index is rejected with :class:`NormalizationError` because guessing its zone shifts bars;
* ``yf.download(..., group_by='column')`` returns (Price, Ticker) multi-index columns, ``group_by='ticker'``
  (Ticker, Price); each ticker is re-indexed onto the union of all timestamps, so its foreign rows are
  all-NaN and are dropped like any other all-NaN row;
* ``Dividends`` / ``Stock Splits`` (and sometimes ``Capital Gains``, which is not loaded) ride along as
  columns: non-zero values become DIVIDENDS / SPLITS rows; yfinance adds all-NaN price rows to carry
  an action that fell outside the price range, so actions are extracted *before* all-NaN rows are dropped;
* the live last bar can arrive twice with the same timestamp: duplicates keep the last copy;
* daily bars are stamped at 00:00 exchange time (in UTC), whatever zone the index came in;
* Yahoo's OHLC, ``Volume`` and ``Dividends`` are split-adjusted even with ``auto_adjust=False``: given
  the symbol's ``split_history`` they are made raw (rule in :mod:`~stockula_pipelines.lib.sources.yahoo_adjust`);
* ``Adj Close`` is ignored: dividend and split adjustment is derived in the database from our own actions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd
import polars as pl

from stockula_pipelines.lib.schemas import UTC_TS, conform, empty_frame
from stockula_pipelines.lib.sources.yahoo_adjust import unadjust_dividends, unadjust_prices

PRICE_COLUMNS = ("Open", "High", "Low", "Close")


class NormalizationError(ValueError):
    """A source frame cannot be normalised; the message names the symbol and the offending field."""


@dataclass(frozen=True)
class NormalizedHistory:
    prices: pl.DataFrame
    dividends: pl.DataFrame
    splits: pl.DataFrame
    dropped_all_nan: int = 0
    dropped_duplicates: int = 0


def is_intraday(interval: str) -> bool:
    """'5m', '1h', '90m' are intraday; '1d', '5d', '1wk', '1mo', '3mo' are not."""
    return interval.endswith(("m", "h")) and not interval.endswith("mo")


def empty_history() -> NormalizedHistory:
    return NormalizedHistory(empty_frame("price_history"), empty_frame("dividends"), empty_frame("splits"))


def combine(parts: list[NormalizedHistory]) -> NormalizedHistory:
    if not parts:
        return empty_history()
    return NormalizedHistory(
        prices=pl.concat([p.prices for p in parts]),
        dividends=pl.concat([p.dividends for p in parts]),
        splits=pl.concat([p.splits for p in parts]),
        dropped_all_nan=sum(p.dropped_all_nan for p in parts),
        dropped_duplicates=sum(p.dropped_duplicates for p in parts),
    )


def _midnight_utc(date_col: pl.Expr, exchange_tz: str) -> pl.Expr:
    return (
        date_col.cast(pl.Datetime("us"))
        .dt.replace_time_zone(exchange_tz, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
    )


def _as_float(name: str) -> pl.Expr:
    col = pl.col(name).cast(pl.Float64, strict=False)
    return pl.when(col.is_nan()).then(None).otherwise(col)


def _as_int(name: str) -> pl.Expr:
    return _as_float(name).round(0).cast(pl.Int64, strict=False)


def _from_pandas(body: pd.DataFrame, symbol: str, what: str) -> pl.DataFrame:
    """``body`` in polars; a column pandas holds as mixed objects (numbers beside text, integers beyond
    64 bits) is refused by name instead of failing deep inside Arrow."""
    try:
        return pl.from_pandas(body)
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError) as exc:  # Arrow's are Type/ValueErrors
        bad = []
        for column in body.columns:
            try:
                pl.from_pandas(body[[column]])
            except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
                bad.append(str(column))
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NormalizationError(f"{symbol}: {what} column(s) {', '.join(bad) or '?'} mix values of several "
                                 f"types ({detail})") from exc


def history_from_polars(
    frame: pl.DataFrame, symbol: str, *, interval: str, exchange_tz: str, source: str,
    split_history: pl.DataFrame | None = None,
) -> NormalizedHistory:
    """Core: ``frame`` has a tz-aware ``ts`` column plus Yahoo's OHLCV (and optional action) columns.

    ``split_history`` (``ex_date``, ``ratio``: the symbol's complete history, as of the response) says
    the prices, volumes and dividends are split-adjusted and un-adjusts them; None means they are raw.
    Split rows are returned as the frame carried them, never adjusted.
    """
    if frame.height == 0:
        return empty_history()
    lower = {c.lower(): c for c in frame.columns}
    missing = [c for c in (*PRICE_COLUMNS, "Volume") if c.lower() not in lower]
    if missing:
        raise NormalizationError(f"{symbol}: price frame lacks column(s) {', '.join(missing)}")
    rename = {lower[c.lower()]: c for c in (*PRICE_COLUMNS, "Volume", "Dividends", "Stock Splits")
              if c.lower() in lower}
    frame = frame.rename(rename)

    n_in = frame.height
    frame = frame.with_columns(pl.col("ts").cast(UTC_TS)).unique(subset="ts", keep="last", maintain_order=True)
    dropped_dup = n_in - frame.height
    frame = frame.sort("ts").with_columns(
        pl.col("ts").dt.convert_time_zone(exchange_tz).dt.date().alias("date")
    )
    base = {"symbol": pl.lit(symbol, pl.String), "source": pl.lit(source, pl.String)}
    action_time = _midnight_utc(pl.col("date"), exchange_tz)

    dividends = empty_frame("dividends")
    if "Dividends" in frame.columns:
        amount = _as_float("Dividends")
        dividends = conform(
            frame.filter(amount.is_not_null() & (amount != 0)).select(
                action_time.alias("time"), pl.col("date").alias("ex_date"), amount.alias("amount"), **base
            ),
            "dividends",
        )
    splits = empty_frame("splits")
    if "Stock Splits" in frame.columns:
        ratio = _as_float("Stock Splits")
        splits = conform(
            frame.filter(ratio.is_not_null() & (ratio != 0)).select(
                action_time.alias("time"), pl.col("date").alias("ex_date"), ratio.alias("ratio"), **base
            ),
            "splits",
        )

    all_missing = pl.all_horizontal([_as_float(c).is_null() for c in PRICE_COLUMNS])
    n_before = frame.height
    frame = frame.filter(~all_missing)
    dropped_nan = n_before - frame.height

    time = pl.col("ts") if is_intraday(interval) else _midnight_utc(pl.col("date"), exchange_tz)
    prices = conform(
        frame.select(
            time.alias("time"),
            pl.lit(interval, pl.String).alias("interval"),
            pl.col("date"),
            _as_float("Open").alias("open_price"),
            _as_float("High").alias("high_price"),
            _as_float("Low").alias("low_price"),
            _as_float("Close").alias("close_price"),
            _as_int("Volume").alias("volume"),
            **base,
        ),
        "price_history",
    )
    if split_history is not None:
        prices = unadjust_prices(prices, split_history)
        dividends = unadjust_dividends(dividends, split_history)
    return NormalizedHistory(prices, dividends, splits, dropped_nan, dropped_dup)


def history_from_pandas(
    df: pd.DataFrame | None, symbol: str, *, interval: str, exchange_tz: str, source: str = "yfinance",
    split_history: pl.DataFrame | None = None,
) -> NormalizedHistory:
    """One symbol's ``Ticker.history()`` frame (or one ticker's slice of ``download()``)."""
    if df is None or len(df.index) == 0:
        return empty_history()
    index = df.index
    if not isinstance(index, pd.DatetimeIndex):
        raise NormalizationError(
            f"{symbol}: expected a Date/Datetime index, got {type(index).__name__} (first value {index[0]!r})"
        )
    if index.tz is None:
        raise NormalizationError(
            f"{symbol}: naive timestamps in the {index.name or 'Date'} index (first {index[0]}); "
            "refusing to guess their time zone (pass ignore_tz=False to yf.download)"
        )
    body = df.reset_index(drop=True)
    body.columns = [str(c) for c in body.columns]
    frame = _from_pandas(body, symbol, "price frame").with_columns(
        pl.Series("ts", index.tz_convert("UTC")).cast(UTC_TS)
    )
    return history_from_polars(frame, symbol, interval=interval, exchange_tz=exchange_tz, source=source,
                               split_history=split_history)


def download_from_pandas(
    df: pd.DataFrame | None, *, interval: str, exchange_tz: str, source: str = "yfinance",
    symbol: str | None = None,
) -> NormalizedHistory:
    """A ``yf.download()`` frame: multi-index (Price, Ticker) / (Ticker, Price) columns, or flat for
    one ticker (``multi_level_index=False``, then ``symbol`` is required)."""
    if df is None or len(df.index) == 0:
        return empty_history()
    if not isinstance(df.columns, pd.MultiIndex):
        if symbol is None:
            raise NormalizationError("download frame has flat columns: pass the symbol it belongs to")
        return history_from_pandas(df, symbol, interval=interval, exchange_tz=exchange_tz, source=source)
    price_level = next(
        (lvl for lvl in range(df.columns.nlevels) if "Close" in set(map(str, df.columns.get_level_values(lvl)))),
        None,
    )
    if price_level is None:
        raise NormalizationError(f"download frame has no Close column among {list(df.columns)[:6]}")
    ticker_level = 1 - price_level
    parts = []
    for ticker in dict.fromkeys(df.columns.get_level_values(ticker_level)):
        sub = df.xs(ticker, level=ticker_level, axis=1)
        parts.append(history_from_pandas(sub, str(ticker), interval=interval, exchange_tz=exchange_tz,
                                         source=source))
    return combine(parts)


def option_chain_frame(
    chain: pd.DataFrame | pl.DataFrame | None,
    *,
    symbol: str,
    expiration_date: date,
    snapshot_date: date,
    snapshot_time: datetime,
    fetched_at: datetime | None = None,
    underlying_price: float | None,
    source: str = "yfinance",
) -> pl.DataFrame:
    """One side (calls or puts) of ``Ticker.option_chain(expiry)`` as an OPTIONS frame.

    ``snapshot_time`` is the snapshot's identity, the close of ``snapshot_date``'s session, so every
    fetch of that session's chain lands on the same keys; ``fetched_at`` is when the source was asked
    (it defaults to ``snapshot_time`` for recordings that do not say). NaN volume / openInterest (no
    trades yet) become nulls; zero bid/ask are kept as quoted.
    """
    for label, value in (("snapshot time", snapshot_time), ("fetch time", fetched_at)):
        if value is not None and value.tzinfo is None:
            raise NormalizationError(f"{symbol}: option {label} {value} is naive")
    if chain is None or len(chain) == 0:
        return empty_frame("options_calls")
    frame = (_from_pandas(chain.reset_index(drop=True), symbol, f"{expiration_date} option chain")
             if isinstance(chain, pd.DataFrame) else chain)
    needed = ("contractSymbol", "strike", "lastPrice", "bid", "ask", "volume", "openInterest",
              "impliedVolatility", "inTheMoney")
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise NormalizationError(
            f"{symbol} {expiration_date}: option chain lacks column(s) {', '.join(missing)}"
        )
    return conform(
        frame.select(
            pl.lit(snapshot_time).cast(UTC_TS).alias("time"),
            pl.lit(fetched_at if fetched_at is not None else snapshot_time).cast(UTC_TS).alias("fetched_at"),
            pl.lit(snapshot_date, pl.Date).alias("snapshot_date"),
            pl.lit(symbol, pl.String).alias("symbol"),
            pl.col("contractSymbol").cast(pl.String).alias("contract_symbol"),
            pl.lit(expiration_date, pl.Date).alias("expiration_date"),
            _as_float("strike").alias("strike"),
            _as_float("lastPrice").alias("last_price"),
            _as_float("bid").alias("bid"),
            _as_float("ask").alias("ask"),
            _as_int("volume").alias("volume"),
            _as_int("openInterest").alias("open_interest"),
            _as_float("impliedVolatility").alias("source_implied_volatility"),
            pl.col("inTheMoney").cast(pl.Boolean, strict=False).alias("in_the_money"),
            pl.lit(underlying_price, pl.Float64).alias("underlying_price"),
            pl.lit(source, pl.String).alias("source"),
        ),
        "options_calls",
    )


def _clean(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _text(value: Any) -> str | None:
    """A text field as text, whatever JSON type it came as (Yahoo sends numbers where names belong)."""
    value = _clean(value)
    return None if value is None else str(value)


def stock_from_info(info: Mapping[str, Any] | None, symbol: str) -> pl.DataFrame:
    """``Ticker.info`` → one STOCKS row; absent fields become nulls (Yahoo omits them for ETFs etc.)."""
    info = info or {}
    cap = _clean(info.get("marketCap"))
    try:
        market_cap = int(cap) if cap is not None else None
    except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: an infinite float
        raise NormalizationError(f"{symbol}: marketCap {cap!r} is not a number") from exc
    if market_cap is not None and not -(2**63) <= market_cap < 2**63:
        raise NormalizationError(f"{symbol}: marketCap {cap!r} does not fit a bigint")
    row = {
        "symbol": symbol,
        "name": _text(info.get("longName")) or _text(info.get("shortName")),
        "sector": _text(info.get("sector")),
        "industry": _text(info.get("industry")),
        "market_cap": market_cap,
        "exchange": _text(info.get("exchange")),
        "currency": _text(info.get("currency")),
    }
    return conform(pl.DataFrame([row], schema=empty_frame("stocks").schema), "stocks")
